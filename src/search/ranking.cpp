#include "search/ranking.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <unordered_map>

#include "domainsearch/error.hpp"

namespace domainsearch::detail {

std::vector<std::int32_t> choose_categories(const std::vector<CategoryScore>& ranked, float soft_threshold) {
  std::vector<std::int32_t> chosen;
  float mass = 0;
  for (const CategoryScore& s : ranked) {
    chosen.push_back(s.category);
    mass += s.probability;
    if (mass >= soft_threshold) break;
  }
  return chosen;
}

std::vector<std::int32_t> with_untrained_categories(std::vector<std::int32_t> chosen, const std::vector<bool>& untrained) {
  std::vector<bool> present(untrained.size(), false);
  for (const std::int32_t c : chosen)
    if (c >= 0 && static_cast<std::size_t>(c) < present.size()) present[static_cast<std::size_t>(c)] = true;
  for (std::size_t c = 0; c < untrained.size(); ++c)
    if (untrained[c] && !present[c]) chosen.push_back(static_cast<std::int32_t>(c));
  return chosen;
}

std::size_t search_depth(std::size_t k, RerankMode mode, std::size_t rerank_depth, bool items) noexcept {
  return std::max(mode == RerankMode::Off ? k : std::max(k, rerank_depth), items ? std::size_t{2} : std::size_t{1});
}

void sort_by_distance(std::vector<QueryResult>& results) {
  std::stable_sort(results.begin(), results.end(), [](const QueryResult& a, const QueryResult& b) {
    return a.distance < b.distance || (a.distance == b.distance && a.key < b.key);
  });
}

void score_photos(std::vector<QueryResult>& results) noexcept {
  for (QueryResult& r : results) r.score = r.distance;
}

std::vector<QueryResult> rank_items(const std::vector<QueryResult>& photos, std::size_t averaged, float horizon) {
  averaged = std::max<std::size_t>(averaged, 1);
  std::vector<QueryResult> items;
  std::vector<double> sums;  // of the item's first `averaged` photos' distances
  std::unordered_map<std::string, std::size_t> item_of_label;
  for (const QueryResult& photo : photos) {
    const auto [it, is_new] = item_of_label.emplace(photo.label, items.size());
    if (is_new) {
      items.push_back(photo);
      items.back().photos.clear();
      sums.push_back(0.0);
    }
    QueryResult& item = items[it->second];
    if (item.photos.size() < averaged) sums[it->second] += photo.distance;
    item.photos.push_back({photo.key, photo.distance});
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::size_t found = std::min(items[i].photos.size(), averaged);
    const std::size_t counted = horizon > 0 ? averaged : found;
    items[i].score = static_cast<float>((sums[i] + static_cast<double>(counted - found) * horizon) / static_cast<double>(counted));
  }
  std::stable_sort(items.begin(), items.end(), [](const QueryResult& a, const QueryResult& b) { return a.score < b.score; });
  return items;
}

std::vector<QueryResult> merge_items(std::vector<QueryResult> items) {
  std::vector<QueryResult> out;
  std::unordered_map<std::string, std::size_t> item_of_label;
  for (QueryResult& r : items) {
    const auto [it, is_new] = item_of_label.emplace(r.label, out.size());
    if (is_new) {
      out.push_back(std::move(r));
      continue;
    }
    std::vector<ItemPhoto>& photos = out[it->second].photos;
    photos.insert(photos.end(), r.photos.begin(), r.photos.end());
  }
  for (QueryResult& item : out) {
    std::stable_sort(item.photos.begin(), item.photos.end(), [](const ItemPhoto& a, const ItemPhoto& b) {
      return a.distance < b.distance || (a.distance == b.distance && a.key < b.key);
    });
    item.score = item.distance;
  }
  return out;
}

void rerank(RerankMode mode, std::size_t rerank_depth, float iou_weight, std::vector<QueryResult>& results) {
  if (mode == RerankMode::Off) return;
  const auto end = results.begin() + static_cast<std::ptrdiff_t>(std::min(results.size(), rerank_depth));
  float max_distance = 1e-12f;
  for (auto r = results.begin(); r != end; ++r) max_distance = std::max(max_distance, std::sqrt(r->score));
  const auto score = [&](float distance, float iou) {
    return mode == RerankMode::Iou ? 1.0f - iou : (1 - iou_weight) * std::sqrt(distance) / max_distance + iou_weight * (1 - iou);
  };
  for (auto r = results.begin(); r != end; ++r) r->score = score(r->score, r->iou);
  // Past rerank_depth no IoU was compared: scored as IoU 0, so one scale runs down the whole list and
  // never decreases (their distances are at least the reranked ones', whose scores are at most 1).
  for (auto r = end; r != results.end(); ++r) r->score = score(r->score, 0.0f);
  std::stable_sort(results.begin(), end, [](const QueryResult& a, const QueryResult& b) { return a.score < b.score; });
}

AnswerEvidence answer_evidence(const std::vector<QueryResult>& by_distance) noexcept {
  AnswerEvidence e;
  if (by_distance.empty()) return e;
  const QueryResult& first = by_distance.front();
  e.probability = first.match_probability, e.distance = first.distance;
  for (const QueryResult& r : by_distance)
    if (r.label != first.label) {
      e.margin = std::min(r.distance - first.distance, kMaxItemMargin);
      break;
    }
  return e;
}

float confidence_of(const ConfidenceModel& model, const AnswerEvidence& e) noexcept {
  if (model.empty()) return -1.0f;
  if (!std::isfinite(e.distance)) return 0.0f;  // nothing found
  if (model.probability != 0 && e.probability < 0) return -1.0f;
  const double p = std::clamp(static_cast<double>(e.probability), 1e-4, 1 - 1e-4);
  const double z = model.bias + (model.probability != 0 ? model.probability * std::log(p / (1 - p)) : 0.0) + model.distance * e.distance +
                   model.margin * e.margin;
  return static_cast<float>(1 / (1 + std::exp(-z)));
}

bool is_no_match(const std::vector<QueryResult>& results, float nearest, float threshold, float max_distance, bool calibrated) noexcept {
  const bool by_probability = calibrated && threshold > 0, by_distance = max_distance > 0;
  if (!by_probability && !by_distance) return false;
  if (results.empty()) return true;
  return (by_probability && results.front().match_probability < threshold) || (by_distance && nearest > max_distance);
}

void check_query_rules(const NoMatchRules& rules, bool has_confidence_model) {
  const auto refuse = [](const char* name, float value, const char* range) {
    throw Error(Status::InvalidArgument, std::string("no_match_rules.") + name + " must be " + range + ", got " + std::to_string(value));
  };
  if (!(rules.match_threshold >= 0 && rules.match_threshold <= 1)) refuse("match_threshold", rules.match_threshold, "in [0, 1]");
  if (!(rules.match_distance >= 0) || std::isinf(rules.match_distance)) refuse("match_distance", rules.match_distance, "a finite number >= 0");
  if (!(rules.min_confidence >= 0 && rules.min_confidence <= 1)) refuse("min_confidence", rules.min_confidence, "in [0, 1]");
  if (rules.min_confidence > 0 && !has_confidence_model)
    throw Error(Status::InvalidArgument, "no_match_rules.min_confidence needs a confidence model in the configuration (\"confidence\")");
}

bool is_unconfident(float confidence, float min_confidence) noexcept { return min_confidence > 0 && confidence >= 0 && confidence < min_confidence; }

}  // namespace domainsearch::detail
