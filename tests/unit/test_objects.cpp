// Several products in one photo (Pipeline::query_objects): the geometry of src/objects/object_proposals.cpp
// on drawn scenes and hand-built finder grids, then the whole query with the tiny generated models.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "domainsearch/error.hpp"
#include "domainsearch/pipeline.hpp"
#include "objects/object_proposals.hpp"
#include "test_models.hpp"
#include "test_util.hpp"

using namespace domainsearch;
using detail::FinderGrid;
using detail::ObjectProposal;
using detail::ProposalSettings;
using dstest::status_of;

namespace {

const cv::Scalar kWhite(255, 255, 255), kOutline(20, 20, 20), kGrey(128, 128, 128);

double iou(const cv::Rect& a, const cv::Rect& b) {
  const double inter = (a & b).area();
  return inter / (a.area() + b.area() - inter);
}

// A package: `fill` inside a 3-pixel dark outline (its sides, the edges a cut follows).
void draw_package(cv::Mat& rgb, const cv::Rect& r, const cv::Scalar& fill) {
  cv::rectangle(rgb, r, kOutline, cv::FILLED);
  cv::rectangle(rgb, cv::Rect(r.x + 3, r.y + 3, r.width - 6, r.height - 6), fill, cv::FILLED);
}

// A white photo with grey packages at `boxes`, and a mask that is their union.
struct Drawn {
  cv::Mat rgb, mask;
};
Drawn drawn_scene(cv::Size size, const std::vector<cv::Rect>& boxes) {
  Drawn d{cv::Mat(size, CV_8UC3, kWhite), cv::Mat::zeros(size, CV_8U)};
  for (const cv::Rect& b : boxes) {
    draw_package(d.rgb, b, kGrey);
    d.mask(b).setTo(255);
  }
  return d;
}

std::vector<cv::Rect> boxes_of(const std::vector<ObjectProposal>& proposals) {
  std::vector<cv::Rect> out;
  for (const ObjectProposal& p : proposals) out.push_back(p.box);
  return out;
}

std::string describe(const std::vector<cv::Rect>& boxes) {
  std::string s;
  for (const cv::Rect& b : boxes)
    s += "(" + std::to_string(b.x) + "," + std::to_string(b.y) + "," + std::to_string(b.width) + "," + std::to_string(b.height) + ") ";
  return s;
}

// Each found box overlaps its true box (same order: reading order) by IoU > min_iou.
void check_boxes(const std::vector<cv::Rect>& found, const std::vector<cv::Rect>& truth, double min_iou) {
  INFO("found " << describe(found) << " truth " << describe(truth));
  REQUIRE(found.size() == truth.size());
  for (std::size_t i = 0; i < truth.size(); ++i) {
    INFO("box " << i << " IoU " << iou(found[i], truth[i]));
    CHECK(iou(found[i], truth[i]) > min_iou);
  }
}

}  // namespace

// ---- propose_objects / reading_order / are_neighbours: drawn photos and masks

TEST_CASE("two identical packages side by side, touching, are cut into two proposals", "[objects]") {
  const std::vector<cv::Rect> truth = {{40, 20, 60, 120}, {100, 20, 60, 120}};
  const Drawn d = drawn_scene({240, 160}, truth);
  const std::vector<ObjectProposal> p = detail::propose_objects(d.rgb, d.mask, {});
  // Uncut, the region (120 x 120, within the aspect range) would be one box of IoU 0.5 with each.
  check_boxes(boxes_of(p), truth, 0.8);
  REQUIRE(p.size() == 2);
  // The cut lies in the band of the touching outlines' strong edges (Sobel columns 96..97 and 102..103,
  // widened by 2 pixels: 94..105), in its middle: the true boundary (100).
  CHECK(p[0].cell.x + p[0].cell.width == 100);
  // The two parts of one region share a side: candidates for joining.
  CHECK(p[0].region == p[1].region);
  CHECK(p[0].cell.x + p[0].cell.width == p[1].cell.x);
  CHECK(detail::are_neighbours(p[0], p[1]));
  CHECK(detail::are_neighbours(p[1], p[0]));
  ObjectProposal other_region = p[1];
  other_region.region = p[0].region + 1;
  CHECK_FALSE(detail::are_neighbours(p[0], other_region));
  ObjectProposal apart = p[1];
  apart.cell.x += 1;  // a one-pixel gap: no shared side
  CHECK_FALSE(detail::are_neighbours(p[0], apart));
}

