/* Test pictures shared by the C tests: a W x H white RGB image with a coloured rectangle whose size and
 * colour depend on `i`, in memory or as a binary PPM file. Header-only (static functions), C99. */
#ifndef DS_TEST_IMAGES_H
#define DS_TEST_IMAGES_H
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

enum { TEST_IMAGE_W = 64, TEST_IMAGE_H = 48 };

static void draw(uint8_t* rgb, int i) {
  int x, y;
  memset(rgb, 255, TEST_IMAGE_W * TEST_IMAGE_H * 3);
  for (y = 10; y < 20 + 3 * i && y < TEST_IMAGE_H; ++y)
    for (x = 8; x < 20 + 5 * i && x < TEST_IMAGE_W; ++x) {
      uint8_t* p = rgb + (y * TEST_IMAGE_W + x) * 3;
      p[0] = (uint8_t)(30 * i), p[1] = (uint8_t)(200 - 30 * i), p[2] = 60;
    }
}

/* Writes draw(i) as a PPM; returns 0 when the file cannot be written. */
static int write_ppm(const char* path, int i) {
  uint8_t rgb[TEST_IMAGE_W * TEST_IMAGE_H * 3];
  FILE* f = fopen(path, "wb");
  if (!f) return 0;
  draw(rgb, i);
  fprintf(f, "P6\n%d %d\n255\n", TEST_IMAGE_W, TEST_IMAGE_H);
  fwrite(rgb, 1, sizeof rgb, f);
  fclose(f);
  return 1;
}

/* Writes `count` pictures as DIR/tree/boxes/item<i>.ppm (a folder catalogue with one category) and
 * puts "DIR/tree" into `folder` (`size` bytes); returns 0 when a file cannot be written. */
static int write_tree(const char* dir, int count, char* folder, size_t size) {
  char path[512];
  int i;
  snprintf(folder, size, "%s/tree", dir);
  mkdir(folder, 0755);
  snprintf(path, sizeof path, "%s/tree/boxes", dir);
  mkdir(path, 0755);
  for (i = 0; i < count; ++i) {
    snprintf(path, sizeof path, "%s/tree/boxes/item%d.ppm", dir, i);
    if (!write_ppm(path, i)) return 0;
  }
  return 1;
}

#endif
