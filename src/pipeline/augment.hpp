#pragma once
// Internal: the paper's training augmentation for the category head: random rotation, horizontal
// flip and zoom of a catalogue image (each view is then embedded like any image).
#include <random>

#include "domainsearch/image.hpp"

namespace domainsearch::detail {

/// One random view: rotation in [-15, 15] degrees (corners filled white), a horizontal flip with
/// probability 1/2, and a centred zoom keeping 80-100% of each side.
Image augmented_view(const Image& image, std::mt19937_64& rng);

}  // namespace domainsearch::detail
