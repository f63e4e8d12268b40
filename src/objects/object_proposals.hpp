#pragma once
// Internal: where the products of a photo are, from the segmenter's mask and the photo's edges (the
// geometry of Pipeline::query_objects; the catalogue's part is in object_search.cpp). Pure OpenCV, no
// model: unit-tested on drawn scenes.

#include <opencv2/core.hpp>
#include <vector>

namespace domainsearch::detail {

struct ProposalSettings {
  float min_area = 0.002f;      // fraction of the photo's area
  int min_side = 16;            // pixels
  float min_aspect = 0.25f;     // one product's width / height
  float max_aspect = 2.0f;
  float edge_fraction = 0.5f;   // a cut needs a strong straight edge along this fraction of the region
};

/// One product-sized part of a region of the mask.
struct ObjectProposal {
  cv::Rect cell;  ///< the part of the region it was cut to (parts of one region tile its box)
  cv::Rect box;   ///< the mask's extent inside `cell`: the product's box
  int region = 0; ///< which connected region of the mask it comes from
};

/// The products of a photo: `rgb` CV_8UC3, `mask` CV_8U of the same size (nonzero: product). Each
/// connected region of the mask is cut along columns, then each part along rows, at positions where a
/// strong straight edge crosses at least edge_fraction of the part, choosing the cuts (dynamic
/// programming) so that every part's width / height lies in [min_aspect, max_aspect] (a region that
/// no choice of edges can cut so is cut at evenly spaced positions instead). Parts smaller than
/// min_area / min_side are dropped. Returned in reading order (see reading_order).
std::vector<ObjectProposal> propose_objects(const cv::Mat& rgb, const cv::Mat& mask, const ProposalSettings& settings);

/// Sorts boxes top to bottom by rows (a box whose vertical centre lies within half the median box
/// height of a row's first box joins that row), left to right within a row; returns the permutation.
std::vector<std::size_t> reading_order(const std::vector<cv::Rect>& boxes);

/// The object finder's output for one photo (tools/train_object_finder.py): 5 planes of height x width
/// floats (centre probability, the centre's offset inside its cell in cells, x then y, log(box width /
/// stride), log(box height / stride)) over its input of input_width x input_height pixels.
struct FinderGrid {
  const float* data = nullptr;
  int height = 0, width = 0;
  int input_width = 0, input_height = 0;
};

/// The finder's boxes in the photo's pixels (the input scaled back to `photo`, clipped to it): every
/// local maximum (3 x 3) of the centre probability that reaches min_score, most probable first, a box
/// overlapping a more probable one by IoU > 0.6 dropped as the same product found twice.
std::vector<cv::Rect> boxes_from_finder(const FinderGrid& grid, const cv::Size& photo, float min_score);

/// Whether two parts of one region share a side (they could be one product cut in two).
bool are_neighbours(const ObjectProposal& a, const ObjectProposal& b);

}  // namespace domainsearch::detail
