#include "catalogue/catalogue.hpp"

#include "catalogue/shared_models.hpp"
#include "config/config_json.hpp"
#include "domainsearch/error.hpp"
#include "index/item_key.hpp"
#include "io/utf8.hpp"
#include "runtime/model_runner.hpp"

namespace domainsearch::detail {
namespace {

// An item's category, label and source path go into the catalogue file's JSON, which holds only UTF-8:
// one that is not (a Latin-1 name) is refused (InvalidArgument, bad bytes shown as \xNN) before any
// model runs and before anything changes, not when the catalogue is saved.
void check_item_text(const std::string& category, const std::string& label, const std::string& source) {
  require_utf8(category, "category");
  require_utf8(label, "label");
  require_utf8(source, "source path");
}

// The configuration as a catalogue uses it: checked, threads resolved, one batch size.
PipelineConfig checked(PipelineConfig config) {
  validate(config);  // every setting in its documented range, whether from JSON or from code
  if (config.backbone_manifest.empty()) throw Error(Status::InvalidArgument, "Pipeline: config.backbone_manifest is required");
  if (config.localize && config.segmenter_manifest.empty())
    throw Error(Status::InvalidArgument, "Pipeline: localisation is on but config.segmenter_manifest is empty");
  config.runtime.threads = resolve_threads(config.runtime.threads);  // config() tells the count in use
  config.features.batch_size = config.batch_size;
  return config;
}

std::shared_ptr<const Localizer> segmenter_of(const PipelineConfig& c) {
  return c.localize ? shared_segmenter(ModelManifest::load(c.segmenter_manifest), c.runtime, c.localizer) : nullptr;
}

}  // namespace

Catalogue::Catalogue(PipelineConfig config)
    : config_(checked(std::move(config))),
      backbone_(shared_backbone(ModelManifest::load(config_.backbone_manifest), config_.runtime, config_.features)),
      extractor_(backbone_),
      analyzer_(segmenter_of(config_), config_.batch_size, config_.decode),
      space_(Index(backbone_->dimension())) {}

std::shared_ptr<const FeatureExtractor> Catalogue::current_extractor() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return extractor_;
}

std::vector<ImageAnalysis> Catalogue::analyze_locked(const std::vector<Image>& images, bool localize, std::shared_lock<std::shared_mutex>& lock,
                                                      StageTimings* timings) const {
  for (;;) {
    const std::shared_ptr<const FeatureExtractor> model = current_extractor();
    std::vector<ImageAnalysis> embedded = analyzer_.analyze(*model, images, timings, localize);
    lock.lock();
    if (extractor_ == model) return embedded;
    lock.unlock();
  }
}

void Catalogue::check_dimension(const ImageAnalysis& a, const char* what) const {
  if (a.embedding.size() != static_cast<std::size_t>(index().dimension()))
    throw Error(Status::InvalidArgument, std::string(what) + ": the embedding has " + std::to_string(a.embedding.size()) +
                                             " floats, the catalogue's have " + std::to_string(index().dimension()));
}

AddOutcome Catalogue::store(std::uint64_t key, const ImageAnalysis& e, const std::string& category, const std::string& label,
                            const std::string& source, bool replace) {
  const std::int32_t c = space_.add_category(category);
  space_.store(key, c, e.embedding.data(), label, e.contour ? &*e.contour : nullptr, replace);
  if (source.empty()) sources_.erase(key);
  else sources_[key] = source;
  return {categoriser_ && !categoriser_->knows(c, category)};
}

std::vector<bool> Catalogue::untrained_mask() const {
  const std::vector<std::string> names = index().category_names();
  return categoriser_ ? categoriser_->untrained(names) : std::vector<bool>(names.size(), false);
}

std::shared_ptr<const FeatureExtractor> Catalogue::fine_tuned_extractor(const FineTunedModel& model, const std::vector<std::uint8_t>& bytes) const {
  const std::string both = backbone_->fingerprint() + sha256_or_empty(bytes);
  return std::make_shared<const FeatureExtractor>(backbone_->with_parameters(model.parameters, sha256_bytes(both.data(), both.size())));
}

void Catalogue::install_fine_tuned(std::shared_ptr<const FeatureExtractor> embedder, const FineTunedModel& model, std::vector<std::uint8_t> bytes,
                                   Index index) {
  extractor_ = std::move(embedder);
  categoriser_ = std::make_shared<const FineTunedCategoryModel>(model, std::move(bytes));
  space_ = SearchSpace(std::move(index));  // a head and an adaptation trained on the old embeddings go
}

