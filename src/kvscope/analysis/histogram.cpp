#include "kvscope/analysis/histogram.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <tuple>

#include "kvscope/analysis/parallel.hpp"
#include "kvscope/error.hpp"

namespace kvscope::analysis {

int64_t Histogram::total() const {
  return std::accumulate(counts.begin(), counts.end(), int64_t{0});
}

namespace {

// Edges as numpy.linspace makes them: i * step + lo, with the last edge exactly hi.
std::vector<double> make_edges(int bins, double lo, double hi) {
  std::vector<double> edges(static_cast<size_t>(bins) + 1);
  const double step = (hi - lo) / bins;
  for (int i = 0; i <= bins; ++i) edges[static_cast<size_t>(i)] = i * step + lo;
  edges.back() = hi;
  return edges;
}

// Values are binned a chunk at a time: a loop the compiler vectorizes computes each value's
// bin (or that it has none), then a short scalar loop counts.
constexpr int64_t kChunk = 1024;

// Whether f is neither NaN nor infinite, from its exponent bits. Unlike std::isfinite or a
// floating-point comparison (which may trap on NaN, so GCC keeps it as a branch), this lets
// the loops below vectorize.
inline bool finite(float f) {
  return (std::bit_cast<uint32_t>(f) & 0x7F800000u) != 0x7F800000u;
}

// Adds x into h (whose edges are set), binning as numpy.histogram does so that values on an
// edge land in the same bin.
void accumulate(Histogram& h, std::span<const float> x) {
  const int bins = h.bins();
  const double lo = h.edges.front(), hi = h.edges.back();
  const double norm = bins / (hi - lo);
  const double top = bins - 1;
  constexpr int32_t kOutside = -1, kNonFinite = -2;
  int32_t bin[kChunk];
  for (size_t i0 = 0; i0 < x.size(); i0 += kChunk) {
    const float* p = x.data() + i0;
    const int64_t n = std::min<int64_t>(kChunk, static_cast<int64_t>(x.size() - i0));
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      // The first guess at the bin: (v - lo) * norm truncated, at most bins - 1. Clamped
      // before the conversion so that values left out convert safely too.
      const double v = p[j];
      double t = (v - lo) * norm;
      t = t > 0 ? t : 0.0;
      t = t < top ? t : top;
      const bool inside = (v >= lo) & (v <= hi);  // false for NaN
      bin[j] = inside ? static_cast<int32_t>(t) : (finite(p[j]) ? kOutside : kNonFinite);
    }
    for (int64_t j = 0; j < n; ++j) {
      int32_t b = bin[j];
      if (b < 0) {
        ++(b == kOutside ? h.outside : h.non_finite);
        continue;
      }
      // The guess can be one off where rounding puts v across an edge; the edges decide.
      const double v = p[j];
      if (v < h.edges[static_cast<size_t>(b)])
        --b;
      else if (b != bins - 1 && v >= h.edges[static_cast<size_t>(b) + 1])
        ++b;
      ++h.counts[static_cast<size_t>(b)];
    }
  }
}

Histogram empty_histogram(int bins, double lo, double hi) {
  if (bins < 1) throw BadInput(fmt::format("histogram: bin count {} is not >= 1", bins));
  if (!std::isfinite(lo) || !std::isfinite(hi) || !(lo < hi))
    throw BadInput(fmt::format("histogram: range [{}, {}] is not a finite interval", lo, hi));
  Histogram h;
  h.edges = make_edges(bins, lo, hi);
  h.counts.assign(static_cast<size_t>(bins), 0);
  return h;
}

// [min, max] of the finite values; [inf, -inf] when there are none.
std::pair<double, double> finite_min_max(std::span<const float> x) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  float lo = kInf, hi = -kInf;
  const float* p = x.data();
  const int64_t n = static_cast<int64_t>(x.size());
#pragma omp simd reduction(min : lo) reduction(max : hi)
  for (int64_t i = 0; i < n; ++i) {
    const bool ok = finite(p[i]);
    lo = std::min(lo, ok ? p[i] : kInf);
    hi = std::max(hi, ok ? p[i] : -kInf);
  }
  return {lo, hi};
}

// numpy's rule for a degenerate range: no values -> [-0.5, 0.5], one value v -> v -/+ 0.5.
std::pair<double, double> widen(double lo, double hi) {
  if (lo > hi) return {-0.5, 0.5};
  if (lo == hi) return {lo - 0.5, hi + 0.5};
  return {lo, hi};
}

}  // namespace

