#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <opencv2/imgcodecs.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "domainsearch/error.hpp"
#include "domainsearch/image.hpp"
#include "capped_child.hpp"
#include "test_util.hpp"

using namespace domainsearch;
using Catch::Matchers::Contains;
using dstest::status_of;

namespace {

std::vector<std::uint8_t> encode(const cv::Mat& m, const std::string& ext, const std::vector<int>& params = {}) {
  std::vector<std::uint8_t> out;
  REQUIRE(cv::imencode(ext, m, out, params));
  return out;
}

// Uniform noise (BGR): its JPEG's entropy-coded data holds stuffed FF 00 pairs.
cv::Mat noise_bgr(int w, int h) {
  cv::Mat m(h, w, CV_8UC3);
  cv::RNG rng(7);
  rng.fill(m, cv::RNG::UNIFORM, cv::Scalar::all(0), cv::Scalar::all(256));
  return m;
}

// Left half red, right half blue (BGR).
cv::Mat two_colour_bgr(int w, int h) {
  cv::Mat m(h, w, CV_8UC3, cv::Scalar(255, 0, 0));
  m(cv::Rect(0, 0, w / 2, h)).setTo(cv::Scalar(0, 0, 255));
  return m;
}

const std::uint8_t* pixel(const Image& im, int x, int y) { return im.data() + y * im.stride() + x * 3; }

// ---- Crafted files. Each builder writes a format's header declaring width x height; pixel data follows
// only where a test decodes the result.

using Bytes = std::vector<std::uint8_t>;

void put(Bytes& out, std::uint32_t value, int n, bool big_endian = false) {
  for (int i = 0; i < n; ++i) out.push_back(static_cast<std::uint8_t>(value >> (8 * (big_endian ? n - 1 - i : i))));
}
void put(Bytes& out, const std::string& text) { out.insert(out.end(), text.begin(), text.end()); }

Bytes png_header(std::uint32_t width, std::uint32_t height, std::uint8_t bit_depth = 8, std::uint8_t colour_type = 2) {
  Bytes b;
  put(b, "\x89PNG\r\n\x1a\n");
  put(b, 13, 4, true);
  put(b, "IHDR");
  put(b, width, 4, true);
  put(b, height, 4, true);
  b.push_back(bit_depth);  // default: 8-bit RGB
  b.push_back(colour_type);
  put(b, std::string("\0\0\0" "\0\0\0\0", 7));  // CRC not checked before the size
  return b;
}

// Offset of the SOF0 marker in a well-formed JPEG (marker segments back to back from offset 2).
std::size_t sof0_offset(const Bytes& jpeg) {
  std::size_t pos = 2;
  while (jpeg.at(pos + 1) != 0xC0) pos += 2 + (jpeg.at(pos + 2) << 8 | jpeg.at(pos + 3));
  return pos;
}

// An OpenCV-encoded JPEG (SOI, APP0, DQT, SOF0, ...) with its frame header declaring width x height,
// `after_app0` inserted after the APP0 segment and `before_sof` just before the SOF marker.
Bytes jpeg_variant(int width, int height, const Bytes& after_app0, const Bytes& before_sof) {
  Bytes b = encode(two_colour_bgr(40, 24), ".jpg");
  REQUIRE(b[3] == 0xE0);
  const std::size_t sof = sof0_offset(b);
  b[sof + 5] = static_cast<std::uint8_t>(height >> 8);
  b[sof + 6] = static_cast<std::uint8_t>(height);
  b[sof + 7] = static_cast<std::uint8_t>(width >> 8);
  b[sof + 8] = static_cast<std::uint8_t>(width);
  b.insert(b.begin() + static_cast<long>(sof), before_sof.begin(), before_sof.end());
  const std::size_t app0_end = 4 + (b[4] << 8 | b[5]);
  b.insert(b.begin() + static_cast<long>(app0_end), after_app0.begin(), after_app0.end());
  return b;
}

// RIFF/WEBP holding one chunk.
Bytes webp(const std::string& fourcc, const Bytes& payload) {
  Bytes b;
  put(b, "RIFF");
  put(b, static_cast<std::uint32_t>(12 + payload.size()), 4);
  put(b, "WEBP" + fourcc);
  put(b, static_cast<std::uint32_t>(payload.size()), 4);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}
Bytes webp_vp8x(std::uint32_t width, std::uint32_t height) {
  Bytes p(4, 0);  // flags, reserved
  put(p, width - 1, 3);
  put(p, height - 1, 3);
  return webp("VP8X", p);
}
Bytes webp_vp8l(std::uint32_t width, std::uint32_t height) {
  Bytes p = {0x2F};
  put(p, (width - 1) | (height - 1) << 14, 4);
  p.resize(32, 0);
  return webp("VP8L", p);
}
Bytes webp_vp8(std::uint32_t width, std::uint32_t height) {
  Bytes p;
  put(p, 1 << 4 | 10 << 5, 3);  // key frame, version 0, shown, first partition of 10 bytes
  put(p, 0x2A019D, 3);          // start code
  put(p, width, 2);
  put(p, height, 2);
  p.resize(32, 0);
  return webp("VP8 ", p);
}

// An uncompressed TIFF, by default 8-bit grayscale, one strip of value-128 pixels (omitted when
// `with_pixels` is false); ImageWidth/ImageLength are written as `dimension_type` (3 SHORT, 4 LONG, 9
// SLONG). With `samples` > 1 it is RGB(A) of `bits` per sample (one BitsPerSample value).
Bytes tiff(bool big_endian, std::uint32_t width, std::uint32_t height, std::uint16_t dimension_type, bool with_pixels,
           std::uint16_t bits = 8, std::uint16_t samples = 1) {
  struct Entry { std::uint16_t tag, type; std::uint32_t value; };
  const std::uint32_t pixels_at = 8 + 2 + 9 * 12 + 4;
  const std::uint32_t strip_bytes = width * height * samples * (bits / 8u);
  const Entry entries[] = {{256, dimension_type, width}, {257, dimension_type, height}, {258, 3, bits}, {259, 3, 1},
                           {262, 3, samples > 1 ? 2u : 1u}, {273, 4, pixels_at}, {277, 3, samples}, {278, 4, height}, {279, 4, strip_bytes}};
  Bytes b;
  put(b, big_endian ? "MM" : "II");
  put(b, 42, 2, big_endian);
  put(b, 8, 4, big_endian);
  put(b, 9, 2, big_endian);
  for (const Entry& e : entries) {
    put(b, e.tag, 2, big_endian);
    put(b, e.type, 2, big_endian);
    put(b, 1, 4, big_endian);
    const int n = e.type == 3 ? 2 : 4;  // a SHORT sits in the first 2 bytes of the 4-byte value field
    put(b, e.value, n, big_endian);
    put(b, 0, 4 - n, big_endian);
  }
  put(b, 0, 4, big_endian);  // no next IFD
  if (with_pixels) b.resize(b.size() + strip_bytes, 128);
  return b;
}

// A 24-bit BMP with a BITMAPINFOHEADER (negative height: rows top-down) or, if `core`, a
// BITMAPCOREHEADER; `with_pixels` adds the (zero) pixel rows.
Bytes bmp(std::int32_t width, std::int32_t height, bool core, bool with_pixels) {
  const std::uint32_t info_size = core ? 12 : 40;
  const std::size_t row = (static_cast<std::size_t>(width) * 3 + 3) / 4 * 4;
  const std::size_t pixels = with_pixels ? row * static_cast<std::size_t>(std::abs(height)) : 16;
  Bytes b;
  put(b, "BM");
  put(b, static_cast<std::uint32_t>(14 + info_size + pixels), 4);
  put(b, 0, 4);
  put(b, 14 + info_size, 4);
  put(b, info_size, 4);
  put(b, static_cast<std::uint32_t>(width), core ? 2 : 4);
  put(b, static_cast<std::uint32_t>(height), core ? 2 : 4);
  put(b, 1, 2);   // planes
  put(b, 24, 2);  // bits per pixel
  if (!core) b.resize(b.size() + 24, 0);  // no compression, default resolution and palette
  b.resize(b.size() + pixels, 0);
  return b;
}

// A PNM: its ASCII header `header` then a little pixel data.
Bytes pnm(const std::string& header) {
  Bytes b;
  put(b, header);
  b.resize(b.size() + 256, 0x80);
  return b;
}

// ---- A child process for hostile input.

// Checks that `call`, run by dstest::outcome_in_capped_child() with 100 MiB of headroom (every crafted
// image here decodes to at least 12000 x 12000 bytes, 144 MB, so a decoder that starts to allocate the
// pixels fails instead of being refused from the header), throws an Error with `status` whose message contains
// each of `fragments`.
void check_refused_in_child(const std::function<void()>& call, Status status, const std::vector<std::string>& fragments) {
  const dstest::ChildOutcome outcome = dstest::outcome_in_capped_child(call, 100u << 20);
  INFO(outcome.how << ": " << outcome.message);
  REQUIRE(outcome.how == "Error");
  CHECK(status_name(outcome.status) == std::string(status_name(status)));
  for (const std::string& f : fragments) CHECK_THAT(outcome.message, Contains(f));
}

}  // namespace

