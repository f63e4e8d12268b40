#include "objects/object_proposals.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <opencv2/imgproc.hpp>

#include "domainsearch/error.hpp"

namespace domainsearch::detail {
namespace {

// Two finder boxes overlapping more than this (IoU) are one product found twice.
constexpr double kDuplicateIou = 0.6;

// |3x3 Sobel| on 0..255 grey above which an edge is a package's side rather than print or texture.
constexpr float kStrongEdge = 60.0f;

// The strong edges across the columns (along_columns: vertical edges) or across the rows of `gray`,
// widened by 2 pixels each side so a slightly slanted side still crosses one column or row.
cv::Mat strong_edges(const cv::Mat& gray, bool along_columns) {
  cv::Mat gradient;
  cv::Sobel(gray, gradient, CV_32F, along_columns ? 1 : 0, along_columns ? 0 : 1, 3);
  cv::Mat strong = cv::abs(gradient) > kStrongEdge;
  const cv::Size widen = along_columns ? cv::Size(5, 1) : cv::Size(1, 5);
  cv::dilate(strong, strong, cv::getStructuringElement(cv::MORPH_RECT, widen));
  return strong;
}

struct Candidate {
  int at = 0;         // column
  float gain = 0.0f;  // what cutting here adds to a choice of cuts
};

// Per column: the fraction of the region's local height crossed by a strong edge inside the region.
std::vector<float> edge_profile(const cv::Mat& region, const cv::Mat& strong, const std::vector<int>& height) {
  cv::Mat near;
  cv::dilate(region, near, cv::getStructuringElement(cv::MORPH_RECT, cv::Size(5, 3)));  // a side lies on the region's border
  cv::Mat counts;
  cv::reduce((strong & near) / 255, counts, 0, cv::REDUCE_SUM, CV_32S);
  std::vector<float> profile(static_cast<std::size_t>(region.cols), 0.0f);
  for (int x = 0; x < region.cols; ++x) {
    int local = 0;  // the taller of the products meeting here
    for (int u = std::max(0, x - 2); u <= std::min(region.cols - 1, x + 2); ++u) local = std::max(local, height[static_cast<std::size_t>(u)]);
    if (local > 0) profile[static_cast<std::size_t>(x)] = std::min(1.0f, static_cast<float>(counts.at<int>(0, x)) / static_cast<float>(local));
  }
  return profile;
}

// Where a cut may go: the profile's local maxima of at least edge_fraction (gain > 0; a run of equal
// maxima, as the widened edges give, is cut in its middle), and evenly spaced fallback positions (gain
// -1, used only when no choice of edges gives product-sized parts).
std::vector<Candidate> cut_candidates(const std::vector<float>& profile, int spacing, float edge_fraction) {
  const int width = static_cast<int>(profile.size());
  std::vector<Candidate> out{{0, 0.0f}};
  for (int x = 1; x < width; ++x) {
    const float p = profile[static_cast<std::size_t>(x)];
    bool peak = p >= edge_fraction;
    for (int u = std::max(0, x - spacing); peak && u <= std::min(width - 1, x + spacing); ++u) {
      const float q = profile[static_cast<std::size_t>(u)];
      peak = q < p || (q == p && u >= x);  // the first of equal maxima
    }
    if (peak) {
      int end = x;
      while (end + 1 < width && profile[static_cast<std::size_t>(end + 1)] == p) ++end;
      out.push_back({(x + end + 1) / 2, p - edge_fraction / 2});
    } else if (x % spacing == 0) {
      out.push_back({x, -1.0f});
    }
  }
  out.push_back({width, 0.0f});
  // A run's middle can lie past fallback positions pushed after it: order by position, one per position.
  std::stable_sort(out.begin(), out.end(), [](const Candidate& a, const Candidate& b) { return a.at < b.at || (a.at == b.at && a.gain > b.gain); });
  out.erase(std::unique(out.begin(), out.end(), [](const Candidate& a, const Candidate& b) { return a.at == b.at; }), out.end());
  return out;
}

// The boundaries [0, ..., cols] of the parts `region` (CV_8U, one connected region) is cut into along its
// columns: the choice of candidates with the largest total gain whose parts all have width / height in
// [min_aspect, max_aspect]; [0, cols] when there is none.
std::vector<int> choose_cuts(const cv::Mat& region, const cv::Mat& strong, float min_aspect, float max_aspect, float edge_fraction) {
  std::vector<int> top(static_cast<std::size_t>(region.cols), -1), bottom(static_cast<std::size_t>(region.cols), -1), height(top.size(), 0);
  for (int y = 0; y < region.rows; ++y) {
    const std::uint8_t* row = region.ptr<std::uint8_t>(y);
    for (std::size_t x = 0; x < top.size(); ++x)
      if (row[x]) { if (top[x] < 0) top[x] = y; bottom[x] = y; }
  }
  for (std::size_t x = 0; x < top.size(); ++x) height[x] = top[x] < 0 ? 0 : bottom[x] - top[x] + 1;
  const int spacing = std::max(2, static_cast<int>(min_aspect * static_cast<float>(region.rows) / 2));
  const std::vector<Candidate> c = cut_candidates(edge_profile(region, strong, height), spacing, edge_fraction);

  const float unreachable = -std::numeric_limits<float>::infinity();
  std::vector<float> best(c.size(), unreachable);
  std::vector<std::size_t> previous(c.size(), 0);
  best[0] = 0;
  for (std::size_t i = 0; i + 1 < c.size(); ++i) {
    if (best[i] == unreachable) continue;
    int lo = std::numeric_limits<int>::max(), hi = -1;
    for (std::size_t j = i + 1; j < c.size(); ++j) {
      for (int x = c[j - 1].at; x < c[j].at; ++x)
        if (top[static_cast<std::size_t>(x)] >= 0) lo = std::min(lo, top[static_cast<std::size_t>(x)]), hi = std::max(hi, bottom[static_cast<std::size_t>(x)]);
      const float width = static_cast<float>(c[j].at - c[i].at);
      if (width > max_aspect * static_cast<float>(region.rows)) break;  // no part this wide can be one product
      const float h = hi < 0 ? 0.0f : static_cast<float>(hi - lo + 1);
      if (h > 0 && width >= min_aspect * h && width <= max_aspect * h && best[i] + c[j].gain > best[j]) {
        best[j] = best[i] + c[j].gain;
        previous[j] = i;
      }
    }
  }
  if (best.back() == unreachable) return {0, region.cols};
  std::vector<int> cuts;
  for (std::size_t j = c.size() - 1; j != 0; j = previous[j]) cuts.push_back(c[j].at);
  cuts.push_back(0);
  std::reverse(cuts.begin(), cuts.end());
  return cuts;
}

// The parts of one region (`region`: CV_8U over the region's box `frame`, photo coordinates), columns first.
void cut_region(const cv::Mat& region, const cv::Rect& frame, const cv::Mat& strong_x, const cv::Mat& strong_y, int id,
                const ProposalSettings& s, std::vector<ObjectProposal>& out) {
  const std::vector<int> columns = choose_cuts(region, strong_x(frame), s.min_aspect, s.max_aspect, s.edge_fraction);
  for (std::size_t c = 0; c + 1 < columns.size(); ++c) {
    const cv::Rect strip(columns[c], 0, columns[c + 1] - columns[c], frame.height);
    const cv::Rect extent = cv::boundingRect(region(strip));
    if (extent.empty()) continue;
    const cv::Rect column(strip.x, extent.y, strip.width, extent.height);  // keeps the cut columns, so neighbours share a side
    const cv::Mat part = region(column);
    const std::vector<int> rows = choose_cuts(part.t(), cv::Mat(strong_y(column + frame.tl()).t()), 1.0f / s.max_aspect,
                                              1.0f / s.min_aspect, s.edge_fraction);
    for (std::size_t r = 0; r + 1 < rows.size(); ++r) {
      const cv::Rect cell(column.x, column.y + rows[r], column.width, rows[r + 1] - rows[r]);
      const cv::Rect box = cv::boundingRect(region(cell)) + cell.tl();
      if (box.empty()) continue;
      out.push_back({cell + frame.tl(), box + frame.tl(), id});
    }
  }
}

}  // namespace

std::vector<ObjectProposal> propose_objects(const cv::Mat& rgb, const cv::Mat& mask, const ProposalSettings& s) {
  if (rgb.type() != CV_8UC3 || mask.type() != CV_8U || rgb.size() != mask.size())
    throw Error(Status::InvalidArgument, "propose_objects: need an RGB8 photo and an 8-bit mask of its size");
  cv::Mat binary = mask > 0;
  cv::morphologyEx(binary, binary, cv::MORPH_OPEN, cv::getStructuringElement(cv::MORPH_RECT, cv::Size(3, 3)));
  cv::Mat labels, stats, centroids;
  const int regions = cv::connectedComponentsWithStats(binary, labels, stats, centroids, 8, CV_32S);
  cv::Mat gray;
  cv::cvtColor(rgb, gray, cv::COLOR_RGB2GRAY);
  const cv::Mat strong_x = strong_edges(gray, true), strong_y = strong_edges(gray, false);
  const double min_area = static_cast<double>(s.min_area) * static_cast<double>(rgb.total());

  std::vector<ObjectProposal> parts;
  for (int id = 1; id < regions; ++id) {
    if (stats.at<int>(id, cv::CC_STAT_AREA) < min_area) continue;
    const cv::Rect frame(stats.at<int>(id, cv::CC_STAT_LEFT), stats.at<int>(id, cv::CC_STAT_TOP), stats.at<int>(id, cv::CC_STAT_WIDTH),
                         stats.at<int>(id, cv::CC_STAT_HEIGHT));
    const cv::Mat region = labels(frame) == id;
    cut_region(region, frame, strong_x, strong_y, id, s, parts);
  }
  std::vector<ObjectProposal> kept;
  for (const ObjectProposal& p : parts)
    if (p.box.area() >= min_area && std::min(p.box.width, p.box.height) >= s.min_side) kept.push_back(p);
  std::vector<cv::Rect> boxes;
  for (const ObjectProposal& p : kept) boxes.push_back(p.box);
  std::vector<ObjectProposal> ordered;
  for (std::size_t i : reading_order(boxes)) ordered.push_back(kept[i]);
  return ordered;
}

std::vector<std::size_t> reading_order(const std::vector<cv::Rect>& boxes) {
  std::vector<std::size_t> order(boxes.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  if (boxes.empty()) return order;
  const auto centre_y = [&](std::size_t i) { return boxes[i].y + boxes[i].height / 2.0; };
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return centre_y(a) < centre_y(b); });
  std::vector<int> heights;
  for (const cv::Rect& b : boxes) heights.push_back(b.height);
  std::nth_element(heights.begin(), heights.begin() + static_cast<std::ptrdiff_t>(heights.size() / 2), heights.end());
  const double half = heights[heights.size() / 2] / 2.0;
  for (std::size_t row = 0; row < order.size();) {
    std::size_t end = row + 1;
    while (end < order.size() && centre_y(order[end]) - centre_y(order[row]) <= half) ++end;
    std::sort(order.begin() + static_cast<std::ptrdiff_t>(row), order.begin() + static_cast<std::ptrdiff_t>(end),
              [&](std::size_t a, std::size_t b) { return boxes[a].x < boxes[b].x; });
    row = end;
  }
  return order;
}

