#include "object_report.hpp"

#include <algorithm>
#include <cstdio>
#include <domainsearch/error.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "html_report.hpp"

using namespace domainsearch;
using Json = nlohmann::json;

namespace {

constexpr int kFigureWidth = 900;  // pixels of a photo on the page

std::string label_of(const QueryResponse& a) { return a.no_match || a.results.empty() ? "" : a.results.front().label; }

void box_rect(std::ostream& svg, int x, int y, int w, int h, const char* css_class, const std::string& title) {
  svg << "<rect class=\"" << css_class << "\" x=\"" << x << "\" y=\"" << y << "\" width=\"" << w << "\" height=\"" << h << "\"><title>"
      << html_escape(title) << "</title></rect>";
}

// The photo scaled to kFigureWidth with its found boxes (and the true ones) drawn over it.
void figure(std::ostream& html, const ObjectReportPhoto& p) {
  const double scale = std::min(1.0, static_cast<double>(kFigureWidth) / p.image.width());
  const Image shown = p.image.thumbnail(static_cast<int>(std::max(p.image.width(), p.image.height()) * scale));
  const auto at = [&](int v) { return static_cast<int>(v * scale); };
  html << "<svg width=\"" << shown.width() << "\" height=\"" << shown.height() << "\"><image width=\"" << shown.width() << "\" height=\""
       << shown.height() << "\" href=\"data:image/jpeg;base64," << base64(shown.encode_jpeg(85)) << "\"/>";
  for (const LabelledBox& t : p.truth)
    box_rect(html, at(t.x), at(t.y), at(t.width), at(t.height), "truth", "truth: " + t.label);
  for (const FoundObject& o : p.response.objects) {
    const QueryResponse& a = o.answer;
    const std::string item = a.results.empty() ? "-" : a.results.front().label;
    const std::string text = (a.no_match ? "no match (" + item + ")" : item) + (a.confidence >= 0 ? " " + std::to_string(a.confidence).substr(0, 4) : "");
    box_rect(html, at(o.box.x), at(o.box.y), at(o.box.width), at(o.box.height), a.no_match ? "nomatch" : "match", text);
    html << "<text x=\"" << at(o.box.x) + 2 << "\" y=\"" << at(o.box.y) + 12 << "\" class=\"" << (a.no_match ? "nomatch" : "match") << "\">"
         << html_escape(text) << "</text>";
  }
  html << "</svg>";
}

void counts(std::ostream& html, const ObjectsResponse& r) {
  html << "<p>" << r.objects.size() << " products, " << r.unmatched << " not in the catalogue:";
  for (const ItemCount& c : r.items) html << " " << c.count << " &times; " << html_escape(c.label) << ";";
  html << "</p>";
}

struct Scene {
  std::string path;
  std::vector<LabelledBox> truth;
};

std::vector<Scene> read_scenes(const std::string& scenes_json) {
  std::ifstream f(scenes_json);
  if (!f) throw Error(Status::Io, scenes_json + ": cannot open the scene file");
  const Json doc = Json::parse(f, nullptr, false);
  if (doc.is_discarded() || !doc.contains("scenes") || !doc["scenes"].is_array())
    throw Error(Status::Corrupt, scenes_json + ": not a scene file of tools/make_scenes.py (no \"scenes\" list)");
  const std::filesystem::path base = std::filesystem::path(scenes_json).parent_path();
  std::vector<Scene> scenes;
  try {
    for (const Json& s : doc["scenes"]) {
      Scene scene{(base / s.at("path").get<std::string>()).string(), {}};
      for (const Json& o : s.at("objects")) {
        const Json& b = o.at("box");
        if (!b.is_array() || b.size() != 4 || !std::all_of(b.begin(), b.end(), [](const Json& v) { return v.is_number_integer() && v.get<long long>() >= 0 && v.get<long long>() < (1 << 30); }))
          throw Error(Status::Corrupt, scenes_json + ": a box is not [x, y, width, height] of non-negative integers");
        scene.truth.push_back({b[0].get<int>(), b[1].get<int>(), b[2].get<int>(), b[3].get<int>(), o.at("label").get<std::string>()});
      }
      scenes.push_back(std::move(scene));
    }
  } catch (const Json::exception& e) {
    throw Error(Status::Corrupt, scenes_json + ": " + e.what());
  }
  return scenes;
}

// The scene's truth and what was found; with_no_match false reads every answer's first item, as if no
// "no match" rule were configured (to tell the finder's and the network's errors from the rule's).
ObjectPhotoTruth measured(const Scene& scene, const ObjectsResponse& r, bool with_no_match) {
  ObjectPhotoTruth photo{scene.truth, {}};
  for (const FoundObject& o : r.objects) {
    const std::string label = with_no_match || o.answer.results.empty() ? label_of(o.answer) : o.answer.results.front().label;
    photo.found.push_back({o.box.x, o.box.y, o.box.width, o.box.height, label, o.answer.confidence});
  }
  return photo;
}

Json metrics_json(const ObjectMetrics& m) {
  return Json{{"photos", m.photos}, {"truth_objects", m.truth_objects}, {"found_objects", m.found_objects},
              {"detection_recall", m.detection_recall}, {"detection_precision", m.detection_precision},
              {"identification_accuracy", m.identification_accuracy}, {"end_to_end_precision", m.end_to_end_precision},
              {"end_to_end_recall", m.end_to_end_recall}, {"end_to_end_f1", m.end_to_end_f1}, {"map50", m.map50},
              {"count_f1", m.count_f1}, {"count_error", m.count_error}, {"item_count_error", m.item_count_error},
              {"unknown_truth", m.unknown_truth}, {"unknown_rejected", m.unknown_rejected}};
}

void print_metrics(const ObjectMetrics& m, const ObjectMetrics& without_rules, const ObjectTimings& mean) {
  std::printf("object queries: %zu photos, %zu products in them, %zu found\n", m.photos, m.truth_objects, m.found_objects);
  std::printf("  detection (IoU >= 0.5): recall %.3f, precision %.3f\n", m.detection_recall, m.detection_precision);
  std::printf("  identification of the found products: %.3f\n", m.identification_accuracy);
  std::printf("  end to end (found and named right): precision %.3f, recall %.3f, F1 %.3f\n", m.end_to_end_precision, m.end_to_end_recall,
              m.end_to_end_f1);
  std::printf("  mAP@0.5 over items %.3f; per photo: items-and-counts F1 %.3f, count error %.2f, item count error %.2f\n", m.map50, m.count_f1,
              m.count_error, m.item_count_error);
  std::printf("  without the configuration's \"no match\" rules (every first item taken): identification %.3f, end-to-end F1 %.3f\n",
              without_rules.identification_accuracy, without_rules.end_to_end_f1);
  if (m.unknown_truth) std::printf("  products not in the catalogue: %zu, answered \"no match\" when found: %.3f\n", m.unknown_truth, m.unknown_rejected);
  std::printf("  mean time per photo %.0f ms (decode %.0f, find %.0f, crop %.0f, embed %.0f, search %.0f)\n", mean.total_ms, mean.decode_ms,
              mean.find_ms, mean.crop_ms, mean.embed_ms, mean.search_ms);
}

void add(ObjectTimings& sum, const ObjectTimings& t, double weight) {
  sum.decode_ms += t.decode_ms * weight, sum.find_ms += t.find_ms * weight, sum.crop_ms += t.crop_ms * weight;
  sum.embed_ms += t.embed_ms * weight, sum.search_ms += t.search_ms * weight, sum.total_ms += t.total_ms * weight;
}

}  // namespace

