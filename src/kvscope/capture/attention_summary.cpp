#include "kvscope/capture/attention_summary.hpp"

#include "kvscope/capture/capture.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "kvscope/error.hpp"

namespace kvscope::capture {

int SummaryShape::tile() const {
  const int m = std::max(max_pooled, 1);
  return std::max(1, (seq + m - 1) / m);
}

int SummaryShape::pooled() const {
  const int t = tile();
  return (seq + t - 1) / t;
}

AttentionSummary empty_summary(const SummaryShape& shape) {
  const int64_t H = shape.heads, S = shape.seq, K = shape.top_k, P = shape.pooled();
  AttentionSummary s;
  s.shape = shape;
  for (Tensor* t : {&s.entropy, &s.mean_distance, &s.sink_mass, &s.first_key, &s.max_weight,
                    &s.prev_token, &s.received, &s.last_query})
    *t = Tensor({H, S});
  s.pooled_max = Tensor({H, P, P});
  s.pooled_mean = Tensor({H, P, P});
  s.topk_key = Tensor({H, S, K});
  s.topk_weight = Tensor({H, S, K});
  return s;
}

void pooled_sums_to_means(AttentionSummary& s) {
  const int64_t S = s.shape.seq, t = s.shape.tile(), P = s.shape.pooled();
  for (int64_t h = 0; h < s.shape.heads; ++h)
    for (int64_t a = 0; a < P; ++a)
      for (int64_t b = 0; b < P; ++b) {
        const int64_t rows = std::min(t, S - a * t), cols = std::min(t, S - b * t);
        s.pooled_mean.at(h, a, b) /= static_cast<float>(rows * cols);
      }
}

AttentionSummary summarize_pattern(const Tensor& p, SummaryShape shape) {
  if (p.rank() != 3 || p.dim(1) != p.dim(2))
    throw BadInput(fmt::format("attention summary: expected a [heads, seq, seq] map, got {}",
                               p.shape_string()));
  shape.heads = static_cast<int>(p.dim(0));
  shape.seq = static_cast<int>(p.dim(1));
  const int64_t H = shape.heads, S = shape.seq, K = shape.top_k;
  const int tile = shape.tile();
  const int64_t last = shape.last_query >= 0 ? shape.last_query : S - 1;
  AttentionSummary s = empty_summary(shape);
  std::vector<int> order;
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t i = 0; i < S; ++i) {
      const float* row = p.ptr() + (h * S + i) * S;
      double ent = 0, dist = 0, sink = 0;
      float mx = 0;
      for (int64_t j = 0; j < S; ++j) {
        const double w = row[j];
        if (w > 0) ent -= w * std::log(w);
        dist += w * static_cast<double>(i - j);
        if (j < shape.sink_tokens) sink += w;
        mx = std::max(mx, row[j]);
        s.received.at(h, j) += row[j];
        const int64_t a = i / tile, b = j / tile;
        float& cmax = s.pooled_max.at(h, a, b);
        cmax = std::max(cmax, row[j]);
        s.pooled_mean.at(h, a, b) += row[j];
      }
      s.entropy.at(h, i) = static_cast<float>(ent);
      s.mean_distance.at(h, i) = static_cast<float>(dist);
      s.sink_mass.at(h, i) = static_cast<float>(sink);
      s.first_key.at(h, i) = row[0];
      s.max_weight.at(h, i) = mx;
      s.prev_token.at(h, i) = i > 0 ? row[i - 1] : 0.0f;
      if (i == last)
        for (int64_t j = 0; j < S; ++j) s.last_query.at(h, j) = row[j];
      // Top-k over the visible keys 0..i, largest first, earlier key first among equals.
      order.resize(static_cast<size_t>(i + 1));
      for (int j = 0; j <= i; ++j) order[static_cast<size_t>(j)] = j;
      const int64_t k = std::min<int64_t>(K, i + 1);
      std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int x, int y) {
        return row[x] > row[y] || (row[x] == row[y] && x < y);
      });
      for (int64_t r = 0; r < K; ++r) {
        s.topk_key.at(h, i, r) = r < k ? static_cast<float>(order[static_cast<size_t>(r)]) : -1;
        s.topk_weight.at(h, i, r) = r < k ? row[order[static_cast<size_t>(r)]] : 0.0f;
      }
    }
  }
  pooled_sums_to_means(s);
  return s;
}

Tensor head_similarity(const AttentionSummary& s) {
  const int64_t H = s.pooled_mean.dim(0);
  const int64_t n = s.pooled_mean.dim(1) * s.pooled_mean.dim(2);
  Tensor sim({H, H});
  std::vector<double> norm(static_cast<size_t>(H));
  for (int64_t a = 0; a < H; ++a) {
    const float* x = s.pooled_mean.ptr() + a * n;
    double d = 0;
    for (int64_t j = 0; j < n; ++j) d += static_cast<double>(x[j]) * x[j];
    norm[static_cast<size_t>(a)] = std::sqrt(d);
  }
  for (int64_t a = 0; a < H; ++a)
    for (int64_t b = a; b < H; ++b) {
      const float* x = s.pooled_mean.ptr() + a * n;
      const float* y = s.pooled_mean.ptr() + b * n;
      double d = 0;
      for (int64_t j = 0; j < n; ++j) d += static_cast<double>(x[j]) * y[j];
      const double den = norm[static_cast<size_t>(a)] * norm[static_cast<size_t>(b)];
      const float c = den > 0 ? static_cast<float>(d / den) : 0.0f;
      sim.at(a, b) = c;
      sim.at(b, a) = c;
    }
  return sim;
}

void set_exact_attention(LayerCapture& layer, Tensor p) {
  layer.attn = summarize_pattern(p, {});
  layer.pattern_heads.clear();
  for (int h = 0; h < layer.attn.shape.heads; ++h) layer.pattern_heads.push_back(h);
  layer.pattern = std::move(p);
}

}  // namespace kvscope::capture
