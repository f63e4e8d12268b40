#include "eval_report.hpp"

#include <domainsearch/error.hpp>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>

using namespace domainsearch;
using nlohmann::json;

namespace {

std::size_t k_index(const RetrievalMetrics& m, std::size_t k) {
  return static_cast<std::size_t>(std::find(m.ks.begin(), m.ks.end(), k) - m.ks.begin());
}

// "0.812", or "-" when K was not measured.
std::string at_k(const std::vector<double>& values, const RetrievalMetrics& m, std::size_t k) {
  const std::size_t i = k_index(m, k);
  if (i >= values.size()) return "-";
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.3f", values[i]);
  return buf;
}

void print_details(std::FILE* out, const EvaluationReport& report, const VariantEvaluation& v) {
  const RetrievalMetrics& m = v.retrieval;
  std::fprintf(out, "\n%s (%s): %zu queries", v.variant.name.c_str(), describe(v.variant).c_str(), m.queries);
  if (m.queries_without_relevant) std::fprintf(out, ", %zu more with nothing relevant in the catalogue (left out)", m.queries_without_relevant);
  std::fprintf(out, "\n  items: MRR %.4f, recall@K", v.items.map);
  for (std::size_t i = 0; i < v.items.ks.size(); ++i) std::fprintf(out, "%s %zu: %.4f", i ? "," : "", v.items.ks[i], v.items.identical_recall_at[i]);
  std::fprintf(out, "\n  photos: mAP %.4f  R-precision %.4f\n  %-6s %-10s %-10s %-16s\n", m.map, m.r_precision, "K", "precision", "recall", "identical-recall");
  for (std::size_t i = 0; i < m.ks.size(); ++i)
    std::fprintf(out, "  %-6zu %-10.4f %-10.4f %-16.4f\n", m.ks[i], m.precision_at[i], m.recall_at[i], m.identical_recall_at[i]);
  if (!v.categories) return;
  const ClassificationMetrics& c = *v.categories;
  std::fprintf(out, "  category top-1 accuracy %.4f  macro precision %.4f  recall %.4f  F1 %.4f\n  per-class accuracy (support):", c.accuracy,
               c.macro_precision, c.macro_recall, c.macro_f1);
  for (std::size_t k = 0, shown = 0; k < c.per_class_support.size(); ++k)
    if (c.per_class_support[k])
      std::fprintf(out, "%s %s %.2f (%zu)", shown++ % 6 ? "," : "\n   ", report.category_names[k].c_str(), c.per_class_accuracy[k], c.per_class_support[k]);
  std::vector<std::tuple<std::size_t, std::size_t, std::size_t>> confusions;  // count, truth, predicted
  for (std::size_t t = 0; t < c.confusion.size(); ++t)
    for (std::size_t p = 0; p < c.confusion.size(); ++p)
      if (t != p && c.confusion[t][p]) confusions.emplace_back(c.confusion[t][p], t, p);
  std::sort(confusions.rbegin(), confusions.rend());
  std::fprintf(out, "\n  most frequent confusions (truth -> predicted):");
  for (std::size_t i = 0; i < std::min<std::size_t>(8, confusions.size()); ++i)
    std::fprintf(out, "%s %s -> %s %zu", i ? "," : "", report.category_names[std::get<1>(confusions[i])].c_str(),
                 report.category_names[std::get<2>(confusions[i])].c_str(), std::get<0>(confusions[i]));
  std::fprintf(out, "\n");
}

json retrieval_json(const RetrievalMetrics& m) {
  return {{"queries", m.queries}, {"queries_without_relevant", m.queries_without_relevant}, {"map", m.map}, {"r_precision", m.r_precision},
          {"k", m.ks}, {"precision_at_k", m.precision_at}, {"recall_at_k", m.recall_at}, {"identical_recall_at_k", m.identical_recall_at},
          {"precision_curve", m.precision_curve}};
}

json classification_json(const ClassificationMetrics& c) {
  return {{"samples", c.samples}, {"accuracy", c.accuracy}, {"macro_precision", c.macro_precision}, {"macro_recall", c.macro_recall},
          {"macro_f1", c.macro_f1}, {"per_class_accuracy", c.per_class_accuracy}, {"per_class_support", c.per_class_support},
          {"confusion", c.confusion}};
}

std::string svg_text(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : std::string(1, c);
  return out;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  if (!f) throw Error(Status::Io, path + ": cannot write");
}

// One named polyline of a chart, in data coordinates.
struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;
};

