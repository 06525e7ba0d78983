// engine_bench: how fast the engine runs a model, and how close that is to what the machine's
// sgemm could do. Prints figures; it is not a test and asserts nothing.
//
//   engine_bench --model DIR_OR_GGUF [--lengths 128,512,1024] [--decode-steps 32] [--repeats 3]
//                [--json] [--attention-ab]
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
//                  the attention FLOPs at the same rate; and our prefill time over it;
//   FMA peak       GFLOP/s of independent 8-wide fused multiply-adds on every thread, with no
//                  memory traffic: the most any fp32 kernel can get out of these cores, so a
//                  speed target that needs more than this is out of reach on the machine.
//
// --attention-ab instead times prefill with Q K^T from our attention kernel and from sgemm
// (model/attention_kernel.hpp), alternating the two in one process so that both see the same
// machine, and prints the best time of each per length.
//
// Threads: OMP_NUM_THREADS (OpenBLAS here is the OpenMP build, so it follows the same count).
//
// Letters: L = prompt tokens, d = d_model, H = n_head, G = n_kv_head, D = head_dim, F = d_ff.

#include <cblas.h>
#include <immintrin.h>
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
#include <memory>
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
#include "kvscope/model/attention_kernel.hpp"
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
  bool attention_ab = false;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "engine_bench: %s\n"
               "usage: engine_bench --model DIR_OR_GGUF [--lengths 128,512,1024] "
               "[--decode-steps 32] [--repeats 3] [--json] [--attention-ab]\n",
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
      const std::string v = value();
      o.decode_steps = v == "0" ? 0 : parse_positive(v, a);  // 0: prefill only
    } else if (a == "--repeats") {
      o.repeats = parse_positive(value(), a);
    } else if (a == "--attention-ab") {
      o.attention_ab = true;
    } else if (a == "--json") {
      o.json = true;
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
    auto set = std::make_shared<const kvscope::io::SafetensorsSet>(path);
    kvscope::model::TensorSource src{[&set](std::string_view n) { return set->find(n); }, path,
                                     set};
    auto w = kvscope::model::load_weights(c, src, kvscope::model::WeightNaming::HuggingFace);
    return Model(std::move(c), std::move(w));
  }
  auto g = std::make_shared<const kvscope::io::GgufFile>(path);
  kvscope::model::Config c = kvscope::model::config_from_gguf(*g);
  kvscope::model::TensorSource src{[&g](std::string_view n) { return g->find(n); }, path, g};
  auto w = kvscope::model::load_weights(c, src, kvscope::model::WeightNaming::Gguf);
  return Model(std::move(c), std::move(w));
}

// Parameters the projections and norms use: everything but the token and position
// embeddings and the LM head (which prefill applies to one row only).
int64_t non_embedding_params(const kvscope::model::Weights& w) {
  int64_t n = 0;
  for (const auto& l : w.layers) {
    for (const std::vector<float>* v : {&l.norm1_w, &l.norm1_b, &l.norm2_w, &l.norm2_b})
      n += static_cast<int64_t>(v->size());
    for (const kvscope::model::Linear* m : {&l.qkv, &l.o, &l.mlp_in, &l.mlp_out})
      for (const kvscope::model::LinearPart& p : m->parts)
        n += p.w.rows() * p.w.cols() + static_cast<int64_t>(p.b.size());
  }
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

// GFLOP/s of 256-bit FMAs on all OpenMP threads: 12 independent accumulators per thread (more
// than the FMA latency times the ports, so the loop is bound by throughput), best of `reps`.
// 0 when the CPU has no AVX2/FMA.
[[gnu::target("avx2,fma")]] double fma_peak_gflops_avx2(int reps) {
  constexpr int kChains = 12;
  constexpr long kIters = 50'000'000;
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    float sink = 0;
    const auto t0 = Clock::now();
#pragma omp parallel reduction(+ : sink)
    {
      __m256 a[kChains];
      __m256 x = _mm256_set1_ps(1.0000001f), y = _mm256_set1_ps(0.9999999f);
      for (__m256& v : a) v = _mm256_setzero_ps();
      for (long it = 0; it < kIters; ++it) {
#pragma GCC unroll 12
        for (__m256& v : a) v = _mm256_fmadd_ps(x, y, v);
        // Keeps the compiler from folding the constant products out of the loop.
        __asm__ volatile("" : "+x"(x), "+x"(y));
      }
      __m256 s = a[0];
      for (int i = 1; i < kChains; ++i) s = _mm256_add_ps(s, a[i]);
      alignas(32) float lanes[8];
      _mm256_store_ps(lanes, s);
      for (float v : lanes) sink += v;
    }
    const double t = seconds_since(t0);
    if (!(sink > 0)) return 0;  // the sums are positive; anything else is a broken measurement
    best = std::max(best, 16.0 * kChains * kIters * omp_get_max_threads() / t / 1e9);
  }
  return best;
}

