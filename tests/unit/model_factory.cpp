#include <torch/script.h>

#include <fstream>

#include "test_models.hpp"

namespace dstest {

std::string write_manifest(const std::string& dir, const std::string& model_file, const std::string& outputs_json,
                           int input_size, const std::string& extra_json) {
  const std::string path = dir + "/" + model_file + ".json";
  std::ofstream(path) << R"({"name": ")" << model_file << R"(", "format": "torchscript", "file": ")" << model_file
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

TEST_CASE("write tiny models for the C and Python tests", "[.write-test-models]") {
  const char* dir = std::getenv("DS_TEST_MODEL_DIR");
  REQUIRE(dir != nullptr);
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(dstest::write_tiny_backbone(dir, 16, 0, 32), std::string(dir) + "/backbone.json",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(dstest::write_dark_object_segmenter(dir, 32), std::string(dir) + "/segmenter.json",
                             std::filesystem::copy_options::overwrite_existing);
}
