#include "catalogue/catalogue.hpp"

#include <algorithm>
#include <chrono>

#include "domainsearch/error.hpp"
#include "search/ranking.hpp"

namespace domainsearch::detail {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

const std::optional<ContourMask> kNoContour;

}  // namespace

std::vector<std::int32_t> Catalogue::categories_to_search(const float* embedding, const QueryOptions& options,
                                               std::optional<std::int32_t> own_category, QueryResponse& response) const {
  const Index& index = space_.index();
  if (!options.category.empty()) return {index.category_id(options.category)};
  const std::vector<std::string> names = index.category_names();
  const std::size_t d = static_cast<std::size_t>(index.dimension());
  if (categoriser_) {
    for (const CategoryScore& s : categoriser_->predict(embedding, d, names, 5)) response.predicted.push_back({names[s.category], s.probability});
  }
  const CategoryMode mode = options.category_mode.value_or(config_.category_mode);
  switch (mode) {
    case CategoryMode::Off: return {};
    case CategoryMode::Given: throw Error(Status::InvalidArgument, "category mode \"given\" needs QueryOptions::category");
    case CategoryMode::PredictedHard:
    case CategoryMode::PredictedSoft: break;
  }
  if (own_category) return {*own_category};
  if (names.size() == 1) return {};
  if (!categoriser_)
    throw Error(Status::InvalidArgument, "category mode \"predicted\" needs a trained category head: call train_categories() "
                                         "(domainsearch train), or use category mode \"off\"");
  const std::size_t limit = mode == CategoryMode::PredictedHard ? 1 : static_cast<std::size_t>(std::max(config_.max_categories, 1));
  std::vector<std::int32_t> chosen = choose_categories(categoriser_->predict(embedding, d, names, limit), options.soft_threshold.value_or(config_.soft_threshold));
  // Categories the model cannot predict yet are always searched, so their items stay findable (linear
  // in the number of categories).
  return with_untrained_categories(std::move(chosen), categoriser_->untrained(names));
}

void Catalogue::search(const float* embedding, const std::optional<ContourMask>& contour, const QueryOptions& options,
            std::optional<std::uint64_t> exclude, std::optional<std::int32_t> own_category, QueryResponse& response) const {
  if (options.k && *options.k == 0) throw Error(Status::InvalidArgument, "k must be at least 1");
  if (options.no_match_rules) check_query_rules(*options.no_match_rules, !config_.confidence.empty());
  const Index& index = space_.index();
  if (index.size() == 0) throw Error(Status::NotFound, "the catalogue is empty: index some images first");
  const std::size_t k = std::min(options.k.value_or(config_.k), index.size());  // a larger k lists the whole catalogue
  auto t = Clock::now();
  const std::vector<std::int32_t> categories = categories_to_search(embedding, options, own_category, response);
  for (std::int32_t c : categories) response.searched.push_back(index.category_name(c));
  response.timings.categorize_ms = ms_since(t);

  t = Clock::now();
  KeyFilter filter = options.filter;
  if (exclude) filter = [user = options.filter, skip = *exclude](std::uint64_t key) { return key != skip && (!user || user(key)); };
  const RerankMode rerank_mode = options.rerank.value_or(config_.rerank);
  const bool one_per_label = options.one_result_per_label.value_or(config_.one_result_per_label);
  const std::size_t depth = search_depth(k, rerank_mode, config_.rerank_depth, one_per_label);
  const std::vector<float> query = space_.query_vector(embedding);
  // Items need `depth` distinct labels: search deeper until found or the catalogue is exhausted.
  for (std::size_t want = one_per_label ? 4 * depth : depth;; want *= 2) {
    const std::vector<SearchHit> hits = space_.search(query, want, categories, filter);
    response.results = results_of(hits, contour);
    if (!one_per_label) {
      score_photos(response.results);
      break;
    }
    const bool exhausted = hits.size() < want;
    response.results = rank_items(response.results, 1, exhausted || hits.empty() ? 0.0f : hits.back().distance);
    if (response.results.size() >= depth || exhausted) break;
  }
  response.timings.search_ms = ms_since(t);

  t = Clock::now();
  if (categoriser_) categoriser_->score_matches(embedding, static_cast<std::size_t>(index.dimension()), response.results);
  const AnswerEvidence evidence = answer_evidence(response.results);  // in distance order, before the cut to k
  rerank(rerank_mode, config_.rerank_depth, config_.iou_weight, response.results);
  if (response.results.size() > k) response.results.resize(k);
  if (one_per_label) response.confidence = confidence_of(config_.confidence, evidence);
  const NoMatchRules rules = options.no_match_rules.value_or(config_.photo_rules());
  response.no_match = is_no_match(response.results, evidence.distance, rules.match_threshold, rules.match_distance,
                                  categoriser_ && categoriser_->is_fine_tuned()) ||
                      is_unconfident(response.confidence, rules.min_confidence);
  response.timings.rerank_ms = ms_since(t);
}

