#include <gtest/gtest.h>

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

}  // namespace
}  // namespace kvscope::analysis
