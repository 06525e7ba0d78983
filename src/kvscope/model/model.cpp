#include "kvscope/model/model.hpp"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <array>
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

// Puts each head's D outputs of llama.cpp's GGUF q/k order (rows 2i, 2i+1 of a head rotate
// together) back into Hugging Face's order (i, i + D/2), for n rows `ld` apart.
void unpermute_heads(float* y, int64_t ld, int n, int heads, int64_t D) {
  const int64_t half = D / 2;
#pragma omp parallel for if (n > 8)
  for (int i = 0; i < n; ++i) {
    float tmp[4096];  // validate_config caps head_dim at 4096
    for (int h = 0; h < heads; ++h) {
      float* v = y + i * ld + h * D;
      for (int64_t k = 0; k < half; ++k) {
        tmp[k] = v[2 * k];
        tmp[k + half] = v[2 * k + 1];
      }
      std::memcpy(v, tmp, sizeof(float) * static_cast<size_t>(D));
    }
  }
}

// y[n, L.out] (+)= x[n, L.in] W^T + b, rows of x `ldx` apart and of y `ldy` apart; each part of
// the projection writes its own columns.
void linear(float* y, int64_t ldy, const float* x, int64_t ldx, int n, const Linear& L,
            bool accumulate = false) {
  std::array<MatmulTarget, 4> targets;
  size_t nt = 0;
  for (const LinearPart& p : L.parts) {
    float* yp = y + p.offset;
    const int64_t width = L.in_major ? p.w.cols() : p.w.rows();
    // The bias goes in first and the product is accumulated onto it: OpenBLAS makes a pass
    // over y for any beta other than 1, so this saves one pass over the output.
    if (!p.b.empty()) {
#pragma omp parallel for if (int64_t{n} * width > 65536)
      for (int i = 0; i < n; ++i) {
        float* row = yp + i * ldy;
        if (accumulate)
          for (int64_t j = 0; j < width; ++j) row[j] += p.b[static_cast<size_t>(j)];
        else
          std::memcpy(row, p.b.data(), sizeof(float) * static_cast<size_t>(width));
      }
    }
    const bool acc = accumulate || !p.b.empty();
    if (L.in_major)
      matmul_in_major(yp, ldy, x, ldx, n, p.w, acc);
    else if (nt < targets.size())
      targets[nt++] = {&p.w, yp, ldy, acc};
    else
      matmul(yp, ldy, x, ldx, n, p.w, acc);
  }
  matmul_parts(std::span(targets.data(), nt), x, ldx, n);
  for (const LinearPart& p : L.parts)
    if (p.gguf_rope_heads > 0)
      unpermute_heads(y + p.offset, ldy, n, p.gguf_rope_heads, p.w.rows() / p.gguf_rope_heads);
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

// Inverse frequencies of the RoPE a layer with `spec` uses.
std::vector<float> rope_frequencies(const Config& c, const LayerSpec& spec,
                                    const std::vector<float>& freq_factors) {
  const int half = c.head_dim / 2;
  const float theta = spec.rope_theta > 0.0f ? spec.rope_theta : c.rope_theta;
  std::vector<float> inv(static_cast<size_t>(half));
  for (int i = 0; i < half; ++i)
    inv[static_cast<size_t>(i)] =
        1.0f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(c.head_dim));
  if (spec.rope_linear && c.rope_linear_factor != 1.0f)
    for (float& f : inv) f /= c.rope_linear_factor;
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
  if (config_.pos != PosKind::Rope) return;
  // One set of frequencies per distinct layer RoPE (Gemma 3: global and sliding layers).
  const LayerSpec global{};
  inv_freqs_.push_back(rope_frequencies(config_, global, weights_.rope_freq_factors));
  layer_rope_.assign(static_cast<size_t>(config_.n_layer), 0);
  for (int l = 0; l < config_.n_layer; ++l) {
    const LayerSpec s = config_.layer(l);
    if (s.rope_theta == 0.0f && s.rope_linear) continue;
    std::vector<float> f = rope_frequencies(config_, s, weights_.rope_freq_factors);
    const auto it = std::find(inv_freqs_.begin(), inv_freqs_.end(), f);
    layer_rope_[static_cast<size_t>(l)] = static_cast<int>(it - inv_freqs_.begin());
    if (it == inv_freqs_.end()) inv_freqs_.push_back(std::move(f));
  }
}

