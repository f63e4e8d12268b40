// The C ABI over the C++ API. Every entry point runs inside ds_guard(), which maps exceptions to a
// ds_status and the thread-local last-error message (faiss's CATCH_AND_HANDLE).
#include "domainsearch.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <string>

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

namespace {

thread_local std::string g_last_error;

template <typename F>
ds_status ds_guard(F&& body) noexcept {
  try {
    body();
    g_last_error.clear();
    return DS_OK;
  } catch (const Error& e) {
    g_last_error = e.what();
    return static_cast<ds_status>(e.status());
  } catch (const std::bad_alloc&) {
    g_last_error = "out of memory";
    return DS_ERR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    g_last_error = std::string("internal error: ") + e.what();
    return DS_ERR_INTERNAL;
  } catch (...) {
    g_last_error = "internal error: unknown exception";
    return DS_ERR_INTERNAL;
  }
}

void require(bool ok, const char* what) {
  if (!ok) throw Error(Status::InvalidArgument, what);
}

template <typename T>
void check_struct(const T* s, const char* name) {
  require(s != nullptr, (std::string(name) + " is NULL").c_str());
  if (s->struct_size < sizeof(std::uint32_t) || s->struct_size > sizeof(T))
    throw Error(Status::InvalidArgument, std::string(name) + ".struct_size is " + std::to_string(s->struct_size) +
                                             "; call its _init() function first");
}

std::string text(const char* s) { return s ? s : ""; }

PipelineConfig make_config(const ds_pipeline_options* o) {
  check_struct(o, "ds_pipeline_options");
  PipelineConfig c = o->config_path ? PipelineConfig::load(o->config_path) : PipelineConfig{};
  if (o->backbone_manifest) c.backbone_manifest = o->backbone_manifest;
  if (o->segmenter_manifest) c.segmenter_manifest = o->segmenter_manifest;
  if (o->device) c.runtime.device = o->device;
  if (o->threads > 0) c.runtime.threads = o->threads;
  if (o->localize >= 0) c.localize = o->localize != 0;
  if (o->k > 0) c.k = o->k;
  return c;
}

QueryOptions make_query(const ds_query_options* o) {
  QueryOptions q;
  if (o == nullptr) return q;
  check_struct(o, "ds_query_options");
  if (o->k > 0) q.k = o->k;
  q.category = text(o->category);
  if (o->filter) q.filter = [f = o->filter, u = o->filter_user](std::uint64_t key) { return f(key, u) != 0; };
  return q;
}

ProgressFn make_progress(ds_progress_fn fn, void* user) {
  if (!fn) return {};
  return [fn, user](std::size_t done, std::size_t total) { return fn(done, total, user) == 0; };
}

ImageView make_view(const ds_image* image) {
  require(image != nullptr, "ds_image is NULL");
  require(image->format >= DS_GRAY8 && image->format <= DS_BGRA8, "ds_image.format is not a ds_pixel_format");
  return ImageView{image->data, image->width, image->height, image->stride, static_cast<PixelFormat>(image->format)};
}

// Fills the caller's report (if any); a cancelled run becomes DS_ERR_CANCELLED with the report filled.
void finish_indexing(ds_indexing_report* report, const IndexingReport& r) {
  if (report) {
    report->added = r.added;
    report->skipped_existing = r.skipped_existing;
    report->failed = r.failures.size();
    report->cancelled = r.cancelled;
    report->seconds = r.seconds;
  }
  if (r.cancelled) throw Error(Status::Cancelled, "indexing cancelled by the progress callback after " + std::to_string(r.added) + " images");
}

void output(ds_results** out, QueryResponse response) {
  *out = new ds_results{std::move(response)};
}

}  // namespace

