#include "kvscope/analysis/compress_methods.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "kvscope/error.hpp"

namespace kvscope::analysis {

namespace {

struct EvictionName {
  const char* name;
  Eviction e;
};
constexpr EvictionName kEvictions[] = {
    {"window", Eviction::Window},       {"streaming_llm", Eviction::StreamingLlm},
    {"knorm", Eviction::Knorm},         {"random", Eviction::Random},
    {"magnitude", Eviction::Magnitude}, {"h2o", Eviction::H2o},
    {"tova", Eviction::Tova},           {"snapkv", Eviction::SnapKv},
    {"keydiff", Eviction::KeyDiff},
};

constexpr int kSnapWindow = 32;  // snapkv's observation window (queries), always kept
constexpr int kSnapPool = 5;     // width of snapkv's average pooling

bool starts_with(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

// "4" -> 4 when the whole text is a number in [2, 8].
std::optional<int> parse_bits(std::string_view s) {
  int b = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), b);
  if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) return std::nullopt;
  if (b < 2 || b > 8) return std::nullopt;
  return b;
}

// A quantizer name without prefix: the configs for keys and values (either may be unset when
// the name quantizes one side only), or nothing when the name is not a quantizer.
struct QuantPart {
  std::optional<QuantConfig> keys, values;
  bool pre_rope = false;
};
std::optional<QuantPart> parse_quant(std::string_view s) {
  QuantPart p;
  for (BlockFormat f : {BlockFormat::Q8_0, BlockFormat::Q5_1, BlockFormat::Q5_0, BlockFormat::Q4_1,
                        BlockFormat::Q4_0})
    if (s == block_format_name(f)) {
      p.keys = p.values = QuantConfig{QuantScheme::Block, f, 0};
      return p;
    }
  auto int_scheme = [&](std::string_view body, std::string_view suffix) -> std::optional<int> {
    if (!starts_with(body, "int") || body.size() <= 3 + suffix.size() ||
        body.substr(body.size() - suffix.size()) != suffix)
      return std::nullopt;
    return parse_bits(body.substr(3, body.size() - 3 - suffix.size()));
  };
  if (auto b = int_scheme(s, "-token")) {
    p.keys = p.values = QuantConfig{QuantScheme::IntToken, BlockFormat::Q8_0, *b};
    return p;
  }
  if (auto b = int_scheme(s, "-channel")) {
    p.keys = p.values = QuantConfig{QuantScheme::IntChannel, BlockFormat::Q8_0, *b};
    return p;
  }
  if (starts_with(s, "prerope-")) {
    if (auto b = int_scheme(s.substr(8), "-channel")) {
      p.keys = QuantConfig{QuantScheme::IntChannel, BlockFormat::Q8_0, *b};
      p.pre_rope = true;
      return p;
    }
  }
  if (starts_with(s, "kivi")) {
    if (auto b = parse_bits(s.substr(4))) {
      p.keys = QuantConfig{QuantScheme::KiviKey, BlockFormat::Q8_0, *b};
      p.values = QuantConfig{QuantScheme::KiviValue, BlockFormat::Q8_0, *b};
      return p;
    }
  }
  return std::nullopt;
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

double norm(const float* x, int D) {
  double s = 0;
  for (int d = 0; d < D; ++d) s += static_cast<double>(x[d]) * x[d];
  return std::sqrt(s);
}

// The seed's token importance (analyze --importance key_value_norm): mean key norm plus mean
// value norm over every layer and KV head; [C].
std::vector<double> magnitude_scores(const model::KvCache& cache, int C) {
  const int L = cache.n_layer(), G = cache.n_kv_head(), D = cache.head_dim();
  std::vector<double> k(static_cast<size_t>(C), 0.0), v(static_cast<size_t>(C), 0.0);
  for (int l = 0; l < L; ++l)
    for (int g = 0; g < G; ++g)
      for (int t = 0; t < C; ++t) {
        k[static_cast<size_t>(t)] += norm(cache.k_row(l, g, t), D);
        v[static_cast<size_t>(t)] += norm(cache.v_row(l, g, t), D);
      }
  std::vector<double> s(static_cast<size_t>(C));
  for (int t = 0; t < C; ++t)
    s[static_cast<size_t>(t)] = (k[static_cast<size_t>(t)] + v[static_cast<size_t>(t)]) / (L * G);
  return s;
}

// Rotates x [D] by RoPE at position pos, as the engine does (angles pos * inv_freq in fp32).
void rope(float* x, int pos, const std::vector<float>& inv_freq, model::RopePairing pairing,
          int D) {
  const int half = D / 2;
  for (int i = 0; i < half; ++i) {
    const float a = static_cast<float>(pos) * inv_freq[static_cast<size_t>(i)];
    const float cs = std::cos(a), sn = std::sin(a);
    const int i0 = pairing == model::RopePairing::Halves ? i : 2 * i;
    const int i1 = pairing == model::RopePairing::Halves ? i + half : 2 * i + 1;
    const float u = x[i0], w = x[i1];
    x[i0] = u * cs - w * sn;
    x[i1] = w * cs + u * sn;
  }
}

}  // namespace

