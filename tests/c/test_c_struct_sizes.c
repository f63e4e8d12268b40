/* The versioned structs of the C ABI at every size a caller may pass: a program built against an
 * older header passes a shorter struct (every field boundary stands for an older struct that ends
 * before that field, e.g. a ds_query_options without `answer`), one built against a newer header a
 * longer one. Each struct lies at the start of a buffer filled with canary bytes, and the checks are:
 * bytes past struct_size are never written; an output field is written exactly when it lies entirely
 * inside struct_size; an absent input field behaves as its documented default (the canary bytes behind
 * it are never read as a value: a canary pointer would crash, a canary k or int would show); a
 * struct_size below 4 is refused with DS_ERR_INVALID_ARGUMENT.
 * Usage: test_c_struct_sizes MODEL_DIR SCRATCH_DIR (MODEL_DIR as for test_c). */
#define _XOPEN_SOURCE 700 /* realpath */
#include <domainsearch.h>

#include "test_images.h"
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int passed = 0, failed = 0;
#define CHECK(cond)                                                                                         \
  do {                                                                                                      \
    if (cond) ++passed;                                                                                     \
    else {                                                                                                  \
      ++failed;                                                                                             \
      fprintf(stderr, "%s:%d: CHECK(%s) failed (struct_size %u); last error: %s\n", __FILE__, __LINE__, #cond, \
              (unsigned)current_size, ds_last_error());                                                     \
    }                                                                                                       \
  } while (0)

static size_t current_size = 0; /* the struct_size under test, for failure messages */

enum { W = TEST_IMAGE_W, H = TEST_IMAGE_H, ITEMS = 12, CANARY = 0x5A, SLACK = 32, MAX_SIZES = 64 };
enum { CONFIG_K = 3, OPTIONS_K = 5, QUERY_K = 4 };

typedef struct field {
  size_t offset, size;
} field;
#define FIELD(S, f) {offsetof(S, f), sizeof(((S*)0)->f)}

static const field pipeline_fields[] = {
    FIELD(ds_pipeline_options, config_path), FIELD(ds_pipeline_options, backbone_manifest),
    FIELD(ds_pipeline_options, segmenter_manifest), FIELD(ds_pipeline_options, device),
    FIELD(ds_pipeline_options, threads), FIELD(ds_pipeline_options, localize), FIELD(ds_pipeline_options, k)};
static const field query_fields[] = {FIELD(ds_query_options, k), FIELD(ds_query_options, category),
                                     FIELD(ds_query_options, filter), FIELD(ds_query_options, filter_user),
                                     FIELD(ds_query_options, answer)};
static const field indexing_fields[] = {FIELD(ds_indexing_report, added), FIELD(ds_indexing_report, skipped_existing),
                                        FIELD(ds_indexing_report, failed), FIELD(ds_indexing_report, cancelled),
                                        FIELD(ds_indexing_report, seconds)};
static const field training_fields[] = {FIELD(ds_training_report, samples), FIELD(ds_training_report, epochs),
                                        FIELD(ds_training_report, best_epoch),
                                        FIELD(ds_training_report, best_validation_accuracy),
                                        FIELD(ds_training_report, seconds), FIELD(ds_training_report, dropped)};
static const field catalogue_fields[] = {FIELD(ds_catalogue_info, items), FIELD(ds_catalogue_info, dimension),
                                         FIELD(ds_catalogue_info, categories), FIELD(ds_catalogue_info, has_category_head),
                                         FIELD(ds_catalogue_info, file_bytes)};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Every struct_size worth testing for a struct of `full` bytes: 0..4 (only 4 is accepted), each field
 * boundary and one byte into each field (the field is then absent), the full size and a longer one. */
static size_t sizes_of(const field* fields, size_t count, size_t full, size_t* sizes) {
  size_t n = 0, i;
  for (i = 0; i <= 4; ++i) sizes[n++] = i;
  for (i = 0; i < count; ++i) {
    sizes[n++] = fields[i].offset;
    sizes[n++] = fields[i].offset + 1;
  }
  sizes[n++] = full;
  sizes[n++] = full + SLACK / 2;
  return n;
}

static int inside(const field* f, size_t size) { return f->offset + f->size <= size; }

static int all_canary(const unsigned char* bytes, size_t from, size_t to) {
  for (; from < to; ++from)
    if (bytes[from] != CANARY) return 0;
  return 1;
}

/* A canary-filled buffer of full + SLACK bytes (malloc: aligned for any struct) with struct_size `size`. */
static unsigned char* canary_struct(size_t full, size_t size) {
  unsigned char* bytes = malloc(full + SLACK);
  const uint32_t struct_size = (uint32_t)size;
  if (!bytes) abort();
  memset(bytes, CANARY, full + SLACK);
  memcpy(bytes, &struct_size, sizeof struct_size);
  return bytes;
}

