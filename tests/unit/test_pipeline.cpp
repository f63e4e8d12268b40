#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>
#include <thread>

#include "html_report.hpp"
#include "domainsearch/catalogue_lock.hpp"
#include "domainsearch/error.hpp"
#include "domainsearch/pipeline.hpp"
#include "io/section_file.hpp"
#include "test_catalogue.hpp"
#include "test_models.hpp"
#include "test_util.hpp"

using namespace domainsearch;
using dstest::status_of;

using dstest::Catalogue;

TEST_CASE("index / query / more-like-this / add/upsert/remove", "[pipeline]") {
  Catalogue cat;
  Pipeline p(cat.config);
  auto entries = cat.entries;
  entries.push_back({cat.corrupt, "broken", "round", std::nullopt});
  std::vector<std::size_t> progress;
  const IndexingReport r = p.index_entries(entries, [&](std::size_t done, std::size_t) { progress.push_back(done); return true; });
  CHECK(r.added == 12);
  REQUIRE(r.failures.size() == 1);
  CHECK(r.failures[0].path == cat.corrupt);
  CHECK(r.failures[0].reason.find("corrupt.jpg") != std::string::npos);
  CHECK(progress.back() == 13);
  CHECK(p.index().size() == 12);
  CHECK(p.index().category_count() == 2);

  // Re-running adds only what is new.
  const IndexingReport again = p.index_entries(cat.entries);
  CHECK(again.added == 0);
  CHECK(again.skipped_existing == 12);

  const QueryResponse q = p.query_file(cat.entries[4].path);
  REQUIRE(q.results.size() == 10);
  CHECK(q.results[0].key == Pipeline::key_for_path(cat.entries[4].path));
  CHECK(q.results[0].distance < 1e-6f);
  CHECK(q.results[0].label == cat.entries[4].label);
  CHECK(q.results[0].source == cat.entries[4].path);
  CHECK(q.timings.total_ms > 0);
  CHECK(q.timings.decode_ms > 0);

  QueryOptions two;
  two.k = 2;
  two.category = "square";
  const QueryResponse sq = p.query_key(Pipeline::key_for_path(cat.entries[1].path), two);
  REQUIRE(sq.results.size() == 2);
  for (const QueryResult& h : sq.results) {
    CHECK(h.category == "square");
    CHECK(h.key != Pipeline::key_for_path(cat.entries[1].path));
  }

  const Image image = Image::decode_file(cat.entries[0].path);
  p.add(777, image, "round", "manual");
  CHECK(status_of([&] { p.add(777, image, "round"); }) == Status::AlreadyExists);
  p.upsert(777, image, "square", "moved");
  CHECK(p.index().get(777).label == "moved");
  p.remove(777);
  CHECK_FALSE(p.index().contains(777));
  CHECK(status_of([&] { p.remove(777); }) == Status::NotFound);

  QueryOptions zero;
  zero.k = 0;
  CHECK(status_of([&] { p.query(image, zero); }) == Status::InvalidArgument);
  QueryOptions unknown;
  unknown.category = "triangle";
  CHECK(status_of([&] { p.query(image, unknown); }) == Status::NotFound);
  CHECK(status_of([&] { p.query_file(cat.corrupt); }) == Status::ImageDecode);
}

TEST_CASE("empty catalogue / cancellation / predicted categories need a head", "[pipeline]") {
  Catalogue cat;
  Pipeline p(cat.config);
  const Image image = Image::decode_file(cat.entries[0].path);
  CHECK(status_of([&] { p.query(image); }) == Status::NotFound);

  const IndexingReport r = p.index_entries(cat.entries, [](std::size_t done, std::size_t) { return done < 3; });
  CHECK(r.cancelled);
  CHECK(r.added == 3);
  CHECK(p.index().size() == 3);
  p.index_entries(cat.entries);

  PipelineConfig predicted = cat.config;
  predicted.category_mode = CategoryMode::PredictedHard;
  predicted.training_views = 1;  // augmented views join the training set
  Pipeline q(predicted);
  q.index_entries(cat.entries);
  CHECK(status_of([&] { q.query(image); }) == Status::InvalidArgument);
  std::vector<std::string> stages;  // a cancelled training leaves the catalogue as it was
  const auto cancel_in_head = [&](const TrainingProgress& now) {
    stages.push_back(now.stage);
    return now.epoch < 2;
  };
  CHECK(status_of([&] { q.train_categories(cancel_in_head); }) == Status::Cancelled);
  CHECK(stages.front() == "embedding augmented views");
  CHECK(stages.back() == "training the category head");
  CHECK_FALSE(q.has_category_head());
  const TrainingReport t = q.train_categories();
  CHECK(t.epochs > 0);
  CHECK(t.samples == 2 * cat.entries.size());  // each item and one augmented view of it
  CHECK(q.has_category_head());
  const QueryResponse resp = q.query(image);
  REQUIRE_FALSE(resp.predicted.empty());
  REQUIRE(resp.searched.size() == 1);
  for (const QueryResult& h : resp.results) CHECK(h.category == resp.searched[0]);
}

