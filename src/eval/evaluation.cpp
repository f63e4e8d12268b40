#include "domainsearch/evaluation.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <memory>
#include <set>
#include <tuple>
#include <unordered_map>

#include "domainsearch/error.hpp"
#include "search/ranking.hpp"
#include "config/config_json.hpp"
#include "eval/confidence_model.hpp"

namespace domainsearch {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The analyses of one embedding setting; nullopt where an image failed.
struct AnalysisSet {
  std::vector<std::optional<ImageAnalysis>> catalogue, queries, training;
};

// A catalogue built from one AnalysisSet with one L2 setting, with its head.
struct Instance {
  std::unique_ptr<Pipeline> pipeline;
  std::unordered_map<std::string, std::size_t> relevant_total;  // label -> catalogue items
};

// One query's answer as the confidence candidates and the no-match rules read it.
struct Answer {
  detail::AnswerEvidence evidence;  // of the item answer (the whole ranking)
  float configured = -1.0f;         // QueryResponse::confidence (the configured model)
  bool no_match = false;            // the configured rules' verdict
  bool right = false;               // the first item is the query's
  std::string label;                // the query's item
};

struct MatchScores {
  std::vector<Answer> held_out, present;
};

// One candidate confidence, higher = surer, for the known items' and the held-out items' queries.
struct Candidate {
  std::string name;
  std::vector<float> present, held_out;
};

// The fitted confidence is fitted as if this share of all queries showed items not in the catalogue
// (the held-out items' queries are weighted so): it sets the level of the probability, not its order.
constexpr double kUnknownShare = 0.2;
constexpr std::size_t kConfidenceFolds = 5;

// The answers as samples of the fitted confidence: the present ones, then the held-out ones; folds
// by item (every kConfidenceFolds-th of the sorted labels), so no item is in its own model's data.
std::vector<detail::ConfidenceSample> confidence_samples(const MatchScores& s) {
  std::set<std::string> labels;
  for (const std::vector<Answer>* list : {&s.present, &s.held_out})
    for (const Answer& a : *list) labels.insert(a.label);
  std::map<std::string, std::size_t> fold;
  for (const std::string& label : labels) fold.emplace(label, fold.size() % kConfidenceFolds);
  const double held_out_weight = kUnknownShare / (1 - kUnknownShare) * static_cast<double>(s.present.size()) /
                                 static_cast<double>(std::max<std::size_t>(s.held_out.size(), 1));
  std::vector<detail::ConfidenceSample> out;
  for (const Answer& a : s.present) out.push_back({a.evidence, a.right, 1.0, fold.at(a.label)});
  for (const Answer& a : s.held_out) out.push_back({a.evidence, false, held_out_weight, fold.at(a.label)});
  return out;
}

// The candidates measured: the match probability (calibrated catalogues), the nearest distance
// (negated), the item margin, the configured confidence (when the configuration has a model) and,
// with held-out items, a confidence fitted on the answers (`fitted`), measured out of fold.
std::vector<Candidate> confidence_candidates(const MatchScores& s, bool calibrated, std::optional<ConfidenceModel>& fitted) {
  std::vector<Candidate> out;
  const auto add = [&](std::string name, const auto& value) {
    Candidate c{std::move(name), {}, {}};
    for (const Answer& a : s.present) c.present.push_back(value(a));
    for (const Answer& a : s.held_out) c.held_out.push_back(value(a));
    out.push_back(std::move(c));
  };
  if (calibrated) add("match probability", [](const Answer& a) { return a.evidence.probability; });
  add("nearest distance", [](const Answer& a) { return -a.evidence.distance; });
  add("item margin", [](const Answer& a) { return a.evidence.margin; });
  if (!s.present.empty() && s.present.front().configured >= 0) add("configured confidence", [](const Answer& a) { return a.configured; });
  if (s.held_out.empty()) return out;
  const std::vector<detail::ConfidenceSample> samples = confidence_samples(s);
  try {
    fitted = detail::fit_confidence_model(samples, calibrated);
    const std::vector<float> values = detail::out_of_fold_confidences(samples, calibrated);
    out.push_back({"fitted confidence", {values.begin(), values.begin() + static_cast<std::ptrdiff_t>(s.present.size())},
                   {values.begin() + static_cast<std::ptrdiff_t>(s.present.size()), values.end()}});
  } catch (const Error& e) {
    if (e.status() != Status::InvalidArgument) throw;  // (answers without results, or one kind of answer only: nothing to fit)
  }
  return out;
}

// The no-match rates at each threshold t, a query answering "no match" when its value v of the
// candidate is flagged(v, t).
template <typename Flagged>
std::vector<NoMatchPoint> no_match_curve(const Candidate& c, const MatchScores& s, const std::vector<float>& thresholds, Flagged flagged) {
  std::vector<NoMatchPoint> out;
  const auto share = [](std::size_t n, std::size_t of) { return static_cast<double>(n) / static_cast<double>(std::max<std::size_t>(of, 1)); };
  for (float t : thresholds) {
    std::size_t matched = 0, lost = 0, flagged_present = 0;
    for (float v : c.held_out) matched += !flagged(v, t);
    for (std::size_t i = 0; i < c.present.size(); ++i) lost += s.present[i].right && flagged(c.present[i], t), flagged_present += flagged(c.present[i], t);
    out.push_back({t, share(matched, c.held_out.size()), share(lost, c.present.size()), share(flagged_present, c.present.size())});
  }
  return out;
}

const Candidate* candidate(const std::vector<Candidate>& candidates, const std::string& name) {
  for (const Candidate& c : candidates)
    if (c.name == name) return &c;
  return nullptr;
}

const std::vector<float> kProbabilityThresholds = {0.05f, 0.1f, 0.15f, 0.2f, 0.25f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f, 0.9f};

// Thresholds at quantiles of the other queries' nearest distances, so any embedding's scale is covered.
std::vector<NoMatchPoint> no_match_by_distance(const Candidate& negated_distance, const MatchScores& s) {
  std::vector<float> distances;
  for (float v : negated_distance.present)
    if (std::isfinite(v)) distances.push_back(-v);
  if (distances.empty()) return {};
  std::sort(distances.begin(), distances.end());
  std::vector<float> thresholds;
  for (double q : {0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.975, 0.99})
    thresholds.push_back(distances[static_cast<std::size_t>(q * static_cast<double>(distances.size() - 1))]);
  thresholds.erase(std::unique(thresholds.begin(), thresholds.end()), thresholds.end());
  return no_match_curve(negated_distance, s, thresholds, [](float v, float t) { return -v > t; });
}

// The configured rules' verdicts (match_distance, match_threshold, min_confidence) as one point.
NoMatchPoint configured_no_match(const MatchScores& s) {
  Candidate verdicts{"configured rules", {}, {}};
  for (const Answer& a : s.present) verdicts.present.push_back(a.no_match ? 0.0f : 1.0f);
  for (const Answer& a : s.held_out) verdicts.held_out.push_back(a.no_match ? 0.0f : 1.0f);
  return no_match_curve(verdicts, s, {0.5f}, [](float v, float t) { return v < t; }).front();
}

// Each candidate measured on the queries' first answers (see ConfidenceEvaluation).
std::vector<ConfidenceEvaluation> evaluate_confidences(const std::vector<Candidate>& candidates, const MatchScores& s) {
  std::vector<ConfidenceEvaluation> out;
  if (s.present.empty()) return out;
  std::vector<std::uint8_t> is_right;
  for (const Answer& a : s.present) is_right.push_back(a.right);
  for (const Candidate& c : candidates) {
    ConfidenceEvaluation e;
    e.name = c.name;
    std::vector<float> right, wrong;
    for (std::size_t i = 0; i < c.present.size(); ++i) (is_right[i] ? right : wrong).push_back(c.present[i]);
    if (!right.empty() && !wrong.empty()) e.auroc_right_vs_wrong = auroc(right, wrong);
    if (!c.held_out.empty()) e.auroc_known_vs_held_out = auroc(c.present, c.held_out);
    e.risk_coverage = risk_coverage(c.present, is_right);
    e.area_under_risk_coverage = area_under_risk_coverage(e.risk_coverage);
    out.push_back(std::move(e));
  }
  return out;
}

// The evidence of an item answer as it was before reranking or scoring items by several photos (the
// whole ranking: nothing was cut).
detail::AnswerEvidence evidence_of(std::vector<QueryResult> items) {
  detail::sort_by_distance(items);
  return detail::answer_evidence(items);
}

// Which of `results` show `label`, of `relevant` in the catalogue.
RankedRelevance relevance(const std::vector<QueryResult>& results, const std::string& label, std::size_t relevant) {
  RankedRelevance out;
  out.relevant_total = relevant;
  for (const QueryResult& r : results) out.relevant.push_back(r.label == label);
  return out;
}

// The pipeline's item answer (averaged = 1), or items scored by the mean distance of their `averaged`
// nearest photos, ranked from the whole photo ranking (an aggregation the evaluation measures).
QueryResponse answer_with_items(const Pipeline& pipeline, const ImageAnalysis& query, const QueryOptions& asked, std::size_t averaged) {
  if (averaged <= 1) return pipeline.query_analyzed(query, asked);
  QueryOptions photos = asked;
  photos.one_result_per_label = false;
  QueryResponse r = pipeline.query_analyzed(query, photos);
  r.results = detail::rank_items(r.results, averaged, 0.0f);
  return r;
}

// Every n/count-th of the sorted distinct labels.
std::set<std::string> spread_labels(const std::vector<CatalogueEntry>& entries, std::size_t count) {
  std::set<std::string> all;
  for (const CatalogueEntry& e : entries) all.insert(e.label);
  if (count == 0) return {};
  if (count >= all.size()) throw Error(Status::InvalidArgument, "evaluate: cannot hold out " + std::to_string(count) + " of " + std::to_string(all.size()) + " items");
  const std::vector<std::string> sorted(all.begin(), all.end());
  std::set<std::string> out;
  for (std::size_t i = 0; i < count; ++i) out.insert(sorted[i * sorted.size() / count]);
  return out;
}

std::vector<CatalogueEntry> without(const std::vector<CatalogueEntry>& entries, const std::set<std::string>& labels) {
  std::vector<CatalogueEntry> out;
  for (const CatalogueEntry& e : entries)
    if (!labels.count(e.label)) out.push_back(e);
  return out;
}

class Evaluation {
 public:
  Evaluation(const PipelineConfig& base, const std::vector<CatalogueEntry>& catalogue, const std::vector<CatalogueEntry>& queries,
             const EvaluationOptions& options, const std::set<std::string>& held_out, EvaluationReport& report)
      : base_(base), catalogue_(catalogue), queries_(queries), options_(options), held_out_(held_out), report_(report) {
    for (const std::vector<CatalogueEntry>* list : {&catalogue_, &queries_})
      for (const CatalogueEntry& e : *list)
        if (std::find(report_.category_names.begin(), report_.category_names.end(), e.category) == report_.category_names.end())
          report_.category_names.push_back(e.category);
  }

