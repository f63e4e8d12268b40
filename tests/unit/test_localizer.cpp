#include <catch2/catch.hpp>
#include <array>
#include <cmath>

#include "domainsearch/error.hpp"
#include "domainsearch/localizer.hpp"
#include "test_models.hpp"
#include "test_util.hpp"

using namespace domainsearch;

namespace {

struct Scene {
  Image image;
  std::vector<std::uint8_t> truth;  // 255 where an object pixel is
};

// White image with dark discs {cx, cy, r}; an optional white hole of radius `hole` in the first.
Scene discs(int w, int h, const std::vector<std::array<double, 3>>& shapes, double hole = 0) {
  Scene s{Image(w, h), std::vector<std::uint8_t>(static_cast<std::size_t>(w) * h, 0)};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (std::size_t k = 0; k < shapes.size(); ++k) {
        const double d = std::hypot(x + 0.5 - shapes[k][0], y + 0.5 - shapes[k][1]);
        if (d > shapes[k][2] || (k == 0 && d < hole)) continue;
        std::uint8_t* p = s.image.data() + y * s.image.stride() + x * 3;
        p[0] = 20, p[1] = 30, p[2] = 40;
        s.truth[y * w + x] = 255;
      }
  return s;
}

double iou(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b) {
  std::size_t inter = 0, uni = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    inter += a[i] && b[i];
    uni += a[i] || b[i];
  }
  return uni ? double(inter) / double(uni) : 1.0;
}

LocalizerOptions with(EdgeRefinement r) {
  LocalizerOptions o;
  o.refinement = r;
  return o;
}

}  // namespace

TEST_CASE("a dark object on white is found / matting refines its edges", "[localizer]") {
  dstest::ScratchDir dir;
  const auto seg = ModelManifest::load(dstest::write_dark_object_segmenter(dir.path().string(), 32));
  const Scene scene = discs(240, 180, {{{130, 95, 55}}});
  const Localization none = Localizer(seg, {}, with(EdgeRefinement::None)).localize(scene.image);
  const Localization guided = Localizer(seg, {}, with(EdgeRefinement::GuidedFilter)).localize(scene.image);
  const double iou_none = iou(none.mask, scene.truth), iou_guided = iou(guided.mask, scene.truth);
  INFO("IoU without refinement " << iou_none << ", with guided filter " << iou_guided);
  CHECK_FALSE(none.fallback);
  CHECK(none.confidence > 0.3f);
  CHECK(iou_none > 0.85);
  CHECK(iou_guided > 0.97);
  CHECK(iou_guided > iou_none);

  CHECK(guided.width == 240);
  CHECK(guided.alpha.size() == 240u * 180u);
  CHECK(std::abs(guided.box.x - 75) <= 2);
  CHECK(std::abs(guided.box.width - 110) <= 3);
  CHECK(guided.cutout.width() == guided.box.width);
  CHECK(guided.cutout.height() == guided.box.height);
  const std::uint8_t* centre = guided.cutout.data() + (guided.cutout.height() / 2) * guided.cutout.stride() + guided.cutout.width() / 2 * 3;
  CHECK(centre[0] < 40);
  CHECK(guided.cutout.data()[0] > 240);  // the box's corner is background: white
  CHECK(guided.contour == ContourMask::from_binary(guided.mask.data(), 240, 180, 240, 64, MaskFrame::Image));
}

TEST_CASE("a matting model refines the trimap's unknown band", "[localizer]") {
  dstest::ScratchDir dir;
  const auto seg = ModelManifest::load(dstest::write_dark_object_segmenter(dir.path().string(), 32));
  LocalizerOptions o = with(EdgeRefinement::MattingModel);
  o.matting_model = ModelManifest::load(dstest::write_trimap_matting_model(dir.path().string(), 128));
  const Scene scene = discs(240, 180, {{{120, 90, 60}}});
  const Localization loc = Localizer(seg, {}, o).localize(scene.image);
  CHECK(iou(loc.mask, scene.truth) > 0.95);
  CHECK_THROWS_AS(Localizer(seg, {}, with(EdgeRefinement::MattingModel)), Error);
}

TEST_CASE("largest component and hole filling", "[localizer]") {
  dstest::ScratchDir dir;
  const auto seg = ModelManifest::load(dstest::write_dark_object_segmenter(dir.path().string(), 64));
  const Scene two = discs(256, 192, {{{80, 96, 50}}, {{210, 60, 18}}});
  LocalizerOptions o;
  const Localization largest = Localizer(seg, {}, o).localize(two.image);
  CHECK(largest.box.x + largest.box.width < 150);  // the small disc on the right is dropped
  o.keep_largest_component = false;
  const Localization both = Localizer(seg, {}, o).localize(two.image);
  CHECK(both.box.x + both.box.width > 220);

  const Scene ring = discs(256, 256, {{{128, 128, 90}}}, 30);
  LocalizerOptions keep_holes;
  keep_holes.fill_holes = false;
  const Localization holed = Localizer(seg, {}, keep_holes).localize(ring.image);
  const Localization filled = Localizer(seg).localize(ring.image);
  CHECK(holed.mask[128 * 256 + 128] == 0);
  CHECK(filled.mask[128 * 256 + 128] == 255);
}

TEST_CASE("no trustworthy object: the fallback is used and reported", "[localizer]") {
  dstest::ScratchDir dir;
  const auto seg = ModelManifest::load(dstest::write_dark_object_segmenter(dir.path().string(), 32));
  const Image blank(120, 90);
  const Localization whole = Localizer(seg).localize(blank);
  CHECK(whole.fallback);
  CHECK(whole.confidence == 0.0f);
  CHECK(whole.box.width == 120);
  CHECK(whole.box.height == 90);
  CHECK(whole.cutout.width() == 120);
  CHECK(whole.contour.area() == 64u * 64u);

  LocalizerOptions strict;
  strict.min_confidence = 1.01f;  // never trusted
  strict.fallback = LocalizationFallback::BoundingBox;
  const Scene scene = discs(240, 180, {{{130, 95, 40}}});
  const Localization boxed = Localizer(seg, {}, strict).localize(scene.image);
  CHECK(boxed.fallback);
  CHECK(boxed.box.width < 100);
  CHECK(boxed.mask[boxed.box.y * 240 + boxed.box.x] == 255);  // the box corner is inside the fallback mask
}

TEST_CASE("Otsu threshold / batches equal singles / bad options", "[localizer]") {
  dstest::ScratchDir dir;
  const auto seg = ModelManifest::load(dstest::write_dark_object_segmenter(dir.path().string(), 32));
  LocalizerOptions otsu;
  otsu.threshold_method = ThresholdMethod::Otsu;
  const Scene a = discs(200, 150, {{{100, 75, 50}}}), b = discs(160, 160, {{{60, 70, 30}}});
  const Localizer loc(seg, {}, otsu);
  CHECK(iou(loc.localize(a.image).mask, a.truth) > 0.95);
  const auto batch = loc.localize_batch({a.image, b.image, a.image}, 2);
  REQUIRE(batch.size() == 3);
  CHECK(batch[1].mask == loc.localize(b.image).mask);
  CHECK(batch[2].mask == batch[0].mask);

  LocalizerOptions bad;
  bad.mask_side = 3;
  CHECK_THROWS_AS(Localizer(seg, {}, bad), Error);
  bad = LocalizerOptions{};
  bad.trimap_low = 0.9f;
  bad.trimap_high = 0.1f;
  CHECK_THROWS_AS(Localizer(seg, {}, bad), Error);
  CHECK_THROWS_AS(loc.localize(Image()), Error);
}
