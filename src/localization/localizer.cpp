#include "domainsearch/localizer.hpp"

#include <opencv2/imgproc.hpp>

#include "domainsearch/error.hpp"
#include "image/opencv_bridge.hpp"
#include "runtime/preprocess.hpp"

namespace domainsearch {
namespace {

constexpr float kNoObjectSaliency = 0.05f;  // a map whose raw peak is below this holds no object
constexpr float kMinArea = 0.005f, kMaxArea = 0.98f;

// He et al.'s guided filter with a grayscale guide; all images CV_32F.
cv::Mat guided_filter(const cv::Mat& guide, const cv::Mat& src, int radius, float epsilon) {
  const cv::Size window(2 * radius + 1, 2 * radius + 1);
  const auto box = [&](const cv::Mat& m) {
    cv::Mat out;
    cv::boxFilter(m, out, CV_32F, window, cv::Point(-1, -1), true, cv::BORDER_REFLECT);
    return out;
  };
  const cv::Mat mean_i = box(guide), mean_p = box(src);
  const cv::Mat var_i = box(guide.mul(guide)) - mean_i.mul(mean_i);
  const cv::Mat cov_ip = box(guide.mul(src)) - mean_i.mul(mean_p);
  const cv::Mat a = cov_ip / (var_i + epsilon);
  const cv::Mat b = mean_p - a.mul(mean_i);
  return box(a).mul(guide) + box(b);
}

// Keeps only the largest 8-connected foreground component; returns its share of the foreground.
float keep_largest_component(cv::Mat& mask) {
  cv::Mat labels, stats, centroids;
  const int n = cv::connectedComponentsWithStats(mask, labels, stats, centroids, 8, CV_32S);
  if (n <= 2) return n == 2 ? 1.0f : 0.0f;
  int best = 1;
  double total = 0;
  for (int i = 1; i < n; ++i) {
    total += stats.at<int>(i, cv::CC_STAT_AREA);
    if (stats.at<int>(i, cv::CC_STAT_AREA) > stats.at<int>(best, cv::CC_STAT_AREA)) best = i;
  }
  mask = (labels == best);
  return static_cast<float>(stats.at<int>(best, cv::CC_STAT_AREA) / total);
}

// Sets every background pixel not connected to the image border (a hole) to foreground.
void fill_holes(cv::Mat& mask) {
  cv::Mat padded;
  cv::copyMakeBorder(mask, padded, 1, 1, 1, 1, cv::BORDER_CONSTANT, 0);
  cv::floodFill(padded, cv::Point(0, 0), 128);
  mask.setTo(255, padded(cv::Rect(1, 1, mask.cols, mask.rows)) == 0);
}

}  // namespace

struct Localizer::Impl {
  std::shared_ptr<const detail::ModelRunner> segmenter;
  std::shared_ptr<const detail::ModelRunner> matting;
  LocalizerOptions options;

  // The segmenter's map for one image, min-max normalised, at the image's size; raw_peak = its maximum before.
  cv::Mat saliency(const detail::Tensor& out, std::size_t i, const cv::Size& size, float& raw_peak) const {
    const int h = static_cast<int>(out.dim(out.shape.size() - 2)), w = static_cast<int>(out.dim(out.shape.size() - 1));
    const cv::Mat map(h, w, CV_32F, const_cast<float*>(out.data.data()) + i * static_cast<std::size_t>(h) * w);
    double lo = 0, hi = 0;
    cv::minMaxLoc(map, &lo, &hi);
    raw_peak = static_cast<float>(hi);
    cv::Mat norm = (map - lo) / std::max(hi - lo, 1e-8);
    cv::Mat resized;
    cv::resize(norm, resized, size, 0, 0, cv::INTER_LINEAR);
    return resized;
  }

