#include "domainsearch/image.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "domainsearch/error.hpp"

namespace domainsearch {
namespace {

struct Size2 {
  std::uint64_t width;
  std::uint64_t height;
};

bool starts_with(const std::uint8_t* data, std::size_t size, const char* magic, std::size_t n) {
  return size >= n && std::memcmp(data, magic, n) == 0;
}

bool is_jpeg(const std::uint8_t* data, std::size_t size) { return starts_with(data, size, "\xFF\xD8\xFF", 3); }

// The formats decode_bytes accepts, by their magic bytes. Anything else is refused before OpenCV sees it:
// Debian's OpenCV hands unknown bytes to GDAL (via a temporary file), which parses dozens of formats
// (fuzzing reached its NITF reader) -- attack surface a product-photo library has no use for.
bool is_accepted_format(const std::uint8_t* data, std::size_t size) {
  const bool pnm = size >= 2 && data[0] == 'P' && data[1] >= '1' && data[1] <= '6';
  const bool webp = starts_with(data, size, "RIFF", 4) && size >= 12 && std::memcmp(data + 8, "WEBP", 4) == 0;
  return is_jpeg(data, size) || starts_with(data, size, "\x89PNG\r\n\x1a\n", 8) || starts_with(data, size, "BM", 2) || webp ||
         starts_with(data, size, "II*\0", 4) || starts_with(data, size, "MM\0*", 4) || pnm;
}

std::uint32_t read_be(const std::uint8_t* p, int bytes) {
  std::uint32_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
  return v;
}

// Reads the declared size from a PNG IHDR or a JPEG SOF header without decoding pixels.
std::optional<Size2> probe_size(const std::uint8_t* data, std::size_t size) {
  if (starts_with(data, size, "\x89PNG\r\n\x1a\n", 8) && size >= 24 && std::memcmp(data + 12, "IHDR", 4) == 0)
    return Size2{read_be(data + 16, 4), read_be(data + 20, 4)};
  if (!is_jpeg(data, size)) return std::nullopt;
  std::size_t pos = 2;
  while (pos + 4 <= size) {
    if (data[pos] != 0xFF) return std::nullopt;
    const std::uint8_t marker = data[pos + 1];
    if (marker == 0xFF) { ++pos; continue; }  // fill byte
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) { pos += 2; continue; }
    const std::size_t length = read_be(data + pos + 2, 2);
    const bool is_sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (is_sof && pos + 9 <= size) return Size2{read_be(data + pos + 7, 2), read_be(data + pos + 5, 2)};
    if (marker == 0xDA || length < 2) return std::nullopt;  // scan data before any SOF: give up
    pos += 2 + length;
  }
  return std::nullopt;
}

// A complete JPEG ends with the EOI marker, possibly followed by a little padding.
bool jpeg_has_end_marker(const std::uint8_t* data, std::size_t size) {
  const std::size_t start = size > 1024 ? size - 1024 : 0;
  for (std::size_t i = size; i-- > start + 1;)
    if (data[i - 1] == 0xFF && data[i] == 0xD9) return true;
  return false;
}

void check_limits(std::uint64_t width, std::uint64_t height, const DecodeLimits& limits, const std::string& source) {
  if (width * height > limits.max_pixels)
    throw Error(Status::ImageTooLarge, source + ": image is " + std::to_string(width) + "x" + std::to_string(height) +
                                           ", over the limit of " + std::to_string(limits.max_pixels) + " pixels");
  if (std::min(width, height) < static_cast<std::uint64_t>(std::max(limits.min_side, 1)))
    throw Error(Status::ImageTooSmall, source + ": image is " + std::to_string(width) + "x" + std::to_string(height) +
                                           ", below the minimum side of " + std::to_string(limits.min_side) + " pixels");
}

// out = colour * alpha + white * (1 - alpha), channel order preserved; input 8-bit, 4 channels.
cv::Mat composite_onto_white(const cv::Mat& four_channel) {
  cv::Mat out(four_channel.rows, four_channel.cols, CV_8UC3);
  for (int y = 0; y < four_channel.rows; ++y) {
    const std::uint8_t* src = four_channel.ptr<std::uint8_t>(y);
    std::uint8_t* dst = out.ptr<std::uint8_t>(y);
    for (int x = 0; x < four_channel.cols; ++x, src += 4, dst += 3) {
      const int a = src[3];
      for (int c = 0; c < 3; ++c) dst[c] = static_cast<std::uint8_t>((src[c] * a + 255 * (255 - a) + 127) / 255);
    }
  }
  return out;
}

cv::Mat to_8bit(const cv::Mat& mat, const std::string& source) {
  switch (mat.depth()) {
    case CV_8U: return mat;
    case CV_16U: { cv::Mat out; mat.convertTo(out, CV_8U, 1.0 / 257.0); return out; }
    case CV_32F: { cv::Mat out; mat.convertTo(out, CV_8U, 255.0); return out; }
    default: throw Error(Status::ImageDecode, source + ": unsupported sample type (OpenCV depth " + std::to_string(mat.depth()) + ")");
  }
}

Image copy_rgb(const cv::Mat& rgb) {
  Image image(rgb.cols, rgb.rows);
  cv::Mat dst(rgb.rows, rgb.cols, CV_8UC3, image.data(), image.stride());
  rgb.copyTo(dst);
  return image;
}

// Converts a decoded OpenCV image (BGR channel order, any of 1/3/4 channels) to an RGB Image.
Image from_decoded_bgr(const cv::Mat& decoded, const std::string& source) {
  const cv::Mat mat = to_8bit(decoded, source);
  cv::Mat rgb;
  switch (mat.channels()) {
    case 1: cv::cvtColor(mat, rgb, cv::COLOR_GRAY2RGB); break;
    case 3: cv::cvtColor(mat, rgb, cv::COLOR_BGR2RGB); break;
    case 4: cv::cvtColor(composite_onto_white(mat), rgb, cv::COLOR_BGR2RGB); break;
    default: throw Error(Status::ImageDecode, source + ": unsupported channel count " + std::to_string(mat.channels()));
  }
  return copy_rgb(rgb);
}

}  // namespace

