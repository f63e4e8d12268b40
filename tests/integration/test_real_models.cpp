// Slow checks with the real pretrained models in ../shared/models and photos from ../shared/data.
// The tests skip (with a warning) when the shared folder is absent; DS_SHARED_DIR overrides its path.
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include <unistd.h>

#include <fstream>
#include <map>

#include "domainsearch/feature_extractor.hpp"
#include "domainsearch/localizer.hpp"
#include "domainsearch/pipeline.hpp"

using namespace domainsearch;
namespace fs = std::filesystem;

namespace {

std::string shared_dir() {
  const char* env = std::getenv("DS_SHARED_DIR");
  return env ? env : DS_DEFAULT_SHARED_DIR;
}

bool have_shared() {
  if (fs::exists(shared_dir() + "/models/isnet_general_use.pt")) return true;
  WARN("shared models not found under " << shared_dir() << ": skipped");
  return false;
}

ModelManifest manifest(const std::string& name) {
  ModelManifest m = ModelManifest::load(std::string(DS_MANIFEST_DIR) + "/" + name);
  m.file = shared_dir() + "/models/" + fs::path(m.file).filename().string();
  return m;
}

std::string grocery(const std::string& rel) { return shared_dir() + "/data/grocery/" + rel; }

const char* kIconic = "dataset/iconic-images-and-descriptions/Packages/Juice/Bravo-Apple-Juice/Bravo-Apple-Juice_Iconic.jpg";
const char* kPhoto = "dataset/val/Packages/Juice/Bravo-Apple-Juice/Bravo-Apple-Juice_001.jpg";

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) ab += double(a[i]) * b[i], aa += double(a[i]) * a[i], bb += double(b[i]) * b[i];
  return ab / std::sqrt(aa * bb);
}

template <typename F>
double millis(F f) {
  const auto t = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

TEST_CASE("MobileNetV2: TorchScript and ONNX backends agree", "[real]") {
  if (!have_shared()) return;
  FeatureExtractorOptions raw;
  raw.l2_normalize = false;
  const FeatureExtractor ts(manifest("mobilenet_v2.json"), {}, raw), onnx(manifest("mobilenet_v2_onnx.json"), {}, raw);
  CHECK(ts.dimension() == 1280);
  CHECK(onnx.dimension() == 1280);
  const Image photo = Image::decode_file(grocery(kPhoto));
  std::vector<float> a, b;
  const double ms = millis([&] { a = ts.extract(photo); });
  b = onnx.extract(photo);
  CHECK(cosine(a, b) > 0.9999);
  WARN("MobileNetV2 TorchScript features: " << ms << " ms");
}

TEST_CASE("ISNet localises a product on a white background", "[real]") {
  if (!have_shared()) return;
  const Image iconic = Image::decode_file(grocery(kIconic));
  // Truth: the non-white pixels, holes filled (label text and white print are part of the product).
  std::vector<std::uint8_t> truth(static_cast<std::size_t>(iconic.width()) * iconic.height());
  for (std::size_t i = 0; i < truth.size(); ++i) {
    const std::uint8_t* p = iconic.data() + i * 3;
    truth[i] = (p[0] < 235 || p[1] < 235 || p[2] < 235) ? 255 : 0;
  }
  for (const char* name : {"isnet_320.json"}) {
    const Localizer localizer(manifest(name));
    Localization loc;
    const double ms = millis([&] { loc = localizer.localize(iconic); });
    std::size_t inter = 0, uni = 0;
    for (std::size_t i = 0; i < truth.size(); ++i) inter += truth[i] && loc.mask[i], uni += truth[i] || loc.mask[i];
    const double iou = double(inter) / double(uni);
    WARN(name << ": IoU with the non-white pixels " << iou << ", confidence " << loc.confidence << ", " << ms << " ms");
    CHECK_FALSE(loc.fallback);
    CHECK(iou > 0.75);
  }
}

namespace {

// examples/models/NAME with its model file under shared_dir(), written into `dir`.
std::string manifest_in(const std::string& dir, const std::string& name) {
  std::ifstream in(std::string(DS_MANIFEST_DIR) + "/" + name);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (std::size_t at; (at = text.find("../../../shared")) != std::string::npos;) text.replace(at, 15, fs::absolute(shared_dir()).string());
  const std::string path = dir + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// Fraction of queries whose top result is their item.
double top1(const Pipeline& p, const std::vector<CatalogueEntry>& queries) {
  QueryOptions o;
  o.category_mode = CategoryMode::Off;
  std::size_t right = 0;
  for (const CatalogueEntry& q : queries) right += p.query_file(q.path, o).results.front().label == q.label;
  return double(right) / double(queries.size());
}

}  // namespace

TEST_CASE("fine-tuning MobileNetV2 on look-alike juice cartons beats its frozen features", "[real][fine-tuning]") {
  if (!have_shared()) return;
  const fs::path dir = fs::temp_directory_path() / ("ds_ft_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  PipelineConfig config;
  config.backbone_manifest = manifest_in(dir.string(), "mobilenet_v2_trainable.json");
  config.runtime.threads = 2;
  config.category_mode = CategoryMode::Off;
  config.fine_tuning.enabled = true;
  config.fine_tuning.epochs = 4;
  config.fine_tuning.views = 1;
  const auto juice = [](const std::string& csv, std::size_t per_item) {
    std::map<std::string, std::size_t> taken;
    std::vector<CatalogueEntry> out;
    for (const CatalogueEntry& e : read_catalogue_csv(grocery(csv), "fine_label", "coarse_label"))
      if (e.path.find("/Juice/") != std::string::npos && taken[e.label]++ < per_item) out.push_back(e);
    return out;
  };
  const std::vector<CatalogueEntry> catalogue = juice("catalogue.csv", 12), queries = juice("queries_val.csv", 100);
  REQUIRE(queries.size() >= 20);
  Pipeline p(config);
  p.index_entries(catalogue);
  const double frozen = top1(p, queries);
  const FineTuningReport r = p.fine_tune();
  const double tuned = top1(p, queries);
  WARN("juice cartons: " << catalogue.size() << " photos of " << r.items << " items, " << queries.size() << " val queries: top-1 item "
                         << frozen << " frozen -> " << tuned << " fine-tuned (cache " << r.cache_seconds << " s, training " << r.training_seconds
                         << " s, held-out accuracy " << r.calibration_accuracy << ", temperature " << r.temperature << ")");
  CHECK(tuned > frozen);
  fs::remove_all(dir);
}
