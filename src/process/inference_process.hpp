#pragma once
// Process-wide settings an application embedding libdomainsearch should make once, at start-up, before
// any model runs. The library never makes them itself: they change the whole process (allocator,
// BLAS thread pool), which only the application may decide. Used by the domainsearch command, the
// Python module (on import) and the benchmarks; copy it into your own program. Header-only, so it
// is not part of the library's ABI.
#include <dlfcn.h>
#include <malloc.h>

namespace domainsearch::process {

/// 1. LibTorch allocates and frees large activation buffers on every forward pass; with glibc's
///    default thresholds they are returned to the OS and page-faulted back each time (measured: 3x
///    slower indexing). Keep them.
/// 2. LibTorch runs its kernels on an OpenMP pool; the OpenBLAS that Debian's LibTorch and the index
///    link keeps its own pthread pool, whose threads spin after each call and fight the OpenMP ones for
///    the cores (measured on 2 cores: MobileNetV2 53 ms instead of 17 ms per query after int8 ISNet
///    passes, indexing 11.5 instead of 15.8 img/s). One BLAS thread removes the contention; the large
///    products (batched search) still run at full speed on small core counts. Absent when the BLAS is
///    not OpenBLAS (nothing to do then).
inline void tune_process_for_inference() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  using SetThreads = void (*)(int);
  if (const auto set_threads = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set_threads(1);
}

}  // namespace domainsearch::process
