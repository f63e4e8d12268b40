#include <catch2/catch.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "domainsearch/error.hpp"
#include "domainsearch/evaluation.hpp"
#include "eval/confidence_model.hpp"
#include "test_catalogue.hpp"
#include "test_util.hpp"

using namespace domainsearch;
using Catch::Detail::Approx;
using dstest::status_of;

namespace {

// Query photos: each catalogue image shifted and blurred, keeping its label and category.
std::vector<CatalogueEntry> write_queries(const dstest::Catalogue& cat) {
  std::vector<CatalogueEntry> out;
  for (const CatalogueEntry& e : cat.entries) {
    cv::Mat im = cv::imread(e.path), moved;
    cv::warpAffine(im, moved, cv::Mat_<double>({2, 3}, {1, 0, 7, 0, 1, -5}), im.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar::all(255));
    cv::GaussianBlur(moved, moved, {5, 5}, 1.5);
    const std::string path = e.path.substr(0, e.path.size() - 4) + "_query.png";
    cv::imwrite(path, moved);
    out.push_back({path, e.label, e.category, std::nullopt});
  }
  return out;
}

// The metrics of the ordinary path: index the files, query each file with k = catalogue size.
RetrievalMetrics direct_metrics(const PipelineConfig& config, const std::vector<CatalogueEntry>& catalogue, const std::vector<CatalogueEntry>& queries) {
  Pipeline p(config);
  p.index_entries(catalogue);
  QueryOptions o;
  o.k = p.index().size();
  std::vector<RankedRelevance> ranked;
  for (const CatalogueEntry& q : queries) {
    RankedRelevance r;
    r.relevant_total = 1;  // one catalogue image per label
    for (const QueryResult& hit : p.query_file(q.path, o).results) r.relevant.push_back(hit.label == q.label);
    ranked.push_back(r);
  }
  return retrieval_metrics(ranked);
}

}  // namespace

TEST_CASE("evaluate agrees with querying the pipeline directly", "[evaluation]") {
  dstest::Catalogue cat;
  const std::vector<CatalogueEntry> queries = write_queries(cat);
  EvaluationVariant l2 = configured_variant(cat.config), raw = l2;
  raw.name = "raw", raw.l2_normalize = false;
  const EvaluationReport report = evaluate(cat.config, cat.entries, queries, {l2, raw});
  REQUIRE(report.variants.size() == 2);
  CHECK(report.failures.empty());
  PipelineConfig raw_config = cat.config;
  raw_config.features.l2_normalize = false;
  for (const auto& [got, config] : {std::make_pair(report.variants[0].retrieval, cat.config), std::make_pair(report.variants[1].retrieval, raw_config)}) {
    const RetrievalMetrics want = direct_metrics(config, cat.entries, queries);
    CHECK(got.queries == 12);
    CHECK(got.map == Approx(want.map).margin(1e-9));
    CHECK(got.identical_recall_at == want.identical_recall_at);
    CHECK(got.precision_curve == want.precision_curve);
  }
  CHECK(report.variants[0].retrieval.identical_recall_at[0] > 0.5);  // the shapes are findable
}

TEST_CASE("evaluate computes each embedding setting once and reports categories", "[evaluation]") {
  dstest::Catalogue cat;
  const std::vector<CatalogueEntry> queries = write_queries(cat);
  const std::vector<EvaluationVariant> variants = ablation_variants(cat.config);
  std::map<std::string, std::size_t> passes;  // stage -> times it started
  EvaluationOptions options;
  options.progress = [&](const std::string& stage, std::size_t done, std::size_t) {
    if (done <= static_cast<std::size_t>(cat.config.batch_size)) ++passes[stage];
    return true;
  };
  const EvaluationReport report = evaluate(cat.config, cat.entries, queries, variants, options);
  REQUIRE(report.variants.size() == variants.size());
  // Three embedding settings (whole colour, whole grayscale, localised colour), each analysed once.
  CHECK(passes.size() == 6);
  for (const auto& [stage, count] : passes) CHECK(count == 1);
  CHECK(report.category_names == std::vector<std::string>{"round", "square"});
  for (const VariantEvaluation& v : report.variants) {
    INFO(v.variant.name);
    CHECK(v.retrieval.queries == 12);
    REQUIRE(v.categories);  // every catalogue here has two categories, so a head
    CHECK(v.categories->samples == 12);
    CHECK(v.categories->confusion.size() == 2);
  }
  const auto named = [&](const std::string& name) {
    for (const VariantEvaluation& v : report.variants)
      if (v.variant.name == name) return v;
    FAIL("no variant " << name);
    return report.variants.front();
  };
  // Hard restriction can only lose relevant items that category off (the configured mode here) finds: its recall@20 is not higher.
  CHECK(named("whole image, category hard").retrieval.recall_at.back() <= named("configured").retrieval.recall_at.back() + 1e-12);
  CHECK(describe(named("localised, soft, IoU rerank (paper)").variant) == "loc=on gray=off l2=on adapt=off cat=predicted_soft(0.90) rerank=iou item-photos=1");
}

