/* libdomainsearch flat C ABI (C99 and C++).
 *
 * Self-contained: needs only this header and the C standard headers (pkg-config: `domainsearch`).
 *
 * Conventions (faiss c_api, usearch, onnxruntime):
 *  - Typed opaque handles: ds_pipeline, ds_index, ds_results, ds_indexing_failures. Create with
 *    *_create/_open/_load (or receive one from a call), release with *_free; every *_free accepts NULL.
 *  - Every function that can fail returns a ds_status (0 = DS_OK). On failure nothing is written to the
 *    output parameters (the exceptions: a cancelled ds_pipeline_index_* fills its report, and its
 *    failures for the *2 forms; a ds_pipeline_embed_* whose buffer is too small writes the dimension) and
 *    ds_last_error() holds a message naming the file, key or value at fault; the message is
 *    thread-local and valid until the next call on the same thread. No C++ exception ever crosses this
 *    boundary; an allocation failure is DS_ERR_OUT_OF_MEMORY.
 *  - Versioned structs (options and reports) start with `uint32_t struct_size`, the size in bytes of
 *    the caller's struct; call the matching *_init() first, which sets it to sizeof and every field to
 *    its default. Fields are only ever appended, so a program built against an older header passes a
 *    shorter struct, and that is accepted: a field that does not lie entirely inside struct_size is
 *    neither read nor written; an absent input field takes the default its *_init() gives (documented
 *    at the field), an absent output field is simply not reported. The bytes past struct_size are never
 *    touched. A struct_size below 4 (struct_size itself) is refused with DS_ERR_INVALID_ARGUMENT. A
 *    longer struct (a program built against a newer header) is accepted as long as the input fields
 *    this library does not know are zero, and refused with DS_ERR_INVALID_ARGUMENT otherwise; output
 *    fields this library does not know are left as they are.
 *  - Hot paths write into caller-owned buffers; unused result slots are padded with DS_KEY_NONE and
 *    +infinity.
 *  - Strings are UTF-8; paths are UTF-8 file names.
 *  - Thread-safety: queries and searches on one handle may run concurrently; mutations (add, remove,
 *    train, index_*) are serialised internally and wait for running queries.
 * Values of ds_status are stable and never reused; functions and enum values are only appended. */
#ifndef DOMAINSEARCH_H
#define DOMAINSEARCH_H

#include <stddef.h>
#include <stdint.h>

/* DS_C_API marks the functions libdomainsearch_c exports (built with hidden visibility otherwise). */
#ifndef DS_C_API
#if defined(_WIN32) || defined(__CYGWIN__)
#ifdef domainsearch_c_EXPORTS /* defined by CMake while building the shared library */
#define DS_C_API __declspec(dllexport)
#else
#define DS_C_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) || defined(__clang__)
#define DS_C_API __attribute__((visibility("default")))
#else
#define DS_C_API
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* 2: ds_progress_fn returns nonzero to continue (in version 1, nonzero cancelled), as every other
 * progress callback of the library, C++ and Python do. Later in version 2 (added, no call changed):
 * a query answers with items by default (one result per label: the configuration's
 * "one_result_per_label" now defaults to true), ds_query_options.answer (DS_ANSWER_PHOTOS lists photos
 * as before), ds_results_photos and ds_results_confidence; several products in one photo:
 * ds_pipeline_query_objects_file/_pixels and the ds_objects calls. */
#define DS_ABI_VERSION 2
#define DS_KEY_NONE UINT64_MAX

#if defined(__GNUC__) || defined(__clang__)
#define DS_NODISCARD __attribute__((warn_unused_result))
#else
#define DS_NODISCARD
#endif

