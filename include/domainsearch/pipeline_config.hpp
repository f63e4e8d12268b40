#pragma once
// PipelineConfig: every setting of a Pipeline (models, runtime, localisation, embedding, category
// selection, reranking, training), read from a JSON configuration file (examples/configs/) or built in
// code; every number is range-checked when a Pipeline is made (InvalidArgument naming the setting).
// A plain value; thread-safety as for any struct.

#include <cstddef>
#include <optional>
#include <string>

#include "domainsearch/category_predictor.hpp"
#include "domainsearch/export.hpp"
#include "domainsearch/feature_extractor.hpp"
#include "domainsearch/fine_tuning.hpp"
#include "domainsearch/image.hpp"
#include "domainsearch/localizer.hpp"
#include "domainsearch/model.hpp"

namespace domainsearch {

/// The "not in the catalogue" rules of a query, as one value (PipelineConfig::match_threshold,
/// match_distance and min_confidence; 0 turns a rule off).
struct NoMatchRules {
  float match_threshold = 0.0f;
  float match_distance = 0.0f;
  float min_confidence = 0.0f;
};

/// How a query's categories are chosen.
enum class CategoryMode {
  Off,            ///< search the whole catalogue
  Given,          ///< the caller names the category (QueryOptions::category)
  PredictedHard,  ///< the category head's top-1
  PredictedSoft,  ///< top categories until their probabilities add up to soft_threshold (at most max_categories)
};

/// How the top results are reordered.
enum class RerankMode {
  Off,    ///< by embedding distance
  Iou,    ///< the top rerank_depth by mask IoU, descending (the paper)
  Fused,  ///< by (1 - w) * sqrt(distance) / max sqrt(distance) + w * (1 - IoU), the max over the reranked results
};

/// The configuration file's name of a mode: "off", "given", "predicted_hard", "predicted_soft"; "off",
/// "iou", "fused". The command, the Python bindings and the JSON loader all use these.
DS_API const char* to_string(CategoryMode mode) noexcept;
DS_API const char* to_string(RerankMode mode) noexcept;
/// Inverses of to_string(). Throw InvalidArgument naming the value and the accepted names.
DS_API CategoryMode category_mode_from_string(const std::string& text);
DS_API RerankMode rerank_mode_from_string(const std::string& text);

/// The calibrated confidence of an answer (QueryResponse::confidence), the probability that its first
/// item is right: sigmoid(bias + probability * logit(p) + distance * d + margin * m), where p is the
/// first item's match probability (fine-tuned catalogues), d the nearest result's squared distance and
/// m the item margin (the nearest photo of another item's distance minus d, at most kMaxItemMargin),
/// all taken before reranking. Fitted by `domainsearch eval --holdout-items` (EvaluationReport::
/// fitted_confidence) on queries of known and of held-out items. All zero: no confidence model.
struct ConfidenceModel {
  float bias = 0.0f, probability = 0.0f, distance = 0.0f, margin = 0.0f;
  bool empty() const noexcept { return bias == 0 && probability == 0 && distance == 0 && margin == 0; }
};

/// The item margin's cap: the squared distance between opposite L2-normalised embeddings (an answer
/// with no second item has this margin).
inline constexpr float kMaxItemMargin = 4.0f;

struct DS_API PipelineConfig {
  std::string backbone_manifest;   ///< path of the backbone's manifest (role "features")
  std::string segmenter_manifest;  ///< path of the segmenter's manifest (role "mask"); empty: no localisation
  /// Path of the object finder's manifest (output "objects": tools/train_object_finder.py), which finds
  /// the products of a photo for Pipeline::query_objects; empty: they are found in the segmenter's map.
  /// Loaded by the first object query.
  std::string object_finder_manifest;
  RuntimeOptions runtime;          ///< device, threads (0 = every core), warm-up
  bool localize = false;           ///< run the Localizer (needs segmenter_manifest)
  LocalizerOptions localizer;
  FeatureExtractorOptions features;
  DecodeLimits decode;             ///< configuration file keys max_pixels, min_side, max_decode_mb, max_jpeg_scans
  CategoryMode category_mode = CategoryMode::PredictedSoft;
  float soft_threshold = 0.9f;
  int max_categories = 3;
  std::size_t k = 10;
  RerankMode rerank = RerankMode::Off;
  float iou_weight = 0.3f;         ///< w of RerankMode::Fused
  std::size_t rerank_depth = 20;   ///< how many top results are reranked
  /// Results are items (k distinct labels, each shown by its nearest photo, with its other photos the
  /// search reached in QueryResult::photos), so one item with many photos cannot fill the list; false:
  /// results are photos. An item is scored by its nearest photo: measured against the mean of its 2, 3
  /// or 5 nearest photos on the grocery photos (README "Answers: items, a confidence, and no match").
  bool one_result_per_label = true;
  int batch_size = 1;              ///< images per forward pass when indexing (1 is fastest on CPU: measured
                                   ///< 47 img/s at 1 vs 30 img/s at 8 with MobileNetV2 on 2 cores; raise it on GPU)
  CategoryTrainingOptions training;
  int training_views = 0;          ///< augmented views (rotation, flip, zoom) per catalogue image added to the
                                   ///< category head's training set (each costs one more embedding pass)
  /// Catalogue-adapted embedding (beyond the paper): train_categories() also trains an item classifier on
  /// the catalogue's labels (same head architecture, hidden2 = the adapted dimension) and the catalogue is
  /// then searched in its last hidden layer (L2-normalised); the category head keeps using the backbone's
  /// embedding. Saved with the catalogue; a catalogue that has one always searches with it.
  bool adapt_embedding = false;
  CategoryTrainingOptions adaptation_training = [] {
    CategoryTrainingOptions o;
    o.hidden2 = 256;
    return o;
  }();
  /// A query of a fine-tuned catalogue answers no_match when its best result's match_probability is
  /// below this (0: never). Chosen by measurement on held-out items (README "Not in the catalogue").
  float match_threshold = 0.0f;
  /// A query answers no_match when its nearest result's distance (squared Euclidean, in the searched
  /// space: 0..4 between L2-normalised embeddings without adaptation) is above this (0: never); any
  /// catalogue. On the fine-tuned grocery catalogue the stronger of the two open-set signals (README
  /// "Not in the catalogue"); measure it on your catalogue (`domainsearch eval --holdout-items`).
  float match_distance = 0.0f;
  ConfidenceModel confidence;  ///< see ConfidenceModel; empty: QueryResponse::confidence is -1
  /// An item answer is no_match when its confidence is below this (0: never; needs a confidence model;
  /// never fires where the confidence is -1: see QueryResponse::confidence).
  float min_confidence = 0.0f;
  /// The rules for the products of an object query (Pipeline::query_objects), in place of the three
  /// above; unset: the three above. A product cut out of a shelf photo is not a shop photo, so its
  /// distances and confidences fall elsewhere. A configuration file sets them in its "objects" section
  /// ({"match_threshold", "match_distance", "min_confidence"}; a rule left out there takes the photo
  /// rule's value when the file is read).
  /// On synthetic grocery shelves the confidence rule alone (0.4) beat match_distance 0.51 for products
  /// (README "Several products in one photo").
  std::optional<NoMatchRules> object_rules;
  /// The three photo rules above as one value, and the rules of an object query's products.
  NoMatchRules photo_rules() const { return {match_threshold, match_distance, min_confidence}; }
  NoMatchRules product_rules() const { return object_rules.value_or(photo_rules()); }
  /// Fine-tuning the backbone on the catalogue (fine_tuning.hpp). When enabled, train_categories()
  /// fine-tunes: the item classifier then predicts categories and the head/adaptation are not used.
  FineTuningOptions fine_tuning;

  /// Reads a JSON configuration file; unknown keys are an error (typos must not pass silently).
  static PipelineConfig load(const std::string& path);
};

}  // namespace domainsearch
