/* Compiled (never linked) by tests/c/check_header_alone.sh with only -I capi: domainsearch.h must
 * need nothing but itself and the C standard headers (no build-tree or C++ export header). C99 and C++. */
#include <domainsearch.h>

#ifndef DS_C_API
#error "domainsearch.h defines DS_C_API itself"
#endif

/* Every function added in issue #22, so a missing declaration fails here too. */
typedef void (*any_fn)(void);
static const any_fn added[] = {
    (any_fn)ds_pipeline_add_bytes,     (any_fn)ds_key_for_path,          (any_fn)ds_pipeline_dimension,
    (any_fn)ds_pipeline_embed_file,    (any_fn)ds_pipeline_embed_bytes,  (any_fn)ds_pipeline_embed_pixels,
    (any_fn)ds_pipeline_index_csv2,    (any_fn)ds_pipeline_index_folder2, (any_fn)ds_indexing_failures_count,
    (any_fn)ds_indexing_failures_get,  (any_fn)ds_indexing_failures_free,
};

int header_alone(void);
int header_alone(void) {
  ds_pipeline_options options;
  ds_indexing_failures* failures = NULL;
  ds_pipeline_options_init(&options);
  ds_indexing_failures_free(failures);
  return (int)(sizeof added / sizeof added[0]) + (int)ds_abi_version();
}
