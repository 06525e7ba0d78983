#include <gtest/gtest.h>

#include <cmath>

#include "analysis_fixture.hpp"
#include "kvscope/analysis/head_specialization.hpp"
#include "kvscope/error.hpp"

namespace kvscope::analysis {
namespace {

using testing::expect_all_close;
using testing::expected;
using testing::flatten;
using testing::synthetic_capture;

TEST(AnalysisHeadSpecialization, MatchesNumpyWithAttention) {
  const auto& want = expected()["heads"];
  const auto r = head_specialization(synthetic_capture(), want["layer"].get<int>());
  EXPECT_EQ(r.kv_head, want["kv_head"].get<std::vector<int>>());
  ASSERT_TRUE(r.has_attention);
  ASSERT_EQ(r.key_norms.shape, (std::vector<int64_t>{4, 12}));
  expect_all_close(r.key_norms.data, flatten(want["key_norms"]), "key norms");
  expect_all_close(r.value_norms.data, flatten(want["value_norms"]), "value norms");
  expect_all_close(r.entropy, want["entropy"], "entropy");
  expect_all_close(r.mean_distance, want["mean_distance"], "mean distance");
  expect_all_close(r.sink_share, want["sink_share"], "sink share");
  expect_all_close(r.similarity.data, flatten(want["similarity"]), "similarity");
}

TEST(AnalysisHeadSpecialization, WithoutAttentionComparesMeanKeys) {
  const auto& want = expected()["heads"];
  const auto r = head_specialization(synthetic_capture(false), want["layer"].get<int>());
  EXPECT_FALSE(r.has_attention);
  EXPECT_TRUE(r.entropy.empty());
  expect_all_close(r.similarity.data, flatten(want["similarity_without_attention"]), "similarity");
  // Heads 0 and 1 share kv head 0, so their mean keys are the same vector.
  EXPECT_NEAR(r.similarity.at(0, 1), 1.0, 1e-6);
}

TEST(AnalysisHeadSpecialization, UniformRowHasEntropyLogN) {
  const std::vector<float> row(5, 0.2f);
  EXPECT_NEAR(attention_entropy(row.data(), 5), std::log(5.0), 1e-6);
  const std::vector<float> one_hot = {0.0f, 1.0f, 0.0f};
  EXPECT_DOUBLE_EQ(attention_entropy(one_hot.data(), 3), 0.0);
}

TEST(AnalysisHeadSpecialization, SinkHeadHasFullSinkShareAndDistanceOfTheMeanPosition) {
  auto cap = synthetic_capture();
  for (auto& l : cap.layers) {
    std::fill(l.pattern.data.begin(), l.pattern.data.end(), 0.0f);
    for (int h = 0; h < 4; ++h)
      for (int i = 0; i < 12; ++i) l.pattern.at(h, i, 0) = 1.0f;
    capture::set_exact_attention(l, l.pattern);  // the summary of the changed maps
  }
  const auto r = head_specialization(cap, 0);
  EXPECT_DOUBLE_EQ(r.sink_share[2], 1.0);
  EXPECT_DOUBLE_EQ(r.entropy[2], 0.0);
  EXPECT_DOUBLE_EQ(r.mean_distance[2], 5.5);  // mean of 0..11
  EXPECT_NEAR(r.similarity.at(1, 3), 1.0, 1e-6);
}

TEST(AnalysisHeadSpecialization, RejectsALayerOutOfRange) {
  EXPECT_THROW(head_specialization(synthetic_capture(), -1), BadInput);
}

}  // namespace
}  // namespace kvscope::analysis