  VariantEvaluation run(const EvaluationVariant& v) {
    if (base_.fine_tuning.enabled && !same_embedding(v, configured_variant(base_)))
      throw Error(Status::InvalidArgument, "evaluate: with fine_tuning enabled the network is trained once, so variant \"" + v.name +
                                               "\" may change only the category mode, soft threshold, reranking and how items are scored");
    if (v.item_photos > 1 && v.rerank != RerankMode::Off)
      throw Error(Status::InvalidArgument, "evaluate: variant \"" + v.name + "\" ranks items by several photos, which needs rerank off");
    const AnalysisSet& set = analyses(v.localize, v.grayscale);
    Instance& inst = instance(v, set);
    QueryOptions photos_asked;
    photos_asked.k = inst.pipeline->index().size();  // the whole ranking
    photos_asked.category_mode = v.category_mode;
    photos_asked.rerank = v.rerank;
    photos_asked.soft_threshold = v.soft_threshold;
    photos_asked.one_result_per_label = false;
    QueryOptions items_asked = photos_asked;
    items_asked.one_result_per_label = true;
    VariantEvaluation out;
    out.variant = v;
    std::vector<RankedRelevance> photo_ranks, item_ranks;
    std::vector<int> truth, predicted;
    MatchScores scores;
    for (std::size_t i = 0; i < queries_.size(); ++i) {
      if (!set.queries[i]) continue;
      const ImageAnalysis query = prepared(*set.queries[i], v.l2_normalize);
      const QueryResponse items = answer_with_items(*inst.pipeline, query, items_asked, v.item_photos);
      out.query_ms += items.timings.total_ms;
      ++out.timed_queries;
      const QueryResponse photos = inst.pipeline->query_analyzed(query, photos_asked);
      Answer answer{evidence_of(items.results), items.confidence, items.no_match, false, queries_[i].label};
      answer.right = !items.results.empty() && items.results.front().label == queries_[i].label;
      if (held_out_.count(queries_[i].label)) {
        scores.held_out.push_back(std::move(answer));
        continue;
      }
      scores.present.push_back(std::move(answer));
      const auto total = inst.relevant_total.find(queries_[i].label);
      const std::size_t relevant = total == inst.relevant_total.end() ? 0 : total->second;
      photo_ranks.push_back(relevance(photos.results, queries_[i].label, relevant));
      item_ranks.push_back(relevance(items.results, queries_[i].label, std::min<std::size_t>(relevant, 1)));
      truth.push_back(class_id(queries_[i].category));
      predicted.push_back(items.predicted.empty() ? -1 : class_id(items.predicted.front().category));
    }
    if (out.timed_queries > 0) out.query_ms /= static_cast<double>(out.timed_queries);  // every query timed, held-out items' too
    out.retrieval = retrieval_metrics(photo_ranks, options_.ks);
    out.items = retrieval_metrics(item_ranks, options_.ks);
    if (inst.pipeline->has_category_head())
      out.categories = classification_metrics(truth, predicted, static_cast<int>(report_.category_names.size()));
    const std::vector<Candidate> candidates = confidence_candidates(scores, inst.pipeline->is_fine_tuned(), out.fitted_confidence);
    out.confidence = evaluate_confidences(candidates, scores);
    if (scores.held_out.empty()) return out;
    const auto flagged_below = [](float v, float t) { return v < t; };
    if (const Candidate* p = candidate(candidates, "match probability")) out.no_match = no_match_curve(*p, scores, kProbabilityThresholds, flagged_below);
    out.no_match_by_distance = no_match_by_distance(*candidate(candidates, "nearest distance"), scores);
    if (const Candidate* f = candidate(candidates, "fitted confidence")) out.no_match_by_confidence = no_match_curve(*f, scores, kProbabilityThresholds, flagged_below);
    out.configured_no_match = configured_no_match(scores);
    return out;
  }