TEST_CASE("JPEG from bytes and from a file decode to RGB", "[image]") {
  const auto bytes = encode(two_colour_bgr(64, 48), ".jpg");
  const Image a = Image::decode_bytes(bytes.data(), bytes.size());
  CHECK(a.width() == 64);
  CHECK(a.height() == 48);
  CHECK(pixel(a, 5, 5)[0] > 200);   // red in R
  CHECK(pixel(a, 5, 5)[2] < 60);
  CHECK(pixel(a, 60, 5)[2] > 200);  // blue in B
  dstest::ScratchDir dir;
  dstest::write_bytes(dir.file("a.jpg"), bytes);
  const Image b = Image::decode_file(dir.file("a.jpg"));
  CHECK(std::equal(a.data(), a.data() + a.stride() * a.height(), b.data()));
}

TEST_CASE("corrupt / truncated / empty and non-image input is refused with a named source", "[image]") {
  const auto jpeg = encode(two_colour_bgr(64, 48), ".jpg");
  const auto png = encode(two_colour_bgr(64, 48), ".png");

  SECTION("truncated JPEG") {
    const std::vector<std::uint8_t> cut(jpeg.begin(), jpeg.begin() + static_cast<long>(jpeg.size() / 2));
    try {
      Image::decode_bytes(cut.data(), cut.size(), {}, "upload-17.jpg");
      FAIL("truncated JPEG accepted");
    } catch (const Error& e) {
      CHECK(e.status() == Status::ImageDecode);
      CHECK(std::string(e.what()).find("upload-17.jpg") != std::string::npos);
    }
  }
  SECTION("truncated PNG") {
    const std::vector<std::uint8_t> cut(png.begin(), png.begin() + static_cast<long>(png.size() - 30));
    CHECK(status_of([&] { Image::decode_bytes(cut.data(), cut.size()); }) == Status::ImageDecode);
  }
  SECTION("flipped bytes in a PNG's pixel data fail its CRC") {
    auto bad = png;
    for (std::size_t i = 60; i < 70; ++i) bad[i] ^= 0x5A;
    CHECK(status_of([&] { Image::decode_bytes(bad.data(), bad.size()); }) == Status::ImageDecode);
  }
  SECTION("flipped bytes in a JPEG header") {
    auto bad = jpeg;
    for (std::size_t i = 2; i < 12; ++i) bad[i] ^= 0xFF;
    CHECK(status_of([&] { Image::decode_bytes(bad.data(), bad.size()); }) == Status::ImageDecode);
  }
  SECTION("empty and garbage") {
    const std::string text = "this is not an image, just some text in a file";
    CHECK(status_of([&] { Image::decode_bytes(nullptr, 0); }) == Status::ImageDecode);
    CHECK(status_of([&] { Image::decode_bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()); }) ==
          Status::ImageDecode);
  }
  SECTION("missing file") {
    CHECK(status_of([] { Image::decode_file("/nonexistent/dir/photo.jpg"); }) == Status::Io);
  }
  SECTION("formats outside the accepted set never reach a decoder (found by fuzzing: OpenCV passed them to GDAL)") {
    for (const std::string& header : {std::string("NITF02.10") + std::string(300, '0'), std::string("GIF89a") + std::string(64, '\0'),
                                     std::string("\x00\x00\x01\x00") + std::string(64, '\1')}) {
      try {
        Image::decode_bytes(reinterpret_cast<const std::uint8_t*>(header.data()), header.size(), {}, "upload.bin");
        FAIL("accepted " << header.substr(0, 6));
      } catch (const Error& e) {
        CHECK(e.status() == Status::ImageDecode);
        CHECK(std::string(e.what()).find("supported format") != std::string::npos);
      }
    }
  }
}