TEST_CASE("two packages stacked, touching, are cut along a row", "[objects]") {
  const std::vector<cv::Rect> truth = {{40, 20, 100, 60}, {40, 80, 100, 60}};
  const Drawn d = drawn_scene({200, 160}, truth);
  check_boxes(boxes_of(detail::propose_objects(d.rgb, d.mask, {})), truth, 0.8);
}

// A cut goes to the middle of the widened edge band, not to its first column (which left the first part
// 6 pixels short: near the ends of the aspect prior it fell outside it and the region was not cut at all).
// Both packages lie inside the prior (34 / 120 = 0.28 >= 0.25; 110 / 60 = 1.83 <= 2).
TEST_CASE("packages near the ends of the aspect prior are still cut apart", "[objects]") {
  const std::vector<cv::Rect> narrow = {{40, 20, 34, 120}, {74, 20, 34, 120}};
  const Drawn side_by_side = drawn_scene({200, 160}, narrow);
  check_boxes(boxes_of(detail::propose_objects(side_by_side.rgb, side_by_side.mask, {})), narrow, 0.8);
  const std::vector<cv::Rect> wide = {{40, 20, 110, 60}, {40, 80, 110, 60}};
  const Drawn stacked = drawn_scene({200, 160}, wide);
  check_boxes(boxes_of(detail::propose_objects(stacked.rgb, stacked.mask, {})), wide, 0.8);
}

TEST_CASE("three touching packages of different widths in a row give three proposals, left to right", "[objects]") {
  const std::vector<cv::Rect> truth = {{20, 20, 50, 120}, {70, 20, 80, 120}, {150, 20, 110, 120}};
  const Drawn d = drawn_scene({300, 160}, truth);
  check_boxes(boxes_of(detail::propose_objects(d.rgb, d.mask, {})), truth, 0.8);
}

TEST_CASE("one package stays one proposal: a stripe that would leave a part narrower than min_aspect cuts nothing", "[objects]") {
  const cv::Rect truth(60, 20, 60, 120);
  Drawn d = drawn_scene({240, 160}, {truth});
  CHECK(boxes_of(detail::propose_objects(d.rgb, d.mask, {})) == std::vector<cv::Rect>{truth});
  // A dark full-height stripe 18 pixels in: a cut there leaves a part 18..22 pixels wide, under
  // min_aspect (0.25) x 120 = 30.
  cv::rectangle(d.rgb, cv::Rect(truth.x + 18, truth.y + 3, 4, truth.height - 6), kOutline, cv::FILLED);
  std::vector<cv::Rect> found = boxes_of(detail::propose_objects(d.rgb, d.mask, {}));
  CHECK(found == std::vector<cv::Rect>{truth});
  // The stripe is a strong enough edge to cut when the prior allows parts that narrow.
  // (The cut lands a few pixels left of the stripe: see the note in the two-package test.)
  ProposalSettings loose;
  loose.min_aspect = 0.1f;
  loose.min_side = 8;  // the left part is about 15 pixels wide
  found = boxes_of(detail::propose_objects(d.rgb, d.mask, loose));
  INFO("with min_aspect 0.1: " << describe(found));
  REQUIRE(found.size() == 2);
  CHECK(std::abs(found[0].x + found[0].width - (truth.x + 18)) <= 4);
  CHECK((found[0] | found[1]) == truth);
}

