#include "kvscope/model/model.hpp"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>
#include <utility>

#include <fmt/format.h>

#include "kvscope/error.hpp"
#include "kvscope/model/attention_kernel.hpp"
#include "kvscope/model/fast_math.hpp"

namespace kvscope::model {

namespace {

constexpr int kQueryBlock = 64;  // query rows per attention task

// y[n, out] = x[n, in] W^T (+ b[out]) (+ y if accumulate), x's rows `ldx` apart. W is
// [out, in], or [in, out] when in_major (GPT-2 Conv1D). One row goes through sgemv:
// OpenBLAS's sgemm with M = 1 is several times slower.
void linear(float* y, const float* x, int ldx, const Param& W, bool in_major,
            const std::vector<float>& b, int n, int in, int out, bool accumulate = false) {
  // The bias goes in first and the product is accumulated onto it: OpenBLAS makes a pass over
  // y for any beta other than 1, so this saves one pass over the output.
  if (!b.empty()) {
#pragma omp parallel for if (int64_t{n} * out > 65536)
    for (int i = 0; i < n; ++i) {
      float* row = y + static_cast<size_t>(i) * out;
      if (accumulate)
        for (int j = 0; j < out; ++j) row[j] += b[static_cast<size_t>(j)];
      else
        std::memcpy(row, b.data(), sizeof(float) * static_cast<size_t>(out));
    }
  }
  const float beta = accumulate || !b.empty() ? 1.0f : 0.0f;
  if (n == 1) {
    if (in_major)
      cblas_sgemv(CblasRowMajor, CblasTrans, in, out, 1.0f, W.data(), out, x, 1, beta, y, 1);
    else
      cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, W.data(), in, x, 1, beta, y, 1);
  } else {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, in_major ? CblasNoTrans : CblasTrans, n, out, in, 1.0f,
                x, ldx, W.data(), in_major ? out : in, beta, y, out);
  }
}

// out[n, d] = norm(x[n, d]) with LayerNorm (w, b) or RMSNorm (w).
void normalize(float* out, const float* x, const std::vector<float>& w, const std::vector<float>& b,
               int n, int d, NormKind kind, float eps) {
#pragma omp parallel for if (n > 8)
  for (int i = 0; i < n; ++i) {
    const float* xi = x + static_cast<size_t>(i) * d;
    float* oi = out + static_cast<size_t>(i) * d;
    if (kind == NormKind::LayerNorm) {
      double mean = 0.0;
      for (int j = 0; j < d; ++j) mean += xi[j];
      mean /= d;
      double var = 0.0;
      for (int j = 0; j < d; ++j) var += (xi[j] - mean) * (xi[j] - mean);
      var /= d;
      const float m = static_cast<float>(mean);
      const float r = static_cast<float>(1.0 / std::sqrt(var + eps));
      for (int j = 0; j < d; ++j)
        oi[j] = (xi[j] - m) * r * w[static_cast<size_t>(j)] +
                (b.empty() ? 0.0f : b[static_cast<size_t>(j)]);
    } else {
      double ss = 0.0;
      for (int j = 0; j < d; ++j) ss += static_cast<double>(xi[j]) * xi[j];
      const float r = static_cast<float>(1.0 / std::sqrt(ss / d + eps));
      for (int j = 0; j < d; ++j) oi[j] = w[static_cast<size_t>(j)] * (xi[j] * r);
    }
  }
}

// Rotates one head vector x[D] in place for a position whose angles are cos/sin[D/2].
void rope_rotate(float* x, const float* cs, const float* sn, int D, RopePairing pairing) {
  const int half = D / 2;
  if (pairing == RopePairing::Halves) {
    for (int i = 0; i < half; ++i) {
      const float a = x[i], b = x[i + half];
      x[i] = a * cs[i] - b * sn[i];
      x[i + half] = b * cs[i] + a * sn[i];
    }
  } else {
    for (int i = 0; i < half; ++i) {
      const float a = x[2 * i], b = x[2 * i + 1];
      x[2 * i] = a * cs[i] - b * sn[i];
      x[2 * i + 1] = b * cs[i] + a * sn[i];
    }
  }
}

