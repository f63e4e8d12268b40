// Fine-tuning the backbone (fine_tuning.hpp) with a tiny generated fine-tunable backbone.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <opencv2/imgproc.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "domainsearch/error.hpp"
#include "domainsearch/pipeline.hpp"
#include "training/augment.hpp"
#include "training/calibration.hpp"
#include "training/fine_tuned_model.hpp"
#include "test_catalogue.hpp"
#include "test_models.hpp"
#include "capped_child.hpp"
#include "test_util.hpp"

using namespace domainsearch;
using dstest::Catalogue;
using dstest::status_of;

namespace {

// The shared test catalogue with a fine-tunable backbone and a short, fast recipe.
PipelineConfig fine_tuning_config(const Catalogue& cat, int first_stage = 2) {
  PipelineConfig c = cat.config;
  c.backbone_manifest = dstest::write_trainable_backbone(cat.dir.path().string());
  c.fine_tuning.enabled = true;
  c.fine_tuning.first_stage = first_stage;
  c.fine_tuning.epochs = 3;
  c.fine_tuning.views = 1;
  c.fine_tuning.batch_size = 8;
  c.fine_tuning.classifier_learning_rate = 0.05f;
  c.fine_tuning.backbone_learning_rate = 0.01f;
  return c;
}

std::vector<float> embedding_of(const Pipeline& p, std::uint64_t key) { return p.index().get(key).embedding; }

std::vector<std::uint64_t> result_keys(const QueryResponse& r) {
  std::vector<std::uint64_t> keys;
  for (const QueryResult& x : r.results) keys.push_back(x.key);
  return keys;
}

// A fine-tuned model small enough to write by hand: one 2 x 3 parameter, two items of two categories
// and a linear classifier over a 2-d embedding. tests/fuzz/corpus/fine_tuned/tiny.ftun encodes it.
detail::FineTunedModel tiny_fine_tuned_model() {
  detail::FineTunedModel m;
  m.first_stage = 2;
  m.parameters.push_back({"stage2_conv_w", {2, 3}, {0.5f, -0.25f, 1, 2, -1, 0.125f}});
  m.item_labels = {"apple", "tile"};
  m.item_categories = {"round", "square"};
  m.temperature = 1.5f;
  m.classifier = CategoryPredictor::linear(2, 2, {1, 0, 0, 1}, {0, 0});
  return m;
}

// `ftun` (an encoding of tiny_fine_tuned_model()) with its parameter's declared shape replaced by
// `shape` (JSON) and nothing else changed: still six values follow the description.
std::vector<std::uint8_t> with_declared_shape(const std::vector<std::uint8_t>& ftun, const std::string& shape) {
  std::uint32_t meta_size = 0;
  std::memcpy(&meta_size, ftun.data() + 4, sizeof meta_size);
  std::string meta(ftun.begin() + 8, ftun.begin() + 8 + static_cast<long>(meta_size));
  const std::string declared = "\"shape\":[2,3]";
  const std::size_t at = meta.find(declared);
  REQUIRE(at != std::string::npos);
  meta.replace(at, declared.size(), "\"shape\":" + shape);
  const auto new_size = static_cast<std::uint32_t>(meta.size());
  std::vector<std::uint8_t> out(ftun.begin(), ftun.begin() + 4);
  out.insert(out.end(), reinterpret_cast<const std::uint8_t*>(&new_size), reinterpret_cast<const std::uint8_t*>(&new_size) + sizeof new_size);
  out.insert(out.end(), meta.begin(), meta.end());
  out.insert(out.end(), ftun.begin() + 8 + static_cast<long>(meta_size), ftun.end());
  return out;
}


}  // namespace

