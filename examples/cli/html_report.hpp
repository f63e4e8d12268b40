#pragma once
// The visual report of `domainsearch query --html`: one self-contained HTML page (thumbnails embedded
// as base64 JPEG): each query with its localised cut-out and mask overlay, and its top results with
// distance, IoU, score and category (as the paper's Figures 4 and 9).
#include <domainsearch/pipeline.hpp>
#include <string>
#include <vector>

struct ReportQuery {
  std::string path;
  domainsearch::Image image;
  domainsearch::QueryResponse response;
};

/// Writes the page; throws domainsearch::Error(Io) when the file cannot be written.
void write_html_report(const std::string& path, const std::vector<ReportQuery>& queries);
