#include "domainsearch/pipeline.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "domainsearch/error.hpp"
#include "index/index_io.hpp"
#include "io/file_safety.hpp"
#include "io/section_file.hpp"
#include "pipeline/augment.hpp"
#include "pipeline/config_json.hpp"
#include "pipeline/csv.hpp"
#include "pipeline/ranking.hpp"
#include "training/backbone_trainer.hpp"
#include "training/fine_tuned_model.hpp"

namespace domainsearch {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

const detail::FileKind kCatalogueKind{{'D', 'S', 'C', 'A', 'T', 'L', 'G', '\0'}, 1, 0, "catalogue"};
constexpr std::uint64_t kMaxJsonSection = 256ull << 20;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

struct DecodedBatch {
  std::vector<Image> images;
  std::vector<std::size_t> entry_index;  // which entry each image came from
  std::vector<IndexingFailure> failures;
};

json read_json_section(const detail::SectionReader& r, detail::SectionTag tag) {
  const std::vector<std::uint8_t> bytes = r.read(tag, kMaxJsonSection);
  try {
    return json::parse(bytes.begin(), bytes.end());
  } catch (const json::exception& e) {
    throw Error(Status::Corrupt, r.path() + ": malformed " + std::string(tag.data(), 4) + " section (" + e.what() + ")");
  }
}

// Runs f, which reads a catalogue's JSON sections: content of the wrong type (with valid checksums) is
// Corrupt naming the file, not a raw JSON exception.
template <typename F>
auto with_json_checked(const std::string& path, F f) -> decltype(f()) {
  try {
    return f();
  } catch (const json::exception& e) {
    throw Error(Status::Corrupt, path + ": a catalogue section holds unexpected JSON (" + e.what() + ")");
  }
}

void write_json_section(detail::SectionWriter& w, detail::SectionTag tag, const json& j) {
  const std::string text = j.dump();
  w.add_section(tag, text.data(), text.size());
}

// Whether two paths name the file a save would replace (links resolved, paths made absolute).
bool same_file_path(const std::string& a, const std::string& b) {
  const auto target = [](const std::string& p) { return fs::absolute(detail::resolve_link_chain(p)).lexically_normal(); };
  return target(a) == target(b);
}

// What decides how a catalogue embeds, categorises and numbers its categories, as one SHA-256: the
// model files, the fine-tuned weights, the category model, the embedding settings and the category
// table. Shards of one catalogue must agree on it (shards.hpp). Empty strings stand for absent parts.
std::string model_fingerprint_of(const std::string& backbone, const std::string& segmenter, const std::string& fine_tuned,
                                 const std::string& head, const std::string& adaptation, const json& embedding,
                                 const std::vector<std::string>& categories) {
  const std::string text = json{{"backbone", backbone}, {"segmenter", segmenter}, {"fine_tuned", fine_tuned}, {"head", head},
                                {"adaptation", adaptation}, {"embedding", embedding}, {"categories", categories}}
                               .dump();
  return sha256_bytes(text.data(), text.size());
}

std::string sha256_or_empty(const std::vector<std::uint8_t>& bytes) { return bytes.empty() ? "" : sha256_bytes(bytes.data(), bytes.size()); }

bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp" || ext == ".webp" || ext == ".tif" || ext == ".tiff" ||
         ext == ".ppm" || ext == ".pgm" || ext == ".pnm";
}

}  // namespace

struct Pipeline::Impl {
  PipelineConfig config;
  ModelManifest backbone;
  // The backbone as loaded from its file, and the one that embeds (fine-tuned, or the same). A query
  // takes a snapshot of `extractor` (under `mutex`), so fine-tuning can replace it while queries run.
  std::shared_ptr<const FeatureExtractor> file_extractor, extractor;
  std::unique_ptr<Localizer> localizer;
  std::unique_ptr<Index> index;
  std::optional<CategoryPredictor> head;
  std::optional<CategoryPredictor> adaptation;  // item classifier whose last hidden layer is the search space
  std::unique_ptr<Index> adapted;               // the catalogue in that space (derived: rebuilt on load/training)
  std::optional<detail::FineTunedModel> fine_tuned;  // the fine-tuned stages and item classifier
  std::vector<std::uint8_t> fine_tuned_bytes;        // its serialisation (the FTUN section)
  std::unordered_map<std::string, std::size_t> item_of_label;  // the classifier's class of each item label
  std::unordered_map<std::uint64_t, std::string> sources;
  mutable std::shared_mutex mutex;  // over index + models + sources as one catalogue
  std::mutex writer;                // held by every writer for its whole change (writers never interleave)
  // The file this catalogue was opened from or last saved to, and that file's generation then: a save
  // over it expects that generation (Conflict when another writer changed the file meanwhile).
  std::string file_path;
  std::uint64_t file_generation = 0;

  explicit Impl(PipelineConfig c) : config(std::move(c)) {
    detail::validate(config);  // every setting in its documented range, whether from JSON or from code
    if (config.backbone_manifest.empty()) throw Error(Status::InvalidArgument, "Pipeline: config.backbone_manifest is required");
    if (config.localize && config.segmenter_manifest.empty())
      throw Error(Status::InvalidArgument, "Pipeline: localisation is on but config.segmenter_manifest is empty");
    if (config.runtime.threads == 0) config.runtime.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    config.features.batch_size = config.batch_size;
    backbone = ModelManifest::load(config.backbone_manifest);
    file_extractor = extractor = std::make_shared<FeatureExtractor>(backbone, config.runtime, config.features);
    if (config.localize)
      localizer = std::make_unique<Localizer>(ModelManifest::load(config.segmenter_manifest), config.runtime, config.localizer);
    index = std::make_unique<Index>(extractor->dimension());
  }

  std::shared_ptr<const FeatureExtractor> current_extractor() const {
    std::shared_lock<std::shared_mutex> lock(mutex);
    return extractor;
  }

  // Caller holds `writer` (so the extractor cannot change) or passes a snapshot.
  std::vector<ImageAnalysis> analyze(const std::vector<Image>& images, StageTimings* timings = nullptr) const {
    return analyze(*current_extractor(), images, timings);
  }

