#pragma once
// Models are data: a JSON manifest beside each model file says how to feed it and which output holds
// what. Any backbone (ResNet-50, MobileNetV2, EfficientNetV2...) or segmenter (U2-Net, U2-Netp, ISNet)
// is a manifest away; nothing is downloaded at run time.
//
// Manifest (JSON; paths relative to the manifest's folder):
//   {
//     "name": "mobilenet_v2_1.0_224",
//     "format": "torchscript",                 // or "onnx" (OpenCV dnn)
//     "file": "../shared/models/mobilenet_v2_1.0_224.pt",
//     "sha256": "…",                           // required: the file's SHA-256, 64 hex digits (either
//                                               //  case; `sha256sum FILE`), checked at load
//     "input": {"width": 224, "height": 224, "channels": "rgb",        // or "bgr"
//               "normalization": "scale_mean_std",                    // or "max_mean_std" (U2-Net:
//               "scale": 1.0, "mean": [0,0,0], "std": [1,1,1],        //  x/max(x), then mean/std)
//               "trimap": false},                       // true: matting model, RGB + trimap input
//     "outputs": {"features": 0, "logits": 1},  // role -> tuple index, or output name for ONNX
//     "feature_dim": 1280,                      // optional; checked at load
//     "labels": "imagenet_labels.txt",          // optional
//     "quantized_engine": "onednn",             // int8 models only (tools/quantize_model.py writes it)
//     "stages": 19,                             // fine-tunable backbone (fine_tuning.hpp): exports
//                                               //  normalize/stages/pool_and_classify over 19 stages
//     "memory_format": "channels_last"          // float TorchScript only; default "contiguous" (NCHW)
//   }
// Unknown keys (at the top and in "input") are refused, so a misspelt key cannot silently switch a
// check off; "outputs" maps free role names. Pixel values enter as 0..255; the network input is
// ((x * scale) - mean) / std per channel (for max_mean_std: (x / max(x) - mean) / std, max over the
// whole image).

#include <array>
#include <cstdint>
#include <map>
#include <vector>
#include <string>

#include "domainsearch/export.hpp"

namespace domainsearch {

enum class ModelFormat { TorchScript, Onnx };
enum class InputNormalization { ScaleMeanStd, MaxMeanStd };

/// Where an output lives: a position in the model's output tuple (TorchScript, ONNX) or a name (ONNX).
struct OutputRef {
  int index = -1;
  std::string name;
};

struct DS_API ModelManifest {
  std::string name;
  ModelFormat format = ModelFormat::TorchScript;
  std::string file;    ///< model file, absolute or relative to the working directory once loaded
  std::string sha256;  ///< expected digest, lowercase hex (load()/parse() require it and lowercase it);
                       ///< empty only in a manifest built in code: not checked
  int input_width = 224;
  int input_height = 224;
  bool input_bgr = false;
  bool input_trimap = false;  ///< a 4th input channel carries a trimap (0 bg, 0.5 unknown, 1 fg): matting models
  InputNormalization normalization = InputNormalization::ScaleMeanStd;
  float scale = 1.0f;
  std::array<float, 3> mean{0, 0, 0};
  std::array<float, 3> std{1, 1, 1};
  std::map<std::string, OutputRef> outputs;  ///< role ("features", "logits", "mask") -> output
  int feature_dim = 0;                       ///< 0 = not declared
  std::string labels_file;
  /// Int8 TorchScript models: the quantised-kernel engine their weights are packed for ("onednn",
  /// "fbgemm", "qnnpack"); empty for float models. Loading such a model selects that engine for the
  /// whole process (LibTorch keeps one), fails with DeviceUnavailable when this LibTorch lacks it, and
  /// is CPU-only (a "cuda" device is refused).
  std::string quantized_engine;
  /// Fine-tunable TorchScript backbones: how many stages its exported stages(y, start, stop) method
  /// runs (see fine_tuning.hpp); 0 = not fine-tunable.
  int stages = 0;
  /// Float TorchScript models: run with 4-D weight parameters and inputs in channels-last (NHWC)
  /// memory order. A speed choice only (outputs agree to float rounding): measured on 2 CPU cores,
  /// MobileNetV2 inference 1.4x and its fine-tuning 1.3x faster, ISNet 1.4x slower; hence per model.
  bool channels_last = false;

  /// Reads a manifest file; relative paths in it resolve against its folder. Throws Io, or
  /// InvalidArgument naming the file and the key at fault (unknown, missing, wrong type or range).
  static ModelManifest load(const std::string& manifest_path);
  /// Parses manifest JSON text; relative paths resolve against `base_dir`.
  static ModelManifest parse(const std::string& json_text, const std::string& base_dir);
  /// The output for a role; throws InvalidArgument if the manifest does not declare it.
  const OutputRef& output(const std::string& role) const;
  /// Labels from labels_file, one per line (empty when there is no labels file).
  std::vector<std::string> read_labels() const;
};

/// Where and how models run. Applies to every model a Pipeline or stage loads.
struct RuntimeOptions {
  std::string device = "cpu";  ///< "cpu", "cuda", "cuda:N" or "auto" (CUDA when available)
  int threads = 0;             ///< intra-op threads for LibTorch/OpenCV (process-wide!); 0 = every core
  int warmup_runs = 3;         ///< forwards on a dummy input at load (also validates the outputs); LibTorch's
                               ///< profiling executor optimises a graph only after its first runs
};

/// A named float32 parameter of a network (e.g. fine-tuned weights), row-major.
struct ParameterTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  std::vector<float> values;
};

/// SHA-256 of a file as lowercase hex. Throws Io.
DS_API std::string sha256_file(const std::string& path);
/// SHA-256 of a buffer as lowercase hex.
DS_API std::string sha256_bytes(const void* data, std::size_t size);

}  // namespace domainsearch
