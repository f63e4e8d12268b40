// Per-image latency of each stage with the shared models, medians over real grocery photos:
//   bench_stages [--shared ../shared] [--images 24] [--threads 2]
// decode; localise (ISNet at 320 and 512, batch 1); embed (MobileNetV2, batch 1 and batch 8).
#include "inference_process.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <domainsearch/feature_extractor.hpp>
#include <domainsearch/localizer.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace domainsearch;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

template <typename F>
double ms(F f) {
  const auto t = Clock::now();
  f();
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

std::vector<std::string> val_paths(const std::string& shared, std::size_t n) {
  std::ifstream f(shared + "/data/grocery/queries_val.csv");
  std::vector<std::string> all;
  std::string line;
  std::getline(f, line);
  while (std::getline(f, line)) all.push_back(shared + "/data/grocery/" + line.substr(0, line.find(',')));
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n && !all.empty(); ++i) out.push_back(all[(i * 37) % all.size()]);
  return out;
}

ModelManifest manifest(const std::string& name, const std::string& shared) {
  ModelManifest m = ModelManifest::load(std::string(DS_MANIFEST_DIR) + "/" + name);
  m.file = shared + "/models/" + fs::path(m.file).filename().string();
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  domainsearch::process::tune_process_for_inference();  // as the domainsearch command does
  std::string shared = std::string(DS_SOURCE_DIR) + "/../shared";
  std::size_t n = 24;
  RuntimeOptions runtime;
  runtime.threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--shared")) shared = argv[i + 1];
    else if (!std::strcmp(argv[i], "--images")) n = std::stoul(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--threads")) runtime.threads = std::stoi(argv[i + 1]);
  }
  const auto paths = val_paths(shared, n);
  std::vector<Image> images;
  std::vector<double> decode;
  for (const auto& p : paths) decode.push_back(ms([&] { images.push_back(Image::decode_file(p)); }));
  std::printf("%zu grocery val photos, %d threads; medians in ms per image\n", images.size(), runtime.threads);
  std::printf("%-40s %10.2f\n", "decode (JPEG, ~348x464)", median(decode));

  for (const char* name : {"isnet_320.json", "isnet_512.json"}) {
    const Localizer localizer(manifest(name, shared), runtime);
    std::vector<double> t;
    for (std::size_t i = 0; i < std::min<std::size_t>(images.size(), 12); ++i) t.push_back(ms([&] { localizer.localize(images[i]); }));
    std::printf("%-40s %10.2f\n", (std::string("localise ") + name + " batch 1").c_str(), median(t));
  }
  FeatureExtractorOptions eight;
  eight.batch_size = 8;
  const FeatureExtractor extractor(manifest("mobilenet_v2.json", shared), runtime, eight);
  std::vector<double> one, batch;
  for (const Image& im : images) one.push_back(ms([&] { extractor.extract(im); }));
  const std::vector<Image> group(images.begin(), images.begin() + static_cast<long>(std::min<std::size_t>(8, images.size())));
  for (int rep = 0; rep < 6; ++rep) batch.push_back(ms([&] { extractor.extract_batch(group); }) / static_cast<double>(group.size()));
  for (double b : batch) std::fprintf(stderr, "batch-8 run: %.1f ms/img\n", b);
  std::printf("%-40s %10.2f\n", "embed MobileNetV2 batch 1", median(one));
  std::printf("%-40s %10.2f\n", "embed MobileNetV2 batch 8 (per image)", median(batch));
  return 0;
}
