#include "domainsearch/object_metrics.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <numeric>
#include <string>
#include <utility>

#include "domainsearch/error.hpp"

namespace domainsearch {
namespace {

template <typename A, typename B>
double iou_of(const A& a, const B& b) {
  return box_iou(a.x, a.y, a.width, a.height, b.x, b.y, b.width, b.height);
}

// num / den, with 0/0 = 1 (nothing to find and nothing found is perfect).
double ratio(std::size_t num, std::size_t den) { return den ? static_cast<double>(num) / static_cast<double>(den) : 1.0; }

double f1(double precision, double recall) { return precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0; }

void require_threshold(double iou_threshold, const char* what) {
  if (!(iou_threshold > 0 && iou_threshold <= 1))
    throw Error(Status::InvalidArgument, std::string(what) + ": iou_threshold must be in (0, 1], not " + std::to_string(iou_threshold));
}

// The matched (truth, found) index pairs of one photo: every pair at IoU >= iou_threshold, taken by IoU,
// highest first (ties in truth-then-found index order), one-to-one.
std::vector<std::pair<std::size_t, std::size_t>> match_boxes(const ObjectPhotoTruth& photo, double iou_threshold) {
  struct Candidate {
    double iou;
    std::size_t truth, found;
  };
  std::vector<Candidate> candidates;
  for (std::size_t t = 0; t < photo.truth.size(); ++t)
    for (std::size_t f = 0; f < photo.found.size(); ++f) {
      const double iou = iou_of(photo.truth[t], photo.found[f]);
      if (iou >= iou_threshold) candidates.push_back({iou, t, f});
    }
  std::stable_sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) { return a.iou > b.iou; });
  std::vector<bool> truth_taken(photo.truth.size(), false), found_taken(photo.found.size(), false);
  std::vector<std::pair<std::size_t, std::size_t>> pairs;
  for (const Candidate& c : candidates) {
    if (truth_taken[c.truth] || found_taken[c.found]) continue;
    truth_taken[c.truth] = found_taken[c.found] = true;
    pairs.emplace_back(c.truth, c.found);
  }
  return pairs;
}

bool in_catalogue(const std::string& label, const std::set<std::string>& catalogue) { return catalogue.count(label) > 0; }

// A matched answer is right when it names the truth's item, or says "not in the catalogue" (empty) for a
// product the catalogue lacks.
bool answered_right(const std::string& truth_label, const std::string& found_label, const std::set<std::string>& catalogue) {
  return in_catalogue(truth_label, catalogue) ? found_label == truth_label : found_label.empty();
}

// One photo's matching, counted.
struct PhotoCounts {
  std::size_t matched = 0;           // matched pairs
  std::size_t right = 0;             // of those, with a right answer
  std::size_t unknown_matched = 0;   // matched pairs whose truth label is not in the catalogue
  std::size_t unknown_rejected = 0;  // of those, answered "not in the catalogue"
};

PhotoCounts count_photo(const ObjectPhotoTruth& photo, const std::set<std::string>& catalogue, double iou_threshold) {
  PhotoCounts c;
  for (const auto& [t, f] : match_boxes(photo, iou_threshold)) {
    const std::string& truth_label = photo.truth[t].label;
    const std::string& found_label = photo.found[f].label;
    ++c.matched;
    if (answered_right(truth_label, found_label, catalogue)) ++c.right;
    if (in_catalogue(truth_label, catalogue)) continue;
    ++c.unknown_matched;
    if (found_label.empty()) ++c.unknown_rejected;
  }
  return c;
}

double photo_end_to_end_f1(const ObjectPhotoTruth& photo, const PhotoCounts& c) {
  return f1(ratio(c.right, photo.found.size()), ratio(c.right, photo.truth.size()));
}

// 2I / (T + F) over the multisets of the catalogue truth labels (T) and the non-empty found labels (F),
// I the size of their intersection; 1 when both are empty.
double photo_count_f1(const ObjectPhotoTruth& photo, const std::set<std::string>& catalogue) {
  std::map<std::string, std::size_t> unclaimed;
  std::size_t truth = 0, found = 0, both = 0;
  for (const LabelledBox& b : photo.truth)
    if (in_catalogue(b.label, catalogue)) {
      ++unclaimed[b.label];
      ++truth;
    }
  for (const FoundBox& b : photo.found) {
    if (b.label.empty()) continue;
    ++found;
    const auto it = unclaimed.find(b.label);
    if (it == unclaimed.end() || it->second == 0) continue;
    --it->second;
    ++both;
  }
  return truth + found ? 2.0 * static_cast<double>(both) / static_cast<double>(truth + found) : 1.0;
}