  std::vector<ImageAnalysis> analyze(const FeatureExtractor& embedder, const std::vector<Image>& images, StageTimings* timings = nullptr) const {
    std::vector<ImageAnalysis> out(images.size());
    const auto t0 = Clock::now();
    std::vector<Image> inputs;
    if (localizer) {
      std::vector<Localization> locs = localizer->localize_batch(images, config.batch_size);
      for (std::size_t i = 0; i < locs.size(); ++i) {
        inputs.push_back(locs[i].cutout);
        out[i].contour = locs[i].contour;
        out[i].localization = std::move(locs[i]);
      }
    }
    const auto t1 = Clock::now();
    const std::vector<float> rows = embedder.extract_batch(localizer ? inputs : images);
    const std::size_t d = static_cast<std::size_t>(embedder.dimension());
    for (std::size_t i = 0; i < images.size(); ++i) out[i].embedding.assign(rows.begin() + i * d, rows.begin() + (i + 1) * d);
    if (timings) {
      timings->localize_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
      timings->embed_ms = ms_since(t1);
    }
    return out;
  }

  // The vector searches compare for a backbone embedding: itself, or its adapted form.
  std::vector<float> searchable(const CategoryPredictor& a, const float* embedding) const {
    std::vector<float> v = a.penultimate(embedding);
    l2_normalize_rows(v.data(), 1, v.size());
    return v;
  }

  const Index& searched_index() const { return adapted ? *adapted : *index; }

  // The catalogue projected by an adaptation, category ids as in `index`.
  std::unique_ptr<Index> project(const CategoryPredictor& a) const {
    auto out = std::make_unique<Index>(a.penultimate_dimension());
    for (const std::string& name : index->category_names()) out->add_category(name);
    for (std::uint64_t key : index->keys()) {
      const IndexItem item = index->get(key);
      out->add(key, item.category, searchable(a, item.embedding.data()).data(), item.label, item.mask ? &*item.mask : nullptr);
    }
    return out;
  }

  // Trains the adaptation on rows x labelled by item label, and projects the catalogue with it.
  // Caller holds `writer`; nothing is installed.
  std::pair<CategoryPredictor, std::unique_ptr<Index>> train_adaptation(const std::vector<float>& x, const std::vector<std::string>& labels) const {
    std::unordered_map<std::string, std::int32_t> ids;
    std::vector<std::int32_t> y;
    for (const std::string& label : labels) y.push_back(ids.emplace(label, static_cast<std::int32_t>(ids.size())).first->second);
    if (ids.size() < 2) throw Error(Status::InvalidArgument, "the catalogue-adapted embedding needs at least 2 item labels to learn from");
    CategoryPredictor trained = CategoryPredictor::train(x.data(), y.size(), index->dimension(), y.data(), static_cast<int>(ids.size()),
                                                         config.adaptation_training);
    std::unique_ptr<Index> projected = project(trained);
    return {std::move(trained), std::move(projected)};
  }

  void check_dimension(const ImageAnalysis& a, const char* what) const {
    if (a.embedding.size() != static_cast<std::size_t>(index->dimension()))
      throw Error(Status::InvalidArgument, std::string(what) + ": the embedding has " + std::to_string(a.embedding.size()) +
                                               " floats, the catalogue's have " + std::to_string(index->dimension()));
  }

  // Trains the head on rows x (labels y: category ids) and, with config.adapt_embedding, the adaptation
  // (labels: item labels), then installs both at once: a failure leaves the catalogue as it was.
  // Caller holds `writer`.
  TrainingReport train_head_and_adaptation(const std::vector<float>& x, const std::vector<std::int32_t>& y, const std::vector<std::string>& labels) {
    const int categories = static_cast<int>(index->category_count());
    if (categories < 2) throw Error(Status::InvalidArgument, "training the category head needs at least 2 categories in the catalogue");
    std::optional<std::pair<CategoryPredictor, std::unique_ptr<Index>>> adapted_now;
    if (config.adapt_embedding) adapted_now = train_adaptation(x, labels);
    TrainingReport report;
    CategoryPredictor trained = CategoryPredictor::train(x.data(), y.size(), index->dimension(), y.data(), categories, config.training, &report);
    std::unique_lock<std::shared_mutex> lock(mutex);
    head = std::move(trained);
    if (adapted_now) adaptation = std::move(adapted_now->first), adapted = std::move(adapted_now->second);
    return report;
  }

  // Caller holds the unique lock.
  AddOutcome store(std::uint64_t key, const ImageAnalysis& e, const std::string& category, const std::string& label,
                   const std::string& source, bool replace) {
    const std::int32_t c = index->add_category(category);
    const ContourMask* mask = e.contour ? &*e.contour : nullptr;
    if (replace) index->upsert(key, c, e.embedding.data(), label, mask);
    else index->add(key, c, e.embedding.data(), label, mask);
    if (adapted) {
      adapted->add_category(category);
      adapted->upsert(key, c, searchable(*adaptation, e.embedding.data()).data(), label, mask);
    }
    if (source.empty()) sources.erase(key);
    else sources[key] = source;
    return {untrained(c)};
  }

  bool has_categoriser() const { return head || fine_tuned; }

  // The `top` most probable categories of the catalogue: the fine-tuned item classifier's probabilities
  // summed per category when there is one, else the category head's.
  std::vector<CategoryScore> predict_categories(const float* embedding, std::size_t top) const {
    if (!fine_tuned) return head->predict(embedding, top);
    const std::vector<std::string> names = index->category_names();
    std::vector<CategoryScore> out;
    for (const auto& [name, p] : fine_tuned->category_probabilities(embedding, static_cast<std::size_t>(index->dimension()))) {
      const auto it = std::find(names.begin(), names.end(), name);
      if (it != names.end()) out.push_back({static_cast<std::int32_t>(it - names.begin()), p});
      if (out.size() == top) break;
    }
    return out;
  }

