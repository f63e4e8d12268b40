// The catalogue's parts (src/catalogue/): the search space and its adapted projection, the category
// models, the models shared across catalogues, and the file layer without models.
#include <catch2/catch.hpp>
#include <filesystem>
#include <random>

#include "catalogue/catalogue_file.hpp"
#include "catalogue/category_model.hpp"
#include "catalogue/search_space.hpp"
#include "catalogue/shared_models.hpp"
#include "config/config_json.hpp"
#include "domainsearch/shards.hpp"
#include "domainsearch/error.hpp"
#include "domainsearch/pipeline.hpp"
#include "test_catalogue.hpp"
#include "test_models.hpp"
#include "test_util.hpp"

using namespace domainsearch;
using dstest::status_of;

namespace {

constexpr int kDim = 6;

// `count` random unit vectors of kDim floats, labelled by item (two items per category, 3 categories).
struct Rows {
  std::vector<float> x;
  std::vector<std::int32_t> items, categories;
};
Rows random_rows(std::size_t count, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  Rows r;
  for (std::size_t i = 0; i < count; ++i) {
    const std::int32_t item = static_cast<std::int32_t>(i % 6);
    for (int d = 0; d < kDim; ++d) r.x.push_back(n(rng) + (d == item ? 3.0f : 0.0f));
    l2_normalize_rows(r.x.data() + i * kDim, 1, kDim);
    r.items.push_back(item);
    r.categories.push_back(item / 2);
  }
  return r;
}

detail::SearchSpace space_of(const Rows& r) {
  Index index(kDim);
  for (const char* name : {"a", "b", "c"}) index.add_category(name);
  for (std::size_t i = 0; i < r.items.size(); ++i)
    index.add(i + 1, r.categories[i], r.x.data() + i * kDim, "item" + std::to_string(r.items[i]));
  return detail::SearchSpace(std::move(index));
}

CategoryPredictor adaptation_for(const Rows& r) {
  CategoryTrainingOptions o;
  o.max_epochs = 20;
  o.hidden2 = 4;
  return CategoryPredictor::train(r.x.data(), r.items.size(), kDim, r.items.data(), 6, o);
}

std::vector<std::uint64_t> keys_of(const std::vector<SearchHit>& hits) {
  std::vector<std::uint64_t> out;
  for (const SearchHit& h : hits) out.push_back(h.key);
  return out;
}

}  // namespace

// Stores, replaces and removes items and adds a category.
void change(detail::SearchSpace& space) {
  const Rows more = random_rows(6, 2);
  space.store(100, 1, more.x.data(), "new", nullptr, false);
  space.store(3, 2, more.x.data() + kDim, "moved", nullptr, true);
  space.remove(7);
  space.add_category("d");
  space.store(101, 3, more.x.data() + 2 * kDim, "in d", nullptr, false);
}

TEST_CASE("a search space keeps its adapted projection equal to projecting its Index afresh", "[catalogue-parts]") {
  const Rows rows = random_rows(60, 1);
  detail::SearchSpace changed_after = space_of(rows), changed_before = space_of(rows);
  const std::vector<float> query(rows.x.begin(), rows.x.begin() + kDim);
  CHECK(keys_of(changed_after.search(changed_after.query_vector(query.data()), 5, {}, {})) == keys_of(changed_after.index().search(query.data(), 5)));

  const CategoryPredictor adaptation = adaptation_for(rows);
  changed_after.install(changed_after.project(adaptation));
  REQUIRE(changed_after.adaptation());
  change(changed_after);
  change(changed_before);
  changed_before.install(changed_before.project(adaptation));

  const Rows queries = random_rows(12, 3);
  for (std::size_t q = 0; q < 12; ++q) {
    const float* v = queries.x.data() + q * kDim;
    const std::vector<SearchHit> a = changed_after.search(changed_after.query_vector(v), 8, {}, {});
    const std::vector<SearchHit> b = changed_before.search(changed_before.query_vector(v), 8, {}, {});
    REQUIRE(keys_of(a) == keys_of(b));
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i].distance == Approx(b[i].distance).margin(1e-6));
    // The adapted space ranks differently from the Index itself (else the test would prove nothing).
  }
  CHECK(changed_after.index().size() == 61);
  CHECK(changed_after.search(changed_after.query_vector(queries.x.data()), 100, {3}, {}).size() == 1);

  // Without an adaptation the space searches the Index itself.
  changed_after.install(changed_after.project(std::nullopt));
  CHECK_FALSE(changed_after.adaptation());
  CHECK(keys_of(changed_after.search(changed_after.query_vector(query.data()), 9, {}, {})) == keys_of(changed_after.index().search(query.data(), 9)));
}

