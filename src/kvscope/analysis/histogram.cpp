#include "kvscope/analysis/histogram.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

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

// [min, max] of the finite values, with numpy's widening for a degenerate range.
std::pair<double, double> auto_range(std::span<const float> x) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (float f : x)
    if (std::isfinite(f)) {
      lo = std::min(lo, static_cast<double>(f));
      hi = std::max(hi, static_cast<double>(f));
    }
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
  const auto [lo, hi] = auto_range(x);
  return histogram(x, bins, lo, hi);
}

std::vector<double> percentiles(std::span<const float> x, std::span<const double> q) {
  for (double p : q)
    if (!(p >= 0 && p <= 100))
      throw BadInput(fmt::format("percentiles: level {} is not in [0, 100]", p));
  std::vector<double> out(q.size(), std::numeric_limits<double>::quiet_NaN());
  std::vector<float> buf;
  buf.reserve(x.size());
  for (float f : x)
    if (std::isfinite(f)) buf.push_back(f);
  if (buf.empty()) return out;
  const size_t n = buf.size();

  // Selecting in increasing order of q lets each selection work on what the last left above it.
  std::vector<size_t> order(q.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return q[a] < q[b]; });
  size_t start = 0;
  for (size_t o : order) {
    const double pos = static_cast<double>(n - 1) * q[o] / 100.0;
    const size_t i = std::min(static_cast<size_t>(pos), n - 1);
    const double t = pos - static_cast<double>(i);
    std::nth_element(buf.begin() + static_cast<ptrdiff_t>(start),
                     buf.begin() + static_cast<ptrdiff_t>(i), buf.end());
    start = i;
    const double a = buf[i];
    const double b = (t > 0 && i + 1 < n)
                         ? *std::min_element(buf.begin() + static_cast<ptrdiff_t>(i) + 1, buf.end())
                         : a;
    // numpy's lerp: from the nearer end, so t = 1 gives b exactly.
    out[o] = t < 0.5 ? a + (b - a) * t : b - (b - a) * (1.0 - t);
  }
  return out;
}

namespace {

PartDistribution part_distribution(const capture::Capture& cap, int bins, KvPart part,
                                   std::span<const double> q) {
  PartDistribution d;
  const size_t L = static_cast<size_t>(cap.n_layer);
  size_t total = 0;
  for (const auto& layer : cap.layers) total += part_tensor(layer, part).data.size();
  std::vector<float> all;
  all.reserve(total);
  for (const auto& layer : cap.layers) {
    const auto& t = part_tensor(layer, part).data;
    all.insert(all.end(), t.begin(), t.end());
  }
  d.overall = histogram(all, bins);
  d.percentiles = percentiles(all, q);
  d.per_layer.resize(L);
  d.per_layer_percentiles.resize(L);
  const double lo = d.overall.edges.front(), hi = d.overall.edges.back();
#pragma omp parallel for schedule(dynamic)
  for (size_t l = 0; l < L; ++l) {
    const auto& t = part_tensor(cap.layers[l], part).data;
    d.per_layer[l] = empty_histogram(bins, lo, hi);  // valid: same arguments as `overall`
    accumulate(d.per_layer[l], t);
    d.per_layer_percentiles[l] = percentiles(t, q);  // q checked by the overall call
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
