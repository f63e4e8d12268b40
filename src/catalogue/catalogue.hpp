#pragma once
// Internal: the catalogue behind a Pipeline, which is its thin facade. It owns
// - the embedding network (as loaded from the backbone file, and the one that embeds: fine-tuned or the
//   same) and the Localizer;
// - the Index, and the search space that mirrors it (the Index itself, or its projection by the
//   embedding adaptation);
// - the category model (head, or the fine-tuned item classifier) and the items' source files;
// - the locks, and the file it was opened from or last saved to.
// Invariant, true whenever `mutex` is free: `adapted` (when present) holds exactly the Index's keys,
// projected by `adaptation`, with the Index's category ids; the category model's categories are the
// Index's by name (fine-tuned) or by id (head).
//
// Locks: `mutex` over all of it (shared: queries; unique: installing a change); `writer`, held by every
// writer for its whole change, so writers never interleave and a long training blocks queries only while
// it installs its result. Methods named after Pipeline's take the locks they need; helpers say what the
// caller holds.
//
// The paper's stages each have a file: catalogue_indexing.cpp (decode, localise + embed, isolate bad
// images, store), catalogue_search.cpp (categorise, search, rerank, match score), catalogue_training.cpp
// (category head, adaptation, fine-tuning), catalogue_file.cpp (save, open, inspect), catalogue.cpp
// (construction, analysis, storing, installing models).
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "domainsearch/pipeline.hpp"
#include "io/section_file.hpp"
#include "training/fine_tuned_model.hpp"

namespace domainsearch::detail {

class Catalogue {
 public:
  explicit Catalogue(PipelineConfig config);
  static std::unique_ptr<Catalogue> open(const std::string& path, PipelineConfig config);
  static CatalogueInfo inspect(const std::string& path);
  void save(const std::string& path);

  const PipelineConfig& config() const noexcept { return config_; }
  const Index& index() const noexcept { return *index_; }

  // ---- writing (each holds `writer`)
  IndexingReport index_entries(const std::vector<CatalogueEntry>& entries, const ProgressFn& progress);
  AddOutcome add(std::uint64_t key, const Image& image, const std::string& category, const std::string& label, const std::string& source,
                 bool replace);
  AddOutcome add_analyzed(std::uint64_t key, const ImageAnalysis& analysis, const std::string& category, const std::string& label,
                          const std::string& source);
  void remove(std::uint64_t key);
  void add_categories(const std::vector<std::string>& names);
  TrainingReport train_categories(const TrainingProgressFn& progress);
  TrainingReport train_categories(const std::vector<ImageAnalysis>& analyses, const std::vector<std::string>& categories,
                                  const std::vector<std::string>& labels, const TrainingProgressFn& progress);
  FineTuningReport fine_tune(const std::vector<CatalogueEntry>& photos, const TrainingProgressFn& progress);
  void install_category_model(const Catalogue& trained);

  // ---- reading
  bool has_category_head() const;
  bool has_embedding_adaptation() const;
  bool is_fine_tuned() const;
  std::vector<std::string> untrained_categories() const;
  std::string model_fingerprint() const;
  /// Answers for images that already show one product each (no localisation; contours[i], when given,
  /// is image i's mask for reranking), embedded and searched with one network, as query_batch.
  std::vector<QueryResponse> query_products(const std::vector<Image>& images, const std::vector<std::optional<ContourMask>>& contours,
                                            const QueryOptions& options) const;
  /// The analyses of images, config().batch_size at a time.
  std::vector<ImageAnalysis> analyze_in_batches(const std::vector<Image>& images) const;
  std::vector<EntryAnalysis> analyze_entries(const std::vector<CatalogueEntry>& entries, const ProgressFn& progress) const;
  QueryResponse query_analyzed(const ImageAnalysis& analysis, const QueryOptions& options) const;
  QueryResponse query_key(std::uint64_t key, const QueryOptions& options) const;
  std::vector<QueryResponse> query_batch(const std::vector<Image>& images, const QueryOptions& options) const;

  /// SHA-256 of the parts that decide how a catalogue embeds and categorises (empty strings: absent);
  /// Pipeline::model_fingerprint() of a catalogue and CatalogueInfo::model_fingerprint of its file.
  static std::string fingerprint_of(const std::string& backbone, const std::string& segmenter, const std::string& fine_tuned,
                                    const std::string& head, const std::string& adaptation, const std::string& embedding_settings_json,
                                    const std::vector<std::string>& categories);

 private:
  struct DecodedBatch {
    std::vector<Image> images;
    std::vector<std::size_t> entry_index;                      // which entry each image came from
    std::vector<std::pair<std::size_t, std::string>> failures;  // entry, why it could not be decoded
  };