double fma_peak_gflops(int reps) {
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return 0;
  return fma_peak_gflops_avx2(reps);
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

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse_args(argc, argv);
  try {
    const auto t_load = Clock::now();
    const Model model = load(opt.model);
    const double load_s = seconds_since(t_load);
    const kvscope::model::Config& c = model.config();
    const int threads = omp_get_max_threads();
    const double peak_gflops = fma_peak_gflops(5);
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
                 opt.model, kvscope::model::family_name(c.family), c.n_layer, c.d_model, c.n_head,
                 c.n_kv_head, c.head_dim, c.d_ff, c.vocab_size);
      fmt::print("non-embedding params {:.2f} M; loaded in {:.2f} s; threads {}\n", params / 1e6,
                 load_s, threads);
      fmt::print("FMA peak {:.1f} GFLOP/s on {} threads; OpenBLAS core {}\n", peak_gflops, threads,
                 openblas_get_corename());
    }

    if (opt.attention_ab) {
      if (!kvscope::model::attention::kernel_available()) {
        std::fprintf(stderr,
                     "engine_bench: this CPU cannot run the attention kernel (AVX2, FMA)\n");
        return 2;
      }
      fmt::print("{:>6} {:>14} {:>14} {:>8}\n", "L", "kernel ms", "sgemm ms", "ratio");
      for (const int L : opt.lengths) {
        if (L > c.n_ctx) continue;
        const std::vector<int32_t> prompt = random_tokens(L, c.vocab_size, 1234u + L);
        std::array<double, 2> best{1e30, 1e30};  // [kernel, sgemm]
        for (int rep = 0; rep <= opt.repeats; ++rep)
          for (int k = 0; k < 2; ++k) {
            kvscope::model::attention::set_kernel_enabled(k == 0);
            kvscope::model::KvCache cache = model.new_cache(L);
            const auto t0 = Clock::now();
            model.forward(cache, prompt);
            const double t = seconds_since(t0);
            if (rep > 0) best[static_cast<size_t>(k)] = std::min(best[static_cast<size_t>(k)], t);
          }
        kvscope::model::attention::set_kernel_enabled(true);
        fmt::print("{:>6} {:>14.1f} {:>14.1f} {:>8.3f}\n", L, best[0] * 1e3, best[1] * 1e3,
                   best[0] / best[1]);
        std::fflush(stdout);
      }
      return 0;
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
      if (opt.decode_steps > 0) {
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

      if (opt.json) {
        nlohmann::json j{{"engine", "kvscope"},
                         {"model", opt.model},
                         {"arch", kvscope::model::family_name(c.family)},
                         {"threads", threads},
                         {"blas_core", openblas_get_corename()},
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
                         {"fma_peak_gflops", peak_gflops},
                         {"total_gflop", (r.proj_flops + r.attn_flops + r.head_flops) / 1e9},
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