KvCache Model::new_cache(int capacity, bool keep_pre_rope) const {
  return KvCache(config_.n_layer, config_.n_kv_head, config_.head_dim, std::max(capacity, 1),
                 keep_pre_rope);
}

namespace {

// One forward call: n new tokens at positions p0 .. p0+n-1 over a cache that then holds T.
// Each stage is a function over the run state's buffers, with shapes in its comment.
struct Pass {
  const Config& c;
  const Weights& w;
  const std::vector<std::vector<float>>& inv_freqs;  // [variants][D / 2]
  const std::vector<int>& layer_rope;                // [n_layer] variant of each layer
  KvCache& cache;
  RunState& rs;
  const ForwardRequest& req;
  ForwardResult& res;
  int n, p0, T;
  int d = c.d_model, H = c.n_head, G = c.n_kv_head, D = c.head_dim;
  int qd = H * D, kd = G * D, qkv_w = qd + 2 * kd;
  int F = c.d_ff, mlp_w = gated_mlp(c.mlp) ? 2 * F : F;
  size_t n_rope = inv_freqs.size();
  size_t zn = static_cast<size_t>(n);  // n as a size, for row offsets

  // Scratch for this call, grown (never shrunk) in the run state.
  void prepare() {
    auto fit = [](std::vector<float>& v, size_t size) {
      if (v.size() < size) v.resize(size);
    };
    fit(rs.x, zn * d);
    fit(rs.h, zn * d);
    fit(rs.qkv, zn * qkv_w);
    fit(rs.attn, zn * qd);
    fit(rs.mid, zn * mlp_w);
    if (c.pos == PosKind::Rope) {
      fit(rs.cos, n_rope * zn * (D / 2));
      fit(rs.sin, n_rope * zn * (D / 2));
    }
    rs.scores.resize(static_cast<size_t>(omp_get_max_threads()));
  }

  // x[n, d] = token embeddings (* embed_scale) (+ learned positions).
  void embed(std::span<const int32_t> tokens) {
    std::vector<float> pos(c.pos == PosKind::Learned ? static_cast<size_t>(d) : 0);
    for (int i = 0; i < n; ++i) {
      float* xi = &rs.x[i * static_cast<size_t>(d)];
      w.tok_emb.dequantize_rows(tokens[static_cast<size_t>(i)], 1, xi);
      if (w.embed_scale != 0.0f)
        for (int j = 0; j < d; ++j) xi[j] *= w.embed_scale;
      if (c.pos == PosKind::Learned) {
        w.pos_emb.dequantize_rows(p0 + i, 1, pos.data());
        for (int j = 0; j < d; ++j) xi[j] += pos[static_cast<size_t>(j)];
      }
    }
  }

  // cos, sin [variants, n, D/2]: RoPE angles of the new positions for each layer RoPE,
  // position * frequency in fp32 as transformers computes them.
  void rope_angles() {
    const int half = D / 2;
    for (size_t v = 0; v < n_rope; ++v)
      for (int i = 0; i < n; ++i)
        for (int k = 0; k < half; ++k) {
          const float a = static_cast<float>(p0 + i) * inv_freqs[v][static_cast<size_t>(k)];
          const size_t at = (v * zn + static_cast<size_t>(i)) * half + k;
          rs.cos[at] = std::cos(a);
          rs.sin[at] = std::sin(a);
        }
  }

  // qkv[n, H D + 2 G D] -> (per-head q/k norm) -> RoPE on q and k; k (before and after RoPE)
  // and v into the cache.
  void write_kv(int l) {
    const int half = D / 2;
    const LayerWeights& lw = w.layers[static_cast<size_t>(l)];
    if (c.qk_norm) {
      // Each head of q and k is a row of D: H rows from the start of a token's row, G after.
      static const std::vector<float> no_bias;
#pragma omp parallel for if (n > 8)
      for (int i = 0; i < n; ++i) {
        float* row = &rs.qkv[static_cast<size_t>(i) * qkv_w];
        normalize(row, row, lw.q_norm_w, no_bias, H, D, NormKind::RmsNorm, c.norm_eps);
        normalize(row + qd, row + qd, lw.k_norm_w, no_bias, G, D, NormKind::RmsNorm, c.norm_eps);
      }
    }
    const size_t rope_at = c.pos == PosKind::Rope
                               ? static_cast<size_t>(layer_rope[static_cast<size_t>(l)]) * zn * half
                               : 0;
#pragma omp parallel for if (n > 8)
    for (int i = 0; i < n; ++i) {
      float* row = &rs.qkv[static_cast<size_t>(i) * qkv_w];
      const float* cs =
          c.pos == PosKind::Rope ? &rs.cos[rope_at + static_cast<size_t>(i) * half] : nullptr;
      const float* sn =
          c.pos == PosKind::Rope ? &rs.sin[rope_at + static_cast<size_t>(i) * half] : nullptr;
      for (int g = 0; g < G; ++g) {
        float* k = row + qd + g * D;
        if (cache.keeps_pre_rope())
          std::memcpy(cache.k_pre_row(l, g, p0 + i), k, sizeof(float) * D);
        if (cs) rope_rotate(k, cs, sn, D, c.rope_pairing);
        std::memcpy(cache.k_row(l, g, p0 + i), k, sizeof(float) * D);
        std::memcpy(cache.v_row(l, g, p0 + i), row + qd + kd + g * D, sizeof(float) * D);
      }
      if (cs)
        for (int hh = 0; hh < H; ++hh) rope_rotate(row + hh * D, cs, sn, D, c.rope_pairing);
    }
  }

