#include <catch2/catch.hpp>
#include <cmath>

#include "domainsearch/error.hpp"
#include "domainsearch/object_metrics.hpp"
#include "test_util.hpp"

using namespace domainsearch;
using Catch::Detail::Approx;
using dstest::status_of;

namespace {

const std::set<std::string> kCatalogue = {"A", "B"};

LabelledBox truth_box(int x, int y, int w, int h, const std::string& label) { return {x, y, w, h, label}; }
FoundBox found_box(int x, int y, int w, int h, const std::string& label, float confidence = -1.0f) { return {x, y, w, h, label, confidence}; }

// Every product found where it is and answered with its own item.
ObjectPhotoTruth perfect_photo() {
  return {{truth_box(0, 0, 10, 10, "A"), truth_box(20, 0, 10, 10, "B")},
          {found_box(0, 0, 10, 10, "A", 0.9f), found_box(20, 0, 10, 10, "B", 0.8f)}};
}

}  // namespace

TEST_CASE("box IoU against hand-computed values", "[objects]") {
  CHECK(box_iou(0, 0, 10, 10, 0, 0, 10, 10) == 1.0);
  CHECK(box_iou(0, 0, 10, 10, 5, 5, 10, 10) == Approx(25.0 / 175));
  CHECK(box_iou(5, 5, 10, 10, 0, 0, 10, 10) == Approx(25.0 / 175));
  CHECK(box_iou(0, 0, 10, 10, 0, 0, 5, 5) == 0.25);  // contained
  CHECK(box_iou(0, 0, 28, 10, 12, 0, 28, 10) == Approx(0.4));
  CHECK(box_iou(0, 0, 10, 10, 10, 0, 10, 10) == 0.0);  // touching edges
  CHECK(box_iou(0, 0, 10, 10, 50, 50, 10, 10) == 0.0);
  CHECK(box_iou(0, 0, 0, 10, 0, 0, 0, 10) == 0.0);  // empty
  CHECK(box_iou(0, 0, 10, 10, 2, 2, -5, 5) == 0.0);
}

TEST_CASE("object metrics: perfect answers score 1 with no count error", "[objects]") {
  const ObjectMetrics m = measure_objects({perfect_photo(), perfect_photo()}, kCatalogue);
  CHECK(m.photos == 2);
  CHECK(m.truth_objects == 4);
  CHECK(m.found_objects == 4);
  CHECK(m.detection_recall == 1.0);
  CHECK(m.detection_precision == 1.0);
  CHECK(m.identification_accuracy == 1.0);
  CHECK(m.end_to_end_precision == 1.0);
  CHECK(m.end_to_end_recall == 1.0);
  CHECK(m.end_to_end_f1 == 1.0);
  CHECK(m.map50 == 1.0);
  CHECK(m.count_f1 == 1.0);
  CHECK(m.count_error == 0.0);
  CHECK(m.item_count_error == 0.0);
  CHECK(m.unknown_truth == 0);
  CHECK(m.unknown_rejected == 1.0);  // 0/0
}

TEST_CASE("object metrics: a missed product", "[objects]") {
  ObjectPhotoTruth photo = perfect_photo();
  photo.found.pop_back();  // B not found
  const ObjectMetrics m = measure_objects({photo}, kCatalogue);
  CHECK(m.detection_recall == 0.5);
  CHECK(m.detection_precision == 1.0);
  CHECK(m.identification_accuracy == 1.0);
  CHECK(m.end_to_end_precision == 1.0);
  CHECK(m.end_to_end_recall == 0.5);
  CHECK(m.end_to_end_f1 == Approx(2.0 / 3));
  CHECK(m.map50 == 0.5);  // A: AP 1; B: nothing found, AP 0
  CHECK(m.count_f1 == Approx(2.0 / 3));  // {A, B} vs {A}: 2 * 1 / 3
  CHECK(m.count_error == 1.0);
  CHECK(m.item_count_error == 1.0);
}