 private:
  int class_id(const std::string& category) const {
    return static_cast<int>(std::find(report_.category_names.begin(), report_.category_names.end(), category) - report_.category_names.begin());
  }

  // The stored or searched form of a raw analysis under an L2 setting.
  static ImageAnalysis prepared(const ImageAnalysis& a, bool l2) {
    ImageAnalysis copy = a;
    if (l2) l2_normalize_rows(copy.embedding.data(), 1, copy.embedding.size());
    return copy;
  }

  PipelineConfig config_for(bool localize, bool grayscale, bool l2, bool adapt = false) const {
    PipelineConfig c = base_;
    if (localize && c.segmenter_manifest.empty())
      throw Error(Status::InvalidArgument, "evaluate: a variant localises but the configuration names no segmenter");
    c.localize = localize;
    c.features.grayscale = grayscale;
    c.features.l2_normalize = l2;
    c.adapt_embedding = adapt;
    return c;
  }

  // Decodes and analyses entries with `analyzer` (Pipeline::analyze_entries); failures are reported once per path.
  std::vector<std::optional<ImageAnalysis>> analyze(const Pipeline& analyzer, const std::vector<CatalogueEntry>& entries, const std::string& stage) {
    const ProgressFn progress = [&](std::size_t done, std::size_t total) { return !options_.progress || options_.progress(stage, done, total); };
    std::vector<EntryAnalysis> analysed;
    try {
      analysed = analyzer.analyze_entries(entries, progress);
    } catch (const Error& e) {
      if (e.status() == Status::Cancelled) throw Error(Status::Cancelled, "evaluation cancelled while " + stage);
      throw;
    }
    std::vector<std::optional<ImageAnalysis>> out(entries.size());
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (analysed[i].analysis) out[i] = std::move(analysed[i].analysis);
      else fail(entries[i].path, analysed[i].error);
    }
    return out;
  }

