#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <iterator>
#include <fstream>
#include <random>
#include <set>

#include "domainsearch/error.hpp"
#include "domainsearch/shards.hpp"
#include "test_models.hpp"
#include "test_util.hpp"

using namespace domainsearch;
using dstest::status_of;

namespace {

const std::vector<std::string> kCategories = {"bottles", "cartons", "jars"};

// A catalogue of analyses: 3 photos of each of 24 items, categories by item; random embeddings and masks,
// with one pair of identical embeddings under different keys (a distance tie across shards).
struct Analysed {
  dstest::ScratchDir dir;
  PipelineConfig config;
  std::vector<std::uint64_t> keys;
  std::vector<ImageAnalysis> analyses;
  std::vector<std::string> labels, categories;

  Analysed() {
    config.backbone_manifest = dstest::write_tiny_backbone(dir.path().string(), 16, 1, 32);
    config.runtime.threads = 1;
    config.training.max_epochs = 30;
    config.training.hidden1 = 16;
    config.training.hidden2 = 8;
    config.rerank_depth = 6;
  }

  void make(int dimension) {
    std::mt19937 rng(11);
    std::uniform_int_distribution<int> bit(0, 1);
    for (int i = 0; i < 72; ++i) {
      keys.push_back(1000003ull * static_cast<std::uint64_t>(i) + 17);
      analyses.push_back(analysis(dimension, static_cast<std::uint32_t>(i / 3 * 7 + i % 3), rng));
      labels.push_back("item-" + std::to_string(i / 3));
      categories.push_back(kCategories[static_cast<std::size_t>(i / 3) % kCategories.size()]);
    }
    analyses[71].embedding = analyses[70].embedding;  // keys 70, 71 fall in different shards of 3
  }

  static ImageAnalysis analysis(int dimension, std::uint32_t seed, std::mt19937& rng) {
    ImageAnalysis a;
    a.embedding = dstest::random_vectors(1, static_cast<std::size_t>(dimension), seed);
    std::vector<std::uint8_t> mask(16 * 16);
    for (auto& m : mask) m = static_cast<std::uint8_t>(255 * (rng() % 3 != 0));
    a.contour = ContourMask::from_binary(mask.data(), 16, 16, 16, 16, MaskFrame::Image);
    return a;
  }

  Pipeline empty() const {
    Pipeline p(config);
    p.add_categories(kCategories);
    return p;
  }

  void add(Pipeline& p, std::size_t i) const { p.add_analyzed(keys[i], analyses[i], categories[i], labels[i]); }
};

void check_same(const QueryResponse& one, const QueryResponse& sharded) {
  REQUIRE(sharded.results.size() == one.results.size());
  for (std::size_t i = 0; i < one.results.size(); ++i) {
    INFO("rank " << i);
    CHECK(sharded.results[i].key == one.results[i].key);
    CHECK(sharded.results[i].label == one.results[i].label);
    CHECK(sharded.results[i].category == one.results[i].category);
    CHECK(sharded.results[i].distance == one.results[i].distance);
    CHECK(sharded.results[i].iou == one.results[i].iou);
    CHECK(sharded.results[i].score == one.results[i].score);
    // An item's photos (the ones each search reached, which differ: a shard lists only its own first
    // k items) start with the result's photo and run nearest first; photo answers list none.
    for (const QueryResult* r : {&one.results[i], &sharded.results[i]}) {
      if (r->photos.empty()) continue;
      CHECK(r->photos.front().key == r->key);
      CHECK(r->photos.front().distance == r->distance);
      for (std::size_t j = 1; j < r->photos.size(); ++j) CHECK(r->photos[j].distance >= r->photos[j - 1].distance);
    }
    CHECK(one.results[i].photos.empty() == sharded.results[i].photos.empty());
  }
  CHECK(sharded.searched == one.searched);
  REQUIRE(sharded.predicted.size() == one.predicted.size());
  for (std::size_t i = 0; i < one.predicted.size(); ++i) CHECK(sharded.predicted[i].category == one.predicted[i].category);
  CHECK(sharded.no_match == one.no_match);
  CHECK(sharded.confidence == one.confidence);  // the same evidence: nearest distance and the second item's
}

}  // namespace

