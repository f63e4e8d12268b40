#include "html_report.hpp"

#include <cstdio>
#include <domainsearch/error.hpp>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "query_verdict.hpp"

using namespace domainsearch;

std::string base64(const std::vector<std::uint8_t>& bytes) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::uint32_t n = (bytes[i] << 16) | (i + 1 < bytes.size() ? bytes[i + 1] << 8 : 0) | (i + 2 < bytes.size() ? bytes[i + 2] : 0);
    out += t[(n >> 18) & 63];
    out += t[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? t[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? t[n & 63] : '=';
  }
  return out;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

std::string img_tag(const Image& image, const std::string& title) {
  return "<img src=\"data:image/jpeg;base64," + base64(image.thumbnail(200).encode_jpeg(85)) + "\" title=\"" + html_escape(title) + "\">";
}

// The image with the mask tinted red and everything outside it dimmed.
Image mask_overlay(const Image& image, const Localization& loc) {
  Image out = image;
  for (std::size_t i = 0; i < loc.mask.size(); ++i) {
    std::uint8_t* p = out.data() + i * 3;
    if (loc.mask[i]) p[0] = static_cast<std::uint8_t>((p[0] + 255) / 2);
    else for (int c = 0; c < 3; ++c) p[c] = static_cast<std::uint8_t>(p[c] / 3);
  }
  return out;
}

std::string thumbnail_of(const QueryResult& r) {
  if (r.source.empty()) return "<div class=noimg>no image</div>";
  try {
    return img_tag(Image::decode_file(r.source), r.source);
  } catch (const Error& e) {
    return "<div class=noimg>" + html_escape(e.what()) + "</div>";
  }
}

// "NO MATCH: why" when the query is not in the catalogue; "MATCH" when a rule is on and passed; else
// nothing; then the confidence, when the configuration has a model.
std::string verdict(const QueryResponse& r, const PipelineConfig& config) {
  std::string out;
  if (r.no_match) out = "<div class=\"verdict nomatch\"><b>NO MATCH</b>: " + html_escape(no_match_reason(r, config.photo_rules())) + "</div>";
  else if (config.match_distance > 0 || config.match_threshold > 0 || config.min_confidence > 0) out = "<div class=\"verdict match\"><b>MATCH</b></div>";
  if (r.confidence >= 0) {
    char text[96];
    std::snprintf(text, sizeof text, "<div class=confidence>confidence %.3f that the first item is right</div>", static_cast<double>(r.confidence));
    out += text;
  }
  return out;
}

// One result's card: IoU only when the query was localised (else every IoU is 1), the score only when
// reranked (else it is the distance), the match probability only for a fine-tuned catalogue.
void result_card(std::ostream& html, std::size_t rank, const QueryResult& h, bool localised, bool reranked) {
  html << "<div class=\"card result\" data-key=\"" << h.key << "\">#" << rank << " " << thumbnail_of(h) << "<b>" << html_escape(h.label) << "</b><br>"
       << html_escape(h.category) << "<br>distance " << h.distance;
  if (localised) html << "<br>IoU " << h.iou;
  if (reranked) html << "<br>score " << h.score;
  if (h.match_probability >= 0) html << "<br>match probability " << h.match_probability;
  html << "</div>";
}

}  // namespace

void write_html_report(const std::string& path, const std::vector<ReportQuery>& queries, const PipelineConfig& config) {
  std::ostringstream html;
  html << std::fixed << std::setprecision(3);
  html << "<!doctype html><html><head><meta charset=utf-8><title>libdomainsearch results</title><style>"
          "body{font-family:sans-serif;margin:20px;background:#fafafa}"
          ".query{background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px;margin-bottom:18px}"
          ".row{display:flex;gap:10px;flex-wrap:wrap;align-items:flex-start}"
          ".card{width:200px;font-size:12px}.card img{max-width:200px;max-height:200px;display:block;border:1px solid #ccc}"
          ".hit{border-color:#4a4}.noimg{width:200px;height:60px;background:#eee}"
          ".verdict{margin:4px 0 8px}.nomatch{color:#a00}.match{color:#070}"
          "table{font-size:12px}h2{font-size:15px;word-break:break-all}</style></head><body>"
       << "<h1>libdomainsearch: " << queries.size() << " queries</h1>\n";
  for (const ReportQuery& q : queries) {
    const QueryResponse& r = q.response;
    html << "<div class=query><h2>" << html_escape(q.path) << "</h2>" << verdict(r, config) << "<div class=row>";
    html << "<div class=card>query" << img_tag(q.image, q.path) << "</div>";
    if (r.localization) {
      html << "<div class=card>cut-out (confidence " << r.localization->confidence << (r.localization->fallback ? ", fallback" : "") << ")"
           << img_tag(r.localization->cutout, "cut-out") << "</div>";
      html << "<div class=card>mask" << img_tag(mask_overlay(q.image, *r.localization), "mask") << "</div>";
    }
    html << "<div class=card><table>";
    for (const auto& p : r.predicted) html << "<tr><td>" << html_escape(p.category) << "</td><td>" << p.probability << "</td></tr>";
    html << "</table>searched: ";
    for (const auto& c : r.searched) html << html_escape(c) << " ";
    if (!r.results.empty() && r.results.front().match_probability >= 0) html << "<br>match probability " << r.results.front().match_probability;
    html << "<br>" << r.timings.total_ms << " ms</div></div><div class=row>";
    for (std::size_t i = 0; i < r.results.size(); ++i) result_card(html, i + 1, r.results[i], r.localization.has_value(), config.rerank != RerankMode::Off);
    html << "</div></div>\n";
  }
  html << "</body></html>\n";
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << html.str();
  if (!f) throw Error(Status::Io, path + ": cannot write the HTML report");
}