TEST_CASE("fine-tuning trains the chosen stages / re-embeds the catalogue / reports progress", "[fine-tuning]") {
  Catalogue cat;
  for (int first_stage : {2, 1}) {
    Pipeline p(fine_tuning_config(cat, first_stage));
    p.index_entries(cat.entries);
    const std::uint64_t key = Pipeline::key_for_path(cat.entries[0].path);
    const std::vector<float> before = embedding_of(p, key);
    std::set<std::string> stages;
    std::set<int> epochs;
    float last_loss = -1;
    const FineTuningReport r = p.fine_tune({}, [&](const TrainingProgress& t) {
      stages.insert(t.stage);
      if (t.stage == "training") epochs.insert(t.epoch), last_loss = t.loss;
      CHECK(t.done <= t.total);
      return true;
    });
    CHECK(p.is_fine_tuned());
    CHECK(p.has_category_head());
    CHECK(r.photos == 12);
    CHECK(r.items == 12);
    // One photo per item: none can be held out, so each item's one augmented view is held out for
    // calibration instead (an item of one image still gets a calibrated probability).
    CHECK(r.views == 12);
    CHECK(r.calibration_accuracy > 0.0f);
    CHECK(std::isfinite(r.final_loss));
    CHECK(last_loss == Approx(r.final_loss));
    CHECK(stages == std::set<std::string>{"caching", "training", "calibrating", "re-embedding"});
    CHECK(epochs == std::set<int>{1, 2, 3});
    CHECK(embedding_of(p, key) != before);
    CHECK(p.index().size() == 12);

    // Only the parameters of stages >= first_stage are replaced.
    const std::string file = cat.dir.file("ft.dscat");
    p.save(file);
    const CatalogueInfo info = Pipeline::inspect(file);
    CHECK(info.has_fine_tuned_backbone);
    CHECK(info.fine_tuned_first_stage == first_stage);
    std::set<std::string> trained(info.fine_tuned_parameters.begin(), info.fine_tuned_parameters.end());
    std::set<std::string> expected = {"stage2_conv_w", "stage2_conv_b"};
    if (first_stage == 1) expected.insert({"stage1_conv_w", "stage1_conv_b"});
    CHECK(trained == expected);
    CHECK(info.fine_tuned_items.size() == 12);
  }
}

TEST_CASE("a fine-tuned catalogue reopens identically / embeds new items with the fine-tuned network / refuses another backbone", "[fine-tuning]") {
  Catalogue cat;
  PipelineConfig config = fine_tuning_config(cat);
  config.category_mode = CategoryMode::PredictedSoft;
  std::vector<CatalogueEntry> first(cat.entries.begin(), cat.entries.end() - 2);
  Pipeline p(config);
  p.index_entries(first);
  p.train_categories();  // fine_tuning.enabled: fine-tunes
  REQUIRE(p.is_fine_tuned());

  // An item added after training is embedded by the fine-tuned network: the same as re-embedding it
  // from scratch in a reopened catalogue, and not what the file's network makes of it.
  const CatalogueEntry& late = cat.entries.back();
  const Image late_image = Image::decode_file(late.path);
  p.add(1234, late_image, late.category, late.label, late.path);
  CHECK(p.analyze({late_image}).front().embedding == embedding_of(p, 1234));
  CHECK(Pipeline(config).analyze({late_image}).front().embedding != embedding_of(p, 1234));

  const std::string file = cat.dir.file("ft.dscat");
  p.save(file);
  const Pipeline reopened = Pipeline::open(file, config);
  CHECK(reopened.is_fine_tuned());
  for (const CatalogueEntry& e : cat.entries) {
    const QueryResponse a = p.query_file(e.path), b = reopened.query_file(e.path);
    CHECK(result_keys(a) == result_keys(b));
    REQUIRE(a.predicted.size() == b.predicted.size());
    for (std::size_t i = 0; i < a.predicted.size(); ++i) {
      CHECK(a.predicted[i].category == b.predicted[i].category);
      CHECK(a.predicted[i].probability == Approx(b.predicted[i].probability));
    }
  }
  CHECK(reopened.analyze({late_image}).front().embedding == embedding_of(p, 1234));

  // Opened by a configuration that does not fine-tune: no category head is trained on top of the
  // fine-tuned classifier (it would never be used, and would change the fingerprint).
  PipelineConfig frozen = config;
  frozen.fine_tuning.enabled = false;
  Pipeline without = Pipeline::open(file, frozen);
  const std::string fingerprint = without.model_fingerprint();
  CHECK(status_of([&] { without.train_categories(); }) == Status::InvalidArgument);
  CHECK(without.model_fingerprint() == fingerprint);

  // One network per analyse call: a fine-tuning installed while Pipeline::analyze_entries runs (here,
  // between its batches) does not embed the later batches with the new network.
  PipelineConfig small_batches = config;
  small_batches.batch_size = 2;
  Pipeline q(small_batches);
  q.index_entries(first);
  const std::vector<EntryAnalysis> before = q.analyze_entries(cat.entries);
  bool tuned = false;
  const std::vector<EntryAnalysis> during = q.analyze_entries(cat.entries, [&](std::size_t done, std::size_t) {
    if (done >= 2 && !tuned) tuned = true, std::thread([&] { q.fine_tune(); }).join();
    return true;
  });
  REQUIRE(tuned);
  REQUIRE(q.is_fine_tuned());
  for (std::size_t i = 0; i < cat.entries.size(); ++i) CHECK(during[i].analysis->embedding == before[i].analysis->embedding);

  // Another backbone file (same shapes, other weights) is refused.
  PipelineConfig other = config;
  other.backbone_manifest = dstest::write_trainable_backbone(cat.dir.path().string(), 99);
  CHECK(status_of([&] { Pipeline::open(file, other); }) == Status::ModelMismatch);
}

