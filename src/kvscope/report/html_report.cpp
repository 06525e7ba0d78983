#include "kvscope/report/html_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "kvscope/analysis/token_importance.hpp"
#include "kvscope/error.hpp"
#include "kvscope/io/raw_tensor.hpp"

namespace kvscope::report {

namespace assets {
extern const std::string_view kPageHtml;
extern const std::string_view kPageCss;
extern const std::string_view kPageJs;
}  // namespace assets

using nlohmann::json;

namespace {

std::string base64(const uint8_t* p, size_t n) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < n; i += 3) {
    const uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8) | p[i + 2];
    for (int s : {18, 12, 6, 0}) out += kAlphabet[(v >> s) & 63];
  }
  if (i < n) {
    uint32_t v = uint32_t{p[i]} << 16;
    if (i + 1 < n) v |= uint32_t{p[i + 1]} << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < n ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// Attention weights as one byte: 0 for w < 1e-5, else 1..255 evenly over log10 w in [-5, 0]
// (4.6% apart): enough to draw any colour scale, never used for a number the page prints.
uint8_t log_code(float w) {
  if (!(w >= 1e-5f)) return 0;
  const double c = 1 + 254 * (std::log10(static_cast<double>(w)) + 5) / 5;
  return static_cast<uint8_t>(std::clamp(std::lround(c), 1L, 255L));
}

// Binary arrays, each in its own <script> element as base64, so the page decodes only what
// it shows.
class Packer {
 public:
  template <typename T>
  void add(const std::string& name, const char* dtype, std::vector<int64_t> shape,
           const std::vector<T>& v, bool early = false) {
    const auto* p = reinterpret_cast<const uint8_t*>(v.data());
    const size_t n = v.size() * sizeof(T);
    const std::string id = fmt::format("b{}", count_++);
    arrays_[name] = {{"id", id}, {"dtype", dtype}, {"shape", shape}};
    std::string& to = early ? early_ : late_;
    to += fmt::format("<script type=\"application/octet-stream\" id=\"{}\">", id);
    to += base64(p, n);
    to += "</script>\n";
    raw_bytes_ += static_cast<int64_t>(n);
  }
  json& arrays() { return arrays_; }
  // Arrays the first view draws (before the page's script) and the rest (after it).
  const std::string& early() const { return early_; }
  const std::string& late() const { return late_; }
  int64_t raw_bytes() const { return raw_bytes_; }

 private:
  json arrays_ = json::object();
  std::string early_, late_;
  int64_t raw_bytes_ = 0;
  int count_ = 0;
};

std::vector<uint16_t> to_f16(const float* p, size_t n) {
  std::vector<uint16_t> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = io::f32_to_f16(p[i]);
  return out;
}

std::vector<double> column_sum(const std::vector<const capture::AttentionSummary*>& sums,
                               const Tensor capture::AttentionSummary::*field, int S) {
  std::vector<double> out(static_cast<size_t>(S), 0.0);
  int64_t n = 0;
  for (const capture::AttentionSummary* s : sums) {
    const Tensor& t = s->*field;
    for (int64_t h = 0; h < t.dim(0); ++h, ++n)
      for (int j = 0; j < S; ++j) out[static_cast<size_t>(j)] += t.at(h, j);
  }
  for (double& x : out) x /= std::max<int64_t>(n, 1);
  return out;
}

// Within a script element, "</script" and "<!--" must not appear: every '<' of the JSON text
// is written as its \u escape (still the same JSON).
std::string json_for_script(const json& j) {
  const std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '<')
      out += "\\u003c";
    else
      out += c;
  }
  return out;
}

}  // namespace