TEST_CASE("a catalogue saves and opens as one unit / other models are refused", "[pipeline]") {
  Catalogue cat;
  PipelineConfig config = cat.config;
  config.localize = true;
  config.rerank = RerankMode::Fused;
  Pipeline p(config);
  p.index_entries(cat.entries);
  p.train_categories();
  const std::string file = cat.dir.file("cat.dscat");
  p.save(file);
  const QueryResponse before = p.query_file(cat.entries[7].path);
  CHECK(before.localization.has_value());
  CHECK(before.results[0].iou > 0.99f);

  PipelineConfig plain = config;  // same query settings; localisation off here, but the catalogue's settings win
  plain.localize = false;
  const Pipeline reopened = Pipeline::open(file, plain);
  CHECK(reopened.config().localize);
  CHECK(reopened.has_category_head());
  const QueryResponse after = reopened.query_file(cat.entries[7].path);
  REQUIRE(after.results.size() == before.results.size());
  for (std::size_t i = 0; i < after.results.size(); ++i) {
    CHECK(after.results[i].key == before.results[i].key);
    CHECK(after.results[i].iou == before.results[i].iou);
  }

  const CatalogueInfo info = Pipeline::inspect(file);
  CHECK(info.items == 12);
  CHECK(info.dimension == 16);
  CHECK(info.has_category_head);
  CHECK(info.categories.size() == 2);

  PipelineConfig other = cat.config;
  other.backbone_manifest = dstest::write_tiny_backbone(cat.dir.path().string(), 16, 1, 48);  // same shape, other file
  std::ofstream(cat.dir.path().string() + "/tiny_backbone_16_1.pt", std::ios::app) << " ";  // different bytes
  CHECK(status_of([&] { Pipeline::open(file, other); }) == Status::ModelMismatch);
  CHECK(status_of([&] { Pipeline::open(cat.dir.file("missing.dscat"), plain); }) == Status::Io);
}

TEST_CASE("a catalogue-adapted embedding is trained / searched / kept in sync / saved", "[pipeline]") {
  Catalogue cat;
  PipelineConfig config = cat.config;
  config.adapt_embedding = true;
  config.adaptation_training.hidden1 = 32;
  config.adaptation_training.hidden2 = 8;
  config.adaptation_training.max_epochs = 60;
  Pipeline p(config);
  p.index_entries(cat.entries);
  CHECK_FALSE(p.has_embedding_adaptation());
  const QueryResponse raw = p.query_file(cat.entries[3].path);
  p.train_categories();
  REQUIRE(p.has_embedding_adaptation());
  const QueryResponse adapted = p.query_file(cat.entries[3].path);
  REQUIRE(adapted.results.size() == 10);
  CHECK(adapted.results[0].key == Pipeline::key_for_path(cat.entries[3].path));  // a photo is still closest to itself
  CHECK(adapted.results[0].distance < 1e-6f);
  // Distances are now between unit 8-d vectors, not 16-d backbone embeddings: the ranking changed space.
  bool differs = false;
  for (std::size_t i = 1; i < 10; ++i) differs |= std::abs(adapted.results[i].distance - raw.results[i].distance) > 1e-4f;
  CHECK(differs);
  for (const QueryResult& r : adapted.results) CHECK(r.distance <= 4.0f + 1e-5f);

  // Items added or removed after training are projected / dropped too.
  p.add(777, Image::decode_file(cat.entries[3].path), "round", "copy");
  const QueryResponse with_copy = p.query_file(cat.entries[3].path, {2, {}, {}, CategoryMode::Off, {}, {}});
  REQUIRE(with_copy.results.size() == 2);
  CHECK((with_copy.results[0].key == 777 || with_copy.results[1].key == 777));
  p.remove(777);
  for (const QueryResult& r : p.query_file(cat.entries[3].path).results) CHECK(r.key != 777u);

  const std::string file = cat.dir.file("adapted.dscat");
  p.save(file);
  CHECK(Pipeline::inspect(file).has_embedding_adaptation);
  PipelineConfig plain = cat.config;  // the catalogue's adaptation is used whatever the config says
  const Pipeline reopened = Pipeline::open(file, plain);
  CHECK(reopened.has_embedding_adaptation());
  const QueryResponse after = reopened.query_file(cat.entries[3].path);
  REQUIRE(after.results.size() == adapted.results.size());
  for (std::size_t i = 0; i < after.results.size(); ++i) {
    CHECK(after.results[i].key == adapted.results[i].key);
    CHECK(after.results[i].distance == Approx(adapted.results[i].distance).margin(1e-5));
  }
}

