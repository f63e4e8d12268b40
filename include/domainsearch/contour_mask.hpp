#pragma once
// ContourMask: a fixed-resolution, bit-packed binary mask of an object, compared by IoU (the paper's
// reranking signal). The mask is resampled onto a side x side grid, either over the whole image
// (MaskFrame::Image: shape, size and position count, as in the paper) or over the object's bounding
// box (MaskFrame::BoundingBox: shape only). A grid cell is set when at least half of the source
// pixels it covers are foreground. Thread-safety: a plain value; const methods are reentrant.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "domainsearch/export.hpp"

namespace domainsearch {

enum class MaskFrame : std::uint8_t { Image = 0, BoundingBox = 1 };

class DS_API ContourMask {
 public:
  static constexpr int kMinSide = 8;
  static constexpr int kMaxSide = 1024;

  /// An all-background mask. Throws InvalidArgument unless kMinSide <= side <= kMaxSide.
  explicit ContourMask(int side = 64, MaskFrame frame = MaskFrame::Image);

  /// From an 8-bit mask (row stride in bytes); a pixel is foreground when value >= threshold.
  static ContourMask from_binary(const std::uint8_t* mask, int width, int height, std::size_t stride, int side,
                                 MaskFrame frame, std::uint8_t threshold = 128);
  /// From a soft mask of probabilities/alpha in [0,1] (row stride in floats); foreground when >= threshold.
  static ContourMask from_soft(const float* mask, int width, int height, std::size_t stride, int side,
                               MaskFrame frame, float threshold = 0.5f);

  int side() const noexcept { return side_; }
  MaskFrame frame() const noexcept { return frame_; }
  bool at(int x, int y) const;            ///< cell (x, y), 0 <= x, y < side
  std::size_t area() const noexcept;      ///< number of set cells
  bool empty() const noexcept { return area() == 0; }

  /// |A and B| / |A or B| by popcount, in [0,1]. Two empty masks are identical: IoU 1.
  /// Throws InvalidArgument when side or frame differ.
  double iou(const ContourMask& other) const;

  /// Packed cells, row-major, bit i of word i/64 is cell (i % side, i / side).
  const std::vector<std::uint64_t>& words() const noexcept { return words_; }
  static std::size_t word_count(int side) noexcept { return (static_cast<std::size_t>(side) * side + 63) / 64; }

  /// Portable little-endian encoding: u16 side, u8 frame, u8 reserved, then the words.
  std::vector<std::uint8_t> serialize() const;
  /// Inverse of serialize(); throws Corrupt on a malformed buffer.
  static ContourMask deserialize(const std::uint8_t* data, std::size_t size);
  /// Rebuilds a mask from packed words (e.g. read from an index file); throws Corrupt on a size mismatch
  /// or on set bits past side*side.
  static ContourMask from_words(int side, MaskFrame frame, const std::uint64_t* words, std::size_t count);

  bool operator==(const ContourMask& other) const noexcept;
  bool operator!=(const ContourMask& other) const noexcept { return !(*this == other); }

 private:
  template <typename T>
  static ContourMask build(const T* mask, int width, int height, std::size_t stride, int side, MaskFrame frame, T threshold);
  void set(int x, int y);

  int side_;
  MaskFrame frame_;
  std::vector<std::uint64_t> words_;
};

}  // namespace domainsearch
