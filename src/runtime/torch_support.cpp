#include "runtime/torch_support.hpp"

#include <ATen/Parallel.h>

#include <cstdlib>
#include <map>

#include "domainsearch/error.hpp"

namespace domainsearch::detail {

const OneDnnIsaDecision& onednn_isa_decision() {
  static const OneDnnIsaDecision decision = [] {
    OneDnnIsaDecision d = decide_onednn_isa(detect_cpu_isa_features(), std::getenv("DNNL_MAX_CPU_ISA"), std::getenv("ONEDNN_MAX_CPU_ISA"),
                                            std::getenv("DS_ONEDNN_ISA"));
    if (d.cap) {
      ::setenv("DNNL_MAX_CPU_ISA", kOneDnnIsaCap, 0);
      ::setenv("ONEDNN_MAX_CPU_ISA", kOneDnnIsaCap, 0);
    }
    return d;
  }();
  return decision;
}

namespace {

// Applies the oneDNN decision when the library is loaded: oneDNN reads its cap once, when it first
// dispatches a kernel, which no code of this library can do before its static initializers have run.
// (LibTorch's own initializers, which run first, dispatch no oneDNN kernel.)
struct OneDnnIsaAtLoad {
  OneDnnIsaAtLoad() { onednn_isa_decision(); }
};
const OneDnnIsaAtLoad one_dnn_isa_at_load;

}  // namespace

torch::Device resolve_torch_device(const std::string& device) {
  if (device == "cpu") return torch::kCPU;
  if (device == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (device.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available())
      throw Error(Status::DeviceUnavailable, "device \"" + device + "\" requested but CUDA is not available to LibTorch "
                                             "(CPU-only build, no driver or no GPU); use \"cpu\" or \"auto\"");
    try {
      const torch::Device d(device);
      if (d.index() >= static_cast<int>(torch::cuda::device_count()))
        throw Error(Status::DeviceUnavailable, "device \"" + device + "\": only " + std::to_string(torch::cuda::device_count()) + " CUDA devices");
      return d;
    } catch (const c10::Error&) {
      throw Error(Status::InvalidArgument, "device \"" + device + "\" is not a device name (cpu, cuda, cuda:N, auto)");
    }
  }
  throw Error(Status::InvalidArgument, "device \"" + device + "\" is not a device name (cpu, cuda, cuda:N, auto)");
}

void apply_torch_threads(int threads) {
  threads = resolve_threads(threads);
  if (at::get_num_threads() != threads) at::set_num_threads(threads);
}

Tensor to_tensor(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
  Tensor out;
  out.shape.assign(c.sizes().begin(), c.sizes().end());
  out.data.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  return out;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

void apply_memory_format(const torch::jit::Module& module, const ModelManifest& manifest) {
  if (!manifest.channels_last) return;
  torch::NoGradGuard no_grad;
  for (const auto& p : module.parameters(/*recurse=*/true))
    if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
}

torch::Tensor in_memory_format(const torch::Tensor& x, const ModelManifest& manifest) {
  return manifest.channels_last && x.dim() == 4 ? x.contiguous(torch::MemoryFormat::ChannelsLast) : x;
}

void load_parameters(const torch::jit::Module& module, const std::vector<ParameterTensor>& parameters, const std::string& model) {
  std::map<std::string, torch::Tensor> by_name;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) by_name.emplace(p.name, p.value);
  torch::NoGradGuard no_grad;
  for (const ParameterTensor& p : parameters) {
    const auto it = by_name.find(p.name);
    if (it == by_name.end()) throw Error(Status::ModelMismatch, model + ": has no parameter \"" + p.name + "\"");
    const std::vector<std::int64_t> shape(it->second.sizes().begin(), it->second.sizes().end());
    if (shape != p.shape || static_cast<std::int64_t>(p.values.size()) != it->second.numel())
      throw Error(Status::ModelMismatch, model + ": parameter \"" + p.name + "\" is " + shape_text(shape) + ", the fine-tuned weights are " +
                                             shape_text(p.shape));
    // A new tensor, not an in-place copy: a clone()d module may share its tensors with the original.
    const torch::Tensor value = torch::tensor(p.values).reshape(p.shape).to(it->second.device(), it->second.scalar_type());
    torch::jit::Module owner = module;
    std::string name = p.name;
    for (std::size_t dot; (dot = name.find('.')) != std::string::npos; name = name.substr(dot + 1))
      owner = owner.attr(name.substr(0, dot)).toModule();
    owner.setattr(name, value);
  }
}

}  // namespace domainsearch::detail
