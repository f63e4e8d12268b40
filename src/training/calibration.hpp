#pragma once
// Internal: temperature scaling (Guo et al. 2017) of a classifier's logits on held-out examples, without
// LibTorch (the trainer hands plain arrays), so it is unit-tested on its own. Reentrant.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace domainsearch::detail {

/// The temperature T in [0.05, 20] minimising the mean negative log-likelihood of softmax(logits / T)
/// for the true labels (golden-section search on log T). `logits` is rows x classes, row-major, with
/// rows = labels.size(). Returns 1 without rows, and 1 when the lower bound is as good as the optimum found:
/// every example is then classified right, the NLL keeps falling as T shrinks, and sharpening without bound
/// would make every answer look certain, the over-confidence calibration is there to cure.
float fit_temperature(const std::vector<float>& logits, const std::vector<std::int64_t>& labels, std::size_t classes);

/// Mean negative log-likelihood of softmax(logits / temperature) for the labels (accumulated in double).
double mean_nll(const std::vector<float>& logits, const std::vector<std::int64_t>& labels, std::size_t classes, double temperature);

}  // namespace domainsearch::detail