TEST_CASE("an empty mask, or a region under min_area, proposes nothing", "[objects]") {
  const cv::Mat rgb(160, 240, CV_8UC3, kWhite);
  CHECK(detail::propose_objects(rgb, cv::Mat::zeros(rgb.size(), CV_8U), {}).empty());

  // A solid 20 x 20 region in a 640 x 480 photo: 400 pixels, under 0.002 of the photo (614.4).
  cv::Mat big(480, 640, CV_8UC3, kWhite), mask = cv::Mat::zeros(big.size(), CV_8U);
  const cv::Rect small(300, 200, 20, 20);
  big(small).setTo(kOutline);
  mask(small).setTo(255);
  ProposalSettings s;
  CHECK(detail::propose_objects(big, mask, s).empty());
  s.min_area = 0.001f;  // 307.2 pixels: now it is found
  CHECK(boxes_of(detail::propose_objects(big, mask, s)) == std::vector<cv::Rect>{small});
  s.min_side = 21;  // and min_side drops it again
  CHECK(detail::propose_objects(big, mask, s).empty());

  CHECK(status_of([&] { detail::propose_objects(big, cv::Mat::zeros(10, 10, CV_8U), {}); }) == Status::InvalidArgument);
}

TEST_CASE("reading order: rows top to bottom, each left to right", "[objects]") {
  // Row 1 (y ~ 10..50, jittered) and row 2 (y ~ 80..120), given shuffled.
  const std::vector<cv::Rect> boxes = {
      {150, 82, 40, 40},  // 0: row 2, middle
      {200, 14, 40, 40},  // 1: row 1, right (lower than its row's others, still that row)
      {10, 80, 40, 40},   // 2: row 2, left
      {100, 8, 40, 40},   // 3: row 1, middle
      {20, 10, 40, 40},   // 4: row 1, left
      {260, 78, 40, 40},  // 5: row 2, right (its top above row 2's others)
  };
  CHECK(detail::reading_order(boxes) == std::vector<std::size_t>{4, 3, 1, 2, 0, 5});
  CHECK(detail::reading_order({}).empty());

  // propose_objects returns its proposals so: a 2 x 2 layout of separate packages.
  const std::vector<cv::Rect> truth = {{20, 10, 60, 60}, {120, 14, 60, 60}, {30, 100, 60, 60}, {130, 96, 60, 60}};
  const Drawn d = drawn_scene({220, 180}, {truth[3], truth[1], truth[2], truth[0]});
  check_boxes(boxes_of(detail::propose_objects(d.rgb, d.mask, {})), truth, 0.95);
}

// ---- boxes_from_finder: a hand-built grid of 6 x 8 cells over a 128 x 96 input, photo 256 x 192.
// Cell stride 16 input pixels, scale 2: a cell is 32 photo pixels; centre (x + offset) * 32, size
// exp(log size) * 32.

namespace {

struct Grid {
  static constexpr int kH = 6, kW = 8;
  std::vector<float> planes = std::vector<float>(5 * kH * kW, 0.0f);
  float& at(int plane, int y, int x) { return planes[(static_cast<std::size_t>(plane) * kH + y) * kW + x]; }
  // A centre at cell (y, x) with probability p, offsets (ox, oy) and a size of w x h cells.
  void centre(int y, int x, float p, float ox, float oy, float w, float h) {
    at(0, y, x) = p, at(1, y, x) = ox, at(2, y, x) = oy, at(3, y, x) = std::log(w), at(4, y, x) = std::log(h);
  }
  FinderGrid view() const { return {planes.data(), kH, kW, 128, 96}; }
};

const cv::Size kPhoto(256, 192);

}  // namespace

TEST_CASE("finder: each peak is a box at its centre and size, most probable first - a peak under min_score is dropped", "[objects]") {
  Grid g;
  g.centre(1, 2, 0.7f, 0.5f, 0.5f, 3, 4);    // centre (80, 48), 96 x 128 -> (32, -16, 96, 128), clipped to y >= 0
  g.centre(3, 6, 0.9f, 0.25f, 0.75f, 2, 2);  // centre (200, 120), 64 x 64 -> (168, 88, 64, 64)
  g.centre(5, 0, 0.2f, 0.5f, 0.5f, 1, 1);    // centre (16, 176), 32 x 32 -> (0, 160, 32, 32)
  g.at(0, 1, 3) = 0.4f;                      // a lower neighbour of the first peak: not a centre
  const std::vector<cv::Rect> boxes = detail::boxes_from_finder(g.view(), kPhoto, 0.3f);
  INFO(describe(boxes));
  CHECK(boxes == std::vector<cv::Rect>{{168, 88, 64, 64}, {32, 0, 96, 112}});
  // With a lower min_score the third is kept, last.
  const std::vector<cv::Rect> low = detail::boxes_from_finder(g.view(), kPhoto, 0.1f);
  CHECK(low == std::vector<cv::Rect>{{168, 88, 64, 64}, {32, 0, 96, 112}, {0, 160, 32, 32}});
  // The same grid for a photo of the input's own size: half the pixels.
  CHECK(detail::boxes_from_finder(g.view(), {128, 96}, 0.3f) == std::vector<cv::Rect>{{84, 44, 32, 32}, {16, 0, 48, 56}});
}