/* An input struct of `size` bytes: the first bytes of `value` (up to its `full` size), zeros past it
 * (a newer caller's fields left at their defaults), canary bytes after `size`. */
static unsigned char* input_struct(const void* value, size_t full, size_t size) {
  unsigned char* bytes = canary_struct(full, size);
  if (size > sizeof(uint32_t))
    memcpy(bytes + sizeof(uint32_t), (const unsigned char*)value + sizeof(uint32_t), (size < full ? size : full) - sizeof(uint32_t));
  if (size > full) memset(bytes + full, 0, size - full);
  return bytes;
}

static int in_written_field(size_t byte, const field* fields, size_t count, size_t size) {
  size_t i;
  for (i = 0; i < count; ++i)
    if (inside(&fields[i], size) && byte >= fields[i].offset && byte < fields[i].offset + fields[i].size) return 1;
  return 0;
}

/* Checks an output struct of `full` bytes (canary_struct(), then the call): the fields inside
 * struct_size were written (their bytes equal `expected`'s or, for fields in the `varying` bit mask,
 * e.g. seconds, merely differ from the canary), every other byte after struct_size is still canary. */
static void check_output(const unsigned char* bytes, size_t full, const field* fields, size_t count, const void* expected,
                         unsigned varying) {
  size_t i, b;
  for (i = 0; i < count; ++i) {
    const field* f = &fields[i];
    if (!inside(f, current_size)) continue;
    if (varying & (1u << i)) CHECK(!all_canary(bytes, f->offset, f->offset + f->size));
    else CHECK(memcmp(bytes + f->offset, (const unsigned char*)expected + f->offset, f->size) == 0);
  }
  for (b = sizeof(uint32_t); b < full + SLACK; ++b)
    if (!in_written_field(b, fields, count, current_size) && bytes[b] != CANARY) {
      CHECK(bytes[b] == CANARY);
      break;
    }
}

/* ---- fixtures */


/* Items 0..ITEMS-1 in categories "even" and "odd", all photos of one label: an item answer has one result,
 * a photo answer k. */
static int fill(ds_pipeline* p) {
  uint8_t rgb[W * H * 3];
  ds_image image;
  int i;
  image.width = W, image.height = H, image.stride = W * 3, image.format = DS_RGB8, image.data = rgb;
  for (i = 0; i < ITEMS; ++i) {
    draw(rgb, i);
    if (ds_pipeline_add_pixels(p, (uint64_t)i, &image, i % 2 ? "odd" : "even", "item", 0) != DS_OK) return 0;
  }
  return 1;
}

/* Options that are all non-default, so that an absent field shows: the configuration sets k = CONFIG_K,
 * the options override it with OPTIONS_K. */
static ds_pipeline_options full_pipeline_options(const char* config, const char* backbone) {
  ds_pipeline_options o;
  ds_pipeline_options_init(&o);
  o.config_path = config;
  o.backbone_manifest = backbone;
  o.segmenter_manifest = NULL;
  o.device = "cpu";
  o.threads = 1;
  o.localize = 0;
  o.k = OPTIONS_K;
  return o;
}

/* Results of a photo answer with the pipeline's k. */
static size_t query_count(ds_pipeline* p) {
  ds_results* results = NULL;
  ds_query_options photos;
  size_t count;
  ds_query_options_init(&photos);
  photos.answer = DS_ANSWER_PHOTOS;
  if (ds_pipeline_query_key(p, 1, &photos, &results) != DS_OK) return (size_t)-1;
  count = ds_results_count(results);
  ds_results_free(results);
  return count;
}

/* ---- inputs */

static void test_pipeline_options(const char* config, const char* backbone) {
  const ds_pipeline_options full = full_pipeline_options(config, backbone);
  ds_pipeline* const sentinel = (ds_pipeline*)&current_size;
  size_t sizes[MAX_SIZES], n = sizes_of(pipeline_fields, COUNT(pipeline_fields), sizeof full, sizes), i;
  for (i = 0; i < n; ++i) {
    const size_t size = sizes[i];
    unsigned char* bytes = input_struct(&full, sizeof full, size);
    unsigned char* before = input_struct(&full, sizeof full, size);
    ds_pipeline* p = sentinel;
    ds_status status;
    current_size = size;
    status = ds_pipeline_create((const ds_pipeline_options*)(void*)bytes, &p);
    CHECK(memcmp(before, bytes, sizeof full + SLACK) == 0); /* an input is never written */
    if (size < 4) {
      CHECK(status == DS_ERR_INVALID_ARGUMENT && p == sentinel);
      CHECK(strstr(ds_last_error(), "ds_pipeline_options.struct_size") != NULL);
    } else if (!inside(&pipeline_fields[0], size)) {
      /* Built-in defaults: no backbone configured. */
      CHECK(status == DS_ERR_INVALID_ARGUMENT && p == sentinel);
      CHECK(strstr(ds_last_error(), "backbone") != NULL);
    } else {
      CHECK(status == DS_OK);
      if (status == DS_OK) {
        CHECK(fill(p));
        /* k absent: the configuration's, not the canary bytes behind it. */
        CHECK(query_count(p) == (inside(&pipeline_fields[6], size) ? OPTIONS_K : CONFIG_K));
        ds_pipeline_free(p);
      }
    }
    free(before);
    free(bytes);
  }

  { /* A newer caller's longer struct: refused when a field this library does not know is set. */
    unsigned char* bytes = input_struct(&full, sizeof full, sizeof full + 8);
    ds_pipeline* p = sentinel;
    current_size = sizeof full + 8;
    bytes[sizeof full + 3] = 1;
    CHECK(ds_pipeline_create((const ds_pipeline_options*)(void*)bytes, &p) == DS_ERR_INVALID_ARGUMENT && p == sentinel);
    CHECK(strstr(ds_last_error(), "ds_pipeline_options.struct_size") != NULL);
    free(bytes);
  }
}