TEST_CASE("a sharded catalogue answers exactly as one catalogue holding every item", "[shards]") {
  Analysed data;
  Pipeline one = data.empty();
  data.make(one.index().dimension());
  for (std::size_t i = 0; i < data.keys.size(); ++i) data.add(one, i);
  one.train_categories(data.analyses, data.categories, data.labels);
  std::mt19937 rng(5);
  std::vector<ImageAnalysis> queries{data.analyses[70]};
  for (std::uint32_t q = 1; q < 6; ++q) queries.push_back(Analysed::analysis(one.index().dimension(), 900u + q, rng));

  // "Not in the catalogue" by distance, at the median best distance: some queries say no match.
  std::vector<float> best;
  for (const ImageAnalysis& q : queries) best.push_back(one.query_analyzed(q).results.front().distance);
  std::nth_element(best.begin(), best.begin() + 3, best.end());
  data.config.match_distance = best[3];
  data.config.confidence = {1.0f, 0.0f, -2.0f, 3.0f};  // a confidence from the distance and the item margin
  one.save(data.dir.file("one.dscat"));
  one = Pipeline::open(data.dir.file("one.dscat"), data.config);

  const std::size_t n = 3;
  std::vector<std::string> paths;
  for (std::size_t s = 0; s < n; ++s) {
    Pipeline shard = data.empty();
    for (std::size_t i = 0; i < data.keys.size(); ++i)
      if (shard_of_key(data.keys[i], n) == s) data.add(shard, i);
    shard.install_category_model(one);
    CHECK(shard.model_fingerprint() == one.model_fingerprint());
    paths.push_back(data.dir.file(ShardSetManifest::shard_file_name(s, n)));
    shard.save(paths.back());
    CHECK(Pipeline::inspect(paths.back()).model_fingerprint == one.model_fingerprint());
  }
  CHECK(shard_of_key(data.keys[70], n) != shard_of_key(data.keys[71], n));
  const ShardedCatalogue sharded = ShardedCatalogue::open(paths, data.config);
  CHECK(sharded.size() == one.index().size());

  std::size_t compared = 0;
  std::set<bool> verdicts;
  for (int q = 0; q < 6; ++q) {
    const ImageAnalysis& query = queries[static_cast<std::size_t>(q)];
    for (CategoryMode mode : {CategoryMode::Off, CategoryMode::PredictedHard, CategoryMode::PredictedSoft})
      for (RerankMode rerank : {RerankMode::Off, RerankMode::Iou, RerankMode::Fused})
        for (bool per_label : {false, true})
          for (std::size_t k : {std::size_t{1}, std::size_t{5}, std::size_t{100}}) {
            QueryOptions o;
            o.category_mode = mode, o.rerank = rerank, o.one_result_per_label = per_label, o.k = k;
            if (q == 1) o.filter = [](std::uint64_t key) { return key % 2 == 1; };
            if (q == 2) o.category = "jars";
            INFO("query " << q << " mode " << int(mode) << " rerank " << int(rerank) << " per label " << per_label << " k " << k);
            const QueryResponse expected = one.query_analyzed(query, o);
            check_same(expected, sharded.query_analyzed(query, o));
            CHECK((expected.confidence >= 0) == per_label);  // the confidence is of item answers
            verdicts.insert(expected.no_match);
            ++compared;
          }
  }
  CHECK(compared == 6 * 54);
  CHECK(verdicts == std::set<bool>{false, true});

  // Through the catalogue's own options too, and k = 0 is refused as by one catalogue.
  check_same(one.query_analyzed(data.analyses[3]), sharded.query_analyzed(data.analyses[3]));
  QueryOptions zero;
  zero.k = 0;
  CHECK(status_of([&] { sharded.query_analyzed(data.analyses[3], zero); }) == Status::InvalidArgument);
}

