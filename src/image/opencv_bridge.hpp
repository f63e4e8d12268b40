#pragma once
// Internal: zero-copy bridges between domainsearch::Image (RGB8, packed) and cv::Mat.
#include <opencv2/core.hpp>

#include "domainsearch/image.hpp"

namespace domainsearch::detail {

/// A CV_8UC3 header over the image's RGB pixels (no copy). Valid while `image` lives unchanged.
inline cv::Mat as_mat(const Image& image) {
  return cv::Mat(image.height(), image.width(), CV_8UC3, const_cast<std::uint8_t*>(image.data()),
                 image.stride());
}

}  // namespace domainsearch::detail
