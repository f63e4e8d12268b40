#include "catalogue/catalogue.hpp"

#include <algorithm>
#include <chrono>
#include <unordered_set>

#include "domainsearch/error.hpp"
#include "index/item_key.hpp"
#include "io/utf8.hpp"
#include "config/config_json.hpp"
#include "runtime/model_runner.hpp"

namespace domainsearch::detail {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// An item's category, label and source path go into the catalogue file's JSON, which holds only UTF-8:
// one that is not (a Latin-1 name) is refused (InvalidArgument, bad bytes shown as \xNN) before any
// model runs and before anything changes, not when the catalogue is saved.
void check_item_text(const std::string& category, const std::string& label, const std::string& source) {
  require_utf8(category, "category");
  require_utf8(label, "label");
  require_utf8(source, "source path");
}

}  // namespace

Catalogue::Catalogue(PipelineConfig config) : config_(std::move(config)) {
  validate(config_);  // every setting in its documented range, whether from JSON or from code
  if (config_.backbone_manifest.empty()) throw Error(Status::InvalidArgument, "Pipeline: config.backbone_manifest is required");
  if (config_.localize && config_.segmenter_manifest.empty())
    throw Error(Status::InvalidArgument, "Pipeline: localisation is on but config.segmenter_manifest is empty");
  config_.runtime.threads = resolve_threads(config_.runtime.threads);  // config() tells the count in use
  config_.features.batch_size = config_.batch_size;
  backbone_ = ModelManifest::load(config_.backbone_manifest);
  file_extractor_ = extractor_ = std::make_shared<FeatureExtractor>(backbone_, config_.runtime, config_.features);
  if (config_.localize)
    localizer_ = std::make_unique<Localizer>(ModelManifest::load(config_.segmenter_manifest), config_.runtime, config_.localizer);
  index_ = std::make_unique<Index>(extractor_->dimension());
}

std::shared_ptr<const FeatureExtractor> Catalogue::current_extractor() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return extractor_;
}

std::vector<ImageAnalysis> Catalogue::analyze(const std::vector<Image>& images, StageTimings* timings) const {
  return analyze(*current_extractor(), images, timings);
}

std::vector<ImageAnalysis> Catalogue::analyze(const FeatureExtractor& embedder, const std::vector<Image>& images, StageTimings* timings,
                                               bool localize) const {
  std::vector<ImageAnalysis> out(images.size());
  const auto t0 = Clock::now();
  std::vector<Image> inputs;
  const bool localizing = localize && localizer_;
  if (localizing) {
    std::vector<Localization> locs = localizer_->localize_batch(images, config_.batch_size);
    for (std::size_t i = 0; i < locs.size(); ++i) {
      inputs.push_back(locs[i].cutout);
      out[i].contour = locs[i].contour;
      out[i].localization = std::move(locs[i]);
    }
  }
  const auto t1 = Clock::now();
  const std::vector<float> rows = embedder.extract_batch(localizing ? inputs : images);
  const std::size_t d = static_cast<std::size_t>(embedder.dimension());
  for (std::size_t i = 0; i < images.size(); ++i) out[i].embedding.assign(rows.begin() + i * d, rows.begin() + (i + 1) * d);
  if (timings) {
    timings->localize_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    timings->embed_ms = ms_since(t1);
  }
  return out;
}

// The vector searches compare for a backbone embedding: itself, or its adapted form.
std::vector<float> Catalogue::searchable(const CategoryPredictor& a, const float* embedding) const {
  std::vector<float> v = a.penultimate(embedding);
  l2_normalize_rows(v.data(), 1, v.size());
  return v;
}

// The catalogue projected by an adaptation, category ids as in `index`.
std::unique_ptr<Index> Catalogue::project(const CategoryPredictor& a) const {
  auto out = std::make_unique<Index>(a.penultimate_dimension());
  for (const std::string& name : index_->category_names()) out->add_category(name);
  for (std::uint64_t key : index_->keys()) {
    const IndexItem item = index_->get(key);
    out->add(key, item.category, searchable(a, item.embedding.data()).data(), item.label, item.mask ? &*item.mask : nullptr);
  }
  return out;
}