std::string known_methods_text() {
  std::string s = "full";
  for (const EvictionName& e : kEvictions) s += fmt::format(", {}", e.name);
  s += ", q8_0, q5_1, q5_0, q4_1, q4_0, int{B}-token, int{B}-channel, kivi{B}, "
       "prerope-int{B}-channel (B = 2..8), with 'k:' or 'v:' before a quantizer for keys or "
       "values only, '+rot' for a Hadamard rotation, and '+' to combine (streaming_llm+q4_0)";
  return s;
}

MethodSpec parse_method(std::string_view text, int D) {
  MethodSpec m;
  m.name = std::string(text);
  auto bad = [&](const std::string& why) {
    return BadInput(fmt::format("method '{}': {}", text, why));
  };
  if (text.empty()) throw BadInput("--methods: an empty method name");
  bool full = false;
  size_t start = 0;
  int parts = 0;
  while (start <= text.size()) {
    const size_t plus = text.find('+', start);
    const std::string_view part =
        text.substr(start, plus == std::string_view::npos ? std::string_view::npos : plus - start);
    start = plus == std::string_view::npos ? text.size() + 1 : plus + 1;
    ++parts;
    if (part == "full") {
      full = true;
      continue;
    }
    if (part == "rot") {
      m.rotate = true;
      continue;
    }
    bool found = false;
    for (const EvictionName& e : kEvictions)
      if (part == e.name) {
        if (m.evicts()) throw bad("more than one eviction rule");
        m.eviction = e.e;
        found = true;
      }
    if (found) continue;
    std::string_view q = part;
    int side = 0;  // 0 both, 1 keys, 2 values
    if (starts_with(q, "k:")) {
      side = 1;
      q.remove_prefix(2);
    } else if (starts_with(q, "v:")) {
      side = 2;
      q.remove_prefix(2);
    }
    std::optional<QuantPart> qp = parse_quant(q);
    if (!qp)
      throw BadInput(fmt::format("unknown method '{}' (in '{}'); known: {}", part, text,
                                 known_methods_text()));
    if (qp->pre_rope && side == 2) throw bad("prerope-int{B}-channel quantizes keys only");
    if (side != 2 && qp->keys) {
      if (m.keys) throw bad("keys are quantized twice");
      m.keys = qp->keys;
      m.pre_rope_keys = qp->pre_rope;
    }
    if (side != 1 && qp->values) {
      if (m.values) throw bad("values are quantized twice");
      m.values = qp->values;
    }
  }
  if (full && parts > 1) throw bad("'full' is the uncompressed cache and combines with nothing");
  if (m.rotate && !m.quantizes()) throw bad("'rot' rotates before quantizing: add a quantizer");
  for (const auto* q : {&m.keys, &m.values})
    if (*q && (*q)->scheme == QuantScheme::Block && D % kBlockValues != 0)
      throw bad(fmt::format("{} needs a head_dim that is a multiple of 32; this model's is {}",
                            block_format_name((*q)->format), D));
  if (m.rotate && (D <= 0 || (D & (D - 1)) != 0))
    throw bad(fmt::format("rot needs a head_dim that is a power of two; this model's is {}", D));
  return m;
}