TEST_CASE("a channels-last backbone fine-tunes to the contiguous result, to float rounding", "[fine-tuning]") {
  Catalogue cat;
  const PipelineConfig contiguous = fine_tuning_config(cat, /*first_stage=*/1);  // trains a 3x3 conv too: its layouts differ
  PipelineConfig channels_last = contiguous;
  std::ifstream in(contiguous.backbone_manifest);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  channels_last.backbone_manifest = cat.dir.file("trainable_channels_last.json");
  std::ofstream(channels_last.backbone_manifest) << "{\"memory_format\": \"channels_last\", " << text.substr(text.find('{') + 1);

  std::vector<std::vector<float>> frozen[2], trained[2];
  for (int layout = 0; layout < 2; ++layout) {
    Pipeline p(layout ? channels_last : contiguous);
    p.index_entries(cat.entries);
    for (const CatalogueEntry& e : cat.entries) frozen[layout].push_back(embedding_of(p, Pipeline::key_for_path(e.path)));
    p.fine_tune({});
    for (const CatalogueEntry& e : cat.entries) trained[layout].push_back(embedding_of(p, Pipeline::key_for_path(e.path)));
  }
  // A layout mix-up (e.g. the trunk cache copied in the wrong order, or weights exported in NHWC
  // order) would move the embeddings as far as training does; rounding moves them far less (Adam's
  // first steps can amplify it on near-zero gradients, hence the margin).
  double moved = 0, apart = 0, apart_frozen = 0;
  for (std::size_t i = 0; i < cat.entries.size(); ++i)
    for (std::size_t d = 0; d < frozen[0][i].size(); ++d) {
      moved = std::max(moved, double(std::abs(trained[0][i][d] - frozen[0][i][d])));
      apart = std::max(apart, double(std::abs(trained[1][i][d] - trained[0][i][d])));
      apart_frozen = std::max(apart_frozen, double(std::abs(frozen[1][i][d] - frozen[0][i][d])));
    }
  INFO("training moved an embedding value by up to " << moved << "; the layouts differ by up to " << apart << " (" << apart_frozen << " before training)");
  CHECK(apart_frozen < 1e-5);
  CHECK(moved > 0.05);
  CHECK(apart < 0.05 * moved);
}

TEST_CASE("cancelled or failed fine-tuning leaves the catalogue as it was", "[fine-tuning]") {
  Catalogue cat;
  Pipeline p(fine_tuning_config(cat));
  p.index_entries(cat.entries);
  const std::uint64_t key = Pipeline::key_for_path(cat.entries[3].path);
  const std::vector<float> before = embedding_of(p, key);
  for (const char* stop_in : {"caching", "training", "re-embedding"}) {
    CHECK(status_of([&] {
            p.fine_tune({}, [&](const TrainingProgress& t) { return !(t.stage == stop_in && t.done >= 1); });
          }) == Status::Cancelled);
    CHECK_FALSE(p.is_fine_tuned());
    CHECK(embedding_of(p, key) == before);
    CHECK(p.index().size() == 12);
  }

  // An item added from pixels cannot be re-embedded: refused up front, nothing changes.
  p.add(77, Image::decode_file(cat.entries[0].path), "round", "pixels");
  CHECK(status_of([&] { p.fine_tune(); }) == Status::InvalidArgument);
  CHECK_FALSE(p.is_fine_tuned());
  p.remove(77);

  // Training on other photos (and an empty catalogue): fewer than 2 item labels is refused.
  Pipeline empty(fine_tuning_config(cat));
  CHECK(status_of([&] { empty.fine_tune({cat.entries[0]}); }) == Status::InvalidArgument);

  // A backbone that exports no stages cannot be fine-tuned.
  PipelineConfig frozen = fine_tuning_config(cat);
  frozen.backbone_manifest = cat.config.backbone_manifest;
  Pipeline q(frozen);
  q.index_entries(cat.entries);
  CHECK(status_of([&] { q.fine_tune(); }) == Status::InvalidArgument);

  // Out-of-range options name the key.
  PipelineConfig bad = fine_tuning_config(cat);
  bad.fine_tuning.first_stage = 3;  // the tiny backbone has stages 0..2: nothing left to train
  Pipeline r(bad);
  r.index_entries(cat.entries);
  try {
    r.fine_tune();
    FAIL("fine_tune accepted first_stage 3 of 3 stages");
  } catch (const Error& e) {
    CHECK(e.status() == Status::InvalidArgument);
    CHECK(std::string(e.what()).find("first_stage") != std::string::npos);
  }
}

