// engine_bench: how fast the engine runs a model, and how close that is to what the machine's
// sgemm could do. Prints figures; it is not a test and asserts nothing.
//
//   engine_bench --model DIR_OR_GGUF [--lengths 128,512,1024] [--decode-steps 32] [--repeats 3]
//                [--json] [--profile]
//
// For each prompt length L it reports
//   prefill tok/s  one forward over L random token ids into a fresh cache, best of `repeats`
//                  after one warm-up run;
//   decode tok/s   after a prefill of L tokens, `decode-steps` single-token forwards with the
//                  cache, mean;
//   sgemm GFLOP/s  cblas_sgemm on the model's own projection shapes [L x in] x [in x out]
//                  (same transposition as the engine), best of several, and on GPT-2-small
//                  shapes for comparison between models;
//   FLOPs          2 x non-embedding parameters x L (the projections), and separately causal
//                  attention 4 x L^2 x (H * D) x n_layer / 2 (QK^T and PV, lower triangle);
//   implied time   the projection FLOPs at the measured sgemm rate of the model's shapes, plus
//                  the attention FLOPs at the same rate; and our prefill time over it.
//
// --profile adds, per length, prefill time by phase (norms, each GEMM, softmax, activation, ...)
// from an instrumented copy of the forward pass.
//
// Threads: OMP_NUM_THREADS (OpenBLAS here is the OpenMP build, so it follows the same count).
//
// Letters: L = prompt tokens, d = d_model, H = n_head, G = n_kv_head, D = head_dim, F = d_ff.

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <limits>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kvscope/error.hpp"
#include "kvscope/io/gguf.hpp"
#include "kvscope/io/json_file.hpp"
#include "kvscope/io/safetensors.hpp"
#include "kvscope/model/config.hpp"
#include "kvscope/model/model.hpp"
#include "kvscope/model/weights.hpp"

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;
using kvscope::model::Model;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Options {
  std::string model;
  std::vector<int> lengths{128, 512, 1024};
  int decode_steps = 32;
  int repeats = 3;
  bool json = false;
  bool profile = false;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "engine_bench: %s\n"
               "usage: engine_bench --model DIR_OR_GGUF [--lengths 128,512,1024] "
               "[--decode-steps 32] [--repeats 3] [--json] [--profile]\n",
               why.c_str());
  std::exit(2);
}

int parse_positive(const std::string& s, const std::string& what) {
  try {
    size_t used = 0;
    const int v = std::stoi(s, &used);
    if (used == s.size() && v > 0) return v;
  } catch (const std::exception&) {
  }
  usage(fmt::format("{}: expected a positive integer, got '{}'", what, s));
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--model") {
      o.model = value();
    } else if (a == "--lengths") {
      o.lengths.clear();
      std::stringstream ss(value());
      for (std::string part; std::getline(ss, part, ',');)
        o.lengths.push_back(parse_positive(part, "--lengths"));
      if (o.lengths.empty()) usage("--lengths: no lengths given");
    } else if (a == "--decode-steps") {
      o.decode_steps = parse_positive(value(), a);
    } else if (a == "--repeats") {
      o.repeats = parse_positive(value(), a);
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--profile") {
      o.profile = true;
    } else if (a == "--help" || a == "-h") {
      usage("measures prefill and decode speed against the machine's sgemm rate");
    } else {
      usage("unknown argument '" + a + "'");
    }
  }
  if (o.model.empty()) usage("--model is required");
  return o;
}

// A Hugging Face folder (config.json + safetensors) or a GGUF file; no tokenizer needed.
Model load(const std::string& path) {
  if (fs::is_directory(path)) {
    const std::string config_path = (fs::path(path) / "config.json").string();
    kvscope::model::Config c =
        kvscope::model::config_from_hf_json(kvscope::io::read_json_file(config_path), config_path);
    kvscope::io::SafetensorsSet set(path);
    kvscope::model::TensorSource src{[&set](std::string_view n) { return set.find(n); }, path};
    auto w = kvscope::model::load_weights(c, src, kvscope::model::WeightNaming::HuggingFace);
    return Model(std::move(c), std::move(w));
  }
  kvscope::io::GgufFile g(path);
  kvscope::model::Config c = kvscope::model::config_from_gguf(g);
  kvscope::model::TensorSource src{[&g](std::string_view n) { return g.find(n); }, path};
  auto w = kvscope::model::load_weights(c, src, kvscope::model::WeightNaming::Gguf);
  return Model(std::move(c), std::move(w));
}