  // The backbone with fine-tuned weights; its fingerprint covers the backbone file and the weights.
  std::shared_ptr<const FeatureExtractor> fine_tuned_extractor(const detail::FineTunedModel& model, const std::vector<std::uint8_t>& bytes) const {
    const std::string both = file_extractor->fingerprint() + sha256_bytes(bytes.data(), bytes.size());
    return std::make_shared<const FeatureExtractor>(file_extractor->with_parameters(model.parameters, sha256_bytes(both.data(), both.size())));
  }

  // Caller holds the unique lock, or owns *this.
  void install_fine_tuned(std::shared_ptr<const FeatureExtractor> embedder, detail::FineTunedModel model, std::vector<std::uint8_t> bytes) {
    extractor = std::move(embedder);
    fine_tuned = std::move(model);
    fine_tuned_bytes = std::move(bytes);
    item_of_label.clear();
    for (std::size_t i = 0; i < fine_tuned->item_labels.size(); ++i) item_of_label.emplace(fine_tuned->item_labels[i], i);
    head.reset(), adaptation.reset(), adapted.reset();  // trained on the old embeddings
  }

  // The catalogue's items as training photos (their source files). Caller holds `writer`.
  std::vector<CatalogueEntry> catalogue_photos() const {
    std::shared_lock<std::shared_mutex> lock(mutex);
    std::vector<CatalogueEntry> out;
    for (std::uint64_t key : index->keys()) {
      const IndexItem item = index->get_metadata(key);
      const auto src = sources.find(key);
      if (src == sources.end())
        throw Error(Status::InvalidArgument, "fine-tuning re-embeds every item from its image, but item " + std::to_string(key) +
                                                 " was added from pixels, not a file: remove it or add it again from a file");
      out.push_back({src->second, item.label, index->category_name(item.category), key});
    }
    return out;
  }

  // The catalogue's items embedded by `embedder` (from their source files), category ids as in `index`.
  Index reembedded(const FeatureExtractor& embedder, const std::vector<CatalogueEntry>& items, const TrainingProgressFn& progress) const {
    Index out(embedder.dimension());
    for (const std::string& name : index->category_names()) out.add_category(name);
    TrainingProgress p{"re-embedding", 0, 0, 0, items.size(), 0.0f, -1};
    const auto start = Clock::now();
    for (const CatalogueEntry& e : items) {
      const ImageAnalysis a = analyze(embedder, {Image::decode_file(e.path, config.decode)}).front();
      out.add(*e.key, index->category_id(e.category), a.embedding.data(), e.label, a.contour ? &*a.contour : nullptr);
      ++p.done;
      p.eta_seconds = std::chrono::duration<double>(Clock::now() - start).count() / double(p.done) * double(items.size() - p.done);
      if (progress && !progress(p)) throw Error(Status::Cancelled, "fine-tuning cancelled while re-embedding: the catalogue is unchanged");
    }
    return out;
  }

  // Trains, re-embeds the catalogue, then installs model and embeddings at once. Caller holds `writer`.
  FineTuningReport fine_tune(const std::vector<CatalogueEntry>& photos, const TrainingProgressFn& progress) {
    const std::vector<CatalogueEntry> items = catalogue_photos();
    if (photos.empty() && items.empty()) throw Error(Status::InvalidArgument, "fine-tuning: the catalogue is empty and no training photos were given");
    FineTuningReport report;
    const detail::FineTuningJob job{&backbone, config.runtime, config.fine_tuning, config.decode, config.features.grayscale,
                                    photos.empty() ? items : photos, photos.empty() ? std::vector<CatalogueEntry>{} : items};
    detail::FineTunedModel model = detail::fine_tune_backbone(job, progress, report);
    std::vector<std::uint8_t> bytes = model.serialize();
    std::shared_ptr<const FeatureExtractor> embedder = fine_tuned_extractor(model, bytes);
    const auto start = Clock::now();
    Index embedded = reembedded(*embedder, items, progress);
    report.reembedding_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::unique_lock<std::shared_mutex> lock(mutex);
    *index = std::move(embedded);
    install_fine_tuned(std::move(embedder), std::move(model), std::move(bytes));
    return report;
  }

  std::vector<std::int32_t> categories_to_search(const float* embedding, const QueryOptions& options,
                                                 std::optional<std::int32_t> own_category, QueryResponse& response) const {
    if (!options.category.empty()) return {index->category_id(options.category)};
    if (has_categoriser()) {
      for (const CategoryScore& s : predict_categories(embedding, 5))
        response.predicted.push_back({index->category_name(s.category), s.probability});
    }
    const CategoryMode mode = options.category_mode.value_or(config.category_mode);
    switch (mode) {
      case CategoryMode::Off: return {};
      case CategoryMode::Given: throw Error(Status::InvalidArgument, "category mode \"given\" needs QueryOptions::category");
      case CategoryMode::PredictedHard:
      case CategoryMode::PredictedSoft: break;
    }
    if (own_category) return {*own_category};
    if (index->category_count() == 1) return {};
    if (!has_categoriser())
      throw Error(Status::InvalidArgument, "category mode \"predicted\" needs a trained category head: call train_categories() "
                                           "(domainsearch train), or use category mode \"off\"");
    const std::size_t limit = mode == CategoryMode::PredictedHard ? 1 : static_cast<std::size_t>(std::max(config.max_categories, 1));
    std::vector<std::int32_t> chosen;
    float mass = 0;
    for (const CategoryScore& s : predict_categories(embedding, limit)) {
      chosen.push_back(s.category);
      mass += s.probability;
      if (mass >= options.soft_threshold.value_or(config.soft_threshold)) break;
    }
    // Categories the model cannot predict yet are always searched, so their items stay findable.
    for (std::int32_t c = 0; c < static_cast<std::int32_t>(index->category_count()); ++c)
      if (untrained(c) && std::find(chosen.begin(), chosen.end(), c) == chosen.end()) chosen.push_back(c);
    return chosen;
  }