TEST_CASE("an item whose image is gone by fine-tuning is dropped and reported, the rest is fine-tuned", "[fine-tuning]") {
  Catalogue cat;
  Pipeline p(fine_tuning_config(cat));
  p.index_entries(cat.entries);
  const std::string gone = cat.entries[5].path;
  std::filesystem::remove(gone);
  const FineTuningReport r = p.fine_tune();
  CHECK(r.skipped == 1);  // not trained on either
  REQUIRE(r.dropped.size() == 1);
  CHECK(r.dropped[0].path == gone);
  CHECK(r.dropped[0].reason.find(gone) != std::string::npos);
  CHECK(p.is_fine_tuned());
  CHECK(p.index().size() == 11);
  CHECK_FALSE(p.index().contains(Pipeline::key_for_path(gone)));
  // Its source goes with it: the saved catalogue lists 11 sources and reopens fine-tuned.
  const std::string file = cat.dir.file("dropped.dscat");
  p.save(file);
  const Pipeline reopened = Pipeline::open(file, fine_tuning_config(cat));
  CHECK(reopened.is_fine_tuned());
  CHECK(reopened.index().size() == 11);
  CHECK(reopened.model_fingerprint() == p.model_fingerprint());

  // More than a tenth of the catalogue unreadable (a folder not mounted?): refused, nothing changes.
  Pipeline q(fine_tuning_config(cat));
  q.index_entries(cat.entries);  // 11 (the gone file fails its row)
  std::filesystem::remove(cat.entries[6].path);
  std::filesystem::remove(cat.entries[7].path);
  const std::vector<float> before = embedding_of(q, Pipeline::key_for_path(cat.entries[0].path));
  try {
    q.fine_tune();
    FAIL("fine-tuning dropped 2 of 11 items without a word");
  } catch (const Error& e) {
    CHECK(e.status() == Status::Io);
    CHECK(std::string(e.what()).find("2 of the catalogue's 11 images") != std::string::npos);
  }
  CHECK_FALSE(q.is_fine_tuned());
  CHECK(q.index().size() == 11);
  CHECK(embedding_of(q, Pipeline::key_for_path(cat.entries[0].path)) == before);
}

TEST_CASE("fine-tuning on other photos trains an item classifier that names their categories", "[fine-tuning]") {
  Catalogue cat;
  PipelineConfig config = fine_tuning_config(cat);
  config.fine_tuning.epochs = 40;
  config.category_mode = CategoryMode::PredictedHard;
  Pipeline p(config);
  // Train on the photos first (empty catalogue), then index: the catalogue is embedded by the
  // fine-tuned network from the start.
  p.fine_tune(cat.entries);
  REQUIRE(p.is_fine_tuned());
  p.index_entries(cat.entries);
  std::size_t right = 0;
  for (const CatalogueEntry& e : cat.entries) {
    const QueryResponse r = p.query_file(e.path);
    REQUIRE_FALSE(r.predicted.empty());
    float total = 0;
    for (const NamedCategoryScore& s : r.predicted) total += s.probability;
    CHECK(total <= 1.0001f);
    right += r.predicted.front().category == e.category;
  }
  CHECK(right >= 10);  // of 12: round vs square from 12 training photos
}

TEST_CASE("fine-tuning with the contrastive loss on P x K batches trains, and its loss is part of the reported loss", "[fine-tuning][metric]") {
  Catalogue cat;
  PipelineConfig plain = fine_tuning_config(cat);  // the same P x K batches, without the contrastive term
  plain.fine_tuning.metric_loss_weight = 0.0f, plain.fine_tuning.rows_per_item = 2;
  plain.fine_tuning.calibration_fraction = 0.0f;  // each item keeps its photo and its view: pairs of positives
  PipelineConfig metric = plain;
  metric.fine_tuning.metric_loss_weight = 1.0f;
  const auto trained = [&](const PipelineConfig& config) {
    Pipeline p(config);
    p.index_entries(cat.entries);
    const FineTuningReport report = p.fine_tune();
    CHECK(p.is_fine_tuned());
    return report;
  };
  const FineTuningReport a = trained(plain), b = trained(metric);
  CHECK(std::isfinite(b.final_loss));
  CHECK(b.final_loss != a.final_loss);  // the contrastive term was added to the loss trained on
  CHECK(trained(metric).final_loss == b.final_loss);  // seeded: the P x K order too
}

