#include "kvscope/io/dequant.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "kvscope/error.hpp"
#include "kvscope/io/raw_tensor.hpp"

namespace kvscope::io {
namespace {

std::vector<std::byte> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "missing fixture " << path;
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(chars.size());
  std::memcpy(out.data(), chars.data(), chars.size());
  return out;
}

struct Case {
  DType type;
  const char* file;  // tests/fixtures/gguf/dequant_<file>.{bin,f32}, from make_gguf_fixtures.py
};

class DequantMatchesGgufPy : public ::testing::TestWithParam<Case> {};

// Our blocks against gguf.quants.dequantize of the same bytes. The only allowed difference
// is rounding where the compiler fuses d*q - m into one multiply-add: one float32 rounding
// of the block's scale-sized terms, so the tolerance is relative to the block's largest
// value.
TEST_P(DequantMatchesGgufPy, EveryElementOfEveryBlock) {
  const Case c = GetParam();
  const std::string base = std::string(KVSCOPE_FIXTURES_DIR) + "/gguf/dequant_" + c.file;
  const std::vector<std::byte> src = read_bytes(base + ".bin");
  const std::vector<std::byte> ref_bytes = read_bytes(base + ".f32");
  const int64_t be = dtype_block_elems(c.type);
  const int64_t bb = dtype_block_bytes(c.type);
  ASSERT_EQ(src.size() % static_cast<size_t>(bb), 0u);
  const int64_t n = static_cast<int64_t>(src.size()) / bb * be;
  ASSERT_EQ(ref_bytes.size(), static_cast<size_t>(n) * 4);
  std::vector<float> ref(static_cast<size_t>(n));
  std::memcpy(ref.data(), ref_bytes.data(), ref_bytes.size());

  std::vector<float> got(static_cast<size_t>(n), std::nanf(""));
  dequantize(c.type, src.data(), n, got.data());

  int exact = 0;
  for (int64_t b = 0; b < n / be; ++b) {
    float block_max = 0;
    for (int64_t j = 0; j < be; ++j) block_max = std::max(block_max, std::fabs(ref[b * be + j]));
    for (int64_t j = 0; j < be; ++j) {
      const int64_t i = b * be + j;
      ASSERT_NEAR(got[i], ref[i], 1e-6f * block_max) << dtype_name(c.type) << " element " << i;
      exact += got[i] == ref[i];
    }
  }
  // Fused rounding may move a few values by an ulp; most must be bit-identical.
  EXPECT_GT(exact, n * 9 / 10) << dtype_name(c.type);
}

INSTANTIATE_TEST_SUITE_P(AllBlockTypes, DequantMatchesGgufPy,
                         ::testing::Values(Case{DType::Q4_0, "q4_0"}, Case{DType::Q4_1, "q4_1"},
                                           Case{DType::Q5_0, "q5_0"}, Case{DType::Q5_1, "q5_1"},
                                           Case{DType::Q8_0, "q8_0"}, Case{DType::Q2_K, "q2_k"},
                                           Case{DType::Q3_K, "q3_k"}, Case{DType::Q4_K, "q4_k"},
                                           Case{DType::Q5_K, "q5_k"}, Case{DType::Q6_K, "q6_k"}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return std::string(info.param.file);
                         });

// A hand-made Q4_0 block: d = 0.5 (f16 0x3800), nibbles 0..15 low and 15..0 high.
TEST(Dequant, Q4_0HandComputedBlock) {
  std::vector<uint8_t> b(18);
  b[0] = 0x00;
  b[1] = 0x38;
  for (int j = 0; j < 16; ++j) b[2 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  float y[32];
  dequantize(DType::Q4_0, reinterpret_cast<const std::byte*>(b.data()), 32, y);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], (j - 8) * 0.5f) << j;
    EXPECT_EQ(y[j + 16], (15 - j - 8) * 0.5f) << j;
  }
}

// Q5_1 with d = 1, m = -16 (f16 0xcc00): bit j of qh adds 16 to element j.
TEST(Dequant, Q5_1HighBitsComeFromQh) {
  std::vector<uint8_t> b(24, 0);
  b[1] = 0x3c;                      // d = 1.0
  b[3] = 0xcc;                      // m = -16.0
  const uint32_t qh = 0x80000001u;  // elements 0 and 31
  std::memcpy(&b[4], &qh, 4);
  for (int j = 0; j < 16; ++j) b[8 + j] = 0x21;  // low nibble 1, high nibble 2
  float y[32];
  dequantize(DType::Q5_1, reinterpret_cast<const std::byte*>(b.data()), 32, y);
  EXPECT_EQ(y[0], 17.0f - 16.0f);
  EXPECT_EQ(y[1], 1.0f - 16.0f);
  EXPECT_EQ(y[16], 2.0f - 16.0f);
  EXPECT_EQ(y[31], 18.0f - 16.0f);
}

TEST(Dequant, RejectsPartialBlocksAndPlainTypes) {
  std::vector<std::byte> b(64);
  float y[64];
  EXPECT_THROW(dequantize(DType::Q8_0, b.data(), 31, y), BadInput);
  EXPECT_THROW(dequantize(DType::F32, b.data(), 4, y), Unsupported);
}

// to_f32 on a RawTensor reaches the block decoders and checks the byte count first.
TEST(Dequant, ToF32OfQuantizedTensorChecksSize) {
  std::vector<uint8_t> b(34, 0);
  b[1] = 0x40;  // d = 2.0
  for (int j = 0; j < 32; ++j) b[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(j - 16));
  RawTensor t{"w", DType::Q8_0, {1, 32}, reinterpret_cast<const std::byte*>(b.data()), 34};
  const std::vector<float> y = to_f32(t);
  ASSERT_EQ(y.size(), 32u);
  EXPECT_EQ(y[0], -32.0f);
  EXPECT_EQ(y[31], 30.0f);
  t.nbytes = 33;
  EXPECT_THROW(to_f32(t), BadInput);
}

}  // namespace
}  // namespace kvscope::io
