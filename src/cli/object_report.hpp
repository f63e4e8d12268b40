#pragma once
// What `domainsearch query --objects` and `eval --objects` show beyond the table: one self-contained
// HTML page of photos with their products' boxes drawn over them (SVG over an embedded JPEG), each box
// labelled with its item and confidence (red: "not in the catalogue"; dashed green: the true boxes,
// when known), and the measurement of object queries on a scene file of tools/make_scenes.py.
#include <domainsearch/object_metrics.hpp>
#include <domainsearch/pipeline.hpp>
#include <string>
#include <vector>

struct ObjectReportPhoto {
  std::string path;
  domainsearch::Image image;
  domainsearch::ObjectsResponse response;
  std::vector<domainsearch::LabelledBox> truth;  ///< empty when not known
  std::string note;                              ///< shown under the title (e.g. the photo's scores)
};

/// Writes the page; throws domainsearch::Error(Io) when the file cannot be written.
void write_objects_report(const std::string& path, const std::vector<ObjectReportPhoto>& photos, const std::string& title);

/// `eval --objects SCENES.json`: answers every scene of the file (scenes.json of tools/make_scenes.py:
/// paths relative to it, boxes x, y, width, height and labels that the catalogue's labels must match)
/// with `pipeline`, prints the metrics (object_metrics.hpp) and where the time goes, and writes them as
/// JSON to `json_file` and the worst photos' page to `html_file` (each when not empty). Returns 0.
int evaluate_objects(const domainsearch::Pipeline& pipeline, const std::string& scenes_json, const domainsearch::ObjectQueryOptions& options,
                     const std::string& json_file, const std::string& html_file);
