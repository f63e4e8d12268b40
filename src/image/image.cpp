#include "domainsearch/image.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ios>
#include <new>
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

// The formats decode_bytes accepts. Anything else is refused before OpenCV sees it: Debian's OpenCV hands
// unknown bytes to GDAL (via a temporary file), which parses dozens of formats (fuzzing reached its NITF
// reader) -- attack surface a product-photo library has no use for.
enum class Format { Jpeg, Png, Bmp, WebP, Tiff, Pnm };

const char* format_name(Format format) {
  switch (format) {
    case Format::Jpeg: return "JPEG";
    case Format::Png: return "PNG";
    case Format::Bmp: return "BMP";
    case Format::WebP: return "WebP";
    case Format::Tiff: return "TIFF";
    case Format::Pnm: return "PNM";
  }
  return "?";
}

bool starts_with(const std::uint8_t* data, std::size_t size, const char* magic, std::size_t n) {
  return size >= n && std::memcmp(data, magic, n) == 0;
}

// The format named by the leading magic bytes, or nullopt for anything outside the accepted set.
std::optional<Format> sniff_format(const std::uint8_t* data, std::size_t size) {
  if (starts_with(data, size, "\xFF\xD8\xFF", 3)) return Format::Jpeg;
  if (starts_with(data, size, "\x89PNG\r\n\x1a\n", 8)) return Format::Png;
  if (starts_with(data, size, "BM", 2)) return Format::Bmp;
  if (starts_with(data, size, "RIFF", 4) && size >= 12 && std::memcmp(data + 8, "WEBP", 4) == 0) return Format::WebP;
  if (starts_with(data, size, "II*\0", 4) || starts_with(data, size, "MM\0*", 4)) return Format::Tiff;
  if (size >= 2 && data[0] == 'P' && data[1] >= '1' && data[1] <= '6') return Format::Pnm;
  return std::nullopt;
}

// Why a header probe could not read the image size; declared_size() turns it into an ImageDecode Error.
struct HeaderError {
  std::string why;
};

enum class Endian { Little, Big };

// Bounds-checked reads of unsigned integers from encoded bytes (a non-owning view). Reading past the
// end throws HeaderError, so a probe never reads out of bounds and a truncated header is refused.
class ByteReader {
 public:
  ByteReader(const std::uint8_t* data, std::size_t size, Endian endian) : data_(data), size_(size), endian_(endian) {}
  std::uint32_t u8(std::size_t pos) const { return read(pos, 1); }
  std::uint32_t u16(std::size_t pos) const { return read(pos, 2); }
  std::uint32_t u24(std::size_t pos) const { return read(pos, 3); }
  std::uint32_t u32(std::size_t pos) const { return read(pos, 4); }
  bool has_tag(std::size_t pos, const char (&tag)[5]) const {
    return pos <= size_ && size_ - pos >= 4 && std::memcmp(data_ + pos, tag, 4) == 0;
  }

 private:
  std::uint32_t read(std::size_t pos, std::size_t bytes) const {
    if (pos > size_ || size_ - pos < bytes) throw HeaderError{"the header is truncated"};
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < bytes; ++i) {
      const std::uint32_t byte = data_[pos + i];
      v |= endian_ == Endian::Big ? byte << (8 * (bytes - 1 - i)) : byte << (8 * i);
    }
    return v;
  }

  const std::uint8_t* data_;
  std::size_t size_;
  Endian endian_;
};

// JPEG: the code of the next marker at or after `pos`, which is left just after it. Skips what libjpeg's
// next_marker() skips, so both agree on which marker comes next: stray non-0xFF bytes, 0xFF fill bytes,
// and stuffed 0xFF 0x00 pairs.
std::uint32_t next_jpeg_marker(const ByteReader& r, std::size_t& pos) {
  for (;;) {
    while (r.u8(pos) != 0xFF) ++pos;
    while (r.u8(pos) == 0xFF) ++pos;
    const std::uint32_t code = r.u8(pos++);
    if (code != 0x00) return code;
  }
}