TEST_CASE("IoU reranking reorders only the top rerank_depth results", "[pipeline]") {
  Catalogue cat;
  PipelineConfig config = cat.config;
  config.localize = true;
  config.rerank_depth = 4;
  Pipeline p(config);
  p.index_entries(cat.entries);
  QueryOptions o;
  o.k = 12;
  const QueryResponse by_distance = p.query_file(cat.entries[5].path, o);
  o.rerank = RerankMode::Iou;
  const QueryResponse by_iou = p.query_file(cat.entries[5].path, o);
  REQUIRE(by_iou.results.size() == 12);
  std::set<std::uint64_t> nearest, reranked;
  for (std::size_t i = 0; i < 4; ++i) {
    nearest.insert(by_distance.results[i].key);
    reranked.insert(by_iou.results[i].key);
    if (i > 0) CHECK(by_iou.results[i - 1].iou >= by_iou.results[i].iou);
    CHECK(by_iou.results[i].score == Approx(1.0f - by_iou.results[i].iou));
  }
  CHECK(reranked == nearest);  // the same four, in IoU order
  bool reordered = false;  // this query's four nearest are not already in IoU order, so the check above bites
  for (std::size_t i = 0; i < 4; ++i) reordered |= by_iou.results[i].key != by_distance.results[i].key;
  CHECK(reordered);
  for (std::size_t i = 4; i < 12; ++i) {
    CHECK(by_iou.results[i].key == by_distance.results[i].key);  // the tail keeps its distance order
    CHECK(by_iou.results[i].score == 1.0f);  // on the reranked scale, as if its IoU were 0: never below the reranked ones
  }
}

TEST_CASE("one result per label: k distinct items, each its best photo", "[pipeline]") {
  Catalogue cat;
  Pipeline p(cat.config);
  p.index_entries(cat.entries);
  // Four more photos of item round-2: the same picture under other keys.
  const Image photo = Image::decode_file(cat.entries[4].path);
  for (std::uint64_t key = 1; key <= 4; ++key) p.add(key, photo, "round", cat.entries[4].label);
  QueryOptions o;
  o.k = 5;
  o.one_result_per_label = false;
  const QueryResponse photos = p.query(photo, o);
  REQUIRE(photos.results.size() == 5);
  for (const QueryResult& r : photos.results) CHECK(r.label == cat.entries[4].label);  // one item fills the list
  o.one_result_per_label = true;
  const QueryResponse items = p.query(photo, o);
  REQUIRE(items.results.size() == 5);
  std::set<std::string> labels;
  for (const QueryResult& r : items.results) labels.insert(r.label);
  CHECK(labels.size() == 5);
  CHECK(items.results[0].label == cat.entries[4].label);
  QueryOptions deep;
  deep.k = 20;
  deep.one_result_per_label = false;
  CHECK(items.results[1].key == p.query(photo, deep).results[5].key);  // the next item after round-2's five photos
  o.k = 100;  // more than the 12 labels: every label once
  CHECK(p.query(photo, o).results.size() == 12);
}

