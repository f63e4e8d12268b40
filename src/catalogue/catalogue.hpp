#pragma once
// Internal: the catalogue behind a Pipeline, which is its thin facade. It composes
// - the networks, shared read-only with every catalogue of the process that uses them
//   (shared_models.hpp): the backbone as loaded from its file, the one that embeds (fine-tuned or the
//   same) and the segmenter, run through the ImageAnalyzer (the one way from images and files to
//   analyses);
// - the SearchSpace: the Index and, with an embedding adaptation, its projection (which keeps the
//   invariant that the two mirror each other);
// - the CategoryModel (head or fine-tuned item classifier), chosen once, and the items' source files;
// - persistence through catalogue_file.hpp (sections as data; no model in the file layer);
// - the locks, and the file it was opened from or last saved to.
// Invariant, true whenever `mutex_` is free: the category model's categories are the Index's by name
// (fine-tuned) or by id (head); the Index holds embeddings made by `extractor_`.
//
// Locks: `mutex_` over all of it (shared: queries; unique: installing a change); `writer_`, held by every
// writer for its whole change, so writers never interleave and a long training blocks queries only while
// it installs its result. Methods named after Pipeline's take the locks they need; helpers say what the
// caller holds.
//
// Files: catalogue.cpp (construction, storing, installing models), catalogue_indexing.cpp (indexing and
// analysis), catalogue_search.cpp (categorise, search, rerank, match score), catalogue_training.cpp
// (category head, adaptation, fine-tuning), catalogue_persistence.cpp (save, open).
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "catalogue/catalogue_file.hpp"
#include "catalogue/category_model.hpp"
#include "catalogue/image_analyzer.hpp"
#include "catalogue/search_space.hpp"
#include "domainsearch/catalogue.hpp"
#include "domainsearch/fine_tuning.hpp"
#include "domainsearch/pipeline_config.hpp"
#include "domainsearch/query.hpp"

namespace domainsearch::detail {

class Catalogue {
 public:
  explicit Catalogue(PipelineConfig config);
  static std::unique_ptr<Catalogue> open(const std::string& path, PipelineConfig config);
  void save(const std::string& path);

  const PipelineConfig& config() const noexcept { return config_; }
  const Index& index() const noexcept { return space_.index(); }

  // ---- writing (each holds `writer_`)
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
  /// The analyses of images, config().batch_size at a time, all by one network.
  std::vector<ImageAnalysis> analyze_in_batches(const std::vector<Image>& images) const;
  std::vector<EntryAnalysis> analyze_entries(const std::vector<CatalogueEntry>& entries, const ProgressFn& progress) const;
  QueryResponse query_analyzed(const ImageAnalysis& analysis, const QueryOptions& options) const;
  QueryResponse query_key(std::uint64_t key, const QueryOptions& options) const;
  std::vector<QueryResponse> query_batch(const std::vector<Image>& images, const QueryOptions& options) const;

 private:
  // ---- catalogue.cpp
  std::shared_ptr<const FeatureExtractor> current_extractor() const;  // a snapshot, under a shared lock
  // Analyses with the current network, then takes `lock` (shared); when fine-tuning replaced the network
  // meanwhile, analyses again: what comes back was made by the network of the index the lock holds.
  std::vector<ImageAnalysis> analyze_locked(const std::vector<Image>& images, bool localize, std::shared_lock<std::shared_mutex>& lock,
                                            StageTimings* timings) const;
  void check_dimension(const ImageAnalysis& a, const char* what) const;
  // Stores one analysis; caller holds the unique lock.
  AddOutcome store(std::uint64_t key, const ImageAnalysis& e, const std::string& category, const std::string& label,
                   const std::string& source, bool replace);
  std::vector<bool> untrained_mask() const;  // by category id; all false without a category model
  // The backbone with fine-tuned weights (`bytes`: model.serialize()); its fingerprint covers the backbone
  // file and the weights.
  std::shared_ptr<const FeatureExtractor> fine_tuned_extractor(const FineTunedModel& model, const std::vector<std::uint8_t>& bytes) const;
  // Caller holds the unique lock, or owns *this: `embedder` (fine_tuned_extractor) embeds from now on and
  // the model's classifier names the categories; `index` holds the catalogue as `embedder` embeds it.
  void install_fine_tuned(std::shared_ptr<const FeatureExtractor> embedder, const FineTunedModel& model, std::vector<std::uint8_t> bytes,
                          Index index);
  // Everything the file stores beside the Index and the sources; caller holds a lock.
  CatalogueSections sections() const;

  // ---- catalogue_search.cpp (caller holds a shared lock)
  std::vector<std::int32_t> categories_to_search(const float* embedding, const QueryOptions& options, std::optional<std::int32_t> own_category,
                                                 QueryResponse& response) const;
  void search(const float* embedding, const std::optional<ContourMask>& contour, const QueryOptions& options,
              std::optional<std::uint64_t> exclude, std::optional<std::int32_t> own_category, QueryResponse& response) const;
  std::vector<QueryResult> results_of(const std::vector<SearchHit>& hits, const std::optional<ContourMask>& contour) const;

  // ---- catalogue_training.cpp (caller holds `writer_`)
  void refuse_head_on_fine_tuned() const;
  TrainingReport train_head_and_adaptation(const std::vector<float>& x, const std::vector<std::int32_t>& y, const std::vector<std::string>& labels,
                                           const TrainingProgressFn& progress);
  std::vector<CatalogueEntry> catalogue_photos() const;
  Index reembedded(const FeatureExtractor& embedder, const std::vector<CatalogueEntry>& items, const TrainingProgressFn& progress,
                   FineTuningReport& report) const;

  PipelineConfig config_;
  std::shared_ptr<const FeatureExtractor> backbone_;   // as loaded from the backbone file
  // The network that embeds (backbone_, or it with fine-tuned weights). A query takes a snapshot (under
  // `mutex_`), so fine-tuning can replace it while queries run.
  std::shared_ptr<const FeatureExtractor> extractor_;
  ImageAnalyzer analyzer_;
  SearchSpace space_;
  std::shared_ptr<const CategoryModel> categoriser_;  // none before training
  std::unordered_map<std::uint64_t, std::string> sources_;
  mutable std::shared_mutex mutex_;
  std::mutex writer_;
  // The file this catalogue was opened from or last saved to, and that file's version then: a save
  // over it expects that version (Conflict when another writer changed the file meanwhile).
  std::optional<FileOrigin> file_origin_;
};

}  // namespace domainsearch::detail