Histogram histogram(std::span<const float> x, int bins, double lo, double hi) {
  Histogram h = empty_histogram(bins, lo, hi);
  accumulate(h, x);
  return h;
}

Histogram histogram(std::span<const float> x, int bins) {
  const auto [mn, mx] = finite_min_max(x);
  const auto [lo, hi] = widen(mn, mx);
  return histogram(x, bins, lo, hi);
}

namespace {

void check_levels(std::span<const double> q) {
  for (double p : q)
    if (!(p >= 0 && p <= 100))
      throw BadInput(fmt::format("percentiles: level {} is not in [0, 100]", p));
}

// Exact order statistics without sorting or copying the data: a fine histogram over the finite
// range finds the bucket holding each wanted rank, and only those buckets' values are selected
// among. The bucket map is monotone, so every value of a lower bucket is smaller. Any range
// holding the data works; a tight one keeps the selected buckets small.
class RankSelector {
 public:
  static constexpr int64_t kBuckets = 1 << 12;  // counts fit in L1

  RankSelector(double lo, double hi) : lo_(lo), scale_(hi > lo ? kBuckets / (hi - lo) : 0.0) {}

  // The bucket of each of x[0, n) into out, kBuckets (none) for a non-finite value. Vectorizes.
  void buckets(const float* x, int64_t n, int32_t* out) const {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const double v = x[i];
      double t = (v - lo_) * scale_;
      t = t > 0 ? t : 0.0;  // also NaN, whose bucket is replaced below
      t = t < kBuckets - 1 ? t : static_cast<double>(kBuckets - 1);
      out[i] = finite(x[i]) ? static_cast<int32_t>(t) : static_cast<int32_t>(kBuckets);
    }
  }

  // counts [kBuckets] += the finite values of x per bucket.
  void count(std::span<const float> x, std::vector<int64_t>& counts) const {
    counts.resize(kBuckets + 1, 0);  // and one for the non-finite values, dropped below
    int32_t b[kChunk];
    for (size_t i0 = 0; i0 < x.size(); i0 += kChunk) {
      const int64_t n = std::min<int64_t>(kChunk, static_cast<int64_t>(x.size() - i0));
      buckets(x.data() + i0, n, b);
      for (int64_t j = 0; j < n; ++j) ++counts[static_cast<size_t>(b[j])];
    }
    counts.resize(kBuckets);
  }

  // Percentiles at levels q of the finite values of parts, whose per-bucket counts are given.
  std::vector<double> select(std::span<const std::span<const float>> parts,
                             const std::vector<int64_t>& counts, std::span<const double> q) const {
    std::vector<double> out(q.size(), std::numeric_limits<double>::quiet_NaN());
    std::vector<int64_t> below(kBuckets + 1, 0);  // below[b]: values in buckets < b
    std::partial_sum(counts.begin(), counts.end(), below.begin() + 1);
    const int64_t n = below.back();
    if (n == 0) return out;
    auto bucket_of_rank = [&](int64_t r) {
      return std::upper_bound(below.begin(), below.end(), r) - below.begin() - 1;
    };
    // The ranks each level interpolates between (numpy's linear method), and their buckets.
    std::vector<int64_t> rank(q.size());
    std::vector<double> frac(q.size());
    std::vector<char> needed(kBuckets + 1, 0);  // [kBuckets] stands for non-finite values
    for (size_t w = 0; w < q.size(); ++w) {
      const double pos = static_cast<double>(n - 1) * q[w] / 100.0;
      rank[w] = std::min<int64_t>(static_cast<int64_t>(pos), n - 1);
      frac[w] = pos - static_cast<double>(rank[w]);
      needed[static_cast<size_t>(bucket_of_rank(rank[w]))] = 1;
      if (rank[w] + 1 < n) needed[static_cast<size_t>(bucket_of_rank(rank[w] + 1))] = 1;
    }
    std::vector<std::vector<float>> held(kBuckets);
    int32_t bucket[kChunk];
    for (auto x : parts)
      for (size_t i0 = 0; i0 < x.size(); i0 += kChunk) {
        const int64_t n = std::min<int64_t>(kChunk, static_cast<int64_t>(x.size() - i0));
        buckets(x.data() + i0, n, bucket);
        for (int64_t j = 0; j < n; ++j)
          if (needed[static_cast<size_t>(bucket[j])])
            held[static_cast<size_t>(bucket[j])].push_back(x[i0 + static_cast<size_t>(j)]);
      }
    auto value_at_rank = [&](int64_t r) -> double {
      const int64_t b = bucket_of_rank(r);
      auto& v = held[static_cast<size_t>(b)];
      const auto k = static_cast<ptrdiff_t>(r - below[static_cast<size_t>(b)]);
      std::nth_element(v.begin(), v.begin() + k, v.end());
      return v[static_cast<size_t>(k)];
    };
    for (size_t w = 0; w < q.size(); ++w) {
      const double a = value_at_rank(rank[w]);
      const double t = frac[w];
      const double b = (t > 0 && rank[w] + 1 < n) ? value_at_rank(rank[w] + 1) : a;
      // numpy's lerp: from the nearer end, so t = 1 gives b exactly.
      out[w] = t < 0.5 ? a + (b - a) * t : b - (b - a) * (1.0 - t);
    }
    return out;
  }