void write_objects_report(const std::string& path, const std::vector<ObjectReportPhoto>& photos, const std::string& title) {
  std::ostringstream html;
  html << "<!doctype html><html><head><meta charset=\"utf-8\"><title>" << html_escape(title) << "</title><style>"
       << "body{font-family:sans-serif;margin:16px}svg text{font-size:12px;paint-order:stroke;stroke:#fff;stroke-width:3px}"
       << "rect{fill:none;stroke-width:2}rect.match{stroke:#1a5fd0}rect.nomatch{stroke:#d01a1a}rect.truth{stroke:#1a9d3a;stroke-dasharray:5 4}"
       << "text.match{fill:#1a5fd0}text.nomatch{fill:#d01a1a}</style></head><body><h1>" << html_escape(title) << "</h1>"
       << "<p>Blue: a product and its item (with the answer's confidence); red: answered \"not in the catalogue\"; dashed green: the true boxes.</p>";
  for (const ObjectReportPhoto& p : photos) {
    html << "<section><h2>" << html_escape(p.path) << "</h2>";
    if (!p.note.empty()) html << "<p>" << html_escape(p.note) << "</p>";
    counts(html, p.response);
    figure(html, p);
    html << "</section>";
  }
  html << "</body></html>\n";
  std::ofstream f(path);
  f << html.str();
  if (!f) throw Error(Status::Io, path + ": cannot write the report");
}