typedef enum ds_status {
  DS_OK = 0,
  DS_ERR_INVALID_ARGUMENT = 1,
  DS_ERR_IO = 2,
  DS_ERR_FORMAT_VERSION = 3,
  DS_ERR_CORRUPT = 4,
  DS_ERR_MODEL_MISMATCH = 5,
  DS_ERR_DEVICE_UNAVAILABLE = 6,
  DS_ERR_IMAGE_DECODE = 7,
  DS_ERR_IMAGE_TOO_SMALL = 8,
  DS_ERR_IMAGE_TOO_LARGE = 9,
  DS_ERR_NOT_FOUND = 10,
  DS_ERR_ALREADY_EXISTS = 11,
  DS_ERR_CANCELLED = 12,
  DS_ERR_INTERNAL = 13,
  DS_ERR_OUT_OF_MEMORY = 14,
  DS_ERR_CONFLICT = 15 /* the file changed since it was opened (another writer saved it); reopen and retry */
} ds_status;

typedef enum ds_pixel_format { DS_GRAY8 = 0, DS_RGB8 = 1, DS_BGR8 = 2, DS_RGBA8 = 3, DS_BGRA8 = 4 } ds_pixel_format;

typedef struct ds_pipeline ds_pipeline;
typedef struct ds_index ds_index;
typedef struct ds_results ds_results;
typedef struct ds_indexing_failures ds_indexing_failures;

/** Progress of long work; return nonzero to continue, 0 to cancel (what is done so far stays), like
 *  ds_training_progress_fn, C++'s ProgressFn and Python's callbacks (ABI version 1 had it inverted). */
typedef int (*ds_progress_fn)(size_t done, size_t total, void* user);
/** Returns nonzero for keys that may appear in results. */
typedef int (*ds_key_filter_fn)(uint64_t key, void* user);

/* ---- library */
DS_C_API const char* ds_last_error(void);
/** Short stable name of a status, e.g. "ImageDecode" for DS_ERR_IMAGE_DECODE; "Unknown" for a value
 *  this library version does not define. Static storage. */
DS_C_API const char* ds_status_name(ds_status status);
DS_C_API const char* ds_version_string(void);
DS_C_API uint32_t ds_abi_version(void);

/* ---- images (caller-owned raw pixels) */
typedef struct ds_image {
  const uint8_t* data;
  int width;
  int height;
  size_t stride; /* bytes between row starts */
  ds_pixel_format format;
} ds_image;

/* ---- pipeline */
/* Versioned input struct (see struct_size above); every field of ABI version 1 is optional. */
typedef struct ds_pipeline_options {
  uint32_t struct_size;           /* bytes of the caller's struct, at least 4 */
  const char* config_path;        /* JSON configuration (examples/configs); NULL (default): built-in defaults */
  const char* backbone_manifest;  /* overrides the configuration's when not NULL (default NULL) */
  const char* segmenter_manifest; /* overrides the configuration's when not NULL (default NULL) */
  const char* device;             /* "cpu", "cuda", "cuda:N", "auto"; NULL (default): the configuration's */
  int threads;                    /* > 0: overrides the configuration's "threads" (process-wide) */
  int localize;                   /* -1 (default): the configuration's, 0: off, 1: on */
  size_t k;                       /* results per query; 0 (default): the configuration's */
} ds_pipeline_options;
/** Sets struct_size to sizeof(ds_pipeline_options) and every field to its default. */
DS_C_API void ds_pipeline_options_init(ds_pipeline_options* options);

DS_C_API DS_NODISCARD ds_status ds_pipeline_create(const ds_pipeline_options* options, ds_pipeline** out);
/** Opens a saved catalogue; its model fingerprints must match the configured models (DS_ERR_MODEL_MISMATCH). */
DS_C_API DS_NODISCARD ds_status ds_pipeline_open(const char* catalogue_path, const ds_pipeline_options* options, ds_pipeline** out);
/** Writes the catalogue atomically (README "Reliability"). Over the file it was opened from or last saved
 * to: DS_ERR_CONFLICT when another writer replaced that file meanwhile (nothing written: reopen and reapply).
 * DS_ERR_IO when the path names something other than a regular file (a device, FIFO or socket is never
 * replaced). */
