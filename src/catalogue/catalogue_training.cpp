#include "catalogue/catalogue.hpp"

#include <algorithm>
#include <chrono>
#include <random>
#include <unordered_map>

#include "domainsearch/error.hpp"
#include "io/utf8.hpp"
#include "training/augment.hpp"
#include "training/backbone_trainer.hpp"

namespace domainsearch::detail {
namespace {

using Clock = std::chrono::steady_clock;

// The embedding adaptation: an item classifier on rows x (labels: item labels) whose last hidden layer
// becomes the searched space.
CategoryPredictor train_adaptation(const std::vector<float>& x, const std::vector<std::string>& labels, int dimension,
                                   const CategoryTrainingOptions& options) {
  std::unordered_map<std::string, std::int32_t> ids;
  std::vector<std::int32_t> y;
  for (const std::string& label : labels) y.push_back(ids.emplace(label, static_cast<std::int32_t>(ids.size())).first->second);
  if (ids.size() < 2) throw Error(Status::InvalidArgument, "the catalogue-adapted embedding needs at least 2 item labels to learn from");
  return CategoryPredictor::train(x.data(), y.size(), dimension, y.data(), static_cast<int>(ids.size()), options);
}

// Re-embedding after fine-tuning drops an item whose image cannot be read any more (gone, unreadable, no
// longer within the decode limits), keeping the training; more than this share of the catalogue so lost
// (a folder not mounted?) fails the fine-tuning instead, the catalogue unchanged.
constexpr double kMaxDroppedShare = 0.1;

bool is_file_failure(Status s) {
  return s == Status::Io || s == Status::NotFound || s == Status::ImageDecode || s == Status::ImageTooSmall || s == Status::ImageTooLarge;
}

// Rows of embeddings with their category ids and item labels: what the head and the adaptation learn from.
struct TrainingRows {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  std::vector<std::string> labels;
  void add(const std::vector<float>& embedding, std::int32_t category, const std::string& label) {
    x.insert(x.end(), embedding.begin(), embedding.end());
    y.push_back(category);
    labels.push_back(label);
  }
};

}  // namespace

// Trains the head on rows x (labels y: category ids) and, with config.adapt_embedding, the adaptation
// (labels: item labels), then installs both at once: a failure leaves the catalogue as it was.
// Caller holds `writer_`.
TrainingReport Catalogue::train_head_and_adaptation(const std::vector<float>& x, const std::vector<std::int32_t>& y, const std::vector<std::string>& labels,
                                                   const TrainingProgressFn& progress) {
  refuse_head_on_fine_tuned();
  const int categories = static_cast<int>(index().category_count());
  if (categories < 2) throw Error(Status::InvalidArgument, "training the category head needs at least 2 categories in the catalogue");
  std::optional<SearchSpace::Projection> projection;
  if (config_.adapt_embedding) projection = space_.project(train_adaptation(x, labels, index().dimension(), config_.adaptation_training));
  TrainingReport report;
  CategoryTrainingOptions options = config_.training;
  if (progress)
    options.on_epoch = [&progress, configured = config_.training.on_epoch, epochs = options.max_epochs](const EpochReport& e) {
      const TrainingProgress now{"training the category head", e.epoch, epochs, static_cast<std::size_t>(e.epoch), static_cast<std::size_t>(epochs),
                                 e.train_loss, -1};
      return (!configured || configured(e)) && progress(now);
    };
  auto head = std::make_shared<const HeadCategoryModel>(
      CategoryPredictor::train(x.data(), y.size(), index().dimension(), y.data(), categories, options, &report));
  std::unique_lock<std::shared_mutex> lock(mutex_);
  categoriser_ = std::move(head);
  if (projection) space_.install(std::move(*projection));
  return report;
}

// The catalogue's items as training photos (their source files). Caller holds `writer_`.
std::vector<CatalogueEntry> Catalogue::catalogue_photos() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<CatalogueEntry> out;
  for (std::uint64_t key : index().keys()) {
    const IndexItem item = index().get_metadata(key);
    const auto src = sources_.find(key);
    if (src == sources_.end())
      throw Error(Status::InvalidArgument, "fine-tuning re-embeds every item from its image, but item " + std::to_string(key) +
                                               " was added from pixels, not a file: remove it or add it again from a file");
    out.push_back({src->second, item.label, index().category_name(item.category), key});
  }
  return out;
}

