#pragma once
// Localizer: finds the product in a photo (paper 4.1). A U2-Net-family segmenter (U2-Net, U2-Netp,
// ISNet, by manifest; role "mask") gives a saliency map, min-max normalised and resized back to the
// image. Its edges are refined the paper's way, by matting inside a trimap (sure foreground, sure
// background, unknown band): a guided filter by default, or a matting model (FBA-style, by manifest:
// input RGB + trimap, role "alpha"). The soft alpha is thresholded (fixed or Otsu), optionally cleaned
// (largest component, holes filled) and cut out onto white.
//
// Shop photos are not studio shots, so the Localizer also reports how far its mask can be trusted
// (confidence in [0,1]) and falls back (whole image, or the mask's bounding box) below
// LocalizerOptions::min_confidence.
//
// Thread-safety: localize() may be called from many threads at once on one instance.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "domainsearch/contour_mask.hpp"
#include "domainsearch/export.hpp"
#include "domainsearch/image.hpp"
#include "domainsearch/model.hpp"

namespace domainsearch {

enum class ThresholdMethod { Fixed, Otsu };
enum class EdgeRefinement { None, GuidedFilter, MattingModel };
enum class LocalizationFallback { WholeImage, BoundingBox };

struct LocalizerOptions {
  ThresholdMethod threshold_method = ThresholdMethod::Fixed;
  float threshold = 0.5f;  ///< for ThresholdMethod::Fixed, on the normalised map
  bool keep_largest_component = true;
  bool fill_holes = true;
  /// Default None: measured on 40 composites of grocery products on shop photos (bench_localization_quality),
  /// the guided filter did not raise mask IoU (0.383 -> 0.377 at 320 px) while costing ~40 ms; wrong objects,
  /// not edges, dominate the error there. It does sharpen coarse maps of the right object (unit tests).
  EdgeRefinement refinement = EdgeRefinement::None;
  float trimap_low = 0.1f;    ///< saliency below: sure background
  float trimap_high = 0.9f;   ///< saliency above: sure foreground
  int guided_radius = 8;      ///< guided filter window radius, pixels of the original image
  float guided_epsilon = 1e-3f;
  std::optional<ModelManifest> matting_model;  ///< required for EdgeRefinement::MattingModel
  /// Below: the mask is not used (fallback). 0.5 measured at 320 px: keeps 16/40 composite masks (mean IoU
  /// 0.57 vs 0.38 for all) and falls back on 19 of the 26 masks with IoU < 0.5.
  float min_confidence = 0.5f;
  LocalizationFallback fallback = LocalizationFallback::WholeImage;
  int mask_side = 64;                          ///< ContourMask resolution
  MaskFrame mask_frame = MaskFrame::Image;
};

struct BoundingBox {
  int x = 0, y = 0, width = 0, height = 0;
};

struct Localization {
  int width = 0, height = 0;        ///< of the input image
  std::vector<float> alpha;         ///< width*height soft alpha in [0,1], row-major
  std::vector<std::uint8_t> mask;   ///< width*height binary mask, 0 or 255 (what was used)
  BoundingBox box;                  ///< of the mask
  Image cutout;                     ///< the box's pixels, alpha-composited onto white
  ContourMask contour;              ///< of the mask
  float confidence = 0.0f;          ///< trust in the segmenter's mask, in [0,1]
  float saliency_peak = 0.0f;       ///< the segmenter's largest raw output, before normalisation (~0: nothing salient)
  bool fallback = false;            ///< true when the mask was not trusted and the fallback was used
};

class DS_API Localizer {
 public:
  Localizer(const ModelManifest& segmenter, const RuntimeOptions& runtime = {}, const LocalizerOptions& options = {});
  ~Localizer();
  Localizer(Localizer&&) noexcept;
  Localizer& operator=(Localizer&&) noexcept;

  const LocalizerOptions& options() const noexcept;
  const std::string& fingerprint() const noexcept;  ///< SHA-256 of the segmenter
  std::string device() const;

  Localization localize(const Image& image) const;
  /// Localises many images, running the segmenter in batches of `batch_size`.
  std::vector<Localization> localize_batch(const std::vector<Image>& images, int batch_size = 4) const;


 private:
  struct Impl;  // opaque: src/localization/localizer.cpp
  std::unique_ptr<Impl> impl_;
};

}  // namespace domainsearch
