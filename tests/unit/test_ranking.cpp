#include <catch2/catch.hpp>
#include <cmath>

#include "search/ranking.hpp"
#include "domainsearch/error.hpp"
#include "test_util.hpp"

using namespace domainsearch;
using dstest::status_of;

namespace {

QueryResult result(std::uint64_t key, const std::string& label, float distance, float iou, float match = -1.0f) {
  QueryResult r;
  r.key = key, r.label = label, r.distance = distance, r.iou = iou, r.match_probability = match;
  return r;
}

std::vector<std::uint64_t> keys(const std::vector<QueryResult>& results) {
  std::vector<std::uint64_t> out;
  for (const QueryResult& r : results) out.push_back(r.key);
  return out;
}

}  // namespace

TEST_CASE("category selection: the most probable categories until their mass reaches the threshold", "[ranking]") {
  const std::vector<CategoryScore> ranked = {{4, 0.5f}, {1, 0.3f}, {7, 0.15f}, {2, 0.05f}};
  CHECK(detail::choose_categories(ranked, 0.5f) == std::vector<std::int32_t>{4});
  CHECK(detail::choose_categories(ranked, 0.8f) == std::vector<std::int32_t>{4, 1});
  CHECK(detail::choose_categories(ranked, 0.81f) == std::vector<std::int32_t>{4, 1, 7});
  CHECK(detail::choose_categories({ranked.begin(), ranked.begin() + 2}, 0.99f) == std::vector<std::int32_t>{4, 1});  // the limit the caller asked for
  CHECK(detail::choose_categories({}, 0.9f).empty());
}

TEST_CASE("categories the model was not trained on are added to the chosen ones once, in id order", "[ranking]") {
  // Untrained: 1, 3, 4 of 0..5; the prediction chose 4 and 0.
  const std::vector<bool> untrained = {false, true, false, true, true, false};
  CHECK(detail::with_untrained_categories({4, 0}, untrained) == std::vector<std::int32_t>{4, 0, 1, 3});
  CHECK(detail::with_untrained_categories({}, untrained) == std::vector<std::int32_t>{1, 3, 4});
  CHECK(detail::with_untrained_categories({2}, std::vector<bool>(6, false)) == std::vector<std::int32_t>{2});
  CHECK(detail::with_untrained_categories({7, 3}, untrained) == std::vector<std::int32_t>{7, 3, 1, 4});  // an id beyond the mask is kept
  // 200,000 untrained categories. O(chosen + categories): a vector<bool> look-up per category, where a
  // search of the chosen list per category was quadratic (500,000 untrained categories: 21.9 s per
  // query). The benches measure the speed; this checks the result at that scale.
  const std::vector<std::int32_t> all = detail::with_untrained_categories({199999, 5}, std::vector<bool>(200000, true));
  REQUIRE(all.size() == 200000);
  CHECK(all[0] == 199999);
  CHECK(all[1] == 5);
  CHECK(all[2] == 0);
  CHECK(all[6] == 4);
  CHECK(all[7] == 6);
  CHECK(all.back() == 199998);
}

std::vector<std::uint64_t> photo_keys(const QueryResult& item) {
  std::vector<std::uint64_t> out;
  for (const ItemPhoto& p : item.photos) out.push_back(p.key);
  return out;
}