// The catalogue's items embedded by `embedder` (from their source files), category ids as in the
// Index. An item whose file can no longer be read is left out and listed in report.dropped; a model
// failing on an image, or too many unreadable files (kMaxDroppedShare), throws.
Index Catalogue::reembedded(const FeatureExtractor& embedder, const std::vector<CatalogueEntry>& items, const TrainingProgressFn& progress,
                            FineTuningReport& report) const {
  Index out(embedder.dimension());
  for (const std::string& name : index().category_names()) out.add_category(name);
  std::vector<std::size_t> all(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) all[i] = i;
  const auto start = Clock::now();
  const auto tell = [&](std::size_t done, std::size_t total) {
    const double eta = std::chrono::duration<double>(Clock::now() - start).count() / double(done) * double(total - done);
    return !progress || progress(TrainingProgress{"re-embedding", 0, 0, done, total, 0.0f, eta});
  };
  const bool finished = analyzer_.analyze_files(embedder, items, all, tell, [&](std::size_t i, EntryAnalysis&& outcome) {
    const CatalogueEntry& e = items[i];
    if (!outcome.analysis && !is_file_failure(outcome.status))
      throw Error(outcome.status, "fine-tuning: re-embedding failed (the catalogue is unchanged): " + outcome.error);
    if (!outcome.analysis) return report.dropped.push_back({e.path, outcome.error});
    const ImageAnalysis& a = *outcome.analysis;
    out.add(*e.key, index().category_id(e.category), a.embedding.data(), e.label, a.contour ? &*a.contour : nullptr);
  });
  if (!finished) throw Error(Status::Cancelled, "fine-tuning cancelled while re-embedding: the catalogue is unchanged");
  if (!report.dropped.empty() && static_cast<double>(report.dropped.size()) > kMaxDroppedShare * static_cast<double>(items.size()))
    throw Error(Status::Io, "fine-tuning: " + std::to_string(report.dropped.size()) + " of the catalogue's " + std::to_string(items.size()) +
                                " images can no longer be read (the first: " + report.dropped.front().reason +
                                "); restore them (a folder not mounted?) or remove those items; the catalogue is unchanged");
  return out;
}

// Trains, re-embeds the catalogue, then installs model and embeddings at once.
FineTuningReport Catalogue::fine_tune(const std::vector<CatalogueEntry>& photos, const TrainingProgressFn& progress) {
  const std::lock_guard<std::mutex> writing(writer_);
  const std::vector<CatalogueEntry> items = catalogue_photos();  // their names were checked when they were added
  // Labels and categories go into the fine-tuned model's description (JSON: UTF-8 only): a training photo
  // whose are not UTF-8 is skipped like an unreadable one, not found out when the model is written.
  std::vector<CatalogueEntry> usable;
  for (const CatalogueEntry& e : photos)
    if (is_valid_utf8(e.label) && is_valid_utf8(e.category)) usable.push_back(e);
  if (photos.empty() && items.empty()) throw Error(Status::InvalidArgument, "fine-tuning: the catalogue is empty and no training photos were given");
  FineTuningReport report;
  const FineTuningJob job{&backbone_->manifest(), config_.runtime, config_.fine_tuning, config_.decode, config_.features.grayscale,
                          photos.empty() ? items : usable, photos.empty() ? std::vector<CatalogueEntry>{} : items};
  FineTunedModel model = fine_tune_backbone(job, progress, report);
  report.skipped += photos.size() - usable.size();
  std::vector<std::uint8_t> bytes = model.serialize();
  std::shared_ptr<const FeatureExtractor> embedder = fine_tuned_extractor(model, bytes);
  const auto start = Clock::now();
  Index embedded = reembedded(*embedder, items, progress, report);
  report.reembedding_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::unique_lock<std::shared_mutex> lock(mutex_);
  install_fine_tuned(std::move(embedder), model, std::move(bytes), std::move(embedded));
  for (auto it = sources_.begin(); it != sources_.end();) it = index().contains(it->first) ? std::next(it) : sources_.erase(it);  // the dropped
  return report;
}

