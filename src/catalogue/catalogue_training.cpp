#include "catalogue/catalogue.hpp"

#include <chrono>
#include <random>
#include <tuple>
#include <unordered_map>

#include "domainsearch/error.hpp"
#include "io/utf8.hpp"
#include "training/augment.hpp"
#include "training/backbone_trainer.hpp"

namespace domainsearch::detail {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

// Trains the adaptation on rows x labelled by item label, and projects the catalogue with it.
// Caller holds `writer`; nothing is installed.
std::pair<CategoryPredictor, std::unique_ptr<Index>> Catalogue::train_adaptation(const std::vector<float>& x, const std::vector<std::string>& labels) const {
  std::unordered_map<std::string, std::int32_t> ids;
  std::vector<std::int32_t> y;
  for (const std::string& label : labels) y.push_back(ids.emplace(label, static_cast<std::int32_t>(ids.size())).first->second);
  if (ids.size() < 2) throw Error(Status::InvalidArgument, "the catalogue-adapted embedding needs at least 2 item labels to learn from");
  CategoryPredictor trained = CategoryPredictor::train(x.data(), y.size(), index_->dimension(), y.data(), static_cast<int>(ids.size()),
                                                       config_.adaptation_training);
  std::unique_ptr<Index> projected = project(trained);
  return {std::move(trained), std::move(projected)};
}

// Trains the head on rows x (labels y: category ids) and, with config.adapt_embedding, the adaptation
// (labels: item labels), then installs both at once: a failure leaves the catalogue as it was.
// Caller holds `writer`.
TrainingReport Catalogue::train_head_and_adaptation(const std::vector<float>& x, const std::vector<std::int32_t>& y, const std::vector<std::string>& labels,
                                                   const TrainingProgressFn& progress) {
  refuse_head_on_fine_tuned();
  const int categories = static_cast<int>(index_->category_count());
  if (categories < 2) throw Error(Status::InvalidArgument, "training the category head needs at least 2 categories in the catalogue");
  std::optional<std::pair<CategoryPredictor, std::unique_ptr<Index>>> adapted_now;
  if (config_.adapt_embedding) adapted_now = train_adaptation(x, labels);
  TrainingReport report;
  CategoryTrainingOptions options = config_.training;
  if (progress)
    options.on_epoch = [&progress, configured = config_.training.on_epoch, epochs = options.max_epochs](const EpochReport& e) {
      const TrainingProgress now{"training the category head", e.epoch, epochs, static_cast<std::size_t>(e.epoch), static_cast<std::size_t>(epochs),
                                 e.train_loss, -1};
      return (!configured || configured(e)) && progress(now);
    };
  CategoryPredictor trained = CategoryPredictor::train(x.data(), y.size(), index_->dimension(), y.data(), categories, options, &report);
  std::unique_lock<std::shared_mutex> lock(mutex_);
  head_ = std::move(trained);
  if (adapted_now) adaptation_ = std::move(adapted_now->first), adapted_ = std::move(adapted_now->second);
  return report;
}

// The catalogue's items as training photos (their source files). Caller holds `writer`.
std::vector<CatalogueEntry> Catalogue::catalogue_photos() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<CatalogueEntry> out;
  for (std::uint64_t key : index_->keys()) {
    const IndexItem item = index_->get_metadata(key);
    const auto src = sources_.find(key);
    if (src == sources_.end())
      throw Error(Status::InvalidArgument, "fine-tuning re-embeds every item from its image, but item " + std::to_string(key) +
                                               " was added from pixels, not a file: remove it or add it again from a file");
    out.push_back({src->second, item.label, index_->category_name(item.category), key});
  }
  return out;
}

