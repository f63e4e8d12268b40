#pragma once
// Internal: squared-L2 distance kernels over a row-major block of vectors with cached squared norms,
// ||x - q||^2 = ||x||^2 + ||q||^2 - 2 x.q, the dot products computed by BLAS (sgemv / sgemm).
// Results are clamped at 0 (cancellation can make them slightly negative). Reentrant.
#include <cstddef>

namespace domainsearch::detail {

/// Squared norm of a d-vector, accumulated in double.
float squared_norm(const float* x, std::size_t d) noexcept;

/// Exact squared distance, accumulated in double (used to refine the final hits).
float squared_distance(const float* x, const float* y, std::size_t d) noexcept;

/// out[i] = ||X_i - q||^2 for i < n.
void l2sq_one(const float* X, const float* x_sqnorms, std::size_t n, std::size_t d, const float* q, float q_sqnorm,
              float* out) noexcept;

/// out[j * n + i] = ||X_i - Q_j||^2 for i < n, j < nq.
void l2sq_many(const float* X, const float* x_sqnorms, std::size_t n, std::size_t d, const float* Q,
               const float* q_sqnorms, std::size_t nq, float* out) noexcept;

}  // namespace domainsearch::detail
