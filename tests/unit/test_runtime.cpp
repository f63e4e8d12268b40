#include <catch2/catch.hpp>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "domainsearch/error.hpp"
#include "domainsearch/feature_extractor.hpp"
#include "domainsearch/model.hpp"
#include "domainsearch/pipeline.hpp"
#include "runtime/onednn_isa.hpp"
#include "test_models.hpp"
#include "test_util.hpp"

using namespace domainsearch;
using dstest::status_of;

namespace {

Image gradient_image(int w, int h, bool colour) {
  Image im(w, h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      std::uint8_t* p = im.data() + y * im.stride() + x * 3;
      p[0] = static_cast<std::uint8_t>(x * 255 / w);
      p[1] = static_cast<std::uint8_t>(colour ? y * 255 / h : x * 255 / w);
      p[2] = static_cast<std::uint8_t>(colour ? 255 - x * 255 / w : x * 255 / w);
    }
  return im;
}

// A valid digest (SHA-256 of "abc"): every manifest needs one.
const std::string kDigest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

// A manifest object with kDigest and the given members.
std::string with_digest(const std::string& members) { return R"({"sha256": ")" + kDigest + R"(", )" + members + "}"; }

// The message of the InvalidArgument that parsing `text` throws ("accepted" when it parses).
std::string manifest_error(const std::string& text) {
  try {
    ModelManifest::parse(text, ".");
  } catch (const Error& e) {
    CHECK(e.status() == Status::InvalidArgument);
    return e.what();
  }
  return "accepted";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("manifests parse / resolve relative paths and name the field at fault", "[model]") {
  const auto m = ModelManifest::parse(R"({"name": "n", "format": "onnx", "file": "m.onnx", "labels": "l.txt", "sha256": ")" + kDigest + R"(",
      "input": {"width": 320, "height": 320, "channels": "bgr", "normalization": "max_mean_std",
                "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
      "outputs": {"mask": 0, "features": "feat"}, "feature_dim": 12})", "/models");
  CHECK(m.format == ModelFormat::Onnx);
  CHECK(m.file == "/models/m.onnx");
  CHECK(m.labels_file == "/models/l.txt");
  CHECK(m.input_bgr);
  CHECK(m.normalization == InputNormalization::MaxMeanStd);
  CHECK(m.std[2] == Approx(0.225f));
  CHECK(m.output("mask").index == 0);
  CHECK(m.output("features").name == "feat");
  CHECK(m.feature_dim == 12);
  CHECK_THROWS_AS(m.output("logits"), Error);

  const auto bad = manifest_error;
  CHECK(bad(with_digest(R"("format": "tflite", "file": "x", "input": {"width": 8, "height": 8}, "outputs": {"a": 0})")).find("format") != std::string::npos);
  CHECK(bad(with_digest(R"("format": "onnx", "input": {"width": 8, "height": 8}, "outputs": {"a": 0})")).find("file") != std::string::npos);
  CHECK(bad(with_digest(R"("format": "onnx", "file": "x", "input": {"width": 8, "height": 8}, "outputs": {})")).find("outputs") != std::string::npos);
  CHECK(bad(with_digest(R"("format": "onnx", "file": "x", "input": {"width": 8, "height": 8, "std": [1, 0, 1]}, "outputs": {"a": 0})")).find("std") != std::string::npos);
  CHECK(bad("not json at all").find("manifest") != std::string::npos);
  CHECK(bad(with_digest(R"("format": "onnx", "file": "x", "input": {"width": 8, "height": 8}, "outputs": {"a": 0}, "quantized_engine": "onednn")"))
            .find("quantized_engine") != std::string::npos);
  CHECK(ModelManifest::parse(with_digest(R"("format": "torchscript", "file": "x", "input": {"width": 8, "height": 8}, "outputs": {"a": 0},
      "quantized_engine": "onednn")"), ".").quantized_engine == "onednn");
  CHECK(bad(with_digest(R"("format": "onnx", "file": "x", "input": {"width": 224.5, "height": 8}, "outputs": {"a": 0})"))
            .find("\"input.width\" must be an integer in 8..4096, got 224.5") != std::string::npos);
  CHECK(bad(with_digest(R"("format": "onnx", "file": "x", "input": {"width": 8, "height": 8}, "outputs": {"a": -1})")).find("outputs.a") != std::string::npos);
  CHECK(status_of([] { ModelManifest::load("/nonexistent/manifest.json"); }) == Status::Io);

  const std::string torchscript = R"("format": "torchscript", "file": "x", "input": {"width": 8, "height": 8}, "outputs": {"a": 0})";
  CHECK_FALSE(ModelManifest::parse(with_digest(torchscript), ".").channels_last);
  CHECK(ModelManifest::parse(with_digest(torchscript + R"(, "memory_format": "channels_last")"), ".").channels_last);
  CHECK_FALSE(ModelManifest::parse(with_digest(torchscript + R"(, "memory_format": "contiguous")"), ".").channels_last);
  CHECK(bad(with_digest(torchscript + R"(, "memory_format": "nhwc")")).find("\"memory_format\" must be contiguous or channels_last, got \"nhwc\"") !=
        std::string::npos);
  CHECK(bad(with_digest(R"("format": "onnx", "file": "x", "input": {"width": 8, "height": 8}, "outputs": {"a": 0}, "memory_format": "channels_last")"))
            .find("\"memory_format\" applies to TorchScript models only") != std::string::npos);
  CHECK(bad(with_digest(torchscript + R"(, "quantized_engine": "onednn", "memory_format": "channels_last")")).find("\"memory_format\" applies to float models only") != std::string::npos);
}

TEST_CASE("sha256 of a file", "[model]") {
  dstest::ScratchDir dir;
  dstest::write_bytes(dir.file("abc"), {'a', 'b', 'c'});
  CHECK(sha256_file(dir.file("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("manifests require a digest / refuse unknown keys / accept either case", "[model]") {
  const std::string body = R"("format": "torchscript", "file": "x", "input": {"width": 8, "height": 8}, "outputs": {"features": 0})";
  CHECK(contains(manifest_error("{" + body + "}"), "\"sha256\" is required"));
  const std::string misspelt = manifest_error(R"({"sha265": ")" + kDigest + R"(", )" + body + "}");
  CHECK(contains(misspelt, "unknown key \"sha265\" in the manifest"));
  CHECK(contains(misspelt, "sha256"));  // the allowed keys are listed
  CHECK(contains(manifest_error(R"({"sha256": "abc", )" + body + "}"), "\"sha256\" must be 64 hex digits"));
  CHECK(contains(manifest_error(R"({"sha256": ")" + std::string(63, 'a') + "g" + R"(", )" + body + "}"), "64 hex digits"));
  CHECK(contains(manifest_error(with_digest(R"("format": "onnx", "file": "x", "input": {"width": 8, "height": 8, "widht": 8}, "outputs": {"a": 0})")),
                 "unknown key \"widht\" in \"input\""));
  CHECK(contains(manifest_error(with_digest(body + R"(, "stage": 3)")), "unknown key \"stage\""));

  std::string upper = kDigest;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  CHECK(ModelManifest::parse(R"({"sha256": ")" + upper + R"(", )" + body + "}", ".").sha256 == kDigest);  // kept lowercase

  // load() names the file; an uppercase digest of the real file loads and checks.
  dstest::ScratchDir dir;
  const std::string manifest = dstest::write_tiny_backbone(dir.path().string(), 4, 0);
  std::ifstream in(manifest);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string digest = ModelManifest::load(manifest).sha256;
  std::string upper_digest = digest;
  for (char& c : upper_digest) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::ofstream(manifest) << std::string(text).replace(text.find(digest), digest.size(), upper_digest);
  CHECK(FeatureExtractor(ModelManifest::load(manifest)).dimension() == 4);
  std::ofstream(manifest) << std::string(text).replace(text.find("\"sha256\""), 8, "\"sha265\"");
  try {
    ModelManifest::load(manifest);
    FAIL("a manifest with a misspelt sha256 key loaded");
  } catch (const Error& e) {
    CHECK(contains(e.what(), manifest));
    CHECK(contains(e.what(), "sha265"));
  }
}

TEST_CASE("FeatureExtractor pools feature maps / normalises / batches", "[model][features]") {
  dstest::ScratchDir dir;
  const auto map_manifest = ModelManifest::load(dstest::write_tiny_backbone(dir.path().string(), 6, 0));
  const auto pooled_manifest = ModelManifest::load(dstest::write_tiny_backbone(dir.path().string(), 6, 1));
  FeatureExtractorOptions raw;
  raw.l2_normalize = false;
  const FeatureExtractor from_map(map_manifest, {}, raw);
  const FeatureExtractor from_pooled(pooled_manifest, {}, raw);
  CHECK(from_map.dimension() == 6);
  CHECK(from_map.fingerprint().size() == 64);
  CHECK(from_map.device() == "cpu");

  const Image a = gradient_image(48, 40, true), b = gradient_image(64, 64, false);
  const auto fa = from_map.extract(a);
  REQUIRE(fa.size() == 6);
  const auto fa_pooled = from_pooled.extract(a);
  for (int i = 0; i < 6; ++i) CHECK(fa[i] == Approx(fa_pooled[i]).epsilon(1e-5));

  const auto batch = from_map.extract_batch({a, b, a});
  REQUIRE(batch.size() == 18);
  const auto fb = from_map.extract(b);
  for (int i = 0; i < 6; ++i) {
    CHECK(batch[i] == Approx(fa[i]).epsilon(1e-5));
    CHECK(batch[6 + i] == Approx(fb[i]).epsilon(1e-5));
  }

  auto channels_last_manifest = map_manifest;  // a speed choice: the same features to float rounding
  channels_last_manifest.channels_last = true;
  const auto batch_channels_last = FeatureExtractor(channels_last_manifest, {}, raw).extract_batch({a, b, a});
  REQUIRE(batch_channels_last.size() == batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) CHECK(batch_channels_last[i] == Approx(batch[i]).epsilon(1e-5).margin(1e-6));

  const FeatureExtractor unit(map_manifest);
  const auto u = unit.extract(a);
  double norm = 0;
  for (float x : u) norm += double(x) * x;
  CHECK(std::sqrt(norm) == Approx(1.0).epsilon(1e-5));
}

TEST_CASE("grayscale input ignores colour", "[model][features]") {
  dstest::ScratchDir dir;
  const auto manifest = ModelManifest::load(dstest::write_tiny_backbone(dir.path().string(), 4, 1));
  FeatureExtractorOptions gray;
  gray.grayscale = true;
  const FeatureExtractor colour_blind(manifest, {}, gray), colour(manifest);
  Image red(32, 32), green(32, 32);
  for (int i = 0; i < 32 * 32; ++i) {
    red.data()[i * 3] = 200, red.data()[i * 3 + 1] = 0, red.data()[i * 3 + 2] = 0;
    green.data()[i * 3] = 0, green.data()[i * 3 + 1] = 102, green.data()[i * 3 + 2] = 0;  // same luminance (approx.)
  }
  const auto r = colour_blind.extract(red), g = colour_blind.extract(green);
  for (int i = 0; i < 4; ++i) CHECK(r[i] == Approx(g[i]).margin(0.02));
  const auto rc = colour.extract(red), gc = colour.extract(green);
  double diff = 0;
  for (int i = 0; i < 4; ++i) diff += std::abs(rc[i] - gc[i]);
  CHECK(diff > 0.05);
}

TEST_CASE("wrong models and manifests fail at load with a clear error", "[model]") {
  dstest::ScratchDir dir;
  const std::string d = dir.path().string();
  const auto good = ModelManifest::load(dstest::write_tiny_backbone(d, 4, 0));

  auto wrong_dim = good;
  wrong_dim.feature_dim = 99;
  CHECK(status_of([&] { FeatureExtractor e(wrong_dim); }) == Status::ModelMismatch);

  auto wrong_output = good;
  wrong_output.outputs["features"].index = 7;
  CHECK(status_of([&] { FeatureExtractor e(wrong_output); }) == Status::ModelMismatch);

  auto wrong_sha = good;
  wrong_sha.sha256 = std::string(64, '0');
  CHECK(status_of([&] { FeatureExtractor e(wrong_sha); }) == Status::ModelMismatch);

  auto missing = good;
  missing.file = d + "/missing.pt";
  CHECK(status_of([&] { FeatureExtractor e(missing); }) == Status::Io);

  dstest::write_bytes(d + "/corrupt.pt", std::vector<std::uint8_t>(4096, 0x42));
  auto corrupt = good;
  corrupt.file = d + "/corrupt.pt";
  corrupt.sha256 = sha256_file(corrupt.file);  // past the digest check, to the loading error
  CHECK(status_of([&] { FeatureExtractor e(corrupt); }) == Status::ModelMismatch);
  corrupt.format = ModelFormat::Onnx;
  CHECK(status_of([&] { FeatureExtractor e(corrupt); }) == Status::ModelMismatch);

  auto wrong_input = good;  // a segmenter-shaped manifest on a backbone: no "features" role
  wrong_input.outputs = {{"mask", OutputRef{0, ""}}};
  CHECK(status_of([&] { FeatureExtractor e(wrong_input); }) == Status::InvalidArgument);

  auto unknown_engine = good;
  unknown_engine.quantized_engine = "abacus";
  try {
    FeatureExtractor e(unknown_engine);
    FAIL("an int8 engine this LibTorch lacks was accepted");
  } catch (const Error& e) {
    CHECK(e.status() == Status::DeviceUnavailable);
    CHECK(std::string(e.what()).find("\"abacus\" is not in this LibTorch") != std::string::npos);
  }

  RuntimeOptions bogus;
  bogus.device = "banana";
  CHECK(status_of([&] { FeatureExtractor e(good, bogus); }) == Status::InvalidArgument);
}

TEST_CASE("asking for CUDA where there is none is an error / never a fallback", "[model][device]") {
  dstest::ScratchDir dir;
  const auto good = ModelManifest::load(dstest::write_tiny_backbone(dir.path().string(), 4, 0));
  RuntimeOptions cuda;
  cuda.device = "cuda";
  RuntimeOptions automatic;
  automatic.device = "auto";
  const FeatureExtractor chosen(good, automatic);
  if (chosen.device() == "cpu") {
    try {
      FeatureExtractor e(good, cuda);
      FAIL("CUDA accepted without CUDA");
    } catch (const Error& e) {
      CHECK(e.status() == Status::DeviceUnavailable);
      CHECK(std::string(e.what()).find("cuda") != std::string::npos);
    }
  } else {
    CHECK(FeatureExtractor(good, cuda).device().rfind("cuda", 0) == 0);
  }
}

namespace {

// Loads a configuration file holding `members`; the message of the InvalidArgument it throws ("loaded"
// when it loads).
std::string config_error(const std::string& members) {
  dstest::ScratchDir dir;
  std::ofstream(dir.file("c.json")) << "{" << members << "}";
  try {
    PipelineConfig::load(dir.file("c.json"));
  } catch (const Error& e) {
    CHECK(e.status() == Status::InvalidArgument);
    CHECK(contains(e.what(), dir.file("c.json")));  // names the file
    return e.what();
  }
  return "loaded";
}

PipelineConfig load_config(const std::string& members) {
  dstest::ScratchDir dir;
  std::ofstream(dir.file("c.json")) << "{" << members << "}";
  return PipelineConfig::load(dir.file("c.json"));
}

}  // namespace

TEST_CASE("configurations refuse numbers out of range / name the key and the range", "[config]") {
  // integers (signed and unsigned fields), reals, nested objects
  CHECK(contains(config_error(R"("threads": 100000)"), R"(config: "threads" must be in 0..1024, got 100000)"));
  CHECK(contains(config_error(R"("k": -1)"), R"("k" must be in 1..100000, got -1)"));
  CHECK(contains(config_error(R"("k": 1000000000000)"), R"("k" must be in 1..100000, got 1000000000000)"));
  CHECK(contains(config_error(R"("k": 18446744073709551615)"), R"("k" must be in 1..100000, got 18446744073709551615)"));
  CHECK(contains(config_error(R"("rerank_depth": 0)"), R"("rerank_depth" must be in 1..100000, got 0)"));
  CHECK(contains(config_error(R"("max_categories": -3)"), R"("max_categories" must be in 1..1000, got -3)"));
  CHECK(contains(config_error(R"("soft_threshold": -0.5)"), R"("soft_threshold" must be in (0, 1], got -0.5)"));
  CHECK(contains(config_error(R"("soft_threshold": 0)"), R"("soft_threshold" must be in (0, 1])"));
  CHECK(contains(config_error(R"("iou_weight": 1.5)"), R"("iou_weight" must be in [0, 1], got 1.5)"));
  CHECK(contains(config_error(R"("batch_size": 5000)"), R"("batch_size" must be in 1..4096, got 5000)"));
  CHECK(contains(config_error(R"("max_pixels": -1)"), R"("max_pixels" must be in 1..1000000000, got -1)"));
  CHECK(contains(config_error(R"("min_side": 0)"), R"("min_side" must be in 1..4096, got 0)"));
  CHECK(contains(config_error(R"("training_views": 101)"), R"("training_views" must be in 0..100, got 101)"));
  CHECK(contains(config_error(R"("adapted_dimension": 0)"), R"("adapted_dimension" must be in 1..65536, got 0)"));
  CHECK(contains(config_error(R"("training": {"seed": -1})"), R"("training.seed" must be >= 0, got -1)"));
  CHECK(contains(config_error(R"("training": {"max_epochs": 0})"), R"("training.max_epochs" must be in 1..100000, got 0)"));
  CHECK(contains(config_error(R"("training": {"dropout": 1})"), R"("training.dropout" must be in [0, 1), got 1)"));
  CHECK(contains(config_error(R"("fine_tuning": {"batch_size": 1})"), R"("fine_tuning.batch_size" must be in 2..4096, got 1)"));
  CHECK(contains(config_error(R"("fine_tuning": {"label_smoothing": 1})"), R"("fine_tuning.label_smoothing" must be in [0, 0.99], got 1)"));
  CHECK(contains(config_error(R"("fine_tuning": {"cache_memory_mb": -1})"), R"("fine_tuning.cache_memory_mb" must be in 0..1048576, got -1)"));
  CHECK(contains(config_error(R"("fine_tuning": {"seed": -2})"), R"("fine_tuning.seed" must be >= 0, got -2)"));
  CHECK(contains(config_error(R"("fine_tuning": {"composites": 1001})"), R"("fine_tuning.composites" must be in 0..1000, got 1001)"));
  CHECK(contains(config_error(R"("match_threshold": -0.1)"), R"("match_threshold" must be in [0, 1], got -0.1)"));
  CHECK(contains(config_error(R"("match_distance": -0.5)"), R"("match_distance" must be >= 0, got -0.5)"));
  CHECK(contains(config_error(R"("match_distance": "far")"), R"("match_distance" must be a number >= 0, got "far")"));
  CHECK(contains(config_error(R"("embedding": {"localizer": {"mask_side": 4}})"), R"("embedding.localizer.mask_side" must be in 8..1024, got 4)"));
  CHECK(contains(config_error(R"("embedding": {"localizer": {"guided_epsilon": 0}})"), R"("embedding.localizer.guided_epsilon" must be in (0, 1])"));

  // wrong types are refused, not converted (2.5 is not 2, true is not 1, "10" is not 10)
  CHECK(contains(config_error(R"("k": 2.5)"), R"("k" must be an integer in 1..100000, got 2.5)"));
  CHECK(contains(config_error(R"("k": "10")"), R"("k" must be an integer in 1..100000, got "10")"));
  CHECK(contains(config_error(R"("threads": true)"), R"("threads" must be an integer in 0..1024, got true)"));
  CHECK(contains(config_error(R"("soft_threshold": "high")"), R"("soft_threshold" must be a number in (0, 1], got "high")"));
  CHECK(contains(config_error(R"("adapt_embedding": 1)"), R"("adapt_embedding" must be true or false, got 1)"));
  CHECK(contains(config_error(R"("device": 0)"), R"("device" must be a string, got 0)"));
  CHECK(contains(config_error(R"("training": 5)"), "training must be a JSON object"));
  CHECK(contains(config_error(R"("rerank": "IOU")"), R"("rerank" must be one of off, iou, fused, got "IOU")"));

  // rules between settings
  CHECK(contains(config_error(R"("embedding": {"localizer": {"trimap_low": 0.9, "trimap_high": 0.1}})"),
                 R"("embedding.localizer.trimap_low" (0.9) must be below "embedding.localizer.trimap_high" (0.1))"));
  CHECK(contains(config_error(R"("training": {"hidden1": 0, "hidden2": 5})"), R"("training.hidden1" and "training.hidden2" must both be 0)"));
}

TEST_CASE("configurations accept the ends of every range / read values exactly", "[config]") {
  const PipelineConfig c = load_config(R"("threads": 1024, "k": 100000, "rerank_depth": 1, "soft_threshold": 1, "max_categories": 1000,
      "iou_weight": 0, "max_pixels": 1000000000, "min_side": 1, "training": {"seed": 18446744073709551615, "dropout": 0, "hidden1": 0, "hidden2": 0},
      "match_threshold": 0.4, "fine_tuning": {"cache_memory_mb": 16, "label_smoothing": 0.99, "batch_size": 2, "composites": 0}, "embedding": {"localizer": {"mask_side": 1024}})");
  CHECK(c.runtime.threads == 1024);
  CHECK(c.k == 100000);
  CHECK(c.soft_threshold == 1.0f);
  CHECK(c.decode.max_pixels == 1000000000u);
  CHECK(c.training.seed == UINT64_MAX);
  CHECK(c.fine_tuning.cache_memory_bytes == std::size_t(16) << 20);
  CHECK(c.fine_tuning.label_smoothing == 0.99f);
  CHECK(c.localizer.mask_side == 1024);
  CHECK(c.match_threshold == 0.4f);
  CHECK(load_config(R"("match_distance": 0)").match_distance == 0.0f);
  CHECK(load_config(R"("match_distance": 1e6)").match_distance == 1e6f);
  CHECK(c.fine_tuning.composites == 0);
  CHECK(load_config(R"("threads": 0)").runtime.threads == 0);
}

TEST_CASE("configurations: an object query's products have their own no-match rules, the photo rules by default", "[config]") {
  const PipelineConfig photo_only = load_config(R"("match_distance": 0.5)");
  CHECK_FALSE(photo_only.object_rules.has_value());
  CHECK(photo_only.product_rules().match_distance == 0.5f);
  const std::string model = R"("confidence": {"bias": 1, "distance": -2}, )";
  const PipelineConfig own = load_config(model + R"("match_distance": 0.5, "match_threshold": 0.3, "objects": {"match_distance": 0, "min_confidence": 0.4})");
  REQUIRE(own.object_rules.has_value());
  CHECK(own.object_rules->match_distance == 0.0f);         // set: off for products
  CHECK(own.object_rules->min_confidence == 0.4f);
  CHECK(own.object_rules->match_threshold == 0.3f);        // left out: the photo rule
  CHECK(own.photo_rules().match_distance == 0.5f);         // the photo rules are untouched
  CHECK(own.photo_rules().min_confidence == 0.0f);
  CHECK(contains(config_error(R"("objects": {"match_distance": -1})"), R"("objects.match_distance" must be >= 0, got -1)"));
  CHECK(contains(config_error(R"("objects": {"min_confidence": 1.5})"), R"("objects.min_confidence" must be in [0, 1], got 1.5)"));
  CHECK(contains(config_error(R"("objects": {"distance": 1})"), R"(unknown key "distance" in objects)"));
  CHECK(contains(config_error(R"("objects": {"min_confidence": 0.4})"), R"("objects.min_confidence" (0.4) needs a "confidence" model)"));
}

TEST_CASE("the example configurations load / the fast grocery one differs only in its views", "[config]") {
  const std::string dir = std::string(DS_TEST_DATA_DIR) + "/../../examples/configs/";
  for (const char* name : {"grocery.json", "grocery_fast.json", "grocery_288.json", "grocery_paper.json", "grocery_paper_int8.json"}) {
    INFO(name);
    CHECK_NOTHROW(PipelineConfig::load(dir + name));
  }
  const PipelineConfig best = PipelineConfig::load(dir + "grocery.json"), fast = PipelineConfig::load(dir + "grocery_fast.json");
  CHECK(fast.fine_tuning.views + 1 == best.fine_tuning.views);
  const auto text = [&](const char* name) {
    std::ifstream in(dir + name);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  std::string fast_text = text("grocery_fast.json");
  const std::string two = "\"views\": 2";
  REQUIRE(fast_text.find(two) != std::string::npos);
  fast_text.replace(fast_text.find(two), two.size(), "\"views\": 3");
  CHECK(fast_text == text("grocery.json"));
}

TEST_CASE("oneDNN is capped at AVX512_CORE_VNNI on CPUs with AMX or AVX512-FP16 unless the user chose otherwise", "[model][onednn]") {
  using detail::decide_onednn_isa;
  CHECK(std::string(detail::kOneDnnIsaCap) == "AVX512_CORE_VNNI");
  const detail::CpuIsaFeatures none{}, amx{true, false}, fp16{false, true}, both{true, true};
  // e.g. an AVX512-VNNI Xeon before Sapphire Rapids: oneDNN runs as it is
  const detail::OneDnnIsaDecision plain = decide_onednn_isa(none, nullptr, nullptr, nullptr);
  CHECK_FALSE(plain.cap);
  CHECK(contains(plain.reason, "neither"));
  for (const detail::CpuIsaFeatures& cpu : {amx, fp16, both}) {
    const detail::OneDnnIsaDecision d = decide_onednn_isa(cpu, nullptr, nullptr, nullptr);
    CHECK(d.cap);
    CHECK(contains(d.reason, cpu.amx_tile ? "AMX-TILE" : "AVX512-FP16"));
    CHECK(contains(d.reason, "DS_ONEDNN_ISA=native"));
  }
  // The user's own cap, under either name and whatever its value, is kept: the library sets nothing.
  CHECK_FALSE(decide_onednn_isa(both, "AVX512_CORE_AMX", nullptr, nullptr).cap);
  CHECK_FALSE(decide_onednn_isa(both, nullptr, "AVX2", nullptr).cap);
  CHECK_FALSE(decide_onednn_isa(both, "", nullptr, nullptr).cap);
  CHECK(contains(decide_onednn_isa(amx, nullptr, "AVX2", nullptr).reason, "ONEDNN_MAX_CPU_ISA"));
  // DS_ONEDNN_ISA=native (any case) opts out; another value does not.
  CHECK_FALSE(decide_onednn_isa(both, nullptr, nullptr, "native").cap);
  CHECK_FALSE(decide_onednn_isa(amx, nullptr, nullptr, "Native").cap);
  CHECK(decide_onednn_isa(both, nullptr, nullptr, "").cap);
  CHECK(decide_onednn_isa(fp16, nullptr, nullptr, "avx2").cap);

  // This process loaded the library, which decided for this CPU at load: on a CPU that needs the cap
  // (and no opt-out), oneDNN's variable is set -- the library's cap or the user's own.
  const detail::CpuIsaFeatures cpu = detail::detect_cpu_isa_features();
  INFO("AMX-TILE " << cpu.amx_tile << ", AVX512-FP16 " << cpu.avx512_fp16);
  if ((cpu.amx_tile || cpu.avx512_fp16) && std::getenv("DS_ONEDNN_ISA") == nullptr)
    CHECK((std::getenv("DNNL_MAX_CPU_ISA") != nullptr || std::getenv("ONEDNN_MAX_CPU_ISA") != nullptr));
}
