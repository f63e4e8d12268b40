#include "domainsearch/contour_mask.hpp"

#include <algorithm>
#include <bitset>
#include <cstring>
#include <string>

#include "domainsearch/error.hpp"

namespace domainsearch {
namespace {

void check_side(int side) {
  if (side < ContourMask::kMinSide || side > ContourMask::kMaxSide)
    throw Error(Status::InvalidArgument, "ContourMask side must be in [" + std::to_string(ContourMask::kMinSide) + ", " +
                                             std::to_string(ContourMask::kMaxSide) + "], got " + std::to_string(side));
}

std::size_t popcount(std::uint64_t w) { return std::bitset<64>(w).count(); }

struct Box {
  int x0, y0, x1, y1;  // half-open
};

}  // namespace

ContourMask::ContourMask(int side, MaskFrame frame) : side_(side), frame_(frame) {
  check_side(side);
  if (frame != MaskFrame::Image && frame != MaskFrame::BoundingBox)
    throw Error(Status::InvalidArgument, "ContourMask: unknown frame " + std::to_string(static_cast<int>(frame)));
  words_.assign(word_count(side), 0);
}

template <typename T>
ContourMask ContourMask::build(const T* mask, int width, int height, std::size_t stride, int side, MaskFrame frame,
                               T threshold) {
  ContourMask out(side, frame);
  if (mask == nullptr || width <= 0 || height <= 0 || stride < static_cast<std::size_t>(width))
    throw Error(Status::InvalidArgument, "ContourMask: invalid source mask (null, non-positive size or stride < width)");
  // Integral image of foreground pixels: coverage of any rectangle in O(1).
  const std::size_t w1 = static_cast<std::size_t>(width) + 1;
  std::vector<std::uint32_t> integral(w1 * (height + 1), 0);
  Box box{width, height, 0, 0};
  for (int y = 0; y < height; ++y) {
    const T* row = mask + y * stride;
    std::uint32_t run = 0;
    for (int x = 0; x < width; ++x) {
      const bool on = row[x] >= threshold;
      run += on;
      integral[(y + 1) * w1 + x + 1] = integral[y * w1 + x + 1] + run;
      if (on) box = {std::min(box.x0, x), std::min(box.y0, y), std::max(box.x1, x + 1), std::max(box.y1, y + 1)};
    }
  }
  if (box.x1 <= box.x0) return out;  // no foreground
  const Box frame_box = frame == MaskFrame::Image ? Box{0, 0, width, height} : box;
  const auto sum = [&](int x0, int y0, int x1, int y1) {
    return integral[y1 * w1 + x1] - integral[y0 * w1 + x1] - integral[y1 * w1 + x0] + integral[y0 * w1 + x0];
  };
  const auto edge = [side](int lo, int hi, int i) { return lo + static_cast<int>(static_cast<std::int64_t>(hi - lo) * i / side); };
  for (int cy = 0; cy < side; ++cy) {
    const int y0 = edge(frame_box.y0, frame_box.y1, cy);
    const int y1 = std::max(edge(frame_box.y0, frame_box.y1, cy + 1), y0 + 1);
    for (int cx = 0; cx < side; ++cx) {
      const int x0 = edge(frame_box.x0, frame_box.x1, cx);
      const int x1 = std::max(edge(frame_box.x0, frame_box.x1, cx + 1), x0 + 1);
      const std::uint64_t cells = static_cast<std::uint64_t>(x1 - x0) * (y1 - y0);
      if (2 * static_cast<std::uint64_t>(sum(x0, y0, x1, y1)) >= cells) out.set(cx, cy);
    }
  }
  return out;
}

ContourMask ContourMask::from_binary(const std::uint8_t* mask, int width, int height, std::size_t stride, int side,
                                     MaskFrame frame, std::uint8_t threshold) {
  return build<std::uint8_t>(mask, width, height, stride, side, frame, threshold);
}

ContourMask ContourMask::from_soft(const float* mask, int width, int height, std::size_t stride, int side,
                                   MaskFrame frame, float threshold) {
  return build<float>(mask, width, height, stride, side, frame, threshold);
}

void ContourMask::set(int x, int y) {
  const std::size_t i = static_cast<std::size_t>(y) * side_ + x;
  words_[i / 64] |= std::uint64_t{1} << (i % 64);
}

bool ContourMask::at(int x, int y) const {
  if (x < 0 || y < 0 || x >= side_ || y >= side_)
    throw Error(Status::InvalidArgument, "ContourMask::at: cell (" + std::to_string(x) + ", " + std::to_string(y) +
                                             ") outside a " + std::to_string(side_) + "x" + std::to_string(side_) + " mask");
  const std::size_t i = static_cast<std::size_t>(y) * side_ + x;
  return (words_[i / 64] >> (i % 64)) & 1u;
}

std::size_t ContourMask::area() const noexcept {
  std::size_t n = 0;
  for (std::uint64_t w : words_) n += popcount(w);
  return n;
}

double ContourMask::iou(const ContourMask& other) const {
  if (side_ != other.side_ || frame_ != other.frame_)
    throw Error(Status::InvalidArgument, "ContourMask::iou: masks differ in side (" + std::to_string(side_) + " vs " +
                                             std::to_string(other.side_) + ") or frame");
  std::size_t inter = 0, uni = 0;
  for (std::size_t i = 0; i < words_.size(); ++i) {
    inter += popcount(words_[i] & other.words_[i]);
    uni += popcount(words_[i] | other.words_[i]);
  }
  return uni == 0 ? 1.0 : static_cast<double>(inter) / static_cast<double>(uni);
}

std::vector<std::uint8_t> ContourMask::serialize() const {
  std::vector<std::uint8_t> out(4 + words_.size() * 8);
  out[0] = static_cast<std::uint8_t>(side_ & 0xFF);
  out[1] = static_cast<std::uint8_t>(side_ >> 8);
  out[2] = static_cast<std::uint8_t>(frame_);
  out[3] = 0;
  for (std::size_t i = 0; i < words_.size(); ++i)
    for (int b = 0; b < 8; ++b) out[4 + i * 8 + b] = static_cast<std::uint8_t>(words_[i] >> (8 * b));
  return out;
}

ContourMask ContourMask::deserialize(const std::uint8_t* data, std::size_t size) {
  if (data == nullptr || size < 4) throw Error(Status::Corrupt, "ContourMask: buffer shorter than its 4-byte header");
  const int side = data[0] | (data[1] << 8);
  if (side < kMinSide || side > kMaxSide || data[2] > 1)
    throw Error(Status::Corrupt, "ContourMask: invalid header (side " + std::to_string(side) + ", frame " + std::to_string(data[2]) + ")");
  const std::size_t count = word_count(side);
  if (size != 4 + count * 8)
    throw Error(Status::Corrupt, "ContourMask: buffer of " + std::to_string(size) + " bytes, expected " + std::to_string(4 + count * 8));
  std::vector<std::uint64_t> words(count, 0);
  for (std::size_t i = 0; i < count; ++i)
    for (int b = 0; b < 8; ++b) words[i] |= static_cast<std::uint64_t>(data[4 + i * 8 + b]) << (8 * b);
  return from_words(side, static_cast<MaskFrame>(data[2]), words.data(), count);
}

ContourMask ContourMask::from_words(int side, MaskFrame frame, const std::uint64_t* words, std::size_t count) {
  ContourMask out(side, frame);
  if (count != out.words_.size())
    throw Error(Status::Corrupt, "ContourMask: " + std::to_string(count) + " words for side " + std::to_string(side) +
                                     ", expected " + std::to_string(out.words_.size()));
  std::copy(words, words + count, out.words_.begin());
  const std::size_t used_bits = static_cast<std::size_t>(side) * side % 64;
  if (used_bits != 0 && (out.words_.back() >> used_bits) != 0)
    throw Error(Status::Corrupt, "ContourMask: bits set past the last cell");
  return out;
}

bool ContourMask::operator==(const ContourMask& other) const noexcept {
  return side_ == other.side_ && frame_ == other.frame_ && words_ == other.words_;
}

}  // namespace domainsearch
