#pragma once
// Pipeline: the facade a catalogue team uses (paper 4.4). Offline, it indexes catalogue images
// (decode -> localise -> embed -> store with category, label and ContourMask); online, it answers
// queries (decode -> localise -> embed -> categorise -> exact k-NN inside the categories -> rerank by
// mask IoU). A catalogue (index, masks, category head, model fingerprints, the settings embeddings
// were made with) saves and loads as one file.
//
// Thread-safety: query*() may run from many threads at once on one Pipeline; add/upsert/remove/
// index_*/train_categories/fine_tune are exclusive with each other (one writer at a time, for the
// whole change) and never block queries except while installing their result.
// Errors: domainsearch::Error; a failed call leaves the catalogue as it was.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "domainsearch/category_predictor.hpp"
#include "domainsearch/export.hpp"
#include "domainsearch/feature_extractor.hpp"
#include "domainsearch/fine_tuning.hpp"
#include "domainsearch/image.hpp"
#include "domainsearch/index.hpp"
#include "domainsearch/localizer.hpp"
#include "domainsearch/model.hpp"

namespace domainsearch {

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
  Fused,  ///< by (1 - w) * distance / max distance + w * (1 - IoU)
};

struct DS_API PipelineConfig {
  std::string backbone_manifest;   ///< path of the backbone's manifest (role "features")
  std::string segmenter_manifest;  ///< path of the segmenter's manifest (role "mask"); empty: no localisation
  RuntimeOptions runtime;          ///< device, threads (0 = all cores), warm-up
  bool localize = false;           ///< run the Localizer (needs segmenter_manifest)
  LocalizerOptions localizer;
  FeatureExtractorOptions features;
  DecodeLimits decode;
  CategoryMode category_mode = CategoryMode::PredictedSoft;
  float soft_threshold = 0.9f;
  int max_categories = 3;
  std::size_t k = 10;
  RerankMode rerank = RerankMode::Off;
  float iou_weight = 0.3f;         ///< w of RerankMode::Fused
  std::size_t rerank_depth = 20;   ///< how many top results are reranked
  bool one_result_per_label = false;  ///< results are items, not photos: only the best-ranked photo of each
                                      ///< label (k distinct labels; an item with many photos cannot fill the list)
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
  /// Fine-tuning the backbone on the catalogue (fine_tuning.hpp). When enabled, train_categories()
  /// fine-tunes: the item classifier then predicts categories and the head/adaptation are not used.
  FineTuningOptions fine_tuning;

  /// Reads a JSON configuration file; unknown keys are an error (typos must not pass silently).
  static PipelineConfig load(const std::string& path);
};