std::vector<float> rope_frequencies(const Config& c, const std::vector<float>& freq_factors) {
  const int half = c.head_dim / 2;
  std::vector<float> inv(static_cast<size_t>(half));
  for (int i = 0; i < half; ++i)
    inv[static_cast<size_t>(i)] =
        1.0f / std::pow(c.rope_theta, static_cast<float>(2 * i) / static_cast<float>(c.head_dim));
  if (c.rope_scaling.llama3) {
    // Llama 3.1 scaling: long wavelengths are slowed by `factor`, short ones kept, and the
    // band between interpolates smoothly.
    const RopeScaling& s = c.rope_scaling;
    const float old_ctx = static_cast<float>(s.original_max_position);
    const float low_wavelen = old_ctx / s.low_freq_factor;
    const float high_wavelen = old_ctx / s.high_freq_factor;
    for (float& f : inv) {
      const float wavelen = 2.0f * std::numbers::pi_v<float> / f;
      if (wavelen < high_wavelen) continue;
      if (wavelen > low_wavelen) {
        f = f / s.factor;
      } else {
        const float smooth =
            (old_ctx / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        f = (1.0f - smooth) * f / s.factor + smooth * f;
      }
    }
  }
  if (!freq_factors.empty())
    for (int i = 0; i < half; ++i)
      inv[static_cast<size_t>(i)] /= freq_factors[static_cast<size_t>(i)];
  return inv;
}

}  // namespace

Model::Model(Config config, Weights weights)
    : config_(std::move(config)), weights_(std::move(weights)) {
  if (config_.pos == PosKind::Rope)
    inv_freq_ = rope_frequencies(config_, weights_.rope_freq_factors);
}

KvCache Model::new_cache(int capacity, bool keep_pre_rope) const {
  return KvCache(config_.n_layer, config_.n_kv_head, config_.head_dim, std::max(capacity, 1),
                 keep_pre_rope);
}