TEST_CASE("finder: a plateau of equal probabilities is one box", "[objects]") {
  Grid g;
  // A 2 x 3 plateau of one-cell boxes: each cell alone would be a box of its own (IoU 0 with its
  // neighbours), so only the tie rule keeps it to one.
  for (int y = 2; y <= 3; ++y)
    for (int x = 3; x <= 5; ++x) g.centre(y, x, 0.8f, 0.5f, 0.5f, 1, 1);
  const std::vector<cv::Rect> boxes = detail::boxes_from_finder(g.view(), kPhoto, 0.3f);
  INFO(describe(boxes));
  CHECK(boxes.size() == 1);
  // The first cell of the plateau in row order, (2, 3): centre (112, 80).
  CHECK(boxes == std::vector<cv::Rect>{{96, 64, 32, 32}});
}

TEST_CASE("finder: two peaks whose boxes overlap by IoU > 0.6 are one product, the more probable", "[objects]") {
  Grid g;
  // Two centres two cells apart (a valley between), 6 x 6 cells each: centres 38.4 pixels apart.
  g.centre(2, 2, 0.6f, 0.9f, 0.5f, 6, 6);  // centre (92.8, 80) -> (-3, -16, 192, 192) clipped: (0, 0, 189, 176)
  g.centre(2, 4, 0.9f, 0.1f, 0.5f, 6, 6);  // centre (131.2, 80) -> (35, -16, 192, 192) clipped: (35, 0, 192, 176)
  g.at(0, 2, 3) = 0.1f;
  REQUIRE(iou({0, 0, 189, 176}, {35, 0, 192, 176}) > 0.6);
  CHECK(detail::boxes_from_finder(g.view(), kPhoto, 0.3f) == std::vector<cv::Rect>{{35, 0, 192, 176}});
  // Smaller boxes at the same centres overlap less (IoU < 0.6): both are kept.
  g.at(3, 2, 2) = g.at(4, 2, 2) = g.at(3, 2, 4) = g.at(4, 2, 4) = std::log(2.0f);
  CHECK(detail::boxes_from_finder(g.view(), kPhoto, 0.3f).size() == 2);
}

// ---- Pipeline::query_objects with the tiny models

