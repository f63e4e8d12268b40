#pragma once
// Internal: the query-time ranking steps after the k-NN search (paper 4.4: rerank by mask IoU), as free
// functions shared by Pipeline (one catalogue) and merge_shard_responses (several): each takes a list of
// results sorted by (distance, key). Reentrant.
#include <cstddef>
#include <vector>

#include "domainsearch/pipeline.hpp"

namespace domainsearch::detail {

/// How many nearest results a search must produce for a final list of k: the reranker reorders the
/// first rerank_depth, so it needs max(k, rerank_depth) of them; without reranking, k.
std::size_t search_depth(std::size_t k, RerankMode mode, std::size_t rerank_depth) noexcept;

/// Keeps only the first (best-ranked) result of each label.
void keep_first_per_label(std::vector<QueryResult>& results);

/// Sets every result's score to its distance, then rescores and stably reorders the first
/// rerank_depth results (Iou: 1 - IoU; Fused: (1 - w) * sqrt(distance) / max sqrt(distance) + w * (1 - IoU)
/// over those results); the rest keep their distance order behind them.
void rerank(RerankMode mode, std::size_t rerank_depth, float iou_weight, std::vector<QueryResult>& results);

/// The "not in the catalogue" verdict: the results carry calibrated match probabilities (>= 0) and the
/// best one's is below threshold, or there are no results at all; never with threshold 0 or for
/// uncalibrated results (match_probability -1).
bool is_no_match(const std::vector<QueryResult>& results, float threshold, bool calibrated) noexcept;

}  // namespace domainsearch::detail
