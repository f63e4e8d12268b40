/* An outside C program built with nothing but `cc $(pkg-config --cflags --libs domainsearch)` against an
 * installed tree (tests/c/test_pkg_config.sh); no models needed. Exits non-zero on any mismatch. */
#include <domainsearch.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  ds_index* index = NULL;
  int32_t category = -1;
  const uint64_t keys[2] = {1, 2};
  const float vectors[4] = {0, 0, 3, 4};
  int32_t categories[2];
  uint64_t found = 0;
  float distance = -1;
  uint64_t key = 0;
  if (ds_abi_version() != DS_ABI_VERSION || strlen(ds_version_string()) < 5) return 1;
  if (ds_key_for_path("a", &key) != DS_OK || key != 0x44bd8ad473cd9906ULL) return 2; /* as Pipeline::key_for_path("a") */
  if (ds_index_create(2, &index) != DS_OK || ds_index_add_category(index, "demo", &category) != DS_OK) return 3;
  categories[0] = categories[1] = category;
  if (ds_index_add(index, 2, keys, categories, vectors, NULL) != DS_OK) return 4;
  if (ds_index_search(index, vectors + 2, 1, 1, NULL, 0, NULL, NULL, &found, &distance, NULL) != DS_OK || found != 2 || distance != 0.0f)
    return 5;
  ds_index_free(index);
  if (ds_index_create(0, &index) != DS_ERR_INVALID_ARGUMENT || strlen(ds_last_error()) == 0) return 6;
  printf("pkg-config consumer OK: libdomainsearch_c %s, ABI %u\n", ds_version_string(), (unsigned)ds_abi_version());
  return 0;
}