void Catalogue::check_dimension(const ImageAnalysis& a, const char* what) const {
  if (a.embedding.size() != static_cast<std::size_t>(index_->dimension()))
    throw Error(Status::InvalidArgument, std::string(what) + ": the embedding has " + std::to_string(a.embedding.size()) +
                                             " floats, the catalogue's have " + std::to_string(index_->dimension()));
}

// Caller holds the unique lock.
AddOutcome Catalogue::store(std::uint64_t key, const ImageAnalysis& e, const std::string& category, const std::string& label,
                 const std::string& source, bool replace) {
  const std::int32_t c = index_->add_category(category);
  const ContourMask* mask = e.contour ? &*e.contour : nullptr;
  if (replace) index_->upsert(key, c, e.embedding.data(), label, mask);
  else index_->add(key, c, e.embedding.data(), label, mask);
  if (adapted_) {
    adapted_->add_category(category);
    adapted_->upsert(key, c, searchable(*adaptation_, e.embedding.data()).data(), label, mask);
  }
  if (source.empty()) sources_.erase(key);
  else sources_[key] = source;
  return {untrained(c)};
}

// Whether the trained category model (head or fine-tuned classifier) cannot predict category c:
// it was added after training. False without a model.
bool Catalogue::untrained(std::int32_t c) const {
  if (fine_tuned_) {
    const std::string name = index_->category_name(c);
    return std::find(fine_tuned_->item_categories.begin(), fine_tuned_->item_categories.end(), name) == fine_tuned_->item_categories.end();
  }
  return head_ && c >= head_->category_count();
}

// untrained(c) for every category at once: one set of the fine-tuned classifier's categories instead of
// a scan of its classes per category.
std::vector<bool> Catalogue::untrained_mask() const {
  const std::size_t count = index_->category_count();
  std::vector<bool> mask(count, false);
  if (fine_tuned_) {
    const std::unordered_set<std::string> trained(fine_tuned_->item_categories.begin(), fine_tuned_->item_categories.end());
    const std::vector<std::string> names = index_->category_names();
    for (std::size_t c = 0; c < count && c < names.size(); ++c) mask[c] = trained.count(names[c]) == 0;
  } else if (head_) {
    for (std::size_t c = static_cast<std::size_t>(std::max(head_->category_count(), 0)); c < count; ++c) mask[c] = true;
  }
  return mask;
}

// The backbone with fine-tuned weights; its fingerprint covers the backbone file and the weights.
std::shared_ptr<const FeatureExtractor> Catalogue::fine_tuned_extractor(const FineTunedModel& model, const std::vector<std::uint8_t>& bytes) const {
  const std::string both = file_extractor_->fingerprint() + sha256_bytes(bytes.data(), bytes.size());
  return std::make_shared<const FeatureExtractor>(file_extractor_->with_parameters(model.parameters, sha256_bytes(both.data(), both.size())));
}

// Caller holds the unique lock, or owns *this.
void Catalogue::install_fine_tuned(std::shared_ptr<const FeatureExtractor> embedder, FineTunedModel model, std::vector<std::uint8_t> bytes) {
  extractor_ = std::move(embedder);
  fine_tuned_ = std::move(model);
  fine_tuned_bytes_ = std::move(bytes);
  item_of_label_.clear();
  for (std::size_t i = 0; i < fine_tuned_->item_labels.size(); ++i) item_of_label_.emplace(fine_tuned_->item_labels[i], i);
  head_.reset(), adaptation_.reset(), adapted_.reset();  // trained on the old embeddings
}

AddOutcome Catalogue::add(std::uint64_t key, const Image& image, const std::string& category, const std::string& label, const std::string& source,
                          bool replace) {
  check_item_text(category, label, source);
  check_item_key(key);  // before any model runs
  const std::lock_guard<std::mutex> writing(writer_);
  const ImageAnalysis e = analyze({image}).front();
  std::unique_lock<std::shared_mutex> lock(mutex_);
  if (!replace && index_->contains(key)) throw Error(Status::AlreadyExists, "key " + std::to_string(key) + " is already in the catalogue (use upsert)");
  return store(key, e, category, label, source, replace);
}

void Catalogue::remove(std::uint64_t key) {
  const std::lock_guard<std::mutex> writing(writer_);
  std::unique_lock<std::shared_mutex> lock(mutex_);
  index_->remove(key);
  if (adapted_) adapted_->remove(key);
  sources_.erase(key);
}