  // Whether the trained category model (head or fine-tuned classifier) cannot predict category c:
  // it was added after training. False without a model.
  bool untrained(std::int32_t c) const {
    if (fine_tuned) {
      const std::string name = index->category_name(c);
      return std::find(fine_tuned->item_categories.begin(), fine_tuned->item_categories.end(), name) == fine_tuned->item_categories.end();
    }
    return head && c >= head->category_count();
  }

  void search(const float* embedding, const std::optional<ContourMask>& contour, const QueryOptions& options,
              std::optional<std::uint64_t> exclude, std::optional<std::int32_t> own_category, QueryResponse& response) const {
    if (options.k && *options.k == 0) throw Error(Status::InvalidArgument, "k must be at least 1");
    if (index->size() == 0) throw Error(Status::NotFound, "the catalogue is empty: index some images first");
    const std::size_t k = std::min(options.k.value_or(config.k), index->size());  // a larger k lists the whole catalogue
    auto t = Clock::now();
    const std::vector<std::int32_t> categories = categories_to_search(embedding, options, own_category, response);
    for (std::int32_t c : categories) response.searched.push_back(index->category_name(c));
    response.timings.categorize_ms = ms_since(t);

    t = Clock::now();
    KeyFilter filter = options.filter;
    if (exclude) filter = [user = options.filter, skip = *exclude](std::uint64_t key) { return key != skip && (!user || user(key)); };
    const RerankMode rerank_mode = options.rerank.value_or(config.rerank);
    const std::size_t depth = detail::search_depth(k, rerank_mode, config.rerank_depth);
    const bool one_per_label = options.one_result_per_label.value_or(config.one_result_per_label);
    std::vector<float> adapted_query;
    if (adapted) adapted_query = searchable(*adaptation, embedding);
    const float* query = adapted ? adapted_query.data() : embedding;
    // One result per label needs `depth` distinct labels: search deeper until found or the catalogue is exhausted.
    for (std::size_t want = one_per_label ? 4 * depth : depth;; want *= 2) {
      const std::vector<SearchHit> hits = searched_index().search(query, want, categories, filter);
      response.results = results_of(hits, contour);
      if (one_per_label) detail::keep_first_per_label(response.results);
      if (!one_per_label || response.results.size() >= depth || hits.size() < want) break;
    }
    response.timings.search_ms = ms_since(t);

    t = Clock::now();
    detail::rerank(rerank_mode, config.rerank_depth, config.iou_weight, response.results);
    if (response.results.size() > k) response.results.resize(k);
    score_matches(embedding, response);
    response.timings.rerank_ms = ms_since(t);
  }

  // Each result's calibrated match probability, and the no-match verdict (fine-tuned catalogues).
  void score_matches(const float* embedding, QueryResponse& response) const {
    if (!fine_tuned) return;
    const std::vector<float> p = fine_tuned->item_probabilities(embedding, static_cast<std::size_t>(index->dimension()));
    for (QueryResult& r : response.results) {
      const auto item = item_of_label.find(r.label);
      r.match_probability = item == item_of_label.end() ? 0.0f : p[item->second];
    }
    response.no_match = detail::is_no_match(response.results, config.match_threshold, true);
  }

  std::vector<QueryResult> results_of(const std::vector<SearchHit>& hits, const std::optional<ContourMask>& contour) const {
    std::vector<QueryResult> out;
    for (const SearchHit& h : hits) {
      const IndexItem item = index->get_metadata(h.key);
      QueryResult r;
      r.key = h.key, r.label = item.label, r.category = index->category_name(h.category), r.distance = h.distance;
      r.iou = contour && item.mask ? static_cast<float>(contour->iou(*item.mask)) : 1.0f;
      const auto src = sources.find(h.key);
      if (src != sources.end()) r.source = src->second;
      out.push_back(std::move(r));
    }
    return out;
  }

  // Decodes a slice of entries (run on a helper thread while the models work on the previous slice).
  DecodedBatch decode(const std::vector<CatalogueEntry>& entries, const std::vector<std::size_t>& todo, std::size_t first, std::size_t last) const {
    DecodedBatch b;
    for (std::size_t i = first; i < last; ++i) {
      const CatalogueEntry& e = entries[todo[i]];
      try {
        b.images.push_back(Image::decode_file(e.path, config.decode));
        b.entry_index.push_back(todo[i]);
      } catch (const Error& err) {
        b.failures.push_back({e.path, err.what()});
      }
    }
    return b;
  }

  // Embeds a batch; if the batch fails as a whole, embeds image by image so one bad image is isolated.
  // Caller holds `writer`.
  void embed_and_store(const std::vector<CatalogueEntry>& entries, DecodedBatch& batch, IndexingReport& report) {
    std::vector<std::string> errors;
    const std::vector<std::optional<ImageAnalysis>> embedded = analyze_isolated(batch.images, errors);
    std::unique_lock<std::shared_mutex> lock(mutex);
    for (std::size_t i = 0; i < batch.images.size(); ++i) {
      const CatalogueEntry& e = entries[batch.entry_index[i]];
      try {
        if (!embedded[i]) throw Error(Status::Internal, errors[i]);
        store(e.key.value_or(key_for_path(e.path)), *embedded[i], e.category, e.label, e.path, false);
        ++report.added;
      } catch (const Error& err) {
        report.failures.push_back({e.path, err.what()});
      }
    }
  }

  // Analyses a batch in one pass; when that fails, image by image, so one bad image is isolated
  // (errors[i] says why images[i] has no analysis).
  std::vector<std::optional<ImageAnalysis>> analyze_isolated(const std::vector<Image>& images, std::vector<std::string>& errors) const {
    std::vector<std::optional<ImageAnalysis>> out(images.size());
    errors.assign(images.size(), {});
    try {
      std::vector<ImageAnalysis> all = analyze(images);
      for (std::size_t i = 0; i < images.size(); ++i) out[i] = std::move(all[i]);
      return out;
    } catch (const Error&) {
    }
    for (std::size_t i = 0; i < images.size(); ++i) {
      try {
        out[i] = analyze({images[i]}).front();
      } catch (const Error& e) {
        errors[i] = e.what();
      }
    }
    return out;
  }
};