std::vector<std::string> default_methods(int D, bool rope) {
  std::vector<std::string> out;
  for (const EvictionName& e : kEvictions) out.push_back(e.name);
  if (D % kBlockValues == 0)
    for (const char* q : {"q8_0", "q5_1", "q5_0", "q4_1", "q4_0"}) out.push_back(q);
  if (D % kBlockValues == 0 && (D & (D - 1)) == 0) out.push_back("q4_0+rot");
  for (const char* q : {"int4-token", "int4-channel", "int2-token", "int2-channel", "kivi4",
                        "kivi2", "k:int4-channel"})
    out.push_back(q);
  if (rope) out.push_back("k:prerope-int4-channel");
  return out;
}

int tokens_kept(double budget, int C) {
  if (!std::isfinite(budget) || budget < 0)
    throw BadInput(
        fmt::format("budget {} is out of range: give the share of the context removed "
                    "in [0, 1), or a token count >= 1",
                    budget));
  int n;
  if (budget >= 1) {
    if (budget != std::floor(budget))
      throw BadInput(fmt::format(
          "budget {} is out of range: a budget >= 1 is a token count and must be whole", budget));
    if (budget > C)
      throw BadInput(fmt::format("budget {} keeps more tokens than the context of {}", budget, C));
    n = static_cast<int>(budget);
  } else {
    // The epsilon keeps 10 * (1 - 0.9) = 0.99999999999999978 from flooring to 0.
    n = static_cast<int>(std::floor(static_cast<double>(C) * (1.0 - budget) + 1e-9));
  }
  if (n < 1)
    throw BadInput(
        fmt::format("budget {} keeps {} of {} context tokens: an eviction must keep at least one",
                    budget, n, C));
  return n;
}

int64_t fp16_cache_bytes(int L, int G, int C, int D) {
  return 2LL * L * G * C * D * 2;
}

std::vector<int> keep_highest(const std::vector<double>& score, int n_keep) {
  std::vector<int> idx(score.size());
  std::iota(idx.begin(), idx.end(), 0);
  const size_t n = std::min(score.size(), static_cast<size_t>(std::max(n_keep, 0)));
  std::partial_sort(
      idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(n), idx.end(), [&](int a, int b) {
        const double sa = score[static_cast<size_t>(a)], sb = score[static_cast<size_t>(b)];
        return sa > sb || (sa == sb && a < b);
      });
  idx.resize(n);
  std::sort(idx.begin(), idx.end());
  return idx;
}