namespace {

// Studio products: red A, green B, blue C, each with a small dark print of its own (too short an edge
// to cut along: under edge_fraction of the package's height or width). The tiny random backbone tells
// them apart by colour, not by print (measured: a found A or B lies about 0.3 from its own studio
// picture and 0.6..0.8 from the other's; C about 0.74 from its nearest, B). Every colour is dark
// enough for the dark-object segmenter.
enum Product { A, B, C };
const char* const kLabels[] = {"A", "B", "C"};

cv::Size size_of(Product p) { return p == B ? cv::Size(70, 120) : cv::Size(60, 120); }

void draw_product(cv::Mat& rgb, Product p, cv::Point at) {
  const cv::Rect r(at, size_of(p));
  const cv::Scalar fill = p == A ? cv::Scalar(170, 40, 40) : p == B ? cv::Scalar(40, 140, 40) : cv::Scalar(40, 40, 170);
  draw_package(rgb, r, fill);
  if (p == A)
    for (int k = 0; k < 3; ++k) cv::rectangle(rgb, cv::Rect(r.x + 24, r.y + 20 + 30 * k, 12, 12), kOutline, cv::FILLED);
  else if (p == B)
    cv::rectangle(rgb, cv::Rect(r.x + 23, r.y + 56, 24, 8), kOutline, cv::FILLED);
  else
    cv::circle(rgb, {r.x + 30, r.y + 60}, 10, kOutline, cv::FILLED);
}

Image to_image(const cv::Mat& rgb) {
  return Image::from_pixels({rgb.data, rgb.cols, rgb.rows, rgb.step, PixelFormat::RGB8});
}

// The catalogue's picture of a product: alone, centred on white.
Image studio(Product p) {
  cv::Mat rgb(size_of(p).height + 40, size_of(p).width + 40, CV_8UC3, kWhite);
  draw_product(rgb, p, {20, 20});
  return to_image(rgb);
}

struct Placed {
  Product product;
  cv::Point at;
};
cv::Mat scene(cv::Size size, const std::vector<Placed>& products) {
  cv::Mat rgb(size, CV_8UC3, kWhite);
  for (const Placed& p : products) draw_product(rgb, p.product, p.at);
  return rgb;
}

struct Models {
  dstest::ScratchDir dir;
  PipelineConfig config;
  Models() {
    const std::string d = dir.path().string();
    config.backbone_manifest = dstest::write_tiny_backbone(d, 16, 0, 32);
    config.segmenter_manifest = dstest::write_dark_object_segmenter(d, 64);
    config.runtime.threads = 1;
    config.category_mode = CategoryMode::Off;
  }
};

// A pipeline whose catalogue holds the studio pictures of `products` (key = the product's number + 1).
Pipeline catalogue_of(const PipelineConfig& config, const std::vector<Product>& products) {
  Pipeline p(config);
  for (Product product : products) p.add(static_cast<std::uint64_t>(product) + 1, studio(product), "studio", kLabels[product]);
  return p;
}

std::string first_label(const FoundObject& o) { return o.answer.results.empty() ? "" : o.answer.results.front().label; }

cv::Rect rect(const BoundingBox& b) { return {b.x, b.y, b.width, b.height}; }

std::string describe(const ObjectsResponse& r) {
  std::string s;
  for (const FoundObject& o : r.objects)
    s += describe(std::vector<cv::Rect>{rect(o.box)}) + first_label(o) + (o.answer.results.empty() ? "" : " d=" + std::to_string(o.answer.results.front().distance)) +
         (o.answer.results.size() > 1 ? " (next " + o.answer.results[1].label + " d=" + std::to_string(o.answer.results[1].distance) + ")" : "") +
         (o.answer.no_match ? " NO MATCH" : "") + "; ";
  return s;
}

}  // namespace

TEST_CASE("query_objects: two A side by side and a B are three products, counted A x 2 and B x 1", "[objects]") {
  Models m;
  const Pipeline p = catalogue_of(m.config, {A, B});
  const std::vector<cv::Rect> truth = {{30, 40, 60, 120}, {90, 40, 60, 120}, {230, 40, 70, 120}};
  const cv::Mat photo = scene({360, 200}, {{B, truth[2].tl()}, {A, truth[0].tl()}, {A, truth[1].tl()}});
  for (const ObjectCrop crop : {ObjectCrop::Cutout, ObjectCrop::Box}) {
    ObjectQueryOptions o;
    o.crop = crop;
    const ObjectsResponse r = p.query_objects(to_image(photo), o);
    INFO(to_string(crop) << ": " << describe(r));
    CHECK(r.width == 360);
    CHECK(r.height == 200);
    REQUIRE(r.objects.size() == 3);
    std::vector<cv::Rect> boxes;
    for (const FoundObject& f : r.objects) boxes.push_back(rect(f.box));
    check_boxes(boxes, truth, 0.7);  // the segmenter's map is coarse (64 x 64 over the photo)
    CHECK(first_label(r.objects[0]) == "A");
    CHECK(first_label(r.objects[1]) == "A");
    CHECK(first_label(r.objects[2]) == "B");
    for (const FoundObject& f : r.objects) {
      CHECK_FALSE(f.answer.no_match);
      CHECK(f.answer.results.size() == 2);  // each product's own answer lists the catalogue's items
      CHECK_FALSE(f.answer.localization.has_value());
    }
    REQUIRE(r.items.size() == 2);
    CHECK(r.items[0].label == "A");
    CHECK(r.items[0].category == "studio");
    CHECK(r.items[0].count == 2);
    CHECK(r.items[1].label == "B");
    CHECK(r.items[1].count == 1);
    CHECK(r.unmatched == 0);
    CHECK(r.timings.total_ms > 0);
    CHECK(r.timings.total_ms >= r.timings.find_ms + r.timings.embed_ms);
    CHECK(r.timings.decode_ms == 0);
  }

  // max_objects keeps the largest: B (70 wide; found 71 x 120, the larger A 66 x 120) alone.
  ObjectQueryOptions one;
  one.max_objects = 1;
  const ObjectsResponse largest = p.query_objects(to_image(photo), one);
  INFO(describe(largest));
  REQUIRE(largest.objects.size() == 1);
  CHECK(first_label(largest.objects[0]) == "B");

  // From a file: the same answer, with the decoding timed.
  dstest::ScratchDir dir;
  cv::Mat bgr;
  cv::cvtColor(photo, bgr, cv::COLOR_RGB2BGR);
  REQUIRE(cv::imwrite(dir.file("scene.png"), bgr));
  const ObjectsResponse from_file = p.query_objects_file(dir.file("scene.png"));
  const ObjectsResponse from_pixels = p.query_objects(to_image(photo));
  REQUIRE(from_file.objects.size() == from_pixels.objects.size());
  for (std::size_t i = 0; i < from_file.objects.size(); ++i) {
    CHECK(rect(from_file.objects[i].box) == rect(from_pixels.objects[i].box));
    CHECK(first_label(from_file.objects[i]) == first_label(from_pixels.objects[i]));
  }
  CHECK(from_file.timings.decode_ms > 0);
  CHECK(status_of([&] { p.query_objects_file(dir.file("missing.png")); }) == Status::Io);
}