// JPEG: walks the marker segments after SOI to the first frame header (SOF0-3, 5-7, 9-11, 13-15), the
// one libjpeg sizes its buffers from (a second SOF is an error to libjpeg).
Size2 probe_jpeg(const ByteReader& r) {
  std::size_t pos = 2;  // after SOI
  for (;;) {
    const std::uint32_t marker = next_jpeg_marker(r, pos);
    const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof) return Size2{r.u16(pos + 5), r.u16(pos + 3)};  // length, precision, height, width
    if (marker == 0xD8 || marker == 0xD9 || marker == 0xDA)
      throw HeaderError{"SOI, EOI or SOS marker before the frame header"};
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // TEM, RSTn: no segment
    const std::uint32_t length = r.u16(pos);
    if (length < 2) throw HeaderError{"a marker segment length below 2"};
    pos += length;
  }
}

// PNG: the IHDR chunk, which must come first.
Size2 probe_png(const ByteReader& r) {
  if (!r.has_tag(12, "IHDR")) throw HeaderError{"the first chunk is not IHDR"};
  return Size2{r.u32(16), r.u32(20)};
}

// WebP (little-endian): the first chunk after the RIFF header -- VP8X gives the canvas size (which
// libwebp allocates, and requires a still image's frame to match), VP8L and VP8 (key frame) their
// bitstream's size.
Size2 probe_webp(const ByteReader& r) {
  constexpr std::size_t payload = 20;
  if (r.has_tag(12, "VP8X")) return Size2{r.u24(payload + 4) + 1ull, r.u24(payload + 7) + 1ull};
  if (r.has_tag(12, "VP8L")) {
    if (r.u8(payload) != 0x2F) throw HeaderError{"no VP8L signature byte"};
    const std::uint32_t bits = r.u32(payload + 1);
    return Size2{(bits & 0x3FFF) + 1ull, ((bits >> 14) & 0x3FFF) + 1ull};
  }
  if (r.has_tag(12, "VP8 ")) {
    if ((r.u24(payload) & 1) != 0) throw HeaderError{"the VP8 frame is not a key frame"};
    if (r.u24(payload + 3) != 0x2A019D) throw HeaderError{"no VP8 start code"};
    return Size2{r.u16(payload + 6) & 0x3FFFu, r.u16(payload + 8) & 0x3FFFu};  // top 2 bits: scaling
  }
  throw HeaderError{"the first chunk is none of VP8, VP8L, VP8X"};
}

// TIFF: the value of an ImageWidth/ImageLength IFD entry at `entry`: one SHORT or LONG, as baseline
// TIFF writes it. Other types (libtiff also takes signed and 64-bit ones) are refused, not guessed.
std::uint32_t tiff_dimension(const ByteReader& r, std::size_t entry) {
  const std::uint32_t type = r.u16(entry + 2);
  if (r.u32(entry + 4) != 1) throw HeaderError{"ImageWidth/ImageLength has a count other than 1"};
  if (type == 3) return r.u16(entry + 8);
  if (type == 4) return r.u32(entry + 8);
  throw HeaderError{"ImageWidth/ImageLength is neither SHORT nor LONG (type " + std::to_string(type) + ")"};
}

// TIFF (byte order from the II/MM magic): ImageWidth and ImageLength of the first IFD, the only page
// cv::imdecode decodes (later pages allocate nothing). The walk reads at most the IFD's 65535 entries,
// each bounds-checked; a tag given twice is refused (libtiff would take the last one).
Size2 probe_tiff(const ByteReader& r) {
  const std::size_t ifd = r.u32(4);
  const std::uint32_t entries = r.u16(ifd);
  std::optional<std::uint32_t> width, height;
  for (std::uint32_t i = 0; i < entries; ++i) {
    const std::size_t entry = ifd + 2 + 12 * static_cast<std::size_t>(i);
    const std::uint32_t tag = r.u16(entry);
    if (tag != 256 && tag != 257) continue;
    std::optional<std::uint32_t>& slot = tag == 256 ? width : height;
    if (slot) throw HeaderError{"ImageWidth or ImageLength is given twice"};
    slot = tiff_dimension(r, entry);
  }
  if (!width || !height) throw HeaderError{"the first IFD has no ImageWidth or ImageLength"};
  return Size2{*width, *height};
}