static int filter_calls = 0;
static void* filter_user_seen = &filter_calls;
static int not_zero(uint64_t key, void* user) {
  ++filter_calls;
  filter_user_seen = user;
  return key != 0;
}

static void test_query_options(ds_pipeline* p) {
  static int marker;
  ds_query_options full;
  ds_results* const sentinel = (ds_results*)&marker;
  size_t sizes[MAX_SIZES], n, i;
  ds_query_options_init(&full);
  full.k = QUERY_K;
  full.category = "even";
  full.filter = not_zero;
  full.filter_user = &marker;
  full.answer = DS_ANSWER_PHOTOS;
  n = sizes_of(query_fields, COUNT(query_fields), sizeof full, sizes);
  for (i = 0; i < n; ++i) {
    const size_t size = sizes[i];
    unsigned char* bytes = input_struct(&full, sizeof full, size);
    unsigned char* before = input_struct(&full, sizeof full, size);
    ds_results* results = sentinel;
    ds_status status;
    current_size = size;
    filter_calls = 0;
    filter_user_seen = &filter_calls;
    status = ds_pipeline_query_key(p, 1, (const ds_query_options*)(void*)bytes, &results);
    CHECK(memcmp(before, bytes, sizeof full + SLACK) == 0); /* an input is never written */
    if (size < 4) {
      CHECK(status == DS_ERR_INVALID_ARGUMENT && results == sentinel);
      CHECK(strstr(ds_last_error(), "ds_query_options.struct_size") != NULL);
    } else {
      CHECK(status == DS_OK);
      if (status == DS_OK) {
        size_t r;
        /* k absent: the pipeline's; category absent: any; filter absent: not called, user absent: NULL;
         * answer absent: items, and every photo is of one item. */
        CHECK(ds_results_count(results) ==
              (!inside(&query_fields[4], size) ? 1 : inside(&query_fields[0], size) ? QUERY_K : CONFIG_K));
        for (r = 0; r < ds_results_count(results); ++r) {
          ds_result hit;
          CHECK(ds_results_get(results, r, &hit) == DS_OK);
          if (inside(&query_fields[1], size)) CHECK(strcmp(hit.category, "even") == 0);
          if (inside(&query_fields[2], size)) CHECK(hit.key != 0);
        }
        CHECK((filter_calls > 0) == inside(&query_fields[2], size));
        if (inside(&query_fields[2], size))
          CHECK(filter_user_seen == (inside(&query_fields[3], size) ? (void*)&marker : NULL));
        ds_results_free(results);
      }
    }
    free(before);
    free(bytes);
  }
}

/* ---- outputs */

static void test_catalogue_info(const char* catalogue) {
  ds_catalogue_info expected;
  size_t sizes[MAX_SIZES], n = sizes_of(catalogue_fields, COUNT(catalogue_fields), sizeof expected, sizes), i;
  ds_catalogue_info_init(&expected);
  current_size = sizeof expected;
  CHECK(ds_catalogue_inspect(catalogue, &expected) == DS_OK);
  CHECK(expected.items == ITEMS && expected.categories == 2 && expected.file_bytes > 0);
  for (i = 0; i < n; ++i) {
    const size_t size = sizes[i];
    unsigned char* bytes = canary_struct(sizeof expected, size);
    ds_status status;
    current_size = size;
    status = ds_catalogue_inspect(catalogue, (ds_catalogue_info*)(void*)bytes);
    if (size < 4) {
      CHECK(status == DS_ERR_INVALID_ARGUMENT && all_canary(bytes, sizeof(uint32_t), sizeof expected + SLACK));
      CHECK(strstr(ds_last_error(), "ds_catalogue_info.struct_size") != NULL);
    } else {
      CHECK(status == DS_OK);
      check_output(bytes, sizeof expected, catalogue_fields, COUNT(catalogue_fields), &expected, 0);
    }
    free(bytes);
  }
}