ForwardResult Model::forward(KvCache& cache, std::span<const int32_t> tokens,
                             const ForwardRequest& req) const {
  const Config& c = config_;
  const int n = static_cast<int>(tokens.size());
  const int p0 = cache.length();
  const int T = p0 + n;
  const int d = c.d_model, H = c.n_head, G = c.n_kv_head, D = c.head_dim, V = c.vocab_size;
  const int qd = H * D, kd = G * D, qkv_w = qd + 2 * kd;
  const int F = c.d_ff;
  if (n == 0) throw BadInput("forward: no tokens to run");
  if (T > c.n_ctx)
    throw BadInput(fmt::format("{} tokens exceed the model's context length of {}", T, c.n_ctx));
  for (int i = 0; i < n; ++i)
    if (tokens[static_cast<size_t>(i)] < 0 || tokens[static_cast<size_t>(i)] >= V)
      throw BadInput(fmt::format("token id {} is outside the vocabulary (size {})",
                                 tokens[static_cast<size_t>(i)], V));
  cache.reserve_more(n);

  ForwardResult res;
  const size_t nd = static_cast<size_t>(n) * d;
  std::vector<float> x(nd), h(nd), qkv(static_cast<size_t>(n) * qkv_w),
      attn(static_cast<size_t>(n) * qd);
  const int mlp_w = c.mlp == MlpKind::SwiGlu ? 2 * F : F;
  std::vector<float> mid(static_cast<size_t>(n) * mlp_w);

  // Embeddings.
  for (int i = 0; i < n; ++i) {
    const float* e = &weights_.tok_emb[static_cast<size_t>(tokens[static_cast<size_t>(i)]) * d];
    std::memcpy(&x[static_cast<size_t>(i) * d], e, sizeof(float) * d);
    if (c.pos == PosKind::Learned) {
      const float* pe = &weights_.pos_emb[static_cast<size_t>(p0 + i) * d];
      for (int j = 0; j < d; ++j) x[static_cast<size_t>(i) * d + j] += pe[j];
    }
  }

  // RoPE angles for the new positions: [n, D/2] each. Angles are position * frequency in
  // fp32, as transformers computes them.
  const int half = D / 2;
  std::vector<float> cosv, sinv;
  if (c.pos == PosKind::Rope) {
    cosv.resize(static_cast<size_t>(n) * half);
    sinv.resize(static_cast<size_t>(n) * half);
    for (int i = 0; i < n; ++i)
      for (int k = 0; k < half; ++k) {
        const float a = static_cast<float>(p0 + i) * inv_freq_[static_cast<size_t>(k)];
        cosv[static_cast<size_t>(i) * half + k] = std::cos(a);
        sinv[static_cast<size_t>(i) * half + k] = std::sin(a);
      }
  }

  if (req.attention) res.patterns.resize(static_cast<size_t>(c.n_layer));
  if (req.resid) res.resid.resize(static_cast<size_t>(c.n_layer));
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  const int group = H / G;
  const int n_threads = omp_get_max_threads();
  std::vector<std::vector<float>> scores(static_cast<size_t>(n_threads));
  // Blocks of more than one query row take Q K^T from our kernel, which reads each KV head's
  // keys packed once per layer (see attention_kernel.hpp); single rows go through sgemv.
  const bool own_kernel = n > 1 && attention::kernel_enabled();
  std::vector<std::vector<float>> packed_keys(static_cast<size_t>(own_kernel ? G : 0));

  for (int l = 0; l < c.n_layer; ++l) {
    const LayerWeights& w = weights_.layers[static_cast<size_t>(l)];
    normalize(h.data(), x.data(), w.norm1_w, w.norm1_b, n, d, c.norm, c.norm_eps);
    linear(qkv.data(), h.data(), d, w.wqkv, w.in_major, w.bqkv, n, d, qkv_w);

    // Keys and values into the cache; RoPE on queries and keys.
#pragma omp parallel for if (n > 8)
    for (int i = 0; i < n; ++i) {
      float* row = &qkv[static_cast<size_t>(i) * qkv_w];
      for (int g = 0; g < G; ++g) {
        float* k = row + qd + g * D;
        if (cache.keeps_pre_rope())
          std::memcpy(cache.k_pre_row(l, g, p0 + i), k, sizeof(float) * D);
        if (c.pos == PosKind::Rope)
          rope_rotate(k, &cosv[static_cast<size_t>(i) * half], &sinv[static_cast<size_t>(i) * half],
                      D, c.rope_pairing);
        std::memcpy(cache.k_row(l, g, p0 + i), k, sizeof(float) * D);
        std::memcpy(cache.v_row(l, g, p0 + i), row + qd + kd + g * D, sizeof(float) * D);
      }
      if (c.pos == PosKind::Rope)
        for (int hh = 0; hh < H; ++hh)
          rope_rotate(row + hh * D, &cosv[static_cast<size_t>(i) * half],
                      &sinv[static_cast<size_t>(i) * half], D, c.rope_pairing);
    }

    if (own_kernel) {
#pragma omp parallel for if (int64_t{T} * kd > (1 << 16))
      for (int g = 0; g < G; ++g)
        attention::pack_keys(cache.k_row(l, g, 0), T, D, packed_keys[static_cast<size_t>(g)]);
    }

    // Attention, one (query head, block of query rows) per task. A block of rows i0..i1-1
    // only sees keys 0..p0+i1-1, so causal work is about halved and the block's scores
    // S[rows, Tb] stay in cache: S = Q K^T * scale, causal softmax, O = S V.
    if (req.attention)
      res.patterns[static_cast<size_t>(l)].assign(static_cast<size_t>(H) * n * T, 0.0f);
    const int n_blocks = (n + kQueryBlock - 1) / kQueryBlock;
#pragma omp parallel for schedule(dynamic) if (int64_t{n} * T * D * H > (1 << 16))
    for (int task = 0; task < H * n_blocks; ++task) {
      // Largest blocks first, for a better balance between threads.
      const int blk = n_blocks - 1 - task / H, hh = task % H;
      const int i0 = blk * kQueryBlock, rows = std::min(n, i0 + kQueryBlock) - i0;
      const int Tb = p0 + i0 + rows;
      // Scores go straight into the captured pattern rows when those are asked for (rows T
      // apart), else into this thread's scratch (rows Tb apart).
      float* S;
      int lds;
      if (req.attention) {
        S = &res.patterns[static_cast<size_t>(l)][(static_cast<size_t>(hh) * n + i0) * T];
        lds = T;
      } else {
        std::vector<float>& scratch = scores[static_cast<size_t>(omp_get_thread_num())];
        scratch.resize(static_cast<size_t>(rows) * Tb);
        S = scratch.data();
        lds = Tb;
      }
      const int g = hh / group;
      const float* K = cache.k_row(l, g, 0);
      const float* Vv = cache.v_row(l, g, 0);
      const float* Q = &qkv[static_cast<size_t>(i0) * qkv_w + static_cast<size_t>(hh) * D];
      float* O = &attn[static_cast<size_t>(i0) * qd + static_cast<size_t>(hh) * D];
      if (rows == 1) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Tb, D, scale, K, D, Q, 1, 0.0f, S, 1);
      } else if (own_kernel) {
        attention::scores(Q, qkv_w, rows, packed_keys[static_cast<size_t>(g)].data(), D, Tb,
                          p0 + i0, scale, S, lds);
      } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, Tb, D, scale, Q, qkv_w, K, D,
                    0.0f, S, lds);
      }
      const bool evicting = cache.has_evictions(l);
      for (int r = 0; r < rows; ++r) {
        float* s = S + static_cast<size_t>(r) * lds;
        const int last = p0 + i0 + r;  // attends to positions 0..last
        float mx = -std::numeric_limits<float>::infinity();
        // Evicted keys (KvCache::evict) stay out of the max and get probability exactly 0.
        if (evicting)
          for (int j = 0; j <= last; ++j)
            if (cache.evicted(l, g, j)) s[j] = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : mx)
        for (int j = 0; j <= last; ++j) mx = std::max(mx, s[j]);
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j <= last; ++j) {
          s[j] = fast_exp(s[j] - mx);
          sum += s[j];
        }
        if (evicting)
          for (int j = 0; j <= last; ++j)
            if (cache.evicted(l, g, j)) sum -= std::exchange(s[j], 0.0f);
        const float inv = 1.0f / sum;
        for (int j = 0; j <= last; ++j) s[j] *= inv;
        // Masked positions: zero up to Tb for the product below; a pattern row is zero beyond.
        for (int j = last + 1; j < Tb; ++j) s[j] = 0.0f;
      }
      if (rows == 1) {
        cblas_sgemv(CblasRowMajor, CblasTrans, Tb, D, 1.0f, Vv, D, S, 1, 0.0f, O, 1);
      } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, D, Tb, 1.0f, S, lds, Vv, D,
                    0.0f, O, qd);
      }
    }
    linear(x.data(), attn.data(), qd, w.wo, w.in_major, w.bo, n, qd, d, /*accumulate=*/true);

    // MLP.
    normalize(h.data(), x.data(), w.norm2_w, w.norm2_b, n, d, c.norm, c.norm_eps);
    linear(mid.data(), h.data(), d, w.w_in, w.in_major, w.b_in, n, d, mlp_w);
    if (c.mlp == MlpKind::SwiGlu) {
#pragma omp parallel for if (n > 8)
      for (int i = 0; i < n; ++i) {
        float* row = &mid[static_cast<size_t>(i) * mlp_w];
        // Gate in the first F columns, up in the next F; the product goes into the first F.
#pragma omp simd
        for (int j = 0; j < F; ++j) row[j] = silu(row[j]) * row[F + j];
      }
      // Down projection reads [n, F] rows with a stride of 2F.
      linear(x.data(), mid.data(), mlp_w, w.w_out, w.in_major, w.b_out, n, F, d,
             /*accumulate=*/true);
    } else {
#pragma omp parallel for if (n > 8)
      for (int i = 0; i < n; ++i) {
        float* row = &mid[static_cast<size_t>(i) * mlp_w];
#pragma omp simd
        for (int j = 0; j < F; ++j) row[j] = gelu_tanh(row[j]);
      }
      linear(x.data(), mid.data(), F, w.w_out, w.in_major, w.b_out, n, F, d, /*accumulate=*/true);
    }
    if (req.resid) res.resid[static_cast<size_t>(l)].assign(x.begin(), x.end());
  }
  cache.advance(n);

  // Final norm and LM head on the rows asked for.
  const int rows = req.all_logits ? n : 1;
  const float* xr = &x[static_cast<size_t>(n - rows) * d];
  std::vector<float> hf(static_cast<size_t>(rows) * d);
  normalize(hf.data(), xr, weights_.norm_f_w, weights_.norm_f_b, rows, d, c.norm, c.norm_eps);
  res.logits.resize(static_cast<size_t>(rows) * V);
  const Param& head = weights_.lm_head.empty() ? weights_.tok_emb : weights_.lm_head;
  linear(res.logits.data(), hf.data(), d, head, /*in_major=*/false, {}, rows, d, V);
  return res;
}

}  // namespace kvscope::model