TEST_CASE("size limits: tiny images and decompression bombs", "[image]") {
  const auto one = encode(cv::Mat(1, 1, CV_8UC3, cv::Scalar(1, 2, 3)), ".png");
  CHECK(status_of([&] { Image::decode_bytes(one.data(), one.size()); }) == Status::ImageTooSmall);

  // A PNG header declaring 100000 x 100000 pixels: refused from the header, nothing allocated.
  const Bytes bomb = png_header(100000, 100000);
  CHECK(status_of([&] { Image::decode_bytes(bomb.data(), bomb.size()); }) == Status::ImageTooLarge);

  const auto normal = encode(two_colour_bgr(64, 48), ".png");
  DecodeLimits tight;
  tight.max_pixels = 1000;
  CHECK(status_of([&] { Image::decode_bytes(normal.data(), normal.size(), tight); }) == Status::ImageTooLarge);
}

TEST_CASE("alpha is composited onto white", "[image]") {
  cv::Mat bgra(32, 32, CV_8UC4, cv::Scalar(0, 0, 0, 0));          // transparent black
  bgra(cv::Rect(0, 0, 16, 32)).setTo(cv::Scalar(0, 0, 200, 255));  // opaque red
  bgra(cv::Rect(16, 0, 16, 16)).setTo(cv::Scalar(0, 0, 0, 128));   // half-transparent black
  const auto bytes = encode(bgra, ".png");
  const Image im = Image::decode_bytes(bytes.data(), bytes.size());
  CHECK(pixel(im, 4, 4)[0] == 200);
  CHECK(pixel(im, 4, 4)[1] == 0);
  CHECK(pixel(im, 20, 20)[0] == 255);  // transparent -> white, not black
  CHECK(pixel(im, 20, 20)[2] == 255);
  CHECK(std::abs(pixel(im, 20, 4)[1] - 127) <= 1);
}