struct QueryOptions {
  std::optional<std::size_t> k;    ///< overrides PipelineConfig::k
  std::string category;            ///< for CategoryMode::Given (or to force one category in any mode)
  KeyFilter filter;                ///< keys that may be returned
  std::optional<CategoryMode> category_mode;  ///< overrides PipelineConfig::category_mode for this query
  std::optional<RerankMode> rerank;           ///< overrides PipelineConfig::rerank for this query
  std::optional<float> soft_threshold;        ///< overrides PipelineConfig::soft_threshold for this query
  std::optional<bool> one_result_per_label;   ///< overrides PipelineConfig::one_result_per_label for this query
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

struct QueryResult {
  std::uint64_t key = 0;
  std::string label;
  std::string category;
  std::string source;     ///< the indexed image's path, when it was indexed from a file
  float distance = 0.0f;  ///< squared Euclidean distance between embeddings (the adapted ones, when the catalogue has an adaptation)
  float iou = 0.0f;       ///< ContourMask IoU with the query (1 when masks are absent)
  float score = 0.0f;     ///< the final ranking score, lower is better
  /// Calibrated probability that the query shows this result's item: the fine-tuned item classifier's
  /// (temperature-scaled) probability of the result's label; 0 for a label it was not trained on; -1
  /// when the catalogue is not fine-tuned.
  float match_probability = -1.0f;
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
  /// "Not in the catalogue": the best result's match_probability is below PipelineConfig::match_threshold
  /// (fine-tuned catalogues only; the results are still listed, for the caller to show or not).
  bool no_match = false;
  StageTimings timings;
};

/// One catalogue entry to index from a file.
struct CatalogueEntry {
  std::string path;      ///< image file (UTF-8)
  std::string label;     ///< item label (SKU, class name...)
  std::string category;  ///< category name
  std::optional<std::uint64_t> key;  ///< default: a 64-bit hash of `path`
};

struct IndexingFailure {
  std::string path;
  std::string reason;
};

struct IndexingReport {
  std::size_t added = 0;
  std::size_t skipped_existing = 0;
  std::vector<IndexingFailure> failures;
  bool cancelled = false;
  double seconds = 0;
};

/// What a catalogue file holds (read without loading any model).
struct CatalogueInfo {
  std::size_t items = 0;
  int dimension = 0;
  std::vector<std::pair<std::string, std::size_t>> categories;  ///< name, item count
  bool has_category_head = false;
  bool has_embedding_adaptation = false;
  bool has_fine_tuned_backbone = false;
  int fine_tuned_first_stage = -1;                 ///< first trained stage (-1 without fine-tuning)
  std::vector<std::string> fine_tuned_parameters;  ///< names of the backbone parameters it replaces
  std::vector<std::string> fine_tuned_items;       ///< the item labels its classifier separates
  float fine_tuned_temperature = 0.0f;
  std::string backbone_sha256;
  std::string segmenter_sha256;  ///< empty when built without localisation
  std::string embedding_settings_json;
  std::string model_fingerprint;  ///< Pipeline::model_fingerprint() of the catalogue, computed from the file
  std::uint64_t file_bytes = 0;
};

/// Reads a catalogue manifest: a CSV whose header names a `path` column and the given label and
/// category columns (paths relative to the CSV's folder). Throws Io, or InvalidArgument naming a
/// missing column or a ragged row.
DS_API std::vector<CatalogueEntry> read_catalogue_csv(const std::string& csv_path, const std::string& label_column = "label",
                                                      const std::string& category_column = "category");

/// A fine-tuning report in TrainingReport's terms: samples = cached views, epochs = best_epoch = the
/// epochs run, best_validation_accuracy = item accuracy on the held-out calibration photos,
/// best_validation_loss = the last epoch's training loss, seconds = all stages.
DS_API TrainingReport training_summary(const FineTuningReport& report);

/// What an add tells besides success.
struct AddOutcome {
  /// The item's category is unknown to the trained category model (added after training): queries in
  /// the predicted category modes search that category too, until the model is trained again.
  bool untrained_category = false;
};

/// Progress of long work: return false to cancel (what is done so far stays).
using ProgressFn = std::function<bool(std::size_t done, std::size_t total)>;

class DS_API Pipeline {
 public:
  /// Loads the models; the catalogue starts empty.
  explicit Pipeline(const PipelineConfig& config);
  /// Opens a saved catalogue with the models of `config` (whose fingerprints must match the
  /// catalogue's: ModelMismatch otherwise). Embedding settings (localisation, grayscale, L2, mask
  /// geometry) come from the catalogue; query settings from `config`.
  static Pipeline open(const std::string& catalogue_path, PipelineConfig config);
  ~Pipeline();
  Pipeline(Pipeline&&) noexcept;
  Pipeline& operator=(Pipeline&&) noexcept;

  const PipelineConfig& config() const noexcept;
  const Index& index() const noexcept;
  bool has_category_head() const;

