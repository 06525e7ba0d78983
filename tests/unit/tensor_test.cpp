#include "kvscope/tensor.hpp"

#include <gtest/gtest.h>

#include "kvscope/error.hpp"
#include "kvscope/io/raw_tensor.hpp"

namespace kvscope {
namespace {

TEST(Tensor, ZeroFilledWithShape) {
  Tensor t({2, 3, 4});
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.shape_string(), "[2, 3, 4]");
  t.at(1, 2, 3) = 5.0f;
  EXPECT_EQ(t.data[23], 5.0f);
}

TEST(Tensor, ShapeNumelRejectsOverflowAndNegative) {
  EXPECT_THROW(shape_numel({1LL << 40, 1LL << 40}), BadInput);
  EXPECT_THROW(shape_numel({3, -1}), BadInput);
  EXPECT_EQ(shape_numel({}), 1);
}

TEST(HalfFloats, KnownBitPatterns) {
  EXPECT_EQ(io::f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(io::f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(io::f16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(io::f16_to_f32(0x0001), 5.9604644775390625e-08f);  // smallest subnormal
  EXPECT_EQ(io::bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(io::f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(io::f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(io::f32_to_f16(1e6f), 0x7c00);
  EXPECT_EQ(io::f32_to_bf16(1.0f), 0x3f80);
}

TEST(HalfFloats, RoundTripEveryF16) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;  // NaN payloads
    EXPECT_EQ(io::f32_to_f16(io::f16_to_f32(static_cast<uint16_t>(h))), h) << std::hex << h;
  }
}

}  // namespace
}  // namespace kvscope