TEST_CASE("16-bit and grayscale images", "[image]") {
  cv::Mat deep(20, 20, CV_16UC3, cv::Scalar(65535, 32896, 0));
  const auto deep_bytes = encode(deep, ".png");
  const Image a = Image::decode_bytes(deep_bytes.data(), deep_bytes.size());
  CHECK(pixel(a, 3, 3)[0] == 0);    // R (was B=0... in BGR order: B=65535, G=32896, R=0)
  CHECK(pixel(a, 3, 3)[1] == 128);
  CHECK(pixel(a, 3, 3)[2] == 255);

  cv::Mat gray(20, 24, CV_8UC1, cv::Scalar(77));
  const auto gray_bytes = encode(gray, ".png");
  const Image b = Image::decode_bytes(gray_bytes.data(), gray_bytes.size());
  CHECK(b.width() == 24);
  CHECK(pixel(b, 1, 1)[0] == 77);
  CHECK(pixel(b, 1, 1)[1] == 77);
  CHECK(pixel(b, 1, 1)[2] == 77);
}

TEST_CASE("EXIF orientation of a JPEG is applied", "[image]") {
  auto jpeg = encode(two_colour_bgr(64, 32), ".jpg");
  // APP1 Exif segment: little-endian TIFF, IFD0 with one entry, Orientation (0x0112) = 6 (rotate 90 CW).
  const std::vector<std::uint8_t> app1 = {0xFF, 0xE1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 0x2A, 0, 8, 0, 0, 0,
                                          1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0};
  jpeg.insert(jpeg.begin() + 2, app1.begin(), app1.end());
  const Image im = Image::decode_bytes(jpeg.data(), jpeg.size());
  REQUIRE(im.width() == 32);
  REQUIRE(im.height() == 64);
  CHECK(pixel(im, 16, 5)[0] > 200);   // the left (red) half is now on top
  CHECK(pixel(im, 16, 58)[2] > 200);  // the right (blue) half at the bottom
}

