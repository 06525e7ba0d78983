// machine_bench: what the machine offers a decoder, for reading speed figures against. Prints
// figures; it is not a test and asserts nothing.
//
//   machine_bench [--mib 1024] [--repeats 5] [--model GGUF_OR_DIR] [--json]
//
// It reports
//   BLAS core      the kernel set OpenBLAS runs on this CPU (openblas_get_corename; what
//                  OPENBLAS_CORETYPE, if set, made it choose) and its build configuration;
//   CPU features   what the CPU supports among SSE3, AVX, AVX2, FMA, F16C, AVX-512F/BW/VL/VNNI;
//   copy GB/s      memcpy of a buffer of --mib MiB into another, split over the OpenMP threads,
//                  best of --repeats after a warm-up, counted as STREAM counts its Copy: bytes
//                  read plus bytes written, over the time;
//   read GB/s      a sum over the same buffer on every thread (bytes read over the time): what
//                  a decode step, which streams each weight once, can reach at best;
// and with --model (a GGUF file or a Hugging Face folder; nothing is loaded but the headers)
//   weight bytes per token   the bytes one decode step must read: every tensor as stored,
//                  except the token (and position) embedding tables, of which a step reads one
//                  row, unless the embedding is also the LM head (tied);
//   decode bound   copy GB/s (and read GB/s) over those bytes: the tokens/s that memory
//                  bandwidth allows, whatever the kernels.
//
// Threads: OMP_NUM_THREADS (default: all cores). Buffers are first touched by the threads that
// use them.

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kvscope/error.hpp"
#include "kvscope/io/gguf.hpp"
#include "kvscope/io/safetensors.hpp"

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

struct Options {
  int64_t mib = 1024;
  int repeats = 5;
  std::string model;
  bool json = false;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "machine_bench: %s\n"
               "usage: machine_bench [--mib 1024] [--repeats 5] [--model GGUF_OR_DIR] [--json]\n",
               why.c_str());
  std::exit(2);
}

int64_t parse_positive(const std::string& s, const std::string& what, int64_t max) {
  try {
    size_t used = 0;
    const long long v = std::stoll(s, &used);
    if (used == s.size() && v > 0 && v <= max) return v;
  } catch (const std::exception&) {
  }
  usage(fmt::format("{}: expected an integer from 1 to {}, got '{}'", what, max, s));
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--mib") {
      o.mib = parse_positive(value(), a, 1 << 16);
    } else if (a == "--repeats") {
      o.repeats = static_cast<int>(parse_positive(value(), a, 1000));
    } else if (a == "--model") {
      o.model = value();
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--help" || a == "-h") {
      usage("measures memory bandwidth and names the BLAS kernels and CPU features");
    } else {
      usage("unknown argument '" + a + "'");
    }
  }
  return o;
}

std::string cpu_features() {
  std::string s;
  auto add = [&s](const char* name, bool on) {
    if (!on) return;
    if (!s.empty()) s += ' ';
    s += name;
  };
  __builtin_cpu_init();
  add("sse3", __builtin_cpu_supports("sse3"));
  add("avx", __builtin_cpu_supports("avx"));
  add("avx2", __builtin_cpu_supports("avx2"));
  add("fma", __builtin_cpu_supports("fma"));
  add("f16c", __builtin_cpu_supports("f16c"));
  add("avx512f", __builtin_cpu_supports("avx512f"));
  add("avx512bw", __builtin_cpu_supports("avx512bw"));
  add("avx512vl", __builtin_cpu_supports("avx512vl"));
  add("avx512vnni", __builtin_cpu_supports("avx512vnni"));
  return s;
}

struct Bandwidth {
  double copy_gbs = 0;
  double read_gbs = 0;
};

// A buffer of floats whose pages are first touched by the OpenMP threads that will use them.
std::unique_ptr<float[]> touched_buffer(int64_t n, float value) {
  std::unique_ptr<float[]> p(new float[static_cast<size_t>(n)]);
  float* d = p.get();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) d[i] = value;
  return p;
}