HtmlReport html_report(const capture::Capture& cap, const Bundle& b, const ReportOptions& opt,
                       const capture::GenerationTrace* trace, const json& compress,
                       const HtmlOptions& html) {
  if (html.maps != "auto" && html.maps != "exact" && html.maps != "pooled")
    throw BadInput(fmt::format("html_maps {}: expected auto, exact or pooled", html.maps));
  const int L = cap.n_layer, H = cap.n_head, KH = cap.n_kv_head, D = cap.head_dim;
  const int S = cap.seq_len();
  HtmlReport out;
  Packer pk;
  json meta;
  meta["schema"] = "kvscope.report/1";
  meta["model"] = cap.model_name;
  meta["arch"] = cap.arch;
  meta["n_layer"] = L;
  meta["n_head"] = H;
  meta["n_kv_head"] = KH;
  meta["head_dim"] = D;
  meta["seq"] = S;
  meta["has_rope"] = cap.has_rope;
  meta["tokens"] = cap.token_strings;
  meta["token_ids"] = cap.token_ids;
  meta["layer"] = b.layer;
  meta["head"] = b.head;

  // Keys and values: [3 (k, k before RoPE, v), KH, R, D] int8 with a scale per (part, kv head,
  // channel); token rows max-|x| pooled in groups of g.
  const int g = (S + HtmlOptions::kKvRows - 1) / HtmlOptions::kKvRows;
  const int R = (S + g - 1) / g;
  meta["kv"] = {{"rows", R}, {"group", g}};
  for (int l = 0; l < L; ++l) {
    const capture::LayerCapture& lc = cap.layers[static_cast<size_t>(l)];
    const Tensor* parts[3] = {&lc.k, lc.k_pre_rope.empty() ? &lc.k : &lc.k_pre_rope, &lc.v};
    std::vector<int8_t> q(static_cast<size_t>(3) * KH * R * D);
    std::vector<float> scale(static_cast<size_t>(3) * KH * D);
    std::vector<float> norms(static_cast<size_t>(3) * KH * S);
    for (int p = 0; p < 3; ++p)
      for (int kh = 0; kh < KH; ++kh) {
        const float* x = parts[p]->ptr() + static_cast<int64_t>(kh) * S * D;
        for (int t = 0; t < S; ++t) {
          double n2 = 0;
          for (int d = 0; d < D; ++d) n2 += static_cast<double>(x[t * D + d]) * x[t * D + d];
          norms[(static_cast<size_t>(p) * KH + kh) * S + t] = static_cast<float>(std::sqrt(n2));
        }
        for (int d = 0; d < D; ++d) {
          float m = 0;
          for (int t = 0; t < S; ++t) m = std::max(m, std::fabs(x[t * D + d]));
          const float sc = m > 0 ? m / 127.0f : 1.0f;
          scale[(static_cast<size_t>(p) * KH + kh) * D + d] = sc;
          for (int r = 0; r < R; ++r) {
            float best = 0;
            for (int t = r * g; t < std::min(S, (r + 1) * g); ++t)
              if (std::fabs(x[t * D + d]) > std::fabs(best)) best = x[t * D + d];
            q[((static_cast<size_t>(p) * KH + kh) * R + r) * D + d] =
                static_cast<int8_t>(std::lround(std::clamp(best / sc, -127.0f, 127.0f)));
          }
        }
      }
    pk.add(fmt::format("kv.{}", l), "i8", {3, KH, R, D}, q);
    pk.add(fmt::format("kvscale.{}", l), "f32", {3, KH, D}, scale);
    pk.add(fmt::format("kvnorm.{}", l), "f16", {3, KH, S}, to_f16(norms.data(), norms.size()));
  }

  // Attention.
  // Each layer's attention summary: the engine's, else computed here from the exact map.
  std::vector<capture::AttentionSummary> computed(static_cast<size_t>(L));
  std::vector<const capture::AttentionSummary*> sums;
  bool have_attention = L > 0;
  for (int l = 0; l < L; ++l) {
    const capture::LayerCapture& lc = cap.layers[static_cast<size_t>(l)];
    if (lc.attn.empty() && !lc.pattern.empty() && lc.pattern.dim(0) == H)
      computed[static_cast<size_t>(l)] = capture::summarize_pattern(lc.pattern, {});
    sums.push_back(lc.attn.empty() ? &computed[static_cast<size_t>(l)] : &lc.attn);
    if (sums.back()->empty()) have_attention = false;
  }
  // Exact maps need every layer's map of every head.
  bool all_patterns = L > 0;
  for (const auto& lc : cap.layers)
    all_patterns = all_patterns && !lc.pattern.empty() && lc.pattern.dim(0) == H;

  // Token importance, each definition [S], with the compression methods that evict by it.
  json imp = json::array();
  auto add_importance = [&](const char* name, const char* label, const std::vector<double>& v,
                            json used_by, const char* note) {
    imp.push_back(
        {{"name", name}, {"label", label}, {"values", v}, {"used_by", used_by}, {"note", note}});
  };
  std::vector<double> kv_norm(b.magnitudes.key.size());
  for (size_t i = 0; i < kv_norm.size(); ++i)
    kv_norm[i] = b.magnitudes.key[i] + b.magnitudes.value[i];
  add_importance("key_norm", "key norm", b.magnitudes.key, {"knorm"},
                 "L2 norm of the key, mean over layers and KV heads; knorm keeps the lowest");
  add_importance("value_norm", "value norm", b.magnitudes.value, json::array(),
                 "L2 norm of the value, mean over layers and KV heads");
  add_importance("key_value_norm", "key + value norm", kv_norm, json::array(),
                 "sum of the two norms above");

  if (have_attention) {
    const capture::SummaryShape& sh = sums[0]->shape;
    const int P = sh.pooled(), tile = sh.tile();
    std::vector<double> recv = column_sum(sums, &capture::AttentionSummary::received, S);
    std::vector<double> per_q(recv);
    for (int j = 0; j < S; ++j) per_q[static_cast<size_t>(j)] /= (S - j);
    add_importance("attention_received", "attention received", recv, {"h2o"},
                   "sum over queries of the weight a key gets, mean over layers and heads (H2O)");
    add_importance("attention_per_query", "attention per visible query", per_q, json::array(),
                   "attention received divided by the number of queries that see the key");
    add_importance("last_query", "last query's attention",
                   column_sum(sums, &capture::AttentionSummary::last_query, S), {"tova"},
                   "the last prompt token's attention, mean over layers and heads (TOVA)");

    // Per-head statistics for sorting the overview: means over queries 1..S-1.
    json stats;
    for (auto [field, name] :
         {std::pair{&capture::AttentionSummary::entropy, "entropy"},
          std::pair{&capture::AttentionSummary::sink_mass, "sink_mass"},
          std::pair{&capture::AttentionSummary::mean_distance, "mean_distance"},
          std::pair{&capture::AttentionSummary::prev_token, "prev_token"},
          std::pair{&capture::AttentionSummary::max_weight, "max_weight"}}) {
      std::vector<double> v;
      for (const capture::AttentionSummary* s : sums)
        for (int h = 0; h < H; ++h) {
          double acc = 0;
          const int from = S > 1 ? 1 : 0;
          for (int i = from; i < S; ++i) acc += (s->*field).at(h, i);
          v.push_back(acc / std::max(1, S - from));
        }
      stats[name] = v;
    }
    // Sink columns per head: leading keys (< sink_tokens) that get on average at least 0.1 of
    // each query's attention; they are drawn on a scale of their own.
    std::vector<int> sink_cols;
    for (const capture::AttentionSummary* s : sums)
      for (int h = 0; h < H; ++h) {
        int n = 0;
        while (n < std::min(sh.sink_tokens, S) && s->received.at(h, n) / (S - n) >= 0.1) ++n;
        sink_cols.push_back(n);
      }

    // Resolution: exact when every map fits the budget (what the rest needs, plus margin).
    const int64_t tri = static_cast<int64_t>(S) * (S + 1) / 2;
    const int64_t raw_budget = html.max_bytes / 4 * 3 - (4 << 20);  // base64, page, metadata
    const int64_t exact_bytes = tri * L * H * 2;
    const int64_t fixed = pk.raw_bytes() + static_cast<int64_t>(S) * 64 + (1 << 20);
    std::string mode = html.maps;
    // Beyond 2,048 tokens a full map is more cells than a screen has pixels: pooled.
    if (mode == "auto")
      mode = all_patterns && S <= 2048 && fixed + exact_bytes <= raw_budget ? "exact" : "pooled";
    if (mode == "exact" && !all_patterns)
      throw BadInput("html_maps exact needs attention patterns: attention must be on");

    // Overview thumbnails [L, H, T, T], log-coded max over the pooled cells.
    const int T = std::min(P, HtmlOptions::kThumb);
    const int per = (P + T - 1) / T;
    const int Tn = (P + per - 1) / per;
    std::vector<uint8_t> thumbs(static_cast<size_t>(L) * H * Tn * Tn);
    for (int l = 0; l < L; ++l)
      for (int h = 0; h < H; ++h)
        for (int a = 0; a < P; ++a)
          for (int c = 0; c <= a; ++c) {
            uint8_t& t = thumbs[((static_cast<size_t>(l) * H + h) * Tn + a / per) * Tn + c / per];
            t = std::max(t, log_code(sums[static_cast<size_t>(l)]->pooled_max.at(h, a, c)));
          }
    pk.add("thumbs", "u8", {L, H, Tn, Tn}, thumbs, true);

    json att = {{"mode", mode},   {"tile", tile},          {"pooled", P},
                {"thumb", Tn},    {"thumb_per", per},      {"sink_tokens", sh.sink_tokens},
                {"stats", stats}, {"sink_cols", sink_cols}};
    if (mode == "exact") {
      for (int l = 0; l < L; ++l) {
        const Tensor& p = cap.layers[static_cast<size_t>(l)].pattern;
        for (int h = 0; h < H; ++h) {
          std::vector<uint16_t> m(static_cast<size_t>(tri));
          size_t o = 0;
          for (int i = 0; i < S; ++i)
            for (int j = 0; j <= i; ++j) m[o++] = io::f32_to_f16(p.at(h, i, j));
          pk.add(fmt::format("map.{}.{}", l, h), "f16", {tri}, m, l == b.layer && h == b.head);
        }
      }
    } else {
      const int64_t ptri = static_cast<int64_t>(P) * (P + 1) / 2;
      const int64_t pooled_bytes = ptri * L * H;
      const int64_t per_k = static_cast<int64_t>(L) * H * S * (S > 65535 ? 6 : 4);
      const int Kmax = static_cast<int>(sums[0]->topk_key.dim(2));
      const int64_t left = raw_budget - fixed - pooled_bytes;
      const int K =
          static_cast<int>(std::clamp<int64_t>(left / std::max<int64_t>(per_k, 1), 1, Kmax));
      att["top_k"] = K;
      out.top_k = K;
      for (int l = 0; l < L; ++l) {
        const capture::AttentionSummary& s = *sums[static_cast<size_t>(l)];
        std::vector<uint8_t> pm(static_cast<size_t>(H * ptri));
        size_t o = 0;
        for (int h = 0; h < H; ++h)
          for (int a = 0; a < P; ++a)
            for (int c = 0; c <= a; ++c) pm[o++] = log_code(s.pooled_max.at(h, a, c));
        pk.add(fmt::format("pooled.{}", l), "u8", {H, ptri}, pm, l == b.layer);
        std::vector<float> w(static_cast<size_t>(H) * S * K);
        std::vector<uint32_t> key32(w.size());
        for (int h = 0; h < H; ++h)
          for (int i = 0; i < S; ++i)
            for (int r = 0; r < K; ++r) {
              const size_t at = (static_cast<size_t>(h) * S + i) * K + r;
              w[at] = s.topk_weight.at(h, i, r);
              const float kf = s.topk_key.at(h, i, r);
              key32[at] = kf < 0 ? 0xFFFFFFFFu : static_cast<uint32_t>(kf);
            }
        if (S > 65535) {
          pk.add(fmt::format("topk_key.{}", l), "u32", {H, S, K}, key32);
        } else {
          std::vector<uint16_t> key16(key32.size());
          for (size_t i = 0; i < key32.size(); ++i)
            key16[i] = key32[i] == 0xFFFFFFFFu ? 0xFFFF : static_cast<uint16_t>(key32[i]);
          pk.add(fmt::format("topk_key.{}", l), "u16", {H, S, K}, key16);
        }
        pk.add(fmt::format("topk_w.{}", l), "f16", {H, S, K}, to_f16(w.data(), w.size()));
      }
    }
    out.maps = mode;
    meta["attention"] = att;
  } else {
    out.maps = "none";
    meta["attention"] = nullptr;
  }
  meta["importance"] = imp;
  meta["compress"] = compress.is_object() ? compress : json(nullptr);

  // Generation: each step's token, cache length and bytes; with attention, the new token's
  // attention over the cache, [steps][L][H][cache_len] fp16 when it fits 8 MB.
  if (trace != nullptr && !trace->steps.empty()) {
    json steps = json::array();
    int64_t n_att = 0;
    bool att = true;
    for (const auto& st : trace->steps) {
      steps.push_back({{"token", st.token},
                       {"text", st.text},
                       {"cache_len", st.cache_len},
                       {"cache_bytes", st.cache_bytes},
                       {"ms", st.ms}});
      att = att && !st.attention.empty();
      n_att += static_cast<int64_t>(st.attention.size());
    }
    att = att && n_att * 2 <= (8 << 20);
    if (att) {
      std::vector<uint16_t> a;
      a.reserve(static_cast<size_t>(n_att));
      for (const auto& st : trace->steps)
        for (float x : st.attention) a.push_back(io::f32_to_f16(x));
      pk.add("gen_attention", "f16", {n_att}, a);
    }
    meta["generation"] = {{"steps", steps},
                          {"text", trace->text},
                          {"prompt_len", trace->prompt_ids.size()},
                          {"bytes_per_token", trace->bytes_per_token},
                          {"stop_reason", trace->stop_reason},
                          {"attention", att}};
  } else {
    meta["generation"] = nullptr;
  }
  meta["data_bytes"] = pk.raw_bytes();
  meta["arrays"] = pk.arrays();
  (void)opt;

  // The template's four markers are found in the template itself, never in inserted text.
  const std::string_view t = assets::kPageHtml;
  const std::string_view markers[4] = {"/*KVSCOPE_CSS*/", "<!--KVSCOPE_DATA-->", "/*KVSCOPE_JS*/",
                                       "<!--KVSCOPE_DATA_LATE-->"};
  const std::string data = "<script type=\"application/json\" id=\"kv-meta\">" +
                           json_for_script(meta) + "</script>\n" + pk.early();
  const std::string_view with[4] = {assets::kPageCss, data, assets::kPageJs, pk.late()};
  std::string page;
  page.reserve(t.size() + data.size() + pk.late().size() + assets::kPageCss.size() +
               assets::kPageJs.size());
  size_t from = 0;
  for (int m = 0; m < 4; ++m) {
    const size_t at = t.find(markers[m], from);
    if (at == std::string_view::npos)
      throw IoError(fmt::format("report.html template: marker {} is missing", markers[m]));
    page.append(t.substr(from, at - from));
    page.append(with[m]);
    from = at + markers[m].size();
  }
  page.append(t.substr(from));
  out.html = std::move(page);
  return out;
}

}  // namespace kvscope::report
