#include "kvscope/analysis/layer_stats.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "kvscope/analysis/parallel.hpp"
#include "kvscope/error.hpp"

namespace kvscope::analysis {

TensorStats tensor_stats(const Tensor& x, const SparsityRule& rule) {
  TensorStats st;
  const int64_t D = x.rank() >= 1 ? x.shape.back() : 0;
  const int64_t A = (x.rank() == 3) ? x.shape[0] : 1;
  st.channel_max_abs = Tensor(x.rank() == 3 ? std::vector<int64_t>{A, D} : std::vector<int64_t>{D});
  const size_t n = x.data.size();
  if (n == 0 || D == 0) return st;
  const float* p = x.ptr();
  const int64_t per_head = static_cast<int64_t>(n) / A;  // S * D for [KH, S, D]

  // Pass 1: sum, |x| sum, max |x| and the per-channel maxima.
  double sum = 0, sum_abs = 0;
  for (int64_t a = 0; a < A; ++a) {
    float* cmax = st.channel_max_abs.ptr() + a * D;
    const float* h = p + a * per_head;
    for (int64_t i = 0; i < per_head; i += D)
#pragma omp simd reduction(+ : sum, sum_abs)
      for (int64_t c = 0; c < D; ++c) {
        const float v = std::fabs(h[i + c]);
        cmax[c] = std::max(cmax[c], v);
        sum += h[i + c];
        sum_abs += v;
      }
  }
  const double count = static_cast<double>(n);
  st.mean = sum / count;
  st.mean_abs = sum_abs / count;
  st.max_abs = *std::max_element(st.channel_max_abs.data.begin(), st.channel_max_abs.data.end());

  // Pass 2: central moments (two passes keep them accurate when |mean| >> std).
  double m2 = 0, m4 = 0;
#pragma omp simd reduction(+ : m2, m4)
  for (size_t i = 0; i < n; ++i) {
    const double d = p[i] - st.mean;
    const double d2 = d * d;
    m2 += d2;
    m4 += d2 * d2;
  }
  m2 /= count;
  m4 /= count;
  st.std = std::sqrt(m2);
  st.kurtosis = m2 > 0 ? m4 / (m2 * m2) - 3.0 : 0.0;

  // Pass 3: near-zero share, against a scale that may need pass 2.
  double scale = 1.0;
  switch (rule.scale) {
    case SparsityScale::MaxAbs:
      scale = st.max_abs;
      break;
    case SparsityScale::Std:
      scale = st.std;
      break;
    case SparsityScale::Absolute:
      scale = 1.0;
      break;
  }
  const double cut = rule.threshold * scale;
  int64_t small = 0;
#pragma omp simd reduction(+ : small)
  for (size_t i = 0; i < n; ++i) small += std::fabs(static_cast<double>(p[i])) < cut;
  st.sparsity = static_cast<double>(small) / count;
  return st;
}

double pearson_correlation(const Tensor& a, const Tensor& b) {
  if (a.data.size() != b.data.size())
    throw BadInput(fmt::format("correlation: tensors {} and {} differ in size", a.shape_string(),
                               b.shape_string()));
  const size_t n = a.data.size();
  if (n == 0) return 0.0;
  double sa = 0, sb = 0;
#pragma omp simd reduction(+ : sa, sb)
  for (size_t i = 0; i < n; ++i) {
    sa += a.data[i];
    sb += b.data[i];
  }
  const double ma = sa / static_cast<double>(n), mb = sb / static_cast<double>(n);
  double sab = 0, saa = 0, sbb = 0;
#pragma omp simd reduction(+ : sab, saa, sbb)
  for (size_t i = 0; i < n; ++i) {
    const double da = a.data[i] - ma, db = b.data[i] - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  if (saa <= 0 || sbb <= 0) return 0.0;
  return sab / std::sqrt(saa * sbb);
}

std::vector<LayerStats> layer_stats(const capture::Capture& cap, const LayerStatsOptions& options) {
  check_capture(cap);
  if (!(options.sparsity.threshold >= 0) || !std::isfinite(options.sparsity.threshold))
    throw BadInput(
        fmt::format("layer statistics: sparsity threshold {} is not a finite number >= 0",
                    options.sparsity.threshold));
  std::vector<LayerStats> out(static_cast<size_t>(cap.n_layer));
  parallel_for(cap.n_layer, worth_threads(cap), [&](int64_t l) {
    const auto& layer = cap.layers[static_cast<size_t>(l)];
    const Tensor& k = part_tensor(layer, options.key_part);
    auto& o = out[static_cast<size_t>(l)];
    o.key = tensor_stats(k, options.sparsity);
    o.value = tensor_stats(layer.v, options.sparsity);
    o.kv_correlation = pearson_correlation(k, layer.v);  // same shape: checked above
  });
  return out;
}

}  // namespace kvscope::analysis