void Catalogue::add_categories(const std::vector<std::string>& names) {
  for (const std::string& name : names) require_utf8(name, "category");  // all or none
  const std::lock_guard<std::mutex> writing(writer_);
  std::unique_lock<std::shared_mutex> lock(mutex_);
  for (const std::string& name : names) {
    index_->add_category(name);
    if (adapted_) adapted_->add_category(name);
  }
}

void Catalogue::install_category_model(const Catalogue& trained) {
  if (&trained == this) return;
  const std::lock_guard<std::mutex> writing(writer_);
  std::optional<CategoryPredictor> head, adaptation;
  {
    std::shared_lock<std::shared_mutex> theirs(trained.mutex_);
    const Catalogue& t = trained;  // locked: its members may be read
    std::shared_lock<std::shared_mutex> ours(mutex_);
    if (t.extractor_->fingerprint() != extractor_->fingerprint() ||
        embedding_settings(t.config_) != embedding_settings(config_))
      throw Error(Status::ModelMismatch, "install_category_model: the trained catalogue embeds with another network or other embedding "
                                         "settings; its category model would not understand these embeddings");
    if (t.index_->category_names() != index_->category_names())
      throw Error(Status::InvalidArgument, "install_category_model: the trained catalogue numbers its categories differently (" +
                                               std::to_string(t.index_->category_count()) + " vs " + std::to_string(index_->category_count()) +
                                               "): build both from one catalogue with the same add_categories()");
    if (t.head_) head.emplace(*t.head_);
    if (t.adaptation_) adaptation.emplace(*t.adaptation_);
  }
  std::unique_ptr<Index> projected = adaptation ? project(*adaptation) : nullptr;
  std::unique_lock<std::shared_mutex> lock(mutex_);
  head_ = std::move(head);
  adaptation_ = std::move(adaptation);
  adapted_ = std::move(projected);
}

std::string Catalogue::model_fingerprint() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return fingerprint_of(file_extractor_->fingerprint(), localizer_ ? localizer_->fingerprint() : "", sha256_or_empty(fine_tuned_bytes_),
                        head_ ? sha256_or_empty(head_->serialize()) : "", adaptation_ ? sha256_or_empty(adaptation_->serialize()) : "",
                        embedding_settings(config_).dump(), index_->category_names());
}

bool Catalogue::has_category_head() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return has_categoriser();
}

bool Catalogue::has_embedding_adaptation() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return adaptation_.has_value();
}

std::vector<std::string> Catalogue::untrained_categories() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const std::vector<bool> mask = untrained_mask();
  std::vector<std::string> out;
  for (std::size_t c = 0; c < mask.size(); ++c)
    if (mask[c]) out.push_back(index_->category_name(static_cast<std::int32_t>(c)));
  return out;
}

bool Catalogue::is_fine_tuned() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return fine_tuned_.has_value();
}

std::vector<ImageAnalysis> Catalogue::analyze_in_batches(const std::vector<Image>& images) const {
  std::vector<ImageAnalysis> out;
  const std::size_t batch = static_cast<std::size_t>(config_.batch_size);
  const std::shared_ptr<const FeatureExtractor> embedder = current_extractor();  // one network for every batch
  for (std::size_t first = 0; first < images.size(); first += batch) {
    const std::vector<Image> slice(images.begin() + static_cast<std::ptrdiff_t>(first),
                                   images.begin() + static_cast<std::ptrdiff_t>(std::min(images.size(), first + batch)));
    std::vector<ImageAnalysis> part = analyze(*embedder, slice);
    std::move(part.begin(), part.end(), std::back_inserter(out));
  }
  return out;
}

AddOutcome Catalogue::add_analyzed(std::uint64_t key, const ImageAnalysis& analysis, const std::string& category, const std::string& label,
                            const std::string& source) {
  check_item_text(category, label, source);
  check_item_key(key);
  const std::lock_guard<std::mutex> writing(writer_);
  std::unique_lock<std::shared_mutex> lock(mutex_);
  check_dimension(analysis, "add_analyzed");
  if (index_->contains(key)) throw Error(Status::AlreadyExists, "key " + std::to_string(key) + " is already in the catalogue (use upsert)");
  return store(key, analysis, category, label, source, false);
}

}  // namespace domainsearch::detail
