// The C ABI over the C++ API. Every entry point runs inside ds_guard(), which maps exceptions to a
// ds_status and the thread-local last-error message (faiss's CATCH_AND_HANDLE).
#include "domainsearch.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "domainsearch/error.hpp"
#include "domainsearch/pipeline.hpp"
#include "domainsearch/version.hpp"

using namespace domainsearch;

struct ds_pipeline {
  Pipeline pipeline;
};
struct ds_index {
  Index index;
};
struct ds_results {
  QueryResponse response;
};
struct ds_objects {
  ObjectsResponse response;          // each object's answer moved out into `answers`
  std::vector<ds_results> answers;   // one per object, borrowed by ds_objects_answer
};
struct ds_indexing_failures {
  std::vector<IndexingFailure> rows;
};

namespace {

// ---- status codes: ds_status and domainsearch::Status are one list of stable values.
static_assert(DS_OK == static_cast<int>(Status::Ok));
static_assert(DS_ERR_INVALID_ARGUMENT == static_cast<int>(Status::InvalidArgument));
static_assert(DS_ERR_IO == static_cast<int>(Status::Io));
static_assert(DS_ERR_FORMAT_VERSION == static_cast<int>(Status::FormatVersion));
static_assert(DS_ERR_CORRUPT == static_cast<int>(Status::Corrupt));
static_assert(DS_ERR_MODEL_MISMATCH == static_cast<int>(Status::ModelMismatch));
static_assert(DS_ERR_DEVICE_UNAVAILABLE == static_cast<int>(Status::DeviceUnavailable));
static_assert(DS_ERR_IMAGE_DECODE == static_cast<int>(Status::ImageDecode));
static_assert(DS_ERR_IMAGE_TOO_SMALL == static_cast<int>(Status::ImageTooSmall));
static_assert(DS_ERR_IMAGE_TOO_LARGE == static_cast<int>(Status::ImageTooLarge));
static_assert(DS_ERR_NOT_FOUND == static_cast<int>(Status::NotFound));
static_assert(DS_ERR_ALREADY_EXISTS == static_cast<int>(Status::AlreadyExists));
static_assert(DS_ERR_CANCELLED == static_cast<int>(Status::Cancelled));
static_assert(DS_ERR_INTERNAL == static_cast<int>(Status::Internal));
static_assert(DS_ERR_OUT_OF_MEMORY == static_cast<int>(Status::OutOfMemory));
static_assert(DS_ERR_CONFLICT == static_cast<int>(Status::Conflict));

ds_status to_c(Status status) noexcept { return static_cast<ds_status>(status); }  // equal values, see above
Status to_cpp(ds_status status) noexcept { return static_cast<Status>(status); }

thread_local std::string g_last_error;

// Stores prefix + message as the thread's last error; if even that allocation fails the message is
// left empty (the returned status still says what went wrong).
void set_last_error(const char* prefix, const char* message) noexcept {
  try {
    g_last_error.assign(prefix).append(message);
  } catch (...) {
    g_last_error.clear();
  }
}

template <typename F>
ds_status ds_guard(F&& body) noexcept {
  try {
    body();
    g_last_error.clear();
    return DS_OK;
  } catch (const Error& e) {
    set_last_error("", e.what());
    return to_c(e.status());
  } catch (const std::bad_alloc&) {
    set_last_error("", "out of memory");
    return DS_ERR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    set_last_error("internal error: ", e.what());
    return DS_ERR_INTERNAL;
  } catch (...) {
    set_last_error("", "internal error: unknown exception");
    return DS_ERR_INTERNAL;
  }
}

void require(bool ok, const char* what) {
  if (!ok) throw Error(Status::InvalidArgument, what);
}

// ---- versioned structs (struct_size)
//
// A caller's struct may be an older, shorter version of this library's (or a newer, longer one). A
// field belongs to the caller only if it lies entirely inside the caller's struct_size: inputs read
// only those fields (the others keep the defaults of the struct's _init() function), outputs write
// only those fields. The bytes past struct_size are the caller's business and never touched.

struct Field {
  std::size_t offset, size, align;
  constexpr std::size_t end() const { return offset + size; }
};
#define DS_FIELD(S, f) Field{offsetof(S, f), sizeof(S::f), alignof(decltype(S::f))}

// Per struct: its name (for messages), every field after struct_size in declaration order and, for
// inputs, the _init() function that gives the defaults. A field appended to a struct must be appended
// to its list too (checked below).
template <typename S>
struct Layout;

template <>
struct Layout<ds_pipeline_options> {
  static constexpr const char* name = "ds_pipeline_options";
  static constexpr auto init = ds_pipeline_options_init;
  static constexpr Field fields[] = {DS_FIELD(ds_pipeline_options, config_path),  DS_FIELD(ds_pipeline_options, backbone_manifest),
                                     DS_FIELD(ds_pipeline_options, segmenter_manifest), DS_FIELD(ds_pipeline_options, device),
                                     DS_FIELD(ds_pipeline_options, threads),      DS_FIELD(ds_pipeline_options, localize),
                                     DS_FIELD(ds_pipeline_options, k)};
};
template <>
struct Layout<ds_query_options> {
  static constexpr const char* name = "ds_query_options";
  static constexpr auto init = ds_query_options_init;
  static constexpr Field fields[] = {DS_FIELD(ds_query_options, k), DS_FIELD(ds_query_options, category),
                                     DS_FIELD(ds_query_options, filter), DS_FIELD(ds_query_options, filter_user),
                                     DS_FIELD(ds_query_options, answer)};
};
template <>
struct Layout<ds_indexing_report> {
  static constexpr const char* name = "ds_indexing_report";
  static constexpr Field fields[] = {DS_FIELD(ds_indexing_report, added), DS_FIELD(ds_indexing_report, skipped_existing),
                                     DS_FIELD(ds_indexing_report, failed), DS_FIELD(ds_indexing_report, cancelled),
                                     DS_FIELD(ds_indexing_report, seconds)};
};
template <>
struct Layout<ds_training_report> {
  static constexpr const char* name = "ds_training_report";
  static constexpr Field fields[] = {DS_FIELD(ds_training_report, samples), DS_FIELD(ds_training_report, epochs),
                                     DS_FIELD(ds_training_report, best_epoch),
                                     DS_FIELD(ds_training_report, best_validation_accuracy), DS_FIELD(ds_training_report, seconds),
                                     DS_FIELD(ds_training_report, dropped)};
};
template <>
struct Layout<ds_catalogue_info> {
  static constexpr const char* name = "ds_catalogue_info";
  static constexpr Field fields[] = {DS_FIELD(ds_catalogue_info, items), DS_FIELD(ds_catalogue_info, dimension),
                                     DS_FIELD(ds_catalogue_info, categories), DS_FIELD(ds_catalogue_info, has_category_head),
                                     DS_FIELD(ds_catalogue_info, file_bytes)};
};
#undef DS_FIELD

// True when the fields follow struct_size in order and only alignment padding lies between and after
// them, so a field missing from the list (other than one hidden in padding) fails to compile.
template <typename S>
constexpr bool lists_every_field() {
  std::size_t end = sizeof(std::uint32_t);
  for (const Field& f : Layout<S>::fields) {
    if (f.offset < end || f.offset - end >= f.align) return false;
    end = f.end();
  }
  return sizeof(S) - end < alignof(S);
}
static_assert(lists_every_field<ds_pipeline_options>(), "Layout<ds_pipeline_options> misses a field");
static_assert(lists_every_field<ds_query_options>(), "Layout<ds_query_options> misses a field");
static_assert(lists_every_field<ds_indexing_report>(), "Layout<ds_indexing_report> misses a field");
static_assert(lists_every_field<ds_training_report>(), "Layout<ds_training_report> misses a field");
static_assert(lists_every_field<ds_catalogue_info>(), "Layout<ds_catalogue_info> misses a field");

// The caller's struct_size; refuses NULL and sizes too small to hold struct_size itself.
template <typename S>
std::uint32_t struct_size(const S* caller) {
  if (caller == nullptr) throw Error(Status::InvalidArgument, std::string(Layout<S>::name) + " is NULL");
  std::uint32_t size = 0;
  std::memcpy(&size, caller, sizeof size);
  if (size < sizeof size)
    throw Error(Status::InvalidArgument, std::string(Layout<S>::name) + ".struct_size is " + std::to_string(size) +
                                             "; it must be at least " + std::to_string(sizeof size) + " (call " +
                                             Layout<S>::name + "_init() first)");
  return size;
}

// Copies the fields of S that lie entirely inside the first `size` bytes from `from` to `to`.
template <typename S>
void copy_fields(void* to, const void* from, std::size_t size) noexcept {
  for (const Field& f : Layout<S>::fields)
    if (f.end() <= size)
      std::memcpy(static_cast<char*>(to) + f.offset, static_cast<const char*>(from) + f.offset, f.size);
}

// An input struct as this library's version of it: the caller's fields, the _init() defaults for the
// rest. A newer caller's struct is accepted when the fields this library does not know are all zero
// (their documented defaults), and refused otherwise, so a setting is never silently ignored.
template <typename S>
S read_struct(const S* caller) {
  const std::uint32_t size = struct_size(caller);
  const auto* bytes = reinterpret_cast<const unsigned char*>(caller);
  for (std::size_t i = sizeof(S); i < size; ++i)
    if (bytes[i] != 0)
      throw Error(Status::InvalidArgument, std::string(Layout<S>::name) + ".struct_size is " + std::to_string(size) +
                                               " and byte " + std::to_string(i) + " is set, past the " +
                                               std::to_string(sizeof(S)) + " bytes this library version knows");
  S local;
  Layout<S>::init(&local);
  copy_fields<S>(&local, caller, size);
  return local;
}

// Writes `value` into the caller's output struct: only the fields inside its struct_size (checked
// beforehand with struct_size()), never struct_size itself.
template <typename S>
void write_struct(S* caller, const S& value) noexcept {
  std::uint32_t size = 0;
  std::memcpy(&size, caller, sizeof size);
  copy_fields<S>(caller, &value, size);
}

std::string text(const char* s) { return s ? s : ""; }

PipelineConfig make_config(const ds_pipeline_options* options) {
  const ds_pipeline_options o = read_struct(options);
  PipelineConfig c = o.config_path ? PipelineConfig::load(o.config_path) : PipelineConfig{};
  if (o.backbone_manifest) c.backbone_manifest = o.backbone_manifest;
  if (o.segmenter_manifest) c.segmenter_manifest = o.segmenter_manifest;
  if (o.device) c.runtime.device = o.device;
  if (o.threads > 0) c.runtime.threads = o.threads;
  if (o.localize >= 0) c.localize = o.localize != 0;
  if (o.k > 0) c.k = o.k;
  return c;
}

QueryOptions make_query(const ds_query_options* options) {
  QueryOptions q;
  if (options == nullptr) return q;
  const ds_query_options o = read_struct(options);
  if (o.k > 0) q.k = o.k;
  q.category = text(o.category);
  if (o.filter) q.filter = [f = o.filter, u = o.filter_user](std::uint64_t key) { return f(key, u) != 0; };
  switch (o.answer) {
    case DS_ANSWER_CONFIGURED: break;
    case DS_ANSWER_ITEMS: q.one_result_per_label = true; break;
    case DS_ANSWER_PHOTOS: q.one_result_per_label = false; break;
    default:
      throw Error(Status::InvalidArgument, "ds_query_options.answer is " + std::to_string(o.answer) +
                                               "; it must be a ds_answer: DS_ANSWER_CONFIGURED (0), DS_ANSWER_ITEMS (1) or DS_ANSWER_PHOTOS (2)");
  }
  return q;
}

ProgressFn make_progress(ds_progress_fn fn, void* user) {
  if (!fn) return {};
  return [fn, user](std::size_t done, std::size_t total) { return fn(done, total, user) != 0; };
}

ImageView make_view(const ds_image* image) {
  require(image != nullptr, "ds_image is NULL");
  require(image->format >= DS_GRAY8 && image->format <= DS_BGRA8, "ds_image.format is not a ds_pixel_format");
  return ImageView{image->data, image->width, image->height, image->stride, static_cast<PixelFormat>(image->format)};
}

// Fills the caller's report (if any, its struct_size checked before the work) and, when asked for,
// its list of failed rows; a cancelled run becomes DS_ERR_CANCELLED with both filled. The list is
// allocated first, so running out of memory writes nothing.
void finish_indexing(ds_indexing_report* report, IndexingReport r, ds_indexing_failures** failures = nullptr) {
  const std::size_t failed = r.failures.size();
  if (failures) *failures = new ds_indexing_failures{std::move(r.failures)};
  if (report) {
    ds_indexing_report filled;
    ds_indexing_report_init(&filled);
    filled.added = r.added;
    filled.skipped_existing = r.skipped_existing;
    filled.failed = failed;
    filled.cancelled = r.cancelled;
    filled.seconds = r.seconds;
    write_struct(report, filled);
  }
  if (r.cancelled) throw Error(Status::Cancelled, "indexing cancelled by the progress callback after " + std::to_string(r.added) + " images");
}

void output(ds_results** out, QueryResponse response) {
  *out = new ds_results{std::move(response)};
}

// The i-th result; NotFound past the end.
const QueryResult& result_at(const ds_results& r, std::size_t i) {
  if (i >= r.response.results.size())
    throw Error(Status::NotFound, "result " + std::to_string(i) + " of " + std::to_string(r.response.results.size()));
  return r.response.results[i];
}

// The embedding dimension, checked against the caller's buffer before any work: too small is
// InvalidArgument with *dimension = the size needed (the one output written on that failure).
void check_capacity(const Pipeline& p, const float* embedding, std::size_t capacity, std::size_t* dimension) {
  const std::size_t needed = static_cast<std::size_t>(p.index().dimension());
  if (capacity < needed) {
    *dimension = needed;
    throw Error(Status::InvalidArgument, "embedding buffer of " + std::to_string(capacity) + " floats; the pipeline's embeddings have " +
                                             std::to_string(needed) + " (see *dimension)");
  }
  require(embedding != nullptr, "embedding is NULL");
}

// Runs the models on one decoded image and copies its embedding into the caller's buffer.
void embed(const Pipeline& p, const Image& image, float* embedding, std::size_t capacity, std::size_t* dimension) {
  const std::vector<ImageAnalysis> analyses = p.analyze({image});
  const std::vector<float>& v = analyses.at(0).embedding;
  if (v.size() > capacity) {  // cannot happen (the index's dimension is the backbone's), but never overrun
    *dimension = v.size();
    throw Error(Status::InvalidArgument, "embedding buffer of " + std::to_string(capacity) + " floats; the embedding has " +
                                             std::to_string(v.size()));
  }
  std::copy(v.begin(), v.end(), embedding);
  *dimension = v.size();
}

}  // namespace

