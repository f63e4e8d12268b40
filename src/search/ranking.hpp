#pragma once
// Internal: the query-time steps around the k-NN search as free functions (paper 4.4): which categories
// a prediction selects, and, on a list of results sorted by (distance, key), one result per label, the
// rerank by mask IoU and the no-match verdict; shared by one catalogue (catalogue_search.cpp) and the
// merge of several (shards.cpp). Reentrant.
#include <cstddef>
#include <vector>

#include "domainsearch/category_predictor.hpp"
#include "domainsearch/pipeline.hpp"

namespace domainsearch::detail {

/// The categories to search for predictions ranked most probable first (at most the limit the caller
/// asked the model for): the first ones until their probabilities add up to soft_threshold.
std::vector<std::int32_t> choose_categories(const std::vector<CategoryScore>& ranked, float soft_threshold);

/// `chosen` followed by every category c with untrained[c] (the category model cannot predict it: it
/// was added after training) that `chosen` does not hold, in increasing id order: such categories are
/// always searched, so their items stay findable. O(chosen.size() + untrained.size()): membership is a
/// look-up in a vector<bool>, not a search of `chosen` (which made a query quadratic in the number of
/// untrained categories: 21.9 s with 500,000 of them). Ids in `chosen` outside untrained's range are kept.
std::vector<std::int32_t> with_untrained_categories(std::vector<std::int32_t> chosen, const std::vector<bool>& untrained);

/// How many nearest results a search must produce for a final list of k: the reranker reorders the
/// first rerank_depth, so it needs max(k, rerank_depth) of them; without reranking, k.
std::size_t search_depth(std::size_t k, RerankMode mode, std::size_t rerank_depth) noexcept;

/// Keeps only the first (best-ranked) result of each label.
void keep_first_per_label(std::vector<QueryResult>& results);

/// Off: every result's score is its distance. Otherwise rescores and stably reorders the first
/// rerank_depth results (Iou: 1 - IoU; Fused: (1 - w) * sqrt(distance) / max sqrt(distance) + w * (1 - IoU),
/// the max over those results); the rest keep their distance order behind them and are scored by the
/// same formula with IoU 0 (not compared), so scores never decrease down the list.
void rerank(RerankMode mode, std::size_t rerank_depth, float iou_weight, std::vector<QueryResult>& results);

/// The smallest distance among results (+infinity for none): taken before reranking, so the distance
/// rule of is_no_match does not depend on the rerank order or on the cut to k.
float nearest_distance(const std::vector<QueryResult>& results) noexcept;

/// The "not in the catalogue" verdict (PipelineConfig::match_threshold, match_distance): `nearest`
/// (nearest_distance() before reranking) is above max_distance (> 0), or the results are calibrated
/// (match probabilities >= 0) and the first one's is below threshold (> 0), or a rule is on and there
/// are no results at all. Never when both rules are off.
bool is_no_match(const std::vector<QueryResult>& results, float nearest, float threshold, float max_distance, bool calibrated) noexcept;

}  // namespace domainsearch::detail