TEST_CASE("fine-tuning and inference on a CUDA device", "[fine-tuning][cuda]") {
  Catalogue cat;
  PipelineConfig config = fine_tuning_config(cat);
  config.runtime.device = "cuda";
  std::optional<Pipeline> p;
  if (status_of([&] { p.emplace(config); }) == Status::DeviceUnavailable) {
    WARN("no CUDA device in this LibTorch build or machine: skipped (tools/gpu_check.sh runs it on a GPU)");
    return;
  }
  p->index_entries(cat.entries);
  p->fine_tune();
  REQUIRE(p->is_fine_tuned());
  for (const CatalogueEntry& e : cat.entries) CHECK(p->query_file(e.path).results.front().key == Pipeline::key_for_path(e.path));
}

TEST_CASE("fine-tuning on other photos also trains the catalogue's studio images, pasted onto those photos", "[fine-tuning]") {
  Catalogue cat;
  PipelineConfig config = fine_tuning_config(cat);
  config.fine_tuning.composites = 3;
  Pipeline p(config);
  const std::vector<CatalogueEntry> studio(cat.entries.begin(), cat.entries.begin() + 4);
  p.index_entries(studio);
  const FineTuningReport r = p.fine_tune(cat.entries);
  CHECK(r.photos == 16);              // 12 training photos + the catalogue's 4 images
  CHECK(r.views == 12 + 4 * 5);  // photos: itself (one per item: its view is held out for calibration); studio: itself + 1 view + 3 composites
  CHECK(r.items == 12);
}

TEST_CASE("a composite pastes the studio product onto the background", "[fine-tuning][augment]") {
  Image studio(40, 30), background(100, 80);
  std::fill(studio.data(), studio.data() + 40 * 30 * 3, 255);
  for (int y = 10; y < 20; ++y)
    for (int x = 5; x < 25; ++x) studio.data()[(y * 40 + x) * 3] = 200, studio.data()[(y * 40 + x) * 3 + 1] = 0, studio.data()[(y * 40 + x) * 3 + 2] = 0;
  std::fill(background.data(), background.data() + 100 * 80 * 3, 17);
  std::mt19937_64 rng(3);
  const detail::Composite c = detail::composite_view(studio, background, rng);
  REQUIRE(c.image.width() == 100);
  std::size_t red = 0, truth = 0;
  for (int i = 0; i < 100 * 80; ++i) {
    const std::uint8_t* px = c.image.data() + i * 3;
    const bool is_red = px[0] == 200 && px[1] == 0, in_truth = c.truth.data[i] != 0;
    red += is_red, truth += in_truth;
    CHECK((is_red == in_truth || !in_truth));  // the product lies inside the truth mask...
    if (!in_truth) CHECK(px[0] == 17);          // ...and the background is untouched outside it
  }
  CHECK(truth > 0);
  CHECK(double(red) / double(truth) > 0.8);
  // 35-70% of the background's short side: the 20-pixel-wide product becomes 28..56 pixels wide
  const cv::Rect box = cv::boundingRect(c.truth);
  CHECK(box.width >= 27);
  CHECK(box.width <= 57);
}

TEST_CASE("temperature scaling: the NLL-optimal temperature, and 1 when every held-out example is right", "[fine-tuning][calibration]") {
  // Two classes; logits (2, 0) for every example, labels mostly 0: the optimum softens or sharpens to
  // the observed accuracy. With accuracy a, softmax(2/T) must give a: T = 2 / ln(a / (1 - a)).
  std::vector<float> logits;
  std::vector<std::int64_t> labels;
  for (int i = 0; i < 100; ++i) logits.insert(logits.end(), {2.0f, 0.0f}), labels.push_back(i < 75 ? 0 : 1);
  const float t = detail::fit_temperature(logits, labels, 2);
  CHECK(t == Approx(2.0 / std::log(0.75 / 0.25)).epsilon(1e-3));
  CHECK(detail::mean_nll(logits, labels, 2, t) < detail::mean_nll(logits, labels, 2, 1.0));
  // Over-confident (accuracy 0.55 at logit gap 8): softened, T > 1.
  std::vector<std::int64_t> mixed;
  for (int i = 0; i < 100; ++i) mixed.push_back(i < 55 ? 0 : 1);
  for (float& z : logits) z *= 4;
  CHECK(detail::fit_temperature(logits, mixed, 2) > 10.0f);
  // Every example right: sharpening always lowers the NLL, so the data cannot tell a temperature.
  std::vector<std::int64_t> right(100, 0);
  CHECK(detail::fit_temperature(logits, right, 2) == 1.0f);
  CHECK(detail::fit_temperature({}, {}, 2) == 1.0f);
}

