#include "kvscope/analysis/histogram.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <tuple>

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

// Adds x into h (whose edges are set), binning as numpy.histogram does so that values on an
// edge land in the same bin.
void accumulate(Histogram& h, std::span<const float> x) {
  const int bins = h.bins();
  const double lo = h.edges.front(), hi = h.edges.back();
  const double norm = bins / (hi - lo);
  for (float f : x) {
    const double v = f;
    if (!std::isfinite(v)) {
      ++h.non_finite;
      continue;
    }
    if (v < lo || v > hi) {
      ++h.outside;
      continue;
    }
    int b = static_cast<int>((v - lo) * norm);
    if (b >= bins) b = bins - 1;
    if (v < h.edges[static_cast<size_t>(b)])
      --b;
    else if (b != bins - 1 && v >= h.edges[static_cast<size_t>(b) + 1])
      ++b;
    ++h.counts[static_cast<size_t>(b)];
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
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (float f : x)
    if (std::isfinite(f)) {
      lo = std::min(lo, static_cast<double>(f));
      hi = std::max(hi, static_cast<double>(f));
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

// Exact order statistics without sorting or copying the data: a fine histogram over the finite
// range finds the bucket holding each wanted rank, and only those buckets' values are selected
// among. The bucket map is monotone, so every value of a lower bucket is smaller.
std::vector<double> percentiles_of(std::span<const std::span<const float>> parts,
                                   std::span<const double> q) {
  for (double p : q)
    if (!(p >= 0 && p <= 100))
      throw BadInput(fmt::format("percentiles: level {} is not in [0, 100]", p));
  std::vector<double> out(q.size(), std::numeric_limits<double>::quiet_NaN());
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (auto x : parts) {
    const auto [a, b] = finite_min_max(x);
    lo = std::min(lo, a);
    hi = std::max(hi, b);
  }
  if (lo > hi) return out;  // no finite value
  if (lo == hi) {
    std::fill(out.begin(), out.end(), lo);
    return out;
  }
  constexpr int64_t B = 1 << 16;
  const double scale = static_cast<double>(B) / (hi - lo);
  auto bucket = [&](float f) {
    return std::min<int64_t>(B - 1, static_cast<int64_t>((static_cast<double>(f) - lo) * scale));
  };
  std::vector<int64_t> below(B + 1, 0);  // below[b]: count of values in buckets < b
  for (auto x : parts)
    for (float f : x)
      if (std::isfinite(f)) ++below[static_cast<size_t>(bucket(f)) + 1];
  std::partial_sum(below.begin(), below.end(), below.begin());
  const int64_t n = below.back();

  // The ranks each level interpolates between, and the buckets holding them.
  struct Want {
    int64_t i;
    double t;
  };
  std::vector<Want> wants;
  std::vector<char> needed(B, 0);
  auto bucket_of_rank = [&](int64_t r) {
    return std::upper_bound(below.begin(), below.end(), r) - below.begin() - 1;
  };
  for (double p : q) {
    const double pos = static_cast<double>(n - 1) * p / 100.0;
    const int64_t i = std::min<int64_t>(static_cast<int64_t>(pos), n - 1);
    wants.push_back({i, pos - static_cast<double>(i)});
    needed[static_cast<size_t>(bucket_of_rank(i))] = 1;
    if (i + 1 < n) needed[static_cast<size_t>(bucket_of_rank(i + 1))] = 1;
  }
  std::vector<std::vector<float>> held(B);
  for (auto x : parts)
    for (float f : x)
      if (std::isfinite(f)) {
        const int64_t b = bucket(f);
        if (needed[static_cast<size_t>(b)]) held[static_cast<size_t>(b)].push_back(f);
      }
  auto value_at_rank = [&](int64_t r) -> double {
    const int64_t b = bucket_of_rank(r);
    auto& v = held[static_cast<size_t>(b)];
    const auto k = static_cast<ptrdiff_t>(r - below[static_cast<size_t>(b)]);
    std::nth_element(v.begin(), v.begin() + k, v.end());
    return v[static_cast<size_t>(k)];
  };
  for (size_t w = 0; w < wants.size(); ++w) {
    const double a = value_at_rank(wants[w].i);
    const double t = wants[w].t;
    const double b = (t > 0 && wants[w].i + 1 < n) ? value_at_rank(wants[w].i + 1) : a;
    // numpy's lerp: from the nearer end, so t = 1 gives b exactly.
    out[w] = t < 0.5 ? a + (b - a) * t : b - (b - a) * (1.0 - t);
  }
  return out;
}

}  // namespace

std::vector<double> percentiles(std::span<const float> x, std::span<const double> q) {
  const std::span<const float> one[1] = {x};
  return percentiles_of(one, q);
}

namespace {

PartDistribution part_distribution(const capture::Capture& cap, int bins, KvPart part,
                                   std::span<const double> q) {
  PartDistribution d;
  const size_t L = static_cast<size_t>(cap.n_layer);
  std::vector<std::span<const float>> parts;
  for (const auto& layer : cap.layers) parts.emplace_back(part_tensor(layer, part).data);

  // The overall range of the concatenation, widened as numpy would when it is a single value.
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (auto x : parts) {
    const auto [a, b] = finite_min_max(x);
    lo = std::min(lo, a);
    hi = std::max(hi, b);
  }
  std::tie(lo, hi) = widen(lo, hi);
  d.overall = empty_histogram(bins, lo, hi);
  d.percentiles = percentiles_of(parts, q);
  d.per_layer.resize(L);
  d.per_layer_percentiles.resize(L);
#pragma omp parallel for schedule(dynamic)
  for (size_t l = 0; l < L; ++l) {
    d.per_layer[l] = empty_histogram(bins, lo, hi);  // valid: same arguments as `overall`
    accumulate(d.per_layer[l], parts[l]);
    d.per_layer_percentiles[l] = percentiles(parts[l], q);  // q checked by the overall call
  }
  // Every value lies inside the overall range, so the overall counts are the layers' sums.
  for (const auto& h : d.per_layer) {
    for (size_t b = 0; b < h.counts.size(); ++b) d.overall.counts[b] += h.counts[b];
    d.overall.non_finite += h.non_finite;
  }
  return d;
}

}  // namespace

ValueDistribution value_distribution(const capture::Capture& cap, int bins, KvPart key_part,
                                     std::span<const double> q) {
  check_capture(cap);
  if (bins < 1) throw BadInput(fmt::format("value distribution: bin count {} is not >= 1", bins));
  ValueDistribution out;
  out.q.assign(q.begin(), q.end());
  out.key = part_distribution(cap, bins, key_part, q);
  out.value = part_distribution(cap, bins, KvPart::Value, q);
  return out;
}

}  // namespace kvscope::analysis
