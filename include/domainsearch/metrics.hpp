#pragma once
// Retrieval and classification metrics with the standard definitions (the grocery dataset's README,
// "Visual Search at Alibaba" for identical-recall): computed per query, then averaged over queries.
// Pure functions of their inputs; thread-safe.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "domainsearch/export.hpp"

namespace domainsearch {

/// One query's ranked result list, as relevance flags in rank order (relevant[0] is rank 1), and how
/// many relevant items the catalogue holds for it (relevant items never retrieved count as misses).
struct RankedRelevance {
  std::vector<std::uint8_t> relevant;
  std::size_t relevant_total = 0;
};

struct RetrievalMetrics {
  std::size_t queries = 0;                  ///< queries with at least one relevant item in the catalogue
  std::size_t queries_without_relevant = 0; ///< left out of every average (nothing to find)
  double map = 0;                           ///< mean average precision over the full ranked list
  double r_precision = 0;                   ///< mean precision in the top R (R = relevant_total)
  std::vector<std::size_t> ks;              ///< the cut-offs of the three vectors below
  std::vector<double> precision_at;         ///< mean (relevant in top K) / K
  std::vector<double> recall_at;            ///< mean (relevant in top K) / relevant_total
  std::vector<double> identical_recall_at;  ///< share of queries with a relevant item in the top K
  std::vector<double> precision_curve;      ///< precision_at for K = 1..max(ks) (for plots)
};

/// Throws InvalidArgument for an empty or zero cut-off, or a list claiming more relevant hits than relevant_total.
DS_API RetrievalMetrics retrieval_metrics(const std::vector<RankedRelevance>& queries, const std::vector<std::size_t>& ks = {1, 5, 10, 20});

struct ClassificationMetrics {
  std::size_t samples = 0;
  double accuracy = 0;         ///< top-1
  double macro_precision = 0;  ///< mean over classes of TP / predicted (0 for a class never predicted)
  double macro_recall = 0;     ///< mean over classes of TP / actual
  double macro_f1 = 0;         ///< mean over classes of the per-class F1 (0 when precision + recall is 0)
  std::vector<double> per_class_accuracy;                 ///< TP / actual per class (its recall); 0 when absent
  std::vector<std::size_t> per_class_support;            ///< actual samples per class
  std::vector<std::vector<std::size_t>> confusion;        ///< [truth][predicted], classes x classes
};

/// truth[i] and predicted[i] are class ids in [0, classes); predicted -1 means "no prediction" (counts as
/// wrong, in no column). Macro averages run over the classes that occur in truth or in the predictions.
/// Throws InvalidArgument for mismatched lengths or ids out of range.
DS_API ClassificationMetrics classification_metrics(const std::vector<int>& truth, const std::vector<int>& predicted, int classes);

/// Area under the ROC curve of a score that should be higher for `positive` cases than for `negative`
/// ones: the probability that a random positive scores above a random negative, ties counting one half
/// (the Mann-Whitney U statistic over |positive| * |negative|). 1 separates perfectly, 0.5 is chance.
/// O(n log n). Throws InvalidArgument when either list is empty or holds a NaN.
DS_API double auroc(const std::vector<float>& positive, const std::vector<float>& negative);

/// One point of a risk-coverage curve: answering only the `coverage` share of queries whose
/// confidence is highest, `risk` is the share of those answers that are wrong.
struct RiskCoveragePoint {
  double coverage = 0;
  double risk = 0;
};

/// The risk-coverage curve of answers with confidence[i] (higher = surer) and right[i] (whether answer
/// i is right): one point per distinct confidence, from the surest answers alone (smallest coverage)
/// to every answer (coverage 1). Tied confidences are taken together. Throws InvalidArgument for
/// mismatched lengths, no answer or a NaN.
DS_API std::vector<RiskCoveragePoint> risk_coverage(const std::vector<float>& confidence, const std::vector<std::uint8_t>& right);

/// The area under a risk-coverage curve (trapezoids over coverage, from the first point's coverage
/// to 1, the first segment from coverage 0 at that point's risk): the mean risk over coverage; lower is better.
DS_API double area_under_risk_coverage(const std::vector<RiskCoveragePoint>& curve);

}  // namespace domainsearch