  // ---- catalogue.cpp
  std::shared_ptr<const FeatureExtractor> current_extractor() const;  // a snapshot, under a shared lock
  // Localises (when configured) and embeds with the current network; caller holds `writer` (so the network
  // cannot change) or passes `embedder`, a snapshot. Fills the localise/embed timings when given.
  std::vector<ImageAnalysis> analyze(const std::vector<Image>& images, StageTimings* timings = nullptr) const;
  std::vector<ImageAnalysis> analyze(const FeatureExtractor& embedder, const std::vector<Image>& images, StageTimings* timings = nullptr,
                                     bool localize = true) const;
  // analyze() with the current network, then takes `lock` (shared); when fine-tuning replaced the network
  // meanwhile, analyses again: what comes back was made by the network of the index the lock holds.
  std::vector<ImageAnalysis> analyze_locked(const std::vector<Image>& images, bool localize, std::shared_lock<std::shared_mutex>& lock,
                                            StageTimings* timings) const;
  // The vector searches compare for a backbone embedding: its adapted form (L2-normalised).
  std::vector<float> searchable(const CategoryPredictor& a, const float* embedding) const;
  const Index& searched_index() const { return adapted_ ? *adapted_ : *index_; }
  // The catalogue projected by an adaptation, category ids as in the Index.
  std::unique_ptr<Index> project(const CategoryPredictor& a) const;
  void check_dimension(const ImageAnalysis& a, const char* what) const;
  // Stores one analysis (and its adapted form); caller holds the unique lock.
  AddOutcome store(std::uint64_t key, const ImageAnalysis& e, const std::string& category, const std::string& label,
                   const std::string& source, bool replace);
  bool has_categoriser() const { return head_ || fine_tuned_; }
  // Whether the trained category model cannot predict category c (added after training); false without one.
  bool untrained(std::int32_t c) const;
  // untrained(c) of every category, indexed by id, in O(categories + the fine-tuned classifier's classes).
  std::vector<bool> untrained_mask() const;
  // The backbone with fine-tuned weights; its fingerprint covers the backbone file and the weights.
  std::shared_ptr<const FeatureExtractor> fine_tuned_extractor(const FineTunedModel& model, const std::vector<std::uint8_t>& bytes) const;
  // Caller holds the unique lock, or owns *this.
  void install_fine_tuned(std::shared_ptr<const FeatureExtractor> embedder, FineTunedModel model, std::vector<std::uint8_t> bytes);

  // ---- catalogue_search.cpp (caller holds a shared lock)
  // The `top` most probable categories: the fine-tuned item classifier's probabilities summed per
  // category when there is one, else the category head's.
  std::vector<CategoryScore> predict_categories(const float* embedding, std::size_t top) const;
  std::vector<std::int32_t> categories_to_search(const float* embedding, const QueryOptions& options, std::optional<std::int32_t> own_category,
                                                 QueryResponse& response) const;
  void search(const float* embedding, const std::optional<ContourMask>& contour, const QueryOptions& options,
              std::optional<std::uint64_t> exclude, std::optional<std::int32_t> own_category, QueryResponse& response) const;
  void score_matches(const float* embedding, QueryResponse& response) const;
  std::vector<QueryResult> results_of(const std::vector<SearchHit>& hits, const std::optional<ContourMask>& contour) const;

  // ---- catalogue_indexing.cpp: the one way from files to analyses (indexing and analyze_entries)
  DecodedBatch decode(const std::vector<CatalogueEntry>& entries, const std::vector<std::size_t>& todo, std::size_t first, std::size_t last) const;
  std::vector<EntryAnalysis> analyze_isolated(const FeatureExtractor& embedder, const std::vector<Image>& images) const;
  // Decodes and analyses entries[todo[i]], batch_size at a time, the next batch decoding on a helper thread
  // while the models work on this one, one bad image costing only its own analysis; hands each entry's
  // outcome to `sink` (entry index, outcome). Returns false when progress(done, todo.size()) asked to stop.
  bool analyze_todo(const std::vector<CatalogueEntry>& entries, const std::vector<std::size_t>& todo, const ProgressFn& progress,
                    const std::function<void(std::size_t, EntryAnalysis&&)>& sink) const;

  // ---- catalogue_training.cpp (caller holds `writer`)
  std::pair<CategoryPredictor, std::unique_ptr<Index>> train_adaptation(const std::vector<float>& x, const std::vector<std::string>& labels) const;
  void refuse_head_on_fine_tuned() const;
  TrainingReport train_head_and_adaptation(const std::vector<float>& x, const std::vector<std::int32_t>& y, const std::vector<std::string>& labels,
                                           const TrainingProgressFn& progress);
  std::vector<CatalogueEntry> catalogue_photos() const;
  Index reembedded(const FeatureExtractor& embedder, const std::vector<CatalogueEntry>& items, const TrainingProgressFn& progress) const;

  PipelineConfig config_;
  ModelManifest backbone_;
  // A query takes a snapshot of `extractor_` (under `mutex_`), so fine-tuning can replace it while queries run.
  std::shared_ptr<const FeatureExtractor> file_extractor_, extractor_;
  std::unique_ptr<Localizer> localizer_;
  std::unique_ptr<Index> index_;
  std::optional<CategoryPredictor> head_;
  std::optional<CategoryPredictor> adaptation_;  // item classifier whose last hidden layer is the search space
  std::unique_ptr<Index> adapted_;               // the catalogue in that space (derived: rebuilt on load/training)
  std::optional<FineTunedModel> fine_tuned_;     // the fine-tuned stages and item classifier
  std::vector<std::uint8_t> fine_tuned_bytes_;   // its serialisation (the FTUN section)
  std::unordered_map<std::string, std::size_t> item_of_label_;  // the classifier's class of each item label
  std::unordered_map<std::uint64_t, std::string> sources_;
  mutable std::shared_mutex mutex_;
  std::mutex writer_;
  // The file this catalogue was opened from or last saved to, and that file's version then: a save
  // over it expects that version (Conflict when another writer changed the file meanwhile).
  std::optional<FileOrigin> file_origin_;
};

/// SHA-256 (hex) of bytes, or "" for none: how the fingerprint writes an absent part.
std::string sha256_or_empty(const std::vector<std::uint8_t>& bytes);

}  // namespace domainsearch::detail