// BMP (little-endian): the info header after the 14-byte file header -- BITMAPCOREHEADER (12 bytes,
// unsigned 16-bit sides) or any larger one (OpenCV reads sizes from 36 bytes up; signed 32-bit sides,
// a negative height meaning top-down rows).
Size2 probe_bmp(const ByteReader& r) {
  const std::uint32_t header_size = r.u32(14);
  if (header_size == 12) return Size2{r.u16(18), r.u16(20)};
  if (header_size < 36) throw HeaderError{"unknown info header size " + std::to_string(header_size)};
  const auto width = static_cast<std::int32_t>(r.u32(18));
  const auto height = static_cast<std::int32_t>(r.u32(22));
  if (width <= 0) throw HeaderError{"a width of " + std::to_string(width)};
  return Size2{static_cast<std::uint64_t>(width), static_cast<std::uint64_t>(std::abs(static_cast<std::int64_t>(height)))};
}

// PNM: the next decimal number of the ASCII header at `pos`, which is left after it. Skips whitespace
// and '#' comments the way OpenCV's reader does; saturates at 2^32 - 1, far above any pixel limit.
std::uint64_t pnm_number(const ByteReader& r, std::size_t& pos) {
  for (std::uint32_t c = r.u8(pos); c < '0' || c > '9'; c = r.u8(++pos)) {
    if (c == '#') {
      while (r.u8(pos) != '\n' && r.u8(pos) != '\r') ++pos;
    } else if (!std::isspace(static_cast<int>(c))) {
      throw HeaderError{"an unexpected byte in the header"};
    }
  }
  std::uint64_t value = 0;
  for (std::uint32_t c = r.u8(pos); c >= '0' && c <= '9'; c = r.u8(++pos))
    value = std::min<std::uint64_t>(value * 10 + (c - '0'), UINT32_MAX);
  return value;
}

// PNM (P1-P6): width and height, the first two numbers after the magic.
Size2 probe_pnm(const ByteReader& r) {
  std::size_t pos = 2;
  const std::uint64_t width = pnm_number(r, pos);
  return Size2{width, pnm_number(r, pos)};
}

Size2 probe(Format format, const std::uint8_t* data, std::size_t size) {
  switch (format) {
    case Format::Jpeg: return probe_jpeg(ByteReader(data, size, Endian::Big));
    case Format::Png: return probe_png(ByteReader(data, size, Endian::Big));
    case Format::Bmp: return probe_bmp(ByteReader(data, size, Endian::Little));
    case Format::WebP: return probe_webp(ByteReader(data, size, Endian::Little));
    case Format::Tiff: return probe_tiff(ByteReader(data, size, data[0] == 'M' ? Endian::Big : Endian::Little));
    case Format::Pnm: return probe_pnm(ByteReader(data, size, Endian::Big));
  }
  throw HeaderError{"no size probe for this format"};
}

// The image size the header declares, read without decoding any pixels. An image whose header does not
// give a positive size is refused (ImageDecode naming the format and why), never decoded to find out.
Size2 declared_size(Format format, const std::uint8_t* data, std::size_t size, const std::string& source) {
  try {
    const Size2 declared = probe(format, data, size);
    if (declared.width == 0 || declared.height == 0) throw HeaderError{"it declares a width or height of 0"};
    return declared;
  } catch (const HeaderError& e) {
    throw Error(Status::ImageDecode, source + ": " + format_name(format) + " header does not give the image size (" +
                                         e.why + "); refused without decoding");
  }
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

// The one place where exceptions from decoding become domainsearch::Error: runs `decode` and rethrows
// whatever it throws as an Error naming `source` (an Error passes through unchanged).
template <class Decode>
Image translate_errors(const std::string& source, Decode&& decode) {
  try {
    return decode();
  } catch (const Error&) {
    throw;
  } catch (const cv::Exception& e) {
    throw Error(Status::ImageDecode, source + ": not a decodable image (" + e.msg + ")");
  } catch (const std::bad_alloc&) {
    throw Error(Status::ImageTooLarge, source + ": out of memory while decoding (lower DecodeLimits::max_pixels?)");
  } catch (const std::ios_base::failure& e) {
    throw Error(Status::Io, source + ": read error (" + e.what() + ")");
  } catch (const std::exception& e) {
    throw Error(Status::ImageDecode, source + ": decoding failed (" + e.what() + ")");
  }
}

// Closes the file descriptor it owns.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

[[noreturn]] void throw_io(const std::string& path, const char* what) {
  throw Error(Status::Io, path + ": " + what + " (" + std::strerror(errno) + ")");
}

const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// Throws InvalidArgument unless `st` describes a regular file, ImageTooLarge if it holds over max_bytes.
void require_regular_file(const std::string& path, const struct stat& st, std::uint64_t max_bytes) {
  if (!S_ISREG(st.st_mode)) throw Error(Status::InvalidArgument, path + ": is " + file_kind(st.st_mode) + ", not an image file");
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes)
    throw Error(Status::ImageTooLarge, path + ": file is " + std::to_string(st.st_size) + " bytes, over the limit of " +
                                           std::to_string(max_bytes) + " bytes (DecodeLimits::max_file_bytes)");
}