  void fail(const std::string& path, const std::string& reason) {
    if (failed_paths_.insert(path).second) report_.failures.push_back({path, reason});
  }

  const AnalysisSet& analyses(bool localize, bool grayscale) {
    const auto key = std::make_pair(localize, grayscale);
    auto it = analyses_.find(key);
    if (it != analyses_.end()) return it->second;
    const auto start = Clock::now();
    std::optional<Pipeline> plain;
    if (!base_.fine_tuning.enabled) plain.emplace(config_for(localize, grayscale, false));
    const Pipeline& analyzer = plain ? *plain : fine_tuned();
    const std::string setting = std::string(localize ? "localised" : "whole image") + (grayscale ? ", grayscale" : ", colour");
    AnalysisSet set;  // (the fine-tuned pipeline holds its catalogue and was trained on the photos themselves)
    if (plain) set.catalogue = analyze(analyzer, catalogue_, "analysing the catalogue (" + setting + ")");
    set.queries = analyze(analyzer, queries_, "analysing the queries (" + setting + ")");
    if (plain) set.training = analyze(analyzer, options_.head_training, "analysing the head's training images (" + setting + ")");
    report_.inference_seconds += seconds_since(start);
    return analyses_.emplace(key, std::move(set)).first->second;
  }

  Instance& instance(const EvaluationVariant& v, const AnalysisSet& set) {
    const auto key = std::make_tuple(v.localize, v.grayscale, v.l2_normalize, v.adapt_embedding);
    auto it = instances_.find(key);
    if (it != instances_.end()) return it->second;
    Instance inst;
    if (base_.fine_tuning.enabled) {
      inst.pipeline = std::move(fine_tuned_);
      for (const CatalogueEntry& e : catalogue_) inst.relevant_total[e.label] += inst.pipeline->index().contains(e.key.value_or(Pipeline::key_for_path(e.path)));
    } else {
      inst.pipeline = std::make_unique<Pipeline>(config_for(v.localize, v.grayscale, v.l2_normalize, v.adapt_embedding));
      for (std::size_t i = 0; i < catalogue_.size(); ++i) {
        if (!set.catalogue[i]) continue;
        const CatalogueEntry& e = catalogue_[i];
        inst.pipeline->add_analyzed(e.key.value_or(Pipeline::key_for_path(e.path)), prepared(*set.catalogue[i], v.l2_normalize), e.category,
                                    e.label, e.path);
        ++inst.relevant_total[e.label];
      }
    }
    if (inst.pipeline->index().size() == 0) throw Error(Status::NotFound, "evaluate: no catalogue image could be analysed");
    if (!base_.fine_tuning.enabled) train_head(inst, set, v.l2_normalize);
    return instances_.emplace(key, std::move(inst)).first->second;
  }

