#pragma once
// The outputs of `domainsearch eval`: a readable table, a JSON document, and SVG plots (precision@K
// curves of every variant, the first variant's confusion matrix and risk-coverage curves).
#include <domainsearch/evaluation.hpp>
#include <cstdio>
#include <string>

/// The summary table (one row per variant) and the first variant's details; `config` is the one
/// evaluated (its no-match rules are quoted).
void print_evaluation(std::FILE* out, const domainsearch::EvaluationReport& report, const domainsearch::PipelineConfig& config);

/// Everything in the report as JSON (metrics per K, per-class accuracy, confusion matrices).
std::string evaluation_json(const domainsearch::EvaluationReport& report);

/// Writes PREFIX_precision.svg, when the first variant predicted categories PREFIX_confusion.svg, and
/// when it measured confidences PREFIX_risk_coverage.svg; returns the paths written. Throws domainsearch::Error(Io) when a file cannot be written.
std::vector<std::string> write_evaluation_plots(const std::string& prefix, const domainsearch::EvaluationReport& report);
