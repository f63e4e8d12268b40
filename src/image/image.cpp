#include "domainsearch/image.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ios>
#include <new>
#include <optional>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "domainsearch/error.hpp"
#include "io/regular_file.hpp"

namespace domainsearch {
namespace {

// What a format's header declares: the image size, and what decoding it will allocate -- the pixels
// cv::imdecode returns (with the flags decode_encoded passes) and the decoder's own whole-image buffers.
struct Header {
  std::uint64_t width = 0;
  std::uint64_t height = 0;
  std::uint32_t channels = 3;      // of the decoder's output
  std::uint32_t sample_bytes = 1;  // per sample of the decoder's output
  std::uint64_t decoder_bytes = 0; // the decoder's own buffers (a TIFF strip, an EXIF rotation's copy)
  // JPEG: a progressive frame, and the coefficient buffer libjpeg allocates for the whole image when the
  // frame is progressive or has several scans (added to decoder_bytes once the scans are counted).
  bool progressive = false;
  std::uint64_t coefficient_bytes = 0;
};

std::uint64_t mul_sat(std::uint64_t a, std::uint64_t b) {
  std::uint64_t product = 0;
  return __builtin_mul_overflow(a, b, &product) ? UINT64_MAX : product;
}
std::uint64_t add_sat(std::uint64_t a, std::uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }
std::uint64_t ceil_div(std::uint64_t a, std::uint64_t b) { return (a + b - 1) / b; }

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

// Why a header probe could not read the image size; declared_header() turns it into an ImageDecode Error.
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

// JPEG: the frame header SOFn (`marker`) whose length field is at `pos`: length, precision, height,
// width, Nf, then Nf component specifications (id, sampling factors H << 4 | V, table). cv::imdecode
// (IMREAD_COLOR) gives 8-bit BGR and applies an EXIF rotation in a copy of it. A progressive or
// multi-scan image also keeps every component's DCT coefficients for the whole image: 64 of 2 bytes per
// 8x8 block, a component's blocks padded to its sampling factors (libjpeg's jdcoefct.c).
Header jpeg_frame(const ByteReader& r, std::size_t pos, std::uint32_t marker) {
  Header h;
  h.height = r.u16(pos + 3);
  h.width = r.u16(pos + 5);
  h.decoder_bytes = h.width * h.height * 3;  // the EXIF rotation's copy
  h.progressive = marker == 0xC2 || marker == 0xC6 || marker == 0xCA || marker == 0xCE;
  const std::uint32_t components = r.u8(pos + 7);
  std::uint64_t h_max = 1, v_max = 1;
  for (std::uint32_t i = 0; i < components; ++i) {
    const std::uint32_t factors = r.u8(pos + 9 + 3 * static_cast<std::size_t>(i));
    h_max = std::max<std::uint64_t>(h_max, factors >> 4);
    v_max = std::max<std::uint64_t>(v_max, factors & 15);
  }
  for (std::uint32_t i = 0; i < components; ++i) {
    const std::uint32_t factors = r.u8(pos + 9 + 3 * static_cast<std::size_t>(i));
    const std::uint64_t hs = std::max<std::uint64_t>(factors >> 4, 1), vs = std::max<std::uint64_t>(factors & 15, 1);
    const std::uint64_t blocks_wide = ceil_div(ceil_div(h.width * hs, 8 * h_max), hs) * hs;
    const std::uint64_t blocks_high = ceil_div(ceil_div(h.height * vs, 8 * v_max), vs) * vs;
    h.coefficient_bytes += blocks_wide * blocks_high * 64 * 2;
  }
  return h;
}

// JPEG: walks the marker segments after SOI to the first frame header (SOF0-3, 5-7, 9-11, 13-15), the
// one libjpeg sizes its buffers from (a second SOF is an error to libjpeg).
Header probe_jpeg(const ByteReader& r) {
  std::size_t pos = 2;  // after SOI
  for (;;) {
    const std::uint32_t marker = next_jpeg_marker(r, pos);
    const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof) return jpeg_frame(r, pos, marker);
    if (marker == 0xD8 || marker == 0xD9 || marker == 0xDA)
      throw HeaderError{"SOI, EOI or SOS marker before the frame header"};
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // TEM, RSTn: no segment
    const std::uint32_t length = r.u16(pos);
    if (length < 2) throw HeaderError{"a marker segment length below 2"};
    pos += length;
  }
}

// PNG: whether a tRNS chunk (transparency of a gray, RGB or palette image) comes before the image
// data. A chunk is its length (4 bytes), type (4), data and CRC (4); the walk ends at IDAT or where the
// bytes end.
bool png_has_transparency(const ByteReader& r) {
  try {
    for (std::size_t pos = 8; !r.has_tag(pos + 4, "IDAT"); pos += 12 + static_cast<std::size_t>(r.u32(pos)))
      if (r.has_tag(pos + 4, "tRNS")) return true;
  } catch (const HeaderError&) {
  }
  return false;
}

// PNG: the IHDR chunk, which must come first: width, height, bit depth, colour type. cv::imdecode
// (IMREAD_UNCHANGED) gives gray as 1 channel, gray + alpha and RGBA as 4, RGB and palette as 3, or 4
// with a tRNS chunk; 16-bit samples stay 16-bit, 1 to 8 bits become 8.
Header probe_png(const ByteReader& r) {
  if (!r.has_tag(12, "IHDR")) throw HeaderError{"the first chunk is not IHDR"};
  Header h;
  h.width = r.u32(16);
  h.height = r.u32(20);
  const std::uint32_t bit_depth = r.u8(24), colour_type = r.u8(25);
  h.sample_bytes = bit_depth == 16 ? 2 : 1;
  switch (colour_type) {
    case 0: h.channels = 1; break;
    case 2:
    case 3: h.channels = png_has_transparency(r) ? 4 : 3; break;
    default: h.channels = 4; break;  // 4 (gray + alpha), 6 (RGBA); others libpng refuses
  }
  return h;
}

// WebP (little-endian): the first chunk after the RIFF header -- VP8X gives the canvas size (which
// libwebp allocates, and requires a still image's frame to match), VP8L and VP8 (key frame) their
// bitstream's size. cv::imdecode gives 8-bit BGR, or BGRA when VP8X or VP8L flags alpha.
Header probe_webp(const ByteReader& r) {
  constexpr std::size_t payload = 20;
  Header h;
  if (r.has_tag(12, "VP8X")) {
    h.width = r.u24(payload + 4) + 1ull;
    h.height = r.u24(payload + 7) + 1ull;
    h.channels = (r.u8(payload) & 0x10) != 0 ? 4 : 3;
    return h;
  }
  if (r.has_tag(12, "VP8L")) {
    if (r.u8(payload) != 0x2F) throw HeaderError{"no VP8L signature byte"};
    const std::uint32_t bits = r.u32(payload + 1);
    h.width = (bits & 0x3FFF) + 1ull;
    h.height = ((bits >> 14) & 0x3FFF) + 1ull;
    h.channels = (bits >> 28 & 1) != 0 ? 4 : 3;  // alpha_is_used
    return h;
  }
  if (r.has_tag(12, "VP8 ")) {
    if ((r.u24(payload) & 1) != 0) throw HeaderError{"the VP8 frame is not a key frame"};
    if (r.u24(payload + 3) != 0x2A019D) throw HeaderError{"no VP8 start code"};
    h.width = r.u16(payload + 6) & 0x3FFFu;  // top 2 bits: scaling
    h.height = r.u16(payload + 8) & 0x3FFFu;
    return h;
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

// TIFF: the first value of a SHORT or LONG IFD entry at `entry` (in its value field when its values fit
// in 4 bytes, else at the offset the field holds); nothing for another type.
std::optional<std::uint32_t> tiff_first_value(const ByteReader& r, std::size_t entry) {
  const std::uint32_t type = r.u16(entry + 2);
  if (type != 3 && type != 4) return std::nullopt;
  const std::uint64_t bytes = std::uint64_t{r.u32(entry + 4)} * (type == 3 ? 2 : 4);
  const std::size_t at = bytes <= 4 ? entry + 8 : static_cast<std::size_t>(r.u32(entry + 8));
  return type == 3 ? r.u16(at) : r.u32(at);
}

// TIFF (byte order from the II/MM magic): ImageWidth and ImageLength of the first IFD, the only page
// cv::imdecode decodes (later pages allocate nothing). The walk reads at most the IFD's 65535 entries,
// each bounds-checked; a tag given twice is refused (libtiff would take the last one). For the memory
// estimate, also BitsPerSample, SamplesPerPixel, PhotometricInterpretation and the strip or tile size
// (defaults as in the TIFF specification; a value of another type than SHORT or LONG is taken as the
// default): OpenCV reads a strip or tile at a time into a buffer -- 8-bit images through libtiff's RGBA
// interface (4 bytes per pixel), deeper ones as stored -- and, without RowsPerStrip, a strip is the
// whole image.
Header probe_tiff(const ByteReader& r) {
  const std::size_t ifd = r.u32(4);
  const std::uint32_t entries = r.u16(ifd);
  std::optional<std::uint32_t> width, height, rows_per_strip, tile_width, tile_length;
  std::uint32_t bits = 1, samples = 1, photometric = 1;
  for (std::uint32_t i = 0; i < entries; ++i) {
    const std::size_t entry = ifd + 2 + 12 * static_cast<std::size_t>(i);
    const std::uint32_t tag = r.u16(entry);
    switch (tag) {
      case 256:
      case 257: {
        std::optional<std::uint32_t>& slot = tag == 256 ? width : height;
        if (slot) throw HeaderError{"ImageWidth or ImageLength is given twice"};
        slot = tiff_dimension(r, entry);
        break;
      }
      case 258: bits = tiff_first_value(r, entry).value_or(1); break;
      case 262: photometric = tiff_first_value(r, entry).value_or(1); break;
      case 277: samples = tiff_first_value(r, entry).value_or(1); break;
      case 278: rows_per_strip = tiff_first_value(r, entry); break;
      case 322: tile_width = tiff_first_value(r, entry); break;
      case 323: tile_length = tiff_first_value(r, entry); break;
      default: break;
    }
  }
  if (!width || !height) throw HeaderError{"the first IFD has no ImageWidth or ImageLength"};
  Header h;
  h.width = *width;
  h.height = *height;
  h.sample_bytes = bits <= 8 ? 1 : bits <= 16 ? 2 : bits <= 32 ? 4 : 8;
  // Gray (photometric 0, 1) keeps its sample count; colour (RGB, palette, YCbCr, ...) has 3 or 4 channels.
  h.channels = std::min<std::uint32_t>(std::max<std::uint32_t>(samples, photometric > 1 ? 3 : 1), 4);
  const std::uint64_t buffer_pixels = tile_width && tile_length
                                          ? mul_sat(*tile_width, *tile_length)
                                          : mul_sat(h.width, std::min<std::uint64_t>(rows_per_strip.value_or(UINT32_MAX), h.height));
  h.decoder_bytes = mul_sat(buffer_pixels, h.sample_bytes == 1 ? 4 : std::uint64_t{h.sample_bytes} * samples);
  return h;
}

// BMP (little-endian): the info header after the 14-byte file header -- BITMAPCOREHEADER (12 bytes,
// unsigned 16-bit sides) or any larger one (OpenCV reads sizes from 36 bytes up; signed 32-bit sides,
// a negative height meaning top-down rows). cv::imdecode gives 8-bit BGR, BGRA for 32 bits per pixel.
Header probe_bmp(const ByteReader& r) {
  const std::uint32_t header_size = r.u32(14);
  Header h;
  if (header_size == 12) {
    h.width = r.u16(18);
    h.height = r.u16(20);
    h.channels = r.u16(24) == 32 ? 4 : 3;
    return h;
  }
  if (header_size < 36) throw HeaderError{"unknown info header size " + std::to_string(header_size)};
  const auto width = static_cast<std::int32_t>(r.u32(18));
  const auto height = static_cast<std::int32_t>(r.u32(22));
  if (width <= 0) throw HeaderError{"a width of " + std::to_string(width)};
  h.width = static_cast<std::uint64_t>(width);
  h.height = static_cast<std::uint64_t>(std::abs(static_cast<std::int64_t>(height)));
  h.channels = r.u16(28) == 32 ? 4 : 3;
  return h;
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

// PNM (P1-P6): width and height, the first two numbers after the magic, then (but for the bitmaps P1,
// P4) the maximum sample value. cv::imdecode gives 1 channel (P1, P2, P4, P5) or 3 (P3, P6), 16-bit
// samples for a maximum above 255.
Header probe_pnm(const ByteReader& r) {
  std::size_t pos = 2;
  Header h;
  h.width = pnm_number(r, pos);
  h.height = pnm_number(r, pos);
  const std::uint32_t kind = r.u8(1);
  h.channels = kind == '3' || kind == '6' ? 3 : 1;
  if (kind != '1' && kind != '4' && pnm_number(r, pos) > 255) h.sample_bytes = 2;
  return h;
}

Header probe(Format format, const std::uint8_t* data, std::size_t size) {
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

// What the header declares (Header), read without decoding any pixels. An image whose header does not
// give a positive size is refused (ImageDecode naming the format and why), never decoded to find out.
Header declared_header(Format format, const std::uint8_t* data, std::size_t size, const std::string& source) {
  try {
    const Header declared = probe(format, data, size);
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

// JPEG: the number of scans (SOS marker segments) between SOI and EOI (or the end of the bytes), found
// by walking the marker segments the way libjpeg reads them (next_jpeg_marker): a segment's length is
// skipped whole (an FF DA inside an APPn or COM payload is no scan); between segments, and in the
// entropy-coded data after an SOS segment, bytes up to the next FF are passed over, fill FFs are
// skipped, FF 00 is a stuffed data byte, and RST0-7 and TEM stand alone. One pass over the bytes.
std::uint64_t count_jpeg_scans(const std::uint8_t* data, std::size_t size) {
  std::uint64_t scans = 0;
  std::size_t pos = 2;  // after SOI
  while (pos < size) {
    const void* ff = std::memchr(data + pos, 0xFF, size - pos);
    if (ff == nullptr) break;
    pos = static_cast<std::size_t>(static_cast<const std::uint8_t*>(ff) - data);
    while (pos < size && data[pos] == 0xFF) ++pos;
    if (pos == size) break;
    const std::uint32_t marker = data[pos++];
    if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // stuffing, TEM, RSTn
    if (marker == 0xD8 || marker == 0xD9) break;  // EOI; or a second SOI, which libjpeg refuses
    if (size - pos < 2) break;
    const std::size_t length = static_cast<std::size_t>(data[pos]) << 8 | data[pos + 1];
    if (length < 2) break;  // libjpeg refuses it
    if (marker == 0xDA) ++scans;
    pos += length;
  }
  return scans;
}

// Refuses a JPEG of more than limits.max_jpeg_scans scans (ImageTooLarge): libjpeg decodes every scan
// of a progressive image over the whole image, so decoding time grows with their number.
void check_jpeg_scans(std::uint64_t scans, const DecodeLimits& limits, const std::string& source) {
  const std::uint64_t limit = static_cast<std::uint64_t>(std::max(limits.max_jpeg_scans, 1));
  if (scans > limit)
    throw Error(Status::ImageTooLarge, source + ": JPEG has " + std::to_string(scans) + " scans, over the limit of " + std::to_string(limit) +
                                           " scans (DecodeLimits::max_jpeg_scans); refused without decoding");
}

// Bytes decoding the image needs (DecodeLimits::max_decode_bytes), from its header: the decoder's output
// and own buffers, the 8-bit copy of deeper samples (to_8bit), the alpha-composited copy
// (composite_onto_white) and the RGB Image (from_decoded_bgr converts into it directly). Saturates.
std::uint64_t decode_bytes_estimate(const Header& h) {
  const std::uint64_t per_pixel = std::uint64_t{h.channels} * h.sample_bytes + (h.sample_bytes > 1 ? h.channels : 0) +
                                  (h.channels == 4 ? 3 : 0) + 3;
  return add_sat(mul_sat(mul_sat(h.width, h.height), per_pixel), h.decoder_bytes);
}

void check_decode_bytes(Format format, const Header& h, const DecodeLimits& limits, const std::string& source) {
  const std::uint64_t estimate = decode_bytes_estimate(h);
  if (estimate > limits.max_decode_bytes)
    throw Error(Status::ImageTooLarge, source + ": decoding this " + std::to_string(h.width) + "x" + std::to_string(h.height) + " " +
                                           format_name(format) + " (" + std::to_string(h.channels) + " channels of " +
                                           std::to_string(8 * h.sample_bytes) + " bits) needs an estimated " + std::to_string(estimate) +
                                           " bytes, over the limit of " + std::to_string(limits.max_decode_bytes) +
                                           " bytes (DecodeLimits::max_decode_bytes); refused without decoding");
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

// Converts a decoded OpenCV image (BGR channel order, any of 1/3/4 channels) to an RGB Image, writing
// into the Image's pixels (cvtColor keeps a destination of the right size and type), so no RGB copy is
// made besides it (decode_bytes_estimate counts on that).
Image from_decoded_bgr(const cv::Mat& decoded, const std::string& source) {
  const cv::Mat mat = to_8bit(decoded, source);
  if (mat.channels() != 1 && mat.channels() != 3 && mat.channels() != 4)
    throw Error(Status::ImageDecode, source + ": unsupported channel count " + std::to_string(mat.channels()));
  Image image(mat.cols, mat.rows);
  cv::Mat rgb(mat.rows, mat.cols, CV_8UC3, image.data(), image.stride());
  switch (mat.channels()) {
    case 1: cv::cvtColor(mat, rgb, cv::COLOR_GRAY2RGB); break;
    case 3: cv::cvtColor(mat, rgb, cv::COLOR_BGR2RGB); break;
    default: cv::cvtColor(composite_onto_white(mat), rgb, cv::COLOR_BGR2RGB); break;
  }
  if (rgb.data != image.data()) throw Error(Status::Internal, source + ": colour conversion did not write into the image");
  return image;
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
    throw Error(Status::ImageTooLarge, source + ": out of memory while decoding (lower DecodeLimits::max_pixels or max_decode_bytes?)");
  } catch (const std::ios_base::failure& e) {
    throw Error(Status::Io, source + ": read error (" + e.what() + ")");
  } catch (const std::exception& e) {
    throw Error(Status::ImageDecode, source + ": decoding failed (" + e.what() + ")");
  }
}

// The bytes of the regular file `path` of at most max_bytes (detail::read_regular_file: checked by
// stat() before it is opened and fstat() after, before a byte is read; a FIFO is never waited on, a
// device never opened). Errors, each naming
// the path: InvalidArgument for anything but a regular file, ImageTooLarge over max_bytes (naming
// DecodeLimits::max_file_bytes), Io when it cannot be opened or read.
std::vector<std::uint8_t> read_image_file(const std::string& path, std::uint64_t max_bytes) {
  try {
    return detail::read_regular_file(path, max_bytes, "image file", Status::InvalidArgument, Status::ImageTooLarge);
  } catch (const Error& e) {
    if (e.status() == Status::ImageTooLarge) throw Error(Status::ImageTooLarge, std::string(e.what()) + " bytes (DecodeLimits::max_file_bytes)");
    throw;
  }
}

// decode_bytes without the exception translation.
Image decode_encoded(const std::uint8_t* data, std::size_t size, const DecodeLimits& limits, const std::string& source) {
  if (data == nullptr || size == 0) throw Error(Status::ImageDecode, source + ": empty input, no image bytes");
  const std::optional<Format> format = sniff_format(data, size);
  if (!format) throw Error(Status::ImageDecode, source + ": not an image in a supported format (JPEG, PNG, BMP, WebP, TIFF, PNM)");
  Header declared = declared_header(*format, data, size, source);
  check_limits(declared.width, declared.height, limits, source);
  const bool jpeg = *format == Format::Jpeg;
  if (jpeg && !jpeg_has_end_marker(data, size)) throw Error(Status::ImageDecode, source + ": truncated JPEG (no end-of-image marker)");
  if (jpeg) {
    const std::uint64_t scans = count_jpeg_scans(data, size);
    check_jpeg_scans(scans, limits, source);
    if (declared.progressive || scans > 1) declared.decoder_bytes = add_sat(declared.decoder_bytes, declared.coefficient_bytes);
  }
  check_decode_bytes(*format, declared, limits, source);
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