Bandwidth measure_bandwidth(int64_t mib, int repeats) {
  const int64_t n = mib * (int64_t{1} << 20) / static_cast<int64_t>(sizeof(float));
  std::unique_ptr<float[]> src = touched_buffer(n, 1.0f), dst = touched_buffer(n, 0.0f);
  const double bytes = static_cast<double>(n) * sizeof(float);
  Bandwidth b;
  double best_copy = 1e30, best_read = 1e30;
  float sink = 0;
  for (int r = 0; r <= repeats; ++r) {
    auto t0 = Clock::now();
#pragma omp parallel
    {
      // Each thread copies its own contiguous slice, the same slice it first touched.
      const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
      const int64_t lo = n * t / nt, hi = n * (t + 1) / nt;
      std::memcpy(dst.get() + lo, src.get() + lo, static_cast<size_t>(hi - lo) * sizeof(float));
    }
    const double tc = std::chrono::duration<double>(Clock::now() - t0).count();
    const float* s = dst.get();
    float sum = 0;
    t0 = Clock::now();
#pragma omp parallel for simd schedule(static) reduction(+ : sum)
    for (int64_t i = 0; i < n; ++i) sum += s[i];
    const double tr = std::chrono::duration<double>(Clock::now() - t0).count();
    sink += sum;
    if (r == 0) continue;  // warm-up
    best_copy = std::min(best_copy, tc);
    best_read = std::min(best_read, tr);
  }
  // Every element is 1 after the copy, so each sum is positive; zero means the copy failed.
  if (!(sink > 0)) throw kvscope::IoError("machine_bench: the copied buffer reads back as zeros");
  b.copy_gbs = 2.0 * bytes / best_copy / 1e9;
  b.read_gbs = bytes / best_read / 1e9;
  return b;
}

struct WeightBytes {
  int64_t total = 0;      // every tensor as stored
  int64_t per_token = 0;  // what one decode step reads
  bool tied = false;
};

bool is_token_embedding(std::string_view n) {
  return n == "token_embd.weight" || n == "model.embed_tokens.weight" ||
         n == "transformer.wte.weight" || n == "wte.weight";
}
bool is_position_embedding(std::string_view n) {
  return n == "position_embd.weight" || n == "transformer.wpe.weight" || n == "wpe.weight";
}
bool is_lm_head(std::string_view n) {
  return n == "output.weight" || n == "lm_head.weight";
}

WeightBytes weight_bytes(const std::string& path) {
  std::vector<std::pair<std::string, int64_t>> tensors;
  std::shared_ptr<const kvscope::io::GgufFile> g;
  std::shared_ptr<const kvscope::io::SafetensorsSet> st;
  if (fs::is_directory(path)) {
    st = std::make_shared<const kvscope::io::SafetensorsSet>(path);
    for (const kvscope::io::RawTensor* t : st->tensors()) tensors.emplace_back(t->name, t->nbytes);
  } else {
    g = std::make_shared<const kvscope::io::GgufFile>(path);
    for (const kvscope::io::RawTensor& t : g->tensors()) tensors.emplace_back(t.name, t.nbytes);
  }
  WeightBytes w;
  w.tied = std::none_of(tensors.begin(), tensors.end(),
                        [](const auto& t) { return is_lm_head(t.first); });
  for (const auto& [name, nbytes] : tensors) {
    w.total += nbytes;
    const bool one_row = is_position_embedding(name) || (is_token_embedding(name) && !w.tied);
    if (!one_row) w.per_token += nbytes;
  }
  return w;
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse_args(argc, argv);
  try {
    const int threads = omp_get_max_threads();
    const std::string core = openblas_get_corename();
    const std::string config = openblas_get_config();
    const std::string features = cpu_features();
    WeightBytes w;
    if (!opt.model.empty()) w = weight_bytes(opt.model);
    const Bandwidth b = measure_bandwidth(opt.mib, opt.repeats);

    if (opt.json) {
      nlohmann::json j{{"threads", threads},    {"blas_core", core},
                       {"blas_config", config}, {"cpu_features", features},
                       {"buffer_mib", opt.mib}, {"copy_gbs", b.copy_gbs},
                       {"read_gbs", b.read_gbs}};
      if (!opt.model.empty()) {
        j["model"] = opt.model;
        j["weight_bytes"] = w.total;
        j["weight_bytes_per_token"] = w.per_token;
        j["tied_embeddings"] = w.tied;
        j["decode_bound_tok_s_copy"] = b.copy_gbs * 1e9 / static_cast<double>(w.per_token);
        j["decode_bound_tok_s_read"] = b.read_gbs * 1e9 / static_cast<double>(w.per_token);
      }
      fmt::print("{}\n", j.dump());
      return 0;
    }
    fmt::print("threads {}\nOpenBLAS core {} ({})\nCPU features: {}\n", threads, core, config,
               features);
    fmt::print("copy {:.2f} GB/s (read + written), read {:.2f} GB/s; {} MiB buffers, best of {}\n",
               b.copy_gbs, b.read_gbs, opt.mib, opt.repeats);
    if (!opt.model.empty()) {
      fmt::print("{}: weights {:.3f} GB, read per decoded token {:.3f} GB{}\n", opt.model,
                 w.total / 1e9, w.per_token / 1e9, w.tied ? " (tied embeddings)" : "");
      fmt::print("decode bound: {:.1f} tok/s at the copy rate, {:.1f} at the read rate\n",
                 b.copy_gbs * 1e9 / static_cast<double>(w.per_token),
                 b.read_gbs * 1e9 / static_cast<double>(w.per_token));
    }
  } catch (const kvscope::Error& e) {
    std::fprintf(stderr, "machine_bench: %s\n", e.what());
    return 2;
  }
  return 0;
}