  // attn[n, H D] = softmax(q K^T / sqrt(D), causal and windowed) V over the T cached
  // positions, one (query head, block of query rows) per task. A block of rows i0..i1-1 only
  // sees keys 0..p0+i1-1, so causal work is about halved and the block's scores S[rows, Tb]
  // stay in cache. On a sliding layer the block also starts at the first key its first row's
  // window reaches (kb, a whole panel), so the work grows linearly with T there. Patterns
  // [H, n, T] are written when asked for; otherwise the observer sees each row right after
  // its softmax.
  void attention(int l, bool own_kernel) {
    const float scale =
        c.attn_scale > 0.0f ? c.attn_scale : 1.0f / std::sqrt(static_cast<float>(D));
    const int group = H / G;
    const int window = c.layer(l).window;
    const bool evicting = cache.has_evictions(l);
    if (own_kernel) {
      rs.packed_keys.resize(static_cast<size_t>(G));
#pragma omp parallel for if (int64_t{T} * kd > (1 << 16))
      for (int g = 0; g < G; ++g)
        attention::pack_keys(cache.k_row(l, g, 0), T, D, rs.packed_keys[static_cast<size_t>(g)]);
    }
    if (req.attention)
      res.patterns[static_cast<size_t>(l)].assign(static_cast<size_t>(H) * n * T, 0.0f);
    const int n_blocks = (n + kQueryBlock - 1) / kQueryBlock;
#pragma omp parallel for schedule(dynamic) if (int64_t{n} * T * D * H > (1 << 16))
    for (int task = 0; task < H * n_blocks; ++task) {
      // Largest blocks first, for a better balance between threads.
      const int blk = n_blocks - 1 - task / H, hh = task % H;
      const int i0 = blk * kQueryBlock, rows = std::min(n, i0 + kQueryBlock) - i0;
      const int Tb = p0 + i0 + rows;
      // Keys kb..Tb-1 are scored. Captured pattern rows hold every key (kb = 0, rows T apart);
      // otherwise the scores go into this thread's scratch (rows Tb - kb apart).
      int kb = 0;
      if (window > 0 && !req.attention)
        kb = std::max(0, p0 + i0 - window + 1) / attention::kPanel * attention::kPanel;
      const int Tk = Tb - kb;
      float* S;
      int lds;
      if (req.attention) {
        S = &res.patterns[static_cast<size_t>(l)][(static_cast<size_t>(hh) * n + i0) * T];
        lds = T;
      } else {
        std::vector<float>& scratch = rs.scores[static_cast<size_t>(omp_get_thread_num())];
        if (scratch.size() < static_cast<size_t>(rows) * Tk)
          scratch.resize(static_cast<size_t>(rows) * Tk);
        S = scratch.data();
        lds = Tk;
      }
      const int g = hh / group;
      const float* K = cache.k_row(l, g, kb);
      const float* Vv = cache.v_row(l, g, kb);
      const float* Q = &rs.qkv[static_cast<size_t>(i0) * qkv_w + static_cast<size_t>(hh) * D];
      float* O = &rs.attn[static_cast<size_t>(i0) * qd + static_cast<size_t>(hh) * D];
      if (rows == 1) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Tk, D, scale, K, D, Q, 1, 0.0f, S, 1);
      } else if (own_kernel) {
        const float* panels = rs.packed_keys[static_cast<size_t>(g)].data() +
                              static_cast<size_t>(kb) * static_cast<size_t>(D);
        attention::scores(Q, qkv_w, rows, panels, D, Tk, p0 + i0 - kb, scale, S, lds);
      } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, Tk, D, scale, Q, qkv_w, K, D,
                    0.0f, S, lds);
      }
      for (int r = 0; r < rows; ++r) {
        const int last = p0 + i0 + r;  // attends to positions first..last
        const int first = window > 0 ? std::max(0, last - window + 1) : 0;
        float* row = S + static_cast<size_t>(r) * lds;
        float entropy;
        if (evicting)
          entropy = softmax_row(row, first - kb, last - kb, Tk,
                                [&](int j) { return cache.evicted(l, g, kb + j); });
        else
          entropy = softmax_row(row, first - kb, last - kb, Tk, [](int) { return false; });
        if (req.observer)
          req.observer->observe({l, hh, last, 1, row, lds, &entropy, kb}, omp_get_thread_num());
      }
      if (rows == 1) {
        cblas_sgemv(CblasRowMajor, CblasTrans, Tk, D, 1.0f, Vv, D, S, 1, 0.0f, O, 1);
      } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, D, Tk, 1.0f, S, lds, Vv, D,
                    0.0f, O, qd);
      }
    }
  }

  // s[first..last] = softmax of themselves; everything else up to Tb is zero (masked: zero for
  // the product with V, and a pattern row is zero there). Keys the compression lab evicted
  // (KvCache::evict) stay out of the max and the sum and get probability exactly 0. Returns
  // the row's entropy: with x = s - max, e = exp(x) and Z = sum e, -sum p log p is
  // log Z - sum(e x) / Z, one multiply-add per key beside the exponential.
  template <class Evicted>
  static float softmax_row(float* s, int first, int last, int Tb, Evicted&& evicted) {
    bool any_evicted = false;
    for (int j = first; j <= last; ++j)
      if (evicted(j)) {
        s[j] = -std::numeric_limits<float>::infinity();
        any_evicted = true;
      }
    float mx = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : mx)
    for (int j = first; j <= last; ++j) mx = std::max(mx, s[j]);
    float sum = 0.0f, sum_ex = 0.0f;