std::size_t count_difference(std::size_t a, std::size_t b) { return a > b ? a - b : b - a; }

// The sum over the catalogue labels of |found boxes with the label - truth boxes with it|.
std::size_t photo_item_count_error(const ObjectPhotoTruth& photo, const std::set<std::string>& catalogue) {
  std::map<std::string, std::pair<std::size_t, std::size_t>> counts;  // label -> (truth, found)
  for (const LabelledBox& b : photo.truth)
    if (in_catalogue(b.label, catalogue)) ++counts[b.label].first;
  for (const FoundBox& b : photo.found)
    if (in_catalogue(b.label, catalogue)) ++counts[b.label].second;
  std::size_t error = 0;
  for (const auto& entry : counts) error += count_difference(entry.second.first, entry.second.second);
  return error;
}

// All-point interpolated average precision of one ranking (true_positive in rank order) against
// `positives` > 0 truth boxes: each recall step times the highest precision at that recall or beyond.
double interpolated_average_precision(const std::vector<bool>& true_positive, std::size_t positives) {
  const std::size_t n = true_positive.size();
  std::vector<double> precision(n), recall(n);
  std::size_t hits = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (true_positive[i]) ++hits;
    precision[i] = static_cast<double>(hits) / static_cast<double>(i + 1);
    recall[i] = static_cast<double>(hits) / static_cast<double>(positives);
  }
  for (std::size_t i = n; i-- > 1;) precision[i - 1] = std::max(precision[i - 1], precision[i]);
  double ap = 0, previous_recall = 0;
  for (std::size_t i = 0; i < n; ++i) {
    ap += (recall[i] - previous_recall) * precision[i];
    previous_recall = recall[i];
  }
  return ap;
}

// A negative or NaN confidence is unknown.
bool known_confidence(float confidence) { return confidence >= 0; }

// One found box in a label's mAP ranking.
struct RankedBox {
  float confidence;
  std::size_t photo, found;
};

// The mAP@0.5 of ObjectMetrics::map50.
double mean_average_precision_50(const std::vector<ObjectPhotoTruth>& photos, const std::set<std::string>& catalogue) {
  constexpr double kIou = 0.5;
  std::map<std::string, std::size_t> positives;  // the catalogue labels present in the truth -> truth boxes
  for (const ObjectPhotoTruth& photo : photos)
    for (const LabelledBox& b : photo.truth)
      if (in_catalogue(b.label, catalogue)) ++positives[b.label];
  if (positives.empty()) return 1.0;
  std::map<std::string, std::vector<RankedBox>> rankings;  // in photo-then-found order until sorted
  for (std::size_t p = 0; p < photos.size(); ++p)
    for (std::size_t f = 0; f < photos[p].found.size(); ++f) {
      const FoundBox& b = photos[p].found[f];
      if (positives.count(b.label)) rankings[b.label].push_back({b.confidence, p, f});
    }
  // A truth box is claimed only by found boxes of its own label, so one set of flags serves every label.
  std::vector<std::vector<bool>> claimed(photos.size());
  for (std::size_t p = 0; p < photos.size(); ++p) claimed[p].assign(photos[p].truth.size(), false);
  double sum = 0;
  for (const auto& [label, truth_boxes] : positives) {
    std::vector<RankedBox>& ranking = rankings[label];
    std::stable_sort(ranking.begin(), ranking.end(), [](const RankedBox& a, const RankedBox& b) {
      if (known_confidence(a.confidence) != known_confidence(b.confidence)) return known_confidence(a.confidence);
      return known_confidence(a.confidence) && a.confidence > b.confidence;
    });
    std::vector<bool> true_positive;
    for (const RankedBox& r : ranking) {
      const ObjectPhotoTruth& photo = photos[r.photo];
      std::size_t best = photo.truth.size();
      double best_iou = 0;
      for (std::size_t t = 0; t < photo.truth.size(); ++t) {
        if (photo.truth[t].label != label || claimed[r.photo][t]) continue;
        const double iou = iou_of(photo.truth[t], photo.found[r.found]);
        if (iou > best_iou) {
          best = t;
          best_iou = iou;
        }
      }
      const bool hit = best < photo.truth.size() && best_iou >= kIou;
      if (hit) claimed[r.photo][best] = true;
      true_positive.push_back(hit);
    }
    sum += interpolated_average_precision(true_positive, truth_boxes);
  }
  return sum / static_cast<double>(positives.size());
}

}  // namespace