// ---------------------------------------------------------------- construction, persistence

TrainingReport training_summary(const FineTuningReport& f) {
  TrainingReport r;
  r.samples = f.views;
  r.epochs = r.best_epoch = f.epochs;
  r.best_validation_accuracy = f.calibration_accuracy;
  r.best_validation_loss = f.final_loss;
  r.seconds = f.cache_seconds + f.training_seconds + f.reembedding_seconds;
  return r;
}

std::vector<CatalogueEntry> read_catalogue_csv(const std::string& csv_path, const std::string& label_column, const std::string& category_column) {
  const detail::CsvTable table = detail::read_csv(csv_path);
  const std::size_t path_col = table.column("path"), label_col = table.column(label_column), category_col = table.column(category_column);
  const fs::path base = fs::path(csv_path).parent_path();
  std::vector<CatalogueEntry> entries;
  for (const auto& row : table.rows) {
    const fs::path p(row[path_col]);
    entries.push_back({(p.is_absolute() ? p : base / p).lexically_normal().string(), row[label_col], row[category_col], std::nullopt});
  }
  return entries;
}

Pipeline::Pipeline(const PipelineConfig& config) : impl_(std::make_unique<Impl>(config)) {}
Pipeline::Pipeline(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Pipeline::~Pipeline() = default;
Pipeline::Pipeline(Pipeline&&) noexcept = default;
Pipeline& Pipeline::operator=(Pipeline&&) noexcept = default;

const PipelineConfig& Pipeline::config() const noexcept { return impl_->config; }
const Index& Pipeline::index() const noexcept { return *impl_->index; }

bool Pipeline::has_category_head() const {
  std::shared_lock<std::shared_mutex> lock(impl_->mutex);
  return impl_->has_categoriser();
}

bool Pipeline::has_embedding_adaptation() const {
  std::shared_lock<std::shared_mutex> lock(impl_->mutex);
  return impl_->adaptation.has_value();
}

std::uint64_t Pipeline::key_for_path(const std::string& path) noexcept {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : path) h = (h ^ c) * 1099511628211ull;
  return h;
}

void Pipeline::save(const std::string& path) const {
  const std::lock_guard<std::mutex> writing(impl_->writer);
  std::shared_lock<std::shared_mutex> lock(impl_->mutex);
  Impl& m = *impl_;
  json conf = {{"embedding", detail::embedding_settings(m.config)},
               {"backbone_sha256", m.file_extractor->fingerprint()},
               {"segmenter_sha256", m.localizer ? m.localizer->fingerprint() : ""},
               {"dimension", m.extractor->dimension()}};
  if (m.fine_tuned) conf["fine_tuned_sha256"] = sha256_bytes(m.fine_tuned_bytes.data(), m.fine_tuned_bytes.size());
  json srcs = json::array();
  for (const auto& [key, source] : m.sources) srcs.push_back({key, source});
  const bool same_file = !m.file_path.empty() && same_file_path(path, m.file_path);
  detail::SectionWriter writer(path, kCatalogueKind, same_file ? std::optional<std::uint64_t>(m.file_generation) : std::nullopt);
  write_json_section(writer, detail::tag("CONF"), conf);
  write_json_section(writer, detail::tag("SRCS"), srcs);
  if (m.head) {
    const std::vector<std::uint8_t> head = m.head->serialize();
    writer.add_section(detail::tag("HEAD"), head.data(), head.size());
  }
  if (m.adaptation) {
    const std::vector<std::uint8_t> adaptation = m.adaptation->serialize();
    writer.add_section(detail::tag("ADPT"), adaptation.data(), adaptation.size());
  }
  if (m.fine_tuned) writer.add_section(detail::tag("FTUN"), m.fine_tuned_bytes.data(), m.fine_tuned_bytes.size());
  detail::IndexIo::write(*m.index, writer);
  writer.commit();
  m.file_path = path;
  m.file_generation = writer.generation();
}

Pipeline Pipeline::open(const std::string& catalogue_path, PipelineConfig config) {
  return with_json_checked(catalogue_path, [&] {
    const detail::SectionReader reader(catalogue_path, kCatalogueKind);
    const json conf = read_json_section(reader, detail::tag("CONF"));
    try {
      detail::apply_embedding_settings(conf.at("embedding"), config);
    } catch (const std::exception& e) {  // missing, or settings this build cannot take: not a catalogue it wrote
      throw Error(Status::Corrupt, catalogue_path + ": malformed CONF section (" + e.what() + ")");
    }
    auto impl = std::make_unique<Impl>(std::move(config));
    const auto check = [&](const char* what, const std::string& expected, const std::string& actual) {
      if (expected != actual)
        throw Error(Status::ModelMismatch, catalogue_path + ": built with a " + what + " of SHA-256 " + expected.substr(0, 16) +
                                               "..., but the configured one is " + actual.substr(0, 16) + "...; its embeddings would not be comparable");
    };
    check("backbone", conf.value("backbone_sha256", ""), impl->file_extractor->fingerprint());
    if (reader.has(detail::tag("FTUN"))) {
      std::vector<std::uint8_t> bytes = reader.read(detail::tag("FTUN"), reader.length(detail::tag("FTUN")));
      if (sha256_bytes(bytes.data(), bytes.size()) != conf.value("fine_tuned_sha256", ""))
        throw Error(Status::Corrupt, catalogue_path + ": the fine-tuned weights (FTUN) do not match the fingerprint recorded in CONF");
      detail::FineTunedModel model = detail::FineTunedModel::deserialize(bytes.data(), bytes.size(), catalogue_path);
      std::shared_ptr<const FeatureExtractor> embedder = impl->fine_tuned_extractor(model, bytes);
      impl->install_fine_tuned(std::move(embedder), std::move(model), std::move(bytes));
    }
    if (impl->localizer) check("segmenter", conf.value("segmenter_sha256", ""), impl->localizer->fingerprint());
    Index index = detail::IndexIo::read(reader);
    if (index.dimension() != impl->extractor->dimension())
      throw Error(Status::ModelMismatch, catalogue_path + ": stores " + std::to_string(index.dimension()) + "-d embeddings, the backbone makes " +
                                             std::to_string(impl->extractor->dimension()));
    impl->index = std::make_unique<Index>(std::move(index));
    impl->file_path = catalogue_path;
    impl->file_generation = reader.generation();
    if (reader.has(detail::tag("HEAD"))) {
      const auto bytes = reader.read(detail::tag("HEAD"), reader.length(detail::tag("HEAD")));
      impl->head = CategoryPredictor::deserialize(bytes.data(), bytes.size());
      if (impl->head->dimension() != impl->extractor->dimension())
        throw Error(Status::Corrupt, catalogue_path + ": category head dimension disagrees with the embeddings");
    }
    if (reader.has(detail::tag("ADPT"))) {
      const auto bytes = reader.read(detail::tag("ADPT"), reader.length(detail::tag("ADPT")));
      impl->adaptation = CategoryPredictor::deserialize(bytes.data(), bytes.size());
      if (impl->adaptation->dimension() != impl->extractor->dimension())
        throw Error(Status::Corrupt, catalogue_path + ": embedding adaptation dimension disagrees with the embeddings");
      impl->adapted = impl->project(*impl->adaptation);
    }
    for (const json& pair : read_json_section(reader, detail::tag("SRCS"))) impl->sources[pair.at(0).get<std::uint64_t>()] = pair.at(1).get<std::string>();
    return Pipeline(std::move(impl));
  });
}

