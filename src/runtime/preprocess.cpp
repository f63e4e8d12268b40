#include "runtime/preprocess.hpp"

#include <opencv2/imgproc.hpp>

namespace domainsearch::detail {

cv::Mat resize_to(const cv::Mat& image, int width, int height) {
  if (image.cols == width && image.rows == height) return image;
  const bool shrinking = width < image.cols && height < image.rows;
  cv::Mat out;
  cv::resize(image, out, cv::Size(width, height), 0, 0, shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

namespace {

void write_chw(const cv::Mat& rgb, const ModelManifest& m, bool grayscale, float* dst) {
  cv::Mat src = resize_to(rgb, m.input_width, m.input_height);
  if (grayscale) {
    cv::Mat gray;
    cv::cvtColor(src, gray, cv::COLOR_RGB2GRAY);
    cv::cvtColor(gray, src, cv::COLOR_GRAY2RGB);
  }
  float scale = m.scale;
  if (m.normalization == InputNormalization::MaxMeanStd) {
    double max_value = 0;
    cv::minMaxLoc(src.reshape(1), nullptr, &max_value);
    scale = 1.0f / static_cast<float>(std::max(max_value, 1e-6));
  }
  const std::size_t plane = static_cast<std::size_t>(m.input_width) * m.input_height;
  for (int c = 0; c < 3; ++c) {
    const int src_c = m.input_bgr ? 2 - c : c;
    const float mul = scale / m.std[c], add = -m.mean[c] / m.std[c];
    float* out = dst + c * plane;
    for (int y = 0; y < src.rows; ++y) {
      const std::uint8_t* row = src.ptr<std::uint8_t>(y);
      for (int x = 0; x < src.cols; ++x) *out++ = row[x * 3 + src_c] * mul + add;
    }
  }
}

}  // namespace

Tensor make_input_batch(const std::vector<cv::Mat>& rgb_images, const ModelManifest& m, bool grayscale) {
  const std::size_t plane = static_cast<std::size_t>(m.input_width) * m.input_height;
  Tensor t{{static_cast<std::int64_t>(rgb_images.size()), 3, m.input_height, m.input_width},
           std::vector<float>(rgb_images.size() * 3 * plane)};
  for (std::size_t i = 0; i < rgb_images.size(); ++i) write_chw(rgb_images[i], m, grayscale, t.data.data() + i * 3 * plane);
  return t;
}

}  // namespace domainsearch::detail
