#pragma once
// Evaluation: measures a set of pipeline variants on a labelled catalogue and labelled queries (a
// result is relevant when its item label equals the query's; a query's category is its truth for the
// category head). Model outputs are computed once per image and embedding setting (localisation,
// grayscale input) and shared by every variant that only differs in what is done with them (L2
// normalisation, embedding adaptation, category mode and soft threshold, reranking): an ablation costs
// search and training time, not inference time. Each (localisation, grayscale, L2, adaptation)
// combination gets its own in-memory catalogue and its own category head (and adaptation), trained as
// the PipelineConfig says.
//
// Thread-safety: evaluate() is self-contained (it loads its own models). Errors: Error (InvalidArgument
// for empty inputs or bad variants, Cancelled when progress returns false, model loading errors);
// images that cannot be decoded or analysed are reported in EvaluationReport::failures and left out.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "domainsearch/export.hpp"
#include "domainsearch/metrics.hpp"
#include "domainsearch/pipeline.hpp"

namespace domainsearch {

/// One configuration to measure: the base PipelineConfig with these settings replaced.
struct EvaluationVariant {
  std::string name;
  bool localize = false;
  bool grayscale = false;
  bool l2_normalize = true;
  bool adapt_embedding = false;  ///< search in a catalogue-adapted embedding (PipelineConfig::adapt_embedding)
  CategoryMode category_mode = CategoryMode::PredictedSoft;
  float soft_threshold = 0.9f;
  RerankMode rerank = RerankMode::Off;
  /// How the item answer (VariantEvaluation::items) scores an item: by the mean distance of its
  /// `item_photos` nearest photos; 1 (the pipeline's item answer): its nearest photo. Above 1 needs rerank off.
  std::size_t item_photos = 1;
};

/// "Not in the catalogue" at one threshold, measured with held-out items
/// (EvaluationOptions::holdout_items): a query is answered "no match" when its first result's
/// match_probability is below the threshold (VariantEvaluation::no_match, PipelineConfig::match_threshold)
/// or its nearest result's distance is above it (no_match_by_distance, PipelineConfig::match_distance).
struct NoMatchPoint {
  float threshold = 0.0f;
  double false_match_rate = 0.0;  ///< of the held-out items' queries, the share still answered with a match
  double recall_cost = 0.0;       ///< of the other queries, the share whose right top-1 answer becomes "no match"
  double no_match_rate = 0.0;     ///< of the other queries, the share answered "no match"
};

/// How well one confidence score, higher = surer, tells a right first answer from a wrong one and a
/// query of a known item from one of an item not in the catalogue (issue: "a confidence that knows
/// when it is wrong").
struct ConfidenceEvaluation {
  /// "match probability" (fine-tuned catalogues), "nearest distance" (its negation: closer is surer),
  /// "item margin" (distance to the nearest result of another item minus the nearest distance),
  /// "configured confidence" (QueryResponse::confidence, when the configuration has a model) and,
  /// with held-out items, "fitted confidence": a ConfidenceModel fitted on these answers, each
  /// answer scored by the model fitted without its item (5 folds by item), so the figures are not
  /// measured on the model's own data.
  std::string name;
  std::optional<double> auroc_right_vs_wrong;     ///< first answers on known items (both kinds must occur)
  std::optional<double> auroc_known_vs_held_out;  ///< with holdout_items: known items' queries vs held-out items'
  std::vector<RiskCoveragePoint> risk_coverage;   ///< first answers on known items, surest first
  double area_under_risk_coverage = 0;            ///< mean risk over coverage (lower is better)
};

struct VariantEvaluation {
  EvaluationVariant variant;
  /// The item answer (one result per item, PipelineConfig::one_result_per_label): each query has one
  /// relevant entry, so identical_recall_at is item recall@K and map the item's mean reciprocal rank.
  RetrievalMetrics items;
  RetrievalMetrics retrieval;  ///< the photo answer: every photo of the query's item is relevant
  std::optional<ClassificationMetrics> categories;  ///< top-1 of the head, when the variant's catalogue has one
  double query_ms = 0;                              ///< mean per query: categorise + search + rerank (no inference)
  std::size_t timed_queries = 0;                    ///< the queries query_ms is the mean of: every decodable one, held-out items' included
  std::vector<NoMatchPoint> no_match;               ///< by match probability: with holdout_items and a fine-tuned catalogue
  /// By the nearest result's distance: with holdout_items, any catalogue; thresholds at quantiles
  /// (50% .. 99%) of the other queries' nearest distances, increasing.
  std::vector<NoMatchPoint> no_match_by_distance;
  std::vector<ConfidenceEvaluation> confidence;  ///< one per candidate score, when some first answer exists
  /// With holdout_items: by the fitted confidence (out of fold, as ConfidenceEvaluation), thresholds
  /// as PipelineConfig::min_confidence.
  std::vector<NoMatchPoint> no_match_by_confidence;
  /// With holdout_items: the configured rules as they are (match_distance, match_threshold,
  /// min_confidence); its threshold is unused.
  std::optional<NoMatchPoint> configured_no_match;
  /// With holdout_items: the ConfidenceModel fitted on every answer (known items' first answers,
  /// right or wrong, and the held-out items' as wrong, weighted as one query in five), for
  /// PipelineConfig::confidence. Absent when the answers are all right or all wrong.
  std::optional<ConfidenceModel> fitted_confidence;
};

struct EvaluationReport {
  std::size_t catalogue_images = 0;        ///< entries given
  std::size_t query_images = 0;
  std::vector<IndexingFailure> failures;   ///< images left out (unreadable, or failed in a model)
  std::vector<std::string> category_names; ///< class ids of the confusion matrices
  std::vector<std::string> held_out_items; ///< labels left out (EvaluationOptions::holdout_items)
  std::size_t held_out_queries = 0;        ///< queries of the held-out items
  std::vector<VariantEvaluation> variants; ///< in the order given
  double inference_seconds = 0;            ///< decoding + models, all embedding settings together
  double training_seconds = 0;             ///< category heads
};

/// stage names what is being done ("analysing catalogue (localise, colour)"...); false cancels.
using EvaluationProgressFn = std::function<bool(const std::string& stage, std::size_t done, std::size_t total)>;

struct EvaluationOptions {
  std::vector<std::size_t> ks = {1, 5, 10, 20};
  /// Images the category head is trained on instead of the catalogue (e.g. shop photos when the
  /// catalogue holds one iconic image per item); their categories must occur in the catalogue.
  std::vector<CatalogueEntry> head_training;
  /// Items (labels) left out of the catalogue and the training photos, evenly spread over the sorted
  /// labels: their queries measure "not in the catalogue" (VariantEvaluation::no_match..., the
  /// confidences) and are left out of the retrieval and category metrics. Their catalogue photos are
  /// not queried: photos of the catalogue's own photo series sit nearer the catalogue than new photos
  /// do (README "Answers: items, a confidence, and no match").
  std::size_t holdout_items = 0;
  EvaluationProgressFn progress;
};

/// base supplies the models and every setting a variant does not replace; it must name a segmenter
/// when a variant localises.
DS_API EvaluationReport evaluate(const PipelineConfig& base, const std::vector<CatalogueEntry>& catalogue,
                                 const std::vector<CatalogueEntry>& queries, const std::vector<EvaluationVariant>& variants,
                                 const EvaluationOptions& options = {});

/// base's own settings as a variant named "configured".
DS_API EvaluationVariant configured_variant(const PipelineConfig& base);

/// The ablation set: the configured variant; whole image with category off / hard / soft (0.5, 0.7,
/// 0.9, 0.99); grayscale input; raw (not L2-normalised) embeddings; the catalogue-adapted embedding with
/// category off and soft; items by their 3 nearest photos; and, when base names a segmenter,
/// localisation with category off, soft, soft + IoU rerank (the paper) and soft + fused rerank.
/// With base.fine_tuning.enabled the network is trained once (on EvaluationOptions::head_training, else
/// on the catalogue) and the variants only change what is done with its outputs: category off / hard /
/// soft 0.5, 0.9, 0.99, and items by their 2, 3 and 5 nearest photos. Every variant is measured on both answers (items and photos).
DS_API std::vector<EvaluationVariant> ablation_variants(const PipelineConfig& base);

/// "loc=on gray=off l2=on adapt=off cat=predicted_soft(0.90) rerank=iou item-photos=1": a variant's settings in one line.
DS_API std::string describe(const EvaluationVariant& variant);

}  // namespace domainsearch
