#pragma once
// Internal: the one small interface behind which model backends live (TorchScript via LibTorch, ONNX
// via OpenCV dnn), so a backend can be added or swapped (AOTInductor, ONNX Runtime) without touching
// the stages. No LibTorch or OpenCV type crosses it.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "domainsearch/model.hpp"

namespace domainsearch::detail {

/// A dense float32 array, row-major.
struct Tensor {
  std::vector<std::int64_t> shape;
  std::vector<float> data;
  std::int64_t dim(std::size_t i) const { return shape.at(i); }
};

/// A loaded model. Immutable after load; run() is safe to call from many threads at once.
class ModelRunner {
 public:
  virtual ~ModelRunner() = default;
  /// Runs a batch. `input` is NCHW {n, C, H, W} at the manifest's input size: C = 3 (the colour channels in
  /// the manifest's order), or 4 when the manifest declares a trimap input (matting). Returns one tensor per
  /// entry of `roles` (manifest output roles), in that order. Throws ModelMismatch when an output
  /// is missing, Internal on a backend failure.
  virtual std::vector<Tensor> run(const Tensor& input, const std::vector<std::string>& roles) const = 0;
  /// The device it runs on, e.g. "cpu" or "cuda:0" (what "auto" resolved to).
  virtual std::string device() const = 0;
  /// The same network with the named parameters replaced (fine-tuned weights); `fingerprint` names
  /// the result. Throws InvalidArgument for a backend that cannot take them, ModelMismatch for an
  /// unknown parameter name or a wrong shape.
  virtual std::shared_ptr<const ModelRunner> with_parameters(const std::vector<ParameterTensor>& parameters, std::string fingerprint) const = 0;
  const ModelManifest& manifest() const noexcept { return manifest_; }
  /// SHA-256 of the model file, recorded in catalogues.
  const std::string& fingerprint() const noexcept { return fingerprint_; }

 protected:
  ModelRunner(ModelManifest manifest, std::string fingerprint)
      : manifest_(std::move(manifest)), fingerprint_(std::move(fingerprint)) {}

 private:
  ModelManifest manifest_;
  std::string fingerprint_;
};

/// Loads a model: verifies the checksum, resolves the device, loads through the manifest's backend,
/// applies thread settings, and warms up with a dummy batch, which also checks that every declared
/// output exists (and that "features" has feature_dim channels). Errors: Io, ModelMismatch,
/// DeviceUnavailable, InvalidArgument.
/// The intra-op thread count a RuntimeOptions::threads means: 0 = every core (hardware_concurrency, at
/// least 1), else itself. The one reading of "threads" for LibTorch, OpenCV and the Pipeline.
int resolve_threads(int threads) noexcept;

std::shared_ptr<const ModelRunner> load_model(const ModelManifest& manifest, const RuntimeOptions& options);

// Backend factories (one translation unit each).
std::shared_ptr<const ModelRunner> load_torchscript(const ModelManifest& manifest, const RuntimeOptions& options,
                                                    std::string fingerprint);
std::shared_ptr<const ModelRunner> load_onnx(const ModelManifest& manifest, const RuntimeOptions& options,
                                             std::string fingerprint);

}  // namespace domainsearch::detail
