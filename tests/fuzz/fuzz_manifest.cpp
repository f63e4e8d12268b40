// libFuzzer target: model manifests and pipeline configurations from untrusted text must throw
// domainsearch::Error or parse, never crash.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "domainsearch/error.hpp"
#include "domainsearch/model.hpp"
#include "domainsearch/pipeline.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    domainsearch::ModelManifest::parse(text, "/models");
  } catch (const domainsearch::Error&) {
  }
  static const std::string path = "/tmp/ds_fuzz_config_" + std::to_string(::getpid()) + ".json";
  if (FILE* f = std::fopen(path.c_str(), "wb")) {
    std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  try {
    domainsearch::PipelineConfig::load(path);
  } catch (const domainsearch::Error&) {
  }
  return 0;
}
