#include "domainsearch/metrics.hpp"

#include <algorithm>
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

}  // namespace domainsearch