TEST_CASE("merging: no_match from the merged best result, one response at least", "[shards]") {
  PipelineConfig config;
  config.match_threshold = 0.5f;
  config.k = 2;
  QueryResponse a, b;
  a.results = {QueryResult{1, "x", "c", "", 0.5f, 1, 0, 0.9f}, QueryResult{2, "y", "c", "", 0.7f, 1, 0, 0.2f}};
  b.results = {QueryResult{3, "z", "c", "", 0.1f, 1, 0, 0.3f}};
  b.no_match = true;
  const QueryResponse merged = merge_shard_responses({a, b}, {}, config);
  REQUIRE(merged.results.size() == 2);
  CHECK(merged.results[0].key == 3);
  CHECK(merged.results[1].key == 1);
  CHECK(merged.no_match);  // the best (key 3) has probability 0.3 < 0.5
  QueryResponse uncalibrated;
  uncalibrated.results = {QueryResult{4, "w", "c", "", 0.1f, 1, 0, -1.0f}};
  CHECK_FALSE(merge_shard_responses({uncalibrated}, {}, config).no_match);
  config.match_distance = 0.05f;  // by distance: any catalogue, calibrated or not
  CHECK(merge_shard_responses({uncalibrated}, {}, config).no_match);
  config.match_distance = 0.2f;
  CHECK_FALSE(merge_shard_responses({uncalibrated}, {}, config).no_match);
  QueryResponse nothing;  // every shard empty: no match by distance whatever the shards said
  CHECK(merge_shard_responses({nothing, nothing}, {}, config).no_match);
  config.match_distance = 0;  // by probability only: the shards' verdicts tell whether they are calibrated
  CHECK_FALSE(merge_shard_responses({nothing}, {}, config).no_match);
  nothing.no_match = true;
  CHECK(merge_shard_responses({nothing, nothing}, {}, config).no_match);
  CHECK(status_of([&] { merge_shard_responses({}, {}, config); }) == Status::InvalidArgument);
  CHECK(status_of([] { shard_of_key(7, 0); }) == Status::InvalidArgument);
  CHECK(shard_of_key(7, 3) == 1);
}