TEST_CASE("query_objects: an all-white photo has no products - a studio picture has one, answered as query answers it", "[objects]") {
  Models m;
  const Pipeline p = catalogue_of(m.config, {A, B, C});
  const cv::Mat white(200, 300, CV_8UC3, kWhite);
  const ObjectsResponse none = p.query_objects(to_image(white));
  CHECK(none.objects.empty());
  CHECK(none.items.empty());
  CHECK(none.unmatched == 0);
  CHECK(none.width == 300);

  for (const Product product : {A, B, C}) {
    const Image image = studio(product);
    const ObjectsResponse r = p.query_objects(image);
    INFO(kLabels[product] << ": " << describe(r));
    REQUIRE(r.objects.size() == 1);
    CHECK(iou(rect(r.objects[0].box), cv::Rect({20, 20}, size_of(product))) > 0.8);
    const QueryResponse whole = p.query(image);
    REQUIRE_FALSE(whole.results.empty());
    REQUIRE_FALSE(r.objects[0].answer.results.empty());
    CHECK(whole.results.front().label == kLabels[product]);
    CHECK(r.objects[0].answer.results.front().key == whole.results.front().key);
    CHECK(r.objects[0].answer.results.front().label == whole.results.front().label);
    REQUIRE(r.items.size() == 1);
    CHECK(r.items[0].label == kLabels[product]);
    CHECK(r.items[0].count == 1);
  }
}