DS_C_API DS_NODISCARD ds_status ds_pipeline_save(ds_pipeline* pipeline, const char* path);
DS_C_API void ds_pipeline_free(ds_pipeline* pipeline);
DS_C_API DS_NODISCARD ds_status ds_pipeline_size(const ds_pipeline* pipeline, size_t* out);

/* Versioned output struct (see struct_size above): only the fields inside struct_size are written. */
typedef struct ds_indexing_report {
  uint32_t struct_size; /* bytes of the caller's struct, at least 4 */
  size_t added;
  size_t skipped_existing;
  size_t failed;
  int cancelled;
  double seconds;
} ds_indexing_report;
/** Sets struct_size to sizeof(ds_indexing_report) and every field to 0. */
DS_C_API void ds_indexing_report_init(ds_indexing_report* report);

/** Indexes a CSV (columns path,label,category) or a folder (one sub-folder per category). Unreadable
 *  images are counted in report->failed and skipped; a cancelled run returns DS_ERR_CANCELLED with the
 *  report filled. `progress` and `report` may be NULL. */
DS_C_API DS_NODISCARD ds_status ds_pipeline_index_csv(ds_pipeline* pipeline, const char* csv_path, ds_progress_fn progress,
                                                      void* user, ds_indexing_report* report);
DS_C_API DS_NODISCARD ds_status ds_pipeline_index_folder(ds_pipeline* pipeline, const char* folder, ds_progress_fn progress,
                                                         void* user, ds_indexing_report* report);
/** As ds_pipeline_index_csv and ds_pipeline_index_folder, and, when `failures` is not NULL, *failures
 *  receives the rows that were not indexed (ds_indexing_failures_*; report->failed of them), which the
 *  caller releases with ds_indexing_failures_free. *failures is set on DS_OK (an empty list when every row
 *  was indexed) and on DS_ERR_CANCELLED (the rows failed before the cancel); on any other error the call
 *  indexed nothing and *failures is untouched. Thread-safety as ds_pipeline_index_csv. */
DS_C_API DS_NODISCARD ds_status ds_pipeline_index_csv2(ds_pipeline* pipeline, const char* csv_path, ds_progress_fn progress,
                                                       void* user, ds_indexing_report* report, ds_indexing_failures** failures);
DS_C_API DS_NODISCARD ds_status ds_pipeline_index_folder2(ds_pipeline* pipeline, const char* folder, ds_progress_fn progress,
                                                          void* user, ds_indexing_report* report, ds_indexing_failures** failures);
/** Number of failed rows; 0 for NULL. */
DS_C_API size_t ds_indexing_failures_count(const ds_indexing_failures* failures);
/** The i-th failed row (in no guaranteed order): *path = the image path as indexing saw it (for a CSV,
 *  the row's path joined to the CSV's folder), *reason = why it was skipped (the decoder's or the
 *  model's message, or e.g. "no category given"). Either output may be NULL. The strings are owned by
 *  `failures` and valid until ds_indexing_failures_free. DS_ERR_NOT_FOUND past the end. The handle is
 *  immutable: any thread may read it. */
DS_C_API DS_NODISCARD ds_status ds_indexing_failures_get(const ds_indexing_failures* failures, size_t i, const char** path,
                                                         const char** reason);
DS_C_API void ds_indexing_failures_free(ds_indexing_failures* failures);
/** *key = the key a batch index gives a row that names none, as C++ Pipeline::key_for_path: a 64-bit
 *  FNV-1a-style hash of `path`'s bytes (h = 1469598103934665603; for each byte h = (h ^ byte) *
 *  1099511628211 mod 2^64; the offset basis differs from FNV's, and stays: catalogues are keyed by it).
 *  Pass the path as indexing saw it (ds_indexing_failures_get): for a CSV the row's path joined to the
 *  CSV's folder (lexically normalised), for a folder FOLDER/CATEGORY/FILE as given. This function does
 *  not normalise: "a/b.jpg" and "./a/b.jpg" give different keys. Pure and thread-safe, no pipeline
 *  needed; DS_ERR_INVALID_ARGUMENT for a NULL argument. The rare path hashing to DS_KEY_NONE gets no
 *  key: indexing reports its row as failed. */