#pragma omp simd reduction(+ : sum, sum_ex)
    for (int j = first; j <= last; ++j) {
      const float x = std::max(s[j] - mx, -87.0f);  // as fast_exp clamps; -inf stays finite
      s[j] = fast_exp(x);
      sum += s[j];
      sum_ex += s[j] * x;
    }
    if (any_evicted)
      for (int j = first; j <= last; ++j)
        if (evicted(j)) {  // fast_exp(-87) is tiny, not 0
          sum -= s[j];
          sum_ex -= s[j] * -87.0f;
          s[j] = 0.0f;
        }
    const float inv = 1.0f / sum;
    for (int j = first; j <= last; ++j) s[j] *= inv;
    for (int j = 0; j < first; ++j) s[j] = 0.0f;
    for (int j = last + 1; j < Tb; ++j) s[j] = 0.0f;
    return std::log(sum) - sum_ex * inv;
  }

  // x[n, d] += attention(norm1(x)) W_o^T (+ b_o).
  void attention_block(int l, bool own_kernel) {
    const LayerWeights& lw = w.layers[static_cast<size_t>(l)];
    normalize(rs.h.data(), rs.x.data(), lw.norm1_w, lw.norm1_b, n, d, c.norm, c.norm_eps);
    linear(rs.qkv.data(), qkv_w, rs.h.data(), d, n, lw.qkv);
    write_kv(l);
    attention(l, own_kernel);
    if (c.post_norms) {
      linear(rs.h.data(), d, rs.attn.data(), qd, n, lw.o);
      add_normalized(lw.post_attn_norm_w);
    } else {
      linear(rs.x.data(), d, rs.attn.data(), qd, n, lw.o, /*accumulate=*/true);
    }
  }

  // x[n, d] += norm(h[n, d]) with RMSNorm weights `nw` (Gemma's post norms).
  void add_normalized(const std::vector<float>& nw) {
    static const std::vector<float> no_bias;
    normalize(rs.h.data(), rs.h.data(), nw, no_bias, n, d, NormKind::RmsNorm, c.norm_eps);
#pragma omp parallel for if (n > 8)
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < d; ++j)
        rs.x[static_cast<size_t>(i) * d + j] += rs.h[static_cast<size_t>(i) * d + j];
  }

  // x[n, d] += mlp(norm2(x)): GELU: up -> gelu -> down; SwiGLU: (silu(gate) * up) -> down.
  void mlp_block(int l) {
    const LayerWeights& lw = w.layers[static_cast<size_t>(l)];
    normalize(rs.h.data(), rs.x.data(), lw.norm2_w, lw.norm2_b, n, d, c.norm, c.norm_eps);
    linear(rs.mid.data(), mlp_w, rs.h.data(), d, n, lw.mlp_in);
    const MlpKind kind = c.mlp;
#pragma omp parallel for if (n > 8)
    for (int i = 0; i < n; ++i) {
      // SwiGLU: gate in the first F columns, up in the next F; the product goes into the first F.
      float* row = &rs.mid[static_cast<size_t>(i) * mlp_w];
      if (kind == MlpKind::SwiGlu) {
#pragma omp simd
        for (int j = 0; j < F; ++j) row[j] = silu(row[j]) * row[F + j];
      } else if (kind == MlpKind::GeGlu) {
#pragma omp simd
        for (int j = 0; j < F; ++j) row[j] = gelu_tanh(row[j]) * row[F + j];
      } else {
#pragma omp simd
        for (int j = 0; j < F; ++j) row[j] = gelu_tanh(row[j]);
      }
    }
    // The down projection reads [n, F] rows with a stride of mlp_w.
    if (c.post_norms) {
      linear(rs.h.data(), d, rs.mid.data(), mlp_w, n, lw.mlp_out);
      add_normalized(lw.post_mlp_norm_w);
    } else {
      linear(rs.x.data(), d, rs.mid.data(), mlp_w, n, lw.mlp_out, /*accumulate=*/true);
    }
  }

  // logits[rows, V] = norm_f(x[last rows]) W_head^T.
  void head(int rows) {
    const float* xr = &rs.x[static_cast<size_t>(n - rows) * d];
    normalize(rs.h.data(), xr, w.norm_f_w, w.norm_f_b, rows, d, c.norm, c.norm_eps);
    res.logits.resize(static_cast<size_t>(rows) * c.vocab_size);
    linear(res.logits.data(), c.vocab_size, rs.h.data(), d, rows, w.lm_head);
    if (c.final_logit_softcap > 0.0f) {
      const float cap = c.final_logit_softcap;
      for (float& z : res.logits) z = std::tanh(z / cap) * cap;
    }
  }
};

}  // namespace

