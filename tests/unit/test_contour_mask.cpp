#include <catch2/catch.hpp>
#include <cmath>

#include "domainsearch/contour_mask.hpp"
#include "domainsearch/error.hpp"

using namespace domainsearch;

namespace {

constexpr double kPi = 3.14159265358979323846;

struct Canvas {
  int w, h;
  std::vector<std::uint8_t> px;
  Canvas(int w_, int h_) : w(w_), h(h_), px(static_cast<std::size_t>(w_) * h_, 0) {}
  Canvas& rect(int x0, int y0, int x1, int y1) {
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x < x1; ++x) px[y * w + x] = 255;
    return *this;
  }
  Canvas& disc(double cx, double cy, double r) {
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        if (std::hypot(x + 0.5 - cx, y + 0.5 - cy) <= r) px[y * w + x] = 255;
    return *this;
  }
  ContourMask mask(int side, MaskFrame frame = MaskFrame::Image) const {
    return ContourMask::from_binary(px.data(), w, h, static_cast<std::size_t>(w), side, frame);
  }
};

// Area of the lens where two discs of radius r whose centres are d apart overlap.
double lens_area(double r, double d) { return 2 * r * r * std::acos(d / (2 * r)) - d / 2 * std::sqrt(4 * r * r - d * d); }

}  // namespace

TEST_CASE("rectangles aligned to the grid give exact areas and IoU", "[mask]") {
  const ContourMask centre = Canvas(256, 256).rect(64, 64, 192, 192).mask(64);
  CHECK(centre.area() == 32 * 32);
  CHECK(centre.at(16, 16));
  CHECK_FALSE(centre.at(15, 16));
  CHECK_FALSE(centre.at(48, 47));

  const ContourMask left = Canvas(256, 256).rect(0, 0, 128, 256).mask(64);
  const ContourMask middle = Canvas(256, 256).rect(64, 0, 192, 256).mask(64);
  CHECK(left.iou(middle) == Approx(1.0 / 3.0).epsilon(1e-12));
  CHECK(left.iou(left) == 1.0);
}

TEST_CASE("discs match their analytic IoU", "[mask]") {
  const ContourMask small = Canvas(512, 512).disc(256, 256, 100).mask(128);
  const ContourMask large = Canvas(512, 512).disc(256, 256, 200).mask(128);
  CHECK(small.iou(large) == Approx(100.0 * 100 / (200.0 * 200)).margin(0.02));

  const double r = 120, d = 100;
  const ContourMask a = Canvas(512, 512).disc(200, 256, r).mask(128);
  const ContourMask b = Canvas(512, 512).disc(200 + d, 256, r).mask(128);
  const double lens = lens_area(r, d);
  CHECK(a.iou(b) == Approx(lens / (2 * kPi * r * r - lens)).margin(0.02));
}

TEST_CASE("bounding-box frame keeps shape only / image frame keeps size and position", "[mask]") {
  const Canvas small = Canvas(400, 300).rect(10, 10, 50, 40);     // 40 x 30
  const Canvas big = Canvas(400, 300).rect(200, 100, 360, 220);   // 160 x 120, same aspect
  CHECK(small.mask(64, MaskFrame::BoundingBox).iou(big.mask(64, MaskFrame::BoundingBox)) == 1.0);
  CHECK(small.mask(64, MaskFrame::Image).iou(big.mask(64, MaskFrame::Image)) == 0.0);
  CHECK(small.mask(64, MaskFrame::BoundingBox).area() == 64 * 64);
}

TEST_CASE("empty and full masks", "[mask]") {
  const ContourMask empty = Canvas(100, 80).mask(32);
  const ContourMask full = Canvas(100, 80).rect(0, 0, 100, 80).mask(32);
  CHECK(empty.empty());
  CHECK(empty.area() == 0);
  CHECK(full.area() == 32 * 32);
  CHECK(empty.iou(empty) == 1.0);
  CHECK(empty.iou(full) == 0.0);
  CHECK(full.iou(full) == 1.0);
  CHECK(Canvas(100, 80).mask(32, MaskFrame::BoundingBox).empty());

  // A side that is not a multiple of 8: 10 x 10 = 100 cells in two words.
  const ContourMask odd = Canvas(50, 50).rect(0, 0, 50, 50).mask(10);
  CHECK(odd.area() == 100);
  CHECK(odd.words().size() == 2);
}

TEST_CASE("soft masks threshold at the given probability", "[mask]") {
  std::vector<float> soft(64 * 64, 0.0f);
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 32; ++x) soft[y * 64 + x] = 0.7f;
  CHECK(ContourMask::from_soft(soft.data(), 64, 64, 64, 16, MaskFrame::Image, 0.5f).area() == 16 * 8);
  CHECK(ContourMask::from_soft(soft.data(), 64, 64, 64, 16, MaskFrame::Image, 0.8f).area() == 0);
}

TEST_CASE("serialisation round-trips and refuses malformed buffers", "[mask]") {
  const ContourMask m = Canvas(256, 256).disc(100, 120, 70).mask(40, MaskFrame::BoundingBox);
  const auto bytes = m.serialize();
  CHECK(ContourMask::deserialize(bytes.data(), bytes.size()) == m);

  auto short_buf = bytes;
  short_buf.pop_back();
  CHECK_THROWS_AS(ContourMask::deserialize(short_buf.data(), short_buf.size()), Error);
  auto bad_side = bytes;
  bad_side[0] = 3;
  bad_side[1] = 0;
  CHECK_THROWS_AS(ContourMask::deserialize(bad_side.data(), bad_side.size()), Error);
  const ContourMask odd = Canvas(50, 50).mask(10);
  auto odd_bytes = odd.serialize();
  odd_bytes.back() = 0x80;  // 100 cells leave 28 unused bits in the second word
  CHECK_THROWS_AS(ContourMask::deserialize(odd_bytes.data(), odd_bytes.size()), Error);
}

TEST_CASE("masks of different geometry cannot be compared / sides are bounded", "[mask]") {
  const ContourMask a(32), b(64), c(32, MaskFrame::BoundingBox);
  CHECK_THROWS_AS(a.iou(b), Error);
  CHECK_THROWS_AS(a.iou(c), Error);
  CHECK_THROWS_AS(ContourMask(4), Error);
  CHECK_THROWS_AS(ContourMask(2048), Error);
  CHECK_THROWS_AS(a.at(32, 0), Error);
}
