/* The C ABI from C99: success paths and every error path. Usage: test_c MODEL_DIR SCRATCH_DIR
 * (MODEL_DIR holds backbone.json and segmenter.json, tiny generated models). */
#define _POSIX_C_SOURCE 200809L
#include <domainsearch.h>

#include "test_images.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int passed = 0, failed = 0;
#define CHECK(cond)                                                                     \
  do {                                                                                  \
    if (cond) ++passed;                                                                 \
    else {                                                                              \
      ++failed;                                                                         \
      fprintf(stderr, "%s:%d: CHECK(%s) failed; last error: %s\n", __FILE__, __LINE__, #cond, ds_last_error()); \
    }                                                                                   \
  } while (0)
#define EXPECT(call, status) CHECK((call) == (status))

enum { W = TEST_IMAGE_W, H = TEST_IMAGE_H };


static int only_even(uint64_t key, void* user) {
  (void)user;
  return key % 2 == 0;
}

/* Nonzero continues, as for every progress callback: cancels once two images are done. */
static int continue_below_two(size_t done, size_t total, void* user) {
  (void)total;
  ++*(int*)user;
  return done < 2;
}

static void test_index(const char* dir) {
  ds_index* index = NULL;
  int32_t cat_a = -1, cat_b = -1;
  uint64_t keys[6] = {10, 11, 12, 13, 14, 15};
  int32_t cats[6];
  float vectors[6 * 4];
  const char* labels[6] = {"a", "b", "c", "d", "e", "f"};
  uint64_t out_keys[2 * 8];
  float out_dist[2 * 8];
  size_t counts[2], size = 0;
  int contains = -1, i;
  char path[512];
  float nan_query[4] = {0, 0, 0, 0};
  int32_t bogus_category = 7;

  EXPECT(ds_index_create(0, &index), DS_ERR_INVALID_ARGUMENT);
  CHECK(strlen(ds_last_error()) > 0);
  EXPECT(ds_index_create(4, &index), DS_OK);
  EXPECT(ds_index_add_category(index, "a", &cat_a), DS_OK);
  EXPECT(ds_index_add_category(index, "b", &cat_b), DS_OK);
  for (i = 0; i < 6; ++i) {
    cats[i] = i < 3 ? cat_a : cat_b;
    vectors[i * 4 + 0] = (float)i, vectors[i * 4 + 1] = 0, vectors[i * 4 + 2] = 1, vectors[i * 4 + 3] = -1;
  }
  EXPECT(ds_index_add(index, 6, keys, cats, vectors, labels), DS_OK);
  EXPECT(ds_index_add(index, 1, keys, cats, vectors, NULL), DS_ERR_ALREADY_EXISTS);
  EXPECT(ds_index_size(index, &size), DS_OK);
  CHECK(size == 6);
  EXPECT(ds_index_contains(index, 12, &contains), DS_OK);
  CHECK(contains == 1);

  /* Two queries, k = 8 > 6 items: padded with DS_KEY_NONE and +inf. */
  EXPECT(ds_index_search(index, vectors, 2, 8, NULL, 0, NULL, NULL, out_keys, out_dist, counts), DS_OK);
  CHECK(counts[0] == 6 && counts[1] == 6);
  CHECK(out_keys[0] == 10 && out_dist[0] == 0.0f);
  CHECK(out_keys[8] == 11);
  CHECK(out_keys[6] == DS_KEY_NONE && isinf(out_dist[7]));
  EXPECT(ds_index_search(index, vectors, 1, 8, &cat_b, 1, only_even, NULL, out_keys, out_dist, counts), DS_OK);
  CHECK(counts[0] == 1 && out_keys[0] == 14 && out_keys[1] == DS_KEY_NONE);
  EXPECT(ds_index_search(index, vectors, 1, 0, NULL, 0, NULL, NULL, out_keys, out_dist, counts), DS_ERR_INVALID_ARGUMENT);
  nan_query[1] = NAN;
  EXPECT(ds_index_search(index, nan_query, 1, 3, NULL, 0, NULL, NULL, out_keys, out_dist, counts), DS_ERR_INVALID_ARGUMENT);
  EXPECT(ds_index_search(index, vectors, 1, 3, &bogus_category, 1, NULL, NULL, out_keys, out_dist, counts), DS_ERR_NOT_FOUND);
  EXPECT(ds_index_remove(index, 13), DS_OK);
  EXPECT(ds_index_remove(index, 13), DS_ERR_NOT_FOUND);

  snprintf(path, sizeof path, "%s/index.dsidx", dir);
  EXPECT(ds_index_save(index, path), DS_OK);
  ds_index_free(index);
  index = NULL;
  EXPECT(ds_index_load(path, &index), DS_OK);
  EXPECT(ds_index_size(index, &size), DS_OK);
  CHECK(size == 5);
  ds_index_free(index);
  snprintf(path, sizeof path, "%s/missing.dsidx", dir);
  EXPECT(ds_index_load(path, &index), DS_ERR_IO);
}

/* A failing batch query writes none of its outputs: a missing file, an undecodable one or a NULL
 * path among good ones, and options the library refuses. */
static void test_query_files_failure(ds_pipeline* p, const char* good, const char* dir) {
  int sentinel[3];
  ds_results* out[3];
  const char* paths[3];
  char missing[512], garbage[512];
  ds_query_options q;
  int bad, i;
  FILE* f;
  snprintf(missing, sizeof missing, "%s/missing.ppm", dir);
  snprintf(garbage, sizeof garbage, "%s/garbage.ppm", dir);
  f = fopen(garbage, "wb");
  CHECK(f != NULL);
  if (f) fputs("not an image", f), fclose(f);
  ds_query_options_init(&q);
  q.struct_size = 2;
  for (bad = 0; bad < 4; ++bad) {
    for (i = 0; i < 3; ++i) paths[i] = good, out[i] = (ds_results*)&sentinel[i];
    if (bad < 3) paths[1] = bad == 0 ? missing : bad == 1 ? garbage : NULL;
    CHECK(ds_pipeline_query_files(p, paths, 3, bad == 3 ? &q : NULL, out) != DS_OK);
    CHECK(strlen(ds_last_error()) > 0);
    for (i = 0; i < 3; ++i) CHECK(out[i] == (ds_results*)&sentinel[i]);
  }
}

/* Every ds_status value has its own name; a value this library does not define is "Unknown". */
static void test_status_names(void) {
  int s, t;
  for (s = DS_OK; s <= DS_ERR_CONFLICT; ++s) {
    const char* name = ds_status_name((ds_status)s);
    CHECK(name != NULL && strlen(name) > 0 && strcmp(name, "Unknown") != 0);
    for (t = DS_OK; t < s; ++t) CHECK(strcmp(name, ds_status_name((ds_status)t)) != 0);
  }
  CHECK(strcmp(ds_status_name(DS_ERR_OUT_OF_MEMORY), "OutOfMemory") == 0);
  CHECK(strcmp(ds_status_name(DS_ERR_CONFLICT), "Conflict") == 0);
  CHECK(strcmp(ds_status_name((ds_status)(DS_ERR_CONFLICT + 1)), "Unknown") == 0);
}

/* A pipeline of the tiny models (localising), after checking what creation refuses. */
static ds_pipeline* create_pipeline(const char* models, ds_pipeline_options* options, char* backbone, char* segmenter, size_t path_size) {
  ds_pipeline* p = NULL;
  snprintf(backbone, path_size, "%s/backbone.json", models);
  snprintf(segmenter, path_size, "%s/segmenter.json", models);
  EXPECT(ds_pipeline_create(NULL, &p), DS_ERR_INVALID_ARGUMENT);
  memset(options, 0, sizeof *options); /* struct_size 0: _init() was not called */
  EXPECT(ds_pipeline_create(options, &p), DS_ERR_INVALID_ARGUMENT);
  CHECK(strstr(ds_last_error(), "struct_size") != NULL);
  ds_pipeline_options_init(options);
  options->backbone_manifest = "/nonexistent/manifest.json";
  EXPECT(ds_pipeline_create(options, &p), DS_ERR_IO);
  options->backbone_manifest = backbone;
  options->device = "cuda:7";
  CHECK(ds_pipeline_create(options, &p) != DS_OK);
  options->device = "cpu";
  options->segmenter_manifest = segmenter;
  options->localize = 1;
  options->threads = 1;
  EXPECT(ds_pipeline_create(options, &p), DS_OK);
  return p;
}

/* Six drawn items in two categories, added from pixels; replacing and refusing. */
static void add_drawn_items(ds_pipeline* p, uint8_t* rgb, ds_image* image) {
  size_t size = 0;
  int i;
  image->width = W, image->height = H, image->stride = W * 3, image->format = DS_RGB8, image->data = rgb;
  for (i = 0; i < 6; ++i) {
    draw(rgb, i);
    EXPECT(ds_pipeline_add_pixels(p, (uint64_t)i, image, i % 2 ? "odd" : "even", i % 2 ? "odd item" : "even item", 0), DS_OK);
  }
  EXPECT(ds_pipeline_add_pixels(p, 0, image, "even", NULL, 0), DS_ERR_ALREADY_EXISTS);
  EXPECT(ds_pipeline_add_pixels(p, 0, image, "even", "replaced", 1), DS_OK);
  image->data = NULL;
  EXPECT(ds_pipeline_add_pixels(p, 99, image, "even", NULL, 0), DS_ERR_INVALID_ARGUMENT);
  image->data = rgb;
  EXPECT(ds_pipeline_size(p, &size), DS_OK);
  CHECK(size == 6);
}

/* Queries by pixels (with the trained head's categories), by key (category, filter) and their errors. */
static void test_pixel_and_key_queries(ds_pipeline* p, uint8_t* rgb, const ds_image* image) {
  ds_results* results = NULL;
  ds_result r;
  ds_query_options q;
  ds_timings timings;
  const char* category = NULL;
  uint64_t keys[20];
  float distances[20];
  float probability = 0;
  int i;
  draw(rgb, 3);
  ds_query_options_init(&q);
  q.k = 20;
  q.category = NULL;
  EXPECT(ds_pipeline_train(p, NULL), DS_OK); /* the default category mode predicts categories */
  EXPECT(ds_pipeline_query_pixels(p, image, &q, &results), DS_OK);
  CHECK(ds_results_count(results) >= 1);
  EXPECT(ds_results_get(results, 0, &r), DS_OK);
  CHECK(r.key == 3 && r.distance < 1e-6f && strcmp(r.label, "odd item") == 0 && strcmp(r.category, "odd") == 0);
  EXPECT(ds_results_get(results, 99, &r), DS_ERR_NOT_FOUND);
  EXPECT(ds_results_copy(results, keys, distances, 20), DS_OK);
  CHECK(keys[0] == 3 && keys[19] == DS_KEY_NONE && isinf(distances[19]));
  EXPECT(ds_results_predicted(results, 0, &category, &probability), DS_OK);
  CHECK(category != NULL && probability > 0.0f);
  EXPECT(ds_results_predicted(results, 99, &category, &probability), DS_ERR_NOT_FOUND);
  EXPECT(ds_results_match_probability(results, 0, &probability), DS_OK);
  CHECK(probability == -1.0f); /* not fine-tuned: uncalibrated */
  EXPECT(ds_results_match_probability(results, 99, &probability), DS_ERR_NOT_FOUND);
  EXPECT(ds_results_no_match(results, &i), DS_OK);
  CHECK(i == 0); /* no match rule configured */
  EXPECT(ds_results_no_match(NULL, &i), DS_ERR_INVALID_ARGUMENT);
  EXPECT(ds_results_confidence(results, &probability), DS_OK);
  CHECK(probability == -1.0f); /* no confidence model configured */
  EXPECT(ds_results_confidence(results, NULL), DS_ERR_INVALID_ARGUMENT);
  EXPECT(ds_results_timings(results, &timings), DS_OK);
  CHECK(timings.total_ms > 0);
  ds_results_free(results);

  q.category = "even";
  q.filter = only_even;
  EXPECT(ds_pipeline_query_key(p, 2, &q, &results), DS_OK);
  for (i = 0; (size_t)i < ds_results_count(results); ++i) {
    EXPECT(ds_results_get(results, (size_t)i, &r), DS_OK);
    CHECK(r.key != 2 && r.key % 2 == 0);
  }
  ds_results_free(results);
  q.category = "triangles";
  EXPECT(ds_pipeline_query_key(p, 2, &q, &results), DS_ERR_NOT_FOUND);
  q.category = NULL;
  q.filter = NULL;
  EXPECT(ds_pipeline_query_key(p, 12345, &q, &results), DS_ERR_NOT_FOUND);
}

/* Results are items by default: one per label, shown by its nearest photo, with the photos the search
 * reached (ds_results_photos); DS_ANSWER_PHOTOS lists photos. Items 1, 3 and 5 are the three photos of
 * "odd item" (add_drawn_items). */
static void test_item_answer(const ds_pipeline* p, uint8_t* rgb, const ds_image* image) {
  ds_results* results = NULL;
  ds_results* const untouched = (ds_results*)&results; /* a sentinel, never dereferenced */
  ds_query_options q;
  ds_result r, earlier;
  uint64_t keys[4];
  float distances[4];
  size_t count = 0, i, j;
  draw(rgb, 3);
  ds_query_options_init(&q);
  CHECK(q.answer == DS_ANSWER_CONFIGURED);
  q.k = 20;
  EXPECT(ds_pipeline_query_pixels(p, image, &q, &results), DS_OK);
  if (!results) return;
  for (i = 0; i < ds_results_count(results); ++i) { /* no label twice */
    EXPECT(ds_results_get(results, i, &r), DS_OK);
    for (j = 0; j < i; ++j) {
      EXPECT(ds_results_get(results, j, &earlier), DS_OK);
      CHECK(strcmp(r.label, earlier.label) != 0);
    }
  }
  EXPECT(ds_results_get(results, 0, &r), DS_OK);
  CHECK(r.key == 3 && strcmp(r.label, "odd item") == 0);
  EXPECT(ds_results_photos(results, 0, keys, distances, 4, &count), DS_OK);
  CHECK(count == 3 && keys[0] == r.key && distances[0] == r.distance);
  CHECK(distances[0] <= distances[1] && distances[1] <= distances[2]);
  CHECK((keys[1] == 1 && keys[2] == 5) || (keys[1] == 5 && keys[2] == 1));
  CHECK(keys[3] == DS_KEY_NONE && isinf(distances[3])); /* padding */
  /* A smaller buffer gets the nearest; the count is the item's; capacity 0 asks for the count only. */
  keys[1] = 42, count = 0;
  EXPECT(ds_results_photos(results, 0, keys, distances, 1, &count), DS_OK);
  CHECK(count == 3 && keys[0] == 3 && keys[1] == 42);
  count = 0;
  EXPECT(ds_results_photos(results, 0, NULL, NULL, 0, &count), DS_OK);
  CHECK(count == 3);
  count = 99;
  EXPECT(ds_results_photos(results, ds_results_count(results), keys, distances, 4, &count), DS_ERR_NOT_FOUND);
  CHECK(count == 99 && strstr(ds_last_error(), "result") != NULL);
  EXPECT(ds_results_photos(results, 0, keys, distances, 4, NULL), DS_ERR_INVALID_ARGUMENT);
  EXPECT(ds_results_photos(results, 0, NULL, distances, 4, &count), DS_ERR_INVALID_ARGUMENT);
  EXPECT(ds_results_photos(results, 0, keys, NULL, 4, &count), DS_ERR_INVALID_ARGUMENT);
  EXPECT(ds_results_photos(NULL, 0, keys, distances, 4, &count), DS_ERR_INVALID_ARGUMENT);
  CHECK(count == 99);
  ds_results_free(results);
  results = NULL;

  /* Photos: the three photos of "odd item", each a result without photos of its own; asking for items
   * gives the one item. */
  q.category = "odd";
  q.answer = DS_ANSWER_PHOTOS;
  EXPECT(ds_pipeline_query_pixels(p, image, &q, &results), DS_OK);
  if (!results) return;
  CHECK(ds_results_count(results) == 3);
  for (i = 0; i < ds_results_count(results); ++i) {
    EXPECT(ds_results_get(results, i, &r), DS_OK);
    CHECK(strcmp(r.label, "odd item") == 0);
    count = 99;
    EXPECT(ds_results_photos(results, i, keys, distances, 4, &count), DS_OK);
    CHECK(count == 0 && keys[0] == DS_KEY_NONE);
  }
  ds_results_free(results);
  results = NULL;
  q.answer = DS_ANSWER_ITEMS;
  EXPECT(ds_pipeline_query_pixels(p, image, &q, &results), DS_OK);
  CHECK(ds_results_count(results) == 1);
  ds_results_free(results);

  /* Not a ds_answer: refused, nothing written. */
  results = untouched;
  q.answer = 7;
  EXPECT(ds_pipeline_query_pixels(p, image, &q, &results), DS_ERR_INVALID_ARGUMENT);
  CHECK(results == untouched && strstr(ds_last_error(), "ds_query_options.answer is 7") != NULL);
}

/* Queries and adds from files and bytes; writes the query image to `ppm`. */
static void test_file_queries(ds_pipeline* p, const char* dir, char* ppm, size_t ppm_size) {
  ds_results* results = NULL;
  ds_results* batch[2] = {NULL, NULL};
  ds_result r;
  char path[512];
  const char* paths[2];
  snprintf(ppm, ppm_size, "%s/query.ppm", dir);
  CHECK(write_ppm(ppm, 4));
  EXPECT(ds_pipeline_query_file(p, ppm, NULL, &results), DS_OK);
  EXPECT(ds_results_get(results, 0, &r), DS_OK);
  CHECK(r.key == 4);
  ds_results_free(results);
  paths[0] = ppm, paths[1] = ppm;
  EXPECT(ds_pipeline_query_files(p, paths, 2, NULL, batch), DS_OK);
  CHECK(ds_results_count(batch[0]) == ds_results_count(batch[1]));
  ds_results_free(batch[0]);
  ds_results_free(batch[1]);
  test_query_files_failure(p, ppm, dir);
  snprintf(path, sizeof path, "%s/missing.png", dir);
  EXPECT(ds_pipeline_query_file(p, path, NULL, &results), DS_ERR_IO);
  EXPECT(ds_pipeline_query_bytes(p, (const uint8_t*)"garbage", 7, NULL, &results), DS_ERR_IMAGE_DECODE);
  EXPECT(ds_pipeline_add_file(p, 50, ppm, "odd", "from file", 0), DS_OK);
  EXPECT(ds_pipeline_remove(p, 50), DS_OK);
  EXPECT(ds_pipeline_remove(p, 50), DS_ERR_NOT_FOUND);
}

/* Training, saving, inspecting and reopening; a non-catalogue file is Corrupt. */
static void test_persistence(ds_pipeline* p, ds_pipeline_options* options, const char* dir, const char* not_a_catalogue) {
  ds_pipeline* reopened = NULL;
  ds_training_report training;
  ds_catalogue_info info;
  char catalogue[512];
  size_t size = 0;
  ds_training_report_init(&training);
  EXPECT(ds_pipeline_train(p, &training), DS_OK);
  CHECK(training.samples == 6 && training.epochs > 0);

  snprintf(catalogue, sizeof catalogue, "%s/catalogue.dscat", dir);
  EXPECT(ds_pipeline_save(p, catalogue), DS_OK);
  ds_catalogue_info_init(&info);
  EXPECT(ds_catalogue_inspect(catalogue, &info), DS_OK);
  CHECK(info.items == 6 && info.categories == 2 && info.has_category_head == 1);
  options->localize = 0; /* the catalogue's own settings win */
  EXPECT(ds_pipeline_open(catalogue, options, &reopened), DS_OK);
  EXPECT(ds_pipeline_size(reopened, &size), DS_OK);
  CHECK(size == 6);
  ds_pipeline_free(reopened);
  EXPECT(ds_catalogue_inspect(not_a_catalogue, &info), DS_ERR_CORRUPT);
  EXPECT(ds_pipeline_open(not_a_catalogue, options, &reopened), DS_ERR_CORRUPT);
}

/* An untrained category is counted; a folder catalogue is indexed, cancelled after two images first. */
static void test_untrained_and_folder(ds_pipeline* p, const char* dir, const char* image_file) {
  ds_indexing_report report;
  ds_results* results = NULL;
  uint64_t key = 0;
  char folder[512], path[600];
  size_t size = 0;
  int calls = 0;
  /* An item of a category the head was not trained on is counted (and searched: tests/unit). */
  EXPECT(ds_pipeline_untrained_categories(p, &size), DS_OK);
  CHECK(size == 0);
  EXPECT(ds_pipeline_add_file(p, 51, image_file, "brand new", "new", 0), DS_OK);
  EXPECT(ds_pipeline_untrained_categories(p, &size), DS_OK);
  CHECK(size == 1);
  EXPECT(ds_pipeline_remove(p, 51), DS_OK);

  CHECK(write_tree(dir, 4, folder, sizeof folder));
  ds_indexing_report_init(&report);
  EXPECT(ds_pipeline_index_folder(p, folder, continue_below_two, &calls, &report), DS_ERR_CANCELLED);
  CHECK(report.cancelled == 1 && report.added == 2 && calls == 2);
  EXPECT(ds_pipeline_index_folder(p, folder, NULL, NULL, &report), DS_OK);
  CHECK(report.added == 2 && report.skipped_existing == 2);
  /* A folder's items are keyed by FOLDER/CATEGORY/FILE. */
  snprintf(path, sizeof path, "%s/boxes/item3.ppm", folder);
  EXPECT(ds_key_for_path(path, &key), DS_OK);
  EXPECT(ds_pipeline_query_key(p, key, NULL, &results), DS_OK);
  ds_results_free(results);
  EXPECT(ds_pipeline_index_csv(p, image_file, NULL, NULL, NULL), DS_ERR_INVALID_ARGUMENT);
}

/* The encoded PPM of draw(i) in `out` (at least PPM_BYTES); returns its size. */
enum { PPM_BYTES = W * H * 3 + 32 };
static size_t ppm_bytes(uint8_t* out, int i) {
  const int header = snprintf((char*)out, 32, "P6\n%d %d\n255\n", W, H);
  draw(out + header, i);
  return (size_t)header + W * H * 3;
}

static int only_sixty(uint64_t key, void* user) {
  (void)user;
  return key == 60;
}

/* The key a batch index gives a row: the FNV-1a-style hash of the path as indexing saw it, pinned (its
 * offset basis is 1469598103934665603, not FNV's 14695981039346656037: catalogues are keyed by it). */
static void test_key_for_path(void) {
  uint64_t key = 7;
  EXPECT(ds_key_for_path("", &key), DS_OK);
  CHECK(key == 1469598103934665603ULL); /* the offset basis */
  EXPECT(ds_key_for_path("a", &key), DS_OK);
  CHECK(key == 0x44bd8ad473cd9906ULL); /* (basis ^ 'a') * 1099511628211 */
  key = 7;
  EXPECT(ds_key_for_path(NULL, &key), DS_ERR_INVALID_ARGUMENT);
  CHECK(key == 7 && strlen(ds_last_error()) > 0);
  EXPECT(ds_key_for_path("a", NULL), DS_ERR_INVALID_ARGUMENT);
}

/* Adding and replacing from encoded bytes, and what it refuses; the catalogue ends as it began. */
static void test_add_bytes(ds_pipeline* p) {
  uint8_t ppm[PPM_BYTES];
  const size_t n = ppm_bytes(ppm, 4);
  ds_results* results = NULL;
  ds_query_options q;
  ds_result r;
  size_t before = 0, after = 0;
  EXPECT(ds_pipeline_size(p, &before), DS_OK);
  EXPECT(ds_pipeline_add_bytes(p, 60, ppm, n, "odd", "from bytes", 0), DS_OK);
  EXPECT(ds_pipeline_add_bytes(p, 60, ppm, n, "odd", "again", 0), DS_ERR_ALREADY_EXISTS);
  EXPECT(ds_pipeline_add_bytes(p, 60, ppm, n, "odd", "replaced", 1), DS_OK);
  EXPECT(ds_pipeline_add_bytes(p, 61, (const uint8_t*)"garbage", 7, "odd", NULL, 0), DS_ERR_IMAGE_DECODE);
  EXPECT(ds_pipeline_add_bytes(p, 61, NULL, n, "odd", NULL, 0), DS_ERR_INVALID_ARGUMENT);
  EXPECT(ds_pipeline_add_bytes(p, 61, ppm, n, NULL, NULL, 0), DS_ERR_INVALID_ARGUMENT);
  EXPECT(ds_pipeline_add_bytes(p, DS_KEY_NONE, ppm, n, "odd", NULL, 1), DS_ERR_INVALID_ARGUMENT);
  EXPECT(ds_pipeline_add_bytes(NULL, 61, ppm, n, "odd", NULL, 0), DS_ERR_INVALID_ARGUMENT);
  EXPECT(ds_pipeline_size(p, &after), DS_OK);
  CHECK(after == before + 1);
  /* The stored item is the image itself, replaced in place, without a source file. */
  ds_query_options_init(&q);
  q.category = "odd";
  q.filter = only_sixty;
  EXPECT(ds_pipeline_query_bytes(p, ppm, n, &q, &results), DS_OK);
  CHECK(ds_results_count(results) == 1);
  EXPECT(ds_results_get(results, 0, &r), DS_OK);
  CHECK(r.key == 60 && r.distance < 1e-6f && strcmp(r.label, "replaced") == 0 && strcmp(r.source, "") == 0);
  ds_results_free(results);
  EXPECT(ds_pipeline_remove(p, 60), DS_OK);
  EXPECT(ds_pipeline_size(p, &after), DS_OK);
  CHECK(after == before);
}

/* Embeddings into caller buffers: the size contract, the three sources agree, and they search. */
static void test_embeddings(const ds_pipeline* p, uint8_t* rgb, const ds_image* image, const char* dir) {
  uint8_t ppm[PPM_BYTES];
  size_t n, d = 0, dim = 0, i, counts[1];
  float *vectors, *from_file, *from_bytes;
  ds_index* index = NULL;
  int32_t category = -1, categories[6];
  uint64_t keys[6] = {0, 1, 2, 3, 4, 5}, found[2];
  float distances[2];
  char path[512];
  EXPECT(ds_pipeline_dimension(p, &d), DS_OK);
  CHECK(d > 0);
  EXPECT(ds_pipeline_dimension(p, NULL), DS_ERR_INVALID_ARGUMENT);
  if (d == 0) return;
  vectors = (float*)malloc(6 * d * sizeof(float));
  from_file = (float*)malloc((d + 1) * sizeof(float));
  from_bytes = (float*)malloc(d * sizeof(float));
  CHECK(vectors && from_file && from_bytes);
  if (!vectors || !from_file || !from_bytes) goto done;

  /* Too small: DS_ERR_INVALID_ARGUMENT, the size needed in *dimension, the buffer untouched. */
  draw(rgb, 3);
  from_file[0] = 42.0f;
  EXPECT(ds_pipeline_embed_pixels(p, image, from_file, d - 1, &dim), DS_ERR_INVALID_ARGUMENT);
  CHECK(dim == d && from_file[0] == 42.0f && strstr(ds_last_error(), "floats") != NULL);
  dim = 0;
  EXPECT(ds_pipeline_embed_pixels(p, image, NULL, 0, &dim), DS_ERR_INVALID_ARGUMENT); /* a size query */
  CHECK(dim == d);
  dim = 0;
  EXPECT(ds_pipeline_embed_bytes(p, (const uint8_t*)"garbage", 7, NULL, 0, &dim), DS_ERR_INVALID_ARGUMENT);
  CHECK(dim == d); /* the capacity is checked before decoding */
  EXPECT(ds_pipeline_embed_pixels(p, image, NULL, d, &dim), DS_ERR_INVALID_ARGUMENT);
  EXPECT(ds_pipeline_embed_pixels(p, image, from_file, d, NULL), DS_ERR_INVALID_ARGUMENT);
  EXPECT(ds_pipeline_embed_pixels(p, NULL, from_file, d, &dim), DS_ERR_INVALID_ARGUMENT);

  /* The six drawn items' embeddings, by pixels, make an index that finds item 3 from its file and bytes. */
  EXPECT(ds_index_create((int)d, &index), DS_OK);
  EXPECT(ds_index_add_category(index, "all", &category), DS_OK);
  for (i = 0; i < 6; ++i) {
    draw(rgb, (int)i);
    dim = 0;
    EXPECT(ds_pipeline_embed_pixels(p, image, vectors + i * d, d, &dim), DS_OK);
    CHECK(dim == d);
    categories[i] = category;
  }
  EXPECT(ds_index_add(index, 6, keys, categories, vectors, NULL), DS_OK);
  snprintf(path, sizeof path, "%s/embed3.ppm", dir);
  CHECK(write_ppm(path, 3));
  from_file[d] = 42.0f;
  EXPECT(ds_pipeline_embed_file(p, path, from_file, d + 1, &dim), DS_OK);
  CHECK(dim == d && from_file[d] == 42.0f); /* only `dimension` floats written */
  n = ppm_bytes(ppm, 3);
  EXPECT(ds_pipeline_embed_bytes(p, ppm, n, from_bytes, d, &dim), DS_OK);
  for (i = 0; i < d; ++i) CHECK(fabsf(from_file[i] - from_bytes[i]) < 1e-6f); /* the same encoded picture */
  EXPECT(ds_index_search(index, from_file, 1, 2, NULL, 0, NULL, NULL, found, distances, counts), DS_OK);
  CHECK(found[0] == 3 && distances[0] < 1e-5f && distances[1] > distances[0]);

  /* Failures write nothing. */
  dim = 12345;
  snprintf(path, sizeof path, "%s/missing.ppm", dir);
  EXPECT(ds_pipeline_embed_file(p, path, from_file, d, &dim), DS_ERR_IO);
  EXPECT(ds_pipeline_embed_bytes(p, (const uint8_t*)"garbage", 7, from_file, d, &dim), DS_ERR_IMAGE_DECODE);
  EXPECT(ds_pipeline_embed_bytes(p, NULL, 7, from_file, d, &dim), DS_ERR_INVALID_ARGUMENT);
  EXPECT(ds_pipeline_embed_file(p, NULL, from_file, d, &dim), DS_ERR_INVALID_ARGUMENT);
  CHECK(dim == 12345);
done:
  ds_index_free(index);
  free(vectors);
  free(from_file);
  free(from_bytes);
}

/* Writes DIR/NAME/boxes/item<i>.ppm (i < good) and DIR/NAME/boxes/broken.ppm (not an image); puts
 * "DIR/NAME" into `folder`. */
static int write_broken_tree(const char* dir, const char* name, int good, char* folder, size_t size) {
  char path[600];
  FILE* f;
  int i;
  snprintf(folder, size, "%s/%s", dir, name);
  mkdir(folder, 0755);
  snprintf(path, sizeof path, "%s/boxes", folder);
  mkdir(path, 0755);
  for (i = 0; i < good; ++i) {
    snprintf(path, sizeof path, "%s/boxes/item%d.ppm", folder, i);
    if (!write_ppm(path, i)) return 0;
  }
  snprintf(path, sizeof path, "%s/boxes/broken.ppm", folder);
  f = fopen(path, "wb");
  if (!f) return 0;
  fputs("not an image", f);
  fclose(f);
  return 1;
}

/* The rows a batch index skipped, with their reasons (ds_pipeline_index_csv2/_folder2). */
static void test_indexing_failures(ds_pipeline* p, const char* dir) {
  char folder[512], csv[600], expected[3][600], path[600];
  const char* names[3] = {"missing.ppm", "garbage.ppm", "nocat.ppm"};
  const char *row_path = NULL, *reason = NULL;
  ds_indexing_report report;
  ds_indexing_failures* failures = NULL;
  ds_indexing_failures* untouched = (ds_indexing_failures*)&report; /* a sentinel, never dereferenced */
  ds_results* results = NULL;
  uint64_t key = 0;
  size_t i, j;
  int seen[3] = {0, 0, 0}, calls = 0;
  FILE* f;

  snprintf(folder, sizeof folder, "%s/csv", dir);
  mkdir(folder, 0755);
  snprintf(path, sizeof path, "%s/good.ppm", folder);
  CHECK(write_ppm(path, 2));
  snprintf(path, sizeof path, "%s/nocat.ppm", folder);
  CHECK(write_ppm(path, 1));
  snprintf(path, sizeof path, "%s/garbage.ppm", folder);
  f = fopen(path, "wb");
  CHECK(f != NULL);
  if (f) fputs("not an image", f), fclose(f);
  snprintf(csv, sizeof csv, "%s/catalogue.csv", folder);
  f = fopen(csv, "w");
  CHECK(f != NULL);
  if (!f) return;
  fputs("path,label,category\ngood.ppm,good,boxes\nmissing.ppm,missing,boxes\ngarbage.ppm,garbage,boxes\nnocat.ppm,nocat,\n", f);
  fclose(f);
  for (i = 0; i < 3; ++i) snprintf(expected[i], sizeof expected[i], "%s/%s", folder, names[i]);

  ds_indexing_report_init(&report);
  EXPECT(ds_pipeline_index_csv2(p, csv, NULL, NULL, &report, &failures), DS_OK);
  CHECK(report.added == 1 && report.failed == 3);
  CHECK(failures != NULL && ds_indexing_failures_count(failures) == 3);
  for (i = 0; i < ds_indexing_failures_count(failures); ++i) {
    EXPECT(ds_indexing_failures_get(failures, i, &row_path, &reason), DS_OK);
    CHECK(row_path != NULL && reason != NULL && strlen(reason) > 0);
    if (!row_path || !reason) continue;
    for (j = 0; j < 3; ++j)
      if (strcmp(row_path, expected[j]) == 0) ++seen[j];
    if (strcmp(row_path, expected[2]) == 0) CHECK(strstr(reason, "category") != NULL);
  }
  CHECK(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
  EXPECT(ds_indexing_failures_get(failures, 0, NULL, &reason), DS_OK); /* either output may be NULL */
  EXPECT(ds_indexing_failures_get(failures, 0, &row_path, NULL), DS_OK);
  EXPECT(ds_indexing_failures_get(failures, 3, &row_path, &reason), DS_ERR_NOT_FOUND);
  EXPECT(ds_indexing_failures_get(NULL, 0, &row_path, &reason), DS_ERR_INVALID_ARGUMENT);
  ds_indexing_failures_free(failures);
  ds_indexing_failures_free(NULL);
  CHECK(ds_indexing_failures_count(NULL) == 0);

  /* The indexed row's key is ds_key_for_path of its path joined to the CSV's folder. */
  snprintf(path, sizeof path, "%s/good.ppm", folder);
  EXPECT(ds_key_for_path(path, &key), DS_OK);
  EXPECT(ds_pipeline_query_key(p, key, NULL, &results), DS_OK);
  ds_results_free(results);
  results = NULL;

  /* Again: nothing new, the same failures; without `failures` as ds_pipeline_index_csv. */
  failures = NULL;
  EXPECT(ds_pipeline_index_csv2(p, csv, NULL, NULL, &report, &failures), DS_OK);
  CHECK(report.added == 0 && report.skipped_existing == 1 && report.failed == 3 && ds_indexing_failures_count(failures) == 3);
  ds_indexing_failures_free(failures);
  EXPECT(ds_pipeline_index_csv2(p, csv, NULL, NULL, NULL, NULL), DS_OK);

  /* A folder: its broken picture, named as FOLDER/CATEGORY/FILE. */
  CHECK(write_broken_tree(dir, "broken_tree", 1, folder, sizeof folder));
  failures = NULL;
  EXPECT(ds_pipeline_index_folder2(p, folder, NULL, NULL, &report, &failures), DS_OK);
  CHECK(report.added == 1 && report.failed == 1 && ds_indexing_failures_count(failures) == 1);
  snprintf(path, sizeof path, "%s/boxes/broken.ppm", folder);
  EXPECT(ds_indexing_failures_get(failures, 0, &row_path, &reason), DS_OK);
  CHECK(row_path != NULL && strcmp(row_path, path) == 0);
  ds_indexing_failures_free(failures);
  snprintf(path, sizeof path, "%s/boxes/item0.ppm", folder);
  EXPECT(ds_key_for_path(path, &key), DS_OK);
  EXPECT(ds_pipeline_query_key(p, key, NULL, &results), DS_OK);
  ds_results_free(results);

  /* Cancelled: DS_ERR_CANCELLED with the report and a failure list (to free) all the same. */
  CHECK(write_broken_tree(dir, "cancelled_tree", 4, folder, sizeof folder));
  failures = NULL;
  EXPECT(ds_pipeline_index_folder2(p, folder, continue_below_two, &calls, &report, &failures), DS_ERR_CANCELLED);
  CHECK(report.cancelled == 1 && failures != NULL && ds_indexing_failures_count(failures) == report.failed);
  ds_indexing_failures_free(failures);

  /* Any other failure writes nothing. */
  snprintf(path, sizeof path, "%s/no_such_folder", dir);
  failures = untouched;
  EXPECT(ds_pipeline_index_folder2(p, path, NULL, NULL, &report, &failures), DS_ERR_NOT_FOUND);
  CHECK(failures == untouched);
  snprintf(path, sizeof path, "%s/no_such.csv", dir);
  CHECK(ds_pipeline_index_csv2(p, path, NULL, NULL, &report, &failures) != DS_OK);
  CHECK(failures == untouched);
  EXPECT(ds_pipeline_index_csv2(p, NULL, NULL, NULL, &report, &failures), DS_ERR_INVALID_ARGUMENT);
  EXPECT(ds_pipeline_index_folder2(NULL, dir, NULL, NULL, &report, &failures), DS_ERR_INVALID_ARGUMENT);
  CHECK(failures == untouched);
}

/* Several products in one photo: two dark packages on white; the answer's contract (boxes inside the
 * photo, an answer per product, item counts adding up to the matched products), the same answer from a
 * file, and the errors. */
enum { SW = 160, SH = 96 };
static void test_objects(const ds_pipeline* p, const char* dir) {
  static uint8_t rgb[SW * SH * 3];
  ds_image scene;
  ds_objects* objects = NULL;
  ds_objects* from_file = NULL;
  ds_objects* const untouched = (ds_objects*)&scene; /* a sentinel, never dereferenced */
  const ds_results* answer = NULL;
  const char *label = NULL, *category = NULL;
  int32_t box[4], file_box[4];
  size_t i, n = 0, count = 0, counted = 0;
  int x, y, no_match = -1, unmatched = 0;
  char path[512];
  FILE* f;
  memset(rgb, 255, sizeof rgb);
  for (y = 13; y < 83; ++y)
    for (x = 0; x < SW; ++x)
      if ((x >= 20 && x < 60) || (x >= 95 && x < 135)) {
        uint8_t* px = rgb + (y * SW + x) * 3;
        px[0] = 40, px[1] = (uint8_t)(x < 60 ? 40 : 120), px[2] = (uint8_t)(x < 60 ? 120 : 40);
      }
  scene.data = rgb, scene.width = SW, scene.height = SH, scene.stride = SW * 3, scene.format = DS_RGB8;
  EXPECT(ds_pipeline_query_objects_pixels(p, &scene, NULL, DS_CROP_CUTOUT, &objects), DS_OK);
  n = ds_objects_count(objects);
  CHECK(n == 2);
  for (i = 0; i < n; ++i) {
    EXPECT(ds_objects_box(objects, i, box), DS_OK);
    CHECK(box[0] >= 0 && box[1] >= 0 && box[2] > 0 && box[3] > 0 && box[0] + box[2] <= SW && box[1] + box[3] <= SH);
    EXPECT(ds_objects_answer(objects, i, &answer), DS_OK);
    CHECK(answer != NULL && ds_results_count(answer) > 0);
    EXPECT(ds_results_no_match(answer, &no_match), DS_OK);
    unmatched += no_match;
  }
  CHECK((size_t)unmatched == ds_objects_unmatched(objects));
  CHECK(ds_objects_item_count(objects) >= 1);
  for (i = 0; i < ds_objects_item_count(objects); ++i) {
    EXPECT(ds_objects_item(objects, i, &label, &category, &count), DS_OK);
    CHECK(label != NULL && strlen(label) > 0 && category != NULL && count >= 1);
    counted += count;
  }
  CHECK(counted == n - ds_objects_unmatched(objects));
  EXPECT(ds_objects_item(objects, 0, &label, NULL, NULL), DS_OK); /* category and count may be NULL */
  EXPECT(ds_objects_box(objects, n, box), DS_ERR_NOT_FOUND);
  EXPECT(ds_objects_answer(objects, n, &answer), DS_ERR_NOT_FOUND);
  EXPECT(ds_objects_item(objects, ds_objects_item_count(objects), &label, &category, &count), DS_ERR_NOT_FOUND);
  EXPECT(ds_objects_box(NULL, 0, box), DS_ERR_INVALID_ARGUMENT);

  /* The same photo from a file: the same products. */
  snprintf(path, sizeof path, "%s/scene.ppm", dir);
  f = fopen(path, "wb");
  CHECK(f != NULL);
  if (f) {
    fprintf(f, "P6\n%d %d\n255\n", SW, SH);
    fwrite(rgb, 1, sizeof rgb, f);
    fclose(f);
  }
  EXPECT(ds_pipeline_query_objects_file(p, path, NULL, DS_CROP_BOX, &from_file), DS_OK);
  CHECK(ds_objects_count(from_file) == n);
  for (i = 0; i < n && i < ds_objects_count(from_file); ++i) {
    EXPECT(ds_objects_box(objects, i, box), DS_OK);
    EXPECT(ds_objects_box(from_file, i, file_box), DS_OK);
    CHECK(memcmp(box, file_box, sizeof box) == 0);
  }
  ds_objects_free(from_file);
  ds_objects_free(objects);

  objects = untouched;
  EXPECT(ds_pipeline_query_objects_pixels(p, &scene, NULL, 7, &objects), DS_ERR_INVALID_ARGUMENT);
  CHECK(strstr(ds_last_error(), "crop") != NULL);
  EXPECT(ds_pipeline_query_objects_file(p, path, NULL, -1, &objects), DS_ERR_INVALID_ARGUMENT);
  EXPECT(ds_pipeline_query_objects_pixels(p, NULL, NULL, DS_CROP_CUTOUT, &objects), DS_ERR_INVALID_ARGUMENT);
  CHECK(objects == untouched);
  ds_objects_free(NULL);
  CHECK(ds_objects_count(NULL) == 0 && ds_objects_item_count(NULL) == 0 && ds_objects_unmatched(NULL) == 0);
}

static void test_pipeline(const char* models, const char* dir) {
  ds_pipeline_options options;
  char backbone[512], segmenter[512], ppm[512];
  uint8_t rgb[W * H * 3];
  ds_image image;
  ds_pipeline* p = create_pipeline(models, &options, backbone, segmenter, sizeof backbone);
  if (p == NULL) return;
  add_drawn_items(p, rgb, &image);
  test_pixel_and_key_queries(p, rgb, &image);
  test_item_answer(p, rgb, &image);
  test_file_queries(p, dir, ppm, sizeof ppm);
  test_add_bytes(p);
  test_embeddings(p, rgb, &image, dir);
  test_persistence(p, &options, dir, ppm);
  test_untrained_and_folder(p, dir, ppm);
  test_indexing_failures(p, dir);
  test_objects(p, dir);
  ds_pipeline_free(p);
}

/* Counts progress calls per stage; cancels in `stop_in` when given. */
typedef struct training_watch {
  const char* stop_in;
  int caching, training, reembedding, last_epoch;
} training_watch;

static int watch_training(const ds_training_progress* t, void* user) {
  training_watch* w = (training_watch*)user;
  if (strcmp(t->stage, "caching") == 0) ++w->caching;
  if (strcmp(t->stage, "training") == 0) ++w->training, w->last_epoch = t->epoch;
  if (strcmp(t->stage, "re-embedding") == 0) ++w->reembedding;
  CHECK(t->done <= t->total);
  return !(w->stop_in && strcmp(t->stage, w->stop_in) == 0);
}

static int any_key_but(uint64_t key, void* excluded) { return key != *(const uint64_t*)excluded; }

/* A fine-tuned catalogue scores its results and its configured confidence model its answers; with
 * match_distance 1e-9 another image is "no match". */
static void test_match_answer(const ds_pipeline* p, const char* folder) {
  char path[600];
  ds_results* results = NULL;
  ds_result best;
  ds_query_options q;
  float match = -2, confidence = -2;
  int no_match = -1;
  snprintf(path, sizeof path, "%s/round/round0.png", folder);
  EXPECT(ds_pipeline_query_file(p, path, NULL, &results), DS_OK);
  if (!results) return;
  EXPECT(ds_results_get(results, 0, &best), DS_OK);
  EXPECT(ds_results_match_probability(results, 0, &match), DS_OK);
  CHECK(match >= 0.0f && match <= 1.0f);
  EXPECT(ds_results_confidence(results, &confidence), DS_OK); /* the configured model over a calibrated answer */
  CHECK(confidence > 0.0f && confidence < 1.0f);
  ds_results_free(results);
  results = NULL;
  ds_query_options_init(&q);
  q.filter = any_key_but; /* the image itself excluded: its best result is another image */
  q.filter_user = &best.key;
  EXPECT(ds_pipeline_query_file(p, path, &q, &results), DS_OK);
  if (!results) return;
  EXPECT(ds_results_no_match(results, &no_match), DS_OK);
  CHECK(no_match == 1);
  ds_results_free(results);
}

/* Fine-tuning the tiny trainable backbone through the C ABI: progress, cancel, report. */
static void test_fine_tuning(const char* models, const char* dir) {
  char config[512], folder[512];
  FILE* f;
  ds_pipeline_options options;
  ds_pipeline* p = NULL;
  ds_training_report report;
  training_watch watch = {"training", 0, 0, 0, 0};
  int tuned = -1;
  snprintf(config, sizeof config, "%s/fine_tuning.json", dir);
  f = fopen(config, "w");
  CHECK(f != NULL);
  if (!f) return;
  fprintf(f, "{\"backbone\": \"%s/trainable.json\", \"threads\": 1, \"category_mode\": \"off\", \"match_distance\": 1e-9, "
             "\"confidence\": {\"bias\": 0.5, \"probability\": 1, \"distance\": -2, \"margin\": 1}, "
             "\"fine_tuning\": {\"enabled\": true, \"first_stage\": 2, \"epochs\": 2, \"batch_size\": 4}}", models);
  fclose(f);
  ds_pipeline_options_init(&options);
  options.config_path = config;
  EXPECT(ds_pipeline_create(&options, &p), DS_OK);
  if (!p) return;
  snprintf(folder, sizeof folder, "%s/tree", models);
  EXPECT(ds_pipeline_index_folder(p, folder, NULL, NULL, NULL), DS_OK);
  ds_training_report_init(&report);
  EXPECT(ds_pipeline_fine_tune(p, NULL, watch_training, &watch, &report), DS_ERR_CANCELLED);
  CHECK(report.epochs == 0); /* outputs only on success */
  EXPECT(ds_pipeline_is_fine_tuned(p, &tuned), DS_OK);
  CHECK(tuned == 0);
  watch.stop_in = NULL;
  watch.caching = watch.training = watch.reembedding = 0;
  EXPECT(ds_pipeline_fine_tune(p, NULL, watch_training, &watch, &report), DS_OK);
  CHECK(watch.caching == 8 && watch.reembedding == 8 && watch.training > 0 && watch.last_epoch == 2);
  CHECK(report.epochs == 2 && report.samples == 24); /* 8 photos x (1 + 3 default views), less each one-photo item's view held out for calibration */
  EXPECT(ds_pipeline_is_fine_tuned(p, &tuned), DS_OK);
  CHECK(tuned == 1);
  test_match_answer(p, folder);
  ds_pipeline_free(p);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: test_c MODEL_DIR SCRATCH_DIR\n");
    return 2;
  }
  CHECK(ds_abi_version() == DS_ABI_VERSION);
  CHECK(strlen(ds_version_string()) >= 5);
  CHECK(strcmp(ds_status_name(DS_ERR_CORRUPT), "Corrupt") == 0);
  test_status_names();
  test_key_for_path();
  ds_pipeline_free(NULL);
  ds_index_free(NULL);
  ds_results_free(NULL);
  CHECK(ds_results_count(NULL) == 0);
  test_index(argv[2]);
  test_pipeline(argv[1], argv[2]);
  test_fine_tuning(argv[1], argv[2]);
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