// The bytes of a regular file of at most max_bytes, checked before reading: by stat() on the path
// (so a device or FIFO is never opened) and again by fstat() on the opened descriptor (the path may
// have been replaced in between; O_NONBLOCK keeps open() of a FIFO from waiting for a writer). Reads
// at most the size fstat() reported. Errors: InvalidArgument, ImageTooLarge, Io, each naming the path.
std::vector<std::uint8_t> read_image_file(const std::string& path, std::uint64_t max_bytes) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw_io(path, "cannot open image file");
  require_regular_file(path, st, max_bytes);
  const FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0) throw_io(path, "cannot open image file");
  if (::fstat(fd.get(), &st) != 0) throw_io(path, "cannot stat image file");
  require_regular_file(path, st, max_bytes);
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(st.st_size));
  std::size_t filled = 0;
  while (filled < bytes.size()) {
    const ssize_t n = ::read(fd.get(), bytes.data() + filled, bytes.size() - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_io(path, "read error");
    if (n == 0) break;  // the file shrank since fstat()
    filled += static_cast<std::size_t>(n);
  }
  bytes.resize(filled);
  return bytes;
}

// decode_bytes without the exception translation.
Image decode_encoded(const std::uint8_t* data, std::size_t size, const DecodeLimits& limits, const std::string& source) {
  if (data == nullptr || size == 0) throw Error(Status::ImageDecode, source + ": empty input, no image bytes");
  const std::optional<Format> format = sniff_format(data, size);
  if (!format) throw Error(Status::ImageDecode, source + ": not an image in a supported format (JPEG, PNG, BMP, WebP, TIFF, PNM)");
  const Size2 declared = declared_size(*format, data, size, source);
  check_limits(declared.width, declared.height, limits, source);
  const bool jpeg = *format == Format::Jpeg;
  if (jpeg && !jpeg_has_end_marker(data, size)) throw Error(Status::ImageDecode, source + ": truncated JPEG (no end-of-image marker)");
  if (size > static_cast<std::size_t>(INT32_MAX)) throw Error(Status::ImageTooLarge, source + ": encoded image is over 2 GiB");
  const cv::Mat buffer(1, static_cast<int>(size), CV_8UC1, const_cast<std::uint8_t*>(data));
  // JPEG: IMREAD_COLOR applies the EXIF orientation. Others: IMREAD_UNCHANGED keeps alpha and 16 bits.
  const cv::Mat decoded = cv::imdecode(buffer, jpeg ? cv::IMREAD_COLOR : cv::IMREAD_UNCHANGED);
  if (decoded.empty()) throw Error(Status::ImageDecode, source + ": not a decodable image, or corrupt or truncated");
  check_limits(decoded.cols, decoded.rows, limits, source);
  return from_decoded_bgr(decoded, source);
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
  return translate_errors(path, [&] {
    const std::vector<std::uint8_t> bytes = read_image_file(path, limits.max_file_bytes);
    return decode_encoded(bytes.data(), bytes.size(), limits, path);
  });
}

Image Image::decode_bytes(const std::uint8_t* data, std::size_t size, const DecodeLimits& limits, const std::string& source) {
  return translate_errors(source, [&] { return decode_encoded(data, size, limits, source); });
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
