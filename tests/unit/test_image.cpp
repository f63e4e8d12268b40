#include <catch2/catch.hpp>
#include <opencv2/imgcodecs.hpp>

#include "domainsearch/error.hpp"
#include "domainsearch/image.hpp"
#include "test_util.hpp"

using namespace domainsearch;
using dstest::status_of;

namespace {

std::vector<std::uint8_t> encode(const cv::Mat& m, const std::string& ext) {
  std::vector<std::uint8_t> out;
  REQUIRE(cv::imencode(ext, m, out));
  return out;
}

// Left half red, right half blue (BGR).
cv::Mat two_colour_bgr(int w, int h) {
  cv::Mat m(h, w, CV_8UC3, cv::Scalar(255, 0, 0));
  m(cv::Rect(0, 0, w / 2, h)).setTo(cv::Scalar(0, 0, 255));
  return m;
}

const std::uint8_t* pixel(const Image& im, int x, int y) { return im.data() + y * im.stride() + x * 3; }

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
    for (const std::string header : {std::string("NITF02.10") + std::string(300, '0'), std::string("GIF89a") + std::string(64, '\0'),
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
  std::vector<std::uint8_t> bomb = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                    0, 0x01, 0x86, 0xA0, 0, 0x01, 0x86, 0xA0, 8, 2, 0, 0, 0, 0, 0, 0, 0};
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