  // Matting inside the trimap's unknown band; the sure regions keep the saliency's verdict.
  cv::Mat refine(const cv::Mat& rgb, const cv::Mat& s) const {
    if (options.refinement == EdgeRefinement::None) return s;
    cv::Mat alpha;
    if (options.refinement == EdgeRefinement::GuidedFilter) {
      cv::Mat gray;
      cv::cvtColor(rgb, gray, cv::COLOR_RGB2GRAY);
      gray.convertTo(gray, CV_32F, 1.0 / 255);
      alpha = guided_filter(gray, s, options.guided_radius, options.guided_epsilon);
    } else {
      alpha = run_matting_model(rgb, s);
    }
    alpha = cv::max(cv::min(alpha, 1.0f), 0.0f);
    s.copyTo(alpha, (s <= options.trimap_low) | (s >= options.trimap_high));
    return alpha;
  }

  cv::Mat run_matting_model(const cv::Mat& rgb, const cv::Mat& s) const {
    const ModelManifest& m = matting->manifest();
    detail::Tensor input = detail::make_input_batch({rgb}, m);
    cv::Mat trimap(s.size(), CV_32F, cv::Scalar(0.5f));
    trimap.setTo(0.0f, s <= options.trimap_low);
    trimap.setTo(1.0f, s >= options.trimap_high);
    const cv::Mat small = detail::resize_to(trimap, m.input_width, m.input_height);
    input.shape[1] = 4;
    input.data.insert(input.data.end(), small.ptr<float>(), small.ptr<float>() + small.total());
    const detail::Tensor out = matting->run(input, {"alpha"})[0];
    const int h = static_cast<int>(out.dim(out.shape.size() - 2)), w = static_cast<int>(out.dim(out.shape.size() - 1));
    cv::Mat alpha;
    cv::resize(cv::Mat(h, w, CV_32F, const_cast<float*>(out.data.data())), alpha, s.size(), 0, 0, cv::INTER_LINEAR);
    return alpha;
  }

  cv::Mat binarise(const cv::Mat& alpha) const {
    cv::Mat mask;
    if (options.threshold_method == ThresholdMethod::Otsu) {
      cv::Mat u8;
      alpha.convertTo(u8, CV_8U, 255.0);
      cv::threshold(u8, mask, 0, 255, cv::THRESH_BINARY | cv::THRESH_OTSU);
    } else {
      mask = alpha >= options.threshold;
    }
    return mask;
  }

  Localization finish(const Image& image, const detail::Tensor& out, std::size_t i) const {
    const cv::Mat rgb = detail::as_mat(image);
    float raw_peak = 0;
    const cv::Mat s = saliency(out, i, rgb.size(), raw_peak);
    cv::Mat alpha = refine(rgb, s);
    cv::Mat mask = binarise(alpha);
    const float component_share = options.keep_largest_component ? keep_largest_component(mask) : 1.0f;
    if (options.fill_holes) fill_holes(mask);
    const float area = static_cast<float>(cv::countNonZero(mask)) / static_cast<float>(mask.total());
    const float decisive = static_cast<float>(cv::countNonZero((s <= options.trimap_low) | (s >= options.trimap_high))) /
                           static_cast<float>(s.total());
    const bool plausible = raw_peak >= kNoObjectSaliency && area >= kMinArea && area <= kMaxArea;

    Localization loc;
    loc.width = image.width(), loc.height = image.height();
    loc.confidence = plausible ? decisive * component_share : 0.0f;
    loc.saliency_peak = raw_peak;
    loc.fallback = loc.confidence < options.min_confidence;
    if (loc.fallback) {
      const bool use_box = options.fallback == LocalizationFallback::BoundingBox && area > 0;
      const cv::Rect box = use_box ? cv::boundingRect(mask) : cv::Rect(0, 0, rgb.cols, rgb.rows);
      mask.setTo(0);
      mask(box).setTo(255);
      alpha = cv::Mat(mask.size(), CV_32F, cv::Scalar(0.0f));
      alpha(box).setTo(1.0f);
    } else {
      // Soft alpha limited to the kept object (a 3-pixel margin keeps its refined edge).
      cv::Mat near;
      cv::dilate(mask, near, cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(7, 7)));
      alpha.setTo(0.0f, near == 0);
    }
    const cv::Rect box = cv::countNonZero(mask) > 0 ? cv::boundingRect(mask) : cv::Rect(0, 0, rgb.cols, rgb.rows);
    loc.box = {box.x, box.y, box.width, box.height};
    loc.alpha.assign(alpha.ptr<float>(), alpha.ptr<float>() + alpha.total());
    loc.mask.assign(mask.ptr<std::uint8_t>(), mask.ptr<std::uint8_t>() + mask.total());
    loc.contour = ContourMask::from_binary(loc.mask.data(), loc.width, loc.height, static_cast<std::size_t>(loc.width),
                                           options.mask_side, options.mask_frame);
    loc.cutout = cutout(rgb, alpha, box);
    return loc;
  }

