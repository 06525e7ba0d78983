#include <gtest/gtest.h>

#include "analysis_fixture.hpp"
#include "kvscope/analysis/token_importance.hpp"
#include "kvscope/error.hpp"

namespace kvscope::analysis {
namespace {

using testing::expect_all_close;
using testing::expected;
using testing::synthetic_capture;

TEST(AnalysisTokenImportance, MagnitudesAverageHeadNormsOverLayersAndKvHeads) {
  const auto m = token_magnitudes(synthetic_capture());
  const auto& want = expected()["tokens"];
  expect_all_close(m.key, want["key_magnitude"], "key magnitude");
  expect_all_close(m.value, want["value_magnitude"], "value magnitude");
}

TEST(AnalysisTokenImportance, EveryMeasureMatchesNumpy) {
  const auto cap = synthetic_capture();
  const auto& want = expected()["tokens"];
  ImportanceOptions o;
  o.measure = ImportanceMeasure::KeyNorm;
  expect_all_close(token_importance(cap, o), want["key_magnitude"], "key norm");
  o.measure = ImportanceMeasure::ValueNorm;
  expect_all_close(token_importance(cap, o), want["value_magnitude"], "value norm");
  o.measure = ImportanceMeasure::KeyValueNorm;
  const auto kv = token_importance(cap, o);
  EXPECT_NEAR(kv[4],
              want["key_magnitude"][4].get<double>() + want["value_magnitude"][4].get<double>(),
              1e-9);
  o.measure = ImportanceMeasure::AttentionReceived;
  const auto received = token_importance(cap, o);
  expect_all_close(received, want["attention_received"], "attention received");
  o.per_visible_query = true;
  expect_all_close(token_importance(cap, o), want["attention_received_per_visible_query"],
                   "per visible query");
  // Every query row sums to 1: L * H * S attention units are handed out in total.
  double total = 0;
  for (double r : received) total += r;
  EXPECT_NEAR(total, 2 * 4 * 12, 1e-4);
}

TEST(AnalysisTokenImportance, AttentionReceivedNeedsPatterns) {
  ImportanceOptions o;
  o.measure = ImportanceMeasure::AttentionReceived;
  EXPECT_THROW(token_importance(synthetic_capture(false), o), BadInput);
}

TEST(AnalysisTokenImportance, RankingMatchesNumpyArgsort) {
  const auto cap = synthetic_capture();
  const auto scores = token_importance(cap);  // key + value norm
  const auto r = rank_tokens(scores, cap.token_strings, 3);
  const auto& want = expected()["tokens"];
  ASSERT_EQ(r.lowest.size(), 3u);
  ASSERT_EQ(r.highest.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(r.lowest[i].index, want["lowest3"][i].get<int>());
    EXPECT_EQ(r.highest[i].index, want["highest3"][i].get<int>());
    EXPECT_EQ(r.lowest[i].text, cap.token_strings[static_cast<size_t>(r.lowest[i].index)]);
    EXPECT_DOUBLE_EQ(r.highest[i].score, scores[static_cast<size_t>(r.highest[i].index)]);
  }
}

TEST(AnalysisTokenImportance, RankingBreaksTiesByPositionAndSkipsNan) {
  const std::vector<double> s = {2.0, 1.0, std::nan(""), 1.0, 3.0};
  const auto r = rank_tokens(s, {}, 10);
  ASSERT_EQ(r.lowest.size(), 4u);
  EXPECT_EQ(r.lowest[0].index, 1);
  EXPECT_EQ(r.lowest[1].index, 3);
  EXPECT_EQ(r.highest[0].index, 4);
  EXPECT_EQ(r.highest[2].index, 1);
  EXPECT_EQ(r.highest[3].index, 3);
  EXPECT_THROW(rank_tokens(s, {"a"}, 2), BadInput);
}

}  // namespace
}  // namespace kvscope::analysis
