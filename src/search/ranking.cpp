#include "search/ranking.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <unordered_set>

namespace domainsearch::detail {

std::vector<std::int32_t> choose_categories(const std::vector<CategoryScore>& ranked, float soft_threshold) {
  std::vector<std::int32_t> chosen;
  float mass = 0;
  for (const CategoryScore& s : ranked) {
    chosen.push_back(s.category);
    mass += s.probability;
    if (mass >= soft_threshold) break;
  }
  return chosen;
}

std::vector<std::int32_t> with_untrained_categories(std::vector<std::int32_t> chosen, const std::vector<bool>& untrained) {
  std::vector<bool> present(untrained.size(), false);
  for (const std::int32_t c : chosen)
    if (c >= 0 && static_cast<std::size_t>(c) < present.size()) present[static_cast<std::size_t>(c)] = true;
  for (std::size_t c = 0; c < untrained.size(); ++c)
    if (untrained[c] && !present[c]) chosen.push_back(static_cast<std::int32_t>(c));
  return chosen;
}

std::size_t search_depth(std::size_t k, RerankMode mode, std::size_t rerank_depth) noexcept {
  return mode == RerankMode::Off ? k : std::max(k, rerank_depth);
}

void keep_first_per_label(std::vector<QueryResult>& results) {
  std::unordered_set<std::string> seen;
  results.erase(std::remove_if(results.begin(), results.end(), [&](const QueryResult& r) { return !seen.insert(r.label).second; }),
                results.end());
}

void rerank(RerankMode mode, std::size_t rerank_depth, float iou_weight, std::vector<QueryResult>& results) {
  for (QueryResult& r : results) r.score = r.distance;
  if (mode == RerankMode::Off) return;
  const auto end = results.begin() + static_cast<std::ptrdiff_t>(std::min(results.size(), rerank_depth));
  float max_distance = 1e-12f;
  for (auto r = results.begin(); r != end; ++r) max_distance = std::max(max_distance, std::sqrt(r->distance));
  const auto score = [&](float distance, float iou) {
    return mode == RerankMode::Iou ? 1.0f - iou : (1 - iou_weight) * std::sqrt(distance) / max_distance + iou_weight * (1 - iou);
  };
  for (auto r = results.begin(); r != end; ++r) r->score = score(r->distance, r->iou);
  // Past rerank_depth no IoU was compared: scored as IoU 0, so one scale runs down the whole list and
  // never decreases (their distances are at least the reranked ones', whose scores are at most 1).
  for (auto r = end; r != results.end(); ++r) r->score = score(r->distance, 0.0f);
  std::stable_sort(results.begin(), end, [](const QueryResult& a, const QueryResult& b) { return a.score < b.score; });
}

float nearest_distance(const std::vector<QueryResult>& results) noexcept {
  float nearest = std::numeric_limits<float>::infinity();
  for (const QueryResult& r : results) nearest = std::min(nearest, r.distance);
  return nearest;
}

bool is_no_match(const std::vector<QueryResult>& results, float nearest, float threshold, float max_distance, bool calibrated) noexcept {
  const bool by_probability = calibrated && threshold > 0, by_distance = max_distance > 0;
  if (!by_probability && !by_distance) return false;
  if (results.empty()) return true;
  return (by_probability && results.front().match_probability < threshold) || (by_distance && nearest > max_distance);
}

}  // namespace domainsearch::detail