// A fine-tuned catalogue names categories with its fine-tuned item classifier: a head trained on top
// (fine_tuning.enabled false in this configuration) would never be used, yet change the fingerprint.
void Catalogue::refuse_head_on_fine_tuned() const {
  if (categoriser_ && categoriser_->is_fine_tuned())
    throw Error(Status::InvalidArgument, "this catalogue's backbone is fine-tuned: its item classifier predicts the categories, a category "
                                         "head would never be used; to retrain, configure \"fine_tuning\": {\"enabled\": true}");
}

TrainingReport Catalogue::train_categories(const TrainingProgressFn& progress) {
  if (config_.fine_tuning.enabled) return training_summary(fine_tune({}, progress));
  const std::lock_guard<std::mutex> writing(writer_);
  refuse_head_on_fine_tuned();  // before the augmented views are embedded
  TrainingRows rows;
  std::vector<CatalogueEntry> views;  // training_views augmented views of each item that has a source file
  {
    std::shared_lock<std::shared_mutex> lock(mutex_);
    std::vector<CatalogueEntry> augmentable;
    // In key order: the rows, and so the trained head, do not depend on the order items were added in,
    // and a head trained across shards (train_category_model_on_shards) on the same items is the same.
    std::vector<std::uint64_t> keys = index().keys();
    std::sort(keys.begin(), keys.end());
    for (std::uint64_t key : keys) {
      const IndexItem item = index().get(key);
      rows.add(item.embedding, item.category, item.label);
      const auto src = sources_.find(key);
      if (src != sources_.end()) augmentable.push_back({src->second, item.label, index().category_name(item.category), key});
    }
    for (int v = 0; v < config_.training_views; ++v) views.insert(views.end(), augmentable.begin(), augmentable.end());
  }
  std::vector<std::size_t> all(views.size());
  for (std::size_t i = 0; i < views.size(); ++i) all[i] = i;
  std::mt19937_64 rng(config_.training.seed);
  const auto tell = [&](std::size_t done, std::size_t total) {
    return !progress || progress(TrainingProgress{"embedding augmented views", 0, 0, done, total, 0.0f, -1});
  };
  // A source that has become unreadable since indexing only loses its augmented views.
  const bool finished = analyzer_.analyze_files(
      *current_extractor(), views, all, tell,
      [&](std::size_t i, EntryAnalysis&& outcome) {
        if (outcome.analysis) rows.add(outcome.analysis->embedding, index().category_id(views[i].category), views[i].label);
      },
      [&rng](Image image) { return augmented_view(image, rng); });
  if (!finished) throw Error(Status::Cancelled, "category training cancelled: the catalogue is unchanged");
  return train_head_and_adaptation(rows.x, rows.y, rows.labels, progress);
}

TrainingReport Catalogue::train_categories(const std::vector<ImageAnalysis>& analyses, const std::vector<std::string>& categories,
                                          const std::vector<std::string>& labels, const TrainingProgressFn& progress) {
  if (analyses.size() != categories.size() || (config_.adapt_embedding && analyses.size() != labels.size()))
    throw Error(Status::InvalidArgument, "train_categories: " + std::to_string(analyses.size()) + " analyses but " + std::to_string(categories.size()) +
                                             " categories and " + std::to_string(labels.size()) + " labels");
  const std::lock_guard<std::mutex> writing(writer_);
  std::vector<float> x;
  std::vector<std::int32_t> y;
  {
    std::shared_lock<std::shared_mutex> lock(mutex_);
    for (std::size_t i = 0; i < analyses.size(); ++i) {
      check_dimension(analyses[i], "train_categories");
      x.insert(x.end(), analyses[i].embedding.begin(), analyses[i].embedding.end());
      y.push_back(index().category_id(categories[i]));
    }
  }
  return train_head_and_adaptation(x, y, labels, progress);
}

}  // namespace domainsearch::detail
