// The engine's products on weights in their stored type against the plain computation: every
// matrix dequantized whole by io::dequantize / to_f32 and multiplied in double precision.
// Both the fused kernels (few input rows) and the tiled sgemm path (many rows), for every
// type, row counts that leave remainders, strided inputs and outputs, and accumulation.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "kvscope/io/dequant.hpp"
#include "kvscope/io/raw_tensor.hpp"
#include "kvscope/model/matmul.hpp"

namespace kvscope::model {
namespace {

using io::DType;

// Offsets of the f16 scale fields in one block of each type (see io/quant_blocks.hpp).
std::vector<int> scale_fields(DType t) {
  switch (t) {
    case DType::Q4_0:
    case DType::Q5_0:
    case DType::Q8_0:
      return {0};
    case DType::Q4_1:
    case DType::Q5_1:
    case DType::Q4_K:
    case DType::Q5_K:
      return {0, 2};
    case DType::Q2_K:
      return {80, 82};
    case DType::Q3_K:
      return {108};
    case DType::Q6_K:
      return {208};
    default:
      return {};
  }
}

// Random stored bytes for a [rows, cols] matrix of type t: random quants, and scales drawn
// from sane values plus edge cases (zero, negative, subnormal, large).
std::vector<std::byte> random_matrix(DType t, int64_t rows, int64_t cols, std::mt19937& rng) {
  const int64_t bytes = io::dtype_storage_bytes(t, rows * cols, cols);
  std::vector<std::byte> out(static_cast<size_t>(bytes));
  std::uniform_int_distribution<int> byte(0, 255);
  for (std::byte& b : out) b = static_cast<std::byte>(byte(rng));
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const float edges[] = {0.0f, -0.75f, 6.1e-5f, 3.0e-6f /* subnormal in f16 */, 30.0f};
  auto put = [&](int64_t at, float v) {
    const uint16_t h = t == DType::BF16 ? io::f32_to_bf16(v) : io::f32_to_f16(v);
    std::memcpy(&out[static_cast<size_t>(at)], &h, 2);
  };
  if (t == DType::F16 || t == DType::BF16) {
    for (int64_t i = 0; i < rows * cols; ++i) put(2 * i, i % 97 == 0 ? edges[i % 5] : u(rng));
  } else if (t == DType::F32) {
    for (int64_t i = 0; i < rows * cols; ++i) {
      const float v = u(rng);
      std::memcpy(&out[static_cast<size_t>(4 * i)], &v, 4);
    }
  } else {
    const int64_t bb = io::dtype_block_bytes(t), blocks = bytes / bb;
    for (int64_t b = 0; b < blocks; ++b)
      for (int off : scale_fields(t)) put(b * bb + off, b % 7 == 3 ? edges[b % 5] : 0.1f * u(rng));
  }
  return out;
}

std::vector<float> dequantized(DType t, const std::vector<std::byte>& bytes, int64_t rows,
                               int64_t cols) {
  io::RawTensor raw;
  raw.name = "w";
  raw.dtype = t;
  raw.shape = {rows, cols};
  raw.data = bytes.data();
  raw.nbytes = static_cast<int64_t>(bytes.size());
  return io::to_f32(raw);
}

struct Case {
  DType type;
  int64_t cols;
};

class MatmulMatchesPlainDequantization : public ::testing::TestWithParam<Case> {};

TEST_P(MatmulMatchesPlainDequantization, EveryRowCountAndLayout) {
  const auto [type, cols] = GetParam();
  std::mt19937 rng(static_cast<unsigned>(type) * 7919u + static_cast<unsigned>(cols));
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int64_t rows : {1, 3, 37, 130}) {
    std::vector<std::byte> bytes = random_matrix(type, rows, cols, rng);
    const std::vector<float> ref_w = dequantized(type, bytes, rows, cols);
    const Matrix W = Matrix::from_bytes(type, bytes, rows, cols);
    ASSERT_EQ(W.rows(), rows);
    ASSERT_EQ(W.bytes(), static_cast<int64_t>(bytes.size()));

    // Row by row dequantization equals the whole-tensor one.
    std::vector<float> one(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; r += std::max<int64_t>(1, rows / 3)) {
      W.dequantize_rows(r, 1, one.data());
      for (int64_t k = 0; k < cols; ++k)
        ASSERT_FLOAT_EQ(one[k], ref_w[r * cols + k]) << r << "," << k;
    }

    for (int n : {1, 2, 3, 5, 7, 8, 9, 20}) {
      for (bool accumulate : {false, true}) {
        const int64_t ldx = cols + 3, ldy = rows + 5;  // strided rows on both sides
        std::vector<float> x(static_cast<size_t>(n * ldx)), y(static_cast<size_t>(n * ldy));
        for (float& v : x) v = u(rng);
        for (float& v : y) v = u(rng);
        std::vector<float> y0 = y;
        matmul(y.data(), ldy, x.data(), ldx, n, W, accumulate);
        for (int i = 0; i < n; ++i) {
          for (int64_t j = 0; j < ldy; ++j) {
            const size_t at = static_cast<size_t>(i * ldy + j);
            if (j >= rows) {  // padding between output rows is never written
              ASSERT_EQ(y[at], y0[at]);
              continue;
            }
            double want = accumulate ? y0[at] : 0.0, mag = std::fabs(want);
            for (int64_t k = 0; k < cols; ++k) {
              const double term = static_cast<double>(x[static_cast<size_t>(i * ldx + k)]) *
                                  ref_w[static_cast<size_t>(j * cols + k)];
              want += term;
              mag += std::fabs(term);
            }
            ASSERT_NEAR(y[at], want, 2e-6 * mag + 1e-6)
                << io::dtype_name(type) << " rows " << rows << " n " << n << " i " << i << " j "
                << j << (accumulate ? " accumulate" : "");
          }
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Types, MatmulMatchesPlainDequantization,
    ::testing::Values(Case{DType::F32, 40}, Case{DType::F16, 96}, Case{DType::F16, 50},
                      Case{DType::BF16, 64}, Case{DType::BF16, 71}, Case{DType::Q4_0, 64},
                      Case{DType::Q4_1, 96}, Case{DType::Q5_0, 32}, Case{DType::Q5_1, 64},
                      Case{DType::Q8_0, 160}, Case{DType::Q2_K, 256}, Case{DType::Q3_K, 512},
                      Case{DType::Q4_K, 256}, Case{DType::Q5_K, 512}, Case{DType::Q6_K, 256}),
    [](const auto& info) {
      return std::string(io::dtype_name(info.param.type)) + "_" + std::to_string(info.param.cols);
    });

// A matrix larger than one dequantization panel goes through several tiles.
TEST(Matmul, TiledProductCrossesPanelBoundaries) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const int64_t cols = 512, rows = kPanelFloats / cols + 77;  // two tiles, the second partial
  const std::vector<std::byte> bytes = random_matrix(DType::Q4_0, rows, cols, rng);
  const std::vector<float> ref_w = dequantized(DType::Q4_0, bytes, rows, cols);
  const Matrix W = Matrix::from_bytes(DType::Q4_0, bytes, rows, cols);
  const int n = kFusedMaxRows + 1;
  std::vector<float> x(static_cast<size_t>(n * cols)), y(static_cast<size_t>(n * rows));
  for (float& v : x) v = u(rng);
  matmul(y.data(), rows, x.data(), cols, n, W, false);
  for (int i = 0; i < n; ++i)
    for (int64_t j = 0; j < rows; j += 13) {
      double want = 0.0, mag = 0.0;
      for (int64_t k = 0; k < cols; ++k) {
        const double term = static_cast<double>(x[static_cast<size_t>(i * cols + k)]) *
                            ref_w[static_cast<size_t>(j * cols + k)];
        want += term;
        mag += std::fabs(term);
      }
      ASSERT_NEAR(y[static_cast<size_t>(i * rows + j)], want, 2e-6 * mag + 1e-6) << i << "," << j;
    }
}

// Parts of different types writing their own columns of one output (q, k, v of a Q4_K_M
// file): the same numbers as one product per part, for fused and tiled row counts.
TEST(Matmul, PartsOfMixedTypesEqualOneProductEach) {
  std::mt19937 rng(21);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const int64_t cols = 256;
  const std::pair<DType, int64_t> spec[] = {{DType::Q4_K, 70}, {DType::Q6_K, 33}, {DType::Q8_0, 5}};
  std::vector<Matrix> ws;
  int64_t width = 0;
  for (const auto& [t, rows] : spec) {
    ws.push_back(Matrix::from_bytes(t, random_matrix(t, rows, cols, rng), rows, cols));
    width += rows;
  }
  for (int n : {1, 3, 12}) {
    std::vector<float> x(static_cast<size_t>(n * cols));
    for (float& v : x) v = u(rng);
    std::vector<float> one(static_cast<size_t>(n * width), 0.5f), each = one;
    std::vector<MatmulTarget> targets;
    int64_t off = 0;
    for (size_t i = 0; i < ws.size(); ++i) {
      const bool acc = i == 1;  // one part accumulates onto what is there
      targets.push_back({&ws[i], one.data() + off, width, acc});
      matmul(each.data() + off, width, x.data(), cols, n, ws[i], acc);
      off += ws[i].rows();
    }
    matmul_parts(targets, x.data(), cols, n);
    for (size_t i = 0; i < one.size(); ++i) ASSERT_EQ(one[i], each[i]) << "n " << n << " at " << i;
  }
}

// GPT-2's Conv1D layout: W stored [in, out]; y = x W.
TEST(MatmulInMajor, MatchesPlainProductForEveryFloatType) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (DType type : {DType::F32, DType::F16, DType::BF16}) {
    const int64_t in = 48, out = 72;
    std::vector<std::byte> bytes = random_matrix(type, in, out, rng);
    const std::vector<float> ref_w = dequantized(type, bytes, in, out);
    const Matrix W = Matrix::from_bytes(type, bytes, in, out);
    for (int n : {1, 4, 17}) {
      for (bool accumulate : {false, true}) {
        const int64_t ldx = in + 2, ldy = out + 1;
        std::vector<float> x(static_cast<size_t>(n * ldx)), y(static_cast<size_t>(n * ldy));
        for (float& v : x) v = u(rng);
        for (float& v : y) v = u(rng);
        const std::vector<float> y0 = y;
        matmul_in_major(y.data(), ldy, x.data(), ldx, n, W, accumulate);
        for (int i = 0; i < n; ++i)
          for (int64_t j = 0; j < out; ++j) {
            double want = accumulate ? y0[static_cast<size_t>(i * ldy + j)] : 0.0, mag = 0.0;
            for (int64_t k = 0; k < in; ++k) {
              const double term = static_cast<double>(x[static_cast<size_t>(i * ldx + k)]) *
                                  ref_w[static_cast<size_t>(k * out + j)];
              want += term;
              mag += std::fabs(term);
            }
            ASSERT_NEAR(y[static_cast<size_t>(i * ldy + j)], want, 2e-6 * mag + 1e-6)
                << io::dtype_name(type) << " n " << n << " i " << i << " j " << j;
          }
      }
    }
  }
}

TEST(Matmul, KernelDescriptionNamesTheBlasCore) {
  const std::string k = kernel_description();
  EXPECT_NE(k.find("OpenBLAS"), std::string::npos) << k;
}

}  // namespace
}  // namespace kvscope::model