static void test_training_report(ds_pipeline* p) {
  ds_training_report expected;
  const unsigned varying = ~1u; /* all but samples: epochs may stop early, and seconds vary */
  size_t sizes[MAX_SIZES], n = sizes_of(training_fields, COUNT(training_fields), sizeof expected, sizes), i;
  ds_training_report_init(&expected);
  current_size = sizeof expected;
  CHECK(ds_pipeline_train(p, &expected) == DS_OK);
  CHECK(expected.samples == ITEMS && expected.epochs > 0);
  for (i = 0; i < n; ++i) {
    const size_t size = sizes[i];
    unsigned char* bytes = canary_struct(sizeof expected, size);
    ds_status status;
    current_size = size;
    status = ds_pipeline_train(p, (ds_training_report*)(void*)bytes);
    if (size < 4) {
      CHECK(status == DS_ERR_INVALID_ARGUMENT && all_canary(bytes, sizeof(uint32_t), sizeof expected + SLACK));
      CHECK(strstr(ds_last_error(), "ds_training_report.struct_size") != NULL);
    } else {
      CHECK(status == DS_OK);
      check_output(bytes, sizeof expected, training_fields, COUNT(training_fields), &expected, varying);
    }
    free(bytes);
  }
}

static void test_indexing_report(ds_pipeline* p, const char* dir) {
  ds_indexing_report expected;
  char folder[512];
  const unsigned seconds = 1u << 4; /* varies between runs */
  size_t sizes[MAX_SIZES], n = sizes_of(indexing_fields, COUNT(indexing_fields), sizeof expected, sizes), i;
  CHECK(write_tree(dir, 2, folder, sizeof folder));
  current_size = sizeof expected;
  CHECK(ds_pipeline_index_folder(p, folder, NULL, NULL, NULL) == DS_OK);
  ds_indexing_report_init(&expected);
  CHECK(ds_pipeline_index_folder(p, folder, NULL, NULL, &expected) == DS_OK); /* every later run is the same */
  CHECK(expected.added == 0 && expected.skipped_existing == 2 && expected.failed == 0 && expected.cancelled == 0);
  for (i = 0; i < n; ++i) {
    const size_t size = sizes[i];
    unsigned char* bytes = canary_struct(sizeof expected, size);
    ds_status status;
    current_size = size;
    status = ds_pipeline_index_folder(p, folder, NULL, NULL, (ds_indexing_report*)(void*)bytes);
    if (size < 4) {
      CHECK(status == DS_ERR_INVALID_ARGUMENT && all_canary(bytes, sizeof(uint32_t), sizeof expected + SLACK));
      CHECK(strstr(ds_last_error(), "ds_indexing_report.struct_size") != NULL);
    } else {
      CHECK(status == DS_OK);
      check_output(bytes, sizeof expected, indexing_fields, COUNT(indexing_fields), &expected, seconds);
    }
    free(bytes);
  }
}

int main(int argc, char** argv) {
  char config[512], backbone[512], catalogue[512];
  char* models;
  ds_pipeline_options options;
  ds_pipeline* p = NULL;
  FILE* f;
  if (argc != 3) {
    fprintf(stderr, "usage: test_c_struct_sizes MODEL_DIR SCRATCH_DIR\n");
    return 2;
  }
  models = realpath(argv[1], NULL); /* the configuration file lives elsewhere */
  CHECK(models != NULL);
  if (!models) return 1;
  snprintf(backbone, sizeof backbone, "%s/backbone.json", models);
  free(models);
  snprintf(config, sizeof config, "%s/config.json", argv[2]);
  f = fopen(config, "w");
  CHECK(f != NULL);
  if (!f) return 1;
  fprintf(f, "{\"backbone\": \"%s\", \"device\": \"cpu\", \"threads\": 1, \"k\": %d, \"category_mode\": \"off\", "
             "\"training\": {\"max_epochs\": 3, \"seed\": 7}}\n", backbone, CONFIG_K);
  fclose(f);

  test_pipeline_options(config, backbone);

  options = full_pipeline_options(config, NULL);
  options.k = 0; /* the configuration's */
  current_size = sizeof options;
  CHECK(ds_pipeline_create(&options, &p) == DS_OK);
  if (p == NULL) return 1;
  CHECK(fill(p));
  test_query_options(p);
  snprintf(catalogue, sizeof catalogue, "%s/catalogue.dscat", argv[2]);
  CHECK(ds_pipeline_save(p, catalogue) == DS_OK);
  test_catalogue_info(catalogue);
  test_training_report(p);
  test_indexing_report(p, argv[2]);
  ds_pipeline_free(p);

  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