CatalogueInfo Pipeline::inspect(const std::string& catalogue_path) {
  return with_json_checked(catalogue_path, [&] {
    const detail::SectionReader reader(catalogue_path, kCatalogueKind);
    const json conf = read_json_section(reader, detail::tag("CONF"));
    const Index index = detail::IndexIo::read(reader);
    CatalogueInfo info;
    info.items = index.size();
    info.dimension = index.dimension();
    for (std::size_t c = 0; c < index.category_count(); ++c)
      info.categories.emplace_back(index.category_name(static_cast<std::int32_t>(c)), index.size(static_cast<std::int32_t>(c)));
    info.has_category_head = reader.has(detail::tag("HEAD"));
    info.has_embedding_adaptation = reader.has(detail::tag("ADPT"));
    info.has_fine_tuned_backbone = reader.has(detail::tag("FTUN"));
    if (info.has_fine_tuned_backbone) {
      const std::vector<std::uint8_t> bytes = reader.read(detail::tag("FTUN"), reader.length(detail::tag("FTUN")));
      const detail::FineTunedModel model = detail::FineTunedModel::deserialize(bytes.data(), bytes.size(), catalogue_path);
      info.fine_tuned_first_stage = model.first_stage;
      for (const ParameterTensor& p : model.parameters) info.fine_tuned_parameters.push_back(p.name);
      info.fine_tuned_items = model.item_labels;
      info.fine_tuned_temperature = model.temperature;
    }
    info.backbone_sha256 = conf.value("backbone_sha256", "");
    info.segmenter_sha256 = conf.value("segmenter_sha256", "");
    info.embedding_settings_json = conf.value("embedding", json::object()).dump();
    const auto section_sha = [&](detail::SectionTag t) { return reader.has(t) ? sha256_or_empty(reader.read(t, reader.length(t))) : ""; };
    info.model_fingerprint = model_fingerprint_of(info.backbone_sha256, info.segmenter_sha256, conf.value("fine_tuned_sha256", ""),
                                                  section_sha(detail::tag("HEAD")), section_sha(detail::tag("ADPT")), conf.value("embedding", json::object()),
                                                  index.category_names());
    info.file_bytes = fs::file_size(catalogue_path);
    return info;
  });
}

// ---------------------------------------------------------------- offline

IndexingReport Pipeline::index_entries(const std::vector<CatalogueEntry>& entries, const ProgressFn& progress) {
  const std::lock_guard<std::mutex> writing(impl_->writer);
  const auto start = Clock::now();
  IndexingReport report;
  std::vector<std::size_t> todo;
  std::unordered_set<std::uint64_t> seen;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const std::uint64_t key = entries[i].key.value_or(key_for_path(entries[i].path));
    if (entries[i].category.empty()) report.failures.push_back({entries[i].path, "no category given"});
    else if (impl_->index->contains(key) || !seen.insert(key).second) ++report.skipped_existing;
    else todo.push_back(i);
  }
  const std::size_t batch = static_cast<std::size_t>(impl_->config.batch_size);
  std::future<DecodedBatch> next = std::async(std::launch::async, [&] { return impl_->decode(entries, todo, 0, std::min(batch, todo.size())); });
  for (std::size_t first = 0; first < todo.size(); first += batch) {
    DecodedBatch current = next.get();
    const std::size_t last = std::min(first + batch, todo.size());
    if (last < todo.size())
      next = std::async(std::launch::async, [&, last] { return impl_->decode(entries, todo, last, std::min(last + batch, todo.size())); });
    report.failures.insert(report.failures.end(), current.failures.begin(), current.failures.end());
    impl_->embed_and_store(entries, current, report);
    if (progress && !progress(last, todo.size())) {
      report.cancelled = true;
      if (next.valid()) next.wait();
      break;
    }
  }
  report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return report;
}

IndexingReport Pipeline::index_csv(const std::string& csv_path, const ProgressFn& progress) {
  return index_entries(read_catalogue_csv(csv_path), progress);
}

IndexingReport Pipeline::index_folder(const std::string& folder, const ProgressFn& progress) {
  if (!fs::is_directory(folder)) throw Error(Status::NotFound, folder + ": not a folder");
  std::vector<CatalogueEntry> entries;
  for (const auto& category : fs::directory_iterator(folder)) {
    if (!category.is_directory()) continue;
    for (const auto& file : fs::recursive_directory_iterator(category.path()))
      if (file.is_regular_file() && is_image_file(file.path()))
        entries.push_back({file.path().string(), file.path().stem().string(), category.path().filename().string(), std::nullopt});
  }
  std::sort(entries.begin(), entries.end(), [](const CatalogueEntry& a, const CatalogueEntry& b) { return a.path < b.path; });
  return index_entries(entries, progress);
}