TEST_CASE("items from photos: the nearest photo, or the mean of the nearest few - ties - an item with one photo", "[ranking]") {
  // Item a's one photo is the nearest; item b's four come next; c's one last.
  const std::vector<QueryResult> photos = {result(10, "a", 0.10f, 1), result(20, "b", 0.20f, 1), result(21, "b", 0.25f, 1),
                                           result(22, "b", 0.30f, 1), result(23, "b", 0.35f, 1), result(30, "c", 0.50f, 1)};
  const std::vector<QueryResult> nearest = detail::rank_items(photos, 1, 0.0f);
  REQUIRE(keys(nearest) == std::vector<std::uint64_t>{10, 20, 30});
  CHECK(nearest[0].score == 0.10f);
  CHECK(nearest[1].score == 0.20f);
  CHECK(nearest[1].distance == 0.20f);
  CHECK(photo_keys(nearest[1]) == std::vector<std::uint64_t>{20, 21, 22, 23});
  CHECK(nearest[1].photos[3].distance == 0.35f);
  CHECK(photo_keys(nearest[0]) == std::vector<std::uint64_t>{10});  // an item with one photo

  // The mean of the 3 nearest: the search saw every photo (horizon 0), so a is averaged over its one photo.
  const std::vector<QueryResult> mean3 = detail::rank_items(photos, 3, 0.0f);
  REQUIRE(keys(mean3) == std::vector<std::uint64_t>{10, 20, 30});
  CHECK(mean3[1].score == Approx(0.25f));
  CHECK(mean3[1].distance == 0.20f);  // still the nearest photo's distance
  // Cut short at 0.6: a's and c's missing photos count at 0.6, so b's four photos put it first.
  const std::vector<QueryResult> cut = detail::rank_items(photos, 3, 0.6f);
  REQUIRE(keys(cut) == std::vector<std::uint64_t>{20, 10, 30});
  CHECK(cut[0].score == Approx(0.25f));
  CHECK(cut[1].score == Approx((0.10f + 0.6f + 0.6f) / 3));
  CHECK(cut[2].score == Approx((0.50f + 0.6f + 0.6f) / 3));

  // Ties keep the photos' (distance, key) order; a photo list of one label is one item.
  const std::vector<QueryResult> tied = {result(3, "y", 0.2f, 1), result(5, "x", 0.2f, 1), result(4, "y", 0.3f, 1), result(6, "x", 0.3f, 1)};
  CHECK(keys(detail::rank_items(tied, 1, 0.0f)) == std::vector<std::uint64_t>{3, 5});
  CHECK(keys(detail::rank_items(tied, 2, 0.0f)) == std::vector<std::uint64_t>{3, 5});
  CHECK(detail::rank_items({}, 1, 0.0f).empty());
  CHECK(detail::rank_items({photos[1], photos[2]}, 1, 0.0f).size() == 1);
}

TEST_CASE("items of several shards merge into one list, photos joined nearest first", "[ranking]") {
  std::vector<QueryResult> shard_a = detail::rank_items({result(1, "a", 0.1f, 1), result(2, "b", 0.2f, 1), result(3, "a", 0.4f, 1)}, 1, 0.0f);
  std::vector<QueryResult> shard_b = detail::rank_items({result(7, "b", 0.15f, 1), result(8, "a", 0.3f, 1)}, 1, 0.0f);
  std::vector<QueryResult> all = shard_a;
  all.insert(all.end(), shard_b.begin(), shard_b.end());
  std::stable_sort(all.begin(), all.end(), [](const QueryResult& x, const QueryResult& y) { return x.distance < y.distance; });
  const std::vector<QueryResult> merged = detail::merge_items(all);
  REQUIRE(keys(merged) == std::vector<std::uint64_t>{1, 7});
  CHECK(photo_keys(merged[0]) == std::vector<std::uint64_t>{1, 8, 3});
  CHECK(photo_keys(merged[1]) == std::vector<std::uint64_t>{7, 2});
  CHECK(merged[1].score == 0.15f);
}

