#include "kvscope/plot/png_writer.hpp"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kvscope/error.hpp"

namespace kvscope::plot::detail {
namespace {

namespace fs = std::filesystem;

using Surface = std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)>;

Surface image(int w, int h) {
  return {cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h), cairo_surface_destroy};
}

uint32_t& px(cairo_surface_t* s, int x, int y) {
  return reinterpret_cast<uint32_t*>(cairo_image_surface_get_data(s) +
                                     static_cast<size_t>(y) * cairo_image_surface_get_stride(s))[x];
}

// Opaque pixels: noise in the left half (where the encoder switches to run-length coding),
// flat colour with a few stripes in the right half (where it searches for matches).
Surface opaque_image(int w, int h, uint32_t seed = 1) {
  Surface s = image(w, h);
  cairo_surface_flush(s.get());
  std::mt19937 rng(seed);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      px(s.get(), x, y) =
          0xff000000u | (x < (w + 1) / 2 ? rng() & 0xffffff : (y % 7 == 0 ? 0x3b4cc0u : 0xffffffu));
  cairo_surface_mark_dirty(s.get());
  return s;
}

// Valid premultiplied pixels (each channel <= alpha), alpha spread over 0..255; pixel
// (0, 0) is fully transparent.
Surface transparent_image(int w, int h, uint32_t seed = 2) {
  Surface s = image(w, h);
  cairo_surface_flush(s.get());
  std::mt19937 rng(seed);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint32_t a = (x + y) % 5 == 0 ? 0 : (x + y) % 5 == 1 ? 255 : rng() % 256;
      auto ch = [&] { return a == 0 ? 0u : static_cast<uint32_t>(rng() % (a + 1)); };
      px(s.get(), x, y) = (a << 24) | (ch() << 16) | (ch() << 8) | ch();
    }
  cairo_surface_mark_dirty(s.get());
  return s;
}

uint32_t be32(const std::vector<uint8_t>& b, size_t at) {
  return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) |
         uint32_t{b[at + 3]};
}

// Walks the chunks, checking every CRC and the order IHDR, IDAT..., IEND; returns the
// concatenated IDAT data (one zlib stream) and the IHDR colour type.
std::vector<uint8_t> idat_stream(const std::vector<uint8_t>& png, int* colour_type) {
  static const uint8_t kSig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  EXPECT_GE(png.size(), 8u);
  EXPECT_EQ(std::memcmp(png.data(), kSig, 8), 0);
  std::vector<uint8_t> z;
  std::vector<std::string> types;
  for (size_t at = 8; at + 12 <= png.size();) {
    uint32_t len = be32(png, at);
    EXPECT_LE(at + 12 + len, png.size());
    std::string type(reinterpret_cast<const char*>(&png[at + 4]), 4);
    uLong crc = crc32(0, &png[at + 4], 4 + len);
    EXPECT_EQ(crc, be32(png, at + 8 + len)) << "CRC of chunk " << types.size() << " " << type;
    if (type == "IHDR") *colour_type = png[at + 8 + 9];
    if (type == "IDAT") z.insert(z.end(), &png[at + 8], &png[at + 8 + len]);
    if (types.empty() || types.back() != type) types.push_back(type);
    at += 12 + len;
  }
  EXPECT_EQ(types, (std::vector<std::string>{"IHDR", "IDAT", "IEND"}));
  return z;
}

// Inflates with zlib's own checks (header, Adler-32 of everything) and returns the raw
// filtered scanlines.
std::vector<uint8_t> inflate_all(const std::vector<uint8_t>& z, size_t expect) {
  std::vector<uint8_t> raw(expect + 1);
  uLongf n = raw.size();
  EXPECT_EQ(uncompress(raw.data(), &n, z.data(), z.size()), Z_OK);
  raw.resize(n);
  return raw;
}

class PngWriter : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kvscope_png_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes s to a file, reads it back with Cairo's PNG reader (libpng), and expects every
  // premultiplied pixel to equal the original (only the colour bits when opaque: Cairo
  // reads an RGB file into RGB24, whose top byte is unused).
  void expect_round_trip(cairo_surface_t* s, bool opaque, const PngOptions& opt = {}) {
    const int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
    const std::string path = (dir_ / "t.png").string();
    write_png(s, path, opt);
    std::ifstream f(path, std::ios::binary);
    std::vector<uint8_t> png((std::istreambuf_iterator<char>(f)), {});
    EXPECT_EQ(png, encode_png(s, opt));
    int colour_type = -1;
    std::vector<uint8_t> raw = inflate_all(idat_stream(png, &colour_type),
                                           static_cast<size_t>(h) * (1 + w * (opaque ? 3 : 4)));
    EXPECT_EQ(colour_type, opaque ? 2 : 6);
    EXPECT_EQ(raw.size(), static_cast<size_t>(h) * (1 + w * (opaque ? 3 : 4)));

    Surface back(cairo_image_surface_create_from_png(path.c_str()), cairo_surface_destroy);
    ASSERT_EQ(cairo_surface_status(back.get()), CAIRO_STATUS_SUCCESS);
    ASSERT_EQ(cairo_image_surface_get_format(back.get()),
              opaque ? CAIRO_FORMAT_RGB24 : CAIRO_FORMAT_ARGB32);
    ASSERT_EQ(cairo_image_surface_get_width(back.get()), w);
    ASSERT_EQ(cairo_image_surface_get_height(back.get()), h);
    const uint32_t mask = opaque ? 0xffffffu : 0xffffffffu;
    int64_t wrong = 0;
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        uint32_t a = px(s, x, y) & mask, b = px(back.get(), x, y) & mask;
        if (a != b && wrong++ < 5)
          ADD_FAILURE() << "pixel (" << x << ", " << y << "): wrote " << std::hex << a << ", read "
                        << b;
      }
    EXPECT_EQ(wrong, 0);
  }

  fs::path dir_;
};