  // ---- offline
  /// Indexes entries not yet in the catalogue (by key); unreadable images are reported and skipped.
  IndexingReport index_entries(const std::vector<CatalogueEntry>& entries, const ProgressFn& progress = {});
  /// Reads a CSV with a header naming at least `path`, `label` and `category` columns (paths relative
  /// to the CSV's folder) and indexes it.
  IndexingReport index_csv(const std::string& csv_path, const ProgressFn& progress = {});
  /// Indexes a folder tree: each sub-folder is a category, each image in it an item labelled by its file stem.
  IndexingReport index_folder(const std::string& folder, const ProgressFn& progress = {});
  AddOutcome add(std::uint64_t key, const Image& image, const std::string& category, const std::string& label = {},
                 const std::string& source = {});
  AddOutcome upsert(std::uint64_t key, const Image& image, const std::string& category, const std::string& label = {},
                    const std::string& source = {});
  void remove(std::uint64_t key);
  /// Trains the category head on the catalogue's embeddings (config().training), plus
  /// config().training_views augmented views of each item indexed from a file; with
  /// config().adapt_embedding, first the catalogue-adapted embedding on the items' labels (the catalogue
  /// is then re-projected). With config().fine_tuning.enabled it calls fine_tune() instead (progress
  /// is only reported then). Queries keep running meanwhile; the new models replace the old at the
  /// end, all together: a failed or cancelled training leaves the catalogue as it was.
  TrainingReport train_categories(const TrainingProgressFn& progress = {});
  /// Trains on the given analyses instead (e.g. shop photos of the items of an iconic-image catalogue).
  /// categories[i] names analyses[i]'s category and must be one of the catalogue's (NotFound otherwise);
  /// labels[i] its item label (needed with config().adapt_embedding, ignored otherwise); embeddings must
  /// have the catalogue's dimension.
  TrainingReport train_categories(const std::vector<ImageAnalysis>& analyses, const std::vector<std::string>& categories,
                                  const std::vector<std::string>& labels = {});
  /// Whether searches run in a catalogue-adapted embedding (see PipelineConfig::adapt_embedding).
  bool has_embedding_adaptation() const;
  /// Fine-tunes the backbone (config().fine_tuning, fine_tuning.hpp) on `photos` (path, label = item,
  /// category), or on the catalogue's own items when `photos` is empty, then re-embeds every catalogue
  /// item from its source file with the fine-tuned network and installs network, classifier and
  /// embeddings at once. Items added later are embedded by the fine-tuned network; a catalogue saved
  /// afterwards stores its weights. Throws InvalidArgument (backbone not fine-tunable, an item added
  /// from pixels and so not re-embeddable, fewer than 2 item labels), Cancelled, Io/ImageDecode for a
  /// catalogue item whose file cannot be read any more; any failure leaves the catalogue as it was.
  /// Queries keep running on the old model meanwhile.
  FineTuningReport fine_tune(const std::vector<CatalogueEntry>& photos = {}, const TrainingProgressFn& progress = {});
  /// Whether the catalogue's embeddings come from a fine-tuned backbone.
  bool is_fine_tuned() const;
  /// Categories the trained category model cannot predict (added since it was trained); the predicted
  /// category modes always search them. Empty without a model.
  std::vector<std::string> untrained_categories() const;

  // ---- catalogues built in parts (shards.hpp)
  /// Registers categories, in this order, without items (names already present are skipped), so that
  /// catalogues built in parts number their categories alike.
  void add_categories(const std::vector<std::string>& names);
  /// Replaces this catalogue's category head and embedding adaptation by those of `trained` (e.g. a
  /// catalogue trained on every shard's embeddings), re-projecting the items when there is an adaptation.
  /// Throws ModelMismatch when `trained` embeds with another network (file or fine-tuned weights) or
  /// other embedding settings, InvalidArgument when its category table differs from this one's.
  void install_category_model(const Pipeline& trained);
  /// SHA-256 over everything that decides how this catalogue embeds and categorises: backbone and
  /// segmenter files, fine-tuned weights, category head, adaptation, embedding settings and category
  /// table (not the items). Equal fingerprints mean two catalogues' embeddings, categories and match
  /// probabilities are comparable, which sharded search requires. Also CatalogueInfo::model_fingerprint.
  std::string model_fingerprint() const;

  // ---- precomputed analyses
  /// Runs the models (localise, embed) on images, batch_size at a time; nothing is stored.
  std::vector<ImageAnalysis> analyze(const std::vector<Image>& images) const;
  /// Stores an analysis made by analyze() of a pipeline with the same models and embedding settings.
  /// Throws AlreadyExists for a present key, InvalidArgument for a wrong embedding dimension.
  AddOutcome add_analyzed(std::uint64_t key, const ImageAnalysis& analysis, const std::string& category, const std::string& label = {},
                          const std::string& source = {});
  /// Searches for an analysis made by analyze() (categorise, search, rerank).
  QueryResponse query_analyzed(const ImageAnalysis& analysis, const QueryOptions& options = {}) const;

  // ---- online
  QueryResponse query(const Image& image, const QueryOptions& options = {}) const;
  QueryResponse query_file(const std::string& path, const QueryOptions& options = {}) const;
  QueryResponse query_bytes(const std::uint8_t* data, std::size_t size, const QueryOptions& options = {}) const;
  /// "More like this item": the item's stored embedding and mask; the item itself is excluded.
  QueryResponse query_key(std::uint64_t key, const QueryOptions& options = {}) const;
  std::vector<QueryResponse> query_batch(const std::vector<Image>& images, const QueryOptions& options = {}) const;

  // ---- persistence
  /// Writes the catalogue atomically (temporary file, fsync, rename).
  void save(const std::string& path) const;

  /// Reads a catalogue file's summary without loading models. Throws Io, Corrupt, FormatVersion.
  static CatalogueInfo inspect(const std::string& catalogue_path);

  /// The 64-bit key derived from a path (FNV-1a) used when an entry names none.
  static std::uint64_t key_for_path(const std::string& path) noexcept;

  struct Impl;

 private:
  explicit Pipeline(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace domainsearch
