#include "objects/object_search.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <opencv2/imgproc.hpp>
#include <utility>

#include "catalogue/catalogue.hpp"
#include "catalogue/shared_models.hpp"
#include "domainsearch/error.hpp"
#include "image/opencv_bridge.hpp"
#include "objects/object_proposals.hpp"
#include "runtime/model_runner.hpp"
#include "runtime/preprocess.hpp"

namespace domainsearch {

const char* to_string(ObjectCrop crop) noexcept { return crop == ObjectCrop::Box ? "box" : "cutout"; }

ObjectCrop object_crop_from_string(const std::string& text) {
  if (text == "cutout") return ObjectCrop::Cutout;
  if (text == "box") return ObjectCrop::Box;
  throw Error(Status::InvalidArgument, "unknown object crop \"" + text + "\" (expected \"cutout\" or \"box\")");
}

}  // namespace domainsearch

namespace domainsearch::detail {
namespace {

using Clock = std::chrono::steady_clock;

// A segmenter whose raw map peaks below this found nothing (the Localizer's own rule for "no object").
constexpr float kNothingSalient = 0.05f;
// The object segmenter's own mask threshold, on the normalised map: the Localizer zeroes its alpha outside
// that mask, so it lies below any useful ObjectQueryOptions::mask_threshold (product_mask thresholds alpha).
constexpr float kSegmenterMaskFloor = 0.05f;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// A product as the backbone is shown it, and its mask over the same pixels.
struct ObjectCropImage {
  Image pixels;
  cv::Mat mask;  // CV_8U
};

ObjectCropImage crop_object(const cv::Mat& rgb, const cv::Mat& mask, const ObjectProposal& p, const ObjectQueryOptions& o) {
  const int mx = static_cast<int>(std::lround(o.crop_margin * static_cast<float>(p.box.width)));
  const int my = static_cast<int>(std::lround(o.crop_margin * static_cast<float>(p.box.height)));
  const cv::Rect frame = cv::Rect(p.box.x - mx, p.box.y - my, p.box.width + 2 * mx, p.box.height + 2 * my) & cv::Rect(0, 0, rgb.cols, rgb.rows);
  cv::Mat own = cv::Mat::zeros(frame.size(), CV_8U);
  const cv::Rect cell = p.cell & frame;
  if (mask.empty()) own(cell - frame.tl()).setTo(255);  // the product is its whole cell (a finder's box)
  else mask(cell).copyTo(own(cell - frame.tl()));       // its pixels inside its own cell (a neighbouring region's there too)
  ObjectCropImage out{Image(frame.width, frame.height), own};
  cv::Mat pixels = as_mat(out.pixels);
  if (o.crop == ObjectCrop::Box) {
    rgb(frame).copyTo(pixels);
  } else {
    pixels.setTo(cv::Scalar(255, 255, 255));
    rgb(frame).copyTo(pixels, own);
  }
  return out;
}

Image crop_image(const cv::Mat& rgb, const cv::Rect& r) {
  Image out(r.width, r.height);
  rgb(r).copyTo(as_mat(out));
  return out;
}

// CV_8U 0/255: where the normalised map of `where` reaches `threshold`.
cv::Mat threshold_map(const Localization& where, float threshold) {
  const cv::Mat alpha(where.height, where.width, CV_32F, const_cast<float*>(where.alpha.data()));
  return alpha >= threshold;
}

// Each product's answer: the crops embedded and searched with one network, their masks for reranking.
std::vector<QueryResponse> answers(const Catalogue& catalogue, std::vector<ObjectCropImage> crops, const ObjectQueryOptions& o) {
  const LocalizerOptions& geometry = catalogue.config().localizer;
  std::vector<Image> images;
  std::vector<std::optional<ContourMask>> contours;
  for (ObjectCropImage& c : crops) {
    contours.push_back(ContourMask::from_binary(c.mask.data, c.mask.cols, c.mask.rows, c.mask.step, geometry.mask_side, geometry.mask_frame));
    images.push_back(std::move(c.pixels));
  }
  return catalogue.query_products(images, contours, o.query);
}

struct Part {
  ObjectProposal proposal;
  QueryResponse answer;
  bool joined_away = false;
};

// The largest max_objects proposals, in their order.
std::vector<ObjectProposal> largest(std::vector<ObjectProposal> proposals, std::size_t max_objects) {
  if (proposals.size() <= max_objects) return proposals;
  std::vector<int> areas;
  for (const ObjectProposal& p : proposals) areas.push_back(p.box.area());
  std::nth_element(areas.begin(), areas.begin() + static_cast<std::ptrdiff_t>(max_objects - 1), areas.end(), std::greater<>());
  const int smallest_kept = areas[max_objects - 1];
  std::vector<ObjectProposal> kept;
  for (const ObjectProposal& p : proposals)
    if (p.box.area() > smallest_kept && kept.size() < max_objects) kept.push_back(p);
  for (const ObjectProposal& p : proposals)
    if (p.box.area() == smallest_kept && kept.size() < max_objects) kept.push_back(p);
  return kept;
}

// Joins neighbouring parts that are both unsure (confidence below join_below) when the catalogue is
// surer of the two as one product.
void join_unsure_neighbours(const Catalogue& catalogue, const cv::Mat& rgb, const cv::Mat& mask, const ObjectQueryOptions& o,
                            std::vector<Part>& parts) {
  const auto unsure = [&](const Part& p) { return !p.joined_away && p.answer.confidence >= 0 && p.answer.confidence < o.join_below; };
  for (std::size_t i = 0; i < parts.size(); ++i) {
    for (std::size_t j = i + 1; j < parts.size() && unsure(parts[i]); ++j) {
      if (!unsure(parts[j]) || !are_neighbours(parts[i].proposal, parts[j].proposal)) continue;
      const ObjectProposal whole{parts[i].proposal.cell | parts[j].proposal.cell, parts[i].proposal.box | parts[j].proposal.box,
                                 parts[i].proposal.region};
      // Only two cells that make a rectangle: a larger union would take in a third part, answered twice.
      if (whole.cell.area() != parts[i].proposal.cell.area() + parts[j].proposal.cell.area()) continue;
      const float aspect = static_cast<float>(whole.box.width) / static_cast<float>(whole.box.height);
      if (aspect < o.min_aspect || aspect > o.max_aspect) continue;
      QueryResponse joined = std::move(answers(catalogue, {crop_object(rgb, mask, whole, o)}, o).front());
      if (joined.confidence > std::max(parts[i].answer.confidence, parts[j].answer.confidence)) {
        parts[i] = {whole, std::move(joined), false};
        parts[j].joined_away = true;
      }
    }
  }
}

ObjectsResponse collect(std::vector<Part>& parts, int width, int height) {
  std::vector<std::size_t> alive;
  std::vector<cv::Rect> boxes;
  for (std::size_t i = 0; i < parts.size(); ++i)
    if (!parts[i].joined_away) alive.push_back(i), boxes.push_back(parts[i].proposal.box);
  ObjectsResponse r;
  r.width = width, r.height = height;
  std::map<std::pair<std::string, std::string>, std::size_t> counts;
  for (std::size_t k : reading_order(boxes)) {
    Part& p = parts[alive[k]];
    const cv::Rect& b = p.proposal.box;
    if (p.answer.no_match || p.answer.results.empty()) ++r.unmatched;
    else ++counts[{p.answer.results.front().label, p.answer.results.front().category}];
    r.objects.push_back({BoundingBox{b.x, b.y, b.width, b.height}, std::move(p.answer)});
  }
  for (const auto& [item, n] : counts) r.items.push_back({item.first, item.second, n});
  std::stable_sort(r.items.begin(), r.items.end(), [](const ItemCount& a, const ItemCount& b) { return a.count > b.count; });
  return r;
}

}  // namespace

const ModelRunner& ObjectSearch::finder() const {
  std::lock_guard<std::mutex> lock(load_);
  if (!finder_) {
    try {
      const ModelManifest m = ModelManifest::load(finder_manifest_);
      if (!m.outputs.count("objects"))
        throw Error(Status::ModelMismatch, finder_manifest_ + ": not an object finder (its manifest declares no \"objects\" output; "
                                           "tools/object_finder.sh trains one)");
      finder_ = load_model(m, runtime_);
    } catch (const Error& e) {
      if (e.status() != Status::Io) throw;
      throw Error(Status::Io, std::string(e.what()) + " (the configuration's \"object_finder\": train one with tools/object_finder.sh)");
    }
  }
  return *finder_;
}

ObjectSearch::Found ObjectSearch::find_with_model(const Image& image, const ObjectQueryOptions& o) const {
  const ModelRunner& model = finder();
  const ModelManifest& m = model.manifest();
  const Tensor out = model.run(make_input_batch({as_mat(image)}, m), {"objects"})[0];
  if (out.shape.size() != 4 || out.dim(0) != 1 || out.dim(1) != 5)
    throw Error(Status::ModelMismatch, m.file + ": the \"objects\" output is not [1, 5, H, W] (tools/object_finder.sh trains a finder)");
  const FinderGrid grid{out.data.data(), static_cast<int>(out.dim(2)), static_cast<int>(out.dim(3)), m.input_width, m.input_height};
  Found found;  // no mask: a found product is its whole box
  std::vector<cv::Rect> boxes;
  for (const cv::Rect& box : boxes_from_finder(grid, cv::Size(image.width(), image.height()), o.min_score))
    if (box.area() >= o.min_area * static_cast<double>(image.width()) * image.height() && std::min(box.width, box.height) >= o.min_side)
      boxes.push_back(box);
  for (std::size_t i : reading_order(boxes)) found.parts.push_back({boxes[i], boxes[i], -static_cast<int>(i) - 1});  // no neighbours: never joined
  return found;
}

ObjectSearch::Found ObjectSearch::find_in_segments(const Image& image, const ObjectQueryOptions& o) const {
  Found found{{}, product_mask(image, o)};
  found.parts = propose_objects(as_mat(image), found.mask, {o.min_area, o.min_side, o.min_aspect, o.max_aspect, o.edge_fraction});
  return found;
}

cv::Mat ObjectSearch::product_mask(const Image& image, const ObjectQueryOptions& o) const {
  const Localization whole = segmenter().localize(image);
  if (whole.saliency_peak < kNothingSalient) return cv::Mat::zeros(image.height(), image.width(), CV_8U);
  cv::Mat mask = threshold_map(whole, o.mask_threshold);
  cv::Mat labels, stats, centroids;
  const int regions = cv::connectedComponentsWithStats(mask, labels, stats, centroids, 8, CV_32S);
  const double large = static_cast<double>(o.resegment_above) * static_cast<double>(mask.total());
  for (int id = 1; id < regions; ++id) {
    const cv::Rect box(stats.at<int>(id, cv::CC_STAT_LEFT), stats.at<int>(id, cv::CC_STAT_TOP), stats.at<int>(id, cv::CC_STAT_WIDTH),
                       stats.at<int>(id, cv::CC_STAT_HEIGHT));
    if (o.resegment_above >= 1 || box.area() <= large) continue;
    const Localization part = segmenter().localize(crop_image(as_mat(image), box));
    if (part.saliency_peak < kNothingSalient) continue;
    const cv::Mat inside = labels(box) == id;
    mask(box).setTo(0, inside);
    cv::Mat(mask(box) | (threshold_map(part, o.mask_threshold) & inside)).copyTo(mask(box));
  }
  return mask;
}

void validate(const ObjectQueryOptions& o) {
  const auto require = [](bool ok, const char* what) {
    if (!ok) throw Error(Status::InvalidArgument, std::string("object query: ") + what);
  };
  require(o.min_score > 0 && o.min_score <= 1, "min_score must be in (0, 1]");
  require(o.mask_threshold > 0 && o.mask_threshold <= 1, "mask_threshold must be in (0, 1]");
  require(o.resegment_above > 0 && o.resegment_above <= 1, "resegment_above must be in (0, 1]");
  require(o.min_area >= 0 && o.min_area < 1, "min_area must be in [0, 1)");
  require(o.min_side >= 1, "min_side must be at least 1");
  require(o.min_aspect >= 0.05f && o.min_aspect <= o.max_aspect && o.max_aspect <= 20.0f, "need 0.05 <= min_aspect <= max_aspect <= 20");
  require(o.edge_fraction > 0 && o.edge_fraction <= 1, "edge_fraction must be in (0, 1]");
  require(o.crop_margin >= 0 && o.crop_margin <= 1, "crop_margin must be in [0, 1]");
  require(o.join_below >= 0 && o.join_below <= 1, "join_below must be in [0, 1]");
  require(o.max_objects >= 1, "max_objects must be at least 1");
  if (o.query.k && *o.query.k == 0) throw Error(Status::InvalidArgument, "k must be at least 1");
}

ObjectSearch::ObjectSearch(const PipelineConfig& config)
    : segmenter_manifest_(config.segmenter_manifest), finder_manifest_(config.object_finder_manifest), runtime_(config.runtime),
      localizer_(config.localizer) {
  // Every region of the map counts (product_mask thresholds it), none is replaced by a fallback, and
  // edges come from the photo.
  localizer_.threshold_method = ThresholdMethod::Fixed;
  localizer_.threshold = kSegmenterMaskFloor;
  localizer_.keep_largest_component = false;
  localizer_.fill_holes = false;
  localizer_.min_confidence = 0.0f;
  localizer_.refinement = EdgeRefinement::None;
}

ObjectSearch::~ObjectSearch() = default;

const Localizer& ObjectSearch::segmenter() const {
  std::lock_guard<std::mutex> lock(load_);
  if (!segmenter_) {
    segmenter_ = shared_segmenter(ModelManifest::load(segmenter_manifest_), runtime_, localizer_);
  }
  return *segmenter_;
}

ObjectsResponse ObjectSearch::query(const Catalogue& catalogue, const Image& image, const ObjectQueryOptions& options) const {
  validate(options);
  ObjectQueryOptions o = options;  // the products are answered under the configuration's object rules unless told otherwise
  if (!o.query.no_match_rules) o.query.no_match_rules = catalogue.config().product_rules();
  if (finder_manifest_.empty() && segmenter_manifest_.empty())
    throw Error(Status::InvalidArgument, "object queries need an object finder or a segmenter: set \"object_finder\" "
                                         "(tools/object_finder.sh trains one) or \"segmenter\" in the configuration");
  if (image.empty()) throw Error(Status::InvalidArgument, "object query: the image is empty");
  if (catalogue.index().size() == 0) throw Error(Status::NotFound, "the catalogue is empty: index some images first");
  const auto start = Clock::now();
  ObjectTimings t;
  const Found found = finder_manifest_.empty() ? find_in_segments(image, o) : find_with_model(image, o);
  const cv::Mat& mask = found.mask;
  t.find_ms = ms_since(start);

  auto step = Clock::now();
  const cv::Mat rgb = as_mat(image);
  const std::vector<ObjectProposal> proposals = largest(found.parts, o.max_objects);
  std::vector<ObjectCropImage> crops;
  for (const ObjectProposal& p : proposals) crops.push_back(crop_object(rgb, mask, p, o));
  t.crop_ms = ms_since(step);

  step = Clock::now();
  std::vector<QueryResponse> first = answers(catalogue, std::move(crops), o);
  std::vector<Part> parts;
  for (std::size_t i = 0; i < proposals.size(); ++i) {
    t.embed_ms += first[i].timings.embed_ms;
    parts.push_back({proposals[i], std::move(first[i])});
  }
  if (o.join_below > 0) join_unsure_neighbours(catalogue, rgb, mask, o, parts);
  t.search_ms = ms_since(step) - t.embed_ms;  // joins' embeddings included

  ObjectsResponse r = collect(parts, image.width(), image.height());
  t.total_ms = ms_since(start);
  r.timings = t;
  return r;
}

}  // namespace domainsearch::detail