TEST_CASE("evaluate reports unreadable images, trains on given photos and refuses bad input", "[evaluation]") {
  dstest::Catalogue cat;
  std::vector<CatalogueEntry> queries = write_queries(cat);
  queries.push_back({cat.corrupt, "round-0", "round", std::nullopt});
  EvaluationVariant hard = configured_variant(cat.config);
  hard.category_mode = CategoryMode::PredictedHard;
  EvaluationOptions options;
  options.head_training = queries;  // the head learns from the query photos, the catalogue stays as it is
  const EvaluationReport report = evaluate(cat.config, cat.entries, queries, {hard}, options);
  REQUIRE(report.failures.size() == 1);
  CHECK(report.failures[0].path == cat.corrupt);
  CHECK(report.variants[0].retrieval.queries == 12);
  REQUIRE(report.variants[0].categories);
  CHECK(report.variants[0].categories->samples == 12);
  CHECK(report.training_seconds > 0);
  options.head_training.push_back({cat.entries[0].path, "x", "triangle", std::nullopt});
  CHECK(status_of([&] { evaluate(cat.config, cat.entries, queries, {hard}, options); }) == Status::NotFound);

  EvaluationOptions cancel;
  cancel.progress = [](const std::string&, std::size_t, std::size_t) { return false; };
  CHECK(status_of([&] { evaluate(cat.config, cat.entries, queries, {hard}, cancel); }) == Status::Cancelled);
  CHECK(status_of([&] { evaluate(cat.config, {}, queries, {hard}); }) == Status::InvalidArgument);
  CHECK(status_of([&] { evaluate(cat.config, cat.entries, {}, {hard}); }) == Status::InvalidArgument);
  CHECK(status_of([&] { evaluate(cat.config, cat.entries, queries, {}); }) == Status::InvalidArgument);
  PipelineConfig no_segmenter = cat.config;
  no_segmenter.segmenter_manifest.clear();
  EvaluationVariant localised = hard;
  localised.localize = true;
  CHECK(status_of([&] { evaluate(no_segmenter, cat.entries, queries, {localised}); }) == Status::InvalidArgument);
  CHECK(ablation_variants(no_segmenter).size() < ablation_variants(cat.config).size());
}

TEST_CASE("a fine-tuned evaluation trains once, varies query options and measures held-out items", "[evaluation][fine-tuning]") {
  const dstest::Catalogue cat;
  const std::vector<CatalogueEntry> queries = write_queries(cat);
  PipelineConfig config = cat.config;
  config.backbone_manifest = dstest::write_trainable_backbone(cat.dir.path().string());
  config.fine_tuning.enabled = true;
  config.fine_tuning.first_stage = 2;
  config.fine_tuning.epochs = 3;
  config.fine_tuning.batch_size = 8;
  EvaluationOptions options;
  options.holdout_items = 3;
  std::vector<std::string> stages;
  options.progress = [&](const std::string& stage, std::size_t, std::size_t) {
    if (stages.empty() || stages.back() != stage) stages.push_back(stage);
    return true;
  };
  const std::vector<EvaluationVariant> variants = ablation_variants(config);
  for (const EvaluationVariant& v : variants) CHECK_FALSE(v.adapt_embedding);
  const EvaluationReport r = evaluate(config, cat.entries, queries, variants, options);
  CHECK(r.held_out_items.size() == 3);
  CHECK(r.catalogue_images == 9);
  CHECK(std::count_if(stages.begin(), stages.end(), [](const std::string& s) { return s.rfind("fine-tuning (training", 0) == 0; }) == 3);
  REQUIRE(r.variants.size() == variants.size());
  const std::vector<NoMatchPoint>& curve = r.variants.front().no_match;
  REQUIRE(curve.size() >= 5);
  for (std::size_t i = 1; i < curve.size(); ++i) {
    CHECK(curve[i].threshold > curve[i - 1].threshold);
    CHECK(curve[i].false_match_rate <= curve[i - 1].false_match_rate);  // a higher threshold answers "no match" more often
    CHECK(curve[i].no_match_rate >= curve[i - 1].no_match_rate);
  }
  const std::vector<NoMatchPoint>& by_distance = r.variants.front().no_match_by_distance;
  REQUIRE(by_distance.size() >= 2);
  for (std::size_t i = 1; i < by_distance.size(); ++i) {
    CHECK(by_distance[i].threshold > by_distance[i - 1].threshold);
    CHECK(by_distance[i].false_match_rate >= by_distance[i - 1].false_match_rate);  // a higher distance threshold matches more
    CHECK(by_distance[i].no_match_rate <= by_distance[i - 1].no_match_rate);
  }
  CHECK(by_distance.front().no_match_rate > 0.3);  // the first threshold is the others' median best distance
  CHECK(by_distance.back().no_match_rate < by_distance.front().no_match_rate);
  CHECK(r.variants.front().categories.has_value());
  CHECK(r.held_out_queries == 3);
  // The mean time is over every query, held-out ones too.
  for (const VariantEvaluation& v : r.variants) CHECK(v.timed_queries == queries.size());
  // Each candidate confidence is measured: the probability too, the catalogue being fine-tuned, and a
  // confidence fitted on the answers (out of fold).
  const VariantEvaluation& configured = r.variants.front();
  const std::vector<ConfidenceEvaluation>& confidence = configured.confidence;
  REQUIRE(confidence.size() == 4);
  CHECK(confidence[0].name == "match probability");
  CHECK(confidence[1].name == "nearest distance");
  CHECK(confidence[2].name == "item margin");
  CHECK(confidence[3].name == "fitted confidence");
  REQUIRE(configured.fitted_confidence.has_value());
  CHECK_FALSE(configured.fitted_confidence->empty());
  CHECK(configured.no_match_by_confidence.size() >= 5);
  // No rule configured: every held-out query still gets a match, no known one loses its answer.
  REQUIRE(configured.configured_no_match.has_value());
  CHECK(configured.configured_no_match->false_match_rate == 1.0);
  CHECK(configured.configured_no_match->recall_cost == 0.0);
  for (const ConfidenceEvaluation& c : confidence) {
    REQUIRE(c.auroc_known_vs_held_out.has_value());
    CHECK((*c.auroc_known_vs_held_out >= 0.0 && *c.auroc_known_vs_held_out <= 1.0));
    REQUIRE_FALSE(c.risk_coverage.empty());
    CHECK(c.risk_coverage.back().coverage == 1.0);
  }

  // A variant that changes the embedding cannot reuse the one fine-tuned network.
  EvaluationVariant gray = configured_variant(config);
  gray.grayscale = true;
  CHECK(status_of([&] { evaluate(config, cat.entries, queries, {gray}, {}); }) == Status::InvalidArgument);
}

