// One of the four library translation units that include LibTorch (with torch_support.cpp, the category head's trainer and the backbone trainer).
#include <torch/script.h>
#include <torch/cuda.h>

#include <algorithm>
#include <cctype>

#include "domainsearch/error.hpp"
#include "runtime/model_runner.hpp"
#include "runtime/torch_support.hpp"

namespace domainsearch::detail {
namespace {

torch::Tensor pick_output(const c10::IValue& result, const OutputRef& ref, const std::string& role, const std::string& model) {
  if (!ref.name.empty())
    throw Error(Status::ModelMismatch, model + ": TorchScript outputs are selected by index, not name (\"" + role + "\")");
  if (result.isTensor()) {
    if (ref.index > 0) throw Error(Status::ModelMismatch, model + ": returns one tensor but \"" + role + "\" asks for output " + std::to_string(ref.index));
    return result.toTensor();
  }
  if (result.isTuple() || result.isList()) {
    const auto elements = result.isTuple() ? result.toTupleRef().elements().vec() : result.toListRef().vec();
    const int index = std::max(ref.index, 0);
    if (index >= static_cast<int>(elements.size()))
      throw Error(Status::ModelMismatch, model + ": output \"" + role + "\" is index " + std::to_string(index) + " but the model returns " +
                                             std::to_string(elements.size()) + " outputs");
    if (!elements[index].isTensor()) throw Error(Status::ModelMismatch, model + ": output " + std::to_string(index) + " is not a tensor");
    return elements[index].toTensor();
  }
  throw Error(Status::ModelMismatch, model + ": returns neither a tensor nor a tuple of tensors");
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Int8 weights are packed for the current engine while the module loads, so it must be selected first.
void select_quantized_engine(const ModelManifest& m, const torch::Device& device) {
  if (!device.is_cpu())
    throw Error(Status::DeviceUnavailable, m.file + ": an int8 (" + m.quantized_engine + ") model runs on the CPU only, not on " + device.str());
  std::string supported;
  for (const at::QEngine e : at::globalContext().supportedQEngines()) {
    if (e == at::kNoQEngine) continue;
    const std::string name = lower(c10::toString(e));
    if (name == m.quantized_engine) return at::globalContext().setQEngine(e);
    supported += (supported.empty() ? "" : ", ") + name;
  }
  throw Error(Status::DeviceUnavailable, m.file + ": int8 engine \"" + m.quantized_engine + "\" is not in this LibTorch (it has: " +
                                             (supported.empty() ? "none" : supported) + ")");
}

class TorchScriptRunner final : public ModelRunner {
 public:
  TorchScriptRunner(const ModelManifest& manifest, const RuntimeOptions& options, std::string fingerprint)
      : ModelRunner(manifest, std::move(fingerprint)), device_(resolve_torch_device(options.device)) {
    if (!manifest.quantized_engine.empty()) select_quantized_engine(manifest, device_);
    try {
      module_ = torch::jit::load(manifest.file, device_);
    } catch (const c10::Error& e) {
      throw Error(Status::ModelMismatch, manifest.file + ": not a loadable TorchScript model (" + e.what_without_backtrace() + ")");
    }
    module_.to(torch::kFloat);  // e.g. ISNet ships fp16 weights
    module_.eval();
    apply_memory_format(module_, manifest);
  }

  TorchScriptRunner(const TorchScriptRunner&) = delete;

  std::vector<Tensor> run(const Tensor& input, const std::vector<std::string>& roles) const override {
    const std::string model = manifest().file;
    c10::InferenceMode guard;
    try {
      const torch::Tensor x = in_memory_format(torch::from_blob(const_cast<float*>(input.data.data()), input.shape, torch::kFloat).to(device_), manifest());
      // forward() is not const in the API but does not mutate an eval-mode module.
      const c10::IValue result = const_cast<torch::jit::Module&>(module_).forward({x});
      std::vector<Tensor> outs;
      for (const std::string& role : roles) outs.push_back(to_tensor(pick_output(result, manifest().output(role), role, model)));
      return outs;
    } catch (const c10::Error& e) {
      throw Error(Status::ModelMismatch, model + ": forward failed on input " + shape_text(input.shape) + " (" + e.what_without_backtrace() + ")");
    }
  }

  std::string device() const override { return device_.str(); }

  std::shared_ptr<const ModelRunner> with_parameters(const std::vector<ParameterTensor>& parameters, std::string fingerprint) const override {
    return std::shared_ptr<const ModelRunner>(new TorchScriptRunner(*this, parameters, std::move(fingerprint)));
  }

 private:
  // A deep copy of `base` with the given parameters replaced.
  TorchScriptRunner(const TorchScriptRunner& base, const std::vector<ParameterTensor>& parameters, std::string fingerprint)
      : ModelRunner(base.manifest(), std::move(fingerprint)), device_(base.device_), module_(base.module_.clone()) {
    load_parameters(module_, parameters, manifest().file);
    apply_memory_format(module_, manifest());
  }

  torch::Device device_;
  torch::jit::Module module_;
};

}  // namespace

std::shared_ptr<const ModelRunner> load_torchscript(const ModelManifest& manifest, const RuntimeOptions& options, std::string fingerprint) {
  onednn_isa_decision();  // applied at load already; before the first model runs in any case
  apply_torch_threads(options.threads);
  return std::make_shared<TorchScriptRunner>(manifest, options, std::move(fingerprint));
}

}  // namespace domainsearch::detail