TEST_CASE("CSV and folder catalogues / configuration files", "[pipeline]") {
  Catalogue cat;
  const std::string csv = cat.dir.file("items.csv");
  {
    std::ofstream f(csv);
    f << "label,path,category\n";
    for (const auto& e : cat.entries) f << "\"" << e.label << ", the \"\"best\"\"\"," << std::filesystem::path(e.path).filename().string() << "," << e.category << "\n";
  }
  Pipeline p(cat.config);
  CHECK(p.index_csv(csv).added == 12);
  CHECK(p.index().get(Pipeline::key_for_path(cat.entries[0].path)).label == cat.entries[0].label + ", the \"best\"");

  const std::string tree = cat.dir.file("tree");
  for (const auto& e : cat.entries) {
    std::filesystem::create_directories(tree + "/" + e.category);
    std::filesystem::copy_file(e.path, tree + "/" + e.category + "/" + std::filesystem::path(e.path).filename().string());
  }
  Pipeline f(cat.config);
  CHECK(f.index_folder(tree).added == 12);
  CHECK(f.index().category_count() == 2);

  const std::string bad_csv = cat.dir.file("bad.csv");
  std::ofstream(bad_csv) << "path,label\nx.png,y\n";
  CHECK(status_of([&] { f.index_csv(bad_csv); }) == Status::InvalidArgument);

  const std::string config_file = cat.dir.file("config.json");
  std::ofstream(config_file) << R"({"backbone": "tiny_backbone_16_0.pt.json", "k": 3, "rerank": "iou", "embedding": {"localize": false}})";
  const PipelineConfig loaded = PipelineConfig::load(config_file);
  CHECK(loaded.k == 3);
  CHECK(loaded.rerank == RerankMode::Iou);
  CHECK(loaded.backbone_manifest == cat.dir.file("tiny_backbone_16_0.pt.json"));
  std::ofstream(config_file) << R"({"backbone": "x", "rerankk": "iou"})";
  CHECK(status_of([&] { PipelineConfig::load(config_file); }) == Status::InvalidArgument);
}

TEST_CASE("a catalogue opened with its backbone fed another input size is refused, never mixed", "[pipeline][model]") {
  Catalogue cat;
  Pipeline p(cat.config);
  p.index_entries(cat.entries);
  const std::string file = cat.dir.file("at32.dscat");
  p.save(file);
  // The same network file, fed 48 x 48 pixels (it is fully convolutional: it loads and embeds).
  const std::filesystem::path wide = cat.dir.path() / "wide";
  std::filesystem::create_directories(wide);
  const std::string model = std::filesystem::path(cat.config.backbone_manifest).stem().string();  // tiny_backbone_16_0.pt
  std::filesystem::copy_file(cat.dir.path() / model, wide / model);
  PipelineConfig resized = cat.config;
  resized.backbone_manifest = dstest::write_manifest(wide.string(), model, R"({"features": 0, "logits": 2})", 48, R"(, "feature_dim": 16)");
  Pipeline fresh(resized);  // a new catalogue at 48 pixels is fine
  try {
    Pipeline::open(file, resized);
    FAIL("a catalogue embedded at 32 x 32 opened with a 48 x 48 manifest");
  } catch (const Error& e) {
    CHECK(e.status() == Status::ModelMismatch);
    CHECK(std::string(e.what()).find("\"width\":48") != std::string::npos);
  }
  CHECK(Pipeline::open(file, cat.config).index().size() == cat.entries.size());  // the file is untouched
}