TEST_CASE("a fitted confidence: right answers are near, its mean matches the share right, folds leave items out", "[evaluation][confidence]") {
  // 200 answers: right when nearer than 0.8, every 10th the other way round; margins unrelated.
  std::vector<detail::ConfidenceSample> samples;
  for (int i = 0; i < 200; ++i) {
    detail::ConfidenceSample s;
    s.evidence.distance = 2.0f * static_cast<float>(i) / 200;
    s.evidence.margin = static_cast<float>(i % 7) / 7;
    s.right = (s.evidence.distance < 0.8f) != (i % 10 == 0);
    s.weight = s.right ? 1.0 : 2.0;
    s.fold = static_cast<std::size_t>(i % 5);
    samples.push_back(s);
  }
  const ConfidenceModel m = detail::fit_confidence_model(samples, false);
  CHECK(m.distance < 0);
  CHECK(m.probability == 0.0f);
  const auto at = [&](float distance) {
    detail::AnswerEvidence e;
    e.distance = distance, e.margin = 0.5f;
    return detail::confidence_of(m, e);
  };
  CHECK(at(0.1f) > 0.8f);
  CHECK(at(1.8f) < 0.2f);
  // The bias is not regularised: at the optimum the weighted mean confidence equals the weighted share right.
  double predicted = 0, observed = 0, total = 0;
  for (const detail::ConfidenceSample& s : samples) {
    predicted += s.weight * detail::confidence_of(m, s.evidence), observed += s.weight * s.right, total += s.weight;
  }
  CHECK(predicted / total == Approx(observed / total).margin(1e-3));
  // Heavier wrong answers lower the confidence at the same evidence.
  std::vector<detail::ConfidenceSample> heavier = samples;
  for (detail::ConfidenceSample& s : heavier) s.weight = s.right ? 1.0 : 8.0;
  detail::AnswerEvidence mid;
  mid.distance = 0.7f, mid.margin = 0.5f;
  CHECK(detail::confidence_of(detail::fit_confidence_model(heavier, false), mid) < detail::confidence_of(m, mid));

  const std::vector<float> out_of_fold = detail::out_of_fold_confidences(samples, false);
  REQUIRE(out_of_fold.size() == samples.size());
  std::vector<float> right, wrong;
  for (std::size_t i = 0; i < samples.size(); ++i) (samples[i].right ? right : wrong).push_back(out_of_fold[i]);
  CHECK(auroc(right, wrong) > 0.8);

  // With the probability: a sample without one is refused; so are answers all of one kind.
  CHECK(status_of([&] { detail::fit_confidence_model(samples, true); }) == Status::InvalidArgument);
  std::vector<detail::ConfidenceSample> all_right = samples;
  for (detail::ConfidenceSample& s : all_right) s.right = true;
  CHECK(status_of([&] { detail::fit_confidence_model(all_right, false); }) == Status::InvalidArgument);
}
