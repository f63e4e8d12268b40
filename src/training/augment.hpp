#pragma once
// Internal: training augmentation. The paper's random rotation, horizontal flip and zoom of a
// catalogue image, and composites that paste a studio image's product (object on white) onto a real
// photo, so studio and shop images are learnt in one space.
#include <opencv2/core.hpp>
#include <random>

#include "domainsearch/image.hpp"

namespace domainsearch::detail {

/// One random view: rotation in [-15, 15] degrees (corners filled white), a horizontal flip with
/// probability 1/2, and a centred zoom keeping 80-100% of each side.
Image augmented_view(const Image& image, std::mt19937_64& rng);

/// The product's mask (CV_8U, 255 = product) in a studio image: pixels not near-white, closed, the
/// largest component, holes filled.
cv::Mat studio_object_mask(const Image& studio);

struct Composite {
  Image image;  ///< the background with the product pasted in
  cv::Mat truth;  ///< the product's mask in `image` (CV_8U, 255 = product)
};

/// The studio image's product scaled to 35-70% of the background's short side and pasted at a random
/// position of (a copy of) the background.
Composite composite_view(const Image& studio, const Image& background, std::mt19937_64& rng);

}  // namespace domainsearch::detail