TEST_CASE("a fine-tuned model's FTUN bytes read back / the seed corpus file is one", "[fine-tuning][ftun]") {
  const std::vector<std::uint8_t> bytes = tiny_fine_tuned_model().serialize();
  const std::vector<std::uint8_t> seed = dstest::read_bytes(std::string(DS_TEST_DATA_DIR) + "/../fuzz/corpus/fine_tuned/tiny.ftun");
  REQUIRE_FALSE(seed.empty());
  for (const std::vector<std::uint8_t>* b : {&bytes, &seed}) {
    const detail::FineTunedModel m = detail::FineTunedModel::deserialize(b->data(), b->size(), "cat.dscat");
    CHECK(m.first_stage == 2);
    REQUIRE(m.parameters.size() == 1);
    CHECK(m.parameters[0].name == "stage2_conv_w");
    CHECK(m.parameters[0].shape == std::vector<std::int64_t>{2, 3});
    CHECK(m.parameters[0].values == std::vector<float>{0.5f, -0.25f, 1, 2, -1, 0.125f});
    CHECK(m.item_labels == std::vector<std::string>{"apple", "tile"});
    CHECK(m.item_categories == std::vector<std::string>{"round", "square"});
    CHECK(m.temperature == 1.5f);
    REQUIRE(m.classifier.has_value());
    CHECK(m.classifier->category_count() == 2);
  }
}

TEST_CASE("an FTUN section declaring a tensor larger than the section is refused before anything is allocated", "[fine-tuning][ftun][hostile]") {
  const std::vector<std::uint8_t> bytes = tiny_fine_tuned_model().serialize();
  // 2^28 x 4 float32 values: 4 GiB claimed by a section of a few hundred bytes. Checked against the bytes
  // left before the values are allocated, it is Corrupt at once; allocated first (the bug: a 1 GiB shape
  // made a 1.34 GB process), it exceeds the child's address-space cap (std::bad_alloc) or takes seconds.
  const std::vector<std::uint8_t> huge = with_declared_shape(bytes, "[268435456,4]");
  const dstest::ChildOutcome outcome =
      dstest::outcome_in_capped_child([&] { detail::FineTunedModel::deserialize(huge.data(), huge.size(), "cat.dscat"); }, 256u << 20);
  INFO(outcome.how << ": " << outcome.message);
  CHECK(outcome.how == "Error");
  CHECK(outcome.status == Status::Corrupt);
  CHECK(outcome.message.find("cat.dscat") != std::string::npos);
  CHECK(outcome.message.find("\"stage2_conv_w\" of shape [268435456,4]") != std::string::npos);
  CHECK(outcome.message.find("bytes are left") != std::string::npos);

  // Just over what is left (the six values and the 60-byte classifier: 84 bytes; 5 x 5 values need 100).
  const std::vector<std::uint8_t> over = with_declared_shape(bytes, "[5,5]");
  try {
    detail::FineTunedModel::deserialize(over.data(), over.size(), "cat.dscat");
    FAIL("a 5 x 5 tensor was read from 84 bytes");
  } catch (const Error& e) {
    CHECK(e.status() == Status::Corrupt);
    CHECK(std::string(e.what()).find("100 bytes), but only 84 bytes are left") != std::string::npos);
  }
  // Shapes that are no shapes: refused, never converted or multiplied out.
  for (const char* shape : {"[-1,6]", "[2.5,3]", "[4294967296,4294967296]", "[18446744073709551615]", "\"2x3\"", "[1e300]"}) {
    INFO(shape);
    const std::vector<std::uint8_t> odd = with_declared_shape(bytes, shape);
    CHECK(status_of([&] { detail::FineTunedModel::deserialize(odd.data(), odd.size(), "cat.dscat"); }) == Status::Corrupt);
  }
}