DS_C_API DS_NODISCARD ds_status ds_key_for_path(const char* path, uint64_t* key);
/** Adds (upsert = 0) or replaces (upsert = 1) one image given by path, encoded bytes or pixels. Any key
 *  but DS_KEY_NONE, which results are padded with (DS_ERR_INVALID_ARGUMENT). Category, label and path must
 *  be UTF-8 (DS_ERR_INVALID_ARGUMENT otherwise; a batch index reports such a row as failed). */
DS_C_API DS_NODISCARD ds_status ds_pipeline_add_file(ds_pipeline* pipeline, uint64_t key, const char* path, const char* category,
                                                     const char* label, int upsert);
DS_C_API DS_NODISCARD ds_status ds_pipeline_add_pixels(ds_pipeline* pipeline, uint64_t key, const ds_image* image,
                                                       const char* category, const char* label, int upsert);
/** ds_pipeline_add_file for an image already in memory: `size` bytes of an encoded image (any format
 *  ds_pipeline_query_bytes reads), copied during the call. DS_ERR_INVALID_ARGUMENT when data is NULL,
 *  DS_ERR_IMAGE_DECODE (or _TOO_SMALL/_TOO_LARGE) when they are not a usable image; nothing is stored then.
 *  As for pixels, the item has no source file (ds_result.source is ""), so ds_pipeline_fine_tune cannot
 *  re-embed it. A mutation: serialised with the other mutations, waits for running queries. */
DS_C_API DS_NODISCARD ds_status ds_pipeline_add_bytes(ds_pipeline* pipeline, uint64_t key, const uint8_t* data, size_t size,
                                                      const char* category, const char* label, int upsert);
DS_C_API DS_NODISCARD ds_status ds_pipeline_remove(ds_pipeline* pipeline, uint64_t key);
/** *count = how many of the catalogue's categories the trained category model cannot predict (added
 *  since it was trained: check after an add). Queries in the predicted category modes search those
 *  categories too until the model is trained again. 0 without a trained model. */
DS_C_API DS_NODISCARD ds_status ds_pipeline_untrained_categories(const ds_pipeline* pipeline, size_t* count);

/* Versioned output struct (see struct_size above): only the fields inside struct_size are written. */
typedef struct ds_training_report {
  uint32_t struct_size; /* bytes of the caller's struct, at least 4 */
  size_t samples;
  int epochs;
  int best_epoch;
  float best_validation_accuracy;
  double seconds;
  size_t dropped; /* fine-tuning: catalogue items whose image could no longer be read, removed at re-embedding */
} ds_training_report;
/** Sets struct_size to sizeof(ds_training_report) and every field to 0. */
DS_C_API void ds_training_report_init(ds_training_report* report);
/** Trains what the configuration asks for: the category head on the catalogue, or, when its
 *  "fine_tuning" is enabled, the backbone (ds_pipeline_fine_tune on the catalogue's photos, no
 *  progress). `report` may be NULL. */
DS_C_API DS_NODISCARD ds_status ds_pipeline_train(ds_pipeline* pipeline, ds_training_report* report);

/* Where fine-tuning stands; owned by the library, valid during the callback only (fields may be appended). */
typedef struct ds_training_progress {
  const char* stage;  /* "caching", "training", "calibrating" or "re-embedding" */
  int epoch;          /* 1-based while training, else 0 */
  int epochs;
  size_t done, total; /* photos (caching, re-embedding) or batches of the epoch (training) */
  float loss;         /* running mean of the epoch's training loss */
  double eta_seconds; /* of the current stage; -1 when unknown */
} ds_training_progress;
/* Return nonzero to go on, 0 to cancel (DS_ERR_CANCELLED; the catalogue is left as it was). */
typedef int (*ds_training_progress_fn)(const ds_training_progress* progress, void* user);