TEST_F(PngWriter, OpaqueImageIsWrittenAsRgbAndReadsBackExactly) {
  Surface s = opaque_image(300, 200);
  expect_round_trip(s.get(), true);
}

TEST_F(PngWriter, TransparentImageIsWrittenAsRgbaAndReadsBackExactly) {
  Surface s = transparent_image(257, 130);
  expect_round_trip(s.get(), false);
}

TEST_F(PngWriter, OneTransparentPixelMakesTheWholeImageRgba) {
  Surface s = opaque_image(64, 64);
  cairo_surface_flush(s.get());
  px(s.get(), 63, 63) = 0x80402010u;
  cairo_surface_mark_dirty(s.get());
  expect_round_trip(s.get(), false);
}

TEST_F(PngWriter, OddSizesReadBackExactly) {
  for (auto [w, h] : {std::pair{1, 1}, {1, 777}, {5000, 1}, {20001, 3}, {3, 2}}) {
    SCOPED_TRACE(std::to_string(w) + " x " + std::to_string(h));
    Surface o = opaque_image(w, h, static_cast<uint32_t>(w * 31 + h));
    expect_round_trip(o.get(), true);
    Surface t = transparent_image(w, h, static_cast<uint32_t>(w * 17 + h));
    expect_round_trip(t.get(), false);
  }
}

TEST_F(PngWriter, ManyBandsJoinIntoOneStreamWhateverTheThreadCount) {
  // ~14 MB of RGB rows: a dozen bands, noisy and flat, compressed on 1, 3 and 8 threads.
  Surface s = opaque_image(2400, 2000);
  std::vector<uint8_t> one = encode_png(s.get(), {.level = 1, .threads = 1});
  EXPECT_EQ(encode_png(s.get(), {.level = 1, .threads = 3}), one);
  EXPECT_EQ(encode_png(s.get(), {.level = 1, .threads = 8}), one);
  int chunks = 0;
  for (size_t at = 8; at + 12 <= one.size(); at += 12 + be32(one, at)) ++chunks;
  EXPECT_GT(chunks, 10);  // IHDR, an IDAT per band, IEND
  expect_round_trip(s.get(), true, {.level = 1, .threads = 3});
}

TEST_F(PngWriter, EveryLevelReadsBackExactly) {
  Surface s = transparent_image(120, 90);
  for (int level : {0, 1, 6, 9}) {
    SCOPED_TRACE("level " + std::to_string(level));
    expect_round_trip(s.get(), false, {.level = level});
  }
  EXPECT_THROW(encode_png(s.get(), {.level = 10}), BadInput);
  EXPECT_THROW(encode_png(s.get(), {.level = -1}), BadInput);
}

TEST_F(PngWriter, FlatFigureCompressesWell) {
  Surface s = image(1000, 800);
  cairo_t* cr = cairo_create(s.get());
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  cairo_set_source_rgb(cr, 0.2, 0.3, 0.8);
  cairo_rectangle(cr, 100, 100, 600, 400);
  cairo_fill(cr);
  cairo_destroy(cr);
  EXPECT_LT(encode_png(s.get()).size(), 20000u);  // 2.4 MB of pixels
}

TEST_F(PngWriter, UnsupportedSurfaceIsBadInput) {
  Surface a8(cairo_image_surface_create(CAIRO_FORMAT_A8, 4, 4), cairo_surface_destroy);
  EXPECT_THROW(encode_png(a8.get()), BadInput);
}

TEST_F(PngWriter, MissingFolderIsBadInputNamingThePathAndLeavesNothing) {
  Surface s = opaque_image(10, 10);
  const std::string path = (dir_ / "missing" / "fig.png").string();
  try {
    write_png(s.get(), path);
    FAIL() << "no error";
  } catch (const BadInput& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cannot write"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::is_empty(dir_));
}

// A folder in the way is the caller's choice of path: BadInput, as for every atomic file.
TEST_F(PngWriter, TargetThatCannotBeReplacedIsBadInputAndLeavesNoTemporaryFile) {
  Surface s = opaque_image(10, 10);
  const fs::path path = dir_ / "fig.png";
  fs::create_directory(path);  // a folder where the file should go: rename fails
  try {
    write_png(s.get(), path.string());
    FAIL() << "no error";
  } catch (const BadInput& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator{}), 1);
  EXPECT_TRUE(fs::is_directory(path));
}

}  // namespace
}  // namespace kvscope::plot::detail
