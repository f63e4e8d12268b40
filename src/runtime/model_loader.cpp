#include <algorithm>
#include <filesystem>
#include <thread>

#include "domainsearch/error.hpp"
#include "runtime/model_runner.hpp"

namespace domainsearch::detail {

int resolve_threads(int threads) noexcept { return threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }
namespace {

std::string describe(const ModelManifest& m) { return (m.name.empty() ? std::string("model") : m.name) + " (" + m.file + ")"; }

void validate_outputs(const ModelRunner& runner, int warmup_runs) {
  const ModelManifest& m = runner.manifest();
  const int channels = m.input_trimap ? 4 : 3;
  Tensor dummy{{1, channels, m.input_height, m.input_width},
               std::vector<float>(channels * static_cast<std::size_t>(m.input_height) * m.input_width, 0.5f)};
  std::vector<std::string> roles;
  for (const auto& entry : m.outputs) roles.push_back(entry.first);
  for (int i = 0; i < std::max(warmup_runs, 1); ++i) {
    const std::vector<Tensor> outs = runner.run(dummy, roles);
    for (std::size_t r = 0; r < roles.size(); ++r) {
      const Tensor& t = outs[r];
      if (t.shape.empty() || t.shape[0] != 1)
        throw Error(Status::ModelMismatch, describe(m) + ": output \"" + roles[r] + "\" has no batch dimension");
      if (roles[r] == "features" && m.feature_dim > 0 && (t.shape.size() < 2 || t.shape[1] != m.feature_dim))
        throw Error(Status::ModelMismatch, describe(m) + ": manifest declares feature_dim " + std::to_string(m.feature_dim) +
                                               " but the model's features have " +
                                               (t.shape.size() < 2 ? std::string("no channel axis") : std::to_string(t.shape[1]) + " channels"));
    }
  }
}

}  // namespace

std::shared_ptr<const ModelRunner> load_model(const ModelManifest& manifest, const RuntimeOptions& options) {
  if (!std::filesystem::is_regular_file(manifest.file))
    throw Error(Status::Io, describe(manifest) + ": model file not found");
  std::string fingerprint = sha256_file(manifest.file);
  if (!manifest.sha256.empty() && manifest.sha256 != fingerprint)
    throw Error(Status::ModelMismatch, describe(manifest) + ": SHA-256 is " + fingerprint + ", manifest expects " + manifest.sha256);
  auto runner = manifest.format == ModelFormat::TorchScript ? load_torchscript(manifest, options, std::move(fingerprint))
                                                            : load_onnx(manifest, options, std::move(fingerprint));
  validate_outputs(*runner, options.warmup_runs);
  return runner;
}

}  // namespace domainsearch::detail