int bytes_per_pixel(PixelFormat format) noexcept {
  switch (format) {
    case PixelFormat::Gray8: return 1;
    case PixelFormat::RGB8:
    case PixelFormat::BGR8: return 3;
    case PixelFormat::RGBA8:
    case PixelFormat::BGRA8: return 4;
  }
  return 0;
}

Image::Image(int width, int height) : width_(width), height_(height) {
  if (width <= 0 || height <= 0)
    throw Error(Status::InvalidArgument, "image size must be positive, got " + std::to_string(width) + "x" + std::to_string(height));
  pixels_.assign(static_cast<std::size_t>(width) * height * 3, 255);
}

ImageView Image::view() const noexcept { return ImageView{pixels_.data(), width_, height_, stride(), PixelFormat::RGB8}; }

Image Image::thumbnail(int max_side) const {
  if (empty() || max_side < 1) throw Error(Status::InvalidArgument, "thumbnail of an empty image or non-positive size");
  const double scale = std::min(1.0, static_cast<double>(max_side) / std::max(width_, height_));
  const cv::Mat src(height_, width_, CV_8UC3, const_cast<std::uint8_t*>(data()), stride());
  cv::Mat small;
  cv::resize(src, small, cv::Size(std::max(1, static_cast<int>(width_ * scale)), std::max(1, static_cast<int>(height_ * scale))), 0, 0, cv::INTER_AREA);
  return copy_rgb(small);
}

