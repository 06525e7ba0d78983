#include "kvscope/analysis/head_specialization.hpp"

#include <algorithm>
#include <cmath>

namespace kvscope::analysis {

double attention_entropy(const float* row, int64_t n) {
  double e = 0;
  for (int64_t j = 0; j < n; ++j) {
    const double p = row[j];
    if (p > 0) e -= p * std::log(p);
  }
  return e;
}

namespace {

// [H, H] cosine similarity of H rows of length n, in double. All pairs' dot products are
// taken a block of columns at a time, so the block stays in cache while every pair reads it.
Tensor cosine_matrix(const std::vector<const float*>& rows, int64_t n) {
  constexpr int64_t kBlock = 2048;
  const int64_t H = static_cast<int64_t>(rows.size());
  std::vector<double> dot(static_cast<size_t>(H * H), 0.0);  // [H, H] upper triangle
  for (int64_t j0 = 0; j0 < n; j0 += kBlock) {
    const int64_t len = std::min(kBlock, n - j0);
    for (int64_t a = 0; a < H; ++a)
      for (int64_t b = a; b < H; ++b) {
        const float* x = rows[static_cast<size_t>(a)] + j0;
        const float* y = rows[static_cast<size_t>(b)] + j0;
        double s = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t j = 0; j < len; ++j) s += static_cast<double>(x[j]) * y[j];
        dot[static_cast<size_t>(a * H + b)] += s;
      }
  }
  Tensor sim({H, H});
  for (int64_t a = 0; a < H; ++a)
    for (int64_t b = a; b < H; ++b) {
      const double den = std::sqrt(dot[static_cast<size_t>(a * H + a)]) *
                         std::sqrt(dot[static_cast<size_t>(b * H + b)]);
      const float c =
          den > 0 ? static_cast<float>(dot[static_cast<size_t>(a * H + b)] / den) : 0.0f;
      sim.at(a, b) = c;
      sim.at(b, a) = c;
    }
  return sim;
}

// [H, S] L2 norm of each token's D-vector, for the kv head each query head reads.
Tensor head_norms(const Tensor& t, const std::vector<int>& kv_head, int64_t S, int64_t D) {
  const int64_t H = static_cast<int64_t>(kv_head.size());
  Tensor out({H, S});
  for (int64_t h = 0; h < H; ++h) {
    const float* base = t.ptr() + kv_head[static_cast<size_t>(h)] * S * D;
    for (int64_t i = 0; i < S; ++i) {
      double s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t c = 0; c < D; ++c) s += static_cast<double>(base[i * D + c]) * base[i * D + c];
      out.at(h, i) = static_cast<float>(std::sqrt(s));
    }
  }
  return out;
}

}  // namespace

HeadSpecialization head_specialization(const capture::Capture& cap, int layer, KvPart key_part) {
  check_capture(cap);
  check_layer_index(cap, layer);
  const auto& lc = cap.layers[static_cast<size_t>(layer)];
  const int64_t H = cap.n_head, S = cap.seq_len(), D = cap.head_dim;

  HeadSpecialization r;
  r.layer = layer;
  for (int h = 0; h < cap.n_head; ++h) r.kv_head.push_back(kv_head_of(cap, h));
  const Tensor& k = part_tensor(lc, key_part);
  r.key_norms = head_norms(k, r.kv_head, S, D);
  r.value_norms = head_norms(lc.v, r.kv_head, S, D);
  r.has_attention = cap.has_attention();

  std::vector<const float*> rows(static_cast<size_t>(H));
  if (!r.has_attention) {
    // Mean key vector of each kv head, then one row per query head.
    Tensor mean_keys({cap.n_kv_head, D});
    for (int64_t g = 0; g < cap.n_kv_head; ++g) {
      for (int64_t c = 0; c < D; ++c) {
        double s = 0;
        for (int64_t i = 0; i < S; ++i) s += k.at(g, i, c);
        mean_keys.at(g, c) = S > 0 ? static_cast<float>(s / static_cast<double>(S)) : 0.0f;
      }
    }
    for (int64_t h = 0; h < H; ++h)
      rows[static_cast<size_t>(h)] = mean_keys.ptr() + r.kv_head[static_cast<size_t>(h)] * D;
    r.similarity = cosine_matrix(rows, D);
    return r;
  }

  // From the summary the engine streamed: per-query statistics averaged over queries, and the
  // similarity of the heads' pooled maps (the full maps' while the prompt fits one cell per
  // position, at most 256 tokens).
  const capture::AttentionSummary& a = lc.attn;
  r.entropy.assign(static_cast<size_t>(H), 0.0);
  r.mean_distance.assign(static_cast<size_t>(H), 0.0);
  r.sink_share.assign(static_cast<size_t>(H), 0.0);
  for (int64_t h = 0; h < H; ++h) {
    double ent = 0, dist = 0, sink = 0;
    for (int64_t i = 0; i < S; ++i) {
      ent += a.entropy.at(h, i);
      dist += a.mean_distance.at(h, i);
      sink += a.first_key.at(h, i);
    }
    const double n = S > 0 ? static_cast<double>(S) : 1.0;
    r.entropy[static_cast<size_t>(h)] = ent / n;
    r.mean_distance[static_cast<size_t>(h)] = dist / n;
    r.sink_share[static_cast<size_t>(h)] = sink / n;
  }
  r.similarity = capture::head_similarity(a);
  return r;
}

}  // namespace kvscope::analysis