ForwardResult Model::forward(KvCache& cache, std::span<const int32_t> tokens,
                             const ForwardRequest& req) const {
  const Config& c = config_;
  const int n = static_cast<int>(tokens.size());
  const int p0 = cache.length();
  if (n == 0) throw BadInput("forward: no tokens to run");
  if (p0 + n > c.n_ctx)
    throw BadInput(
        fmt::format("{} tokens exceed the model's context length of {}", p0 + n, c.n_ctx));
  for (const int32_t t : tokens)
    if (t < 0 || t >= c.vocab_size)
      throw BadInput(
          fmt::format("token id {} is outside the vocabulary (size {})", t, c.vocab_size));
  cache.reserve_more(n);

  ForwardResult res;
  Pass pass{c,   weights_, inv_freqs_, layer_rope_, cache, cache.run_state(),
            req, res,      n,          p0,          p0 + n};
  pass.prepare();
  pass.embed(tokens);
  if (c.pos == PosKind::Rope) pass.rope_angles();
  if (req.attention) res.patterns.resize(static_cast<size_t>(c.n_layer));
  if (req.resid) res.resid.resize(static_cast<size_t>(c.n_layer));
  // Blocks of more than one query row take Q K^T from our kernel, which reads each KV head's
  // keys packed once per layer (see attention_kernel.hpp); single rows go through sgemv.
  const bool own_kernel = n > 1 && attention::kernel_enabled();
  for (int l = 0; l < c.n_layer; ++l) {
    pass.attention_block(l, own_kernel);
    if (req.observer) req.observer->layer_done(l);
    pass.mlp_block(l);
    if (req.resid)
      res.resid[static_cast<size_t>(l)].assign(
          pass.rs.x.begin(), pass.rs.x.begin() + static_cast<ptrdiff_t>(n) * c.d_model);
  }
  cache.advance(n);
  pass.head(req.all_logits ? n : 1);
  return res;
}

}  // namespace kvscope::model
