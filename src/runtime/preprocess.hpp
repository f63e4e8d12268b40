#pragma once
// Internal: turning RGB8 images into a model's input batch, per its manifest (resize without keeping
// the aspect ratio, as rembg and cv::dnn::blobFromImage do; channel order; normalisation).
#include <opencv2/core.hpp>
#include <vector>

#include "runtime/model_runner.hpp"

namespace domainsearch::detail {

/// One NCHW batch {images.size(), 3, H, W}. `grayscale` replaces colour by luminance in all three channels.
Tensor make_input_batch(const std::vector<cv::Mat>& rgb_images, const ModelManifest& manifest, bool grayscale = false);

/// Resizes with area averaging when shrinking and bilinear interpolation when enlarging.
cv::Mat resize_to(const cv::Mat& image, int width, int height);

}  // namespace domainsearch::detail