AddOutcome Pipeline::add(std::uint64_t key, const Image& image, const std::string& category, const std::string& label, const std::string& source) {
  const std::lock_guard<std::mutex> writing(impl_->writer);
  const ImageAnalysis e = impl_->analyze({image}).front();
  std::unique_lock<std::shared_mutex> lock(impl_->mutex);
  if (impl_->index->contains(key)) throw Error(Status::AlreadyExists, "key " + std::to_string(key) + " is already in the catalogue (use upsert)");
  return impl_->store(key, e, category, label, source, false);
}

AddOutcome Pipeline::upsert(std::uint64_t key, const Image& image, const std::string& category, const std::string& label, const std::string& source) {
  const std::lock_guard<std::mutex> writing(impl_->writer);
  const ImageAnalysis e = impl_->analyze({image}).front();
  std::unique_lock<std::shared_mutex> lock(impl_->mutex);
  return impl_->store(key, e, category, label, source, true);
}

void Pipeline::remove(std::uint64_t key) {
  const std::lock_guard<std::mutex> writing(impl_->writer);
  std::unique_lock<std::shared_mutex> lock(impl_->mutex);
  impl_->index->remove(key);
  if (impl_->adapted) impl_->adapted->remove(key);
  impl_->sources.erase(key);
}

TrainingReport Pipeline::train_categories(const TrainingProgressFn& progress) {
  if (impl_->config.fine_tuning.enabled) return training_summary(fine_tune({}, progress));
  const std::lock_guard<std::mutex> writing(impl_->writer);
  std::vector<float> x;
  std::vector<std::int32_t> y;
  std::vector<std::string> labels;
  std::vector<std::tuple<std::string, std::int32_t, std::string>> augmentable;  // source, category, label
  {
    std::shared_lock<std::shared_mutex> lock(impl_->mutex);
    const Index& index = *impl_->index;
    for (std::uint64_t key : index.keys()) {
      const IndexItem item = index.get(key);
      x.insert(x.end(), item.embedding.begin(), item.embedding.end());
      y.push_back(item.category);
      labels.push_back(item.label);
      const auto src = impl_->sources.find(key);
      if (src != impl_->sources.end()) augmentable.emplace_back(src->second, item.category, item.label);
    }
  }
  std::mt19937_64 rng(impl_->config.training.seed);
  for (int v = 0; v < impl_->config.training_views; ++v)
    for (const auto& [source, category, label] : augmentable) {
      try {
        const ImageAnalysis e = impl_->analyze({detail::augmented_view(Image::decode_file(source, impl_->config.decode), rng)}).front();
        x.insert(x.end(), e.embedding.begin(), e.embedding.end());
        y.push_back(category);
        labels.push_back(label);
      } catch (const Error&) {
        // A source that has become unreadable since indexing only loses its augmented views.
      }
    }
  return impl_->train_head_and_adaptation(x, y, labels);
}

TrainingReport Pipeline::train_categories(const std::vector<ImageAnalysis>& analyses, const std::vector<std::string>& categories,
                                          const std::vector<std::string>& labels) {
  if (analyses.size() != categories.size() || (impl_->config.adapt_embedding && analyses.size() != labels.size()))
    throw Error(Status::InvalidArgument, "train_categories: " + std::to_string(analyses.size()) + " analyses but " + std::to_string(categories.size()) +
                                             " categories and " + std::to_string(labels.size()) + " labels");
  const std::lock_guard<std::mutex> writing(impl_->writer);
  std::vector<float> x;
  std::vector<std::int32_t> y;
  {
    std::shared_lock<std::shared_mutex> lock(impl_->mutex);
    for (std::size_t i = 0; i < analyses.size(); ++i) {
      impl_->check_dimension(analyses[i], "train_categories");
      x.insert(x.end(), analyses[i].embedding.begin(), analyses[i].embedding.end());
      y.push_back(impl_->index->category_id(categories[i]));
    }
  }
  return impl_->train_head_and_adaptation(x, y, labels);
}

FineTuningReport Pipeline::fine_tune(const std::vector<CatalogueEntry>& photos, const TrainingProgressFn& progress) {
  const std::lock_guard<std::mutex> writing(impl_->writer);
  return impl_->fine_tune(photos, progress);
}

std::vector<std::string> Pipeline::untrained_categories() const {
  std::shared_lock<std::shared_mutex> lock(impl_->mutex);
  std::vector<std::string> out;
  for (std::int32_t c = 0; c < static_cast<std::int32_t>(impl_->index->category_count()); ++c)
    if (impl_->untrained(c)) out.push_back(impl_->index->category_name(c));
  return out;
}

bool Pipeline::is_fine_tuned() const {
  std::shared_lock<std::shared_mutex> lock(impl_->mutex);
  return impl_->fine_tuned.has_value();
}

void Pipeline::add_categories(const std::vector<std::string>& names) {
  const std::lock_guard<std::mutex> writing(impl_->writer);
  std::unique_lock<std::shared_mutex> lock(impl_->mutex);
  for (const std::string& name : names) {
    impl_->index->add_category(name);
    if (impl_->adapted) impl_->adapted->add_category(name);
  }
}

