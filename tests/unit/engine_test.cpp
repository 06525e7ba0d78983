// Engine properties that need no reference: cached decoding equals a full recompute, and
// the cache holds what attention used.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kvscope/error.hpp"
#include "kvscope/model/attention_kernel.hpp"
#include "kvscope/model/model.hpp"

namespace kvscope::model {
namespace {

std::vector<float> randn(size_t n, std::mt19937& rng, float scale) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// A projection of one fp32 part [out, in] with an optional bias.
Linear dense(std::vector<float> w, std::vector<float> b, int64_t out, int64_t in) {
  Linear L;
  L.parts.push_back({Matrix::from_f32(std::move(w), out, in), std::move(b), 0, 0});
  L.in = in;
  L.out = out;
  return L;
}

Model random_model(const Config& c, unsigned seed) {
  std::mt19937 rng(seed);
  const size_t d = c.d_model, F = c.d_ff, V = c.vocab_size;
  const size_t qkv = static_cast<size_t>(c.n_head + 2 * c.n_kv_head) * c.head_dim;
  const size_t qd = static_cast<size_t>(c.n_head) * c.head_dim;
  const bool ln = c.norm == NormKind::LayerNorm;
  const size_t mlp_in = c.mlp == MlpKind::SwiGlu ? 2 * F : F;
  auto maybe = [&](bool on, size_t n) { return on ? randn(n, rng, 0.1f) : std::vector<float>{}; };
  Weights w;
  w.tok_emb = Matrix::from_f32(randn(V * d, rng, 0.5f), V, d);
  if (c.pos == PosKind::Learned)
    w.pos_emb = Matrix::from_f32(randn(static_cast<size_t>(c.n_ctx) * d, rng, 0.1f), c.n_ctx, d);
  for (int l = 0; l < c.n_layer; ++l) {
    LayerWeights lw;
    lw.norm1_w = randn(d, rng, 0.1f);
    for (float& x : lw.norm1_w) x += 1.0f;
    if (ln) lw.norm1_b = randn(d, rng, 0.1f);
    std::vector<float> wqkv = randn(qkv * d, rng, 0.3f);
    lw.qkv = dense(std::move(wqkv), maybe(c.qkv_bias, qkv), qkv, d);
    std::vector<float> wo = randn(d * qd, rng, 0.3f);
    lw.o = dense(std::move(wo), maybe(c.out_bias, d), d, qd);
    lw.norm2_w = randn(d, rng, 0.1f);
    for (float& x : lw.norm2_w) x += 1.0f;
    if (ln) lw.norm2_b = randn(d, rng, 0.1f);
    std::vector<float> win = randn(mlp_in * d, rng, 0.3f);
    lw.mlp_in = dense(std::move(win), maybe(c.mlp_bias, mlp_in), mlp_in, d);
    std::vector<float> wout = randn(d * F, rng, 0.3f);
    lw.mlp_out = dense(std::move(wout), maybe(c.mlp_bias, d), d, F);
    w.layers.push_back(std::move(lw));
  }
  w.norm_f_w = randn(d, rng, 0.1f);
  for (float& x : w.norm_f_w) x += 1.0f;
  if (ln) w.norm_f_b = randn(d, rng, 0.1f);
  Matrix head = c.tied_head ? w.tok_emb : Matrix::from_f32(randn(V * d, rng, 0.5f), V, d);
  w.lm_head.parts.push_back({head, {}, 0, 0});
  w.lm_head.in = d;
  w.lm_head.out = V;
  return Model(c, std::move(w));
}

Config gpt2_like() {
  Config c;
  c.family = Family::Gpt2;
  c.n_layer = 2, c.d_model = 32, c.n_head = 4, c.n_kv_head = 4, c.head_dim = 8, c.d_ff = 64;
  c.vocab_size = 50, c.n_ctx = 40;
  c.qkv_bias = c.out_bias = c.mlp_bias = true;
  c.tied_head = true;
  return c;
}

Config llama_like(RopePairing pairing) {
  Config c;
  c.family = Family::Llama;
  c.n_layer = 3, c.d_model = 32, c.n_head = 4, c.n_kv_head = 2, c.head_dim = 8, c.d_ff = 48;
  c.vocab_size = 60, c.n_ctx = 64;
  c.norm = NormKind::RmsNorm, c.mlp = MlpKind::SwiGlu, c.pos = PosKind::Rope,
  c.rope_pairing = pairing;
  c.norm_eps = 1e-6f;
  return c;
}

void expect_cached_decoding_matches_full_pass(const Model& m) {
  const std::vector<int32_t> toks = {3, 17, 9, 22, 5, 41, 0, 12, 30, 7, 19, 2};
  KvCache full = m.new_cache(4);  // small capacity on purpose: the cache must grow
  ForwardResult ref = m.forward(full, toks, {.all_logits = true});
  const int V = m.config().vocab_size;

  KvCache inc = m.new_cache(4, /*keep_pre_rope=*/true);
  const int prefix = 5;
  m.forward(inc, std::span(toks).first(prefix));
  for (size_t i = prefix; i < toks.size(); ++i) {
    ForwardResult step = m.forward(inc, std::span(toks).subspan(i, 1));
    for (int v = 0; v < V; ++v)
      ASSERT_NEAR(step.logits[static_cast<size_t>(v)], ref.logits[i * V + static_cast<size_t>(v)],
                  1e-4)
          << "position " << i << " vocab " << v;
  }
  ASSERT_EQ(inc.length(), static_cast<int>(toks.size()));
  for (int l = 0; l < m.config().n_layer; ++l)
    for (int g = 0; g < m.config().n_kv_head; ++g)
      for (int t = 0; t < inc.length(); ++t)
        for (int k = 0; k < m.config().head_dim; ++k) {
          ASSERT_NEAR(inc.k_row(l, g, t)[k], full.k_row(l, g, t)[k], 1e-5);
          ASSERT_NEAR(inc.v_row(l, g, t)[k], full.v_row(l, g, t)[k], 1e-5);
        }
}

TEST(Engine, CachedDecodingMatchesFullPassGpt2) {
  expect_cached_decoding_matches_full_pass(random_model(gpt2_like(), 1));
}

TEST(Engine, CachedDecodingMatchesFullPassLlamaGqa) {
  expect_cached_decoding_matches_full_pass(random_model(llama_like(RopePairing::Halves), 2));
  expect_cached_decoding_matches_full_pass(random_model(llama_like(RopePairing::Interleaved), 3));
}

TEST(Engine, AttentionRowsAreCausalDistributions) {
  Model m = random_model(llama_like(RopePairing::Halves), 4);
  KvCache cache = m.new_cache(8);
  const std::vector<int32_t> toks = {1, 2, 3, 4, 5, 6};
  ForwardResult r = m.forward(cache, toks, {.attention = true});
  const int n = 6, H = m.config().n_head;
  ASSERT_EQ(r.patterns.size(), 3u);
  for (const auto& p : r.patterns) {
    ASSERT_EQ(p.size(), static_cast<size_t>(H * n * n));
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < n; ++i) {
        double sum = 0;
        for (int j = 0; j < n; ++j) {
          const float v = p[static_cast<size_t>((h * n + i) * n + j)];
          if (j > i) {
            EXPECT_EQ(v, 0.0f);
          }
          sum += v;
        }
        EXPECT_NEAR(sum, 1.0, 1e-5);
      }
  }
  // The first query can only see itself.
  EXPECT_FLOAT_EQ(r.patterns[0][0], 1.0f);
}

TEST(Engine, SlidingWindowLayersAttendOnlyInsideTheirWindow) {
  // Layer 1 slides with a window of 3: a query at p sees p-2..p; the others see everything.
  Config c = llama_like(RopePairing::Halves);
  c.layer_specs = {LayerSpec{}, LayerSpec{3}, LayerSpec{}};
  const Model m = random_model(c, 9);
  KvCache cache = m.new_cache(4);
  const std::vector<int32_t> toks = {4, 8, 15, 16, 23, 42, 7, 1};
  const int n = 8, H = c.n_head;
  const ForwardResult r = m.forward(cache, toks, {.attention = true});
  for (int l = 0; l < c.n_layer; ++l)
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < n; ++i) {
        double sum = 0.0;
        for (int j = 0; j < n; ++j) {
          const float v =
              r.patterns[static_cast<size_t>(l)][static_cast<size_t>((h * n + i) * n + j)];
          const bool visible = j <= i && (l != 1 || j > i - 3);
          if (visible) {
            ASSERT_GT(v, 0.0f) << "layer " << l << " query " << i << " key " << j;
          } else {
            ASSERT_EQ(v, 0.0f) << "layer " << l << " query " << i << " key " << j;
          }
          sum += v;
        }
        ASSERT_NEAR(sum, 1.0, 1e-5);
      }
  // Decoding one token at a time far past the window equals the full pass.
  expect_cached_decoding_matches_full_pass(m);
}