TEST_CASE("a shard set: manifest, training once across shards, fingerprints that refuse a stranger", "[shards]") {
  Analysed data;
  Pipeline trained = data.empty();
  data.make(trained.index().dimension());
  const std::size_t n = 2;
  ShardSetManifest manifest;
  for (std::size_t s = 0; s < n; ++s) {
    Pipeline shard = data.empty();
    for (std::size_t i = 0; i < data.keys.size(); ++i)
      if (shard_of_key(data.keys[i], n) == s) data.add(shard, i);
    manifest.shards.push_back(ShardSetManifest::shard_file_name(s, n));
    shard.save(data.dir.file(manifest.shards.back()));
  }
  const std::vector<std::string> paths = manifest.shard_paths(data.dir.path().string());
  const TrainingReport report = train_category_model_on_shards(trained, paths);
  CHECK(report.samples > 0);
  CHECK(trained.has_category_head());
  CHECK(trained.index().size() == 0);
  {
    // One catalogue of the same items, added in another order, trains the same head: rows are taken in
    // key order on both sides (it was worse across shards only by the order of its rows).
    Pipeline one = data.empty();
    for (std::size_t i = data.keys.size(); i-- > 0;) data.add(one, i);
    const TrainingReport alone = one.train_categories();
    CHECK(alone.samples == report.samples);
    CHECK(alone.epochs == report.epochs);
    CHECK(alone.best_validation_accuracy == report.best_validation_accuracy);
    CHECK(one.model_fingerprint() == trained.model_fingerprint());  // the same head, byte for byte
  }
  for (const std::string& path : paths) {
    Pipeline shard = Pipeline::open(path, data.config);
    CHECK(shard.model_fingerprint() != trained.model_fingerprint());
    shard.install_category_model(trained);
    CHECK(shard.model_fingerprint() == trained.model_fingerprint());
    shard.save(path);
  }
  manifest.model_fingerprint = trained.model_fingerprint();
  manifest.save(data.dir.path().string());
  const ShardSetManifest read = ShardSetManifest::load(data.dir.path().string());
  CHECK(read.shards == manifest.shards);
  CHECK(read.model_fingerprint == manifest.model_fingerprint);
  const ShardedCatalogue set = ShardedCatalogue::open_folder(data.dir.path().string(), data.config);
  CHECK(set.size() == data.keys.size());
  const QueryResponse r = set.query_analyzed(data.analyses[9]);
  REQUIRE_FALSE(r.results.empty());
  CHECK(r.results[0].key == data.keys[9]);
  CHECK_FALSE(r.predicted.empty());

  SECTION("a shard built with another category table is refused") {
    Pipeline stranger(data.config);
    stranger.add_categories({"jars", "bottles", "cartons"});
    data.add(stranger, 0);
    const std::string path = data.dir.file("stranger.dscat");
    stranger.save(path);
    CHECK(status_of([&] { ShardedCatalogue::open({paths[0], path}, data.config); }) == Status::ModelMismatch);
    CHECK(status_of([&] { stranger.install_category_model(trained); }) == Status::InvalidArgument);
    Pipeline fresh = data.empty();
    CHECK(status_of([&] { train_category_model_on_shards(fresh, {path}); }) == Status::ModelMismatch);
  }
  SECTION("a category model from another backbone is refused") {
    PipelineConfig other = data.config;
    std::filesystem::create_directories(data.dir.file("other"));
    other.backbone_manifest = dstest::write_tiny_backbone(data.dir.file("other"), 8, 1, 32);
    Pipeline p(other);
    p.add_categories(kCategories);
    CHECK(status_of([&] { p.install_category_model(trained); }) == Status::ModelMismatch);
  }
  SECTION("training views and fine-tuning cannot train across shards") {
    PipelineConfig views = data.config;
    views.training_views = 1;
    Pipeline p(views);
    CHECK(status_of([&] { train_category_model_on_shards(p, paths); }) == Status::InvalidArgument);
  }
  SECTION("a damaged manifest is Corrupt, a missing one Io") {
    std::ofstream(data.dir.file("shards.json")) << R"({"format":"domainsearch-shard-set","version":1,"template":"t","model_fingerprint":"x","shards":["../evil.dscat"]})";
    CHECK(status_of([&] { ShardSetManifest::load(data.dir.path().string()); }) == Status::Corrupt);
    std::ofstream(data.dir.file("shards.json")) << "{not json";
    CHECK(status_of([&] { ShardSetManifest::load(data.dir.path().string()); }) == Status::Corrupt);
    CHECK(status_of([&] { ShardSetManifest::load(data.dir.file("nowhere")); }) == Status::Io);
  }
  SECTION("the manifest is replaced like a catalogue: never a FIFO or a file a link points to elsewhere is overwritten") {
    const std::string folder = data.dir.file("fifo-set");
    std::filesystem::create_directories(folder);
    REQUIRE(::mkfifo((folder + "/shards.json").c_str(), 0600) == 0);
    CHECK(status_of([&] { manifest.save(folder); }) == Status::Io);
    CHECK(std::filesystem::is_fifo(folder + "/shards.json"));
    // The old build's predictable temporary name, planted as a link: not followed.
    const std::string victim = data.dir.file("victim.txt");
    std::ofstream(victim) << "precious";
    std::filesystem::create_symlink(victim, data.dir.file(".shards.json." + std::to_string(::getpid()) + ".tmp"));
    manifest.save(data.dir.path().string());
    CHECK(ShardSetManifest::load(data.dir.path().string()).shards == manifest.shards);
    std::ifstream in(victim);
    CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == "precious");
  }
}
