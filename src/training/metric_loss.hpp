#pragma once
// Internal: the metric-learning parts of fine-tuning (FineTuningOptions::metric_loss_weight,
// rows_per_item): the supervised contrastive loss and P x K batch order. Reentrant.
#include <torch/torch.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace domainsearch::detail {

/// Supervised contrastive loss (Khosla et al. 2020) of L2-normalised features [B, D] with labels [B]:
/// for each row that has another row of its label, minus the mean log-probability of those rows among
/// all other rows (similarities: cosines / temperature), averaged over such rows; 0 when no row has one.
torch::Tensor supervised_contrastive(const torch::Tensor& unit_features, const torch::Tensor& labels, float temperature);

/// `order` regrouped into runs of up to k rows of one class (in `order`'s order within a class), the
/// runs shuffled by `rng`: consecutive batches then hold about batch / k classes with k rows each.
std::vector<std::size_t> in_class_runs(const std::vector<std::size_t>& order, const std::vector<std::int64_t>& row_class, std::size_t k,
                                       std::mt19937_64& rng);

}  // namespace domainsearch::detail
