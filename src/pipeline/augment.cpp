#include "pipeline/augment.hpp"

#include <opencv2/imgproc.hpp>

#include "image/opencv_bridge.hpp"

namespace domainsearch::detail {

Image augmented_view(const Image& image, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> angle(-15.0, 15.0), keep(0.8, 1.0);
  const cv::Mat src = as_mat(image);
  const double zoom = 1.0 / keep(rng);
  cv::Mat rotation = cv::getRotationMatrix2D(cv::Point2f(src.cols / 2.0f, src.rows / 2.0f), angle(rng), zoom);
  if (rng() % 2) {  // mirror around the vertical centre line: x' = w - 1 - x
    rotation.row(0) *= -1;
    rotation.at<double>(0, 2) += src.cols - 1;
  }
  Image out(image.width(), image.height());
  cv::Mat dst = as_mat(out);
  cv::warpAffine(src, dst, rotation, src.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar::all(255));
  return out;
}

}  // namespace domainsearch::detail