TEST_CASE("a projection made before the space changed is refused", "[catalogue-parts]") {
  const Rows rows = random_rows(30, 4);
  detail::SearchSpace space = space_of(rows);
  detail::SearchSpace::Projection stale = space.project(adaptation_for(rows));
  space.remove(1);
  CHECK(status_of([&] { space.install(std::move(stale)); }) == Status::Internal);
  CHECK_FALSE(space.adaptation());
  // Nor does one made from another space, even one built alike.
  detail::SearchSpace twin = space_of(rows);
  CHECK(status_of([&] { twin.install(space.project(adaptation_for(rows))); }) == Status::Internal);
  // An adaptation for other embeddings is refused when the projection is made.
  CHECK(status_of([&] { space.project(CategoryPredictor::linear(2, 2, {1, 0, 0, 1}, {0, 0})); }) == Status::InvalidArgument);
}

TEST_CASE("catalogues of one process share each loaded model, and a changed model file is loaded afresh", "[catalogue-parts]") {
  dstest::ScratchDir dir;
  const ModelManifest backbone = ModelManifest::load(dstest::write_tiny_backbone(dir.path().string(), 4));
  const ModelManifest segmenter = ModelManifest::load(dstest::write_dark_object_segmenter(dir.path().string(), 32));
  RuntimeOptions runtime;
  runtime.threads = 1;
  std::shared_ptr<const FeatureExtractor> a = detail::shared_backbone(backbone, runtime, {});
  std::shared_ptr<const FeatureExtractor> b = detail::shared_backbone(backbone, runtime, {});
  CHECK(a == b);
  FeatureExtractorOptions grayscale;
  grayscale.grayscale = true;
  CHECK(detail::shared_backbone(backbone, runtime, grayscale) != a);  // other settings: another model
  const auto s = detail::shared_segmenter(segmenter, runtime, {});
  CHECK(s == detail::shared_segmenter(segmenter, runtime, {}));
  LocalizerOptions otsu;
  otsu.threshold_method = ThresholdMethod::Otsu;
  CHECK(s != detail::shared_segmenter(segmenter, runtime, otsu));

  // The file rewritten (a new modification time): loaded again, not the stale copy.
  std::filesystem::last_write_time(backbone.file, std::filesystem::last_write_time(backbone.file) + std::chrono::hours(1));
  CHECK(detail::shared_backbone(backbone, runtime, {}) != a);

  // Nobody holds it any more: it is released, not kept for the process's life.
  const std::weak_ptr<const FeatureExtractor> weak = a;
  a.reset(), b.reset();
  CHECK(weak.expired());
}

