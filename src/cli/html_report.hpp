#pragma once
// The visual report of `domainsearch query --html`: one self-contained HTML page (thumbnails embedded
// as base64 JPEG): each query with its localised cut-out and mask overlay, its "not in the catalogue"
// verdict and match probability, and its top results with distance, category, and IoU (when the query
// was localised) and score (when reranked), as the paper's Figures 4 and 9.
#include <domainsearch/pipeline.hpp>
#include <cstdint>
#include <string>
#include <vector>

struct ReportQuery {
  std::string path;
  domainsearch::Image image;
  domainsearch::QueryResponse response;
};

/// Standard base64 (RFC 4648, with padding), for images embedded in a page.
std::string base64(const std::vector<std::uint8_t>& bytes);
/// `s` with < > & " as HTML entities.
std::string html_escape(const std::string& s);

/// Writes the page for queries answered under `config` (its rerank mode and match rules); throws
/// domainsearch::Error(Io) when the file cannot be written.
void write_html_report(const std::string& path, const std::vector<ReportQuery>& queries, const domainsearch::PipelineConfig& config);