extern "C" {

const char* ds_last_error(void) { return g_last_error.c_str(); }
const char* ds_status_name(ds_status status) { return domainsearch::status_name(to_cpp(status)); }
const char* ds_version_string(void) { return DS_VERSION_STRING; }
uint32_t ds_abi_version(void) { return DS_ABI_VERSION; }

void ds_pipeline_options_init(ds_pipeline_options* o) {
  if (!o) return;
  std::memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
  o->localize = -1;
}
void ds_indexing_report_init(ds_indexing_report* r) {
  if (!r) return;
  std::memset(r, 0, sizeof *r);
  r->struct_size = sizeof *r;
}
void ds_training_report_init(ds_training_report* r) {
  if (!r) return;
  std::memset(r, 0, sizeof *r);
  r->struct_size = sizeof *r;
}
void ds_query_options_init(ds_query_options* o) {
  if (!o) return;
  std::memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
}
void ds_catalogue_info_init(ds_catalogue_info* i) {
  if (!i) return;
  std::memset(i, 0, sizeof *i);
  i->struct_size = sizeof *i;
}

ds_status ds_pipeline_create(const ds_pipeline_options* options, ds_pipeline** out) {
  return ds_guard([&] {
    require(out != nullptr, "out is NULL");
    *out = new ds_pipeline{Pipeline(make_config(options))};
  });
}

ds_status ds_pipeline_open(const char* catalogue_path, const ds_pipeline_options* options, ds_pipeline** out) {
  return ds_guard([&] {
    require(out != nullptr && catalogue_path != nullptr, "catalogue_path or out is NULL");
    *out = new ds_pipeline{Pipeline::open(catalogue_path, make_config(options))};
  });
}

ds_status ds_pipeline_save(ds_pipeline* p, const char* path) {
  return ds_guard([&] {
    require(p != nullptr && path != nullptr, "pipeline or path is NULL");
    p->pipeline.save(path);
  });
}

void ds_pipeline_free(ds_pipeline* p) { delete p; }

ds_status ds_pipeline_size(const ds_pipeline* p, size_t* out) {
  return ds_guard([&] {
    require(p != nullptr && out != nullptr, "pipeline or out is NULL");
    *out = p->pipeline.index().size();
  });
}

ds_status ds_pipeline_index_csv(ds_pipeline* p, const char* csv_path, ds_progress_fn progress, void* user, ds_indexing_report* report) {
  return ds_guard([&] {
    require(p != nullptr && csv_path != nullptr, "pipeline or csv_path is NULL");
    if (report) struct_size(report);
    finish_indexing(report, p->pipeline.index_csv(csv_path, make_progress(progress, user)));
  });
}

ds_status ds_pipeline_index_folder(ds_pipeline* p, const char* folder, ds_progress_fn progress, void* user, ds_indexing_report* report) {
  return ds_guard([&] {
    require(p != nullptr && folder != nullptr, "pipeline or folder is NULL");
    if (report) struct_size(report);
    finish_indexing(report, p->pipeline.index_folder(folder, make_progress(progress, user)));
  });
}

ds_status ds_pipeline_index_csv2(ds_pipeline* p, const char* csv_path, ds_progress_fn progress, void* user, ds_indexing_report* report,
                                 ds_indexing_failures** failures) {
  return ds_guard([&] {
    require(p != nullptr && csv_path != nullptr, "pipeline or csv_path is NULL");
    if (report) struct_size(report);
    finish_indexing(report, p->pipeline.index_csv(csv_path, make_progress(progress, user)), failures);
  });
}

ds_status ds_pipeline_index_folder2(ds_pipeline* p, const char* folder, ds_progress_fn progress, void* user, ds_indexing_report* report,
                                    ds_indexing_failures** failures) {
  return ds_guard([&] {
    require(p != nullptr && folder != nullptr, "pipeline or folder is NULL");
    if (report) struct_size(report);
    finish_indexing(report, p->pipeline.index_folder(folder, make_progress(progress, user)), failures);
  });
}

size_t ds_indexing_failures_count(const ds_indexing_failures* f) { return f ? f->rows.size() : 0; }

ds_status ds_indexing_failures_get(const ds_indexing_failures* f, size_t i, const char** path, const char** reason) {
  return ds_guard([&] {
    require(f != nullptr, "failures is NULL");
    if (i >= f->rows.size())
      throw Error(Status::NotFound, "failure " + std::to_string(i) + " of " + std::to_string(f->rows.size()));
    if (path) *path = f->rows[i].path.c_str();
    if (reason) *reason = f->rows[i].reason.c_str();
  });
}

void ds_indexing_failures_free(ds_indexing_failures* f) { delete f; }

ds_status ds_key_for_path(const char* path, uint64_t* key) {
  return ds_guard([&] {
    require(path != nullptr && key != nullptr, "path or key is NULL");
    *key = Pipeline::key_for_path(path);
  });
}

ds_status ds_pipeline_add_file(ds_pipeline* p, uint64_t key, const char* path, const char* category, const char* label, int upsert) {
  return ds_guard([&] {
    require(p != nullptr && path != nullptr && category != nullptr, "pipeline, path or category is NULL");
    const Image image = p->pipeline.decode_file(path);
    if (upsert) p->pipeline.upsert(key, image, category, text(label), path);
    else p->pipeline.add(key, image, category, text(label), path);
  });
}

ds_status ds_pipeline_add_pixels(ds_pipeline* p, uint64_t key, const ds_image* image, const char* category, const char* label, int upsert) {
  return ds_guard([&] {
    require(p != nullptr && category != nullptr, "pipeline or category is NULL");
    const Image decoded = p->pipeline.from_pixels(make_view(image));
    if (upsert) p->pipeline.upsert(key, decoded, category, text(label));
    else p->pipeline.add(key, decoded, category, text(label));
  });
}

ds_status ds_pipeline_add_bytes(ds_pipeline* p, uint64_t key, const uint8_t* data, size_t size, const char* category, const char* label,
                                int upsert) {
  return ds_guard([&] {
    require(p != nullptr && data != nullptr && category != nullptr, "pipeline, data or category is NULL");
    const Image decoded = p->pipeline.decode_bytes(data, size);
    if (upsert) p->pipeline.upsert(key, decoded, category, text(label));
    else p->pipeline.add(key, decoded, category, text(label));
  });
}

ds_status ds_pipeline_untrained_categories(const ds_pipeline* p, size_t* count) {
  return ds_guard([&] {
    require(p != nullptr && count != nullptr, "pipeline or count is NULL");
    *count = p->pipeline.untrained_categories().size();
  });
}

ds_status ds_pipeline_remove(ds_pipeline* p, uint64_t key) {
  return ds_guard([&] {
    require(p != nullptr, "pipeline is NULL");
    p->pipeline.remove(key);
  });
}

namespace {

void finish_training(ds_training_report* report, const TrainingReport& t) {
  if (!report) return;
  ds_training_report filled;
  ds_training_report_init(&filled);
  filled.samples = t.samples;
  filled.epochs = t.epochs;
  filled.best_epoch = t.best_epoch;
  filled.best_validation_accuracy = t.best_validation_accuracy;
  filled.seconds = t.seconds;
  filled.dropped = t.dropped;
  write_struct(report, filled);
}

TrainingProgressFn make_training_progress(ds_training_progress_fn progress, void* user) {
  if (!progress) return {};
  return [progress, user](const TrainingProgress& t) {
    const ds_training_progress now{t.stage.c_str(), t.epoch, t.epochs, t.done, t.total, t.loss, t.eta_seconds};
    return progress(&now, user) != 0;
  };
}

}  // namespace

ds_status ds_pipeline_train(ds_pipeline* p, ds_training_report* report) {
  return ds_guard([&] {
    require(p != nullptr, "pipeline is NULL");
    if (report) struct_size(report);
    finish_training(report, p->pipeline.train_categories());
  });
}

ds_status ds_pipeline_fine_tune(ds_pipeline* p, const char* csv_path, ds_training_progress_fn progress, void* user, ds_training_report* report) {
  return ds_guard([&] {
    require(p != nullptr, "pipeline is NULL");
    if (report) struct_size(report);
    const std::vector<CatalogueEntry> photos = csv_path ? read_catalogue_csv(csv_path) : std::vector<CatalogueEntry>{};
    finish_training(report, training_summary(p->pipeline.fine_tune(photos, make_training_progress(progress, user))));
  });
}

ds_status ds_pipeline_is_fine_tuned(const ds_pipeline* p, int* out) {
  return ds_guard([&] {
    require(p != nullptr && out != nullptr, "pipeline or out is NULL");
    *out = p->pipeline.is_fine_tuned() ? 1 : 0;
  });
}

ds_status ds_pipeline_query_file(const ds_pipeline* p, const char* path, const ds_query_options* options, ds_results** out) {
  return ds_guard([&] {
    require(p != nullptr && path != nullptr && out != nullptr, "pipeline, path or out is NULL");
    output(out, p->pipeline.query_file(path, make_query(options)));
  });
}

ds_status ds_pipeline_query_bytes(const ds_pipeline* p, const uint8_t* data, size_t size, const ds_query_options* options, ds_results** out) {
  return ds_guard([&] {
    require(p != nullptr && out != nullptr, "pipeline or out is NULL");
    output(out, p->pipeline.query_bytes(data, size, make_query(options)));
  });
}

ds_status ds_pipeline_query_pixels(const ds_pipeline* p, const ds_image* image, const ds_query_options* options, ds_results** out) {
  return ds_guard([&] {
    require(p != nullptr && out != nullptr, "pipeline or out is NULL");
    output(out, p->pipeline.query(p->pipeline.from_pixels(make_view(image)), make_query(options)));
  });
}

ds_status ds_pipeline_query_key(const ds_pipeline* p, uint64_t key, const ds_query_options* options, ds_results** out) {
  return ds_guard([&] {
    require(p != nullptr && out != nullptr, "pipeline or out is NULL");
    output(out, p->pipeline.query_key(key, make_query(options)));
  });
}

ds_status ds_pipeline_query_files(const ds_pipeline* p, const char* const* paths, size_t count, const ds_query_options* options, ds_results** out) {
  return ds_guard([&] {
    require(p != nullptr && out != nullptr && (paths != nullptr || count == 0), "pipeline, paths or out is NULL");
    const QueryOptions query = make_query(options);
    std::vector<Image> images;
    for (size_t i = 0; i < count; ++i) {
      require(paths[i] != nullptr, ("paths[" + std::to_string(i) + "] is NULL").c_str());
      images.push_back(p->pipeline.decode_file(paths[i]));
    }
    std::vector<QueryResponse> responses = p->pipeline.query_batch(images, query);
    std::vector<std::unique_ptr<ds_results>> handles;
    handles.reserve(count);
    for (QueryResponse& response : responses) handles.push_back(std::make_unique<ds_results>(ds_results{std::move(response)}));
    for (size_t i = 0; i < handles.size(); ++i) out[i] = handles[i].release();  // publish only once nothing can fail
  });
}

ds_status ds_pipeline_dimension(const ds_pipeline* p, size_t* dimension) {
  return ds_guard([&] {
    require(p != nullptr && dimension != nullptr, "pipeline or dimension is NULL");
    *dimension = static_cast<size_t>(p->pipeline.index().dimension());
  });
}

ds_status ds_pipeline_embed_file(const ds_pipeline* p, const char* path, float* embedding, size_t capacity, size_t* dimension) {
  return ds_guard([&] {
    require(p != nullptr && path != nullptr && dimension != nullptr, "pipeline, path or dimension is NULL");
    check_capacity(p->pipeline, embedding, capacity, dimension);
    embed(p->pipeline, p->pipeline.decode_file(path), embedding, capacity, dimension);
  });
}

ds_status ds_pipeline_embed_bytes(const ds_pipeline* p, const uint8_t* data, size_t size, float* embedding, size_t capacity,
                                  size_t* dimension) {
  return ds_guard([&] {
    require(p != nullptr && data != nullptr && dimension != nullptr, "pipeline, data or dimension is NULL");
    check_capacity(p->pipeline, embedding, capacity, dimension);
    embed(p->pipeline, p->pipeline.decode_bytes(data, size), embedding, capacity, dimension);
  });
}

ds_status ds_pipeline_embed_pixels(const ds_pipeline* p, const ds_image* image, float* embedding, size_t capacity, size_t* dimension) {
  return ds_guard([&] {
    require(p != nullptr && dimension != nullptr, "pipeline or dimension is NULL");
    const ImageView view = make_view(image);  // a NULL image is refused before the buffer is looked at
    check_capacity(p->pipeline, embedding, capacity, dimension);
    embed(p->pipeline, p->pipeline.from_pixels(view), embedding, capacity, dimension);
  });
}

size_t ds_results_count(const ds_results* r) { return r ? r->response.results.size() : 0; }

ds_status ds_results_get(const ds_results* r, size_t i, ds_result* out) {
  return ds_guard([&] {
    require(r != nullptr && out != nullptr, "results or out is NULL");
    const QueryResult& q = result_at(*r, i);
    *out = ds_result{q.key, q.distance, q.iou, q.score, q.label.c_str(), q.category.c_str(), q.source.c_str()};
  });
}

ds_status ds_results_copy(const ds_results* r, uint64_t* keys, float* distances, size_t capacity) {
  return ds_guard([&] {
    require(r != nullptr && (capacity == 0 || (keys != nullptr && distances != nullptr)), "results or buffers are NULL");
    const auto& hits = r->response.results;
    for (size_t i = 0; i < capacity; ++i) {
      keys[i] = i < hits.size() ? hits[i].key : DS_KEY_NONE;
      distances[i] = i < hits.size() ? hits[i].distance : std::numeric_limits<float>::infinity();
    }
  });
}

ds_status ds_results_predicted(const ds_results* r, size_t i, const char** category, float* probability) {
  return ds_guard([&] {
    require(r != nullptr && category != nullptr, "results or category is NULL");
    if (i >= r->response.predicted.size()) throw Error(Status::NotFound, "no predicted category " + std::to_string(i));
    *category = r->response.predicted[i].category.c_str();
    if (probability) *probability = r->response.predicted[i].probability;
  });
}

ds_status ds_results_timings(const ds_results* r, ds_timings* out) {
  return ds_guard([&] {
    require(r != nullptr && out != nullptr, "results or out is NULL");
    const StageTimings& t = r->response.timings;
    *out = ds_timings{t.decode_ms, t.localize_ms, t.embed_ms, t.categorize_ms, t.search_ms, t.rerank_ms, t.total_ms};
  });
}

ds_status ds_results_match_probability(const ds_results* r, size_t i, float* out) {
  return ds_guard([&] {
    require(r != nullptr && out != nullptr, "results or out is NULL");
    *out = result_at(*r, i).match_probability;
  });
}

ds_status ds_results_photos(const ds_results* r, size_t i, uint64_t* keys, float* distances, size_t capacity, size_t* count) {
  return ds_guard([&] {
    require(r != nullptr && count != nullptr && (capacity == 0 || (keys != nullptr && distances != nullptr)),
            "results, count or buffers are NULL");
    const std::vector<ItemPhoto>& photos = result_at(*r, i).photos;
    for (size_t j = 0; j < capacity; ++j) {
      keys[j] = j < photos.size() ? photos[j].key : DS_KEY_NONE;
      distances[j] = j < photos.size() ? photos[j].distance : std::numeric_limits<float>::infinity();
    }
    *count = photos.size();
  });
}

ds_status ds_results_confidence(const ds_results* r, float* out) {
  return ds_guard([&] {
    require(r != nullptr && out != nullptr, "results or out is NULL");
    *out = r->response.confidence;
  });
}

ds_status ds_results_no_match(const ds_results* r, int* out) {
  return ds_guard([&] {
    require(r != nullptr && out != nullptr, "results or out is NULL");
    *out = r->response.no_match ? 1 : 0;
  });
}

void ds_results_free(ds_results* r) { delete r; }

namespace {

ObjectQueryOptions make_object_query(const ds_query_options* query, int crop) {
  require(crop == DS_CROP_CUTOUT || crop == DS_CROP_BOX, "crop is not a ds_object_crop");
  ObjectQueryOptions o;
  o.query = make_query(query);
  o.crop = crop == DS_CROP_BOX ? ObjectCrop::Box : ObjectCrop::Cutout;
  return o;
}

void output(ds_objects** out, ObjectsResponse response) {
  auto objects = std::make_unique<ds_objects>();
  for (FoundObject& o : response.objects) objects->answers.push_back(ds_results{std::move(o.answer)});
  objects->response = std::move(response);
  *out = objects.release();
}

const FoundObject& object_at(const ds_objects& o, std::size_t i) {
  if (i >= o.response.objects.size())
    throw Error(Status::NotFound, "object " + std::to_string(i) + " of " + std::to_string(o.response.objects.size()));
  return o.response.objects[i];
}

}  // namespace

ds_status ds_pipeline_query_objects_file(const ds_pipeline* p, const char* path, const ds_query_options* query, int crop, ds_objects** out) {
  return ds_guard([&] {
    require(p != nullptr && path != nullptr && out != nullptr, "pipeline, path or out is NULL");
    output(out, p->pipeline.query_objects_file(path, make_object_query(query, crop)));
  });
}

ds_status ds_pipeline_query_objects_pixels(const ds_pipeline* p, const ds_image* image, const ds_query_options* query, int crop,
                                           ds_objects** out) {
  return ds_guard([&] {
    require(p != nullptr && out != nullptr, "pipeline or out is NULL");
    const ObjectQueryOptions options = make_object_query(query, crop);
    output(out, p->pipeline.query_objects(p->pipeline.from_pixels(make_view(image)), options));
  });
}

size_t ds_objects_count(const ds_objects* o) { return o ? o->response.objects.size() : 0; }

ds_status ds_objects_box(const ds_objects* o, size_t i, int32_t box[4]) {
  return ds_guard([&] {
    require(o != nullptr && box != nullptr, "objects or box is NULL");
    const BoundingBox& b = object_at(*o, i).box;
    box[0] = b.x, box[1] = b.y, box[2] = b.width, box[3] = b.height;
  });
}

ds_status ds_objects_answer(const ds_objects* o, size_t i, const ds_results** out) {
  return ds_guard([&] {
    require(o != nullptr && out != nullptr, "objects or out is NULL");
    object_at(*o, i);  // NotFound past the end
    *out = &o->answers[i];
  });
}

size_t ds_objects_item_count(const ds_objects* o) { return o ? o->response.items.size() : 0; }

ds_status ds_objects_item(const ds_objects* o, size_t i, const char** label, const char** category, size_t* count) {
  return ds_guard([&] {
    require(o != nullptr && label != nullptr, "objects or label is NULL");
    if (i >= o->response.items.size()) throw Error(Status::NotFound, "item " + std::to_string(i) + " of " + std::to_string(o->response.items.size()));
    const ItemCount& c = o->response.items[i];
    *label = c.label.c_str();
    if (category) *category = c.category.c_str();
    if (count) *count = c.count;
  });
}

size_t ds_objects_unmatched(const ds_objects* o) { return o ? o->response.unmatched : 0; }

void ds_objects_free(ds_objects* o) { delete o; }

ds_status ds_index_create(int dimension, ds_index** out) {
  return ds_guard([&] {
    require(out != nullptr, "out is NULL");
    *out = new ds_index{Index(dimension)};
  });
}

ds_status ds_index_load(const char* path, ds_index** out) {
  return ds_guard([&] {
    require(path != nullptr && out != nullptr, "path or out is NULL");
    *out = new ds_index{Index::load(path)};
  });
}

ds_status ds_index_save(ds_index* index, const char* path) {
  return ds_guard([&] {
    require(index != nullptr && path != nullptr, "index or path is NULL");
    index->index.save(path);
  });
}

void ds_index_free(ds_index* index) { delete index; }

ds_status ds_index_add_category(ds_index* index, const char* name, int32_t* id) {
  return ds_guard([&] {
    require(index != nullptr && name != nullptr && id != nullptr, "index, name or id is NULL");
    *id = index->index.add_category(name);
  });
}

ds_status ds_index_add(ds_index* index, size_t count, const uint64_t* keys, const int32_t* categories, const float* embeddings,
                       const char* const* labels) {
  return ds_guard([&] {
    require(index != nullptr, "index is NULL");
    std::vector<std::string> owned;
    if (labels)
      for (size_t i = 0; i < count; ++i) owned.push_back(text(labels[i]));
    index->index.add_batch(ItemBatch{count, keys, categories, embeddings, labels ? owned.data() : nullptr, nullptr});
  });
}

ds_status ds_index_remove(ds_index* index, uint64_t key) {
  return ds_guard([&] {
    require(index != nullptr, "index is NULL");
    index->index.remove(key);
  });
}

ds_status ds_index_contains(const ds_index* index, uint64_t key, int* out) {
  return ds_guard([&] {
    require(index != nullptr && out != nullptr, "index or out is NULL");
    *out = index->index.contains(key) ? 1 : 0;
  });
}

ds_status ds_index_size(const ds_index* index, size_t* out) {
  return ds_guard([&] {
    require(index != nullptr && out != nullptr, "index or out is NULL");
    *out = index->index.size();
  });
}

ds_status ds_index_search(const ds_index* index, const float* queries, size_t count, size_t k, const int32_t* categories,
                          size_t category_count, ds_key_filter_fn filter, void* filter_user, uint64_t* keys, float* distances,
                          size_t* counts) {
  return ds_guard([&] {
    require(index != nullptr && queries != nullptr && keys != nullptr && distances != nullptr, "index, queries or output buffers are NULL");
    require(category_count == 0 || categories != nullptr, "categories is NULL but category_count is not 0");
    // The caller's buffers hold count x k entries: a k for which they cannot exist (e.g. SIZE_MAX) is a
    // wrong argument, refused before anything is written. A k above the index's size is fine: the
    // search lists the whole index (it never reserves k results) and the rest is padding.
    if (count != 0 && k > std::numeric_limits<size_t>::max() / sizeof(uint64_t) / count)
      throw Error(Status::InvalidArgument, "ds_index_search: k = " + std::to_string(k) + " for " + std::to_string(count) +
                                               " queries: buffers of count x k keys cannot exist; k is the number of entries per query in "
                                               "keys and distances (a k above the index's size lists the whole index, padded)");
    const std::vector<std::int32_t> cats(categories, categories + category_count);
    KeyFilter f;
    if (filter) f = [filter, filter_user](std::uint64_t key) { return filter(key, filter_user) != 0; };
    const auto results = index->index.search_batch(queries, count, k, cats, f);
    for (size_t q = 0; q < count; ++q) {
      for (size_t j = 0; j < k; ++j) {
        const bool hit = j < results[q].size();
        keys[q * k + j] = hit ? results[q][j].key : DS_KEY_NONE;
        distances[q * k + j] = hit ? results[q][j].distance : std::numeric_limits<float>::infinity();
      }
      if (counts) counts[q] = results[q].size();
    }
  });
}

ds_status ds_catalogue_inspect(const char* path, ds_catalogue_info* info) {
  return ds_guard([&] {
    require(path != nullptr, "path is NULL");
    struct_size(info);
    const CatalogueInfo c = Pipeline::inspect(path);
    ds_catalogue_info filled;
    ds_catalogue_info_init(&filled);
    filled.items = c.items;
    filled.dimension = c.dimension;
    filled.categories = c.categories.size();
    filled.has_category_head = c.has_category_head;
    filled.file_bytes = c.file_bytes;
    write_struct(info, filled);
  });
}

}  // extern "C"