TEST_CASE("the category models: which categories each knows, and where the file keeps it", "[catalogue-parts]") {
  const Rows rows = random_rows(30, 5);
  const detail::HeadCategoryModel head(CategoryPredictor::train(rows.x.data(), rows.items.size(), kDim, rows.categories.data(), 3));
  CHECK(head.knows(2, "c"));
  CHECK_FALSE(head.knows(3, "added later"));
  CHECK(head.untrained({"a", "b", "c", "d"}) == std::vector<bool>{false, false, false, true});
  CHECK(head.bytes() == head.head().serialize());
  CHECK(head.section() == detail::tag("HEAD"));
  CHECK_FALSE(head.is_fine_tuned());
  const std::vector<CategoryScore> top = head.predict(rows.x.data(), kDim, {"a", "b", "c"}, 2);
  REQUIRE(top.size() == 2);
  CHECK(top[0].probability >= top[1].probability);

  detail::FineTunedModel model;
  model.item_labels = {"apple", "tile", "ball"};
  model.item_categories = {"round", "square", "round"};
  const detail::FineTunedCategoryModel tuned(model, {1, 2, 3});
  // By name, whatever the id: the Index may number categories differently from the classifier.
  CHECK(tuned.untrained({"square", "new", "round"}) == std::vector<bool>{false, true, false});
  CHECK(tuned.section() == detail::tag("FTUN"));
  CHECK(tuned.bytes() == std::vector<std::uint8_t>{1, 2, 3});
  CHECK(tuned.is_fine_tuned());
}

TEST_CASE("the catalogue file reads without models and fingerprints as the catalogue it was saved from", "[catalogue-parts]") {
  dstest::Catalogue cat;
  Pipeline p(cat.config);
  p.index_entries(cat.entries);
  p.train_categories();
  const std::string file = cat.dir.file("c.dscat");
  p.save(file);
  const detail::StoredCatalogue stored = detail::read_catalogue_file(file);
  CHECK(stored.index.size() == 12);
  CHECK_FALSE(stored.sections.head.empty());
  CHECK(stored.sections.sources.size() == 12);
  CHECK(stored.sections.model_fingerprint(stored.index.category_names()) == p.model_fingerprint());
  CHECK(Pipeline::inspect(file).model_fingerprint == p.model_fingerprint());
  // The fingerprint covers the category table.
  CHECK(stored.sections.model_fingerprint({"round"}) != p.model_fingerprint());
}

TEST_CASE("two pipelines of one configuration, and the shards of a set, hold one copy of each network", "[catalogue-parts]") {
  dstest::Catalogue cat;
  const ModelManifest backbone = ModelManifest::load(cat.config.backbone_manifest);
  RuntimeOptions runtime = cat.config.runtime;  // as a catalogue resolves it (1 thread here)
  FeatureExtractorOptions features = cat.config.features;
  features.batch_size = cat.config.batch_size;
  std::weak_ptr<const FeatureExtractor> shared;
  {
    Pipeline a(cat.config), b(cat.config);
    shared = detail::shared_backbone(backbone, runtime, features);  // the copy both hold, if they share one
    CHECK_FALSE(shared.expired());
  }
  CHECK(shared.expired());  // released with the pipelines

  Pipeline p(cat.config);
  p.index_entries(cat.entries);
  p.save(cat.dir.file("shard0.dscat"));
  p.save(cat.dir.file("shard1.dscat"));
  const long held_by_p = detail::shared_backbone(backbone, runtime, features).use_count();
  const ShardedCatalogue set = ShardedCatalogue::open({cat.dir.file("shard0.dscat"), cat.dir.file("shard1.dscat")}, cat.config);
  // Each shard holds p's copy twice (as the loaded network and as the one that embeds), loading none.
  CHECK(detail::shared_backbone(backbone, runtime, features).use_count() == held_by_p + 4);
}

TEST_CASE("a catalogue file written without the settings later builds added fingerprints as it reopens", "[catalogue-parts]") {
  dstest::ScratchDir dir;
  detail::CatalogueSections sections;
  sections.embedding = detail::embedding_settings(PipelineConfig{});
  sections.embedding["localizer"].erase("mask_frame");  // an older file's CONF: the key did not exist yet
  Index index(4);
  index.add_category("a");
  const std::string file = dir.file("old.dscat");
  detail::write_catalogue_file(file, sections, index, std::nullopt);
  const detail::StoredCatalogue stored = detail::read_catalogue_file(file);
  CHECK(stored.sections.embedding == detail::embedding_settings(PipelineConfig{}));
  CHECK(Pipeline::inspect(file).embedding_settings_json == detail::embedding_settings(PipelineConfig{}).dump());
}