// The catalogue's items embedded by `embedder` (from their source files), category ids as in `index`.
Index Catalogue::reembedded(const FeatureExtractor& embedder, const std::vector<CatalogueEntry>& items, const TrainingProgressFn& progress) const {
  Index out(embedder.dimension());
  for (const std::string& name : index_->category_names()) out.add_category(name);
  TrainingProgress p{"re-embedding", 0, 0, 0, items.size(), 0.0f, -1};
  const auto start = Clock::now();
  for (const CatalogueEntry& e : items) {
    const ImageAnalysis a = analyze(embedder, {Image::decode_file(e.path, config_.decode)}).front();
    out.add(*e.key, index_->category_id(e.category), a.embedding.data(), e.label, a.contour ? &*a.contour : nullptr);
    ++p.done;
    p.eta_seconds = std::chrono::duration<double>(Clock::now() - start).count() / double(p.done) * double(items.size() - p.done);
    if (progress && !progress(p)) throw Error(Status::Cancelled, "fine-tuning cancelled while re-embedding: the catalogue is unchanged");
  }
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
  const FineTuningJob job{&backbone_, config_.runtime, config_.fine_tuning, config_.decode, config_.features.grayscale,
                          photos.empty() ? items : usable, photos.empty() ? std::vector<CatalogueEntry>{} : items};
  FineTunedModel model = fine_tune_backbone(job, progress, report);
  report.skipped += photos.size() - usable.size();
  std::vector<std::uint8_t> bytes = model.serialize();
  std::shared_ptr<const FeatureExtractor> embedder = fine_tuned_extractor(model, bytes);
  const auto start = Clock::now();
  Index embedded = reembedded(*embedder, items, progress);
  report.reembedding_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::unique_lock<std::shared_mutex> lock(mutex_);
  *index_ = std::move(embedded);
  install_fine_tuned(std::move(embedder), std::move(model), std::move(bytes));
  return report;
}

// A fine-tuned catalogue names categories with its fine-tuned item classifier: a head trained on top
// (fine_tuning.enabled false in this configuration) would never be used, yet change the fingerprint.
void Catalogue::refuse_head_on_fine_tuned() const {
  if (fine_tuned_)
    throw Error(Status::InvalidArgument, "this catalogue's backbone is fine-tuned: its item classifier predicts the categories, a category "
                                         "head would never be used; to retrain, configure \"fine_tuning\": {\"enabled\": true}");
}

TrainingReport Catalogue::train_categories(const TrainingProgressFn& progress) {
  if (config_.fine_tuning.enabled) return training_summary(fine_tune({}, progress));
  const std::lock_guard<std::mutex> writing(writer_);
  refuse_head_on_fine_tuned();  // before the augmented views are embedded
  std::vector<float> x;
  std::vector<std::int32_t> y;
  std::vector<std::string> labels;
  std::vector<std::tuple<std::string, std::int32_t, std::string>> augmentable;  // source, category, label
  {
    std::shared_lock<std::shared_mutex> lock(mutex_);
    const Index& index = *index_;
    for (std::uint64_t key : index.keys()) {
      const IndexItem item = index.get(key);
      x.insert(x.end(), item.embedding.begin(), item.embedding.end());
      y.push_back(item.category);
      labels.push_back(item.label);
      const auto src = sources_.find(key);
      if (src != sources_.end()) augmentable.emplace_back(src->second, item.category, item.label);
    }
  }
  std::mt19937_64 rng(config_.training.seed);
  const std::size_t views = static_cast<std::size_t>(config_.training_views) * augmentable.size();
  std::size_t done = 0;
  for (int v = 0; v < config_.training_views; ++v)
    for (const auto& [source, category, label] : augmentable) {
      if (progress && !progress(TrainingProgress{"embedding augmented views", 0, 0, done++, views, 0.0f, -1})) throw Error(Status::Cancelled, "category training cancelled: the catalogue is unchanged");
      try {
        const ImageAnalysis e = analyze({augmented_view(Image::decode_file(source, config_.decode), rng)}).front();
        x.insert(x.end(), e.embedding.begin(), e.embedding.end());
        y.push_back(category);
        labels.push_back(label);
      } catch (const Error&) {
        // A source that has become unreadable since indexing only loses its augmented views.
      }
    }
  return train_head_and_adaptation(x, y, labels, progress);
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
      y.push_back(index_->category_id(categories[i]));
    }
  }
  return train_head_and_adaptation(x, y, labels, progress);
}

}  // namespace domainsearch::detail
