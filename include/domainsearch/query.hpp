#pragma once
// What a query asks (QueryOptions) and what it answers (QueryResponse of QueryResults), and the
// precomputed ImageAnalysis a query or an add can start from. Plain values.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "domainsearch/contour_mask.hpp"
#include "domainsearch/error.hpp"
#include "domainsearch/index.hpp"
#include "domainsearch/localizer.hpp"
#include "domainsearch/pipeline_config.hpp"

namespace domainsearch {

struct QueryOptions {
  std::optional<std::size_t> k;    ///< overrides PipelineConfig::k
  std::string category;            ///< for CategoryMode::Given (or to force one category in any mode)
  KeyFilter filter;                ///< keys that may be returned
  std::optional<CategoryMode> category_mode;  ///< overrides PipelineConfig::category_mode for this query
  std::optional<RerankMode> rerank;           ///< overrides PipelineConfig::rerank for this query
  std::optional<float> soft_threshold;        ///< overrides PipelineConfig::soft_threshold for this query
  std::optional<bool> one_result_per_label;   ///< overrides PipelineConfig::one_result_per_label for this query
  /// Overrides PipelineConfig's match_threshold, match_distance and min_confidence for this query
  /// (an object query's products take PipelineConfig::object_rules unless this is set). Checked as the
  /// configuration's are (InvalidArgument).
  std::optional<NoMatchRules> no_match_rules;
};

/// What the models compute for one image, before it is stored or searched: the embedding (made with
/// the pipeline's embedding settings) and, with localisation, the object's ContourMask and the full
/// Localization. Computing it once and storing or searching it many times is how evaluations and
/// services with their own caches avoid repeating inference.
struct ImageAnalysis {
  std::vector<float> embedding;              ///< dimension() floats
  std::optional<ContourMask> contour;        ///< the object's mask, when localisation ran
  std::optional<Localization> localization;  ///< when localisation ran (may be dropped to save memory)
};

/// What decoding and analysing one catalogue entry gave (Pipeline::analyze_entries): its analysis
/// (without the full-size Localization), or why there is none.
struct EntryAnalysis {
  std::optional<ImageAnalysis> analysis;
  std::string error;           ///< the decoder's or the model's message, naming the file; empty with an analysis
  Status status = Status::Ok;  ///< why there is none: the file's (Io, ImageDecode, ImageTooLarge...) or a model's
};

/// One photo of an item in an item answer.
struct ItemPhoto {
  std::uint64_t key = 0;
  float distance = 0.0f;  ///< to the query, as QueryResult::distance
};

/// One answer: an item (PipelineConfig::one_result_per_label, the default) shown by its nearest photo,
/// or one photo.
struct QueryResult {
  std::uint64_t key = 0;  ///< the photo (for an item: its nearest photo)
  std::string label;
  std::string category;
  std::string source;     ///< the indexed image's path, when it was indexed from a file
  float distance = 0.0f;  ///< squared Euclidean distance between embeddings (the adapted ones, when the catalogue has an adaptation)
  float iou = 0.0f;       ///< ContourMask IoU with the query (1 when masks are absent)
  /// The final ranking score, lower is better, never decreasing down the list: the distance without
  /// reranking; with it, 1 - IoU or the fused score (pipeline_config.hpp), results past rerank_depth
  /// scored as if their IoU were 0 (they were not compared).
  float score = 0.0f;
  /// Calibrated probability that the query shows this result's item: the fine-tuned item classifier's
  /// (temperature-scaled) probability of the result's label; 0 for a label it was not trained on; -1
  /// when the catalogue is not fine-tuned.
  float match_probability = -1.0f;
  /// An item's photos that the search reached, nearest first (the first is `key`); empty when the
  /// answer lists photos. Pipeline::index().get_metadata(key) describes any of them.
  std::vector<ItemPhoto> photos;
};

struct StageTimings {
  double decode_ms = 0, localize_ms = 0, embed_ms = 0, categorize_ms = 0, search_ms = 0, rerank_ms = 0, total_ms = 0;
};

struct NamedCategoryScore {
  std::string category;
  float probability = 0.0f;
};

struct QueryResponse {
  std::vector<QueryResult> results;
  std::vector<NamedCategoryScore> predicted;  ///< the head's top categories (empty without a head)
  std::vector<std::string> searched;          ///< the categories actually searched
  std::optional<Localization> localization;   ///< when localisation ran
  /// "Not in the catalogue": the nearest result's distance is above PipelineConfig::match_distance (any
  /// catalogue), or the first result's match_probability is below PipelineConfig::match_threshold
  /// (fine-tuned catalogues), or the confidence is below PipelineConfig::min_confidence, or a rule is
  /// on and nothing was found; the results are still listed, for the caller to show or not.
  bool no_match = false;
  /// The probability that the first result's item is right (PipelineConfig::confidence), 0..1; 0 when
  /// nothing was found; -1 without a confidence model, when the model weighs the match probability and
  /// the catalogue is not fine-tuned, or for a photo answer (the model is of item answers).
  float confidence = -1.0f;
  StageTimings timings;
};

}  // namespace domainsearch
