#pragma once
// Internal, LibTorch-only helpers shared by the TorchScript runner and the category-head trainer.
// Include only from translation units that already include LibTorch.
#include <torch/cuda.h>
#include <torch/script.h>

#include <string>
#include <vector>

#include "runtime/model_runner.hpp"
#include "runtime/onednn_isa.hpp"

namespace domainsearch::detail {

/// The process's oneDNN instruction-set decision (runtime/onednn_isa.hpp), taken and applied (setenv of
/// DNNL_MAX_CPU_ISA and ONEDNN_MAX_CPU_ISA, never overwriting) once, on the first call: when the library
/// is loaded, by a static initializer in torch_support.cpp, so before any model can run oneDNN.
/// Thread-safe.
const OneDnnIsaDecision& onednn_isa_decision();

/// "cpu" | "cuda" | "cuda:N" | "auto" -> a device; CUDA asked for and absent is DeviceUnavailable.
torch::Device resolve_torch_device(const std::string& device);
/// Sets LibTorch's process-wide intra-op thread count to resolve_threads(threads).
void apply_torch_threads(int threads);
/// Copies a tensor (any device, any float type) into a CPU float32 Tensor.
Tensor to_tensor(const torch::Tensor& t);
std::string shape_text(const std::vector<std::int64_t>& shape);
/// Puts the module's 4-D parameters in the manifest's memory order (ModelManifest::channels_last).
void apply_memory_format(const torch::jit::Module& module, const ModelManifest& manifest);
/// An input batch in the manifest's memory order (4-D inputs only; others are returned as they are).
torch::Tensor in_memory_format(const torch::Tensor& x, const ModelManifest& manifest);
/// Sets each ParameterTensor as the module's parameter of that name (recursively named, e.g.
/// "stage14_dw_w"). Throws ModelMismatch naming `model` for an unknown name or a shape that differs.
void load_parameters(const torch::jit::Module& module, const std::vector<ParameterTensor>& parameters, const std::string& model);

}  // namespace domainsearch::detail