TEST_CASE("a configured confidence model scores every answer - below min_confidence the answer is no match", "[pipeline][confidence]") {
  Catalogue cat;
  const std::string config_file = cat.dir.file("confidence.json");
  std::ofstream(config_file) << R"({"backbone": "tiny_backbone_16_0.pt.json", "category_mode": "off",
                                    "confidence": {"bias": 2, "distance": -4, "margin": 1}, "min_confidence": 0.5})";
  PipelineConfig config = PipelineConfig::load(config_file);
  CHECK(config.confidence.bias == 2.0f);
  CHECK(config.confidence.distance == -4.0f);
  CHECK(config.confidence.margin == 1.0f);
  CHECK(config.confidence.probability == 0.0f);
  CHECK(config.min_confidence == 0.5f);
  Pipeline p(config);
  p.index_entries(cat.entries);
  const QueryResponse near = p.query(Image::decode_file(cat.entries[0].path));
  REQUIRE(near.results.size() >= 2);
  // Its own photo at distance 0: z = 2 + margin to the next item.
  const float margin = std::min(near.results[1].distance - near.results[0].distance, kMaxItemMargin);
  CHECK(near.confidence == Approx(1 / (1 + std::exp(-(2 + margin)))));
  CHECK_FALSE(near.no_match);
  // Only photos of other items: farther, less sure; a high enough min_confidence answers no match.
  QueryOptions others;
  others.filter = [&](std::uint64_t key) { return key != near.results[0].key; };
  const QueryResponse far = p.query(Image::decode_file(cat.entries[0].path), others);
  CHECK(far.confidence < near.confidence);
  PipelineConfig strict = config;
  strict.min_confidence = (far.confidence + near.confidence) / 2;
  Pipeline q(strict);
  q.index_entries(cat.entries);
  CHECK(q.query(Image::decode_file(cat.entries[0].path), others).no_match);
  CHECK_FALSE(q.query(Image::decode_file(cat.entries[0].path)).no_match);
  // A model that weighs the match probability gives no confidence on a catalogue that is not fine-tuned.
  PipelineConfig with_probability = cat.config;
  with_probability.confidence = {1.0f, 1.0f, -1.0f, 0.0f};
  Pipeline r(with_probability);
  r.index_entries(cat.entries);
  CHECK(r.query(Image::decode_file(cat.entries[0].path)).confidence == -1.0f);
  // min_confidence needs a model; the model's keys are checked.
  std::ofstream(config_file) << R"({"backbone": "x", "min_confidence": 0.5})";
  CHECK(status_of([&] { PipelineConfig::load(config_file); }) == Status::InvalidArgument);
  std::ofstream(config_file) << R"({"backbone": "x", "confidence": {"bias": 1, "slope": 2}})";
  CHECK(status_of([&] { PipelineConfig::load(config_file); }) == Status::InvalidArgument);
}

TEST_CASE("queries from many threads while the catalogue changes", "[pipeline][concurrency]") {
  Catalogue cat;
  Pipeline p(cat.config);
  p.index_entries(cat.entries);
  std::vector<Image> images;
  for (const auto& e : cat.entries) images.push_back(Image::decode_file(e.path));
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0}, served{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t)
    readers.emplace_back([&, t] {
      for (std::size_t i = static_cast<std::size_t>(t); !stop; i = (i + 1) % images.size()) {
        const QueryResponse r = p.query(images[i]);
        wrong += r.results.empty() || r.results[0].key != Pipeline::key_for_path(cat.entries[i].path);
        ++served;
      }
    });
  // The writer's pictures differ from the catalogue's (an identical one would tie at distance 0 and,
  // having the smaller key, legitimately rank first).
  // No dependence on thread timing: the writer goes on (at least 20 rounds) until the readers have
  // served 60 queries while it was writing, however slowly the machine schedules them.
  const Image blank(128, 96);
  const int served_before = served;
  for (int n = 0; n < 20 || served - served_before < 60; ++n) {
    p.add(10000 + n, blank, "extra");
    p.remove(10000 + n);
  }
  stop = true;
  for (auto& t : readers) t.join();
  CHECK(served - served_before >= 60);
  CHECK(wrong == 0);
}

