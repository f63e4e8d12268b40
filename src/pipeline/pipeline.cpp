#include "domainsearch/pipeline.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "catalogue/catalogue.hpp"
#include "domainsearch/error.hpp"
#include "index/item_key.hpp"
#include "io/csv.hpp"
#include "objects/object_search.hpp"

// Pipeline is the facade: what it does is done by detail::Catalogue (src/catalogue/); here are only the
// parts that need no catalogue state (reading entry lists, decoding a query, keys of paths).

namespace domainsearch {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Decodes with `decode` and queries the image; the decoding counts in the response's timings.
template <typename Decode>
QueryResponse query_decoded(const Pipeline& pipeline, Decode decode, const QueryOptions& options) {
  const auto start = Clock::now();
  const Image image = decode();
  const double decode_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  QueryResponse r = pipeline.query(image, options);
  r.timings.decode_ms = decode_ms;
  r.timings.total_ms += decode_ms;
  return r;
}

bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp" || ext == ".webp" || ext == ".tif" || ext == ".tiff" ||
         ext == ".ppm" || ext == ".pgm" || ext == ".pnm";
}

}  // namespace

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

Pipeline::Pipeline(const PipelineConfig& config) : Pipeline(std::make_unique<detail::Catalogue>(config)) {}
Pipeline::Pipeline(std::unique_ptr<detail::Catalogue> catalogue)
    : catalogue_(std::move(catalogue)), objects_(std::make_unique<detail::ObjectSearch>(catalogue_->config())) {}
Pipeline::~Pipeline() = default;
Pipeline::Pipeline(Pipeline&&) noexcept = default;
Pipeline& Pipeline::operator=(Pipeline&&) noexcept = default;

Pipeline Pipeline::open(const std::string& catalogue_path, PipelineConfig config) {
  return Pipeline(detail::Catalogue::open(catalogue_path, std::move(config)));
}
CatalogueInfo Pipeline::inspect(const std::string& catalogue_path) { return detail::inspect_catalogue_file(catalogue_path); }
void Pipeline::save(const std::string& path) { catalogue_->save(path); }

const PipelineConfig& Pipeline::config() const noexcept { return catalogue_->config(); }
const Index& Pipeline::index() const noexcept { return catalogue_->index(); }
bool Pipeline::has_category_head() const { return catalogue_->has_category_head(); }
bool Pipeline::has_embedding_adaptation() const { return catalogue_->has_embedding_adaptation(); }
bool Pipeline::is_fine_tuned() const { return catalogue_->is_fine_tuned(); }
std::vector<std::string> Pipeline::untrained_categories() const { return catalogue_->untrained_categories(); }
std::string Pipeline::model_fingerprint() const { return catalogue_->model_fingerprint(); }

std::uint64_t Pipeline::key_for_path(const std::string& path) noexcept { return detail::key_for_path(path); }

// ---------------------------------------------------------------- offline

IndexingReport Pipeline::index_entries(const std::vector<CatalogueEntry>& entries, const ProgressFn& progress) {
  return catalogue_->index_entries(entries, progress);
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
  return catalogue_->add(key, image, category, label, source, false);
}

AddOutcome Pipeline::upsert(std::uint64_t key, const Image& image, const std::string& category, const std::string& label, const std::string& source) {
  return catalogue_->add(key, image, category, label, source, true);
}

void Pipeline::remove(std::uint64_t key) { catalogue_->remove(key); }
void Pipeline::add_categories(const std::vector<std::string>& names) { catalogue_->add_categories(names); }
void Pipeline::install_category_model(const Pipeline& trained) { catalogue_->install_category_model(*trained.catalogue_); }

TrainingReport Pipeline::train_categories(const TrainingProgressFn& progress) { return catalogue_->train_categories(progress); }

TrainingReport Pipeline::train_categories(const std::vector<ImageAnalysis>& analyses, const std::vector<std::string>& categories,
                                          const std::vector<std::string>& labels, const TrainingProgressFn& progress) {
  return catalogue_->train_categories(analyses, categories, labels, progress);
}

FineTuningReport Pipeline::fine_tune(const std::vector<CatalogueEntry>& photos, const TrainingProgressFn& progress) {
  return catalogue_->fine_tune(photos, progress);
}

// ---------------------------------------------------------------- precomputed analyses

std::vector<ImageAnalysis> Pipeline::analyze(const std::vector<Image>& images) const { return catalogue_->analyze_in_batches(images); }

std::vector<EntryAnalysis> Pipeline::analyze_entries(const std::vector<CatalogueEntry>& entries, const ProgressFn& progress) const {
  return catalogue_->analyze_entries(entries, progress);
}

AddOutcome Pipeline::add_analyzed(std::uint64_t key, const ImageAnalysis& analysis, const std::string& category, const std::string& label,
                                  const std::string& source) {
  return catalogue_->add_analyzed(key, analysis, category, label, source);
}

QueryResponse Pipeline::query_analyzed(const ImageAnalysis& analysis, const QueryOptions& options) const {
  return catalogue_->query_analyzed(analysis, options);
}

// ---------------------------------------------------------------- images

Image Pipeline::decode_file(const std::string& path) const { return Image::decode_file(path, config().decode); }
Image Pipeline::decode_bytes(const std::uint8_t* data, std::size_t size, const std::string& what) const {
  return Image::decode_bytes(data, size, config().decode, what);
}
Image Pipeline::from_pixels(const ImageView& pixels) const { return Image::from_pixels(pixels, config().decode); }

// ---------------------------------------------------------------- online

QueryResponse Pipeline::query(const Image& image, const QueryOptions& options) const { return query_batch({image}, options).front(); }

QueryResponse Pipeline::query_file(const std::string& path, const QueryOptions& options) const {
  return query_decoded(*this, [&] { return decode_file(path); }, options);
}

QueryResponse Pipeline::query_bytes(const std::uint8_t* data, std::size_t size, const QueryOptions& options) const {
  return query_decoded(*this, [&] { return decode_bytes(data, size, "query bytes"); }, options);
}

QueryResponse Pipeline::query_key(std::uint64_t key, const QueryOptions& options) const { return catalogue_->query_key(key, options); }

std::vector<QueryResponse> Pipeline::query_batch(const std::vector<Image>& images, const QueryOptions& options) const {
  return catalogue_->query_batch(images, options);
}

ObjectsResponse Pipeline::query_objects(const Image& image, const ObjectQueryOptions& options) const {
  return objects_->query(*catalogue_, image, options);
}

ObjectsResponse Pipeline::query_objects_file(const std::string& path, const ObjectQueryOptions& options) const {
  const auto start = Clock::now();
  const Image image = decode_file(path);
  const double decode_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  ObjectsResponse r = query_objects(image, options);
  r.timings.decode_ms = decode_ms;
  r.timings.total_ms += decode_ms;
  return r;
}

}  // namespace domainsearch
