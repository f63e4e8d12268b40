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
// Errors: domainsearch::Error; a failed call leaves the catalogue as it was, except index_*: images
// indexed before a cancellation (or before a failure of a later image) stay, and the report says how many.

#include <memory>
#include <string>
#include <vector>

#include "domainsearch/catalogue.hpp"
#include "domainsearch/category_predictor.hpp"
#include "domainsearch/export.hpp"
#include "domainsearch/fine_tuning.hpp"
#include "domainsearch/image.hpp"
#include "domainsearch/index.hpp"
#include "domainsearch/object_query.hpp"
#include "domainsearch/pipeline_config.hpp"
#include "domainsearch/query.hpp"

namespace domainsearch {
namespace detail {
class Catalogue;
class ObjectSearch;
}

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
  /// Indexes entries not yet in the catalogue (by key); an unreadable image, or a row whose path, label
  /// or category is not UTF-8, is reported (IndexingReport::failures, naming it) and skipped: one bad row
  /// never costs the others. add/upsert refuse such names with InvalidArgument.
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
  /// is then re-projected). With config().fine_tuning.enabled it calls fine_tune() instead. `progress`
  /// reports the augmented views and each epoch of the head ("training the category head"); returning
  /// false cancels (Status::Cancelled). Queries keep running meanwhile; the new models replace the old
  /// at the end, all together: a failed or cancelled training leaves the catalogue as it was.
  TrainingReport train_categories(const TrainingProgressFn& progress = {});
  /// Trains on the given analyses instead (e.g. shop photos of the items of an iconic-image catalogue).
  /// categories[i] names analyses[i]'s category and must be one of the catalogue's (NotFound otherwise);
  /// labels[i] its item label (needed with config().adapt_embedding, ignored otherwise); embeddings must
  /// have the catalogue's dimension. `progress` as above.
  TrainingReport train_categories(const std::vector<ImageAnalysis>& analyses, const std::vector<std::string>& categories,
                                  const std::vector<std::string>& labels = {}, const TrainingProgressFn& progress = {});
  /// Whether searches run in a catalogue-adapted embedding (see PipelineConfig::adapt_embedding).
  bool has_embedding_adaptation() const;
  /// Fine-tunes the backbone (config().fine_tuning, fine_tuning.hpp) on `photos` (path, label = item,
  /// category), or on the catalogue's own items when `photos` is empty, then re-embeds every catalogue
  /// item from its source file with the fine-tuned network and installs network, classifier and
  /// embeddings at once. Items added later are embedded by the fine-tuned network; a catalogue saved
  /// afterwards stores its weights. Throws InvalidArgument (backbone not fine-tunable, an item added
  /// from pixels and so not re-embeddable, fewer than 2 item labels), Cancelled, or what a model throws.
  /// A catalogue item whose file cannot be read any more is removed and listed in the report's
  /// `dropped`; when more than a tenth of the catalogue is so lost (a folder not mounted?) it throws Io
  /// instead. Any failure leaves the catalogue as it was.
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
  /// Decodes (within config().decode) and analyses catalogue entries, batch_size at a time, the way
  /// indexing does: an unreadable or failing image costs only its own analysis (its error says why).
  /// Nothing is stored; the analyses keep no Localization (full-size images). progress(done, total) may
  /// return false: Cancelled.
  std::vector<EntryAnalysis> analyze_entries(const std::vector<CatalogueEntry>& entries, const ProgressFn& progress = {}) const;
  /// Stores an analysis made by analyze() of a pipeline with the same models and embedding settings.
  /// Throws AlreadyExists for a present key, InvalidArgument for a wrong embedding dimension.
  AddOutcome add_analyzed(std::uint64_t key, const ImageAnalysis& analysis, const std::string& category, const std::string& label = {},
                          const std::string& source = {});
  /// Searches for an analysis made by analyze() (categorise, search, rerank).
  QueryResponse query_analyzed(const ImageAnalysis& analysis, const QueryOptions& options = {}) const;

  // ---- images: decoded within config().decode, the one place the limits apply (the command, the C ABI
  // and Python decode through these). Throw Io, ImageDecode, ImageTooLarge, InvalidArgument.
  Image decode_file(const std::string& path) const;
  Image decode_bytes(const std::uint8_t* data, std::size_t size, const std::string& what = "bytes") const;
  Image from_pixels(const ImageView& pixels) const;

  // ---- online
  QueryResponse query(const Image& image, const QueryOptions& options = {}) const;
  QueryResponse query_file(const std::string& path, const QueryOptions& options = {}) const;
  QueryResponse query_bytes(const std::uint8_t* data, std::size_t size, const QueryOptions& options = {}) const;
  /// "More like this item": the item's stored embedding and mask; the item itself is excluded.
  QueryResponse query_key(std::uint64_t key, const QueryOptions& options = {}) const;
  std::vector<QueryResponse> query_batch(const std::vector<Image>& images, const QueryOptions& options = {}) const;
  /// Every product in the photo (a shelf, a tray, a basket), each with its box and its own item answer,
  /// and the photo's items with their counts (object_query.hpp says how products are found). Needs an
  /// object finder or a segmenter in the configuration (loaded by the first such query; config().localize
  /// may be off). Throws InvalidArgument for options out of range or neither model, NotFound for an empty
  /// catalogue, and what decoding and the models throw.
  ObjectsResponse query_objects(const Image& image, const ObjectQueryOptions& options = {}) const;
  ObjectsResponse query_objects_file(const std::string& path, const ObjectQueryOptions& options = {}) const;

  // ---- persistence
  /// Writes the catalogue atomically (temporary file, fsync, rename). Not const: it records the version
  /// of the file written, which the next save over it expects (Conflict when another writer replaced it).
  void save(const std::string& path);

  /// Reads a catalogue file's summary without loading models. Throws Io, Corrupt, FormatVersion.
  static CatalogueInfo inspect(const std::string& catalogue_path);

  /// The 64-bit key derived from a path when an entry names none: FNV-1a's multiply-xor over the path's bytes
  /// from the offset basis 1469598103934665603 (FNV's published basis is 14695981039346656037; the keys of
  /// saved catalogues depend on this one, so it stays). Stable across builds and platforms.
  static std::uint64_t key_for_path(const std::string& path) noexcept;


 private:
  explicit Pipeline(std::unique_ptr<detail::Catalogue> catalogue);
  std::unique_ptr<detail::Catalogue> catalogue_;  // opaque: src/catalogue/catalogue.hpp
  std::unique_ptr<detail::ObjectSearch> objects_; // opaque: src/objects/object_search.hpp
};

}  // namespace domainsearch