TEST_CASE("the HTML report embeds the queries and references every result", "[pipeline][report]") {
  Catalogue cat;
  PipelineConfig config = cat.config;
  config.localize = true;
  Pipeline p(config);
  p.index_entries(cat.entries);
  std::vector<ReportQuery> queries;
  for (int i : {0, 5}) queries.push_back({cat.entries[i].path, Image::decode_file(cat.entries[i].path), p.query_file(cat.entries[i].path)});
  const std::string file = cat.dir.file("report.html");
  write_html_report(file, queries, p.config());
  std::ifstream f(file);
  const std::string html((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  CHECK(html.find("<!doctype html>") == 0);
  CHECK(html.find("data:image/jpeg;base64,") != std::string::npos);
  for (const ReportQuery& q : queries)
    for (const QueryResult& r : q.response.results) CHECK(html.find("data-key=\"" + std::to_string(r.key) + "\"") != std::string::npos);
}

TEST_CASE("a save over a catalogue another writer changed fails with Conflict / the lock serialises writers", "[pipeline][conflict]") {
  Catalogue cat;
  const std::string file = cat.dir.file("shared.dscat");
  {
    Pipeline p(cat.config);
    p.index_entries({cat.entries[0], cat.entries[1]});
    p.save(file);
  }
  Pipeline a = Pipeline::open(file, cat.config), b = Pipeline::open(file, cat.config);
  a.add(1, Image::decode_file(cat.entries[2].path), "round", "a");
  b.add(2, Image::decode_file(cat.entries[3].path), "round", "b");
  a.save(file);
  const std::vector<std::uint8_t> after_a = dstest::read_bytes(file);
  CHECK(status_of([&] { b.save(file); }) == Status::Conflict);
  CHECK(dstest::read_bytes(file) == after_a);  // nothing a stored is lost
  a.add(3, Image::decode_file(cat.entries[4].path), "round", "a2");
  a.save(file);  // a's own later save expects its own last generation
  b.save(cat.dir.file("elsewhere.dscat"));  // another path is not guarded
  CHECK(Pipeline::open(file, cat.config).index().size() == 4);

  // Opened through a linked folder, saved by the file's own name: still checked.
  std::filesystem::create_directory_symlink(cat.dir.path(), cat.dir.file("linked"));
  Pipeline c = Pipeline::open(cat.dir.file("linked/shared.dscat"), cat.config);
  a.remove(3);
  a.save(file);
  CHECK(status_of([&] { c.save(file); }) == Status::Conflict);

  // The writer lock: a second holder waits (here: gives up after its timeout with Conflict).
  const CatalogueLock held(file);
  CHECK(status_of([&] { CatalogueLock(file, std::chrono::milliseconds(50)); }) == Status::Conflict);
}

TEST_CASE("an item of a category the model was not trained on warns and stays findable", "[pipeline][categories]") {
  Catalogue cat;
  PipelineConfig config = cat.config;
  config.category_mode = CategoryMode::PredictedHard;
  Pipeline p(config);
  p.index_entries(cat.entries);
  p.train_categories();
  CHECK(p.untrained_categories().empty());
  const Image photo = Image::decode_file(cat.entries[5].path);
  CHECK_FALSE(p.add(500, photo, "round", "known category").untrained_category);
  const AddOutcome added = p.add(501, photo, "new shelf", "new item");
  CHECK(added.untrained_category);
  CHECK(p.untrained_categories() == std::vector<std::string>{"new shelf"});
  QueryOptions own_key_excluded;
  own_key_excluded.filter = [](std::uint64_t key) { return key != 500; };
  const QueryResponse r = p.query(photo, own_key_excluded);
  CHECK(std::find(r.searched.begin(), r.searched.end(), "new shelf") != r.searched.end());
  CHECK(r.results.front().key == 501);  // the identical photo, found although the head cannot predict its category
  p.train_categories();
  CHECK(p.untrained_categories().empty());
}

TEST_CASE("a catalogue with valid checksums but JSON of the wrong types is Corrupt", "[pipeline][hostile]") {
  Catalogue cat;
  const detail::FileKind catalogue_kind{{'D', 'S', 'C', 'A', 'T', 'L', 'G', '\0'}, 1, 0, "catalogue"};
  const std::string file = cat.dir.file("typed.dscat");
  for (const std::string conf : {R"({"embedding": {}, "backbone_sha256": 5})", R"({"embedding": [1, 2]})", R"([])"}) {
    detail::SectionWriter writer(file, catalogue_kind);
    writer.add_section(detail::tag("CONF"), conf.data(), conf.size());
    writer.add_section(detail::tag("SRCS"), "{}", 2);
    writer.commit();
    try {
      Pipeline::open(file, cat.config);
      FAIL("opened a catalogue whose CONF is " << conf);
    } catch (const Error& e) {
      CHECK(e.status() == Status::Corrupt);
      CHECK(std::string(e.what()).find("typed.dscat") != std::string::npos);
    }
    CHECK(status_of([&] { Pipeline::inspect(file); }) == Status::Corrupt);
  }
}

TEST_CASE("settings out of range are refused when the Pipeline is built / a huge per-query k lists the catalogue", "[pipeline][hostile]") {
  Catalogue cat;
  PipelineConfig bad = cat.config;
  bad.runtime.threads = 100000;
  try {
    Pipeline p(bad);
    FAIL("a Pipeline accepted 100000 threads");
  } catch (const Error& e) {
    CHECK(e.status() == Status::InvalidArgument);
    CHECK(std::string(e.what()).find("threads") != std::string::npos);
  }
  bad = cat.config;
  bad.soft_threshold = -0.5f;
  CHECK(status_of([&] { Pipeline p(bad); }) == Status::InvalidArgument);
  Pipeline p(cat.config);
  p.index_entries(cat.entries);
  QueryOptions huge;
  huge.k = std::size_t(1) << 60;
  CHECK(p.query_file(cat.entries[0].path, huge).results.size() == 12);
  huge.k = 0;
  CHECK(status_of([&] { p.query_file(cat.entries[0].path, huge); }) == Status::InvalidArgument);
}

TEST_CASE("analyze_entries: the indexing path without storing - a bad image costs only its own analysis", "[pipeline]") {
  Catalogue cat;
  PipelineConfig localizing = cat.config;
  localizing.localize = true;
  Pipeline p(localizing);
  std::vector<CatalogueEntry> entries(cat.entries.begin(), cat.entries.begin() + 4);
  entries.insert(entries.begin() + 2, {cat.corrupt, "broken", "round", std::nullopt});
  const std::vector<EntryAnalysis> analysed = p.analyze_entries(entries);
  REQUIRE(analysed.size() == 5);
  for (std::size_t i : {0, 1, 3, 4}) {
    REQUIRE(analysed[i].analysis);
    CHECK(analysed[i].error.empty());
    CHECK(analysed[i].analysis->contour);
    CHECK_FALSE(analysed[i].analysis->localization);  // full-size images are not kept
  }
  CHECK_FALSE(analysed[2].analysis);
  CHECK(analysed[2].error.find("corrupt.jpg") != std::string::npos);
  CHECK(p.index().size() == 0);
  // The same embeddings as indexing the same entries stores (same batches), the same failure.
  const IndexingReport indexed = p.index_entries(entries);
  REQUIRE(indexed.failures.size() == 1);
  CHECK(indexed.failures[0].reason == analysed[2].error);
  for (std::size_t i : {0, 1, 3, 4}) CHECK(p.index().get(Pipeline::key_for_path(entries[i].path)).embedding == analysed[i].analysis->embedding);
  CHECK(status_of([&] { p.analyze_entries(entries, [](std::size_t, std::size_t) { return false; }); }) == Status::Cancelled);
}

TEST_CASE("threads = 0 means every core, in the configuration as in the runtime", "[pipeline][config]") {
  Catalogue cat;
  PipelineConfig config = cat.config;
  config.runtime.threads = 0;
  const Pipeline p(config);
  CHECK(p.config().runtime.threads == static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
}

TEST_CASE("a category head that predicts more categories than the catalogue defines is refused when opened", "[pipeline][hostile]") {
  Catalogue cat;
  Pipeline wide(cat.config), narrow(cat.config);
  wide.index_entries(cat.entries);
  wide.add_categories({"a category with no items"});
  wide.train_categories();
  narrow.index_entries(cat.entries);
  const std::string wide_file = cat.dir.file("wide.dscat"), narrow_file = cat.dir.file("narrow.dscat"), mixed = cat.dir.file("mixed.dscat");
  wide.save(wide_file);
  narrow.save(narrow_file);
  // narrow's sections with wide's head: every checksum valid, the head's classes beyond the categories.
  const detail::FileKind catalogue_kind{{'D', 'S', 'C', 'A', 'T', 'L', 'G', '\0'}, 1, 0, "catalogue"};
  const detail::SectionReader from_narrow(narrow_file, catalogue_kind), from_wide(wide_file, catalogue_kind);
  detail::SectionWriter writer(mixed, catalogue_kind);
  for (const char* name : {"CONF", "SRCS", "META", "KEYS", "CATS", "VECS", "LABL", "MASK"}) {
    const detail::SectionTag tag{name[0], name[1], name[2], name[3]};
    if (!from_narrow.has(tag)) continue;
    const std::vector<std::uint8_t> bytes = from_narrow.read(tag, 1u << 30);
    writer.add_section(tag, bytes.data(), bytes.size());
  }
  const std::vector<std::uint8_t> head = from_wide.read(detail::tag("HEAD"), 1u << 30);
  writer.add_section(detail::tag("HEAD"), head.data(), head.size());
  writer.commit();
  try {
    Pipeline::open(mixed, cat.config);
    FAIL("opened a catalogue whose head predicts a category it does not define");
  } catch (const Error& e) {
    CHECK(e.status() == Status::Corrupt);
    CHECK(std::string(e.what()).find("predicts 3 categories, but the catalogue defines 2") != std::string::npos);
  }
}