extern "C" {

const char* ds_last_error(void) { return g_last_error.c_str(); }
const char* ds_status_name(ds_status status) { return domainsearch::status_name(static_cast<Status>(status)); }
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

ds_status ds_pipeline_save(const ds_pipeline* p, const char* path) {
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
    if (report) check_struct(report, "ds_indexing_report");
    finish_indexing(report, p->pipeline.index_csv(csv_path, make_progress(progress, user)));
  });
}

ds_status ds_pipeline_index_folder(ds_pipeline* p, const char* folder, ds_progress_fn progress, void* user, ds_indexing_report* report) {
  return ds_guard([&] {
    require(p != nullptr && folder != nullptr, "pipeline or folder is NULL");
    if (report) check_struct(report, "ds_indexing_report");
    finish_indexing(report, p->pipeline.index_folder(folder, make_progress(progress, user)));
  });
}

ds_status ds_pipeline_add_file(ds_pipeline* p, uint64_t key, const char* path, const char* category, const char* label, int upsert) {
  return ds_guard([&] {
    require(p != nullptr && path != nullptr && category != nullptr, "pipeline, path or category is NULL");
    const Image image = Image::decode_file(path, p->pipeline.config().decode);
    if (upsert) p->pipeline.upsert(key, image, category, text(label), path);
    else p->pipeline.add(key, image, category, text(label), path);
  });
}

ds_status ds_pipeline_add_pixels(ds_pipeline* p, uint64_t key, const ds_image* image, const char* category, const char* label, int upsert) {
  return ds_guard([&] {
    require(p != nullptr && category != nullptr, "pipeline or category is NULL");
    const Image decoded = Image::from_pixels(make_view(image), p->pipeline.config().decode);
    if (upsert) p->pipeline.upsert(key, decoded, category, text(label));
    else p->pipeline.add(key, decoded, category, text(label));
  });
}

ds_status ds_pipeline_remove(ds_pipeline* p, uint64_t key) {
  return ds_guard([&] {
    require(p != nullptr, "pipeline is NULL");
    p->pipeline.remove(key);
  });
}

ds_status ds_pipeline_train(ds_pipeline* p, ds_training_report* report) {
  return ds_guard([&] {
    require(p != nullptr, "pipeline is NULL");
    if (report) check_struct(report, "ds_training_report");
    const TrainingReport t = p->pipeline.train_categories();
    if (report) {
      report->samples = t.samples;
      report->epochs = t.epochs;
      report->best_epoch = t.best_epoch;
      report->best_validation_accuracy = t.best_validation_accuracy;
      report->seconds = t.seconds;
    }
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
    output(out, p->pipeline.query(Image::from_pixels(make_view(image), p->pipeline.config().decode), make_query(options)));
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
    std::vector<Image> images;
    for (size_t i = 0; i < count; ++i) {
      require(paths[i] != nullptr, "a path is NULL");
      images.push_back(Image::decode_file(paths[i], p->pipeline.config().decode));
    }
    std::vector<QueryResponse> responses = p->pipeline.query_batch(images, make_query(options));
    for (size_t i = 0; i < count; ++i) out[i] = new ds_results{std::move(responses[i])};
  });
}

size_t ds_results_count(const ds_results* r) { return r ? r->response.results.size() : 0; }

ds_status ds_results_get(const ds_results* r, size_t i, ds_result* out) {
  return ds_guard([&] {
    require(r != nullptr && out != nullptr, "results or out is NULL");
    if (i >= r->response.results.size())
      throw Error(Status::NotFound, "result " + std::to_string(i) + " of " + std::to_string(r->response.results.size()));
    const QueryResult& q = r->response.results[i];
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

void ds_results_free(ds_results* r) { delete r; }

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

ds_status ds_index_save(const ds_index* index, const char* path) {
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
    check_struct(info, "ds_catalogue_info");
    const CatalogueInfo c = Pipeline::inspect(path);
    info->items = c.items;
    info->dimension = c.dimension;
    info->categories = c.categories.size();
    info->has_category_head = c.has_category_head;
    info->file_bytes = c.file_bytes;
  });
}

}  // extern "C"