 private:
  double lo_, scale_;
};

}  // namespace

std::vector<double> percentiles(std::span<const float> x, std::span<const double> q) {
  check_levels(q);
  const auto [lo, hi] = finite_min_max(x);
  const RankSelector sel(lo, hi);
  std::vector<int64_t> counts;
  sel.count(x, counts);
  const std::span<const float> one[1] = {x};
  return sel.select(one, counts, q);
}

namespace {

PartDistribution part_distribution(const capture::Capture& cap, int bins, KvPart part,
                                   std::span<const double> q) {
  PartDistribution d;
  const size_t L = static_cast<size_t>(cap.n_layer);
  std::vector<std::span<const float>> parts;
  for (const auto& layer : cap.layers) parts.emplace_back(part_tensor(layer, part).data);

  std::vector<std::pair<double, double>> ranges(L);
  parallel_for(static_cast<int64_t>(L), worth_threads(cap), [&](int64_t l) {
    ranges[static_cast<size_t>(l)] = finite_min_max(parts[static_cast<size_t>(l)]);
  });
  double mn = std::numeric_limits<double>::infinity(), mx = -mn;
  for (const auto& [a, b] : ranges) {
    mn = std::min(mn, a);
    mx = std::max(mx, b);
  }
  // The overall range of the concatenation, widened as numpy would when it is a single value.
  // (Plain variables, not a structured binding: OpenMP regions cannot capture those in clang.)
  const auto range = widen(mn, mx);
  const double lo = range.first, hi = range.second;
  d.overall = empty_histogram(bins, lo, hi);
  d.per_layer.resize(L);
  d.per_layer_percentiles.resize(L);
  // One bucket map for all layers, so their counts add up to the overall counts.
  const RankSelector sel(mn, mx);
  std::vector<std::vector<int64_t>> counts(L);
  parallel_for(static_cast<int64_t>(L), worth_threads(cap), [&](int64_t i) {
    const auto l = static_cast<size_t>(i);
    d.per_layer[l] = empty_histogram(bins, lo, hi);  // valid: same arguments as `overall`
    accumulate(d.per_layer[l], parts[l]);
    sel.count(parts[l], counts[l]);
    d.per_layer_percentiles[l] = sel.select(std::span(&parts[l], 1), counts[l], q);
  });
  // Every value lies inside the overall range, so the overall counts are the layers' sums.
  std::vector<int64_t> all(RankSelector::kBuckets, 0);
  for (size_t l = 0; l < L; ++l) {
    const auto& h = d.per_layer[l];
    for (size_t b = 0; b < h.counts.size(); ++b) d.overall.counts[b] += h.counts[b];
    d.overall.non_finite += h.non_finite;
    for (size_t b = 0; b < all.size(); ++b) all[b] += counts[l][b];
  }
  d.percentiles = sel.select(parts, all, q);
  return d;
}

}  // namespace

ValueDistribution value_distribution(const capture::Capture& cap, int bins, KvPart key_part,
                                     std::span<const double> q) {
  check_capture(cap);
  if (bins < 1) throw BadInput(fmt::format("value distribution: bin count {} is not >= 1", bins));
  check_levels(q);
  ValueDistribution out;
  out.q.assign(q.begin(), q.end());
  out.key = part_distribution(cap, bins, key_part, q);
  out.value = part_distribution(cap, bins, KvPart::Value, q);
  return out;
}

}  // namespace kvscope::analysis