TEST_CASE("object metrics: a box matches at IoU >= the threshold and not below", "[objects]") {
  // Boxes of one width shifted sideways: IoU (width - shift) / (width + shift).
  const auto one = [](int width, int shift) {
    return ObjectPhotoTruth{{truth_box(0, 0, width, 10, "A")}, {found_box(shift, 0, width, 10, "A", 0.5f)}};
  };
  const ObjectMetrics at_04 = measure_objects({one(28, 12)}, kCatalogue);  // IoU 16/40
  CHECK(at_04.detection_recall == 0.0);
  CHECK(at_04.detection_precision == 0.0);
  CHECK(at_04.end_to_end_f1 == 0.0);
  CHECK(at_04.map50 == 0.0);
  CHECK(at_04.count_f1 == 1.0);  // the counts are right even though the box is not
  CHECK(at_04.count_error == 0.0);
  const ObjectMetrics at_06 = measure_objects({one(28, 7)}, kCatalogue);  // IoU 21/35
  CHECK(at_06.detection_recall == 1.0);
  CHECK(at_06.detection_precision == 1.0);
  CHECK(at_06.end_to_end_f1 == 1.0);
  CHECK(at_06.map50 == 1.0);
  const ObjectMetrics at_05 = measure_objects({one(30, 10)}, kCatalogue);  // IoU 20/40, exactly the threshold
  CHECK(at_05.detection_recall == 1.0);
  // A stricter threshold leaves the 0.6 box unmatched; mAP stays at IoU 0.5.
  const ObjectMetrics strict = measure_objects({one(28, 7)}, kCatalogue, 0.7);
  CHECK(strict.detection_recall == 0.0);
  CHECK(strict.map50 == 1.0);
}

TEST_CASE("object metrics: two identical products side by side answered as one wide box", "[objects]") {
  // The wide box overlaps each product at IoU 100/220: neither matches.
  const ObjectPhotoTruth photo{{truth_box(0, 0, 10, 10, "A"), truth_box(12, 0, 10, 10, "A")}, {found_box(0, 0, 22, 10, "A", 0.7f)}};
  const ObjectMetrics m = measure_objects({photo}, kCatalogue);
  CHECK(m.detection_recall == 0.0);
  CHECK(m.detection_precision == 0.0);
  CHECK(m.count_error == 1.0);
  CHECK(m.count_f1 == Approx(2.0 / 3));  // {A, A} vs {A}
  CHECK(m.count_f1 < 1.0);
  CHECK(m.item_count_error == 1.0);
  CHECK(m.map50 == 0.0);
}

TEST_CASE("object metrics: a wrong item on a well-found box", "[objects]") {
  const ObjectPhotoTruth photo{{truth_box(0, 0, 10, 10, "A")}, {found_box(0, 0, 10, 10, "B", 0.9f)}};
  const ObjectMetrics m = measure_objects({photo}, kCatalogue);
  CHECK(m.detection_recall == 1.0);
  CHECK(m.detection_precision == 1.0);
  CHECK(m.identification_accuracy == 0.0);
  CHECK(m.end_to_end_precision == 0.0);
  CHECK(m.end_to_end_recall == 0.0);
  CHECK(m.end_to_end_f1 == 0.0);
  CHECK(m.map50 == 0.0);  // only A is in the truth, and no A was found
  CHECK(m.count_f1 == 0.0);
  CHECK(m.count_error == 0.0);
  CHECK(m.item_count_error == 2.0);  // one A too few, one B too many
}

