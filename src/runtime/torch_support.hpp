#pragma once
// Internal, LibTorch-only helpers shared by the TorchScript runner and the category-head trainer.
// Include only from translation units that already include LibTorch.
#include <torch/cuda.h>
#include <torch/script.h>

#include <string>
#include <vector>

#include "runtime/model_runner.hpp"

namespace domainsearch::detail {

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
