#include <torch/script.h>

#include <fstream>

#include "domainsearch/model.hpp"
#include "test_models.hpp"

namespace dstest {

// The manifest carries the model file's real digest (required), so a corrupt file still gets past the
// digest check to the loading error a test wants.
std::string write_manifest(const std::string& dir, const std::string& model_file, const std::string& outputs_json,
                           int input_size, const std::string& extra_json) {
  const std::string path = dir + "/" + model_file + ".json";
  std::ofstream(path) << R"({"name": ")" << model_file << R"(", "format": "torchscript", "file": ")" << model_file
                      << R"(", "sha256": ")" << domainsearch::sha256_file(dir + "/" + model_file)
                      << R"(", "input": {"width": )" << input_size << R"(, "height": )" << input_size
                      << R"(, "channels": "rgb", "normalization": "scale_mean_std", "scale": 0.00392156862745098,
                         "mean": [0.5, 0.5, 0.5], "std": [1, 1, 1]}, "outputs": )"
                      << outputs_json << extra_json << "}";
  return path;
}

std::string write_tiny_backbone(const std::string& dir, int channels, int features_output, int input_size) {
  torch::manual_seed(1234);
  torch::jit::Module m("TinyBackbone");
  m.register_parameter("w", torch::randn({channels, 3, 3, 3}), false);
  m.register_parameter("fc", torch::randn({5, channels}), false);
  m.define(R"(
def forward(self, x):
    y = torch.relu(torch.conv2d(x, self.w, None, [2, 2], [1, 1]))
    pooled = torch.mean(y, [2, 3])
    return (y, pooled, torch.matmul(pooled, torch.t(self.fc)))
)");
  const std::string file = "tiny_backbone_" + std::to_string(channels) + "_" + std::to_string(features_output) + ".pt";
  m.save(dir + "/" + file);
  return write_manifest(dir, file, R"({"features": )" + std::to_string(features_output) + R"(, "logits": 2})", input_size,
                        R"(, "feature_dim": )" + std::to_string(channels));
}

std::string write_trainable_backbone(const std::string& dir, int seed, int input_size) {
  torch::manual_seed(seed);
  torch::jit::Module m("TrainableBackbone");
  m.register_parameter("stage0_conv_w", torch::randn({8, 3, 3, 3}) * 0.5, false);
  m.register_parameter("stage0_conv_b", torch::zeros({8}), false);
  m.register_parameter("stage1_conv_w", torch::randn({8, 8, 3, 3}) * 0.2, false);
  m.register_parameter("stage1_conv_b", torch::zeros({8}), false);
  m.register_parameter("stage2_conv_w", torch::randn({16, 8, 1, 1}) * 0.3, false);
  m.register_parameter("stage2_conv_b", torch::full({16}, 0.1), false);
  m.register_parameter("classifier_w", torch::randn({5, 16}), false);
  m.define(R"(
def normalize(self, x):
    return x * 1.0

def stages(self, y, start: int, stop: int):
    if start <= 0 and stop > 0:
        y = torch.relu(torch.conv2d(y, self.stage0_conv_w, self.stage0_conv_b, [2, 2], [1, 1]))
    if start <= 1 and stop > 1:
        y = torch.relu(torch.conv2d(y, self.stage1_conv_w, self.stage1_conv_b, [1, 1], [1, 1]))
    if start <= 2 and stop > 2:
        y = torch.relu(torch.conv2d(y, self.stage2_conv_w, self.stage2_conv_b))
    return y

def pool_and_classify(self, y):
    f = torch.mean(y, [2, 3])
    return (f, torch.matmul(f, torch.t(self.classifier_w)))

def forward(self, x):
    return self.pool_and_classify(self.stages(self.normalize(x), 0, 3))
)");
  const std::string file = "trainable_backbone_" + std::to_string(seed) + ".pt";
  m.save(dir + "/" + file);
  return write_manifest(dir, file, R"({"features": 0, "logits": 1})", input_size, R"(, "feature_dim": 16, "stages": 3)");
}