// Parameters the projections and norms use: everything but the token and position
// embeddings and the LM head (which prefill applies to one row only).
int64_t non_embedding_params(const kvscope::model::Weights& w) {
  int64_t n = 0;
  for (const auto& l : w.layers)
    for (const std::vector<float>* v :
         {&l.norm1_w, &l.norm1_b, &l.wqkv, &l.bqkv, &l.wo, &l.bo, &l.norm2_w, &l.norm2_b, &l.w_in,
          &l.b_in, &l.w_out, &l.b_out})
      n += static_cast<int64_t>(v->size());
  return n + static_cast<int64_t>(w.norm_f_w.size() + w.norm_f_b.size());
}

// One projection y[L, out] = x[L, in] W[out, in]^T, as the engine calls it.
struct GemmShape {
  const char* name;
  int in, out;
};

// Best GFLOP/s of cblas_sgemm for [rows x in] x [in x out] over `reps` runs after a warm-up.
double sgemm_gflops(int rows, int in, int out, int reps) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(rows) * in), w(static_cast<size_t>(out) * in),
      y(static_cast<size_t>(rows) * out);
  for (float& v : x) v = u(rng);
  for (float& v : w) v = u(rng);
  double best = 1e30;
  for (int r = 0; r <= reps; ++r) {
    const auto t0 = Clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in, 1.0f, x.data(), in,
                w.data(), in, 0.0f, y.data(), out);
    const double t = seconds_since(t0);
    if (r > 0) best = std::min(best, t);
  }
  return 2.0 * rows * in * out / best / 1e9;
}

// Seconds the shapes take together at their measured rates (each shape once).
struct GemmRate {
  double gflops = 0;   // combined: total FLOPs / total time
  double seconds = 0;  // time for one pass over the shapes
  std::vector<double> per_shape;
};

GemmRate measure(const std::vector<GemmShape>& shapes, int rows, int reps) {
  GemmRate r;
  double flops = 0;
  for (const GemmShape& s : shapes) {
    const double g = sgemm_gflops(rows, s.in, s.out, reps);
    const double f = 2.0 * rows * s.in * s.out;
    r.per_shape.push_back(g);
    flops += f;
    r.seconds += f / (g * 1e9);
  }
  r.gflops = flops / r.seconds / 1e9;
  return r;
}

// Decode's projections are one-row products. Seconds (best of `reps`) for y[1, out] =
// x[1, in] W[out, in]^T as the engine calls it (cblas_sgemm, M = 1) and as a matrix-vector
// product (cblas_sgemv), on distinct weights per repeat so they come from memory as in decode.
std::pair<double, double> one_row_seconds(int in, int out, int reps) {
  const size_t wn = static_cast<size_t>(in) * out;
  const int copies = std::max(1, static_cast<int>(std::min<size_t>(8, (512u << 20) / (wn * 4))));
  std::vector<float> w(wn * static_cast<size_t>(copies), 0.01f), x(static_cast<size_t>(in), 0.5f),
      y(static_cast<size_t>(out));
  double gemm = 1e30, gemv = 1e30;
  for (int r = 0; r <= reps; ++r) {
    const float* W = &w[wn * static_cast<size_t>(r % copies)];
    auto t0 = Clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, 1, out, in, 1.0f, x.data(), in, W, in,
                0.0f, y.data(), out);
    if (r > 0) gemm = std::min(gemm, seconds_since(t0));
    W = &w[wn * static_cast<size_t>((r + 1) % copies)];
    t0 = Clock::now();
    cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, W, in, x.data(), 1, 0.0f, y.data(), 1);
    if (r > 0) gemv = std::min(gemv, seconds_since(t0));
  }
  return {gemm, gemv};
}

std::vector<int32_t> random_tokens(int n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> u(0, vocab - 1);
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int32_t& v : t) v = u(rng);
  return t;
}

