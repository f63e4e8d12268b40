#include "domainsearch/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "domainsearch/error.hpp"

namespace domainsearch {
namespace {

// Average precision of one ranked list: the mean, over the relevant items, of the precision at the rank
// where each was found (0 for those never found).
double average_precision(const RankedRelevance& q) {
  double sum = 0;
  std::size_t found = 0;
  for (std::size_t i = 0; i < q.relevant.size(); ++i)
    if (q.relevant[i]) sum += static_cast<double>(++found) / static_cast<double>(i + 1);
  return sum / static_cast<double>(q.relevant_total);
}

std::size_t relevant_in_top(const RankedRelevance& q, std::size_t k) {
  return static_cast<std::size_t>(std::count(q.relevant.begin(), q.relevant.begin() + static_cast<std::ptrdiff_t>(std::min(k, q.relevant.size())), 1));
}

}  // namespace

RetrievalMetrics retrieval_metrics(const std::vector<RankedRelevance>& queries, const std::vector<std::size_t>& ks) {
  if (ks.empty() || std::count(ks.begin(), ks.end(), 0u)) throw Error(Status::InvalidArgument, "retrieval_metrics: cut-offs K must be at least 1");
  RetrievalMetrics m;
  m.ks = ks;
  m.precision_at.assign(ks.size(), 0);
  m.recall_at.assign(ks.size(), 0);
  m.identical_recall_at.assign(ks.size(), 0);
  m.precision_curve.assign(*std::max_element(ks.begin(), ks.end()), 0);
  for (const RankedRelevance& q : queries) {
    const std::size_t hits = relevant_in_top(q, q.relevant.size());
    if (hits > q.relevant_total)
      throw Error(Status::InvalidArgument, "retrieval_metrics: a ranked list holds " + std::to_string(hits) + " relevant items but relevant_total is " +
                                               std::to_string(q.relevant_total));
    if (q.relevant_total == 0) {
      ++m.queries_without_relevant;
      continue;
    }
    ++m.queries;
    const double total = static_cast<double>(q.relevant_total);
    m.map += average_precision(q);
    m.r_precision += static_cast<double>(relevant_in_top(q, q.relevant_total)) / total;
    for (std::size_t i = 0; i < ks.size(); ++i) {
      const double in_top = static_cast<double>(relevant_in_top(q, ks[i]));
      m.precision_at[i] += in_top / static_cast<double>(ks[i]);
      m.recall_at[i] += in_top / total;
      m.identical_recall_at[i] += in_top > 0 ? 1.0 : 0.0;
    }
    for (std::size_t k = 1; k <= m.precision_curve.size(); ++k)
      m.precision_curve[k - 1] += static_cast<double>(relevant_in_top(q, k)) / static_cast<double>(k);
  }
  if (m.queries == 0) return m;
  const double n = static_cast<double>(m.queries);
  m.map /= n;
  m.r_precision /= n;
  for (std::vector<double>* v : {&m.precision_at, &m.recall_at, &m.identical_recall_at, &m.precision_curve})
    for (double& x : *v) x /= n;
  return m;
}

ClassificationMetrics classification_metrics(const std::vector<int>& truth, const std::vector<int>& predicted, int classes) {
  if (truth.size() != predicted.size())
    throw Error(Status::InvalidArgument, "classification_metrics: " + std::to_string(truth.size()) + " truths but " + std::to_string(predicted.size()) + " predictions");
  if (classes < 1) throw Error(Status::InvalidArgument, "classification_metrics: classes must be at least 1");
  const std::size_t c = static_cast<std::size_t>(classes);
  ClassificationMetrics m;
  m.samples = truth.size();
  m.confusion.assign(c, std::vector<std::size_t>(c, 0));
  m.per_class_support.assign(c, 0);
  std::vector<std::size_t> predicted_count(c, 0), correct(c, 0);
  for (std::size_t i = 0; i < truth.size(); ++i) {
    if (truth[i] < 0 || truth[i] >= classes || predicted[i] < -1 || predicted[i] >= classes)
      throw Error(Status::InvalidArgument, "classification_metrics: sample " + std::to_string(i) + " has a class id out of range");
    const std::size_t t = static_cast<std::size_t>(truth[i]);
    ++m.per_class_support[t];
    if (predicted[i] < 0) continue;
    const std::size_t p = static_cast<std::size_t>(predicted[i]);
    ++m.confusion[t][p];
    ++predicted_count[p];
    if (p == t) ++correct[t];
  }
  m.per_class_accuracy.assign(c, 0);
  std::size_t present = 0, all_correct = 0;
  for (std::size_t k = 0; k < c; ++k) {
    all_correct += correct[k];
    if (m.per_class_support[k] == 0 && predicted_count[k] == 0) continue;
    ++present;
    const double precision = predicted_count[k] ? static_cast<double>(correct[k]) / static_cast<double>(predicted_count[k]) : 0.0;
    const double recall = m.per_class_support[k] ? static_cast<double>(correct[k]) / static_cast<double>(m.per_class_support[k]) : 0.0;
    m.per_class_accuracy[k] = recall;
    m.macro_precision += precision;
    m.macro_recall += recall;
    m.macro_f1 += precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
  }
  if (m.samples) m.accuracy = static_cast<double>(all_correct) / static_cast<double>(m.samples);
  if (present) {
    m.macro_precision /= static_cast<double>(present);
    m.macro_recall /= static_cast<double>(present);
    m.macro_f1 /= static_cast<double>(present);
  }
  return m;
}

namespace {

void require_no_nan(const std::vector<float>& values, const char* what) {
  if (std::any_of(values.begin(), values.end(), [](float v) { return std::isnan(v); }))
    throw Error(Status::InvalidArgument, std::string(what) + ": a score is NaN");
}

}  // namespace

double auroc(const std::vector<float>& positive, const std::vector<float>& negative) {
  if (positive.empty() || negative.empty()) throw Error(Status::InvalidArgument, "auroc: needs at least one positive and one negative case");
  require_no_nan(positive, "auroc");
  require_no_nan(negative, "auroc");
  std::vector<float> neg = negative;
  std::sort(neg.begin(), neg.end());
  double wins = 0;
  for (float p : positive) {
    const auto below = std::lower_bound(neg.begin(), neg.end(), p) - neg.begin();
    const auto tied = std::upper_bound(neg.begin(), neg.end(), p) - neg.begin() - below;
    wins += static_cast<double>(below) + 0.5 * static_cast<double>(tied);
  }
  return wins / (static_cast<double>(positive.size()) * static_cast<double>(negative.size()));
}

std::vector<RiskCoveragePoint> risk_coverage(const std::vector<float>& confidence, const std::vector<std::uint8_t>& right) {
  if (confidence.size() != right.size() || confidence.empty())
    throw Error(Status::InvalidArgument, "risk_coverage: needs one right/wrong flag per confidence, and at least one answer");
  require_no_nan(confidence, "risk_coverage");
  std::vector<std::size_t> order(confidence.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return confidence[a] > confidence[b]; });
  std::vector<RiskCoveragePoint> curve;
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < order.size(); ++i) {
    wrong += right[order[i]] ? 0 : 1;
    const bool last_of_tie = i + 1 == order.size() || confidence[order[i + 1]] != confidence[order[i]];
    if (last_of_tie)
      curve.push_back({static_cast<double>(i + 1) / static_cast<double>(order.size()), static_cast<double>(wrong) / static_cast<double>(i + 1)});
  }
  return curve;
}

double area_under_risk_coverage(const std::vector<RiskCoveragePoint>& curve) {
  if (curve.empty()) return 0;
  double area = curve.front().coverage * curve.front().risk;
  for (std::size_t i = 1; i < curve.size(); ++i)
    area += (curve[i].coverage - curve[i - 1].coverage) * (curve[i].risk + curve[i - 1].risk) / 2;
  return area;
}

}  // namespace domainsearch