// A line chart of y in 0..1 over x in x_min..x_max, x ticks at `x_ticks`, one polyline per series with a legend.
std::string line_chart_svg(const std::string& title, const std::string& x_label, double x_min, double x_max, const std::vector<double>& x_ticks,
                           const std::vector<Series>& series) {
  static const char* kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  const double left = 60, top = 30, width = 520, height = 320;
  const double legend_h = 18.0 * static_cast<double>(series.size());
  std::ostringstream o;
  o << "<svg xmlns='http://www.w3.org/2000/svg' width='" << left + width + 20 << "' height='" << top + height + 60 + legend_h
    << "' font-family='sans-serif' font-size='12'>\n<rect width='100%' height='100%' fill='white'/>\n"
    << "<text x='" << left << "' y='18' font-size='14'>" << svg_text(title) << "</text>\n";
  const auto x = [&](double v) { return left + (x_max > x_min ? (v - x_min) / (x_max - x_min) : 0.5) * width; };
  const auto y = [&](double v) { return top + (1 - v) * height; };
  for (int t = 0; t <= 10; ++t) {
    o << "<line x1='" << left << "' x2='" << left + width << "' y1='" << y(t / 10.0) << "' y2='" << y(t / 10.0) << "' stroke='#ddd'/>"
      << "<text x='" << left - 8 << "' y='" << y(t / 10.0) + 4 << "' text-anchor='end'>" << t / 10.0 << "</text>\n";
  }
  for (double tick : x_ticks) o << "<text x='" << x(tick) << "' y='" << top + height + 16 << "' text-anchor='middle'>" << tick << "</text>\n";
  o << "<text x='" << left + width / 2 << "' y='" << top + height + 34 << "' text-anchor='middle'>" << svg_text(x_label) << "</text>\n";
  for (std::size_t v = 0; v < series.size(); ++v) {
    const char* colour = kColours[v % 10];
    const char* dash = v < 10 ? "none" : "6,3";  // the palette repeats after ten series
    o << "<polyline fill='none' stroke-width='2' stroke-dasharray='" << dash << "' stroke='" << colour << "' points='";
    for (const auto& [px, py] : series[v].points) o << x(px) << "," << y(py) << " ";
    const double ly = top + height + 52 + 18.0 * static_cast<double>(v);
    o << "'/>\n<rect x='" << left << "' y='" << ly - 9 << "' width='14' height='10' fill='" << colour << "'/><text x='" << left + 20 << "' y='" << ly
      << "'>" << svg_text(series[v].name) << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

// Precision@K for K = 1..max K, one polyline per variant (photo answers).
std::string precision_svg(const EvaluationReport& report) {
  std::vector<Series> series;
  for (const VariantEvaluation& v : report.variants) {
    Series s{v.variant.name, {}};
    for (std::size_t k = 1; k <= v.retrieval.precision_curve.size(); ++k) s.points.emplace_back(static_cast<double>(k), v.retrieval.precision_curve[k - 1]);
    series.push_back(std::move(s));
  }
  const std::size_t n = report.variants.front().retrieval.precision_curve.size();
  std::vector<double> ticks = {1};
  for (std::size_t k = 5; k <= n; k += 5) ticks.push_back(static_cast<double>(k));
  return line_chart_svg("precision@K (photos)", "K", 1, static_cast<double>(std::max<std::size_t>(n, 2)), ticks, series);
}

// Risk (wrong first answers among those answered) over coverage (answered, surest first), one
// polyline per confidence candidate of the first variant.
std::string risk_coverage_svg(const VariantEvaluation& v) {
  std::vector<Series> series;
  for (const ConfidenceEvaluation& c : v.confidence) {
    Series s{c.name, {}};
    for (const RiskCoveragePoint& p : c.risk_coverage) s.points.emplace_back(p.coverage, p.risk);
    series.push_back(std::move(s));
  }
  return line_chart_svg("risk-coverage of the first answer: " + v.variant.name, "coverage", 0, 1, {0, 0.2, 0.4, 0.6, 0.8, 1}, series);
}

// Row-normalised confusion matrix as a heat map with category names on both axes.
std::string confusion_svg(const EvaluationReport& report, const ClassificationMetrics& c) {
  const double cell = 14, margin = 130;
  const std::size_t n = c.confusion.size();
  std::ostringstream o;
  o << "<svg xmlns='http://www.w3.org/2000/svg' width='" << margin + cell * static_cast<double>(n) + 20 << "' height='"
    << margin + cell * static_cast<double>(n) + 40 << "' font-family='sans-serif' font-size='10'>\n<rect width='100%' height='100%' fill='white'/>\n"
    << "<text x='4' y='14' font-size='13'>category confusion, rows = truth (share of the row), columns = predicted: "
    << svg_text(report.variants.front().variant.name) << "</text>\n";
  for (std::size_t t = 0; t < n; ++t) {
    const double row_total = static_cast<double>(std::max<std::size_t>(1, c.per_class_support[t]));
    const double y = margin + cell * static_cast<double>(t);
    o << "<text x='" << margin - 4 << "' y='" << y + cell - 3 << "' text-anchor='end'>" << svg_text(report.category_names[t]) << "</text>"
      << "<text transform='translate(" << margin + cell * static_cast<double>(t) + cell - 3 << "," << margin - 4 << ") rotate(-90)'>"
      << svg_text(report.category_names[t]) << "</text>\n";
    for (std::size_t p = 0; p < n; ++p) {
      const double share = static_cast<double>(c.confusion[t][p]) / row_total;
      const int shade = static_cast<int>(255 - 215 * share);
      o << "<rect x='" << margin + cell * static_cast<double>(p) << "' y='" << y << "' width='" << cell << "' height='" << cell << "' fill='rgb(" << shade
        << "," << shade << ",255)' stroke='#eee'><title>" << svg_text(report.category_names[t]) << " -> " << svg_text(report.category_names[p]) << ": "
        << c.confusion[t][p] << "</title></rect>";
    }
    o << "\n";
  }
  o << "</svg>\n";
  return o.str();
}

json confidence_model_json(const ConfidenceModel& m) {
  return {{"bias", m.bias}, {"probability", m.probability}, {"distance", m.distance}, {"margin", m.margin}};
}

// One "not in the catalogue" curve; `rule` says when a query answers "no match".
void print_no_match_curve(std::FILE* out, const std::vector<NoMatchPoint>& curve, const EvaluationReport& report, const char* rule) {
  if (curve.empty()) return;
  std::fprintf(out, "\nnot in the catalogue: %zu items held out of catalogue and training (%zu queries of them); a query answers \"no match\" %s\n",
               report.held_out_items.size(), report.held_out_queries, rule);
  std::fprintf(out, "%10s %18s %14s %16s\n", "threshold", "false match (held)", "recall cost", "no match (others)");
  for (const NoMatchPoint& p : curve)
    std::fprintf(out, "%10.3f %18.3f %14.3f %16.3f\n", static_cast<double>(p.threshold), p.false_match_rate, p.recall_cost, p.no_match_rate);
}

// The configured variant's "not in the catalogue" curves, when items were held out.
void print_no_match(std::FILE* out, const EvaluationReport& report, const PipelineConfig& config) {
  const VariantEvaluation& v = report.variants.front();
  print_no_match_curve(out, v.no_match, report, "when the best match probability is below the threshold (match_threshold)");
  print_no_match_curve(out, v.no_match_by_distance, report, "when the nearest result's distance is above the threshold (match_distance)");
  print_no_match_curve(out, v.no_match_by_confidence, report,
                       "when the fitted confidence (out of fold) is below the threshold (min_confidence with the fitted model)");
  if (v.configured_no_match)
    std::fprintf(out, "\nthe configured rules (match_distance %g, match_threshold %g, min_confidence %g): false match %.3f, recall cost %.3f, no match %.3f\n",
                 static_cast<double>(config.match_distance), static_cast<double>(config.match_threshold), static_cast<double>(config.min_confidence),
                 v.configured_no_match->false_match_rate, v.configured_no_match->recall_cost, v.configured_no_match->no_match_rate);
  if (v.fitted_confidence)
    std::fprintf(out, "fitted confidence model, for the configuration: \"confidence\": %s\n", confidence_model_json(*v.fitted_confidence).dump().c_str());
}

// "0.851" or "-" when a measure could not be taken.
std::string optional_number(const std::optional<double>& value) {
  char text[16] = "-";
  if (value) std::snprintf(text, sizeof text, "%.3f", *value);
  return text;
}

// The configured variant's candidate confidences: how each tells right from wrong first answers and
// known from held-out items, and the risk when only the surest half or 80% of queries are answered.
void print_confidence(std::FILE* out, const VariantEvaluation& v) {
  if (v.confidence.empty()) return;
  std::fprintf(out, "\nconfidence of the first answer (higher = surer): AUROC right vs wrong (known items), known vs held-out items; risk = wrong answers among the surest\n");
  std::fprintf(out, "%-18s %14s %15s %8s %11s %11s\n", "score", "right/wrong", "known/held-out", "AURC", "risk@50%", "risk@80%");
  const auto risk_at = [](const std::vector<RiskCoveragePoint>& curve, double coverage) {
    for (const RiskCoveragePoint& p : curve)
      if (p.coverage >= coverage) return p.risk;
    return curve.empty() ? 0.0 : curve.back().risk;
  };
  for (const ConfidenceEvaluation& c : v.confidence)
    std::fprintf(out, "%-18s %14s %15s %8.3f %11.3f %11.3f\n", c.name.c_str(), optional_number(c.auroc_right_vs_wrong).c_str(),
                 optional_number(c.auroc_known_vs_held_out).c_str(), c.area_under_risk_coverage, risk_at(c.risk_coverage, 0.5),
                 risk_at(c.risk_coverage, 0.8));
}

json confidence_json(const std::vector<ConfidenceEvaluation>& confidence) {
  json out = json::array();
  for (const ConfidenceEvaluation& c : confidence) {
    json curve = json::array();
    for (const RiskCoveragePoint& p : c.risk_coverage) curve.push_back({p.coverage, p.risk});
    out.push_back({{"name", c.name},
                   {"auroc_right_vs_wrong", c.auroc_right_vs_wrong ? json(*c.auroc_right_vs_wrong) : json(nullptr)},
                   {"auroc_known_vs_held_out", c.auroc_known_vs_held_out ? json(*c.auroc_known_vs_held_out) : json(nullptr)},
                   {"area_under_risk_coverage", c.area_under_risk_coverage},
                   {"risk_coverage", curve}});
  }
  return out;
}

json no_match_json(const std::vector<NoMatchPoint>& curve) {
  json out = json::array();
  for (const NoMatchPoint& p : curve)
    out.push_back({{"threshold", p.threshold}, {"false_match_rate", p.false_match_rate}, {"recall_cost", p.recall_cost}, {"no_match_rate", p.no_match_rate}});
  return out;
}

}  // namespace

void print_evaluation(std::FILE* out, const EvaluationReport& report, const PipelineConfig& config) {
  std::fprintf(out, "catalogue %zu images, queries %zu, left out %zu; inference %.1f s, category heads %.1f s\n\n", report.catalogue_images,
               report.query_images, report.failures.size(), report.inference_seconds, report.training_seconds);
  std::fprintf(out, "%-40s %6s %6s %6s %6s | %6s %6s %6s | %6s %6s %7s\n", "variant", "R@1", "R@5", "R@10", "MRR", "mAP", "P@1", "IR@5",
               "cat@1", "catF1", "ms/q");
  for (const VariantEvaluation& v : report.variants) {
    const RetrievalMetrics &items = v.items, &photos = v.retrieval;
    char cat[16] = "-", f1[16] = "-";
    if (v.categories) std::snprintf(cat, sizeof cat, "%.3f", v.categories->accuracy), std::snprintf(f1, sizeof f1, "%.3f", v.categories->macro_f1);
    std::fprintf(out, "%-40.40s %6s %6s %6s %6.3f | %6.3f %6s %6s | %6s %6s %7.2f\n", v.variant.name.c_str(),
                 at_k(items.identical_recall_at, items, 1).c_str(), at_k(items.identical_recall_at, items, 5).c_str(),
                 at_k(items.identical_recall_at, items, 10).c_str(), items.map, photos.map, at_k(photos.precision_at, photos, 1).c_str(),
                 at_k(photos.identical_recall_at, photos, 5).c_str(), cat, f1, v.query_ms);
  }
  std::fprintf(out, "(items: R@K = the query's item among the first K items, MRR = mean reciprocal rank of the item; photos: mAP, P@1 and\n"
                    " IR@5 = an item's photo among the first 5 photos; cat@1: category top-1 accuracy; ms/q: categorise+search+rerank of\n"
                    " the item answer, ranking the whole catalogue)\n");
  print_details(out, report, report.variants.front());
  print_no_match(out, report, config);
  print_confidence(out, report.variants.front());
  for (const IndexingFailure& f : report.failures) std::fprintf(out, "left out %s: %s\n", f.path.c_str(), f.reason.c_str());
}

std::string evaluation_json(const EvaluationReport& report) {
  json variants = json::array();
  for (const VariantEvaluation& v : report.variants) {
    json j = {{"name", v.variant.name}, {"settings", describe(v.variant)}, {"items", retrieval_json(v.items)}, {"retrieval", retrieval_json(v.retrieval)},
             {"query_ms", v.query_ms}};
    j["categories"] = v.categories ? classification_json(*v.categories) : json(nullptr);
    if (!v.no_match.empty()) j["no_match"] = no_match_json(v.no_match);
    if (!v.no_match_by_distance.empty()) j["no_match_by_distance"] = no_match_json(v.no_match_by_distance);
    if (!v.confidence.empty()) j["confidence"] = confidence_json(v.confidence);
    if (!v.no_match_by_confidence.empty()) j["no_match_by_confidence"] = no_match_json(v.no_match_by_confidence);
    if (v.configured_no_match) j["configured_no_match"] = no_match_json({*v.configured_no_match}).front();
    if (v.fitted_confidence) j["fitted_confidence"] = confidence_model_json(*v.fitted_confidence);
    variants.push_back(std::move(j));
  }
  json failures = json::array();
  for (const IndexingFailure& f : report.failures) failures.push_back({{"path", f.path}, {"reason", f.reason}});
  return json{{"catalogue_images", report.catalogue_images}, {"query_images", report.query_images}, {"failures", failures},
              {"category_names", report.category_names}, {"inference_seconds", report.inference_seconds},
              {"training_seconds", report.training_seconds}, {"held_out_items", report.held_out_items},
              {"held_out_queries", report.held_out_queries}, {"variants", variants}}
      .dump(1);
}

std::vector<std::string> write_evaluation_plots(const std::string& prefix, const EvaluationReport& report) {
  std::vector<std::string> written = {prefix + "_precision.svg"};
  write_file(written.back(), precision_svg(report));
  if (report.variants.front().categories) {
    written.push_back(prefix + "_confusion.svg");
    write_file(written.back(), confusion_svg(report, *report.variants.front().categories));
  }
  if (!report.variants.front().confidence.empty()) {
    written.push_back(prefix + "_risk_coverage.svg");
    write_file(written.back(), risk_coverage_svg(report.variants.front()));
  }
  return written;
}
