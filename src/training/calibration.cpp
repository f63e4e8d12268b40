#include "training/calibration.hpp"

#include <algorithm>
#include <cmath>

namespace domainsearch::detail {

double mean_nll(const std::vector<float>& logits, const std::vector<std::int64_t>& labels, std::size_t classes, double temperature) {
  double total = 0;
  for (std::size_t r = 0; r < labels.size(); ++r) {
    const float* z = logits.data() + r * classes;
    const double top = *std::max_element(z, z + classes) / temperature;
    double sum = 0;
    for (std::size_t c = 0; c < classes; ++c) sum += std::exp(z[c] / temperature - top);
    total += top + std::log(sum) - z[static_cast<std::size_t>(labels[r])] / temperature;
  }
  return labels.empty() ? 0.0 : total / static_cast<double>(labels.size());
}

float fit_temperature(const std::vector<float>& logits, const std::vector<std::int64_t>& labels, std::size_t classes) {
  if (labels.empty()) return 1.0f;
  const auto nll = [&](double log_t) { return mean_nll(logits, labels, classes, std::exp(log_t)); };
  const double lowest = std::log(0.05);
  double a = lowest, b = std::log(20.0);
  const double g = (std::sqrt(5.0) - 1) / 2;
  for (int i = 0; i < 60; ++i) {
    const double c = b - g * (b - a), d = a + g * (b - a);
    if (nll(c) < nll(d)) b = d;
    else a = c;
  }
  const double log_t = (a + b) / 2;
  // At (or indistinguishable from) the lower bound: sharpening never costs anything on these examples.
  return nll(lowest) <= nll(log_t) + 1e-12 ? 1.0f : static_cast<float>(std::exp(log_t));
}

}  // namespace domainsearch::detail
