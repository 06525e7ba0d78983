#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "analysis_fixture.hpp"
#include "kvscope/analysis/histogram.hpp"
#include "kvscope/error.hpp"

namespace kvscope::analysis {
namespace {

using testing::expect_all_close;
using testing::expected;
using testing::synthetic_capture;

void expect_part(const PartDistribution& got, const nlohmann::json& want, const std::string& what) {
  expect_all_close(got.overall.edges, want["edges"], what + " edges", 1e-12, 1e-12);
  EXPECT_EQ(got.overall.counts, want["counts"].get<std::vector<int64_t>>()) << what;
  ASSERT_EQ(got.per_layer.size(), 2u);
  for (size_t l = 0; l < 2; ++l) {
    EXPECT_EQ(got.per_layer[l].edges, got.overall.edges) << what;
    EXPECT_EQ(got.per_layer[l].counts, want["per_layer_counts"][l].get<std::vector<int64_t>>())
        << what << " layer " << l;
    expect_all_close(got.per_layer_percentiles[l], want["per_layer_percentiles"][l],
                     what + " per-layer percentiles", 1e-9, 1e-9);
  }
  expect_all_close(got.percentiles, want["percentiles"], what + " percentiles", 1e-9, 1e-9);
}

TEST(AnalysisHistogram, ValueDistributionMatchesNumpy) {
  const auto cap = synthetic_capture();
  const auto& want = expected()["distribution"];
  const auto d = value_distribution(cap, want["bins"].get<int>());
  EXPECT_EQ(d.q, want["q"].get<std::vector<double>>());
  expect_part(d.key, want["key"], "key");
  expect_part(d.value, want["value"], "value");
  EXPECT_EQ(d.key.overall.total(), 2 * 2 * 12 * 8);
}

TEST(AnalysisHistogram, EdgeValuesLandLikeNumpy) {
  const std::vector<float> x = {0.0f, 1.0f, 2.0f, 3.0f, 4.0f};
  const auto h = histogram(x, 4, 0.0, 4.0);  // the maximum belongs to the last bin
  EXPECT_EQ(h.counts, (std::vector<int64_t>{1, 1, 1, 2}));
  const auto g = histogram(x, 2, 1.0, 3.0);
  EXPECT_EQ(g.counts, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(g.outside, 2);
}

TEST(AnalysisHistogram, ConstantDataWidensAndNonFiniteIsCountedApart) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> x = {2.0f, 2.0f, nan, std::numeric_limits<float>::infinity()};
  const auto h = histogram(x, 2);
  EXPECT_DOUBLE_EQ(h.edges.front(), 1.5);
  EXPECT_DOUBLE_EQ(h.edges.back(), 2.5);
  EXPECT_EQ(h.counts, (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(h.non_finite, 2);
}

TEST(AnalysisHistogram, RejectsBadBinsAndRanges) {
  const std::vector<float> x = {1.0f};
  EXPECT_THROW(histogram(x, 0), BadInput);
  EXPECT_THROW(histogram(x, 3, 1.0, 1.0), BadInput);
  EXPECT_THROW(histogram(x, 3, 0.0, std::numeric_limits<double>::infinity()), BadInput);
}

TEST(AnalysisHistogram, PercentilesInterpolateBetweenOrderStatistics) {
  const std::vector<float> x = {4.0f, 1.0f, 3.0f, 2.0f};
  const std::vector<double> q = {50.0, 0.0, 100.0, 10.0};
  const auto p = percentiles(x, q);
  EXPECT_DOUBLE_EQ(p[0], 2.5);
  EXPECT_DOUBLE_EQ(p[1], 1.0);
  EXPECT_DOUBLE_EQ(p[2], 4.0);
  EXPECT_NEAR(p[3], 1.3, 1e-12);
  const std::vector<double> bad = {101.0};
  EXPECT_THROW(percentiles(x, bad), BadInput);
  EXPECT_TRUE(std::isnan(percentiles(std::span<const float>(), q)[0]));
}

}  // namespace
}  // namespace kvscope::analysis

namespace kvscope::analysis {
namespace {

// Reference: sort, then numpy's linear interpolation.
double sorted_percentile(std::vector<float> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = (v.size() - 1) * q / 100.0;
  const size_t i = static_cast<size_t>(pos);
  const double t = pos - i;
  return i + 1 < v.size() ? v[i] + (static_cast<double>(v[i + 1]) - v[i]) * t : v[i];
}

TEST(AnalysisHistogram, PercentilesAgreeWithSortingWhenOutliersCrowdTheBuckets) {
  // A few huge outliers put nearly all values into one bucket of the selection histogram.
  std::vector<float> x;
  uint32_t s = 7;
  for (int i = 0; i < 20000; ++i) {
    s = s * 1664525u + 1013904223u;
    x.push_back(static_cast<float>((s >> 8) % 1000) * 1e-3f - 0.5f);
  }
  x[17] = 1e30f;
  x[4242] = -3e29f;
  x.push_back(std::numeric_limits<float>::quiet_NaN());
  const std::vector<double> q = {0.0, 0.1, 1.0, 37.5, 50.0, 99.0, 99.99, 100.0};
  const auto got = percentiles(x, q);
  x.pop_back();
  for (size_t i = 0; i < q.size(); ++i)
    EXPECT_NEAR(got[i], sorted_percentile(x, q[i]), 1e-9 * std::fabs(got[i]) + 1e-9) << q[i];
}

TEST(AnalysisHistogram, PercentilesOfConstantDataAreThatConstant) {
  const std::vector<float> x(10, -1.25f);
  const auto p = percentiles(x, kDefaultPercentiles);
  for (double v : p) EXPECT_DOUBLE_EQ(v, -1.25);
}

// Many values (several of the chunks the binning loops work in, and a partial one) with NaN,
// infinities, values outside the range and values exactly on bin edges, against numpy's
// rules written the plain way: searchsorted on the edges, and sorting for percentiles.
TEST(AnalysisHistogram, LongInputsWithEdgesAndNonFiniteValuesMatchThePlainRules) {
  std::mt19937_64 gen(17);
  const int bins = 37;
  const double lo = -2.0, hi = 3.0;
  std::vector<float> x;
  for (int i = 0; i < 5000; ++i) {
    const double u = static_cast<double>(gen() >> 11) * 0x1.0p-53;
    if (i % 97 == 0)
      x.push_back(std::numeric_limits<float>::quiet_NaN());
    else if (i % 89 == 0)
      x.push_back((i % 2 ? 1 : -1) * std::numeric_limits<float>::infinity());
    else if (i % 13 == 0)  // on an edge, as far as float allows
      x.push_back(static_cast<float>(lo + (hi - lo) * static_cast<double>(i % (bins + 1)) / bins));
    else
      x.push_back(static_cast<float>(-3.0 + 7.0 * u));  // some outside [lo, hi]
  }
  const Histogram h = histogram(x, bins, lo, hi);
  std::vector<int64_t> counts(bins, 0);
  int64_t outside = 0, non_finite = 0;
  std::vector<float> finite;
  for (float f : x) {
    if (!std::isfinite(f)) {
      ++non_finite;
      continue;
    }
    finite.push_back(f);
    const double v = f;
    if (v < lo || v > hi) {
      ++outside;
      continue;
    }
    auto b = std::upper_bound(h.edges.begin(), h.edges.end(), v) - h.edges.begin() - 1;
    if (b == bins) b = bins - 1;  // v == hi
    ++counts[static_cast<size_t>(b)];
  }
  EXPECT_EQ(h.counts, counts);
  EXPECT_EQ(h.outside, outside);
  EXPECT_EQ(h.non_finite, non_finite);

  const std::vector<double> q = {0, 0.1, 1, 25, 50, 99.9, 100};
  const std::vector<double> got = percentiles(x, q);
  std::sort(finite.begin(), finite.end());
  for (size_t w = 0; w < q.size(); ++w) {
    const double pos = static_cast<double>(finite.size() - 1) * q[w] / 100.0;
    const auto r = static_cast<size_t>(pos);
    const double a = finite[r], b = finite[std::min(r + 1, finite.size() - 1)];
    EXPECT_NEAR(got[w], a + (b - a) * (pos - static_cast<double>(r)), 1e-12) << q[w];
  }
}

}  // namespace
}  // namespace kvscope::analysis