TEST_CASE("search depth, one result per label, rerank and the no-match verdict", "[ranking]") {
  CHECK(detail::search_depth(5, RerankMode::Off, 20, false) == 5);
  CHECK(detail::search_depth(5, RerankMode::Iou, 20, false) == 20);
  CHECK(detail::search_depth(30, RerankMode::Fused, 20, true) == 30);
  CHECK(detail::search_depth(1, RerankMode::Off, 20, false) == 1);
  CHECK(detail::search_depth(1, RerankMode::Off, 20, true) == 2);  // an item answer needs its second item (the margin)

  std::vector<QueryResult> r = {result(1, "a", 0.1f, 0.2f), result(2, "b", 0.2f, 0.9f), result(3, "a", 0.3f, 1.0f), result(4, "c", 0.4f, 0.5f)};
  detail::score_photos(r);
  CHECK(r[3].score == 0.4f);
  CHECK(keys(detail::rank_items(r, 1, 0.0f)) == std::vector<std::uint64_t>{1, 2, 4});

  std::vector<QueryResult> off = r;
  detail::rerank(RerankMode::Off, 3, 0.3f, off);
  CHECK(keys(off) == std::vector<std::uint64_t>{1, 2, 3, 4});
  CHECK(off[3].score == 0.4f);

  std::vector<QueryResult> iou = r;
  detail::rerank(RerankMode::Iou, 3, 0.3f, iou);  // the first 3 by IoU, the 4th stays behind them
  CHECK(keys(iou) == std::vector<std::uint64_t>{3, 2, 1, 4});
  CHECK(iou[0].score == Approx(0.0f));
  CHECK(iou[3].score == 1.0f);  // past the depth: scored as IoU 0 on the same scale, not its distance

  const auto never_decreasing = [](const std::vector<QueryResult>& results) {
    for (std::size_t i = 1; i < results.size(); ++i)
      if (results[i].score < results[i - 1].score) return false;
    return true;
  };
  CHECK(never_decreasing(iou));
  std::vector<QueryResult> fused_depth2 = r;
  detail::rerank(RerankMode::Fused, 2, 0.5f, fused_depth2);  // max sqrt(distance) over the first 2: sqrt(0.2)
  CHECK(keys(fused_depth2) == std::vector<std::uint64_t>{2, 1, 3, 4});
  CHECK(fused_depth2[2].score == Approx(0.5f * std::sqrt(0.3f) / std::sqrt(0.2f) + 0.5f));
  CHECK(never_decreasing(fused_depth2));

  std::vector<QueryResult> fused = r;
  detail::rerank(RerankMode::Fused, 4, 0.5f, fused);  // 0.5 * sqrt(d)/sqrt(0.4) + 0.5 * (1 - IoU)
  CHECK(fused[0].key == 2);
  const float expected = 0.5f * std::sqrt(0.2f) / std::sqrt(0.4f) + 0.5f * (1 - 0.9f);
  CHECK(fused[0].score == Approx(expected));

  const auto no_match = [](const std::vector<QueryResult>& results, float threshold, float max_distance, bool calibrated) {
    return detail::is_no_match(results, detail::answer_evidence(results).distance, threshold, max_distance, calibrated);
  };
  CHECK_FALSE(no_match(r, 0.5f, 0, false));                       // uncalibrated results: no probability rule
  CHECK_FALSE(no_match({result(1, "a", 0, 1, 0.7f)}, 0.5f, 0, true));
  CHECK(no_match({result(1, "a", 0, 1, 0.4f)}, 0.5f, 0, true));
  CHECK_FALSE(no_match({result(1, "a", 0, 1, 0.4f)}, 0.0f, 0, true));  // both rules off: never
  CHECK(no_match({}, 0.5f, 0, true));
  CHECK_FALSE(no_match({}, 0.5f, 0, false));
  // By the nearest distance, for any catalogue; either rule says no match.
  CHECK(no_match(r, 0.0f, 0.09f, false));  // r's nearest is at 0.1
  CHECK_FALSE(no_match(r, 0.0f, 0.1f, false));
  CHECK(no_match({}, 0.0f, 0.1f, false));
  CHECK(no_match({result(1, "a", 0.05f, 1, 0.4f)}, 0.5f, 0.1f, true));   // probability low
  CHECK(no_match({result(1, "a", 0.2f, 1, 0.9f)}, 0.5f, 0.1f, true));    // too far
  CHECK_FALSE(no_match({result(1, "a", 0.05f, 1, 0.9f)}, 0.5f, 0.1f, true));
  // Reranked: the first result (key 3, at 0.3) is not the nearest (key 1, at 0.1); the rule reads the
  // evidence taken before the rerank, the nearest.
  CHECK(iou.front().distance == 0.3f);
  const detail::AnswerEvidence before_rerank = detail::answer_evidence(r);
  CHECK(before_rerank.distance == 0.1f);
  CHECK_FALSE(detail::is_no_match(iou, before_rerank.distance, 0.0f, 0.2f, false));
}