TEST_CASE("object metrics: a product the catalogue lacks is right only as \"not in the catalogue\"", "[objects]") {
  const ObjectPhotoTruth rejected{{truth_box(0, 0, 10, 10, "X")}, {found_box(0, 0, 10, 10, "", 0.3f)}};
  const ObjectMetrics r = measure_objects({rejected}, kCatalogue);
  CHECK(r.unknown_truth == 1);
  CHECK(r.unknown_rejected == 1.0);
  CHECK(r.identification_accuracy == 1.0);
  CHECK(r.end_to_end_f1 == 1.0);
  CHECK(r.count_f1 == 1.0);  // no catalogue product in the truth, none named in the answer
  CHECK(r.item_count_error == 0.0);
  CHECK(r.map50 == 1.0);  // no catalogue label in the truth

  const ObjectPhotoTruth named{{truth_box(0, 0, 10, 10, "X")}, {found_box(0, 0, 10, 10, "A", 0.3f)}};
  const ObjectMetrics n = measure_objects({named}, kCatalogue);
  CHECK(n.unknown_truth == 1);
  CHECK(n.unknown_rejected == 0.0);
  CHECK(n.detection_recall == 1.0);
  CHECK(n.identification_accuracy == 0.0);
  CHECK(n.end_to_end_precision == 0.0);
  CHECK(n.count_f1 == 0.0);
  CHECK(n.item_count_error == 1.0);

  // Both photos together: micro-averaged over the two matched unknown products.
  const ObjectMetrics both = measure_objects({rejected, named}, kCatalogue);
  CHECK(both.unknown_truth == 2);
  CHECK(both.unknown_rejected == 0.5);
  CHECK(both.identification_accuracy == 0.5);
  CHECK(both.count_f1 == 0.5);
}

TEST_CASE("object metrics: mAP@0.5 ranks by confidence and interpolates over all points", "[objects]") {
  // The surer A box is a false positive: precisions 0, 1/2 at recalls 0, 1 -> AP 1 * 1/2. Listed the other
  // way round, so ranking by list order would give 1.
  const ObjectPhotoTruth photo{{truth_box(0, 0, 10, 10, "A")}, {found_box(0, 0, 10, 10, "A", 0.6f), found_box(50, 50, 10, 10, "A", 0.9f)}};
  CHECK(measure_objects({photo}, kCatalogue).map50 == 0.5);
  // An unknown confidence ranks last: the same AP with the true box's confidence unknown.
  const ObjectPhotoTruth unknown{{truth_box(0, 0, 10, 10, "A")}, {found_box(0, 0, 10, 10, "A"), found_box(50, 50, 10, 10, "A", 0.1f)}};
  CHECK(measure_objects({unknown}, kCatalogue).map50 == 0.5);

  // Over two photos, ranked 0.9 (false), 0.7 (true), 0.5 (true) against 2 truth boxes: precisions 0, 1/2, 2/3
  // at recalls 0, 1/2, 1. All-point interpolation takes 2/3 at both recall steps: AP = 2/3 (the plain mean
  // of the precisions at the hits would be 7/12).
  const ObjectPhotoTruth first{{truth_box(0, 0, 10, 10, "A")}, {found_box(0, 0, 10, 10, "A", 0.5f)}};
  const ObjectPhotoTruth second{{truth_box(0, 0, 10, 10, "A")}, {found_box(0, 0, 10, 10, "A", 0.7f), found_box(40, 0, 10, 10, "A", 0.9f)}};
  CHECK(measure_objects({first, second}, kCatalogue).map50 == Approx(2.0 / 3));

  // A second box on an already claimed truth box is a false positive after the hit: AP stays 1. B, in the
  // truth but never found, has AP 0; C, found but not in the truth, takes no part.
  const ObjectPhotoTruth duplicate{{truth_box(0, 0, 10, 10, "A"), truth_box(30, 0, 10, 10, "B")},
                                   {found_box(0, 0, 10, 10, "A", 0.9f), found_box(1, 0, 10, 10, "A", 0.8f), found_box(60, 0, 10, 10, "C", 0.9f)}};
  CHECK(measure_objects({duplicate}, {"A", "B", "C"}).map50 == 0.5);
}

