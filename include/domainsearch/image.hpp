#pragma once
// Image input: decoding from a file, from encoded bytes, or from caller-owned raw pixels, into one
// normalised representation (8-bit RGB, interleaved, tightly packed). Normalisation rules:
//  - EXIF orientation is applied (JPEG, where cameras write it);
//  - an alpha channel is composited onto white (product PNGs have transparent backgrounds);
//  - 16-bit samples are scaled to 8 bits; grayscale is replicated to three channels;
//  - accepted formats: JPEG, PNG, BMP, WebP, TIFF, PNM (recognised by their magic bytes; others are refused
//    before any decoder runs);
//  - the image size is read from the format's header before any pixel is allocated; images above
//    DecodeLimits::max_pixels or with a side below DecodeLimits::min_side are refused, and so is an image
//    whose header does not give its size (it is never decoded to find out);
//  - the cost of a decode is bounded before it starts: its memory is estimated from the header
//    (DecodeLimits::max_decode_bytes), and a JPEG's scans are counted (DecodeLimits::max_jpeg_scans).
// Every failure throws domainsearch::Error (ImageDecode, ImageTooSmall, ImageTooLarge, Io,
// InvalidArgument) whose message names the source; no other exception type escapes (an allocation
// failure while decoding is ImageTooLarge). Thread-safety: the functions are reentrant; an Image is a
// plain value.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "domainsearch/export.hpp"

namespace domainsearch {

/// Layout of caller-owned raw pixels, 8 bits per sample, interleaved.
enum class PixelFormat { Gray8, RGB8, BGR8, RGBA8, BGRA8 };

/// Bytes per pixel of a PixelFormat (1, 3 or 4).
DS_API int bytes_per_pixel(PixelFormat format) noexcept;

/// A non-owning view of raw pixels. `stride` is the distance in bytes between row starts and must be
/// at least width * bytes_per_pixel(format). The caller keeps `data` alive during the call.
struct ImageView {
  const std::uint8_t* data = nullptr;
  int width = 0;
  int height = 0;
  std::size_t stride = 0;
  PixelFormat format = PixelFormat::RGB8;
};

/// Size limits checked on every image. The pixel limits are checked against the size the header
/// declares, before any pixel is allocated (so a decompression bomb costs no memory), and again on the
/// decoded image. max_decode_bytes and max_jpeg_scans are checked from the encoded bytes before any
/// decoder runs.
struct DecodeLimits {
  std::uint64_t max_pixels = 50'000'000;  ///< width * height above this -> ImageTooLarge
  int min_side = 16;                      ///< min(width, height) below this -> ImageTooSmall
  /// decode_file: a file of more bytes is refused (ImageTooLarge) before it is read. decode_bytes does
  /// not apply it: its caller already holds the bytes.
  std::uint64_t max_file_bytes = 256ull << 20;
  /// Bytes one decode may need, estimated from the header: width * height times the bytes per pixel
  /// of the decoder's output as the header declares it (channels x bytes per sample: PNG bit depth
  /// and colour type, TIFF BitsPerSample and SamplesPerPixel, PNM maxval, BMP bit count, WebP alpha;
  /// JPEG 3 bytes), plus the decoder's own whole-image buffers (a progressive or multi-scan JPEG's
  /// coefficients, 2 bytes per sample of each component; a TIFF strip or tile; the copy an EXIF
  /// rotation makes), the 8-bit copy of deeper samples, the alpha-composited copy, and the 8-bit RGB
  /// result (3 bytes per pixel). Above this -> ImageTooLarge, naming the estimate. The default, 800 MiB,
  /// admits any 8-bit RGB or gray photo of up to max_pixels (a 50-megapixel progressive JPEG without chroma
  /// subsampling, the costliest, is estimated at 15 bytes per pixel: 750 MB) and refuses a 50-megapixel
  /// 16-bit RGBA PNG (18 bytes per pixel: 900 MB).
  std::uint64_t max_decode_bytes = 800ull << 20;
  /// JPEG: a file with more scans (SOS markers, counted by walking its marker segments) is refused
  /// (ImageTooLarge) before decoding. A progressive JPEG is decoded scan by scan over the whole image,
  /// so its decoding time grows with the scan count (crafted files of thousands of empty scans take
  /// tens of seconds); real ones have about 10 scans (libjpeg's progression), baseline ones 1 (3 when
  /// non-interleaved). A value below 1 counts as 1.
  int max_jpeg_scans = 100;
};

/// An owned 8-bit RGB image, rows tightly packed (stride = 3 * width).
class DS_API Image {
 public:
  Image() = default;
  /// A white image of the given size. Throws InvalidArgument for non-positive sizes.
  Image(int width, int height);

  /// Decodes a file in one of the accepted formats. `path` is UTF-8 and must name a regular file:
  /// a directory, FIFO, device or socket is refused with InvalidArgument without being read (a FIFO
  /// is never waited on); a missing or unreadable file is Io; a file over limits.max_file_bytes is
  /// ImageTooLarge.
  static Image decode_file(const std::string& path, const DecodeLimits& limits = {});
  /// Decodes an encoded image held in memory. `source` names it in error messages.
  static Image decode_bytes(const std::uint8_t* data, std::size_t size, const DecodeLimits& limits = {},
                            const std::string& source = "<memory>");
  /// Copies and converts raw pixels.
  static Image from_pixels(const ImageView& view, const DecodeLimits& limits = {});

  int width() const noexcept { return width_; }
  int height() const noexcept { return height_; }
  bool empty() const noexcept { return pixels_.empty(); }
  std::size_t stride() const noexcept { return static_cast<std::size_t>(width_) * 3; }
  const std::uint8_t* data() const noexcept { return pixels_.data(); }
  std::uint8_t* data() noexcept { return pixels_.data(); }
  /// A copy scaled down (area averaging) so that its longer side is at most max_side; unchanged if smaller.
  Image thumbnail(int max_side) const;
  /// JPEG bytes of the image (quality 1..100). Throws InvalidArgument on an empty image.
  std::vector<std::uint8_t> encode_jpeg(int quality = 90) const;
  /// A view of this image's pixels (PixelFormat::RGB8), valid while the Image lives unchanged.
  ImageView view() const noexcept;

 private:
  int width_ = 0;
  int height_ = 0;
  std::vector<std::uint8_t> pixels_;
};

}  // namespace domainsearch