std::vector<std::uint8_t> Image::encode_jpeg(int quality) const {
  if (empty()) throw Error(Status::InvalidArgument, "cannot encode an empty image");
  const cv::Mat src(height_, width_, CV_8UC3, const_cast<std::uint8_t*>(data()), stride());
  cv::Mat bgr;
  cv::cvtColor(src, bgr, cv::COLOR_RGB2BGR);
  std::vector<std::uint8_t> out;
  cv::imencode(".jpg", bgr, out, {cv::IMWRITE_JPEG_QUALITY, std::clamp(quality, 1, 100)});
  return out;
}

Image Image::decode_file(const std::string& path, const DecodeLimits& limits) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error(Status::Io, path + ": cannot open image file (" + std::strerror(errno) + ")");
  const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (file.bad()) throw Error(Status::Io, path + ": read error");
  return decode_bytes(bytes.data(), bytes.size(), limits, path);
}

Image Image::decode_bytes(const std::uint8_t* data, std::size_t size, const DecodeLimits& limits, const std::string& source) {
  if (data == nullptr || size == 0) throw Error(Status::ImageDecode, source + ": empty input, no image bytes");
  if (!is_accepted_format(data, size))
    throw Error(Status::ImageDecode, source + ": not an image in a supported format (JPEG, PNG, BMP, WebP, TIFF, PNM)");
  if (const auto declared = probe_size(data, size)) check_limits(declared->width, declared->height, limits, source);
  const bool jpeg = is_jpeg(data, size);
  if (jpeg && !jpeg_has_end_marker(data, size))
    throw Error(Status::ImageDecode, source + ": truncated JPEG (no end-of-image marker)");
  if (size > static_cast<std::size_t>(INT32_MAX))
    throw Error(Status::ImageTooLarge, source + ": encoded image is over 2 GiB");
  cv::Mat decoded;
  try {
    const cv::Mat buffer(1, static_cast<int>(size), CV_8UC1, const_cast<std::uint8_t*>(data));
    // JPEG: IMREAD_COLOR applies the EXIF orientation. Others: IMREAD_UNCHANGED keeps alpha and 16 bits.
    decoded = cv::imdecode(buffer, jpeg ? cv::IMREAD_COLOR : cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    throw Error(Status::ImageDecode, source + ": not a decodable image (" + e.msg + ")");
  }
  if (decoded.empty()) throw Error(Status::ImageDecode, source + ": not a decodable image, or corrupt or truncated");
  check_limits(decoded.cols, decoded.rows, limits, source);
  return from_decoded_bgr(decoded, source);
}

Image Image::from_pixels(const ImageView& view, const DecodeLimits& limits) {
  const int bpp = bytes_per_pixel(view.format);
  if (view.data == nullptr) throw Error(Status::InvalidArgument, "raw pixels: data pointer is null");
  if (bpp == 0) throw Error(Status::InvalidArgument, "raw pixels: unknown pixel format");
  if (view.width <= 0 || view.height <= 0)
    throw Error(Status::InvalidArgument, "raw pixels: size must be positive, got " + std::to_string(view.width) + "x" + std::to_string(view.height));
  if (view.stride < static_cast<std::size_t>(view.width) * bpp)
    throw Error(Status::InvalidArgument, "raw pixels: stride " + std::to_string(view.stride) + " is below width * " + std::to_string(bpp));
  check_limits(view.width, view.height, limits, "raw pixels");
  const cv::Mat src(view.height, view.width, CV_8UC(bpp), const_cast<std::uint8_t*>(view.data), view.stride);
  cv::Mat rgb;
  switch (view.format) {
    case PixelFormat::Gray8: cv::cvtColor(src, rgb, cv::COLOR_GRAY2RGB); break;
    case PixelFormat::RGB8: rgb = src; break;
    case PixelFormat::BGR8: cv::cvtColor(src, rgb, cv::COLOR_BGR2RGB); break;
    case PixelFormat::RGBA8: rgb = composite_onto_white(src); break;
    case PixelFormat::BGRA8: cv::cvtColor(composite_onto_white(src), rgb, cv::COLOR_BGR2RGB); break;
  }
  return copy_rgb(rgb);
}

}  // namespace domainsearch
