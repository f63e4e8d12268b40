#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "training/metric_loss.hpp"


TEST_CASE("supervised contrastive loss: a hand-computed case, no positives, gradients", "[fine-tuning][metric]") {
  // Rows 0 and 1 are one item at cosine 1, row 2 another at cosine 0. Temperature 1: row 0's one
  // positive has log-probability 1 - ln(e + 1) among rows 1 and 2; the same for row 1; row 2 has no
  // positive and is left out. Loss = ln(e + 1) - 1 = 0.31326.
  const torch::Tensor f = torch::tensor({1.0f, 0.0f, 1.0f, 0.0f, 0.0f, 1.0f}).reshape({3, 2});
  const torch::Tensor y = torch::tensor({4, 4, 9}, torch::kLong);
  CHECK(domainsearch::detail::supervised_contrastive(f, y, 1.0f).item<float>() == Approx(std::log(std::exp(1.0) + 1) - 1).epsilon(1e-5));
  // At temperature 0.5 the similarities double: ln(e^2 + 1) - 2.
  CHECK(domainsearch::detail::supervised_contrastive(f, y, 0.5f).item<float>() == Approx(std::log(std::exp(2.0) + 1) - 2).epsilon(1e-5));
  // No two rows of one label: nothing to pull together.
  CHECK(domainsearch::detail::supervised_contrastive(f, torch::tensor({1, 2, 3}, torch::kLong), 0.1f).item<float>() == 0.0f);
  // Its gradient pulls the positives together: moving row 1 toward row 2 raises the loss.
  const torch::Tensor g = torch::nn::functional::normalize(torch::tensor({1.0f, 0.0f, 0.8f, 0.6f, 0.0f, 1.0f}).reshape({3, 2}),
                                                           torch::nn::functional::NormalizeFuncOptions().dim(1));
  CHECK(domainsearch::detail::supervised_contrastive(g, y, 0.1f).item<float>() > domainsearch::detail::supervised_contrastive(f, y, 0.1f).item<float>());
  // Descending the gradient moves row 1 back toward row 0 (its positive): their cosine rises.
  const torch::Tensor leaf = g.clone().requires_grad_(true);
  domainsearch::detail::supervised_contrastive(leaf, y, 0.1f).backward();
  REQUIRE(std::isfinite(leaf.grad().abs().sum().item<float>()));
  const torch::Tensor stepped = g - 0.01 * leaf.grad();
  const auto cosine = [](const torch::Tensor& a, const torch::Tensor& b) { return (torch::dot(a, b) / (a.norm() * b.norm())).item<float>(); };
  CHECK(cosine(stepped[0], stepped[1]) > cosine(g[0], g[1]));
  // A low temperature stays finite (the row itself is masked out of the log-sum-exp).
  CHECK(std::isfinite(domainsearch::detail::supervised_contrastive(g, y, 1e-3f).item<float>()));
}

TEST_CASE("P x K order: every row once, each class's rows in runs of K", "[fine-tuning][metric]") {
  std::vector<std::int64_t> row_class;  // 7 classes of 4 rows
  for (int c = 0; c < 7; ++c) row_class.insert(row_class.end(), 4, c);
  std::vector<std::size_t> order(row_class.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(5);
  std::shuffle(order.begin(), order.end(), rng);
  // The maximal stretches of one class in a row order.
  const auto segments = [&](const std::vector<std::size_t>& rows) {
    std::vector<std::size_t> lengths;
    for (std::size_t i = 0; i < rows.size(); ++i)
      if (i > 0 && row_class[rows[i]] == row_class[rows[i - 1]]) ++lengths.back();
      else lengths.push_back(1);
    return lengths;
  };
  const std::vector<std::size_t> by4 = domainsearch::detail::in_class_runs(order, row_class, 4, rng);
  CHECK(std::multiset<std::size_t>(by4.begin(), by4.end()) == std::multiset<std::size_t>(order.begin(), order.end()));
  CHECK(segments(by4) == std::vector<std::size_t>(7, 4));  // each class one run of 4
  const std::vector<std::size_t> by2 = domainsearch::detail::in_class_runs(order, row_class, 2, rng);
  CHECK(std::multiset<std::size_t>(by2.begin(), by2.end()) == std::multiset<std::size_t>(order.begin(), order.end()));
  for (std::size_t length : segments(by2)) CHECK((length == 2 || length == 4));  // runs of 2 (two of one class may meet)
  CHECK(segments(order).size() > 7);  // (the shuffled input was not already grouped)
}