void Pipeline::install_category_model(const Pipeline& trained) {
  if (&trained == this) return;
  const std::lock_guard<std::mutex> writing(impl_->writer);
  std::optional<CategoryPredictor> head, adaptation;
  {
    std::shared_lock<std::shared_mutex> theirs(trained.impl_->mutex);
    const Impl& t = *trained.impl_;
    std::shared_lock<std::shared_mutex> ours(impl_->mutex);
    if (t.extractor->fingerprint() != impl_->extractor->fingerprint() ||
        detail::embedding_settings(t.config) != detail::embedding_settings(impl_->config))
      throw Error(Status::ModelMismatch, "install_category_model: the trained catalogue embeds with another network or other embedding "
                                         "settings; its category model would not understand these embeddings");
    if (t.index->category_names() != impl_->index->category_names())
      throw Error(Status::InvalidArgument, "install_category_model: the trained catalogue numbers its categories differently (" +
                                               std::to_string(t.index->category_count()) + " vs " + std::to_string(impl_->index->category_count()) +
                                               "): build both from one catalogue with the same add_categories()");
    if (t.head) head.emplace(*t.head);
    if (t.adaptation) adaptation.emplace(*t.adaptation);
  }
  std::unique_ptr<Index> projected = adaptation ? impl_->project(*adaptation) : nullptr;
  std::unique_lock<std::shared_mutex> lock(impl_->mutex);
  impl_->head = std::move(head);
  impl_->adaptation = std::move(adaptation);
  impl_->adapted = std::move(projected);
}

std::string Pipeline::model_fingerprint() const {
  std::shared_lock<std::shared_mutex> lock(impl_->mutex);
  const Impl& m = *impl_;
  return model_fingerprint_of(m.file_extractor->fingerprint(), m.localizer ? m.localizer->fingerprint() : "", sha256_or_empty(m.fine_tuned_bytes),
                              m.head ? sha256_or_empty(m.head->serialize()) : "", m.adaptation ? sha256_or_empty(m.adaptation->serialize()) : "",
                              detail::embedding_settings(m.config), m.index->category_names());
}

// ---------------------------------------------------------------- precomputed analyses

std::vector<ImageAnalysis> Pipeline::analyze(const std::vector<Image>& images) const {
  std::vector<ImageAnalysis> out;
  const std::size_t batch = static_cast<std::size_t>(impl_->config.batch_size);
  for (std::size_t first = 0; first < images.size(); first += batch) {
    const std::vector<Image> slice(images.begin() + static_cast<std::ptrdiff_t>(first),
                                   images.begin() + static_cast<std::ptrdiff_t>(std::min(images.size(), first + batch)));
    std::vector<ImageAnalysis> part = impl_->analyze(slice);
    std::move(part.begin(), part.end(), std::back_inserter(out));
  }
  return out;
}

AddOutcome Pipeline::add_analyzed(std::uint64_t key, const ImageAnalysis& analysis, const std::string& category, const std::string& label,
                            const std::string& source) {
  const std::lock_guard<std::mutex> writing(impl_->writer);
  std::unique_lock<std::shared_mutex> lock(impl_->mutex);
  impl_->check_dimension(analysis, "add_analyzed");
  if (impl_->index->contains(key)) throw Error(Status::AlreadyExists, "key " + std::to_string(key) + " is already in the catalogue (use upsert)");
  return impl_->store(key, analysis, category, label, source, false);
}

QueryResponse Pipeline::query_analyzed(const ImageAnalysis& analysis, const QueryOptions& options) const {
  const auto t = Clock::now();
  std::shared_lock<std::shared_mutex> lock(impl_->mutex);
  impl_->check_dimension(analysis, "query_analyzed");
  QueryResponse response;
  impl_->search(analysis.embedding.data(), analysis.contour, options, std::nullopt, std::nullopt, response);
  response.timings.total_ms = ms_since(t);
  return response;
}

// ---------------------------------------------------------------- online

QueryResponse Pipeline::query(const Image& image, const QueryOptions& options) const {
  return query_batch({image}, options).front();
}

QueryResponse Pipeline::query_file(const std::string& path, const QueryOptions& options) const {
  const auto t = Clock::now();
  const Image image = Image::decode_file(path, impl_->config.decode);
  const double decode_ms = ms_since(t);
  QueryResponse r = query(image, options);
  r.timings.decode_ms = decode_ms;
  r.timings.total_ms += decode_ms;
  return r;
}

QueryResponse Pipeline::query_bytes(const std::uint8_t* data, std::size_t size, const QueryOptions& options) const {
  const auto t = Clock::now();
  const Image image = Image::decode_bytes(data, size, impl_->config.decode, "query bytes");
  const double decode_ms = ms_since(t);
  QueryResponse r = query(image, options);
  r.timings.decode_ms = decode_ms;
  r.timings.total_ms += decode_ms;
  return r;
}

QueryResponse Pipeline::query_key(std::uint64_t key, const QueryOptions& options) const {
  const auto t = Clock::now();
  std::shared_lock<std::shared_mutex> lock(impl_->mutex);
  const IndexItem item = impl_->index->get(key);
  QueryResponse response;
  impl_->search(item.embedding.data(), item.mask, options, key, item.category, response);
  response.timings.total_ms = ms_since(t);
  return response;
}

std::vector<QueryResponse> Pipeline::query_batch(const std::vector<Image>& images, const QueryOptions& options) const {
  const auto t = Clock::now();
  StageTimings stages;
  std::vector<ImageAnalysis> embedded;
  std::shared_lock<std::shared_mutex> lock(impl_->mutex, std::defer_lock);
  // Embedded and searched with one model: when fine-tuning replaced it meanwhile, embed again.
  for (std::shared_ptr<const FeatureExtractor> model;;) {
    model = impl_->current_extractor();
    embedded = impl_->analyze(*model, images, &stages);
    lock.lock();
    if (impl_->extractor == model) break;
    lock.unlock();
  }
  std::vector<QueryResponse> out(images.size());
  for (std::size_t i = 0; i < images.size(); ++i) {
    out[i].timings.localize_ms = stages.localize_ms / static_cast<double>(images.size());
    out[i].timings.embed_ms = stages.embed_ms / static_cast<double>(images.size());
    impl_->search(embedded[i].embedding.data(), embedded[i].contour, options, std::nullopt, std::nullopt, out[i]);
    out[i].localization = std::move(embedded[i].localization);
    out[i].timings.total_ms = ms_since(t) / static_cast<double>(images.size());
  }
  return out;
}

}  // namespace domainsearch
