// libFuzzer target: loading untrusted index and catalogue files must throw domainsearch::Error or
// succeed, never crash or allocate absurdly (run with -rss_limit_mb).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "domainsearch/error.hpp"
#include "domainsearch/index.hpp"
#include "domainsearch/pipeline.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = "/tmp/ds_fuzz_index_" + std::to_string(::getpid());
  if (FILE* f = std::fopen(path.c_str(), "wb")) {
    std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  try {
    const domainsearch::Index index = domainsearch::Index::load(path);
    if (index.size() > 0 && index.keys().size() != index.size()) __builtin_trap();
  } catch (const domainsearch::Error&) {
  }
  try {
    domainsearch::Pipeline::inspect(path);
  } catch (const domainsearch::Error&) {
  }
  return 0;
}