TEST_CASE("raw pixels in every format / with padded strides", "[image]") {
  const int w = 20, h = 18;
  for (const PixelFormat f : {PixelFormat::Gray8, PixelFormat::RGB8, PixelFormat::BGR8, PixelFormat::RGBA8, PixelFormat::BGRA8}) {
    const int bpp = bytes_per_pixel(f);
    const std::size_t stride = static_cast<std::size_t>(w * bpp + 7);
    std::vector<std::uint8_t> buf(stride * h, 0);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        std::uint8_t* p = buf.data() + y * stride + x * bpp;
        if (f == PixelFormat::Gray8) { p[0] = 90; continue; }
        const bool bgr = f == PixelFormat::BGR8 || f == PixelFormat::BGRA8;
        p[bgr ? 2 : 0] = 10;  // R
        p[1] = 20;            // G
        p[bgr ? 0 : 2] = 30;  // B
        if (bpp == 4) p[3] = 255;
      }
    const Image im = Image::from_pixels(ImageView{buf.data(), w, h, stride, f});
    INFO("format " << static_cast<int>(f));
    if (f == PixelFormat::Gray8) {
      CHECK(pixel(im, 7, 9)[1] == 90);
    } else {
      CHECK(pixel(im, 7, 9)[0] == 10);
      CHECK(pixel(im, 7, 9)[1] == 20);
      CHECK(pixel(im, 7, 9)[2] == 30);
    }
  }
  std::vector<std::uint8_t> buf(100 * 100 * 3);
  CHECK(status_of([&] { Image::from_pixels(ImageView{nullptr, 20, 20, 60, PixelFormat::RGB8}); }) == Status::InvalidArgument);
  CHECK(status_of([&] { Image::from_pixels(ImageView{buf.data(), 20, 20, 59, PixelFormat::RGB8}); }) == Status::InvalidArgument);
  CHECK(status_of([&] { Image::from_pixels(ImageView{buf.data(), 4, 4, 12, PixelFormat::RGB8}); }) == Status::ImageTooSmall);
}

TEST_CASE("a header declaring 12000 x 12000 is refused in every format before any pixel is allocated", "[image][hostile]") {
  const Bytes fill = {0xFF, 0xFF, 0xFF};
  const std::vector<std::pair<std::string, Bytes>> bombs = {
      {"PNG", png_header(12000, 12000)},
      {"JPEG", jpeg_variant(12000, 12000, {}, {})},
      {"JPEG, a stray byte after APP0", jpeg_variant(12000, 12000, {0x00}, {})},
      {"JPEG, stray bytes, a stuffed FF 00 and fill bytes before SOF", jpeg_variant(12000, 12000, {0x12, 0xFF, 0x00, 0x34}, fill)},
      {"WebP VP8X", webp_vp8x(12000, 12000)},
      {"WebP VP8L", webp_vp8l(12000, 12000)},
      {"WebP VP8", webp_vp8(12000, 12000)},
      {"TIFF little-endian, SHORT sides", tiff(false, 12000, 12000, 3, false)},
      {"TIFF big-endian, LONG sides", tiff(true, 12000, 12000, 4, false)},
      {"BMP info header", bmp(12000, 12000, false, false)},
      {"BMP info header, top-down", bmp(12000, -12000, false, false)},
      {"BMP core header", bmp(12000, 12000, true, false)},
      {"PNM P6 with comments", pnm("P6\n# made by a scanner\n12000 # width\n12000\n255\n")},
      {"PNM P5", pnm("P5 12000 12000 255\n")},
      {"PNM P4", pnm("P4\n12000 12000\n")},
      {"PNM P1", pnm("P1\n12000 12000\n")},
  };
  for (const auto& [name, bytes] : bombs) {
    INFO(name << " (" << bytes.size() << " bytes)");
    check_refused_in_child([&] { Image::decode_bytes(bytes.data(), bytes.size(), {}, "bomb.img"); }, Status::ImageTooLarge,
                           {"bomb.img", "12000x12000", "over the limit"});
  }
}