std::string write_dark_object_segmenter(const std::string& dir, int input_size) {
  torch::jit::Module m("DarkObjectSegmenter");
  m.register_parameter("w", torch::full({1, 3, 1, 1}, -10.0f / 3.0f), false);
  m.define(R"(
def forward(self, x):
    s = torch.sigmoid(torch.conv2d(x, self.w))
    return (s, s, s)
)");
  const std::string file = "dark_object_segmenter.pt";
  m.save(dir + "/" + file);
  return write_manifest(dir, file, R"({"mask": 0})", input_size);
}

std::string write_dark_square_finder(const std::string& dir, int input_size, int planes) {
  torch::jit::Module m("DarkSquareFinder");
  m.register_attribute("planes", c10::IntType::get(), planes);
  m.define(R"(
def forward(self, x):
    dark = (x.mean(1, keepdim=True) < 0.0).float()
    heat = torch.avg_pool2d(dark, 16)
    half = torch.full_like(heat, 0.5)
    zero = torch.zeros_like(heat)
    out = torch.cat([heat, half, half, zero, zero], 1)
    return out[:, 0:self.planes]
)");
  const std::string file = "dark_square_finder_" + std::to_string(planes) + ".pt";
  m.save(dir + "/" + file);
  return write_manifest(dir, file, R"({"objects": 0})", input_size);
}

}  // namespace dstest

namespace dstest {

std::string write_trimap_matting_model(const std::string& dir, int input_size) {
  torch::jit::Module m("TrimapMatting");
  m.register_parameter("w", torch::full({1, 3, 1, 1}, -40.0f / 3.0f), false);
  m.define(R"(
def forward(self, x):
    rgb = x[:, 0:3]
    trimap = x[:, 3:4]
    dark = torch.sigmoid(torch.conv2d(rgb, self.w))
    unknown = (trimap > 0.25) * (trimap < 0.75)
    return torch.where(unknown, dark, trimap)
)");
  const std::string file = "trimap_matting.pt";
  m.save(dir + "/" + file);
  const std::string path = write_manifest(dir, file, R"({"alpha": 0})", input_size);
  // Mark the 4-channel input.
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  text.replace(text.find("\"normalization\""), 0, "\"trimap\": true, ");
  std::ofstream(path) << text;
  return path;
}

}  // namespace dstest

// Writes the tiny models into $DS_TEST_MODEL_DIR as backbone.json and segmenter.json, for the C and
// Python tests (run by ctest as a fixture: `unit_tests "[.write-test-models]"`).
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

TEST_CASE("write tiny models for the C and Python tests", "[.write-test-models]") {
  const char* dir = std::getenv("DS_TEST_MODEL_DIR");
  REQUIRE(dir != nullptr);
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(dstest::write_tiny_backbone(dir, 16, 0, 32), std::string(dir) + "/backbone.json",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(dstest::write_dark_object_segmenter(dir, 32), std::string(dir) + "/segmenter.json",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(dstest::write_trainable_backbone(dir), std::string(dir) + "/trainable.json",
                             std::filesystem::copy_options::overwrite_existing);
  // A tiny catalogue folder (one sub-folder per category) and a configuration for the examples' tests.
  for (int i = 0; i < 4; ++i)
    for (const char* shape : {"round", "square"}) {
      cv::Mat im(48, 64, CV_8UC3, cv::Scalar(255, 255, 255));
      const cv::Scalar colour(50 * i, 180 - 40 * i, 90);
      if (std::string(shape) == "round") cv::circle(im, {32, 24}, 8 + 3 * i, colour, cv::FILLED);
      else cv::rectangle(im, cv::Rect(20 - i, 12 - i, 16 + 4 * i, 16 + 4 * i), colour, cv::FILLED);
      std::filesystem::create_directories(std::string(dir) + "/tree/" + shape);
      cv::imwrite(std::string(dir) + "/tree/" + shape + "/" + shape + std::to_string(i) + ".png", im);
    }
  std::ofstream(std::string(dir) + "/config.json")
      << R"({"backbone": "backbone.json", "segmenter": "segmenter.json", "threads": 1, "category_mode": "off"})";
}
