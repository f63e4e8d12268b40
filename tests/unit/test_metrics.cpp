#include <catch2/catch.hpp>
#include <cmath>

#include "domainsearch/error.hpp"
#include "domainsearch/metrics.hpp"
#include "test_util.hpp"

using namespace domainsearch;
using Catch::Detail::Approx;
using dstest::status_of;

TEST_CASE("retrieval metrics match hand-computed values", "[metrics]") {
  // A: relevant at ranks 1 and 3 of 3 relevant; B: relevant at rank 4 of 1; C: nothing to find (left out).
  const std::vector<RankedRelevance> queries = {{{1, 0, 1, 0, 0}, 3}, {{0, 0, 0, 1}, 1}, {{0, 0}, 0}};
  const RetrievalMetrics m = retrieval_metrics(queries, {1, 5});
  CHECK(m.queries == 2);
  CHECK(m.queries_without_relevant == 1);
  CHECK(m.map == Approx(((1.0 + 2.0 / 3) / 3 + 0.25) / 2));  // 0.40278
  CHECK(m.r_precision == Approx((2.0 / 3 + 0.0) / 2));
  CHECK(m.precision_at[0] == Approx(0.5));
  CHECK(m.precision_at[1] == Approx((2.0 / 5 + 1.0 / 5) / 2));  // B's list is shorter than K: still divided by K
  CHECK(m.recall_at[0] == Approx((1.0 / 3) / 2));
  CHECK(m.recall_at[1] == Approx((2.0 / 3 + 1.0) / 2));
  CHECK(m.identical_recall_at[0] == Approx(0.5));
  CHECK(m.identical_recall_at[1] == Approx(1.0));
  REQUIRE(m.precision_curve.size() == 5);
  CHECK(m.precision_curve[1] == Approx((0.5 + 0.0) / 2));
  CHECK(m.precision_curve[2] == Approx((2.0 / 3) / 2));
  CHECK(m.precision_curve[3] == Approx((0.5 + 0.25) / 2));
  CHECK(m.precision_curve[4] == Approx(m.precision_at[1]));
}

TEST_CASE("retrieval metrics: a perfect ranking scores 1 and bad input is refused", "[metrics]") {
  const RetrievalMetrics perfect = retrieval_metrics({{{1, 1, 0}, 2}, {{1}, 1}}, {1, 2});
  CHECK(perfect.map == Approx(1.0));
  CHECK(perfect.r_precision == Approx(1.0));
  CHECK(perfect.identical_recall_at[0] == Approx(1.0));
  CHECK(perfect.recall_at[1] == Approx(1.0));
  CHECK(retrieval_metrics({}, {1}).queries == 0);
  CHECK(status_of([] { retrieval_metrics({{{1}, 1}}, {0, 5}); }) == Status::InvalidArgument);
  CHECK(status_of([] { retrieval_metrics({{{1}, 1}}, {}); }) == Status::InvalidArgument);
  CHECK(status_of([] { retrieval_metrics({{{1, 1}, 1}}, {1}); }) == Status::InvalidArgument);
}

TEST_CASE("classification metrics match hand-computed values", "[metrics]") {
  // Class 3 occurs nowhere and is left out of the macro averages; sample 4 has no prediction.
  const ClassificationMetrics m = classification_metrics({0, 0, 1, 1, 2}, {0, 1, 1, 1, -1}, 4);
  CHECK(m.samples == 5);
  CHECK(m.accuracy == Approx(0.6));
  CHECK(m.confusion[0][0] == 1);
  CHECK(m.confusion[0][1] == 1);
  CHECK(m.confusion[1][1] == 2);
  CHECK(m.confusion[2][0] + m.confusion[2][1] + m.confusion[2][2] == 0);
  CHECK(m.per_class_accuracy == std::vector<double>{0.5, 1.0, 0.0, 0.0});
  CHECK(m.per_class_support == std::vector<std::size_t>{2, 2, 1, 0});
  CHECK(m.macro_precision == Approx((1.0 + 2.0 / 3 + 0.0) / 3));
  CHECK(m.macro_recall == Approx((0.5 + 1.0 + 0.0) / 3));
  CHECK(m.macro_f1 == Approx((2.0 / 3 + 0.8 + 0.0) / 3));
  CHECK(status_of([] { classification_metrics({0, 1}, {0}, 2); }) == Status::InvalidArgument);
  CHECK(status_of([] { classification_metrics({0, 2}, {0, 1}, 2); }) == Status::InvalidArgument);
  CHECK(status_of([] { classification_metrics({0}, {-2}, 2); }) == Status::InvalidArgument);
}

TEST_CASE("AUROC and the risk-coverage curve against hand-computed cases", "[metrics][confidence]") {
  // Pairs won by the positives: 0.9 and 0.8 beat all three negatives; 0.4 loses to 0.5, ties 0.4, beats 0.1.
  CHECK(auroc({0.9f, 0.8f, 0.4f}, {0.5f, 0.4f, 0.1f}) == Approx(7.5 / 9));
  CHECK(auroc({2, 3}, {0, 1}) == 1.0);
  CHECK(auroc({0, 1}, {2, 3}) == 0.0);
  CHECK(auroc({1, 1}, {1}) == 0.5);
  CHECK_THROWS_AS(auroc({}, {1}), Error);
  CHECK_THROWS_AS(auroc({std::nanf("")}, {1}), Error);

  // Surest first: 0.9 right; the tied 0.8s (one wrong) together; 0.1 wrong.
  const std::vector<RiskCoveragePoint> curve = risk_coverage({0.8f, 0.9f, 0.1f, 0.8f}, {0, 1, 0, 1});
  REQUIRE(curve.size() == 3);
  CHECK(curve[0].coverage == 0.25);
  CHECK(curve[0].risk == 0.0);
  CHECK(curve[1].coverage == 0.75);
  CHECK(curve[1].risk == Approx(1.0 / 3));
  CHECK(curve[2].coverage == 1.0);
  CHECK(curve[2].risk == 0.5);
  // 0.25 * 0 + 0.5 * (0 + 1/3) / 2 + 0.25 * (1/3 + 1/2) / 2
  CHECK(area_under_risk_coverage(curve) == Approx(0.1875));
  CHECK_THROWS_AS(risk_coverage({0.5f}, {1, 0}), Error);
}