  static Image cutout(const cv::Mat& rgb, const cv::Mat& alpha, const cv::Rect& box) {
    Image out(box.width, box.height);
    for (int y = 0; y < box.height; ++y) {
      const std::uint8_t* src = rgb.ptr<std::uint8_t>(box.y + y) + box.x * 3;
      const float* a = alpha.ptr<float>(box.y + y) + box.x;
      std::uint8_t* dst = out.data() + y * out.stride();
      for (int x = 0; x < box.width * 3; ++x) dst[x] = static_cast<std::uint8_t>(src[x] * a[x / 3] + 255.0f * (1.0f - a[x / 3]) + 0.5f);
    }
    return out;
  }
};

Localizer::Localizer(const ModelManifest& segmenter, const RuntimeOptions& runtime, const LocalizerOptions& options)
    : impl_(std::make_unique<Impl>()) {
  if (!(options.trimap_low < options.trimap_high) || options.guided_radius < 1 || !(options.guided_epsilon > 0))
    throw Error(Status::InvalidArgument, "Localizer: need trimap_low < trimap_high, guided_radius >= 1, guided_epsilon > 0");
  if (options.refinement == EdgeRefinement::MattingModel && !options.matting_model)
    throw Error(Status::InvalidArgument, "Localizer: EdgeRefinement::MattingModel needs options.matting_model");
  ContourMask probe(options.mask_side, options.mask_frame);  // validates the mask geometry
  impl_->options = options;
  impl_->segmenter = detail::load_model(segmenter, runtime);
  if (options.refinement == EdgeRefinement::MattingModel) impl_->matting = detail::load_model(*options.matting_model, runtime);
}

Localizer::~Localizer() = default;
Localizer::Localizer(Localizer&&) noexcept = default;
Localizer& Localizer::operator=(Localizer&&) noexcept = default;

const LocalizerOptions& Localizer::options() const noexcept { return impl_->options; }
const std::string& Localizer::fingerprint() const noexcept { return impl_->segmenter->fingerprint(); }
std::string Localizer::device() const { return impl_->segmenter->device(); }

Localization Localizer::localize(const Image& image) const { return localize_batch({image}, 1).front(); }

std::vector<Localization> Localizer::localize_batch(const std::vector<Image>& images, int batch_size) const {
  if (batch_size < 1) throw Error(Status::InvalidArgument, "Localizer: batch_size must be at least 1");
  std::vector<Localization> out;
  for (std::size_t first = 0; first < images.size(); first += static_cast<std::size_t>(batch_size)) {
    const std::size_t last = std::min(images.size(), first + static_cast<std::size_t>(batch_size));
    std::vector<cv::Mat> batch;
    for (std::size_t i = first; i < last; ++i) {
      if (images[i].empty()) throw Error(Status::InvalidArgument, "Localizer: image " + std::to_string(i) + " is empty");
      batch.push_back(detail::as_mat(images[i]));
    }
    const detail::Tensor maps = impl_->segmenter->run(detail::make_input_batch(batch, impl_->segmenter->manifest()), {"mask"})[0];
    if (maps.shape.size() < 3 || maps.dim(0) != static_cast<std::int64_t>(batch.size()))
      throw Error(Status::ModelMismatch, impl_->segmenter->manifest().file + ": \"mask\" output is not [N,1,H,W]");
    for (std::size_t i = first; i < last; ++i) out.push_back(impl_->finish(images[i], maps, i - first));
  }
  return out;
}

}  // namespace domainsearch