TEST_CASE("mode names: one table for the configuration file, the command and Python", "[ranking][config]") {
  for (CategoryMode m : {CategoryMode::Off, CategoryMode::Given, CategoryMode::PredictedHard, CategoryMode::PredictedSoft})
    CHECK(category_mode_from_string(to_string(m)) == m);
  for (RerankMode m : {RerankMode::Off, RerankMode::Iou, RerankMode::Fused}) CHECK(rerank_mode_from_string(to_string(m)) == m);
  CHECK(std::string(to_string(CategoryMode::PredictedSoft)) == "predicted_soft");
  CHECK(status_of([] { category_mode_from_string("soft"); }) == Status::InvalidArgument);
  try {
    rerank_mode_from_string("IoU");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("off, iou, fused") != std::string::npos);
  }
}

TEST_CASE("the confidence of an answer: its evidence and the model's probability", "[ranking][confidence]") {
  // Evidence in distance order: the first result, and the first of another label for the margin.
  const std::vector<QueryResult> answer = {result(1, "a", 0.2f, 1, 0.8f), result(2, "a", 0.3f, 1, 0.8f), result(3, "b", 0.5f, 1, 0.1f)};
  const detail::AnswerEvidence e = detail::answer_evidence(answer);
  CHECK(e.probability == 0.8f);
  CHECK(e.distance == 0.2f);
  CHECK(e.margin == Approx(0.3f));
  CHECK(detail::answer_evidence({answer[0], answer[1]}).margin == kMaxItemMargin);  // no other item listed
  CHECK(detail::answer_evidence({result(1, "a", 0.1f, 1), result(3, "b", 9.0f, 1)}).margin == kMaxItemMargin);  // capped
  CHECK(std::isinf(detail::answer_evidence({}).distance));

  // By hand: z = 1 + 2 * ln(0.8 / 0.2) - 3 * 0.2 + 0.5 * 0.3 = 3.3226, sigmoid(z) = 0.96521.
  const ConfidenceModel model{1.0f, 2.0f, -3.0f, 0.5f};
  CHECK(detail::confidence_of(model, e) == Approx(0.96521f).epsilon(1e-4));
  CHECK(detail::confidence_of(ConfidenceModel{}, e) == -1.0f);  // no model
  detail::AnswerEvidence uncalibrated = e;
  uncalibrated.probability = -1.0f;
  CHECK(detail::confidence_of(model, uncalibrated) == -1.0f);  // the model weighs a probability the answer lacks
  const ConfidenceModel without_probability{1.0f, 0.0f, -3.0f, 0.5f};
  CHECK(detail::confidence_of(without_probability, uncalibrated) == Approx(1 / (1 + std::exp(-0.55))));
  CHECK(detail::confidence_of(model, detail::answer_evidence({})) == 0.0f);  // nothing found
  // The rule: on (> 0) and a confidence below it; a missing confidence (-1) never fires it.
  CHECK(detail::is_unconfident(0.3f, 0.5f));
  CHECK_FALSE(detail::is_unconfident(0.5f, 0.5f));
  CHECK_FALSE(detail::is_unconfident(0.3f, 0.0f));
  CHECK_FALSE(detail::is_unconfident(-1.0f, 0.5f));
}
