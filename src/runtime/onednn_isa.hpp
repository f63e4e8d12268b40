#pragma once
// Internal: the instruction-set cap the library puts on oneDNN. With the oneDNN inside LibTorch 1.13,
// int8 (quantized_engine "onednn") models corrupt the heap on Xeon CPUs with AMX and AVX512-FP16
// (Sapphire Rapids and later); capping oneDNN at AVX512_CORE_VNNI avoids it, at the cost of its AMX and
// AVX512-BF16/FP16 kernels. oneDNN reads its cap from the environment (ONEDNN_MAX_CPU_ISA, then
// DNNL_MAX_CPU_ISA) once, the first time it dispatches a kernel, so the library sets both when it is
// loaded (a static initializer in torch_support.cpp; again, idempotently, before the first TorchScript
// model loads): onednn_isa_decision() in torch_support.hpp.
//
// The decision, decide_onednn_isa(): cap when the CPU reports AMX-TILE or AVX512-FP16 (CPUID leaf 7,
// sub-leaf 0, EDX bits 24 and 23), unless
//  - the user set DNNL_MAX_CPU_ISA or ONEDNN_MAX_CPU_ISA (any value): theirs is kept;
//  - DS_ONEDNN_ISA=native (any case): no cap, oneDNN uses everything the CPU has.
// The cap cannot help a process in which oneDNN already ran before the library was loaded (e.g. Python
// that imported torch and ran a model first): set DNNL_MAX_CPU_ISA=AVX512_CORE_VNNI in its environment.
// No LibTorch here, so the decision is unit-testable on any CPU.
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace domainsearch::detail {

/// The CPU features that decide the cap.
struct CpuIsaFeatures {
  bool amx_tile = false;     ///< CPUID.(EAX=7,ECX=0):EDX bit 24
  bool avx512_fp16 = false;  ///< CPUID.(EAX=7,ECX=0):EDX bit 23
};

/// What the library does about oneDNN's instruction set, and why (for diagnostics and tests).
struct OneDnnIsaDecision {
  bool cap = false;    ///< DNNL_MAX_CPU_ISA and ONEDNN_MAX_CPU_ISA are set to kOneDnnIsaCap
  std::string reason;
};

/// The instruction set oneDNN is capped at.
inline constexpr const char* kOneDnnIsaCap = "AVX512_CORE_VNNI";

/// The decision for a CPU with `cpu`'s features in an environment holding these values (nullptr: the
/// variable is unset). Pure: reads and changes nothing.
inline OneDnnIsaDecision decide_onednn_isa(const CpuIsaFeatures& cpu, const char* dnnl_max_cpu_isa, const char* onednn_max_cpu_isa,
                                           const char* ds_onednn_isa) {
  if (dnnl_max_cpu_isa != nullptr) return {false, std::string("DNNL_MAX_CPU_ISA is set (\"") + dnnl_max_cpu_isa + "\"): oneDNN follows it"};
  if (onednn_max_cpu_isa != nullptr)
    return {false, std::string("ONEDNN_MAX_CPU_ISA is set (\"") + onednn_max_cpu_isa + "\"): oneDNN follows it"};
  if (ds_onednn_isa != nullptr) {
    std::string value(ds_onednn_isa);
    for (char& ch : value) ch = (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch - 'A' + 'a') : ch;
    if (value == "native") return {false, "DS_ONEDNN_ISA=native: oneDNN uses every instruction set of this CPU"};
  }
  if (!cpu.amx_tile && !cpu.avx512_fp16) return {false, "this CPU has neither AMX-TILE nor AVX512-FP16: no cap needed"};
  const std::string features = cpu.amx_tile && cpu.avx512_fp16 ? "AMX-TILE and AVX512-FP16" : cpu.amx_tile ? "AMX-TILE" : "AVX512-FP16";
  return {true, "this CPU has " + features + ": oneDNN is capped at " + kOneDnnIsaCap +
                    " (LibTorch 1.13's oneDNN corrupts the heap running int8 models above it); DS_ONEDNN_ISA=native lifts the cap"};
}

/// This CPU's features (none on a CPU other than x86, or without CPUID leaf 7).
inline CpuIsaFeatures detect_cpu_isa_features() noexcept {
  CpuIsaFeatures features;
#if defined(__x86_64__) || defined(__i386__)
  unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) != 0) {
    features.amx_tile = ((edx >> 24) & 1u) != 0;
    features.avx512_fp16 = ((edx >> 23) & 1u) != 0;
  }
#endif
  return features;
}

}  // namespace domainsearch::detail
