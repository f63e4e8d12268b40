#include "training/metric_loss.hpp"

#include <algorithm>
#include <cmath>
#include <map>

namespace domainsearch::detail {

torch::Tensor supervised_contrastive(const torch::Tensor& unit_features, const torch::Tensor& labels, float temperature) {
  const std::int64_t n = unit_features.size(0);
  const torch::Tensor self = torch::eye(n, unit_features.options().dtype(torch::kBool));
  // Each row's log-probabilities over the other rows (itself masked out of the log-sum-exp, so no
  // exponential underflows at a low temperature).
  const torch::Tensor similarity = (torch::matmul(unit_features, unit_features.t()) / temperature).masked_fill(self, -INFINITY);
  const torch::Tensor log_probability = similarity - torch::logsumexp(similarity, {1}, /*keepdim=*/true);
  const torch::Tensor positive = labels.unsqueeze(1).eq(labels.unsqueeze(0)).logical_and(self.logical_not());
  const torch::Tensor count = positive.sum(1);
  const torch::Tensor has_positive = count.gt(0);
  if (!has_positive.any().item<bool>()) return torch::zeros({}, unit_features.options());
  // where(), not a product: the masked diagonal's -inf never meets a 0.
  const torch::Tensor positive_sum = torch::where(positive, log_probability, torch::zeros_like(log_probability)).sum(1);
  return -(positive_sum / count.clamp_min(1)).masked_select(has_positive).mean();
}

std::vector<std::size_t> in_class_runs(const std::vector<std::size_t>& order, const std::vector<std::int64_t>& row_class, std::size_t k,
                                       std::mt19937_64& rng) {
  std::map<std::int64_t, std::vector<std::size_t>> by_class;
  for (std::size_t row : order) by_class[row_class[row]].push_back(row);
  std::vector<std::vector<std::size_t>> runs;
  for (const auto& [c, rows] : by_class)
    for (std::size_t i = 0; i < rows.size(); i += k)
      runs.emplace_back(rows.begin() + static_cast<std::ptrdiff_t>(i), rows.begin() + static_cast<std::ptrdiff_t>(std::min(rows.size(), i + k)));
  std::shuffle(runs.begin(), runs.end(), rng);
  std::vector<std::size_t> out;
  for (const std::vector<std::size_t>& run : runs) out.insert(out.end(), run.begin(), run.end());
  return out;
}

}  // namespace domainsearch::detail
