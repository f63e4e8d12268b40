#include "domainsearch/feature_extractor.hpp"

#include <cmath>

#include "domainsearch/error.hpp"
#include "image/opencv_bridge.hpp"
#include "runtime/preprocess.hpp"

namespace domainsearch {

void l2_normalize_rows(float* rows, std::size_t n, std::size_t d) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    float* row = rows + i * d;
    double norm = 0;
    for (std::size_t j = 0; j < d; ++j) norm += double(row[j]) * row[j];
    const float inv = norm > 0 ? static_cast<float>(1.0 / std::sqrt(norm)) : 0.0f;
    for (std::size_t j = 0; j < d; ++j) row[j] *= inv;
  }
}

struct FeatureExtractor::Impl {
  std::shared_ptr<const detail::ModelRunner> runner;
  FeatureExtractorOptions options;
  int dimension = 0;

  // Pools [N, C, ...] to [N, C] by averaging the trailing axes, then optionally L2-normalises rows.
  std::vector<float> finish(const detail::Tensor& t) const {
    const std::size_t n = static_cast<std::size_t>(t.dim(0)), c = static_cast<std::size_t>(t.dim(1));
    const std::size_t spatial = t.data.size() / (n * c);
    std::vector<float> out(n * c);
    for (std::size_t i = 0; i < n * c; ++i) {
      double s = 0;
      for (std::size_t j = 0; j < spatial; ++j) s += t.data[i * spatial + j];
      out[i] = static_cast<float>(s / static_cast<double>(spatial));
    }
    if (options.l2_normalize) l2_normalize_rows(out.data(), n, c);
    return out;
  }
};

FeatureExtractor::FeatureExtractor(const ModelManifest& backbone, const RuntimeOptions& runtime,
                                   const FeatureExtractorOptions& options)
    : impl_(std::make_unique<Impl>()) {
  if (options.batch_size < 1) throw Error(Status::InvalidArgument, "FeatureExtractor: batch_size must be at least 1");
  impl_->options = options;
  impl_->runner = detail::load_model(backbone, runtime);
  const ModelManifest& m = impl_->runner->manifest();
  const detail::Tensor probe = impl_->runner->run(detail::make_input_batch({cv::Mat(m.input_height, m.input_width, CV_8UC3, cv::Scalar::all(128))}, m), {"features"})[0];
  if (probe.shape.size() < 2) throw Error(Status::ModelMismatch, backbone.file + ": \"features\" output has no channel axis");
  impl_->dimension = static_cast<int>(probe.dim(1));
}

FeatureExtractor::FeatureExtractor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

FeatureExtractor FeatureExtractor::with_parameters(const std::vector<ParameterTensor>& parameters, const std::string& fingerprint) const {
  auto impl = std::make_unique<Impl>(*impl_);
  impl->runner = impl_->runner->with_parameters(parameters, fingerprint);
  return FeatureExtractor(std::move(impl));
}

FeatureExtractor::~FeatureExtractor() = default;
FeatureExtractor::FeatureExtractor(FeatureExtractor&&) noexcept = default;
FeatureExtractor& FeatureExtractor::operator=(FeatureExtractor&&) noexcept = default;

int FeatureExtractor::dimension() const noexcept { return impl_->dimension; }
const FeatureExtractorOptions& FeatureExtractor::options() const noexcept { return impl_->options; }
const std::string& FeatureExtractor::fingerprint() const noexcept { return impl_->runner->fingerprint(); }
const ModelManifest& FeatureExtractor::manifest() const noexcept { return impl_->runner->manifest(); }
std::string FeatureExtractor::device() const { return impl_->runner->device(); }

std::vector<float> FeatureExtractor::extract(const Image& image) const { return extract_batch({image}); }

std::vector<float> FeatureExtractor::extract_batch(const std::vector<Image>& images) const {
  const ModelManifest& m = impl_->runner->manifest();
  std::vector<float> out;
  out.reserve(images.size() * static_cast<std::size_t>(impl_->dimension));
  for (std::size_t first = 0; first < images.size(); first += static_cast<std::size_t>(impl_->options.batch_size)) {
    const std::size_t last = std::min(images.size(), first + static_cast<std::size_t>(impl_->options.batch_size));
    std::vector<cv::Mat> batch;
    for (std::size_t i = first; i < last; ++i) {
      if (images[i].empty()) throw Error(Status::InvalidArgument, "FeatureExtractor: image " + std::to_string(i) + " is empty");
      batch.push_back(detail::as_mat(images[i]));
    }
    const std::vector<float> rows = impl_->finish(impl_->runner->run(detail::make_input_batch(batch, m, impl_->options.grayscale), {"features"})[0]);
    out.insert(out.end(), rows.begin(), rows.end());
  }
  return out;
}

}  // namespace domainsearch
