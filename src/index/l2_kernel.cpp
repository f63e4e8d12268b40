#include "index/l2_kernel.hpp"

#include <cblas.h>

#include <algorithm>

namespace domainsearch::detail {

float squared_norm(const float* x, std::size_t d) noexcept {
  double s = 0;
  for (std::size_t i = 0; i < d; ++i) s += static_cast<double>(x[i]) * x[i];
  return static_cast<float>(s);
}

float squared_distance(const float* x, const float* y, std::size_t d) noexcept {
  double s = 0;
  for (std::size_t i = 0; i < d; ++i) {
    const double diff = static_cast<double>(x[i]) - y[i];
    s += diff * diff;
  }
  return static_cast<float>(s);
}

void l2sq_one(const float* X, const float* x_sqnorms, std::size_t n, std::size_t d, const float* q, float q_sqnorm,
              float* out) noexcept {
  cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(n), static_cast<int>(d), -2.0f, X, static_cast<int>(d), q, 1,
              0.0f, out, 1);
  for (std::size_t i = 0; i < n; ++i) out[i] = std::max(out[i] + x_sqnorms[i] + q_sqnorm, 0.0f);
}

void l2sq_many(const float* X, const float* x_sqnorms, std::size_t n, std::size_t d, const float* Q,
               const float* q_sqnorms, std::size_t nq, float* out) noexcept {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(nq), static_cast<int>(n), static_cast<int>(d),
              -2.0f, Q, static_cast<int>(d), X, static_cast<int>(d), 0.0f, out, static_cast<int>(n));
  for (std::size_t j = 0; j < nq; ++j) {
    float* row = out + j * n;
    for (std::size_t i = 0; i < n; ++i) row[i] = std::max(row[i] + x_sqnorms[i] + q_sqnorms[j], 0.0f);
  }
}

}  // namespace domainsearch::detail