TEST_CASE("query_objects: a product absent from the catalogue is no match under match_distance", "[objects]") {
  // A scene of A and C apart; the catalogue holds A and B, not C.
  Models m;
  const std::vector<Product> catalogue = {A, B};
  const cv::Mat photo = scene({300, 200}, {{A, {40, 40}}, {C, {180, 40}}});
  const ObjectsResponse measured = catalogue_of(m.config, catalogue).query_objects(to_image(photo));
  INFO("without match_distance: " << describe(measured));
  REQUIRE(measured.objects.size() == 2);
  CHECK(measured.unmatched == 0);  // no rule configured: every product gets its nearest item
  REQUIRE(first_label(measured.objects[0]) == "A");
  REQUIRE_FALSE(measured.objects[1].answer.results.empty());
  const float a = measured.objects[0].answer.results.front().distance, c = measured.objects[1].answer.results.front().distance;
  // The assumption this test rests on: the tiny backbone puts C (blue) farther from every catalogue
  // item than A from its own studio picture.
  REQUIRE(c > a);

  PipelineConfig strict = m.config;
  strict.match_distance = (a + c) / 2;
  const ObjectsResponse r = catalogue_of(strict, catalogue).query_objects(to_image(photo));
  INFO("with match_distance " << strict.match_distance << ": " << describe(r));
  REQUIRE(r.objects.size() == 2);
  CHECK_FALSE(r.objects[0].answer.no_match);
  CHECK(r.objects[1].answer.no_match);
  CHECK_FALSE(r.objects[1].answer.results.empty());  // the results are still listed
  CHECK(r.unmatched == 1);
  REQUIRE(r.items.size() == 1);  // the unmatched product is not counted as an item
  CHECK(r.items[0].label == "A");
  CHECK(r.items[0].count == 1);

  PipelineConfig products_own = m.config;  // photo rule off, the products' rule strict
  products_own.object_rules = NoMatchRules{0, (a + c) / 2, 0};
  const Pipeline own = catalogue_of(products_own, catalogue);
  const ObjectsResponse by_object_rules = own.query_objects(to_image(photo));
  REQUIRE(by_object_rules.objects.size() == 2);
  CHECK_FALSE(by_object_rules.objects[0].answer.no_match);
  CHECK(by_object_rules.objects[1].answer.no_match);
  CHECK_FALSE(own.query(to_image(photo)).no_match);  // a photo query keeps the photo rules
  ObjectQueryOptions lenient;
  lenient.query.no_match_rules = NoMatchRules{};  // a query's own rules come first
  CHECK(own.query_objects(to_image(photo), lenient).unmatched == 0);
  ObjectQueryOptions wrong;
  wrong.query.no_match_rules = NoMatchRules{0, -1, 0};
  CHECK_THROWS_WITH(own.query_objects(to_image(photo), wrong), Catch::Contains("no_match_rules.match_distance must be a finite number >= 0"));
  wrong.query.no_match_rules = NoMatchRules{0, 0, 0.5f};  // the tiny configuration has no confidence model
  CHECK_THROWS_WITH(own.query_objects(to_image(photo), wrong), Catch::Contains("needs a confidence model"));

  PipelineConfig photo_strict = strict;  // photo rule strict, the products' rule off
  photo_strict.object_rules = NoMatchRules{};
  CHECK(catalogue_of(photo_strict, catalogue).query_objects(to_image(photo)).unmatched == 0);
}

TEST_CASE("query_objects refuses options out of range, an empty catalogue, and a configuration that cannot find products", "[objects]") {
  Models m;
  const Pipeline p = catalogue_of(m.config, {A});
  const Image image = studio(A);
  CHECK(status_of([&] { p.query_objects(image); }) == Status::Ok);
  const auto refused = [&](const std::function<void(ObjectQueryOptions&)>& change) {
    ObjectQueryOptions o;
    change(o);
    return status_of([&] { p.query_objects(image, o); });
  };
  CHECK(refused([](ObjectQueryOptions& o) { o.query.k = 0; }) == Status::InvalidArgument);
  CHECK(refused([](ObjectQueryOptions& o) { o.min_aspect = 2.5f, o.max_aspect = 2.0f; }) == Status::InvalidArgument);
  CHECK(refused([](ObjectQueryOptions& o) { o.mask_threshold = 0.0f; }) == Status::InvalidArgument);
  CHECK(refused([](ObjectQueryOptions& o) { o.mask_threshold = 1.5f; }) == Status::InvalidArgument);
  CHECK(refused([](ObjectQueryOptions& o) { o.min_score = 0.0f; }) == Status::InvalidArgument);
  CHECK(refused([](ObjectQueryOptions& o) { o.min_area = 1.0f; }) == Status::InvalidArgument);
  CHECK(refused([](ObjectQueryOptions& o) { o.max_objects = 0; }) == Status::InvalidArgument);
  CHECK(refused([](ObjectQueryOptions& o) { o.max_aspect = INFINITY; }) == Status::InvalidArgument);
  CHECK(refused([](ObjectQueryOptions& o) { o.min_aspect = 0.01f; }) == Status::InvalidArgument);  // quadratic cutting
  CHECK(refused([](ObjectQueryOptions& o) { o.max_aspect = 50.0f; }) == Status::InvalidArgument);
  CHECK(refused([](ObjectQueryOptions& o) { o.edge_fraction = NAN; }) == Status::InvalidArgument);
  CHECK(refused([](ObjectQueryOptions& o) { o.query.category = "nowhere"; }) == Status::NotFound);
  CHECK(status_of([&] { p.query_objects(Image()); }) == Status::InvalidArgument);
  CHECK(object_crop_from_string("box") == ObjectCrop::Box);
  CHECK(object_crop_from_string("cutout") == ObjectCrop::Cutout);
  CHECK(status_of([] { object_crop_from_string("bad"); }) == Status::InvalidArgument);
  CHECK(std::string(to_string(ObjectCrop::Box)) == "box");

  CHECK(status_of([&] { Pipeline(m.config).query_objects(image); }) == Status::NotFound);

  PipelineConfig blind = m.config;
  blind.segmenter_manifest.clear();
  const Pipeline q = catalogue_of(blind, {A});
  try {
    q.query_objects(image);
    FAIL("an object query without a segmenter or an object finder was answered");
  } catch (const Error& e) {
    CHECK(e.status() == Status::InvalidArgument);
    const std::string what = e.what();
    CHECK(what.find("\"object_finder\"") != std::string::npos);
    CHECK(what.find("\"segmenter\"") != std::string::npos);
  }
}

