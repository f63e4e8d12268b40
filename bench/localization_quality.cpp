// Localisation quality where the truth is known: real product cut-outs (the grocery iconic images, shot
// on white) composited onto real cluttered backgrounds (grocery validation photos) at random positions
// and scales. Reports mean mask IoU against the known masks for each segmenter (default: ISNet at 320
// and 512), with and without edge refinement, plus how the Localizer's confidence tracks the IoU (for
// the fallback threshold).
//   bench_localization_quality [--shared ../shared] [--count 24] [--seed 7] [--segmenter MANIFEST]...
// A --segmenter manifest is used as written (e.g. the int8 one tools/quantize_model.py writes); the
// default ones are read from examples/models with their model file taken from --shared.
#include "inference_process.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <domainsearch/localizer.hpp>
#include <filesystem>
#include <fstream>
#include <opencv2/imgproc.hpp>
#include <random>
#include <string>
#include <vector>

#include "training/augment.hpp"  // compiled in: the library keeps its compositing internal

using namespace domainsearch;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> column0(const std::string& csv, const std::string& root) {
  std::ifstream f(csv);
  std::vector<std::string> out;
  std::string line;
  std::getline(f, line);
  while (std::getline(f, line)) out.push_back(root + "/" + line.substr(0, line.find(',')));
  return out;
}

double iou(const std::vector<std::uint8_t>& mask, const cv::Mat& truth) {
  std::size_t inter = 0, uni = 0;
  for (std::size_t i = 0; i < mask.size(); ++i) {
    const bool a = mask[i] != 0, b = truth.data[i] != 0;
    inter += a && b;
    uni += a || b;
  }
  return uni ? double(inter) / double(uni) : 1.0;
}

}  // namespace

int main(int argc, char** argv) {
  domainsearch::process::tune_process_for_inference();  // as the domainsearch command does
  std::string shared = std::string(DS_SOURCE_DIR) + "/../shared";
  std::size_t count = 24;
  unsigned seed = 7;
  std::vector<ModelManifest> segmenters;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--shared")) shared = argv[i + 1];
    else if (!std::strcmp(argv[i], "--count")) count = std::stoul(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--seed")) seed = static_cast<unsigned>(std::stoul(argv[i + 1]));
    else if (!std::strcmp(argv[i], "--segmenter")) segmenters.push_back(ModelManifest::load(argv[i + 1]));
  }
  if (segmenters.empty())
    for (const char* name : {"isnet_320.json", "isnet_512.json"}) {
      ModelManifest m = ModelManifest::load(std::string(DS_MANIFEST_DIR) + "/" + name);
      m.file = shared + "/models/" + fs::path(m.file).filename().string();
      segmenters.push_back(m);
    }
  const std::string root = shared + "/data/grocery";
  const auto objects = column0(root + "/catalogue_iconic.csv", root);
  const auto backgrounds = column0(root + "/queries_val.csv", root);
  std::mt19937_64 rng(seed);
  std::vector<detail::Composite> samples;
  for (std::size_t i = 0; i < count; ++i)
    samples.push_back(detail::composite_view(Image::decode_file(objects[(i * 7) % objects.size()]),
                                             Image::decode_file(backgrounds[(i * 13 + 5) % backgrounds.size()]), rng));
  RuntimeOptions runtime;
  runtime.threads = 2;
  std::printf("%zu composites (iconic product on a validation photo, 35-70%% of the short side)\n", samples.size());
  std::printf("%-36s %-14s %9s %9s %9s %9s %10s\n", "segmenter", "refinement", "mean IoU", "IoU<0.5", "ms/img", "conf|ok", "conf|bad");
  for (const ModelManifest& m : segmenters) {
    for (const EdgeRefinement refinement : {EdgeRefinement::None, EdgeRefinement::GuidedFilter}) {
      LocalizerOptions o;
      o.refinement = refinement;
      o.min_confidence = 0.0f;  // measure the raw mask
      const Localizer localizer(m, runtime, o);
      double sum = 0, conf_ok = 0, conf_bad = 0;
      int bad = 0;
      std::vector<std::pair<double, float>> iou_confidence;
      const auto t = std::chrono::steady_clock::now();
      for (const detail::Composite& s : samples) {
        const Localization loc = localizer.localize(s.image);
        const double v = iou(loc.mask, s.truth);
        iou_confidence.emplace_back(v, loc.confidence);
        sum += v;
        if (v < 0.5) ++bad, conf_bad += loc.confidence;
        else conf_ok += loc.confidence;
      }
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count() / samples.size();
      const int ok = static_cast<int>(samples.size()) - bad;
      std::printf("%-36s %-14s %9.3f %9d %9.1f %9.3f %10.3f\n", m.name.c_str(), refinement == EdgeRefinement::None ? "none" : "guided_filter",
                  sum / samples.size(), bad, ms, ok ? conf_ok / ok : 0.0, bad ? conf_bad / bad : 0.0);
      // What a fallback threshold would do: masks kept, their mean IoU, and the share of bad masks caught.
      for (const float t : {0.3f, 0.5f, 0.6f, 0.7f}) {
        int kept = 0, caught = 0;
        double kept_iou = 0;
        for (const auto& [v, c] : iou_confidence) {
          if (c >= t) ++kept, kept_iou += v;
          else caught += v < 0.5;
        }
        std::printf("    min_confidence %.1f: keeps %2d/%zu masks (mean IoU %.3f), falls back on %d of the %d bad ones\n", t, kept,
                    iou_confidence.size(), kept ? kept_iou / kept : 0.0, caught, bad);
      }
      std::fflush(stdout);
    }
  }
  return 0;
}
