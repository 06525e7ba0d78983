#include "kvscope/plot/ticks.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "kvscope/error.hpp"

namespace kvscope::plot {
namespace {

void expect_ticks(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-12) << i;
}

// Labels of one axis share their number of decimals, as in printed figures.
TEST(PlotTicks, UnitRangeStepsByTwoTenths) {
  expect_ticks(nice_ticks(0, 1), {0, 0.2, 0.4, 0.6, 0.8, 1});
  EXPECT_EQ(format_ticks(nice_ticks(0, 1)),
            (std::vector<std::string>{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"}));
}

TEST(PlotTicks, SmallRangeStepsByOneThousandth) {
  auto t = nice_ticks(0.0013, 0.0071);
  expect_ticks(t, {0.002, 0.003, 0.004, 0.005, 0.006, 0.007});
  EXPECT_EQ(format_ticks(t),
            (std::vector<std::string>{"0.002", "0.003", "0.004", "0.005", "0.006", "0.007"}));
}

TEST(PlotTicks, OffsetRangeStaysInsideAndUsesTwenties) {
  expect_ticks(nice_ticks(-3, 97), {0, 20, 40, 60, 80});
  expect_ticks(nice_ticks(97, -3), {0, 20, 40, 60, 80});  // either order
}

TEST(PlotTicks, DegenerateRangeIsWidenedAroundTheValue) {
  auto t = nice_ticks(5, 5);
  ASSERT_GE(t.size(), 3u);
  EXPECT_LT(t.front(), 5);
  EXPECT_GT(t.back(), 5);
  EXPECT_NE(std::find_if(t.begin(), t.end(), [](double v) { return std::fabs(v - 5) < 1e-12; }),
            t.end());
  auto z = nice_ticks(0, 0);
  EXPECT_LT(z.front(), 0);
  EXPECT_GT(z.back(), 0);
}

TEST(PlotTicks, MaxTicksBoundsTheCount) {
  for (int m = 2; m <= 12; ++m) {
    auto t = nice_ticks(-1234.5, 98765.4, m);
    EXPECT_LE(static_cast<int>(t.size()), m);
    EXPECT_GE(t.size(), 2u);
  }
}

TEST(PlotTicks, NonFiniteRangeIsBadInput) {
  EXPECT_THROW(nice_ticks(0, INFINITY), BadInput);
  EXPECT_THROW(nice_ticks(NAN, 1), BadInput);
  EXPECT_THROW(log_ticks(0, 10), BadInput);
}

TEST(PlotTickLabels, NoFloatingPointNoise) {
  std::vector<double> t = {0.1, 0.1 + 0.1, 0.1 + 0.1 + 0.1};  // 0.30000000000000004
  EXPECT_EQ(format_ticks(t), (std::vector<std::string>{"0.1", "0.2", "0.3"}));
  EXPECT_EQ(format_number(0.1 + 0.2), "0.3");
}

TEST(PlotTickLabels, NegativesUseTypographicMinusAndNoNegativeZero) {
  std::vector<double> t = {-1, -0.5, -0.0, 0.5};
  EXPECT_EQ(format_ticks(t), (std::vector<std::string>{"\u22121.0", "\u22120.5", "0.0", "0.5"}));
  std::vector<double> whole = {-20, 0, 20};
  EXPECT_EQ(format_ticks(whole), (std::vector<std::string>{"\u221220", "0", "20"}));
}

TEST(PlotTickLabels, LargeValuesGetSiSuffixes) {
  std::vector<double> t = {0, 20000, 40000, 60000};
  EXPECT_EQ(format_ticks(t), (std::vector<std::string>{"0", "20k", "40k", "60k"}));
  std::vector<double> m = {1.5e6, 2e6, 2.5e6};
  EXPECT_EQ(format_ticks(m), (std::vector<std::string>{"1.5M", "2.0M", "2.5M"}));
  std::vector<double> plain = {0, 2500, 5000};
  EXPECT_EQ(format_ticks(plain), (std::vector<std::string>{"0", "2500", "5000"}));
}

TEST(PlotTickLabels, TinyValuesGetPowersOfTen) {
  std::vector<double> t = {0, 1e-4, 2e-4, 3e-4};
  EXPECT_EQ(format_ticks(t), (std::vector<std::string>{"0", "1×10⁻⁴", "2×10⁻⁴", "3×10⁻⁴"}));
  EXPECT_EQ(format_number(12345), "1.23×10⁴");
  EXPECT_EQ(format_number(-0.5), "\u22120.5");
  EXPECT_EQ(format_number(NAN), "nan");
}

TEST(PlotLogTicks, DecadesWithSuperscripts) {
  auto t = log_ticks(1, 5000);
  expect_ticks(t, {1, 10, 100, 1000});
  EXPECT_EQ(format_log_ticks(t), (std::vector<std::string>{"10⁰", "10¹", "10²", "10³"}));
  auto n = log_ticks(1e-3, 1e3);
  EXPECT_EQ(format_log_ticks(n).front(), "10⁻³");
}

TEST(PlotLogTicks, ManyDecadesAreStrided) {
  auto t = log_ticks(1e-12, 1e12, 6);
  EXPECT_LE(t.size(), 6u);
  EXPECT_GE(t.size(), 3u);
}

TEST(PlotLogTicks, NarrowRangeUsesOneTwoFive) {
  auto t = log_ticks(15, 80);
  expect_ticks(t, {20, 50});
  EXPECT_EQ(format_log_ticks(t), (std::vector<std::string>{"20", "50"}));
}

TEST(Thinning, PositionsUseRoundStrides) {
  EXPECT_EQ(thinned_positions(8, 10), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(thinned_positions(8, 4), (std::vector<int>{0, 2, 4, 6}));
  EXPECT_EQ(thinned_positions(20, 4), (std::vector<int>{0, 5, 10, 15}));
  EXPECT_EQ(thinned_positions(512, 8), (std::vector<int>{0, 100, 200, 300, 400, 500}));
  EXPECT_EQ(thinned_positions(3, 1), (std::vector<int>{0}));
}

TEST(Thinning, RoundStridesAreOneTwoFiveTimesPowersOfTen) {
  std::vector<int> seq = {1};
  while (seq.back() < 1000) seq.push_back(next_round_stride(seq.back()));
  EXPECT_EQ(seq, (std::vector<int>{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}));
  EXPECT_EQ(next_round_stride(3), 5);  // a stride between round ones goes to the next
  EXPECT_EQ(next_round_stride(0), 1);
}

}  // namespace
}  // namespace kvscope::plot
