#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "analysis_fixture.hpp"
#include "kvscope/analysis/quantization.hpp"
#include "kvscope/error.hpp"

namespace kvscope::analysis {
namespace {

using testing::expect_all_close;
using testing::expect_close;
using testing::expected;
using testing::synthetic_capture;

TEST(AnalysisQuantization, ErrorsMatchNumpyForEveryGroupingAndBitWidth) {
  const auto cap = synthetic_capture();
  const auto curves = quantization_errors(cap);
  const auto& want = expected()["quantization"];
  ASSERT_EQ(curves.size(), want.size());
  for (size_t i = 0; i < curves.size(); ++i) {
    const auto& w = want[i];
    EXPECT_EQ(grouping_name(curves[i].grouping), w["grouping"].get<std::string>());
    EXPECT_EQ(curves[i].bits, w["bits"].get<int>());
    const std::string what = std::string(grouping_name(curves[i].grouping)) + " " +
                             std::to_string(curves[i].bits) + " bits";
    for (size_t l = 0; l < 2; ++l) {
      expect_close(curves[i].key[l].relative_mse, w["key"][l]["relative_mse"], what + " key rmse");
      expect_close(curves[i].key[l].max_abs_error, w["key"][l]["max_abs_error"], what + " key max");
      expect_close(curves[i].value[l].relative_mse, w["value"][l]["relative_mse"],
                   what + " value rmse");
      expect_close(curves[i].value[l].max_abs_error, w["value"][l]["max_abs_error"],
                   what + " value max");
    }
  }
}

TEST(AnalysisQuantization, FinerGroupingsAndMoreBitsNeverLoseAccuracyHere) {
  const auto curves = quantization_errors(synthetic_capture());
  // Order: grouping outer (tensor, token, channel), bits inner (8, 4, 3, 2).
  for (size_t g = 0; g < 3; ++g)
    for (size_t b = 1; b < 4; ++b)
      EXPECT_LT(curves[g * 4 + b - 1].key[0].relative_mse, curves[g * 4 + b].key[0].relative_mse);
  EXPECT_LT(curves[1 * 4 + 3].key[0].relative_mse, curves[0 * 4 + 3].key[0].relative_mse);
}

TEST(AnalysisQuantization, QuantizeDequantizeMatchesNumpyElementwise) {
  const auto cap = synthetic_capture();
  const Tensor q = quantize_dequantize(cap.layers[0].k, 3, QuantGrouping::PerChannel);
  expect_all_close(q.data, expected()["quantized_key_l0_3bit_per_channel"], "qdq", 1e-7, 1e-7);
  const auto e = quantization_error(cap.layers[0].k, 3, QuantGrouping::PerChannel);
  double worst = 0;
  for (size_t i = 0; i < q.data.size(); ++i)
    worst = std::max(worst, std::fabs(static_cast<double>(q.data[i]) - cap.layers[0].k.data[i]));
  EXPECT_NEAR(e.max_abs_error, worst, 1e-6);
}

TEST(AnalysisQuantization, FourLevelsAtTwoBitsAreExact) {
  std::vector<float> x = {0.0f, 1.0f, 2.0f, 3.0f};
  quantize_dequantize(x, 2);
  EXPECT_EQ(x, (std::vector<float>{0.0f, 1.0f, 2.0f, 3.0f}));
}

TEST(AnalysisQuantization, OneBitRoundsToTheNearerEnd) {
  std::vector<float> x = {0.0f, 1.0f, 2.0f, 3.0f};  // codes of (x - 0) / 3: 0, 0.33, 0.67, 1
  quantize_dequantize(x, 1);
  EXPECT_EQ(x, (std::vector<float>{0.0f, 0.0f, 3.0f, 3.0f}));
  Tensor t({1, 1, 4});
  t.data = {0.0f, 1.0f, 2.0f, 3.0f};
  const auto e = quantization_error(t, 1, QuantGrouping::PerTensor);
  EXPECT_NEAR(e.relative_mse, 2.0 / 14.0, 1e-12);
  EXPECT_NEAR(e.max_abs_error, 1.0, 1e-12);
}

TEST(AnalysisQuantization, ConstantGroupsAreExactAndPerTokenIsolatesRows) {
  Tensor t({1, 2, 3});
  t.data = {5, 5, 5, 1, 2, 4};
  const Tensor q = quantize_dequantize(t, 1, QuantGrouping::PerToken);
  EXPECT_EQ(q.data, (std::vector<float>{5, 5, 5, 1, 1, 4}));
  const Tensor c = quantize_dequantize(t, 1, QuantGrouping::PerChannel);
  EXPECT_EQ(c.data, (std::vector<float>{5, 5, 5, 1, 2, 4}));  // each channel has 2 values
}

TEST(AnalysisQuantization, RejectsBadBitWidthsAndRanks) {
  std::vector<float> x = {1.0f};
  EXPECT_THROW(quantize_dequantize(x, 0), BadInput);
  EXPECT_THROW(quantize_dequantize(x, 17), BadInput);
  EXPECT_THROW(quantize_dequantize(Tensor({4}), 4, QuantGrouping::PerTensor), BadInput);
  const int bits[] = {4, 40};
  EXPECT_THROW(quantization_errors(synthetic_capture(), bits), BadInput);
}

// The scheme of quantization.hpp written the plain way: every group's (lo, hi), then each entry
// quantized and compared in double.
QuantError plain_error(const Tensor& x, int bits, QuantGrouping g) {
  const int64_t A = x.dim(0), S = x.dim(1), D = x.dim(2);
  const double levels = (1 << bits) - 1;
  auto group_of = [&](int64_t a, int64_t i, int64_t c) -> int64_t {
    switch (g) {
      case QuantGrouping::PerTensor:
        return 0;
      case QuantGrouping::PerToken:
        return a * S + i;
      case QuantGrouping::PerChannel:
        return a * D + c;
    }
    return 0;
  };
  std::vector<double> lo(static_cast<size_t>(A * S * D), 1e300), hi(lo.size(), -1e300);
  for (int64_t a = 0; a < A; ++a)
    for (int64_t i = 0; i < S; ++i)
      for (int64_t c = 0; c < D; ++c) {
        const auto k = static_cast<size_t>(group_of(a, i, c));
        lo[k] = std::min(lo[k], static_cast<double>(x.at(a, i, c)));
        hi[k] = std::max(hi[k], static_cast<double>(x.at(a, i, c)));
      }
  double sq = 0, norm2 = 0;
  QuantError e;
  for (int64_t a = 0; a < A; ++a)
    for (int64_t i = 0; i < S; ++i)
      for (int64_t c = 0; c < D; ++c) {
        const auto k = static_cast<size_t>(group_of(a, i, c));
        const double v = x.at(a, i, c), step = (hi[k] - lo[k]) / levels;
        const double q =
            step > 0 ? std::clamp(std::nearbyint((v - lo[k]) / step), 0.0, levels) : 0.0;
        const double err = v - (lo[k] + q * step);
        sq += err * err;
        norm2 += v * v;
        e.max_abs_error = std::max(e.max_abs_error, std::fabs(err));
      }
  e.relative_mse = sq / norm2;
  return e;
}

TEST(AnalysisQuantization, ErrorsMatchThePlainSchemeForAnyHeadDim) {
  // Head dims that are not a multiple of the 8 columns the error loop takes at a time.
  std::mt19937_64 gen(5);
  for (int64_t D : {1, 7, 13, 16, 21}) {
    Tensor x({3, 40, D});
    for (float& v : x.data)
      v = static_cast<float>((static_cast<double>(gen() >> 11) * 0x1.0p-53 - 0.3) * 4.0);
    x.at(1, 7, D - 1) = 25.0f;  // an outlier in the last column
    for (QuantGrouping g : kAllGroupings)
      for (int bits : {8, 3, 1}) {
        const QuantError got = quantization_error(x, bits, g);
        const QuantError want = plain_error(x, bits, g);
        const std::string what = "D " + std::to_string(D) + " " + std::string(grouping_name(g)) +
                                 " " + std::to_string(bits) + " bits";
        EXPECT_NEAR(got.relative_mse, want.relative_mse, 1e-12 * want.relative_mse) << what;
        EXPECT_NEAR(got.max_abs_error, want.max_abs_error, 1e-12 * want.max_abs_error) << what;
      }
  }
}

}  // namespace
}  // namespace kvscope::analysis