std::vector<int> eviction_keep_set(Eviction e, int n_keep, const MethodInputs& in,
                                   const model::KvCache& cache, int l, int g) {
  const int C = in.context, D = cache.head_dim(), G = cache.n_kv_head();
  const int H = in.n_head, group = H / G;
  if (n_keep < 1 || n_keep > C)
    throw BadInput(fmt::format("an eviction keeps {} of {} context tokens", n_keep, C));
  std::vector<int> keep;
  auto last_n = [&](int n, int from) {
    for (int t = std::max(from, C - n); t < C; ++t) keep.push_back(t);
  };
  auto pattern = [&](int h, int i, int j) {
    return static_cast<double>(
        (*in.patterns)[static_cast<size_t>(l)][(static_cast<size_t>(h) * C + i) * C + j]);
  };
  std::vector<double> score(static_cast<size_t>(C), 0.0);
  switch (e) {
    case Eviction::None:
      for (int t = 0; t < C; ++t) keep.push_back(t);
      return keep;
    case Eviction::Window:
      last_n(n_keep, 0);
      return keep;
    case Eviction::StreamingLlm: {
      const int sinks = std::min(in.sinks, n_keep);
      for (int t = 0; t < sinks; ++t) keep.push_back(t);
      last_n(n_keep - sinks, sinks);
      return keep;
    }
    case Eviction::Knorm:
      for (int t = 0; t < C; ++t) score[static_cast<size_t>(t)] = -norm(cache.k_row(l, g, t), D);
      return keep_highest(score, n_keep);
    case Eviction::Random: {
      const uint64_t base =
          splitmix64(splitmix64(splitmix64(in.seed) ^ static_cast<uint64_t>(in.window)) ^
                     (static_cast<uint64_t>(l) << 20 | static_cast<uint64_t>(g)));
      for (int t = 0; t < C; ++t)
        score[static_cast<size_t>(t)] =
            static_cast<double>(splitmix64(base ^ static_cast<uint64_t>(t)) >> 11) * 0x1p-53;
      return keep_highest(score, n_keep);
    }
    case Eviction::Magnitude:
      return keep_highest(magnitude_scores(cache, C), n_keep);
    case Eviction::KeyDiff: {
      // Cosine similarity to the mean of the normalised keys; the least similar are kept.
      std::vector<double> anchor(static_cast<size_t>(D), 0.0);
      for (int t = 0; t < C; ++t) {
        const float* k = cache.k_row(l, g, t);
        const double n = norm(k, D);
        if (n > 0)
          for (int d = 0; d < D; ++d) anchor[static_cast<size_t>(d)] += k[d] / n / C;
      }
      double an = 0;
      for (double a : anchor) an += a * a;
      an = std::sqrt(an);
      for (int t = 0; t < C; ++t) {
        const float* k = cache.k_row(l, g, t);
        const double n = norm(k, D);
        double dot = 0;
        for (int d = 0; d < D; ++d) dot += k[d] * anchor[static_cast<size_t>(d)];
        score[static_cast<size_t>(t)] = (n > 0 && an > 0) ? -dot / (n * an) : 0.0;
      }
      return keep_highest(score, n_keep);
    }
    case Eviction::H2o:
    case Eviction::Tova:
    case Eviction::SnapKv:
      break;
  }
  if (in.patterns == nullptr || in.patterns->size() <= static_cast<size_t>(l) ||
      (*in.patterns)[static_cast<size_t>(l)].size() != static_cast<size_t>(H) * C * C)
    throw BadInput("h2o, tova and snapkv need the prefill's attention probabilities");
  if (e == Eviction::H2o) {
    // Heavy hitters: attention received from every context query and every query head of the
    // group, for half the budget; the most recent tokens for the other half.
    const int recent = n_keep / 2, heavy = n_keep - recent;
    std::vector<double> s(static_cast<size_t>(C - recent), 0.0);
    for (int h = g * group; h < (g + 1) * group; ++h)
      for (int i = 0; i < C; ++i)
        for (int j = 0; j <= std::min(i, C - recent - 1); ++j)
          s[static_cast<size_t>(j)] += pattern(h, i, j);
    keep = keep_highest(s, heavy);
    last_n(recent, 0);
    return keep;
  }
  if (e == Eviction::Tova) {
    // The last context query's attention, averaged over all query heads of the layer: one
    // set for every KV head.
    for (int h = 0; h < H; ++h)
      for (int j = 0; j < C; ++j) score[static_cast<size_t>(j)] += pattern(h, C - 1, j) / H;
    return keep_highest(score, n_keep);
  }
  // snapkv: attention from the last 32 context queries, summed, pooled over 5 neighbouring
  // keys, averaged over the group; the last min(32, n_keep) positions are always kept.
  const int obs = std::min(kSnapWindow, C);
  const int always = std::min(kSnapWindow, n_keep);
  const int pool_n = std::max(0, C - kSnapWindow);  // positions scored
  std::vector<double> pooled(static_cast<size_t>(pool_n), 0.0);
  std::vector<double> raw(static_cast<size_t>(pool_n));
  for (int h = g * group; h < (g + 1) * group; ++h) {
    std::fill(raw.begin(), raw.end(), 0.0);
    for (int i = C - obs; i < C; ++i)
      for (int j = 0; j < pool_n; ++j) raw[static_cast<size_t>(j)] += pattern(h, i, j);
    for (int j = 0; j < pool_n; ++j) {
      double s = 0;
      for (int d = -kSnapPool / 2; d <= kSnapPool / 2; ++d)
        if (j + d >= 0 && j + d < pool_n) s += raw[static_cast<size_t>(j + d)];
      pooled[static_cast<size_t>(j)] += s / kSnapPool / group;
    }
  }
  keep = keep_highest(pooled, n_keep - always);
  last_n(always, 0);
  return keep;
}