TEST_CASE("object metrics: empty photos", "[objects]") {
  const ObjectPhotoTruth empty;
  const ObjectMetrics nothing = measure_objects({empty}, kCatalogue);
  CHECK(nothing.photos == 1);
  CHECK(nothing.detection_recall == 1.0);
  CHECK(nothing.detection_precision == 1.0);
  CHECK(nothing.identification_accuracy == 1.0);
  CHECK(nothing.end_to_end_f1 == 1.0);
  CHECK(nothing.map50 == 1.0);
  CHECK(nothing.count_f1 == 1.0);
  CHECK(nothing.count_error == 0.0);
  CHECK(nothing.item_count_error == 0.0);

  const ObjectPhotoTruth phantom{{}, {found_box(0, 0, 10, 10, "A", 0.9f)}};
  const ObjectMetrics one = measure_objects({phantom}, kCatalogue);
  CHECK(one.detection_precision == 0.0);
  CHECK(one.detection_recall == 1.0);  // nothing to find
  CHECK(one.end_to_end_precision == 0.0);
  CHECK(one.end_to_end_f1 == 0.0);
  CHECK(one.count_f1 == 0.0);
  CHECK(one.count_error == 1.0);
  CHECK(one.item_count_error == 1.0);
  // Micro-averaged with a perfect photo: 2 of 3 found boxes are right.
  const ObjectMetrics mixed = measure_objects({perfect_photo(), phantom}, kCatalogue);
  CHECK(mixed.detection_precision == Approx(2.0 / 3));
  CHECK(mixed.end_to_end_precision == Approx(2.0 / 3));
  CHECK(mixed.end_to_end_recall == 1.0);
  CHECK(mixed.count_f1 == 0.5);
  CHECK(mixed.count_error == 0.5);

  const ObjectMetrics none = measure_objects({}, kCatalogue);
  CHECK(none.photos == 0);
  CHECK(none.end_to_end_f1 == 1.0);
  CHECK(none.count_f1 == 1.0);
  CHECK(none.count_error == 0.0);
}

TEST_CASE("object metrics: matching is greedy by IoU and one-to-one", "[objects]") {
  // Two found boxes on one product: only one matches, the closer one (its label shows which).
  const ObjectPhotoTruth doubled{{truth_box(0, 0, 10, 10, "A")}, {found_box(1, 0, 10, 10, "B"), found_box(0, 0, 10, 10, "A")}};
  const ObjectMetrics d = measure_objects({doubled}, kCatalogue);
  CHECK(d.detection_recall == 1.0);
  CHECK(d.detection_precision == 0.5);
  CHECK(d.identification_accuracy == 1.0);

  // Highest IoU first over all pairs: F2-T2 (19/21), then F1-T1 (15/25). Taking found boxes in list order,
  // each with its best truth box, would pair F1-T2 (17/23) and leave F2-T1 (11/29) unmatched.
  const ObjectPhotoTruth crossed{{truth_box(0, 0, 20, 10, "A"), truth_box(8, 0, 20, 10, "B")},
                                 {found_box(5, 0, 20, 10, "A"), found_box(9, 0, 20, 10, "B")}};
  const ObjectMetrics c = measure_objects({crossed}, kCatalogue);
  CHECK(c.detection_recall == 1.0);
  CHECK(c.detection_precision == 1.0);
  CHECK(c.identification_accuracy == 1.0);
}

TEST_CASE("worst object photos come first, ties in input order", "[objects]") {
  ObjectPhotoTruth missed = perfect_photo();
  missed.found.pop_back();  // end-to-end F1 2/3
  const ObjectPhotoTruth wrong{{truth_box(0, 0, 10, 10, "A")}, {found_box(0, 0, 10, 10, "B")}};  // F1 0
  const std::vector<ObjectPhotoTruth> photos = {perfect_photo(), wrong, missed, ObjectPhotoTruth{}};
  CHECK(worst_object_photos(photos, kCatalogue) == std::vector<std::size_t>{1, 2, 0, 3});
  CHECK(worst_object_photos({}, kCatalogue).empty());
}

TEST_CASE("object metrics refuse an IoU threshold not in 0 < t <= 1", "[objects]") {
  CHECK(status_of([] { measure_objects({}, kCatalogue, 0.0); }) == Status::InvalidArgument);
  CHECK(status_of([] { measure_objects({}, kCatalogue, 1.5); }) == Status::InvalidArgument);
  CHECK(status_of([] { measure_objects({}, kCatalogue, std::nan("")); }) == Status::InvalidArgument);
  CHECK(status_of([] { worst_object_photos({}, kCatalogue, -0.5); }) == Status::InvalidArgument);
  CHECK(measure_objects({}, kCatalogue, 1.0).photos == 0);
}