  void train_head(Instance& inst, const AnalysisSet& set, bool l2) {
    if (inst.pipeline->index().category_count() < 2) return;  // (nor an adaptation: both are trained together)
    const auto start = Clock::now();
    if (options_.head_training.empty()) {
      inst.pipeline->train_categories();
    } else {
      std::vector<ImageAnalysis> samples;
      std::vector<std::string> categories, labels;
      for (std::size_t i = 0; i < options_.head_training.size(); ++i) {
        if (!set.training[i]) continue;
        samples.push_back(prepared(*set.training[i], l2));
        categories.push_back(options_.head_training[i].category);
        labels.push_back(options_.head_training[i].label);
      }
      inst.pipeline->train_categories(samples, categories, labels);
    }
    report_.training_seconds += seconds_since(start);
  }

  // The base configuration's pipeline holding the catalogue, fine-tuned on the head-training photos
  // (with the catalogue's images as studio images) or else on the catalogue: it analyses the queries,
  // then becomes the one instance.
  const Pipeline& fine_tuned() {
    if (fine_tuned_) return *fine_tuned_;
    const auto start = Clock::now();
    auto p = std::make_unique<Pipeline>(base_);
    const IndexingReport indexed = p->index_entries(catalogue_, [this](std::size_t done, std::size_t total) {
      return !options_.progress || options_.progress("indexing the catalogue", done, total);
    });
    if (indexed.cancelled) throw Error(Status::Cancelled, "evaluation cancelled while indexing the catalogue");
    for (const IndexingFailure& f : indexed.failures) fail(f.path, f.reason);
    p->fine_tune(options_.head_training, [this](const TrainingProgress& t) {
      const std::string stage = "fine-tuning (" + t.stage + (t.epoch ? ", epoch " + std::to_string(t.epoch) + "/" + std::to_string(t.epochs) : "") + ")";
      return !options_.progress || options_.progress(stage, t.done, t.total);
    });
    report_.training_seconds += seconds_since(start);
    fine_tuned_ = std::move(p);
    return *fine_tuned_;
  }

