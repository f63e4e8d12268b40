#include "training/augment.hpp"

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

cv::Mat studio_object_mask(const Image& studio) {
  std::vector<cv::Mat> ch;
  cv::split(as_mat(studio), ch);
  cv::Mat mask = (ch[0] < 235) | (ch[1] < 235) | (ch[2] < 235);
  cv::morphologyEx(mask, mask, cv::MORPH_CLOSE, cv::getStructuringElement(cv::MORPH_ELLIPSE, {9, 9}));
  cv::Mat labels, stats, centroids;
  const int n = cv::connectedComponentsWithStats(mask, labels, stats, centroids);
  if (n < 2) return cv::Mat(mask.size(), CV_8U, cv::Scalar(255));  // nothing but white: the whole image
  int best = 1;
  for (int i = 2; i < n; ++i)
    if (stats.at<int>(i, cv::CC_STAT_AREA) > stats.at<int>(best, cv::CC_STAT_AREA)) best = i;
  mask = labels == best;
  cv::Mat padded;
  cv::copyMakeBorder(mask, padded, 1, 1, 1, 1, cv::BORDER_CONSTANT, 0);
  cv::floodFill(padded, cv::Point(0, 0), 128);
  mask.setTo(255, padded(cv::Rect(1, 1, mask.cols, mask.rows)) == 0);
  return mask;
}

Composite composite_view(const Image& studio, const Image& background, std::mt19937_64& rng) {
  const cv::Mat mask = studio_object_mask(studio), bg = as_mat(background);
  const cv::Rect box = cv::boundingRect(mask);
  const double scale = std::uniform_real_distribution<double>(0.35, 0.7)(rng) * std::min(bg.cols, bg.rows) / std::max(box.width, box.height);
  cv::Mat object, m;
  cv::resize(as_mat(studio)(box), object, {}, scale, scale, cv::INTER_AREA);
  cv::resize(mask(box), m, object.size(), 0, 0, cv::INTER_NEAREST);
  const int x = std::uniform_int_distribution<int>(0, bg.cols - object.cols)(rng);
  const int y = std::uniform_int_distribution<int>(0, bg.rows - object.rows)(rng);
  Composite out{Image(background.width(), background.height()), cv::Mat(bg.size(), CV_8U, cv::Scalar(0))};
  bg.copyTo(as_mat(out.image));
  object.copyTo(as_mat(out.image)(cv::Rect(x, y, object.cols, object.rows)), m);
  m.copyTo(out.truth(cv::Rect(x, y, object.cols, object.rows)));
  return out;
}

}  // namespace domainsearch::detail