TEST_CASE("query_objects with an object finder: a box per product centre, none on white, broken finders refused", "[objects]") {
  Models m;
  PipelineConfig config = m.config;
  const std::string d = m.dir.path().string();
  config.segmenter_manifest.clear();  // the finder alone finds products
  config.object_finder_manifest = dstest::write_dark_square_finder(d, 64);
  Pipeline p(config);
  cv::Mat square(64, 64, CV_8UC3, kWhite);
  cv::rectangle(square, cv::Rect(16, 16, 32, 32), kOutline, cv::FILLED);
  p.add(1, to_image(square), "studio", "square");

  // The 128 x 128 photo is the finder's 64 x 64 input at scale 2: a dark 32 x 32 square on the cell of
  // row 1, column 2 (photo x 64..96, y 32..64) is one box there: centre (2 + 0.5) * 16 * 2, size 16 * 2.
  cv::Mat photo(128, 128, CV_8UC3, kWhite);
  cv::rectangle(photo, cv::Rect(64, 32, 32, 32), kOutline, cv::FILLED);
  const ObjectsResponse r = p.query_objects(to_image(photo));
  REQUIRE(r.objects.size() == 1);
  CHECK(rect(r.objects[0].box) == cv::Rect(64, 32, 32, 32));
  CHECK(first_label(r.objects[0]) == "square");
  CHECK(r.items.size() == 1);
  CHECK(p.query_objects(to_image(cv::Mat(128, 128, CV_8UC3, kWhite))).objects.empty());

  // Two squares a cell apart are two products (on neighbouring cells their equal probabilities would
  // make one plateau: one box, boxes_from_finder's rule).
  cv::rectangle(photo, cv::Rect(0, 32, 32, 32), kOutline, cv::FILLED);
  const ObjectsResponse two = p.query_objects(to_image(photo));
  REQUIRE(two.objects.size() == 2);
  CHECK(rect(two.objects[0].box) == cv::Rect(0, 32, 32, 32));  // reading order: left first
  CHECK(two.items.front().count == 2);

  PipelineConfig wrong_shape = config;
  wrong_shape.object_finder_manifest = dstest::write_dark_square_finder(d, 64, 3);
  CHECK(status_of([&] { catalogue_of(wrong_shape, {A}).query_objects(to_image(photo)); }) == Status::ModelMismatch);
  PipelineConfig not_a_finder = config;
  not_a_finder.object_finder_manifest = m.config.segmenter_manifest;  // a model without an "objects" output
  CHECK(status_of([&] { catalogue_of(not_a_finder, {A}).query_objects(to_image(photo)); }) == Status::ModelMismatch);
  PipelineConfig missing = config;
  missing.object_finder_manifest = d + "/nowhere.json";
  CHECK(status_of([&] { catalogue_of(missing, {A}).query_objects(to_image(photo)); }) == Status::Io);
}