/** Fine-tunes the backbone (include/domainsearch/fine_tuning.hpp) on the photos of a CSV (columns
 *  path,label,category; paths relative to the CSV), or on the catalogue's own photos when csv_path is
 *  NULL, then re-embeds the catalogue. In `report`: samples = cached views, epochs = best_epoch = the
 *  epochs run, best_validation_accuracy = item accuracy on the held-out calibration photos, seconds =
 *  all stages, dropped = catalogue items whose image could no longer be read (removed; more than a tenth
 *  of the catalogue so lost fails with DS_ERR_IO instead). DS_ERR_INVALID_ARGUMENT when the backbone is
 *  not fine-tunable; any failure leaves the catalogue as it was. `progress` and `report` may be NULL. */
DS_C_API DS_NODISCARD ds_status ds_pipeline_fine_tune(ds_pipeline* pipeline, const char* csv_path, ds_training_progress_fn progress,
                                                      void* user, ds_training_report* report);
/** *out = 1 when the catalogue's embeddings come from a fine-tuned backbone, else 0. */
DS_C_API DS_NODISCARD ds_status ds_pipeline_is_fine_tuned(const ds_pipeline* pipeline, int* out);

/* What a query's results are (ds_query_options.answer). */
typedef enum ds_answer {
  DS_ANSWER_CONFIGURED = 0, /* the configuration's: items, unless it says "one_result_per_label": false */
  DS_ANSWER_ITEMS = 1,      /* one result per label (k distinct items), each shown by its nearest photo; its other
                               photos the search reached: ds_results_photos */
  DS_ANSWER_PHOTOS = 2      /* one result per photo: an item with many photos may fill the list */
} ds_answer;

/* Versioned input struct (see struct_size above); every field is optional. */
typedef struct ds_query_options {
  uint32_t struct_size;    /* bytes of the caller's struct, at least 4 */
  size_t k;                /* results; 0 (default): the pipeline's */
  const char* category;    /* restrict to one category by name; NULL (default): the pipeline's category mode */
  ds_key_filter_fn filter; /* NULL (default): every key may appear */
  void* filter_user;       /* passed to filter (default NULL) */
  int answer;              /* a ds_answer; DS_ANSWER_CONFIGURED (0, the default, and what a shorter struct gets):
                              items unless the configuration says otherwise; another value is DS_ERR_INVALID_ARGUMENT */
} ds_query_options;
/** Sets struct_size to sizeof(ds_query_options) and every field to its default. */
DS_C_API void ds_query_options_init(ds_query_options* options);

/** Queries; `options` may be NULL. The results handle is released with ds_results_free. */
DS_C_API DS_NODISCARD ds_status ds_pipeline_query_file(const ds_pipeline* pipeline, const char* path, const ds_query_options* options,
                                                       ds_results** out);
DS_C_API DS_NODISCARD ds_status ds_pipeline_query_bytes(const ds_pipeline* pipeline, const uint8_t* data, size_t size,
                                                        const ds_query_options* options, ds_results** out);
DS_C_API DS_NODISCARD ds_status ds_pipeline_query_pixels(const ds_pipeline* pipeline, const ds_image* image,
                                                         const ds_query_options* options, ds_results** out);
/** "More like this item": the item itself is excluded. */
DS_C_API DS_NODISCARD ds_status ds_pipeline_query_key(const ds_pipeline* pipeline, uint64_t key, const ds_query_options* options,
                                                      ds_results** out);
/** Queries `count` files at once; out receives `count` handles (untouched on failure). */
DS_C_API DS_NODISCARD ds_status ds_pipeline_query_files(const ds_pipeline* pipeline, const char* const* paths, size_t count,
                                                        const ds_query_options* options, ds_results** out);