TEST(Engine, WindowAtLeastTheSequenceChangesNothing) {
  Config c = llama_like(RopePairing::Halves);
  const Model plain = random_model(c, 10);
  c.layer_specs.assign(3, LayerSpec{12});
  const Model wide = random_model(c, 10);  // same seed: same weights
  c.layer_specs.assign(3, LayerSpec{2});
  const Model narrow = random_model(c, 10);
  const std::vector<int32_t> toks = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8};
  KvCache a = plain.new_cache(12), b = wide.new_cache(12), d = narrow.new_cache(12);
  const ForwardResult ra = plain.forward(a, toks), rb = wide.forward(b, toks),
                      rd = narrow.forward(d, toks);
  double diff = 0.0;
  for (size_t i = 0; i < ra.logits.size(); ++i) {
    ASSERT_EQ(ra.logits[i], rb.logits[i]) << i;
    diff = std::max(diff, static_cast<double>(std::fabs(ra.logits[i] - rd.logits[i])));
  }
  EXPECT_GT(diff, 1e-3);  // a window that cuts does change the output
}

TEST(Engine, AttentionKernelAndSgemmGiveTheSameForward) {
  // Q K^T from our kernel or from sgemm: the same patterns and logits, for a prompt of
  // several query blocks (64 rows each) run after a cached prefix, so that blocks start at
  // p0 > 0 and end in a partial block.
  if (!attention::kernel_available()) GTEST_SKIP() << "this CPU has no AVX2/FMA";
  Config c = llama_like(RopePairing::Halves);
  c.n_ctx = 200, c.head_dim = 12, c.d_model = 48;
  const Model m = random_model(c, 8);
  std::vector<int32_t> prefix(11), prompt(150);
  for (size_t i = 0; i < prefix.size(); ++i) prefix[i] = static_cast<int32_t>((i * 7) % 60);
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>((i * 13 + 5) % 60);
  auto run = [&](bool kernel) {
    attention::set_kernel_enabled(kernel);
    KvCache cache = m.new_cache(8);
    m.forward(cache, prefix);
    ForwardResult r = m.forward(cache, prompt, {.all_logits = true, .attention = true});
    attention::set_kernel_enabled(true);
    return r;
  };
  const ForwardResult a = run(true), b = run(false);
  ASSERT_EQ(a.patterns.size(), b.patterns.size());
  for (size_t l = 0; l < a.patterns.size(); ++l) {
    ASSERT_EQ(a.patterns[l].size(), b.patterns[l].size());
    for (size_t i = 0; i < a.patterns[l].size(); ++i)
      ASSERT_NEAR(a.patterns[l][i], b.patterns[l][i], 1e-5) << "layer " << l << " entry " << i;
  }
  ASSERT_EQ(a.logits.size(), b.logits.size());
  for (size_t i = 0; i < a.logits.size(); ++i) ASSERT_NEAR(a.logits[i], b.logits[i], 1e-4) << i;
}

