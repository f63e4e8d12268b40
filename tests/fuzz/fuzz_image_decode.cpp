// libFuzzer target: image decoding from untrusted bytes must throw domainsearch::Error or succeed.
#include <cstddef>
#include <cstdint>

#include "domainsearch/error.hpp"
#include "domainsearch/image.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  domainsearch::DecodeLimits limits;
  limits.max_pixels = 4'000'000;  // keep each run cheap; the limit itself is under test too
  try {
    const domainsearch::Image image = domainsearch::Image::decode_bytes(data, size, limits, "fuzz");
    if (image.width() < limits.min_side || image.height() < limits.min_side) __builtin_trap();
  } catch (const domainsearch::Error&) {
  }
  return 0;
}