  static bool same_embedding(const EvaluationVariant& a, const EvaluationVariant& b) {
    return a.localize == b.localize && a.grayscale == b.grayscale && a.l2_normalize == b.l2_normalize && a.adapt_embedding == b.adapt_embedding;
  }

  const PipelineConfig& base_;
  const std::vector<CatalogueEntry>& catalogue_;
  const std::vector<CatalogueEntry>& queries_;
  const EvaluationOptions& options_;
  const std::set<std::string>& held_out_;
  EvaluationReport& report_;
  std::set<std::string> failed_paths_;
  std::map<std::pair<bool, bool>, AnalysisSet> analyses_;
  std::map<std::tuple<bool, bool, bool, bool>, Instance> instances_;
  std::unique_ptr<Pipeline> fine_tuned_;
};

}  // namespace

EvaluationReport evaluate(const PipelineConfig& base, const std::vector<CatalogueEntry>& catalogue, const std::vector<CatalogueEntry>& queries,
                          const std::vector<EvaluationVariant>& variants, const EvaluationOptions& options) {
  if (catalogue.empty()) throw Error(Status::InvalidArgument, "evaluate: the catalogue is empty");
  if (queries.empty()) throw Error(Status::InvalidArgument, "evaluate: no queries");
  if (variants.empty()) throw Error(Status::InvalidArgument, "evaluate: no variants to evaluate");
  EvaluationReport report;
  const std::set<std::string> held_out = spread_labels(catalogue, options.holdout_items);
  report.held_out_items.assign(held_out.begin(), held_out.end());
  const std::vector<CatalogueEntry> kept = without(catalogue, held_out);
  EvaluationOptions trimmed = options;
  trimmed.head_training = without(options.head_training, held_out);
  report.catalogue_images = kept.size();
  report.query_images = queries.size();
  for (const CatalogueEntry& q : queries) report.held_out_queries += held_out.count(q.label);
  Evaluation evaluation(base, kept, queries, trimmed, held_out, report);
  for (const EvaluationVariant& v : variants) report.variants.push_back(evaluation.run(v));
  return report;
}

namespace {

// With a fine-tuned network only what is done with its outputs can vary.
std::vector<EvaluationVariant> fine_tuned_variants(const EvaluationVariant& configured) {
  std::vector<EvaluationVariant> out = {configured};
  EvaluationVariant v = configured;
  v.rerank = RerankMode::Off, v.item_photos = 1;
  const auto add = [&](std::string name) {
    v.name = std::move(name);
    out.push_back(v);
  };
  v.category_mode = CategoryMode::Off, add("fine-tuned, category off");
  v.category_mode = CategoryMode::PredictedHard, add("fine-tuned, category hard");
  v.category_mode = CategoryMode::PredictedSoft;
  for (float t : {0.5f, 0.9f, 0.99f}) {
    v.soft_threshold = t;
    char name[64];
    std::snprintf(name, sizeof name, "fine-tuned, category soft %.2f", static_cast<double>(t));
    add(name);
  }
  v = configured, v.rerank = RerankMode::Off;
  for (std::size_t m : {2, 3, 5}) {
    v.item_photos = m;
    add("fine-tuned, items by their " + std::to_string(m) + " nearest photos");
  }
  return out;
}

}  // namespace