CatalogueSections Catalogue::sections() const {
  CatalogueSections s;
  s.embedding = embedding_settings(config_);
  s.backbone_sha256 = backbone_->fingerprint();
  s.backbone_input = backbone_input(backbone_->manifest());
  if (analyzer_.segmenter()) s.segmenter_sha256 = analyzer_.segmenter()->fingerprint();
  if (categoriser_) (categoriser_->is_fine_tuned() ? s.fine_tuned : s.head) = categoriser_->bytes();
  if (space_.adaptation()) s.adaptation = space_.adaptation()->serialize();
  return s;
}

AddOutcome Catalogue::add(std::uint64_t key, const Image& image, const std::string& category, const std::string& label, const std::string& source,
                          bool replace) {
  check_item_text(category, label, source);
  check_item_key(key);  // before any model runs
  const std::lock_guard<std::mutex> writing(writer_);
  const ImageAnalysis e = analyzer_.analyze(*current_extractor(), {image}).front();
  std::unique_lock<std::shared_mutex> lock(mutex_);
  if (!replace && index().contains(key)) throw Error(Status::AlreadyExists, "key " + std::to_string(key) + " is already in the catalogue (use upsert)");
  return store(key, e, category, label, source, replace);
}

AddOutcome Catalogue::add_analyzed(std::uint64_t key, const ImageAnalysis& analysis, const std::string& category, const std::string& label,
                                   const std::string& source) {
  check_item_text(category, label, source);
  check_item_key(key);
  const std::lock_guard<std::mutex> writing(writer_);
  std::unique_lock<std::shared_mutex> lock(mutex_);
  check_dimension(analysis, "add_analyzed");
  if (index().contains(key)) throw Error(Status::AlreadyExists, "key " + std::to_string(key) + " is already in the catalogue (use upsert)");
  return store(key, analysis, category, label, source, false);
}

void Catalogue::remove(std::uint64_t key) {
  const std::lock_guard<std::mutex> writing(writer_);
  std::unique_lock<std::shared_mutex> lock(mutex_);
  space_.remove(key);
  sources_.erase(key);
}

void Catalogue::add_categories(const std::vector<std::string>& names) {
  for (const std::string& name : names) require_utf8(name, "category");  // all or none
  const std::lock_guard<std::mutex> writing(writer_);
  std::unique_lock<std::shared_mutex> lock(mutex_);
  for (const std::string& name : names) space_.add_category(name);
}

void Catalogue::install_category_model(const Catalogue& trained) {
  if (&trained == this) return;
  const std::lock_guard<std::mutex> writing(writer_);
  std::shared_ptr<const CategoryModel> head;
  std::optional<CategoryPredictor> adaptation;
  {
    std::shared_lock<std::shared_mutex> theirs(trained.mutex_);
    const Catalogue& t = trained;  // locked: its members may be read
    std::shared_lock<std::shared_mutex> ours(mutex_);
    if (t.extractor_->fingerprint() != extractor_->fingerprint() || embedding_settings(t.config_) != embedding_settings(config_))
      throw Error(Status::ModelMismatch, "install_category_model: the trained catalogue embeds with another network or other embedding "
                                         "settings; its category model would not understand these embeddings");
    if (t.index().category_names() != index().category_names())
      throw Error(Status::InvalidArgument, "install_category_model: the trained catalogue numbers its categories differently (" +
                                               std::to_string(t.index().category_count()) + " vs " + std::to_string(index().category_count()) +
                                               "): build both from one catalogue with the same add_categories()");
    if (t.categoriser_ && !t.categoriser_->is_fine_tuned()) head = t.categoriser_;  // immutable: shared
    if (t.space_.adaptation()) adaptation.emplace(*t.space_.adaptation());
  }
  SearchSpace::Projection projection = space_.project(std::move(adaptation));  // only writers change the space: `writer_` is ours
  std::unique_lock<std::shared_mutex> lock(mutex_);
  if (!categoriser_ || !categoriser_->is_fine_tuned()) categoriser_ = std::move(head);
  space_.install(std::move(projection));
}

std::string Catalogue::model_fingerprint() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return sections().model_fingerprint(index().category_names());
}

bool Catalogue::has_category_head() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return categoriser_ != nullptr;
}

bool Catalogue::has_embedding_adaptation() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return space_.adaptation().has_value();
}

bool Catalogue::is_fine_tuned() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return categoriser_ && categoriser_->is_fine_tuned();
}

std::vector<std::string> Catalogue::untrained_categories() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const std::vector<bool> mask = untrained_mask();
  std::vector<std::string> out;
  for (std::size_t c = 0; c < mask.size(); ++c)
    if (mask[c]) out.push_back(index().category_name(static_cast<std::int32_t>(c)));
  return out;
}

std::vector<ImageAnalysis> Catalogue::analyze_in_batches(const std::vector<Image>& images) const {
  return analyzer_.analyze_in_batches(*current_extractor(), images);  // one network for every batch
}

}  // namespace domainsearch::detail
