// Value distributions of keys and values (figure kv_value_distribution.png): histograms with a
// fixed bin count over an automatic range, and percentiles.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "kvscope/analysis/capture_check.hpp"
#include "kvscope/capture/capture.hpp"

namespace kvscope::analysis {

// Equal-width bins with numpy.histogram's conventions: bin b holds edges[b] <= x < edges[b+1],
// and the last bin also holds x == edges.back(). Counts are raw (not densities); a log-count
// plot should skip or floor the zero bins.
struct Histogram {
  std::vector<double> edges;    // [bins + 1] ascending, in the units of the data
  std::vector<int64_t> counts;  // [bins]
  int64_t outside = 0;          // finite values outside [edges.front(), edges.back()]
  int64_t non_finite = 0;       // NaN or infinite values (never binned)

  int bins() const { return static_cast<int>(counts.size()); }
  int64_t total() const;  // sum of counts
};

// Histogram of x over [lo, hi] with `bins` equal bins; BadInput unless bins >= 1 and lo < hi,
// both finite.
Histogram histogram(std::span<const float> x, int bins, double lo, double hi);

// Same over [min, max] of the finite values of x, widened to [v - 0.5, v + 0.5] when they are
// all equal to v and to [-0.5, 0.5] when there are none (numpy's rule).
Histogram histogram(std::span<const float> x, int bins);

// The q-th percentiles (q in [0, 100]) of the finite values of x, interpolated linearly between
// order statistics as numpy.percentile does by default: position (n - 1) * q / 100 in sorted x.
// O(n): exact, by selection within the buckets of a fine histogram. Returns NaN for each q when x
// holds no finite value; BadInput for q outside [0, 100].
std::vector<double> percentiles(std::span<const float> x, std::span<const double> q);

inline constexpr std::array<double, 5> kDefaultPercentiles = {0.1, 1.0, 50.0, 99.0, 99.9};

// Distribution of one part (keys or values) of a capture.
struct PartDistribution {
  // All layers' entries together, over the part's overall [min, max].
  Histogram overall;
  // [L] one per layer, over the same edges as `overall` so layers overlay and compare.
  std::vector<Histogram> per_layer;
  std::vector<double> percentiles;                         // [Q] over all layers
  std::vector<std::vector<double>> per_layer_percentiles;  // [L][Q]
};

struct ValueDistribution {
  std::vector<double> q;  // [Q] percent levels of the percentiles below
  PartDistribution key;
  PartDistribution value;
};

// Histograms (`bins` bins) and percentiles at levels q of all key and all value entries.
ValueDistribution value_distribution(
    const capture::Capture& cap, int bins = 100, KvPart key_part = KvPart::Key,
    std::span<const double> q = std::span<const double>(kDefaultPercentiles));

}  // namespace kvscope::analysis