MethodEffect apply_method(const MethodSpec& m, int n_keep, const MethodInputs& in,
                          model::KvCache& cache) {
  const int L = cache.n_layer(), G = cache.n_kv_head(), D = cache.head_dim(), C = in.context;
  if (C < 1 || C > cache.length())
    throw BadInput(fmt::format("a context of {} tokens in a cache of {}", C, cache.length()));
  if (m.pre_rope_keys && !cache.keeps_pre_rope())
    throw BadInput("prerope-int{B}-channel needs the cache's keys before RoPE");
  if (m.pre_rope_keys && in.rope && in.inv_freq == nullptr)
    throw BadInput("prerope-int{B}-channel needs the model's RoPE frequencies");
  if (m.evicts() && (n_keep < 1 || n_keep > C))
    throw BadInput(fmt::format("an eviction keeps {} of {} context tokens", n_keep, C));
  std::vector<int> shared;  // magnitude: one set for the whole cache
  if (m.eviction == Eviction::Magnitude) shared = keep_highest(magnitude_scores(cache, C), n_keep);
  std::vector<int> all(static_cast<size_t>(C));
  std::iota(all.begin(), all.end(), 0);

  MethodEffect fx;
  double kept_sum = 0;
  std::vector<float> buf;
  for (int l = 0; l < L; ++l) {
    std::vector<int> layer_set;  // tova: one set for the layer
    for (int g = 0; g < G; ++g) {
      const bool target = (in.only_layer < 0 || l == in.only_layer) &&
                          (in.only_kv_head < 0 || g == in.only_kv_head);
      std::vector<int> keep = all;
      if (target && m.evicts()) {
        if (m.eviction == Eviction::Magnitude) {
          keep = shared;
        } else if (m.eviction == Eviction::Tova) {
          if (layer_set.empty()) layer_set = eviction_keep_set(m.eviction, n_keep, in, cache, l, g);
          keep = layer_set;
        } else {
          keep = eviction_keep_set(m.eviction, n_keep, in, cache, l, g);
        }
        size_t k = 0;
        for (int t = 0; t < C; ++t) {
          if (k < keep.size() && keep[k] == t)
            ++k;
          else
            cache.evict(l, g, t);
        }
      }
      const int n = static_cast<int>(keep.size());
      kept_sum += n;
      for (int part = 0; part < 2; ++part) {
        const std::optional<QuantConfig>& q = part == 0 ? m.keys : m.values;
        if (!target || !q) {
          fx.cache_bytes += int64_t{n} * D * 2;
          continue;
        }
        fx.cache_bytes += quantized_bytes(*q, n, D);
        const bool pre = part == 0 && m.pre_rope_keys;
        auto row = [&](int t) {
          return part == 1 ? cache.v_row(l, g, t)
                           : (pre ? cache.k_pre_row(l, g, t) : cache.k_row(l, g, t));
        };
        buf.resize(static_cast<size_t>(n) * D);
        for (int i = 0; i < n; ++i) {
          float* b = &buf[static_cast<size_t>(i) * D];
          std::copy_n(row(keep[static_cast<size_t>(i)]), D, b);
          if (m.rotate) hadamard_rotate(b, D);
        }
        quantize_rows(*q, buf, n, D);
        for (int i = 0; i < n; ++i) {
          float* b = &buf[static_cast<size_t>(i) * D];
          if (m.rotate) hadamard_rotate(b, D);  // its own inverse
          const int t = keep[static_cast<size_t>(i)];
          std::copy_n(b, D, row(t));
          if (pre) {
            float* k = cache.k_row(l, g, t);
            std::copy_n(b, D, k);
            if (in.rope)
              rope(k, t,
                   in.inv_freq_by_layer.empty() ? *in.inv_freq
                                                : *in.inv_freq_by_layer[static_cast<size_t>(l)],
                   in.pairing, D);
          }
        }
      }
    }
  }
  fx.kept_tokens = kept_sum / (L * G);
  return fx;
}

}  // namespace kvscope::analysis
