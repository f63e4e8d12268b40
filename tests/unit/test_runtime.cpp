#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>

#include "domainsearch/error.hpp"
#include "domainsearch/feature_extractor.hpp"
#include "domainsearch/model.hpp"
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

}  // namespace

TEST_CASE("manifests parse / resolve relative paths and name the field at fault", "[model]") {
  const auto m = ModelManifest::parse(R"({"name": "n", "format": "onnx", "file": "m.onnx", "labels": "l.txt",
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

  const auto bad = [](const std::string& text) {
    try {
      ModelManifest::parse(text, ".");
    } catch (const Error& e) {
      CHECK(e.status() == Status::InvalidArgument);
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK(bad(R"({"format": "tflite", "file": "x", "input": {"width": 8, "height": 8}, "outputs": {"a": 0}})").find("format") != std::string::npos);
  CHECK(bad(R"({"format": "onnx", "input": {"width": 8, "height": 8}, "outputs": {"a": 0}})").find("file") != std::string::npos);
  CHECK(bad(R"({"format": "onnx", "file": "x", "input": {"width": 8, "height": 8}, "outputs": {}})").find("outputs") != std::string::npos);
  CHECK(bad(R"({"format": "onnx", "file": "x", "input": {"width": 8, "height": 8, "std": [1, 0, 1]}, "outputs": {"a": 0}})").find("std") != std::string::npos);
  CHECK(bad("not json at all").find("manifest") != std::string::npos);
  CHECK(bad(R"({"format": "onnx", "file": "x", "input": {"width": 8, "height": 8}, "outputs": {"a": 0}, "quantized_engine": "onednn"})")
            .find("quantized_engine") != std::string::npos);
  CHECK(ModelManifest::parse(R"({"format": "torchscript", "file": "x", "input": {"width": 8, "height": 8}, "outputs": {"a": 0},
      "quantized_engine": "onednn"})", ".").quantized_engine == "onednn");
  CHECK(status_of([] { ModelManifest::load("/nonexistent/manifest.json"); }) == Status::Io);
}

TEST_CASE("sha256 of a file", "[model]") {
  dstest::ScratchDir dir;
  dstest::write_bytes(dir.file("abc"), {'a', 'b', 'c'});
  CHECK(sha256_file(dir.file("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
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
