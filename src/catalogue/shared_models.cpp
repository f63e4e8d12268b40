#include "catalogue/shared_models.hpp"

#include <filesystem>
#include <iomanip>
#include <limits>
#include <map>
#include <mutex>
#include <sstream>
#include <string>

namespace domainsearch::detail {
namespace {

namespace fs = std::filesystem;

// Everything that makes two loads of a model differ: the manifest's contents, the model file as it is
// on disk now (path, size, modification time), and the runtime settings.
std::ostringstream model_key(const ModelManifest& m, const RuntimeOptions& r) {
  std::ostringstream key;
  key << std::setprecision(std::numeric_limits<float>::max_digits10);  // settings that differ in any bit differ here
  std::error_code ec;
  const fs::path file = fs::weakly_canonical(m.file, ec);
  const auto size = fs::file_size(m.file, ec);
  const auto mtime = fs::last_write_time(m.file, ec).time_since_epoch().count();
  key << m.name << '\n' << m.file << '\n' << file.string() << '\n' << m.labels_file << '\n' << size << ' ' << mtime << ' ' << m.sha256 << ' ' << static_cast<int>(m.format) << ' ' << m.input_width << 'x'
      << m.input_height << ' ' << m.input_bgr << m.input_trimap << ' ' << static_cast<int>(m.normalization) << ' ' << m.scale;
  for (int c = 0; c < 3; ++c) key << ' ' << m.mean[c] << '/' << m.std[c];
  for (const auto& [role, out] : m.outputs) key << ' ' << role << '=' << out.index << ':' << out.name;
  key << ' ' << m.feature_dim << ' ' << m.quantized_engine << ' ' << m.stages << ' ' << m.channels_last << '\n'
      << r.device << ' ' << r.threads << ' ' << r.warmup_runs << '\n';
  return key;
}

// One loaded model per key while anybody holds it.
template <typename Model>
class ModelCache {
 public:
  template <typename Load>
  std::shared_ptr<const Model> get(const std::string& key, Load load) {
    const std::lock_guard<std::mutex> lock(mutex_);  // loads are serialised: two callers never load one model twice
    if (std::shared_ptr<const Model> live = models_[key].lock()) return live;
    for (auto it = models_.begin(); it != models_.end();) it = it->second.expired() ? models_.erase(it) : std::next(it);
    std::shared_ptr<const Model> loaded = load();
    models_[key] = loaded;
    return loaded;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::weak_ptr<const Model>> models_;
};

}  // namespace

std::shared_ptr<const FeatureExtractor> shared_backbone(const ModelManifest& manifest, const RuntimeOptions& runtime,
                                                        const FeatureExtractorOptions& options) {
  static ModelCache<FeatureExtractor> cache;
  std::ostringstream key = model_key(manifest, runtime);
  key << options.l2_normalize << options.grayscale << ' ' << options.batch_size;
  return cache.get(key.str(), [&] { return std::make_shared<const FeatureExtractor>(manifest, runtime, options); });
}

std::shared_ptr<const Localizer> shared_segmenter(const ModelManifest& manifest, const RuntimeOptions& runtime, const LocalizerOptions& options) {
  static ModelCache<Localizer> cache;
  std::ostringstream key = model_key(manifest, runtime);
  key << static_cast<int>(options.threshold_method) << ' ' << options.threshold << ' ' << options.keep_largest_component << options.fill_holes
      << ' ' << static_cast<int>(options.refinement) << ' ' << options.trimap_low << ' ' << options.trimap_high << ' ' << options.guided_radius
      << ' ' << options.guided_epsilon << ' ' << options.min_confidence << ' ' << static_cast<int>(options.fallback) << ' ' << options.mask_side
      << ' ' << static_cast<int>(options.mask_frame) << '\n';
  if (options.matting_model) key << model_key(*options.matting_model, runtime).str();
  return cache.get(key.str(), [&] { return std::make_shared<const Localizer>(manifest, runtime, options); });
}

}  // namespace domainsearch::detail