int evaluate_objects(const Pipeline& pipeline, const std::string& scenes_json, const ObjectQueryOptions& options, const std::string& json_file,
                     const std::string& html_file) {
  const std::vector<Scene> scenes = read_scenes(scenes_json);
  std::set<std::string> catalogue_labels;
  for (std::uint64_t key : pipeline.index().keys()) catalogue_labels.insert(pipeline.index().get_metadata(key).label);
  const bool any_known = std::any_of(scenes.begin(), scenes.end(), [&](const Scene& s) {
    return std::any_of(s.truth.begin(), s.truth.end(), [&](const LabelledBox& b) { return catalogue_labels.count(b.label) > 0; });
  });
  if (!any_known && std::any_of(scenes.begin(), scenes.end(), [](const Scene& s) { return !s.truth.empty(); }))
    throw Error(Status::InvalidArgument, scenes_json + ": none of its labels is one of the catalogue's (were the scenes made from "
                                         "another labelling, e.g. a manifest's numbers against a catalogue of names?)");
  std::vector<ObjectPhotoTruth> photos, photos_without_rules;
  std::vector<ObjectsResponse> responses;
  ObjectTimings mean;
  for (const Scene& s : scenes) {
    responses.push_back(pipeline.query_objects_file(s.path, options));
    photos.push_back(measured(s, responses.back(), true));
    photos_without_rules.push_back(measured(s, responses.back(), false));
    add(mean, responses.back().timings, 1.0 / static_cast<double>(scenes.size()));
  }
  const ObjectMetrics m = measure_objects(photos, catalogue_labels), without_rules = measure_objects(photos_without_rules, catalogue_labels);
  print_metrics(m, without_rules, mean);
  if (!json_file.empty()) {
    std::ofstream f(json_file);
    f << Json{{"scenes", scenes_json}, {"metrics", metrics_json(m)}, {"metrics_without_no_match_rules", metrics_json(without_rules)}}.dump(2) << "\n";
    if (!f) throw Error(Status::Io, json_file + ": cannot write");
    std::fprintf(stderr, "wrote %s\n", json_file.c_str());
  }
  if (!html_file.empty()) {
    std::vector<ObjectReportPhoto> worst;
    for (std::size_t i : worst_object_photos(photos, catalogue_labels)) {
      if (worst.size() == 8) break;
      const ObjectMetrics one = measure_objects({photos[i]}, catalogue_labels);
      char note[96];
      std::snprintf(note, sizeof note, "end-to-end F1 %.3f, count error %.0f", one.end_to_end_f1, one.count_error);
      worst.push_back({scenes[i].path, pipeline.decode_file(scenes[i].path), responses[i], scenes[i].truth, note});
    }
    write_objects_report(html_file, worst, "The worst photos of " + scenes_json);
    std::fprintf(stderr, "wrote %s\n", html_file.c_str());
  }
  return 0;
}
