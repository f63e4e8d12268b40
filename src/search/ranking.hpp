#pragma once
// Internal: the query-time steps around the k-NN search as free functions (paper 4.4): which categories
// a prediction selects, and, on a list of results sorted by (distance, key), items from photos, the
// rerank by mask IoU, the answer's evidence and confidence and the no-match verdict; shared by one
// catalogue (catalogue_search.cpp), the merge of several (shards.cpp) and the evaluation. Reentrant.
#include <cstddef>
#include <limits>
#include <vector>

#include "domainsearch/category_predictor.hpp"
#include "domainsearch/pipeline_config.hpp"
#include "domainsearch/query.hpp"

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
/// first rerank_depth, so it needs max(k, rerank_depth) of them; without reranking, k; an item answer
/// at least 2 (the confidence's item margin needs the second item). One catalogue, its shards and
/// their merge all use this depth, which keeps the sharded answer exact.
std::size_t search_depth(std::size_t k, RerankMode mode, std::size_t rerank_depth, bool items) noexcept;

/// Stably sorts results by (distance, key), the order of the index's hits (merged shard answers, and an
/// answer before reranking).
void sort_by_distance(std::vector<QueryResult>& results);

/// Photos as the answer: every result's score is its distance (the list stays in its order).
void score_photos(std::vector<QueryResult>& results) noexcept;

/// Items as the answer (PipelineConfig::one_result_per_label): `photos`, sorted by (distance, key),
/// become one result per label. Each item's result is its nearest photo's (key, source, distance, IoU,
/// match probability) with `photos` = its photos among `photos` (key, distance), nearest first; its score
/// is the item distance: the mean distance of its `averaged` (>= 1) nearest photos. When the search was
/// cut short, `horizon` is the distance of the farthest photo it returned and an item with fewer than
/// `averaged` photos among `photos` counts each missing one at `horizon` (they are at least that far);
/// when the search returned every photo it could, horizon is 0 and such an item is averaged over the
/// photos it has. Items are ordered by score, then by their nearest photo's (distance, key).
/// averaged = 1 is the nearest photo alone. O(n log n) in the photos.
std::vector<QueryResult> rank_items(const std::vector<QueryResult>& photos, std::size_t averaged, float horizon);

/// Item answers of several catalogues (shards) as one: `items` sorted by their nearest photo's
/// (distance, key); the results of one label merged into its first (nearest), their photos joined
/// nearest first; each item scored by its nearest photo's distance (rank_items with averaged = 1).
std::vector<QueryResult> merge_items(std::vector<QueryResult> items);

/// Results scored (score_photos or rank_items) in order; Off leaves them. Otherwise rescores and
/// stably reorders the first rerank_depth results (Iou: 1 - IoU; Fused: (1 - w) * sqrt(s) / max sqrt(s)
/// + w * (1 - IoU), s the incoming score, the max over those results); the rest keep their order
/// behind them and are scored by the same formula with IoU 0 (not compared), so scores never decrease
/// down the list.
void rerank(RerankMode mode, std::size_t rerank_depth, float iou_weight, std::vector<QueryResult>& results);

/// What an item answer's confidence is computed from (ConfidenceModel): the first item's match
/// probability (-1 when uncalibrated), its distance and the item margin, read from items in distance
/// order (before reranking): the second item's distance minus the first's, at most kMaxItemMargin
/// (also without a second item). Empty results: distance +infinity.
struct AnswerEvidence {
  float probability = -1.0f;
  float distance = std::numeric_limits<float>::infinity();
  float margin = kMaxItemMargin;
};
AnswerEvidence answer_evidence(const std::vector<QueryResult>& by_distance) noexcept;

/// The model's confidence in an item answer, 0..1: 0 without results; -1 for an empty model, or one
/// that weighs the match probability of an uncalibrated answer.
float confidence_of(const ConfidenceModel& model, const AnswerEvidence& evidence) noexcept;

/// The "not in the catalogue" verdict (PipelineConfig::match_threshold, match_distance): `nearest`
/// (the nearest distance, taken before reranking and the cut to k) is above max_distance (> 0), or the results are calibrated
/// (match probabilities >= 0) and the first one's is below threshold (> 0), or a rule is on and there
/// are no results at all. Never when both rules are off.
bool is_no_match(const std::vector<QueryResult>& results, float nearest, float threshold, float max_distance, bool calibrated) noexcept;

/// The confidence rule (PipelineConfig::min_confidence): on (> 0) and the confidence (>= 0) below it.
bool is_unconfident(float confidence, float min_confidence) noexcept;

/// Throws InvalidArgument naming the rule when a query's own rules (QueryOptions::no_match_rules) lie
/// outside the configuration's ranges (match_threshold and min_confidence in [0, 1], match_distance >= 0),
/// or ask for a confidence rule without a confidence model (it could never fire).
void check_query_rules(const NoMatchRules& rules, bool has_confidence_model);

}  // namespace domainsearch::detail