struct Row {
  int L = 0;
  double prefill_s = 0, decode_s_per_token = 0;
  double proj_flops = 0, attn_flops = 0, head_flops = 0;
  GemmRate model_rate, gpt2_rate;
  double implied_s = 0;
};

// --profile: a copy of Model::forward's prefill (model.cpp, fresh cache, last-row logits)
// with a clock around each phase, to say where prefill time goes. It must track model.cpp;
// its total is printed next to the real forward's time so a drift shows.
namespace phase {

enum Id {
  Embed,
  Norm,
  Qkv,
  RopeCache,
  Scores,
  Softmax,
  Pv,
  OutProj,
  MlpIn,
  Act,
  MlpOut,
  Head,
  Count
};
constexpr const char* kNames[Count] = {"embed",
                                       "norms",
                                       "qkv gemm+bias",
                                       "rope+cache write",
                                       "attn QK^T gemm",
                                       "attn softmax",
                                       "attn PV gemm",
                                       "out proj gemm+bias",
                                       "mlp in gemm+bias",
                                       "activation",
                                       "mlp out gemm+bias",
                                       "final norm+LM head"};

void linear(float* y, const float* x, const std::vector<float>& W, const std::vector<float>& b,
            int n, int in, int out, bool accumulate) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, W.data(), in,
              accumulate ? 1.0f : 0.0f, y, out);
  if (!b.empty()) {
#pragma omp parallel for if (int64_t{n} * out > 65536)
    for (int i = 0; i < n; ++i) {
      float* row = y + static_cast<size_t>(i) * out;
      for (int j = 0; j < out; ++j) row[j] += b[static_cast<size_t>(j)];
    }
  }
}