TEST(Engine, PreRopeKeysRotateIntoCachedKeys) {
  // Position 0 has angle 0: keys before and after RoPE are equal there and differ later.
  Model m = random_model(llama_like(RopePairing::Halves), 5);
  KvCache cache = m.new_cache(8, true);
  const std::vector<int32_t> toks = {10, 11, 12};
  m.forward(cache, toks);
  for (int k = 0; k < 8; ++k) EXPECT_FLOAT_EQ(cache.k_row(0, 1, 0)[k], cache.k_pre_row(0, 1, 0)[k]);
  // Rotation preserves each pair's norm: (x_i, x_{i+D/2}).
  for (int i = 0; i < 4; ++i) {
    const float* a = cache.k_pre_row(1, 0, 2);
    const float* b = cache.k_row(1, 0, 2);
    EXPECT_NEAR(std::hypot(a[i], a[i + 4]), std::hypot(b[i], b[i + 4]), 1e-5);
  }
  EXPECT_GT(std::fabs(cache.k_row(1, 0, 2)[0] - cache.k_pre_row(1, 0, 2)[0]), 1e-6);
}

TEST(Engine, RejectsTokensOutsideVocabAndContext) {
  Model m = random_model(gpt2_like(), 6);
  KvCache cache = m.new_cache(8);
  std::vector<int32_t> bad = {1, 50};
  EXPECT_THROW(m.forward(cache, bad), BadInput);
  std::vector<int32_t> too_long(41, 1);
  KvCache c2 = m.new_cache(8);
  EXPECT_THROW(m.forward(c2, too_long), BadInput);
}

TEST(Engine, Llama3ScalingSlowsOnlyLongWavelengths) {
  Config c = llama_like(RopePairing::Halves);
  c.rope_theta = 10000.0f;
  Model plain = random_model(c, 7);
  c.rope_scaling.llama3 = true;
  c.rope_scaling.factor = 8.0f;
  c.rope_scaling.low_freq_factor = 1.0f;
  c.rope_scaling.high_freq_factor = 4.0f;
  c.rope_scaling.original_max_position = 16;
  Model scaled = random_model(c, 7);
  const auto& a = plain.rope_inv_freq();
  const auto& b = scaled.rope_inv_freq();
  // D = 8: frequencies 1, 0.1, 0.01, 0.001 -> wavelengths 6.3, 63, 628, 6283.
  // high wavelength = 16/4 = 4, low = 16: all four are >= 4; 6.3 is in the smooth band.
  EXPECT_FLOAT_EQ(b[3], a[3] / 8.0f);
  EXPECT_FLOAT_EQ(b[1], a[1] / 8.0f);
  const float smooth = (16.0f / (2.0f * 3.14159265f / a[0]) - 1.0f) / 3.0f;
  EXPECT_NEAR(b[0], (1 - smooth) * a[0] / 8 + smooth * a[0], 1e-5);
}

}  // namespace
}  // namespace kvscope::model