std::vector<QueryResult> Catalogue::results_of(const std::vector<SearchHit>& hits, const std::optional<ContourMask>& contour) const {
  std::vector<QueryResult> out;
  for (const SearchHit& h : hits) {
    const IndexItem item = index().get_metadata(h.key);
    QueryResult r;
    r.key = h.key, r.label = item.label, r.category = index().category_name(h.category), r.distance = h.distance;
    r.iou = contour && item.mask ? static_cast<float>(contour->iou(*item.mask)) : 1.0f;
    const auto src = sources_.find(h.key);
    if (src != sources_.end()) r.source = src->second;
    out.push_back(std::move(r));
  }
  return out;
}

QueryResponse Catalogue::query_analyzed(const ImageAnalysis& analysis, const QueryOptions& options) const {
  const auto t = Clock::now();
  std::shared_lock<std::shared_mutex> lock(mutex_);
  check_dimension(analysis, "query_analyzed");
  QueryResponse response;
  search(analysis.embedding.data(), analysis.contour, options, std::nullopt, std::nullopt, response);
  response.timings.total_ms = ms_since(t);
  return response;
}

QueryResponse Catalogue::query_key(std::uint64_t key, const QueryOptions& options) const {
  const auto t = Clock::now();
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const IndexItem item = index().get(key);
  QueryResponse response;
  search(item.embedding.data(), item.mask, options, key, item.category, response);
  response.timings.total_ms = ms_since(t);
  return response;
}

std::vector<QueryResponse> Catalogue::query_products(const std::vector<Image>& images, const std::vector<std::optional<ContourMask>>& contours,
                                                     const QueryOptions& options) const {
  StageTimings stages;
  std::shared_lock<std::shared_mutex> lock(mutex_, std::defer_lock);
  std::vector<ImageAnalysis> embedded = analyze_locked(images, false, lock, &stages);
  std::vector<QueryResponse> out(images.size());
  for (std::size_t i = 0; i < images.size(); ++i) {
    const auto t = Clock::now();
    search(embedded[i].embedding.data(), i < contours.size() ? contours[i] : kNoContour, options, std::nullopt, std::nullopt, out[i]);
    out[i].timings.embed_ms = stages.embed_ms / static_cast<double>(images.size());
    out[i].timings.total_ms = out[i].timings.embed_ms + ms_since(t);
  }
  return out;
}

std::vector<QueryResponse> Catalogue::query_batch(const std::vector<Image>& images, const QueryOptions& options) const {
  const auto t = Clock::now();
  StageTimings stages;
  std::shared_lock<std::shared_mutex> lock(mutex_, std::defer_lock);
  std::vector<ImageAnalysis> embedded = analyze_locked(images, true, lock, &stages);
  std::vector<QueryResponse> out(images.size());
  for (std::size_t i = 0; i < images.size(); ++i) {
    out[i].timings.localize_ms = stages.localize_ms / static_cast<double>(images.size());
    out[i].timings.embed_ms = stages.embed_ms / static_cast<double>(images.size());
    search(embedded[i].embedding.data(), embedded[i].contour, options, std::nullopt, std::nullopt, out[i]);
    out[i].localization = std::move(embedded[i].localization);
    out[i].timings.total_ms = ms_since(t) / static_cast<double>(images.size());
  }
  return out;
}

}  // namespace domainsearch::detail