void normalize(float* out, const float* x, const std::vector<float>& w, const std::vector<float>& b,
               int n, int d, kvscope::model::NormKind kind, float eps) {
#pragma omp parallel for if (n > 8)
  for (int i = 0; i < n; ++i) {
    const float* xi = x + static_cast<size_t>(i) * d;
    float* oi = out + static_cast<size_t>(i) * d;
    if (kind == kvscope::model::NormKind::LayerNorm) {
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

void rope_rotate(float* x, const float* cs, const float* sn, int D,
                 kvscope::model::RopePairing pairing) {
  const int half = D / 2;
  if (pairing == kvscope::model::RopePairing::Halves) {
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

// Seconds per phase for one prefill of `tokens`. Attention phases run inside the per-head
// parallel loop: they are each thread's time summed, divided by the thread count.
std::vector<double> prefill(const Model& model, std::span<const int32_t> tokens) {
  using namespace kvscope::model;
  const Config& c = model.config();
  const Weights& W = model.weights();
  const int n = static_cast<int>(tokens.size()), T = n;
  const int d = c.d_model, H = c.n_head, G = c.n_kv_head, D = c.head_dim, V = c.vocab_size;
  const int qd = H * D, kd = G * D, qkv_w = qd + 2 * kd, F = c.d_ff;
  const int mlp_w = c.mlp == MlpKind::SwiGlu ? 2 * F : F;
  KvCache cache = model.new_cache(n);
  cache.reserve_more(n);
  std::vector<double> t(Count, 0.0);
  auto t0 = Clock::now();
  auto lap = [&](Id id) {
    const auto now = Clock::now();
    t[id] += std::chrono::duration<double>(now - t0).count();
    t0 = now;
  };

  const size_t nd = static_cast<size_t>(n) * d;
  std::vector<float> x(nd), h(nd), qkv(static_cast<size_t>(n) * qkv_w),
      attn(static_cast<size_t>(n) * qd), mid(static_cast<size_t>(n) * mlp_w);
  for (int i = 0; i < n; ++i) {
    std::memcpy(&x[static_cast<size_t>(i) * d],
                &W.tok_emb[static_cast<size_t>(tokens[static_cast<size_t>(i)]) * d],
                sizeof(float) * d);
    if (c.pos == PosKind::Learned)
      for (int j = 0; j < d; ++j)
        x[static_cast<size_t>(i) * d + j] += W.pos_emb[static_cast<size_t>(i) * d + j];
  }
  const int half = D / 2;
  std::vector<float> cosv, sinv;
  if (c.pos == PosKind::Rope) {
    cosv.resize(static_cast<size_t>(n) * half);
    sinv.resize(static_cast<size_t>(n) * half);
    for (int i = 0; i < n; ++i)
      for (int k = 0; k < half; ++k) {
        const float a = static_cast<float>(i) * model.rope_inv_freq()[static_cast<size_t>(k)];
        cosv[static_cast<size_t>(i) * half + k] = std::cos(a);
        sinv[static_cast<size_t>(i) * half + k] = std::sin(a);
      }
  }
  lap(Embed);

  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  const int group = H / G;
  const int n_threads = omp_get_max_threads();
  std::vector<std::vector<float>> scores(static_cast<size_t>(n_threads));
  std::vector<std::array<double, 3>> attn_t(static_cast<size_t>(n_threads), {0, 0, 0});
  for (int l = 0; l < c.n_layer; ++l) {
    const LayerWeights& w = W.layers[static_cast<size_t>(l)];
    normalize(h.data(), x.data(), w.norm1_w, w.norm1_b, n, d, c.norm, c.norm_eps);
    lap(Norm);
    linear(qkv.data(), h.data(), w.wqkv, w.bqkv, n, d, qkv_w, false);
    lap(Qkv);
#pragma omp parallel for if (n > 8)
    for (int i = 0; i < n; ++i) {
      float* row = &qkv[static_cast<size_t>(i) * qkv_w];
      const float* cs = c.pos == PosKind::Rope ? &cosv[static_cast<size_t>(i) * half] : nullptr;
      const float* sn = c.pos == PosKind::Rope ? &sinv[static_cast<size_t>(i) * half] : nullptr;
      for (int g = 0; g < G; ++g) {
        float* k = row + qd + g * D;
        if (c.pos == PosKind::Rope) rope_rotate(k, cs, sn, D, c.rope_pairing);
        std::memcpy(cache.k_row(l, g, i), k, sizeof(float) * D);
        std::memcpy(cache.v_row(l, g, i), row + qd + kd + g * D, sizeof(float) * D);
      }
      if (c.pos == PosKind::Rope)
        for (int hh = 0; hh < H; ++hh) rope_rotate(row + hh * D, cs, sn, D, c.rope_pairing);
    }
    lap(RopeCache);
#pragma omp parallel for schedule(dynamic)
    for (int hh = 0; hh < H; ++hh) {
      const int tid = omp_get_thread_num();
      std::vector<float>& S = scores[static_cast<size_t>(tid)];
      S.resize(static_cast<size_t>(n) * T);
      const int g = hh / group;
      auto a0 = Clock::now();
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, T, D, scale,
                  &qkv[static_cast<size_t>(hh) * D], qkv_w, cache.k_row(l, g, 0), D, 0.0f, S.data(),
                  T);
      auto a1 = Clock::now();
      for (int i = 0; i < n; ++i) {
        float* s = &S[static_cast<size_t>(i) * T];
        float mx = -std::numeric_limits<float>::infinity();
        for (int j = 0; j <= i; ++j) mx = std::max(mx, s[j]);
        float sum = 0.0f;
        for (int j = 0; j <= i; ++j) {
          s[j] = std::exp(s[j] - mx);
          sum += s[j];
        }
        const float inv = 1.0f / sum;
        for (int j = 0; j <= i; ++j) s[j] *= inv;
        for (int j = i + 1; j < T; ++j) s[j] = 0.0f;
      }
      auto a2 = Clock::now();
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, D, T, 1.0f, S.data(), T,
                  cache.v_row(l, g, 0), D, 0.0f, &attn[static_cast<size_t>(hh) * D], qd);
      auto a3 = Clock::now();
      auto& at = attn_t[static_cast<size_t>(tid)];
      at[0] += std::chrono::duration<double>(a1 - a0).count();
      at[1] += std::chrono::duration<double>(a2 - a1).count();
      at[2] += std::chrono::duration<double>(a3 - a2).count();
    }
    lap(Scores);  // the whole attention region; split below
    linear(x.data(), attn.data(), w.wo, w.bo, n, qd, d, true);
    lap(OutProj);
    normalize(h.data(), x.data(), w.norm2_w, w.norm2_b, n, d, c.norm, c.norm_eps);
    lap(Norm);
    linear(mid.data(), h.data(), w.w_in, w.b_in, n, d, mlp_w, false);
    lap(MlpIn);
    if (c.mlp == MlpKind::SwiGlu) {
#pragma omp parallel for if (n > 8)
      for (int i = 0; i < n; ++i) {
        float* row = &mid[static_cast<size_t>(i) * mlp_w];
        for (int j = 0; j < F; ++j) row[j] = row[j] / (1.0f + std::exp(-row[j])) * row[F + j];
      }
      lap(Act);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, d, F, 1.0f, mid.data(), mlp_w,
                  w.w_out.data(), F, 1.0f, x.data(), d);
      lap(MlpOut);
    } else {
#pragma omp parallel for if (n > 8)
      for (int i = 0; i < n; ++i) {
        float* row = &mid[static_cast<size_t>(i) * mlp_w];
        for (int j = 0; j < F; ++j) {
          const float v = row[j];
          row[j] = 0.5f * v * (1.0f + std::tanh(0.7978845608028654f * (v + 0.044715f * v * v * v)));
        }
      }
      lap(Act);
      linear(x.data(), mid.data(), w.w_out, w.b_out, n, F, d, true);
      lap(MlpOut);
    }
  }
  std::vector<float> hf(static_cast<size_t>(d)), logits(static_cast<size_t>(V));
  normalize(hf.data(), &x[static_cast<size_t>(n - 1) * d], W.norm_f_w, W.norm_f_b, 1, d, c.norm,
            c.norm_eps);
  linear(logits.data(), hf.data(), W.lm_head.empty() ? W.tok_emb : W.lm_head, {}, 1, d, V, false);
  lap(Head);

  // Split the attention region's wall time in proportion to the threads' summed phase times.
  double sum[3] = {0, 0, 0};
  for (const auto& at : attn_t)
    for (int k = 0; k < 3; ++k) sum[k] += at[static_cast<size_t>(k)];
  const double all = sum[0] + sum[1] + sum[2], region = t[Scores];
  if (all > 0) {
    t[Scores] = region * sum[0] / all;
    t[Softmax] = region * sum[1] / all;
    t[Pv] = region * sum[2] / all;
  }
  return t;
}

}  // namespace phase

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse_args(argc, argv);
  try {
    const auto t_load = Clock::now();
    const Model model = load(opt.model);
    const double load_s = seconds_since(t_load);
    const kvscope::model::Config& c = model.config();
    const int threads = omp_get_max_threads();
    const int64_t params = non_embedding_params(model.weights());
    const int qd = c.n_head * c.head_dim, kd = c.n_kv_head * c.head_dim;
    const bool swiglu = c.mlp == kvscope::model::MlpKind::SwiGlu;
    const std::vector<GemmShape> model_shapes{{"qkv", c.d_model, qd + 2 * kd},
                                              {"attn_out", qd, c.d_model},
                                              {"mlp_in", c.d_model, swiglu ? 2 * c.d_ff : c.d_ff},
                                              {"mlp_out", c.d_ff, c.d_model}};
    const std::vector<GemmShape> gpt2_shapes{
        {"768x2304", 768, 2304}, {"768x3072", 768, 3072}, {"3072x768", 3072, 768}};

    if (!opt.json) {
      fmt::print("model {}: {} ({} layers, d {}, heads {}/{}, head_dim {}, d_ff {}, vocab {})\n",
                 opt.model, c.arch, c.n_layer, c.d_model, c.n_head, c.n_kv_head, c.head_dim, c.d_ff,
                 c.vocab_size);
      fmt::print("non-embedding params {:.2f} M; loaded in {:.2f} s; threads {}\n", params / 1e6,
                 load_s, threads);
    }

    std::vector<Row> rows;
    for (const int L : opt.lengths) {
      if (L + opt.decode_steps > c.n_ctx) {
        std::fprintf(stderr, "engine_bench: skipping L=%d: %d tokens exceed the context (%d)\n", L,
                     L + opt.decode_steps, c.n_ctx);
        continue;
      }
      Row r;
      r.L = L;
      const std::vector<int32_t> prompt = random_tokens(L, c.vocab_size, 1234u + L);

      // Prefill: the warm-up run pages in the weights and grows the allocator's pools.
      r.prefill_s = 1e30;
      for (int rep = 0; rep <= opt.repeats; ++rep) {
        kvscope::model::KvCache cache = model.new_cache(L + opt.decode_steps);
        const auto t0 = Clock::now();
        model.forward(cache, prompt);
        const double t = seconds_since(t0);
        if (rep > 0) r.prefill_s = std::min(r.prefill_s, t);
      }

      // Decode: random next tokens, so sampling is no part of what is timed.
      {
        kvscope::model::KvCache cache = model.new_cache(L + opt.decode_steps);
        model.forward(cache, prompt);
        const std::vector<int32_t> next = random_tokens(opt.decode_steps, c.vocab_size, 99u);
        const auto t0 = Clock::now();
        for (int s = 0; s < opt.decode_steps; ++s)
          model.forward(cache, std::span<const int32_t>(&next[static_cast<size_t>(s)], 1));
        r.decode_s_per_token = seconds_since(t0) / opt.decode_steps;
      }

      r.proj_flops = 2.0 * static_cast<double>(params) * L;
      r.attn_flops = 4.0 * L * static_cast<double>(L) * qd * c.n_layer / 2.0;
      r.head_flops = 2.0 * c.vocab_size * static_cast<double>(c.d_model);  // last row only
      r.model_rate = measure(model_shapes, L, 5);
      r.gpt2_rate = measure(gpt2_shapes, L, 5);
      r.implied_s = (r.proj_flops + r.attn_flops + r.head_flops) / (r.model_rate.gflops * 1e9);
      rows.push_back(r);

      if (opt.profile && !opt.json) {
        std::vector<double> best;
        double best_total = 1e30;
        for (int rep = 0; rep <= opt.repeats; ++rep) {
          std::vector<double> t = phase::prefill(model, prompt);
          double total = 0;
          for (double v : t) total += v;
          if (rep > 0 && total < best_total) best_total = total, best = t;
        }
        fmt::print(
            "\nprefill of {} tokens by phase (instrumented copy: {:.1f} ms; forward: {:.1f} ms)\n",
            L, best_total * 1e3, r.prefill_s * 1e3);
        const double Ld = L;
        const double nl = c.n_layer;
        // FLOPs each GEMM phase does as the engine calls it (attention: full L x L, not causal).
        double gemm_flops[phase::Count] = {};
        gemm_flops[phase::Qkv] = 2 * Ld * c.d_model * (qd + 2 * kd) * nl;
        gemm_flops[phase::Scores] = 2 * Ld * Ld * qd * nl;
        gemm_flops[phase::Pv] = 2 * Ld * Ld * qd * nl;
        gemm_flops[phase::OutProj] = 2 * Ld * qd * c.d_model * nl;
        gemm_flops[phase::MlpIn] = 2 * Ld * c.d_model * (swiglu ? 2 * c.d_ff : c.d_ff) * nl;
        gemm_flops[phase::MlpOut] = 2 * Ld * c.d_ff * c.d_model * nl;
        for (int k = 0; k < phase::Count; ++k) {
          fmt::print("  {:<20} {:>9.1f} ms {:>5.1f} %", phase::kNames[k],
                     best[static_cast<size_t>(k)] * 1e3,
                     100 * best[static_cast<size_t>(k)] / best_total);
          if (gemm_flops[k] > 0)
            fmt::print("  {:>7.1f} GFLOP/s", gemm_flops[k] / best[static_cast<size_t>(k)] / 1e9);
          fmt::print("\n");
        }
      }

      if (opt.json) {
        nlohmann::json j{{"engine", "kvscope"},
                         {"model", opt.model},
                         {"arch", c.arch},
                         {"threads", threads},
                         {"tokens", L},
                         {"prefill_s", r.prefill_s},
                         {"prefill_tok_s", L / r.prefill_s},
                         {"decode_steps", opt.decode_steps},
                         {"decode_tok_s", 1.0 / r.decode_s_per_token},
                         {"non_embedding_params", params},
                         {"proj_gflop", r.proj_flops / 1e9},
                         {"attn_gflop", r.attn_flops / 1e9},
                         {"head_gflop", r.head_flops / 1e9},
                         {"sgemm_gflops_model_shapes", r.model_rate.gflops},
                         {"sgemm_gflops_gpt2_shapes", r.gpt2_rate.gflops},
                         {"implied_s", r.implied_s},
                         {"prefill_over_implied", r.prefill_s / r.implied_s}};
        fmt::print("{}\n", j.dump());
        std::fflush(stdout);
      }
    }
    if (opt.json) return 0;

    fmt::print("\nsgemm GFLOP/s, [L x in] x [in x out], best of 5\n");
    fmt::print("{:>6}", "L");
    for (const GemmShape& s : model_shapes) fmt::print(" {:>10}", fmt::format("{}", s.name));
    fmt::print(" {:>9}", "model");
    for (const GemmShape& s : gpt2_shapes) fmt::print(" {:>9}", s.name);
    fmt::print(" {:>9}\n", "gpt2");
    for (const Row& r : rows) {
      fmt::print("{:>6}", r.L);
      for (double g : r.model_rate.per_shape) fmt::print(" {:>10.1f}", g);
      fmt::print(" {:>9.1f}", r.model_rate.gflops);
      for (double g : r.gpt2_rate.per_shape) fmt::print(" {:>9.1f}", g);
      fmt::print(" {:>9.1f}\n", r.gpt2_rate.gflops);
    }

    fmt::print("\n{:>6} {:>12} {:>12} {:>10} {:>10} {:>10} {:>11} {:>10} {:>9}\n", "L",
               "prefill t/s", "decode t/s", "proj GFLOP", "attn GFLOP", "prefill ms", "implied ms",
               "ours/impl", "eff GF/s");
    for (const Row& r : rows)
      fmt::print(
          "{:>6} {:>12.1f} {:>12.1f} {:>10.2f} {:>10.2f} {:>10.1f} {:>11.1f} {:>10.2f} {:>9.1f}\n",
          r.L, r.L / r.prefill_s, 1.0 / r.decode_s_per_token, r.proj_flops / 1e9,
          r.attn_flops / 1e9, r.prefill_s * 1e3, r.implied_s * 1e3, r.prefill_s / r.implied_s,
          (r.proj_flops + r.attn_flops + r.head_flops) / r.prefill_s / 1e9);
    if (opt.profile) {
      fmt::print("\ndecode: one-row products per token, sgemm (M = 1, as the engine) vs sgemv\n");
      double sum_gemm = 0, sum_gemv = 0;
      std::vector<GemmShape> shapes = model_shapes;
      shapes.push_back({"lm_head", c.d_model, c.vocab_size});
      for (const GemmShape& sh : shapes) {
        const auto [gemm, gemv] = one_row_seconds(sh.in, sh.out, 8);
        const int times = std::string(sh.name) == "lm_head" ? 1 : c.n_layer;
        sum_gemm += gemm * times;
        sum_gemv += gemv * times;
        fmt::print("  {:<9} [1 x {}] x [{} x {}] x {:>2}: sgemm {:8.3f} ms  sgemv {:8.3f} ms\n",
                   sh.name, sh.in, sh.in, sh.out, times, gemm * 1e3, gemv * 1e3);
      }
      fmt::print(
          "  per token: sgemm {:.1f} ms ({:.1f} tok/s at most), sgemv {:.1f} ms ({:.1f} tok/s)\n",
          sum_gemm * 1e3, 1 / sum_gemm, sum_gemv * 1e3, 1 / sum_gemv);
    }
    fmt::print(
        "\nimplied ms: (projection + causal attention + one LM-head row) FLOPs at the sgemm rate "
        "of\n"
        "the model's shapes; eff GF/s: those FLOPs over our prefill time.\n");
  } catch (const kvscope::Error& e) {
    std::fprintf(stderr, "engine_bench: %s\n", e.what());
    return 2;
  }
  return 0;
}
