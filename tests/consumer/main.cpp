// Builds against the installed headers and library only; exits non-zero on any mismatch.
#include <domainsearch/contour_mask.hpp>
#include <domainsearch/error.hpp>
#include <domainsearch/index.hpp>
#include <domainsearch/version.hpp>
#include <cstdio>
#include <cstring>

int main() {
  if (std::strcmp(domainsearch::version_string(), DS_VERSION_STRING) != 0) return 1;
  domainsearch::Index index(2);
  const auto c = index.add_category("demo");
  const float a[2] = {0, 0}, b[2] = {3, 4};
  index.add(1, c, a, "origin");
  index.add(2, c, b, "far");
  const auto hits = index.search(b, 1);
  if (hits.size() != 1 || hits[0].key != 2) return 2;
  try {
    index.search(b, 0);
    return 3;
  } catch (const domainsearch::Error& e) {
    if (e.status() != domainsearch::Status::InvalidArgument) return 4;
  }
  std::printf("consumer OK: libdomainsearch %s, nearest key %llu\n", domainsearch::version_string(),
              static_cast<unsigned long long>(hits[0].key));
  return 0;
}
