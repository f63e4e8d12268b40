#include "domainsearch/shards.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "catalogue/catalogue_file.hpp"
#include "domainsearch/error.hpp"
#include "search/ranking.hpp"
#include "io/atomic_file.hpp"
#include "io/json_text.hpp"
#include "io/regular_file.hpp"

namespace domainsearch {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
constexpr const char* kManifestFormat = "domainsearch-shard-set";
constexpr int kManifestVersion = 1;

std::size_t requested_k(const QueryOptions& options, const PipelineConfig& config) { return options.k.value_or(config.k); }

bool calibrated(const QueryResponse& r) {
  return std::any_of(r.results.begin(), r.results.end(), [](const QueryResult& x) { return x.match_probability >= 0; });
}

void keep_slowest(StageTimings& into, const StageTimings& t) {
  into.decode_ms = std::max(into.decode_ms, t.decode_ms), into.localize_ms = std::max(into.localize_ms, t.localize_ms);
  into.embed_ms = std::max(into.embed_ms, t.embed_ms), into.categorize_ms = std::max(into.categorize_ms, t.categorize_ms);
  into.search_ms = std::max(into.search_ms, t.search_ms), into.rerank_ms = std::max(into.rerank_ms, t.rerank_ms);
  into.total_ms = std::max(into.total_ms, t.total_ms);
}

// A file name that stays inside the set's folder.
const std::string& plain_name(const std::string& name, const std::string& manifest) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos || name.find('\0') != std::string::npos)
    throw Error(Status::Corrupt, manifest + ": \"" + name + "\" is not a file name inside the shard set's folder");
  return name;
}

}  // namespace

std::size_t shard_of_key(std::uint64_t key, std::size_t shards) {
  if (shards == 0) throw Error(Status::InvalidArgument, "shard_of_key: a shard set has at least 1 shard");
  return static_cast<std::size_t>(key % shards);
}

QueryOptions shard_query_options(const QueryOptions& options, const PipelineConfig& config) {
  QueryOptions o = options;
  const std::size_t k = requested_k(options, config);
  const bool items = options.one_result_per_label.value_or(config.one_result_per_label);
  if (k > 0) o.k = detail::search_depth(k, options.rerank.value_or(config.rerank), config.rerank_depth, items);
  o.rerank = RerankMode::Off;
  return o;
}

QueryResponse merge_shard_responses(std::vector<QueryResponse> responses, const QueryOptions& options, const PipelineConfig& config) {
  if (responses.empty()) throw Error(Status::InvalidArgument, "merge_shard_responses: no shard responses to merge");
  QueryResponse out;
  out.predicted = std::move(responses.front().predicted);
  out.searched = std::move(responses.front().searched);
  bool any_calibrated = false, any_no_match = false;
  for (QueryResponse& r : responses) {
    any_calibrated = any_calibrated || calibrated(r);
    any_no_match = any_no_match || r.no_match;
    keep_slowest(out.timings, r.timings);
    std::move(r.results.begin(), r.results.end(), std::back_inserter(out.results));
  }
  detail::sort_by_distance(out.results);
  const bool items = options.one_result_per_label.value_or(config.one_result_per_label);
  if (items) out.results = detail::merge_items(std::move(out.results));
  else detail::score_photos(out.results);
  const std::size_t k = requested_k(options, config);
  const RerankMode mode = options.rerank.value_or(config.rerank);
  const std::size_t depth = detail::search_depth(k, mode, config.rerank_depth, items);  // as one catalogue's search
  if (out.results.size() > depth) out.results.resize(depth);
  const detail::AnswerEvidence evidence = detail::answer_evidence(out.results);
  detail::rerank(mode, config.rerank_depth, config.iou_weight, out.results);
  if (out.results.size() > k) out.results.resize(k);
  // Without results no shard shows whether it is calibrated; a calibrated one said so by its verdict.
  const bool calibrated_shards = out.results.empty() ? any_no_match : any_calibrated;
  if (items) out.confidence = detail::confidence_of(config.confidence, evidence);
  const NoMatchRules rules = options.no_match_rules.value_or(config.photo_rules());
  out.no_match = detail::is_no_match(out.results, evidence.distance, rules.match_threshold, rules.match_distance, calibrated_shards) ||
                 detail::is_unconfident(out.confidence, rules.min_confidence);
  return out;
}

// ---------------------------------------------------------------- the shard set on disk

std::string ShardSetManifest::shard_file_name(std::size_t i, std::size_t n) {
  char name[64];
  std::snprintf(name, sizeof name, "shard-%05zu-of-%05zu.dscat", i, n);
  return name;
}

ShardSetManifest ShardSetManifest::load(const std::string& folder) {
  const std::string path = (fs::path(folder) / "shards.json").string();
  std::string text;
  try {
    text = detail::read_text_file(path, detail::kMaxTextFileBytes, "shard set's manifest");  // a regular file only
  } catch (const Error& e) {
    throw Error(e.status(), std::string(e.what()) + " (is " + folder + " a shard set folder?)");
  }
  const json j = detail::parse_json(text, path, Status::Corrupt);  // bounded depth, no duplicate key
  try {
    if (j.at("format").get<std::string>() != kManifestFormat || detail::json_integer<int>(j.at("version"), path + ": \"version\"", Status::Corrupt) != kManifestVersion)
      throw Error(Status::Corrupt, path + ": not a version " + std::to_string(kManifestVersion) + " " + kManifestFormat + " manifest");
    ShardSetManifest m;
    m.template_file = plain_name(j.at("template").get<std::string>(), path);
    m.model_fingerprint = j.at("model_fingerprint").get<std::string>();
    for (const json& name : j.at("shards")) m.shards.push_back(plain_name(name.get<std::string>(), path));
    if (m.shards.empty()) throw Error(Status::Corrupt, path + ": lists no shards");
    return m;
  } catch (const json::exception& e) {
    throw Error(Status::Corrupt, path + ": malformed shard set manifest (" + e.what() + ")");
  }
}

