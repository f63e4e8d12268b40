#pragma once
// Why a query answered "not in the catalogue" (QueryResponse::no_match): which of the rules it was
// answered under (PipelineConfig::photo_rules(), or object_rules for an object query's products) fired and by how much, as the query table, its JSON and the HTML report say it.
#include <domainsearch/pipeline_config.hpp>
#include <domainsearch/query.hpp>

#include <algorithm>
#include <cstdio>
#include <string>

/// Empty when the query matched (or no rule is on). Otherwise e.g. "the nearest result is at distance 1.23,
/// farther than match_distance 0.9" or "the first result's match probability 0.41 is below match_threshold
/// 0.5" or "the confidence 0.21 is below min_confidence 0.4" (joined by "; " when several fired). The distance is the nearest among the listed results: with
/// reranking the library measured it before the cut to k, so the listed one can be farther.
inline std::string no_match_reason(const domainsearch::QueryResponse& r, const domainsearch::NoMatchRules& rules) {
  if (!r.no_match) return {};
  if (r.results.empty()) return "nothing was found to match";
  char text[200];
  std::string out;
  const auto nearest = std::min_element(r.results.begin(), r.results.end(), [](const auto& a, const auto& b) { return a.distance < b.distance; });
  if (rules.match_distance > 0 && nearest->distance > rules.match_distance) {
    std::snprintf(text, sizeof text, "the nearest result is at distance %.4g, farther than match_distance %g", static_cast<double>(nearest->distance),
                  static_cast<double>(rules.match_distance));
    out = text;
  }
  const float p = r.results.front().match_probability;
  if (rules.match_threshold > 0 && p >= 0 && p < rules.match_threshold) {
    std::snprintf(text, sizeof text, "the first result's match probability %.3g is below match_threshold %g", static_cast<double>(p),
                  static_cast<double>(rules.match_threshold));
    out += (out.empty() ? "" : "; ") + std::string(text);
  }
  if (rules.min_confidence > 0 && r.confidence >= 0 && r.confidence < rules.min_confidence) {
    std::snprintf(text, sizeof text, "the confidence %.3g is below min_confidence %g", static_cast<double>(r.confidence),
                  static_cast<double>(rules.min_confidence));
    out += (out.empty() ? "" : "; ") + std::string(text);
  }
  if (out.empty()) {  // not rebuilt from the listed results (a shard set merges before the cut)
    std::snprintf(text, sizeof text, "the nearest result is farther than match_distance %g, or the first less likely than match_threshold %g, "
                  "or the confidence below min_confidence %g", static_cast<double>(rules.match_distance),
                  static_cast<double>(rules.match_threshold), static_cast<double>(rules.min_confidence));
    out = text;
  }
  return out;
}
