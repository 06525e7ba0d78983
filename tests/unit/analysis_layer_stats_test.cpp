#include <gtest/gtest.h>

#include <cmath>

#include "analysis_fixture.hpp"
#include "kvscope/analysis/capture_check.hpp"
#include "kvscope/analysis/layer_stats.hpp"
#include "kvscope/error.hpp"

namespace kvscope::analysis {
namespace {

using testing::expect_all_close;
using testing::expect_close;
using testing::expected;
using testing::flatten;
using testing::synthetic_capture;

TEST(AnalysisFixture, RebuiltCaptureMatchesTheOracleBitForBit) {
  const auto cap = synthetic_capture();
  const auto& sums = expected()["capture_checksums"];
  double k = 0, kp = 0, v = 0, p = 0;
  for (const auto& l : cap.layers) {
    for (float x : l.k.data) k += x;
    for (float x : l.k_pre_rope.data) kp += x;
    for (float x : l.v.data) v += x;
    for (float x : l.pattern.data) p += x;
  }
  expect_close(k, sums["k_sum"], "k_sum", 1e-12);
  expect_close(kp, sums["k_pre_rope_sum"], "k_pre_rope_sum", 1e-12);
  expect_close(v, sums["v_sum"], "v_sum", 1e-12);
  expect_close(p, sums["pattern_sum"], "pattern_sum", 1e-12);
  for (int c = 0; c < 8; ++c) {
    EXPECT_EQ(cap.layers[0].k.at(1, 5, c), sums["k_0_1_5"][c].get<double>()) << c;
    EXPECT_EQ(cap.layers[1].v.at(0, 11, c), sums["v_1_0_11"][c].get<double>()) << c;
  }
  for (int j = 0; j < 12; ++j)
    EXPECT_EQ(cap.layers[1].pattern.at(3, 7, j), sums["pattern_1_3_7"][j].get<double>()) << j;
}

void expect_stats(const TensorStats& got, const nlohmann::json& want, const std::string& what) {
  expect_close(got.sparsity, want["sparsity"], what + " sparsity", 0, 1e-12);
  expect_close(got.mean, want["mean"], what + " mean");
  expect_close(got.std, want["std"], what + " std");
  expect_close(got.mean_abs, want["mean_abs"], what + " mean_abs");
  expect_close(got.max_abs, want["max_abs"], what + " max_abs");
  expect_close(got.kurtosis, want["kurtosis"], what + " kurtosis");
  ASSERT_EQ(got.channel_max_abs.shape, (std::vector<int64_t>{2, 8}));
  expect_all_close(got.channel_max_abs.data, flatten(want["channel_max_abs"]),
                   what + " channel_max_abs");
}

TEST(AnalysisLayerStats, MatchesNumpyForKeysValuesAndCorrelation) {
  const auto cap = synthetic_capture();
  const auto stats = layer_stats(cap);
  ASSERT_EQ(stats.size(), 2u);
  for (size_t l = 0; l < 2; ++l) {
    const auto& want = expected()["layer_stats"][l];
    expect_stats(stats[l].key, want["key"], "key l" + std::to_string(l));
    expect_stats(stats[l].value, want["value"], "value l" + std::to_string(l));
    expect_close(stats[l].kv_correlation, want["kv_correlation"], "kv_correlation");
  }
}

TEST(AnalysisLayerStats, PreRopeKeysAndOtherSparsityRulesMatchNumpy) {
  const auto cap = synthetic_capture();
  LayerStatsOptions pre;
  pre.key_part = KvPart::KeyPreRope;
  const auto stats = layer_stats(cap, pre);
  for (size_t l = 0; l < 2; ++l) {
    const auto& want = expected()["layer_stats"][l];
    expect_stats(stats[l].key, want["key_pre_rope"], "key_pre_rope l" + std::to_string(l));
    const auto k_std = tensor_stats(cap.layers[l].k, {0.5, SparsityScale::Std});
    expect_close(k_std.sparsity, want["key_std_rule"], "std rule", 0, 1e-12);
    const auto v_abs = tensor_stats(cap.layers[l].v, {0.2, SparsityScale::Absolute});
    expect_close(v_abs.sparsity, want["value_absolute_rule"], "absolute rule", 0, 1e-12);
  }
}

TEST(AnalysisLayerStats, HandComputedTensor) {
  Tensor x({1, 2, 2});
  x.data = {0.0f, 1.0f, -3.0f, 0.001f};
  const auto st = tensor_stats(x);  // near zero: |x| < 0.01 * 3
  EXPECT_DOUBLE_EQ(st.sparsity, 0.5);
  EXPECT_NEAR(st.mean, -1.999 / 4, 1e-9);
  EXPECT_DOUBLE_EQ(st.max_abs, 3.0);
  EXPECT_FLOAT_EQ(st.channel_max_abs.at(0, 0), 3.0f);
  EXPECT_FLOAT_EQ(st.channel_max_abs.at(0, 1), 1.0f);
}

TEST(AnalysisLayerStats, KurtosisOfTwoPointDistributionIsMinusTwo) {
  Tensor x({1, 4, 1});
  x.data = {1, -1, 1, -1};
  EXPECT_NEAR(tensor_stats(x).kurtosis, -2.0, 1e-12);
  EXPECT_NEAR(tensor_stats(x).std, 1.0, 1e-12);
}

TEST(AnalysisLayerStats, CorrelationOfANegativelyScaledCopyIsMinusOne) {
  Tensor a({1, 1, 4}), b({1, 1, 4});
  a.data = {1, 2, 3, 5};
  b.data = {-2, -4, -6, -10};
  EXPECT_NEAR(pearson_correlation(a, b), -1.0, 1e-12);
  EXPECT_THROW(pearson_correlation(a, Tensor({1, 1, 3})), BadInput);
}

TEST(AnalysisCaptureCheck, RejectsMismatchedShapesWithTheFieldInTheMessage) {
  auto cap = synthetic_capture();
  cap.layers[1].v = Tensor({2, 11, 8});
  try {
    check_capture(cap);
    FAIL() << "no throw";
  } catch (const BadInput& e) {
    EXPECT_NE(std::string(e.what()).find("blocks.1.attn.v"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[2, 11, 8]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(layer_stats(cap), BadInput);
}

TEST(AnalysisCaptureCheck, RejectsInconsistentHeadCountsAndLayers) {
  auto cap = synthetic_capture();
  cap.n_kv_head = 3;
  EXPECT_THROW(check_capture(cap), BadInput);
  cap = synthetic_capture();
  cap.n_layer = 3;
  EXPECT_THROW(check_capture(cap), BadInput);
  cap = synthetic_capture();
  cap.layers[1].attn = {};  // one layer without its attention summary
  EXPECT_THROW(check_capture(cap), BadInput);
  cap = synthetic_capture();
  cap.layers[1].pattern_heads = {1, 0};  // exact maps' heads out of order
  EXPECT_THROW(check_capture(cap), BadInput);
  cap = synthetic_capture();
  cap.token_strings.pop_back();
  EXPECT_THROW(check_capture(cap), BadInput);
  EXPECT_THROW(check_layer_index(synthetic_capture(), 2), BadInput);
  EXPECT_NO_THROW(check_capture(synthetic_capture(false)));
}

TEST(AnalysisCaptureCheck, MapsQueryHeadsToKvHeadsInGroups) {
  const auto cap = synthetic_capture();
  EXPECT_EQ(kv_head_of(cap, 0), 0);
  EXPECT_EQ(kv_head_of(cap, 1), 0);
  EXPECT_EQ(kv_head_of(cap, 2), 1);
  EXPECT_EQ(kv_head_of(cap, 3), 1);
}

}  // namespace
}  // namespace kvscope::analysis