/* ---- embeddings */
/** *dimension = the number of floats in one of the pipeline's embeddings (ds_pipeline_embed_*). */
DS_C_API DS_NODISCARD ds_status ds_pipeline_dimension(const ds_pipeline* pipeline, size_t* dimension);
/** Runs the models on one image (decode, localise when configured, embed) and writes its embedding, the
 *  vector the catalogue stores for an item made from that image (before any embedding adaptation the
 *  configuration trains), into `embedding`, a caller buffer of `capacity` floats; nothing is stored in
 *  the catalogue. On DS_OK *dimension = the floats written (the rest of the buffer is untouched). When
 *  capacity is below the dimension (checked first, before any decoding) the call returns
 *  DS_ERR_INVALID_ARGUMENT, writes nothing to `embedding` and sets *dimension to the size needed
 *  (capacity 0 with embedding NULL is a size query). A NULL pipeline, dimension, path, data or image is
 *  DS_ERR_INVALID_ARGUMENT; decoding errors as ds_pipeline_query_file/_bytes/_pixels. Thread-safety as a
 *  query: may run concurrently with queries and other embeds on the same pipeline. Use the vectors with
 *  a ds_index of that dimension. */
DS_C_API DS_NODISCARD ds_status ds_pipeline_embed_file(const ds_pipeline* pipeline, const char* path, float* embedding,
                                                       size_t capacity, size_t* dimension);
DS_C_API DS_NODISCARD ds_status ds_pipeline_embed_bytes(const ds_pipeline* pipeline, const uint8_t* data, size_t size,
                                                        float* embedding, size_t capacity, size_t* dimension);
DS_C_API DS_NODISCARD ds_status ds_pipeline_embed_pixels(const ds_pipeline* pipeline, const ds_image* image, float* embedding,
                                                         size_t capacity, size_t* dimension);

/* ---- results
 * A result is an item by default (ds_query_options.answer): one per label, shown by its nearest photo,
 * whose key, distance, iou and source it carries; ds_results_photos lists the item's photos the search
 * reached. With DS_ANSWER_PHOTOS (or "one_result_per_label": false) a result is one photo and a label may
 * appear several times. */
typedef struct ds_result {
  uint64_t key;   /* the photo (an item's nearest photo) */
  float distance; /* squared Euclidean */
  float iou;      /* mask IoU with the query (1 without masks) */
  float score;    /* final ranking score, lower is better */
  const char* label;    /* valid until ds_results_free */
  const char* category; /* valid until ds_results_free */
  const char* source;   /* indexed image path or ""; valid until ds_results_free */
} ds_result;

typedef struct ds_timings {
  double decode_ms, localize_ms, embed_ms, categorize_ms, search_ms, rerank_ms, total_ms;
} ds_timings;

DS_C_API size_t ds_results_count(const ds_results* results);
DS_C_API DS_NODISCARD ds_status ds_results_get(const ds_results* results, size_t i, ds_result* out);
/** Copies keys and distances into caller buffers of `capacity` entries, padding with DS_KEY_NONE/+inf. */
DS_C_API DS_NODISCARD ds_status ds_results_copy(const ds_results* results, uint64_t* keys, float* distances, size_t capacity);
/** The i-th predicted category (most probable first) and its probability; DS_ERR_NOT_FOUND past the end. */
DS_C_API DS_NODISCARD ds_status ds_results_predicted(const ds_results* results, size_t i, const char** category, float* probability);
DS_C_API DS_NODISCARD ds_status ds_results_timings(const ds_results* results, ds_timings* out);
/** The i-th result's calibrated match probability, 0..1 (fine-tuned catalogues: 0 for an item whose
 *  label the fine-tuned classifier does not know, e.g. added after training; -1 otherwise);
 *  DS_ERR_NOT_FOUND past the end. */