double box_iou(int ax, int ay, int aw, int ah, int bx, int by, int bw, int bh) {
  if (aw <= 0 || ah <= 0 || bw <= 0 || bh <= 0) return 0;
  using Wide = std::int64_t;  // sums and products of int coordinates do not overflow
  const Wide iw = std::min(Wide{ax} + aw, Wide{bx} + bw) - std::max(Wide{ax}, Wide{bx});
  const Wide ih = std::min(Wide{ay} + ah, Wide{by} + bh) - std::max(Wide{ay}, Wide{by});
  if (iw <= 0 || ih <= 0) return 0;
  const Wide intersection = iw * ih;
  return static_cast<double>(intersection) / static_cast<double>(Wide{aw} * ah + Wide{bw} * bh - intersection);
}

ObjectMetrics measure_objects(const std::vector<ObjectPhotoTruth>& photos, const std::set<std::string>& catalogue_labels, double iou_threshold) {
  require_threshold(iou_threshold, "measure_objects");
  ObjectMetrics m;
  m.photos = photos.size();
  PhotoCounts total;
  double count_f1_sum = 0;
  std::size_t count_error_sum = 0, item_count_error_sum = 0;
  for (const ObjectPhotoTruth& photo : photos) {
    m.truth_objects += photo.truth.size();
    m.found_objects += photo.found.size();
    for (const LabelledBox& b : photo.truth)
      if (!in_catalogue(b.label, catalogue_labels)) ++m.unknown_truth;
    const PhotoCounts c = count_photo(photo, catalogue_labels, iou_threshold);
    total.matched += c.matched;
    total.right += c.right;
    total.unknown_matched += c.unknown_matched;
    total.unknown_rejected += c.unknown_rejected;
    count_f1_sum += photo_count_f1(photo, catalogue_labels);
    count_error_sum += count_difference(photo.found.size(), photo.truth.size());
    item_count_error_sum += photo_item_count_error(photo, catalogue_labels);
  }
  m.detection_recall = ratio(total.matched, m.truth_objects);
  m.detection_precision = ratio(total.matched, m.found_objects);
  m.identification_accuracy = ratio(total.right, total.matched);
  m.end_to_end_precision = ratio(total.right, m.found_objects);
  m.end_to_end_recall = ratio(total.right, m.truth_objects);
  m.end_to_end_f1 = f1(m.end_to_end_precision, m.end_to_end_recall);
  m.map50 = mean_average_precision_50(photos, catalogue_labels);
  m.unknown_rejected = ratio(total.unknown_rejected, total.unknown_matched);
  m.count_f1 = 1.0;
  if (photos.empty()) return m;
  const double n = static_cast<double>(photos.size());
  m.count_f1 = count_f1_sum / n;
  m.count_error = static_cast<double>(count_error_sum) / n;
  m.item_count_error = static_cast<double>(item_count_error_sum) / n;
  return m;
}

std::vector<std::size_t> worst_object_photos(const std::vector<ObjectPhotoTruth>& photos, const std::set<std::string>& catalogue_labels,
                                             double iou_threshold) {
  require_threshold(iou_threshold, "worst_object_photos");
  std::vector<double> f1s(photos.size());
  for (std::size_t i = 0; i < photos.size(); ++i) f1s[i] = photo_end_to_end_f1(photos[i], count_photo(photos[i], catalogue_labels, iou_threshold));
  std::vector<std::size_t> order(photos.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return f1s[a] < f1s[b]; });
  return order;
}

}  // namespace domainsearch