EvaluationVariant configured_variant(const PipelineConfig& base) {
  return {"configured", base.localize, base.features.grayscale, base.features.l2_normalize, base.adapt_embedding, base.category_mode, base.soft_threshold,
          base.rerank, 1};
}

std::vector<EvaluationVariant> ablation_variants(const PipelineConfig& base) {
  const EvaluationVariant whole{"", false, false, true, false, CategoryMode::PredictedSoft, base.soft_threshold, RerankMode::Off, 1};
  std::vector<EvaluationVariant> out = {configured_variant(base)};
  const auto same_settings = [](const EvaluationVariant& a, const EvaluationVariant& b) {
    return a.localize == b.localize && a.grayscale == b.grayscale && a.l2_normalize == b.l2_normalize && a.adapt_embedding == b.adapt_embedding &&
           a.category_mode == b.category_mode && a.item_photos == b.item_photos &&
           a.rerank == b.rerank && (a.category_mode != CategoryMode::PredictedSoft || a.soft_threshold == b.soft_threshold);
  };
  const auto add = [&](std::string name, EvaluationVariant v) {
    v.name = std::move(name);
    if (!same_settings(v, out.front())) out.push_back(v);
  };
  if (base.fine_tuning.enabled) return fine_tuned_variants(out.front());
  EvaluationVariant v = whole;
  v.category_mode = CategoryMode::Off, add("whole image, category off", v);
  v.category_mode = CategoryMode::PredictedHard, add("whole image, category hard", v);
  v.category_mode = CategoryMode::PredictedSoft;
  for (float t : {0.5f, 0.7f, 0.9f, 0.99f}) {
    v.soft_threshold = t;
    char name[64];
    std::snprintf(name, sizeof name, "whole image, category soft %.2f", static_cast<double>(t));
    add(name, v);
  }
  v = whole, v.grayscale = true, add("grayscale input", v);
  v = whole, v.l2_normalize = false, add("raw (not L2) embeddings", v);
  v = whole, v.adapt_embedding = true;
  v.category_mode = CategoryMode::Off, add("adapted embedding, category off", v);
  v.category_mode = CategoryMode::PredictedSoft, add("adapted embedding, category soft", v);
  v.soft_threshold = 0.99f, add("adapted embedding, category soft 0.99", v);
  v = whole, v.item_photos = 3, add("whole image, soft, items by their 3 nearest photos", v);
  if (!base.segmenter_manifest.empty()) {
    v = whole, v.localize = true;
    v.category_mode = CategoryMode::Off, add("localised, category off", v);
    v.category_mode = CategoryMode::PredictedSoft, add("localised, category soft", v);
    v.rerank = RerankMode::Iou, add("localised, soft, IoU rerank (paper)", v);
    v.rerank = RerankMode::Fused, add("localised, soft, fused rerank", v);
  }
  return out;
}

std::string describe(const EvaluationVariant& v) {
  char buf[200];
  const bool soft = v.category_mode == CategoryMode::PredictedSoft;
  std::snprintf(buf, sizeof buf, "loc=%s gray=%s l2=%s adapt=%s cat=%s%s rerank=%s item-photos=%zu", v.localize ? "on" : "off", v.grayscale ? "on" : "off",
                v.l2_normalize ? "on" : "off", v.adapt_embedding ? "on" : "off", to_string(v.category_mode),
                soft ? ("(" + std::to_string(v.soft_threshold).substr(0, 4) + ")").c_str() : "", to_string(v.rerank), v.item_photos);
  return buf;
}

}  // namespace domainsearch