DS_C_API DS_NODISCARD ds_status ds_results_match_probability(const ds_results* results, size_t i, float* out);
/** The i-th result's photos when the results are items: the item's photos the search reached, nearest
 *  first (the first is the result's own key; distances squared Euclidean, as ds_result.distance). Copies
 *  the first `capacity` of them into `keys` and `distances`, caller buffers of `capacity` entries each
 *  (entries past the item's photos padded with DS_KEY_NONE/+inf), and sets *count to how many photos the
 *  item has in the results, which may exceed capacity (capacity 0 with NULL buffers asks for the count
 *  only); *count = 0 when the results are photos (DS_ANSWER_PHOTOS). DS_ERR_INVALID_ARGUMENT for a NULL
 *  results or count, or a NULL buffer with capacity above 0; DS_ERR_NOT_FOUND past the end. Nothing is
 *  written on failure. The handle is immutable: any thread may read it. */
DS_C_API DS_NODISCARD ds_status ds_results_photos(const ds_results* results, size_t i, uint64_t* keys, float* distances, size_t capacity,
                                                  size_t* count);
/** *out = 1 when the query is "not in the catalogue" (its nearest result is farther than the configured
 *  match_distance, or its first result less likely than match_threshold, or its confidence below
 *  min_confidence, or a rule is on and nothing was found), else 0. The results are listed either way. */
DS_C_API DS_NODISCARD ds_status ds_results_no_match(const ds_results* results, int* out);
/** *out = the probability that the first result's item is right (the configuration's "confidence"
 *  model, fitted by `domainsearch eval --holdout-items`), 0..1; 0 when nothing was found; -1 without a
 *  confidence model, when the model weighs the match probability and the catalogue is not fine-tuned,
 *  or for a photo answer (DS_ANSWER_PHOTOS). */
DS_C_API DS_NODISCARD ds_status ds_results_confidence(const ds_results* results, float* out);
DS_C_API void ds_results_free(ds_results* results);

/* ---- several products in one photo (a shelf, a tray): each product's box and its own answer, and
 * the photo's items with their counts (C++: Pipeline::query_objects, include/domainsearch/object_query.hpp).
 * The configuration needs an object finder ("object_finder") or a segmenter. Thread-safety and errors as
 * ds_pipeline_query_file, plus DS_ERR_INVALID_ARGUMENT for an unknown crop or a configuration with neither. */
typedef struct ds_objects ds_objects;
typedef enum ds_object_crop {
  DS_CROP_CUTOUT = 0, /* a product's mask on white, like a studio catalogue image (default) */
  DS_CROP_BOX = 1     /* its box with the background, like a shop photo */
} ds_object_crop;
/** `query` (may be NULL) says how each product is searched; `crop` is a ds_object_crop. Release the
 * handle with ds_objects_free. */
DS_C_API DS_NODISCARD ds_status ds_pipeline_query_objects_file(const ds_pipeline* pipeline, const char* path, const ds_query_options* query,
                                                               int crop, ds_objects** out);
DS_C_API DS_NODISCARD ds_status ds_pipeline_query_objects_pixels(const ds_pipeline* pipeline, const ds_image* image,
                                                                 const ds_query_options* query, int crop, ds_objects** out);
/** Products found, in reading order (rows top to bottom, each left to right); 0 for NULL. */
DS_C_API size_t ds_objects_count(const ds_objects* objects);
/** The i-th product's box in the photo's pixels: x, y, width, height. DS_ERR_NOT_FOUND past the end. */
DS_C_API DS_NODISCARD ds_status ds_objects_box(const ds_objects* objects, size_t i, int32_t box[4]);
/** The i-th product's answer, read with the ds_results_* calls (count, get, confidence, no_match, ...).
 * Borrowed: valid until ds_objects_free; never pass it to ds_results_free. */