TEST_CASE("an image whose header does not give its size is refused, not decoded to find out", "[image][hostile]") {
  Bytes no_sof = jpeg_variant(40, 24, {}, {});
  no_sof[sof0_offset(no_sof) + 1] = 0xDA;  // the frame header becomes a scan: SOS before any SOF
  Bytes png_no_ihdr = png_header(40, 24);
  png_no_ihdr[12] = 'i';
  const std::vector<std::tuple<std::string, Bytes, std::string>> cases = {
      {"JPEG", no_sof, "before the frame header"},
      {"JPEG", Bytes{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F'}, "truncated"},
      {"PNG", png_no_ihdr, "IHDR"},
      {"PNG", png_header(0, 24), "width or height of 0"},
      {"WebP", webp("ALPH", Bytes(16, 0)), "VP8"},
      {"TIFF", tiff(false, 40, 24, 9, true), "neither SHORT nor LONG"},
      {"BMP", [] { Bytes b = bmp(40, 24, false, true); b[14] = 20; return b; }(), "info header size 20"},
      {"PNM", pnm("P6 40 x 24 255\n"), "unexpected byte"},
  };
  for (const auto& [format, bytes, reason] : cases) {
    INFO(format << ": " << reason);
    try {
      Image::decode_bytes(bytes.data(), bytes.size(), {}, "odd.img");
      FAIL("decoded");
    } catch (const Error& e) {
      CHECK(e.status() == Status::ImageDecode);
      CHECK_THAT(e.what(), Contains("odd.img") && Contains(format + " header") && Contains(reason));
    }
  }
}

TEST_CASE("small images of every format decode with their true size", "[image]") {
  dstest::ScratchDir dir;
  const cv::Mat colour = two_colour_bgr(40, 24);
  const cv::Mat gray(24, 40, CV_8UC1, cv::Scalar(77));
  const cv::Mat bgra(24, 40, CV_8UC4, cv::Scalar(255, 0, 0, 200));
  // file name (its extension picks the format), image, imwrite parameters
  const std::vector<std::tuple<std::string, cv::Mat, std::vector<int>>> written = {
      {"a.jpg", colour, {}},
      {"a.png", colour, {}},
      {"a.bmp", colour, {}},
      {"lossy.webp", colour, {cv::IMWRITE_WEBP_QUALITY, 90}},     // VP8
      {"lossless.webp", colour, {cv::IMWRITE_WEBP_QUALITY, 101}}, // VP8L
      {"alpha.webp", bgra, {cv::IMWRITE_WEBP_QUALITY, 90}},       // VP8X + ALPH + VP8
      {"a.tiff", colour, {}},
      {"a.ppm", colour, {}},
      {"ascii.ppm", colour, {cv::IMWRITE_PXM_BINARY, 0}},
      {"a.pgm", gray, {}},
      {"a.pbm", gray, {}},
  };
  for (const auto& [name, image, params] : written) {
    INFO(name);
    REQUIRE(cv::imwrite(dir.file(name), image, params));
    const Image decoded = Image::decode_file(dir.file(name));
    CHECK(decoded.width() == 40);
    CHECK(decoded.height() == 24);
  }
  const auto webp_chunk = [&](const std::string& name) {
    const Bytes b = dstest::read_bytes(dir.file(name));
    return std::string(b.begin() + 12, b.begin() + 16);
  };
  CHECK(webp_chunk("lossy.webp") == "VP8 ");
  CHECK(webp_chunk("lossless.webp") == "VP8L");
  CHECK(webp_chunk("alpha.webp") == "VP8X");

  const std::vector<std::pair<std::string, Bytes>> crafted = {
      {"big-endian TIFF, LONG sides", tiff(true, 40, 24, 4, true)},
      {"little-endian TIFF, SHORT sides", tiff(false, 40, 24, 3, true)},
      {"top-down BMP", bmp(40, -24, false, true)},
      {"BMP with a core header", bmp(40, 24, true, true)},
      {"JPEG with stray bytes, a stuffed FF 00 and fill bytes before SOF", jpeg_variant(40, 24, {0x12, 0xFF, 0x00, 0x34}, {0xFF, 0xFF})},
  };
  for (const auto& [name, bytes] : crafted) {
    INFO(name);
    const Image decoded = Image::decode_bytes(bytes.data(), bytes.size());
    CHECK(decoded.width() == 40);
    CHECK(decoded.height() == 24);
  }
  const Bytes mm = tiff(true, 40, 24, 4, true);
  CHECK(pixel(Image::decode_bytes(mm.data(), mm.size()), 39, 23)[1] == 128);
}

TEST_CASE("decode_file reads regular files only, and at most max_file_bytes", "[image][hostile]") {
  dstest::ScratchDir dir;
  SECTION("/dev/zero is refused without being read") {
    check_refused_in_child([] { Image::decode_file("/dev/zero"); }, Status::InvalidArgument, {"/dev/zero", "character device"});
  }
  SECTION("a FIFO is refused at once, without waiting for a writer") {
    const std::string fifo = dir.file("pipe.jpg");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    check_refused_in_child([&] { Image::decode_file(fifo); }, Status::InvalidArgument, {fifo, "FIFO"});
  }
  SECTION("a directory") {
    const std::string folder = dir.file("photos.jpg");
    std::filesystem::create_directory(folder);
    check_refused_in_child([&] { Image::decode_file(folder); }, Status::InvalidArgument, {folder, "directory"});
  }
  SECTION("a socket (which open() refuses before fstat() can tell what it is)") {
    const std::string path = dir.file("socket.jpg");
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    REQUIRE(path.size() < sizeof address.sun_path);
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
    check_refused_in_child([&] { Image::decode_file(path); }, Status::InvalidArgument, {path, "socket"});
    ::close(fd);
  }
  SECTION("a file over the byte cap is refused before it is read") {
    const std::string big = dir.file("huge.png");
    dstest::write_bytes(big, png_header(40, 24));
    std::filesystem::resize_file(big, (256u << 20) + 1);  // sparse: one byte over the default cap
    check_refused_in_child([&] { Image::decode_file(big); }, Status::ImageTooLarge, {big, "max_file_bytes"});
    DecodeLimits tight;
    tight.max_file_bytes = 100;
    const std::string small = dir.file("small.png");
    REQUIRE(cv::imwrite(small, two_colour_bgr(64, 48)));
    REQUIRE(std::filesystem::file_size(small) > 100);
    CHECK(status_of([&] { Image::decode_file(small, tight); }) == Status::ImageTooLarge);
    CHECK(Image::decode_file(small).width() == 64);
  }
  SECTION("a symbolic link to an image is followed") {
    REQUIRE(cv::imwrite(dir.file("real.png"), two_colour_bgr(64, 48)));
    std::filesystem::create_symlink(dir.file("real.png"), dir.file("link.png"));
    CHECK(Image::decode_file(dir.file("link.png")).width() == 64);
  }
}

TEST_CASE("a JPEG of more scans than max_jpeg_scans is refused before decoding / only real scans count", "[image][hostile]") {
  CHECK(DecodeLimits{}.max_jpeg_scans == 100);
  // libjpeg's progression has 10 scans. Noise puts stuffed FF 00 pairs in the entropy-coded data, and a
  // restart interval of one MCU puts RST markers there: neither is a segment.
  const Bytes progressive = encode(noise_bgr(64, 48), ".jpg", {cv::IMWRITE_JPEG_PROGRESSIVE, 1, cv::IMWRITE_JPEG_RST_INTERVAL, 1});
  CHECK(Image::decode_bytes(progressive.data(), progressive.size()).width() == 64);
  DecodeLimits ten, nine;
  ten.max_jpeg_scans = 10;
  nine.max_jpeg_scans = 9;
  CHECK(Image::decode_bytes(progressive.data(), progressive.size(), ten).width() == 64);
  try {
    Image::decode_bytes(progressive.data(), progressive.size(), nine, "upload.jpg");
    FAIL("a JPEG of 10 scans passed a limit of 9");
  } catch (const Error& e) {
    CHECK(e.status() == Status::ImageTooLarge);
    CHECK_THAT(e.what(), Contains("upload.jpg") && Contains("10 scans") && Contains("limit of 9") && Contains("max_jpeg_scans"));
  }

  // FF DA bytes in an APP5 segment's payload are skipped with the segment: still 10 scans.
  Bytes app = {0xFF, 0xE5, 0x01, 0x92};  // length 2 + 400
  for (int i = 0; i < 200; ++i) app.insert(app.end(), {0xFF, 0xDA});
  Bytes with_app = progressive;
  with_app.insert(with_app.begin() + 2, app.begin(), app.end());
  CHECK(Image::decode_bytes(with_app.data(), with_app.size(), ten).width() == 64);

  // The last scan (SOS segment and its entropy-coded data) repeated 1000 times before EOI: for libjpeg
  // 1000 more passes over the image. Refused with the default limit from the marker walk alone.
  const std::size_t eoi = progressive.size() - 2;
  REQUIRE(progressive[eoi] == 0xFF);
  REQUIRE(progressive[eoi + 1] == 0xD9);
  std::size_t last_sos = eoi;
  while (last_sos > 2 && !(progressive[last_sos] == 0xFF && progressive[last_sos + 1] == 0xDA)) --last_sos;
  REQUIRE(last_sos > 2);
  Bytes many(progressive.begin(), progressive.begin() + static_cast<long>(eoi));
  for (int i = 0; i < 1000; ++i)
    many.insert(many.end(), progressive.begin() + static_cast<long>(last_sos), progressive.begin() + static_cast<long>(eoi));
  many.insert(many.end(), {0xFF, 0xD9});
  try {
    Image::decode_bytes(many.data(), many.size(), {}, "scans.jpg");
    FAIL("a JPEG of 1010 scans was decoded");
  } catch (const Error& e) {
    CHECK(e.status() == Status::ImageTooLarge);
    CHECK_THAT(e.what(), Contains("scans.jpg") && Contains("1010 scans") && Contains("limit of 100") && Contains("max_jpeg_scans"));
  }
  DecodeLimits lax;
  lax.max_jpeg_scans = 2000;  // the limit is the caller's: admitted, libjpeg decodes it (warning of the odd progression)
  CHECK(Image::decode_bytes(many.data(), many.size(), lax).width() == 64);
}

TEST_CASE("the memory a decode needs is estimated from the header and bounded by max_decode_bytes", "[image][hostile]") {
  CHECK(DecodeLimits{}.max_decode_bytes == 800ull << 20);
  // 16-bit RGBA: 8 bytes per pixel decoded, 4 for the 8-bit copy, 3 composited onto white, 3 for the RGB
  // result: 18 bytes per pixel, 64 x 48 x 18 = 55296 bytes.
  const cv::Mat deep(48, 64, CV_16UC4, cv::Scalar(65535, 0, 0, 65535));  // opaque blue
  const Bytes deep_png = encode(deep, ".png");
  const Image a = Image::decode_bytes(deep_png.data(), deep_png.size());  // the default admits it
  CHECK(pixel(a, 5, 5)[0] == 0);
  CHECK(pixel(a, 5, 5)[2] == 255);
  DecodeLimits tight;
  tight.max_decode_bytes = 55295;
  try {
    Image::decode_bytes(deep_png.data(), deep_png.size(), tight, "deep.png");
    FAIL("a 16-bit RGBA PNG estimated at 55296 bytes passed a limit of 55295");
  } catch (const Error& e) {
    CHECK(e.status() == Status::ImageTooLarge);
    CHECK_THAT(e.what(), Contains("deep.png") && Contains("64x48") && Contains("55296") && Contains("limit of 55295") &&
                             Contains("max_decode_bytes"));
  }
  tight.max_decode_bytes = 55296;
  CHECK(Image::decode_bytes(deep_png.data(), deep_png.size(), tight).width() == 64);

  // The same size in 8-bit RGB: 3 bytes per pixel decoded, 3 for the result.
  tight.max_decode_bytes = 64 * 48 * 6;
  const Bytes flat_png = encode(two_colour_bgr(64, 48), ".png");
  CHECK(Image::decode_bytes(flat_png.data(), flat_png.size(), tight).width() == 64);
  CHECK(status_of([&] { Image::decode_bytes(deep_png.data(), deep_png.size(), tight); }) == Status::ImageTooLarge);

  // JPEG: 3 bytes per pixel decoded, 3 for an EXIF rotation's copy, 3 for the result; a progressive one
  // also holds libjpeg's coefficients for the whole image.
  tight.max_decode_bytes = 64 * 48 * 9;
  const Bytes baseline = encode(noise_bgr(64, 48), ".jpg");
  const Bytes progressive = encode(noise_bgr(64, 48), ".jpg", {cv::IMWRITE_JPEG_PROGRESSIVE, 1});
  CHECK(Image::decode_bytes(baseline.data(), baseline.size(), tight).width() == 64);
  CHECK(status_of([&] { Image::decode_bytes(progressive.data(), progressive.size(), tight); }) == Status::ImageTooLarge);

  // Headers under max_pixels whose decoding costs too much: refused with the default limits before any
  // pixel is allocated. A 7000 x 7000 16-bit RGBA PNG: 49 megapixels x 18 bytes.
  const Bytes png = png_header(7000, 7000, 16, 6);
  check_refused_in_child([&] { Image::decode_bytes(png.data(), png.size(), {}, "deep.png"); }, Status::ImageTooLarge,
                         {"deep.png", "7000x7000", "882000000", "max_decode_bytes"});
  // A 6000 x 6000 16-bit RGBA TIFF in one strip: 18 bytes per pixel, and 8 more for OpenCV's strip buffer.
  const Bytes tif = tiff(false, 6000, 6000, 3, false, 16, 4);
  check_refused_in_child([&] { Image::decode_bytes(tif.data(), tif.size(), {}, "deep.tiff"); }, Status::ImageTooLarge,
                         {"deep.tiff", "6000x6000", "936000000", "max_decode_bytes"});
}
