/* Minimal C consumer through the flat C ABI: open a catalogue and query one photo.
 *   query_c CONFIG.json CATALOGUE.dscat PHOTO.jpg */
#include <domainsearch.h>
#include <stdio.h>

int main(int argc, char** argv) {
  ds_pipeline_options options;
  ds_query_options query;
  ds_pipeline* pipeline = NULL;
  ds_results* results = NULL;
  ds_result r;
  size_t i;
  if (argc != 4) {
    fprintf(stderr, "usage: %s CONFIG.json CATALOGUE.dscat PHOTO\n", argv[0]);
    return 2;
  }
  ds_pipeline_options_init(&options);
  options.config_path = argv[1];
  if (ds_pipeline_open(argv[2], &options, &pipeline) != DS_OK) {
    fprintf(stderr, "cannot open %s: %s\n", argv[2], ds_last_error());
    return 1;
  }
  ds_query_options_init(&query);
  query.k = 5;
  if (ds_pipeline_query_file(pipeline, argv[3], &query, &results) != DS_OK) {
    fprintf(stderr, "query failed: %s\n", ds_last_error());
    ds_pipeline_free(pipeline);
    return 1;
  }
  for (i = 0; i < ds_results_count(results); ++i)
    if (ds_results_get(results, i, &r) == DS_OK) printf("%-30s %-16s distance %.4f\n", r.label, r.category, r.distance);
  ds_results_free(results);
  ds_pipeline_free(pipeline);
  return 0;
}