DS_C_API DS_NODISCARD ds_status ds_objects_answer(const ds_objects* objects, size_t i, const ds_results** out);
/** Distinct items among the products answered with a match, most frequent first; 0 for NULL. */
DS_C_API size_t ds_objects_item_count(const ds_objects* objects);
/** The i-th item: its label and category (valid until ds_objects_free) and how many products show it;
 * `category` and `count` may be NULL. */
DS_C_API DS_NODISCARD ds_status ds_objects_item(const ds_objects* objects, size_t i, const char** label, const char** category,
                                                size_t* count);
/** Products answered "not in the catalogue" (no_match), or with no result at all (a filter that lets no
 * key through); 0 for NULL. */
DS_C_API size_t ds_objects_unmatched(const ds_objects* objects);
DS_C_API void ds_objects_free(ds_objects* objects);

/* ---- index: raw embeddings, no models */
DS_C_API DS_NODISCARD ds_status ds_index_create(int dimension, ds_index** out);
DS_C_API DS_NODISCARD ds_status ds_index_load(const char* path, ds_index** out);
/** As ds_pipeline_save: atomic; DS_ERR_CONFLICT over the file it was loaded from or last saved to when
 * another writer replaced it meanwhile; DS_ERR_IO for a path that is not a regular file. */
DS_C_API DS_NODISCARD ds_status ds_index_save(ds_index* index, const char* path);
DS_C_API void ds_index_free(ds_index* index);
/** The id of category `name` (non-empty UTF-8, else DS_ERR_INVALID_ARGUMENT), defining it if new. */
DS_C_API DS_NODISCARD ds_status ds_index_add_category(ds_index* index, const char* name, int32_t* id);
/** Adds `count` items (embeddings: count x dimension floats); all or none. `labels` may be NULL, else
 *  UTF-8. A key equal to DS_KEY_NONE (the padding of results) or a label that is not UTF-8 is
 *  DS_ERR_INVALID_ARGUMENT. */
DS_C_API DS_NODISCARD ds_status ds_index_add(ds_index* index, size_t count, const uint64_t* keys, const int32_t* categories,
                                             const float* embeddings, const char* const* labels);
DS_C_API DS_NODISCARD ds_status ds_index_remove(ds_index* index, uint64_t key);
DS_C_API DS_NODISCARD ds_status ds_index_contains(const ds_index* index, uint64_t key, int* out);
DS_C_API DS_NODISCARD ds_status ds_index_size(const ds_index* index, size_t* out);
/** k-NN of `count` queries among `categories` (NULL/0: all) passing `filter` (may be NULL). Writes
 *  count x k keys and distances (nearest first, padded with DS_KEY_NONE/+inf) and, if not NULL,
 *  counts[count] (hits per query). A k above the index's size lists the whole index; k = 0, or a k
 *  for which count x k entries cannot fit in memory (e.g. SIZE_MAX), is DS_ERR_INVALID_ARGUMENT. */
DS_C_API DS_NODISCARD ds_status ds_index_search(const ds_index* index, const float* queries, size_t count, size_t k,
                                                const int32_t* categories, size_t category_count, ds_key_filter_fn filter,
                                                void* filter_user, uint64_t* keys, float* distances, size_t* counts);

/* ---- catalogue files */
/* Versioned output struct (see struct_size above): only the fields inside struct_size are written. */
typedef struct ds_catalogue_info {
  uint32_t struct_size; /* bytes of the caller's struct, at least 4 */
  size_t items;
  int dimension;
  size_t categories;
  int has_category_head;
  uint64_t file_bytes;
} ds_catalogue_info;
/** Sets struct_size to sizeof(ds_catalogue_info) and every field to 0. */
DS_C_API void ds_catalogue_info_init(ds_catalogue_info* info);
/** What a catalogue file holds, without loading models. */
DS_C_API DS_NODISCARD ds_status ds_catalogue_inspect(const char* path, ds_catalogue_info* info);

#ifdef __cplusplus
}
#endif

#endif /* DOMAINSEARCH_H */
