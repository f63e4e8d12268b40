#pragma once
// FeatureExtractor: a CNN backbone (from a manifest) turning an image into an embedding (paper 4.3).
// The backbone's "features" output is used as is when it is [N, C], and global-average-pooled when it
// is a feature map [N, C, H, W]. Options: L2 normalisation, grayscale input (the paper removes colour).
// Thread-safety: extract() may be called from many threads at once on one instance.
// Errors: construction throws as load_model does (Io, ModelMismatch, DeviceUnavailable...).

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "domainsearch/export.hpp"
#include "domainsearch/image.hpp"
#include "domainsearch/model.hpp"

namespace domainsearch {

struct FeatureExtractorOptions {
  bool l2_normalize = true;  ///< unit-length embeddings (distances then compare directions)
  bool grayscale = false;    ///< feed luminance only, replicated to 3 channels
  int batch_size = 8;        ///< images per forward pass in extract_batch
};

/// Scales each of the n rows of d floats to unit Euclidean length (an all-zero row stays zero): the
/// normalisation FeatureExtractorOptions::l2_normalize applies.
DS_API void l2_normalize_rows(float* rows, std::size_t n, std::size_t d) noexcept;

class DS_API FeatureExtractor {
 public:
  FeatureExtractor(const ModelManifest& backbone, const RuntimeOptions& runtime = {},
                   const FeatureExtractorOptions& options = {});
  ~FeatureExtractor();
  FeatureExtractor(FeatureExtractor&&) noexcept;
  FeatureExtractor& operator=(FeatureExtractor&&) noexcept;

  int dimension() const noexcept;
  const FeatureExtractorOptions& options() const noexcept;
  const std::string& fingerprint() const noexcept;  ///< SHA-256 of the model file (or of it and the fine-tuned weights)
  const ModelManifest& manifest() const noexcept;  ///< the backbone's, as loaded (input size and normalisation included)
  std::string device() const;

  /// The embedding of one image: dimension() floats.
  std::vector<float> extract(const Image& image) const;
  /// Embeddings of many images, row-major images.size() x dimension(), in batches of batch_size.
  std::vector<float> extract_batch(const std::vector<Image>& images) const;

  /// The same backbone with the named parameters replaced (fine-tuned weights, see fine_tuning.hpp);
  /// `fingerprint` becomes its fingerprint(). Throws InvalidArgument for an ONNX backbone,
  /// ModelMismatch for an unknown parameter name or a wrong shape.
  FeatureExtractor with_parameters(const std::vector<ParameterTensor>& parameters, const std::string& fingerprint) const;


 private:
  struct Impl;  // opaque: src/features/feature_extractor.cpp
  explicit FeatureExtractor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace domainsearch