std::vector<cv::Rect> boxes_from_finder(const FinderGrid& g, const cv::Size& photo, float min_score) {
  const int h = g.height, w = g.width;
  const auto at = [&](int c, int y, int x) { return g.data[(static_cast<std::size_t>(c) * h + y) * w + x]; };
  const double sx = static_cast<double>(photo.width) / g.input_width, sy = static_cast<double>(photo.height) / g.input_height;
  const double stride_x = static_cast<double>(g.input_width) / w, stride_y = static_cast<double>(g.input_height) / h;
  std::vector<std::pair<float, cv::Rect>> peaks;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const float p = at(0, y, x);
      bool peak = p >= min_score;  // and above its 8 neighbours (of equal ones, the first in row order)
      for (int v = std::max(0, y - 1); peak && v <= std::min(h - 1, y + 1); ++v)
        for (int u = std::max(0, x - 1); peak && u <= std::min(w - 1, x + 1); ++u) {
          const bool later = v > y || (v == y && u > x);
          const float q = at(0, v, u);
          peak = !(q > p) && (q != p || later || (v == y && u == x));  // a NaN neighbour does not hide a peak
        }
      if (!peak) continue;
      bool finite = true;
      for (int c = 1; c < 5; ++c) finite = finite && std::isfinite(at(c, y, x));
      if (!finite) continue;  // a broken output names no box
      const double cx = (x + std::clamp(static_cast<double>(at(1, y, x)), 0.0, 1.0)) * stride_x * sx;
      const double cy = (y + std::clamp(static_cast<double>(at(2, y, x)), 0.0, 1.0)) * stride_y * sy;
      const double bw = std::exp(std::min(static_cast<double>(at(3, y, x)), 8.0)) * stride_x * sx;
      const double bh = std::exp(std::min(static_cast<double>(at(4, y, x)), 8.0)) * stride_y * sy;
      const int x0 = static_cast<int>(std::lround(std::clamp(cx - bw / 2, 0.0, static_cast<double>(photo.width))));
      const int y0 = static_cast<int>(std::lround(std::clamp(cy - bh / 2, 0.0, static_cast<double>(photo.height))));
      const int x1 = static_cast<int>(std::lround(std::clamp(cx + bw / 2, 0.0, static_cast<double>(photo.width))));
      const int y1 = static_cast<int>(std::lround(std::clamp(cy + bh / 2, 0.0, static_cast<double>(photo.height))));
      const cv::Rect box(x0, y0, x1 - x0, y1 - y0);
      if (!box.empty()) peaks.push_back({p, box});
    }
  std::stable_sort(peaks.begin(), peaks.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<cv::Rect> kept;
  for (const auto& peak : peaks) {
    const cv::Rect& box = peak.second;
    const bool duplicate = std::any_of(kept.begin(), kept.end(), [&](const cv::Rect& k) {
      return static_cast<double>((k & box).area()) > kDuplicateIou * static_cast<double>((k | box).area());
    });
    if (!duplicate) kept.push_back(box);
  }
  return kept;
}

bool are_neighbours(const ObjectProposal& a, const ObjectProposal& b) {
  if (a.region != b.region) return false;
  const bool side_by_side = (a.cell.x + a.cell.width == b.cell.x || b.cell.x + b.cell.width == a.cell.x) &&
                            std::max(a.cell.y, b.cell.y) < std::min(a.cell.y + a.cell.height, b.cell.y + b.cell.height);
  const bool stacked = (a.cell.y + a.cell.height == b.cell.y || b.cell.y + b.cell.height == a.cell.y) &&
                       std::max(a.cell.x, b.cell.x) < std::min(a.cell.x + a.cell.width, b.cell.x + b.cell.width);
  return side_by_side || stacked;
}

}  // namespace domainsearch::detail