void ShardSetManifest::save(const std::string& folder) const {
  const fs::path path = fs::path(folder) / "shards.json";
  const json j = {{"format", kManifestFormat}, {"version", kManifestVersion}, {"template", template_file}, {"shards", shards},
                  {"model_fingerprint", model_fingerprint}};
  std::string text;
  try {
    text = j.dump(2);
  } catch (const json::exception& e) {  // a name that is not UTF-8
    throw Error(Status::InvalidArgument, path.string() + ": cannot write the shard set's manifest: a file name in it is not valid UTF-8 (" +
                                             detail::escape_non_utf8(e.what()) + ")");
  }
  detail::write_file_atomically(path.string(), text + "\n");
}

std::vector<std::string> ShardSetManifest::shard_paths(const std::string& folder) const {
  std::vector<std::string> out;
  for (const std::string& name : shards) out.push_back((fs::path(folder) / name).string());
  return out;
}

// ---------------------------------------------------------------- training across shards

TrainingReport train_category_model_on_shards(Pipeline& trained, const std::vector<std::string>& shard_paths) {
  const PipelineConfig& config = trained.config();
  if (config.fine_tuning.enabled)
    throw Error(Status::InvalidArgument, "train_category_model_on_shards: with fine-tuning the category model is the fine-tuned classifier, "
                                         "trained on the template (fine_tune) before the shards are built");
  if (config.training_views > 0)
    throw Error(Status::InvalidArgument, "train_category_model_on_shards: \"training_views\" needs the images, the shards hold embeddings; "
                                         "set it to 0 for a sharded catalogue");
  const std::string fingerprint = trained.model_fingerprint();
  std::vector<std::pair<std::uint64_t, IndexItem>> items;
  for (const std::string& path : shard_paths) {
    // The stored embeddings are all that is needed: no model is loaded.
    detail::StoredCatalogue shard = detail::read_catalogue_file(path);
    const Index& index = shard.index;
    if (shard.sections.model_fingerprint(index.category_names()) != fingerprint)
      throw Error(Status::ModelMismatch, path + ": built with another model or category table than the catalogue being trained");
    for (std::uint64_t key : index.keys()) items.emplace_back(key, index.get(key));
  }
  // In key order, as one catalogue trains (Pipeline::train_categories): the same items give the same
  // head however they are spread over the shards.
  std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  const std::vector<std::string> names = trained.index().category_names();
  std::vector<ImageAnalysis> analyses;
  std::vector<std::string> categories, labels;
  for (auto& [key, item] : items) {
    analyses.push_back({std::move(item.embedding), std::nullopt, std::nullopt});
    categories.push_back(names.at(static_cast<std::size_t>(item.category)));
    labels.push_back(std::move(item.label));
  }
  return trained.train_categories(analyses, categories, labels);
}

// ---------------------------------------------------------------- in-process search

ShardedCatalogue ShardedCatalogue::open(const std::vector<std::string>& shard_paths, const PipelineConfig& config) {
  if (shard_paths.empty()) throw Error(Status::InvalidArgument, "ShardedCatalogue: no shard files given");
  std::vector<Pipeline> shards;
  for (const std::string& path : shard_paths) {
    shards.push_back(Pipeline::open(path, config));
    if (shards.back().model_fingerprint() != shards.front().model_fingerprint())
      throw Error(Status::ModelMismatch, path + ": built with another model or category table than " + shard_paths.front() +
                                             "; shards of one catalogue share one trained model");
  }
  return ShardedCatalogue(std::move(shards));
}

ShardedCatalogue ShardedCatalogue::open_folder(const std::string& folder, const PipelineConfig& config) {
  const ShardSetManifest manifest = ShardSetManifest::load(folder);
  ShardedCatalogue set = open(manifest.shard_paths(folder), config);
  if (set.shards_.front().model_fingerprint() != manifest.model_fingerprint)
    throw Error(Status::ModelMismatch, folder + ": the shards' model fingerprint differs from the one shards.json records");
  return set;
}

std::size_t ShardedCatalogue::size() const {
  std::size_t n = 0;
  for (const Pipeline& p : shards_) n += p.index().size();
  return n;
}

QueryResponse ShardedCatalogue::query(const Image& image, const QueryOptions& options) const {
  const auto start = std::chrono::steady_clock::now();
  const ImageAnalysis analysis = shards_.front().analyze({image}).front();
  const double embed_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  QueryResponse r = query_analyzed(analysis, options);
  r.localization = analysis.localization;
  r.timings.embed_ms = embed_ms;
  r.timings.total_ms += embed_ms;
  return r;
}

QueryResponse ShardedCatalogue::query_analyzed(const ImageAnalysis& analysis, const QueryOptions& options) const {
  const PipelineConfig& config = shards_.front().config();
  const QueryOptions asked = shard_query_options(options, config);
  std::vector<std::future<QueryResponse>> answers;
  for (const Pipeline& shard : shards_)
    if (shard.index().size() > 0) answers.push_back(std::async(std::launch::async, [&] { return shard.query_analyzed(analysis, asked); }));
  if (answers.empty()) throw Error(Status::NotFound, "the catalogue is empty: every shard is empty");
  std::vector<QueryResponse> responses;
  for (auto& a : answers) responses.push_back(a.get());
  return merge_shard_responses(std::move(responses), options, config);
}

}  // namespace domainsearch
