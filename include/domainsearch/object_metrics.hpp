#pragma once
// Metrics of "find every product in a photo" (multi-object queries): detection (were the products'
// boxes found), identification (was each found product answered with its own item, or "not in the
// catalogue" for a product the catalogue lacks), both together (end to end), mAP@0.5 (VOC/COCO style)
// and the photo's item counts. Pure functions of their inputs; thread-safe.
//
// Conventions, everywhere below:
// - A box is x, y, width, height in pixels; a box with width or height <= 0 is empty and overlaps nothing.
// - Matching of found to truth boxes within one photo: every pair with IoU >= iou_threshold, taken
//   greedily by IoU, highest first (equal IoUs: lower truth index, then lower found index, first),
//   one-to-one; pairs below iou_threshold never match.
// - A matched found box's answer is right when the truth label is in the catalogue and the found label
//   equals it, or the truth label is not in the catalogue and the found label is empty ("not in the
//   catalogue"). An unmatched found box is never right, whatever its label (empty included).
// - Precisions, recalls and fractions are micro-averaged: totals over all photos, then divided. A
//   division 0/0 is 1 (nothing to find and nothing found is perfect; nothing matched leaves nothing
//   misidentified). F1 = 2PR / (P + R), 0 when P + R = 0.
// - Per-photo values (count_f1, count_error, item_count_error) are averaged over photos; with no photo
//   count_f1 is 1 and the errors 0.

#include <cstddef>
#include <set>
#include <string>
#include <vector>

#include "domainsearch/export.hpp"

namespace domainsearch {

struct LabelledBox {
  int x = 0, y = 0, width = 0, height = 0;
  std::string label;
};

/// One photo: the products really there (truth) and what the search answered (found). A found product
/// with an empty label is one answered "not in the catalogue"; `confidence` orders found products for
/// mAP (higher first; -1 = unknown, ranked last).
struct FoundBox {
  int x = 0, y = 0, width = 0, height = 0;
  std::string label;
  float confidence = -1.0f;
};

struct ObjectPhotoTruth {
  std::vector<LabelledBox> truth;
  std::vector<FoundBox> found;
};

struct ObjectMetrics {
  std::size_t photos = 0, truth_objects = 0, found_objects = 0;
  /// Matched boxes (at IoU >= iou_threshold, regardless of labels) / truth_objects, and / found_objects.
  double detection_recall = 0, detection_precision = 0;
  /// Of the matched truth boxes, the fraction whose answer is right (see above).
  double identification_accuracy = 0;
  /// Matched boxes with a right answer / found_objects, / truth_objects, and their F1.
  double end_to_end_precision = 0, end_to_end_recall = 0, end_to_end_f1 = 0;
  /// Mean, over the catalogue labels present in the truth, of the average precision of the found boxes
  /// with that label, ranked by confidence over all photos (higher first; a negative or NaN confidence
  /// is unknown and ranks after every known one; ties keep the order of photos, then of found boxes).
  /// Going down that ranking, a found box is a true positive when the unmatched truth box of its label
  /// in its photo that it overlaps most has IoU >= 0.5 (that truth box is then matched), else a false
  /// positive. AP is all-point interpolated: the sum over recall steps of the step times the highest
  /// precision at that recall or beyond. Always at IoU 0.5, whatever iou_threshold; found boxes with an
  /// empty label, or a label absent from the truth, take no part; 1 when no catalogue label is in the truth.
  double map50 = 0;
  /// Per photo 2I / (T + F): T the truth labels that are in the catalogue and F the found non-empty
  /// labels, as multisets, I the size of their intersection (the items-and-counts F1); 1 for a photo
  /// with neither; averaged over photos.
  double count_f1 = 0;
  /// Per photo |found boxes - truth boxes| (all of them: unknown products and "not in the catalogue"
  /// answers included), averaged over photos.
  double count_error = 0;
  /// Per photo the sum over the catalogue labels of |found boxes with the label - truth boxes with it|,
  /// averaged over photos.
  double item_count_error = 0;
  /// Truth boxes whose label is not in the catalogue.
  std::size_t unknown_truth = 0;
  /// Of those that were matched to a found box, the fraction answered "not in the catalogue".
  double unknown_rejected = 0;
};

/// `catalogue_labels`: the labels the catalogue holds; truth labels outside it are products the answer
/// should call "not in the catalogue". Matching and averaging as described at the top of this file.
/// Throws InvalidArgument unless 0 < iou_threshold <= 1.
DS_API ObjectMetrics measure_objects(const std::vector<ObjectPhotoTruth>& photos, const std::set<std::string>& catalogue_labels,
                                     double iou_threshold = 0.5);

/// IoU of two boxes given as x, y, width, height (0 when either is empty).
DS_API double box_iou(int ax, int ay, int aw, int ah, int bx, int by, int bw, int bh);

/// Per-photo worst cases for a report: the indices of `photos` sorted by their end-to-end F1 (that
/// photo's alone, with the conventions above), worst first; equal F1s keep the order of `photos`.
/// Throws InvalidArgument unless 0 < iou_threshold <= 1.
DS_API std::vector<std::size_t> worst_object_photos(const std::vector<ObjectPhotoTruth>& photos, const std::set<std::string>& catalogue_labels,
                                                    double iou_threshold = 0.5);

}  // namespace domainsearch
