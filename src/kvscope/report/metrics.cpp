#include "kvscope/report/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include <fmt/format.h>

#include "kvscope/analysis/cache_size.hpp"
#include "kvscope/atomic_file.hpp"
#include "kvscope/error.hpp"
#include "kvscope/report/labels.hpp"

namespace kvscope::report {

namespace {

using nlohmann::json;

// NaN and infinities have no JSON form; null says "no number" honestly.
json num(double v) {
  return std::isfinite(v) ? json(v) : json(nullptr);
}

json nums(const std::vector<double>& v) {
  json a = json::array();
  for (double x : v) a.push_back(num(x));
  return a;
}

// A tensor as nested arrays of its shape (rank 1 to 3).
json tensor_json(const Tensor& t) {
  if (t.empty()) return json::array();
  const auto& shape = t.shape;
  const float* d = t.data.data();
  if (shape.size() == 1) {
    json a = json::array();
    for (int64_t i = 0; i < shape[0]; ++i) a.push_back(num(d[i]));
    return a;
  }
  const int64_t rows = shape[0];
  const int64_t inner = t.numel() / std::max<int64_t>(rows, 1);
  json a = json::array();
  for (int64_t r = 0; r < rows; ++r) {
    if (shape.size() == 2) {
      json row = json::array();
      for (int64_t c = 0; c < inner; ++c) row.push_back(num(d[r * inner + c]));
      a.push_back(std::move(row));
    } else {
      const int64_t cols = shape.back();
      const int64_t mid = inner / std::max<int64_t>(cols, 1);
      json m = json::array();
      for (int64_t i = 0; i < mid; ++i) {
        json row = json::array();
        for (int64_t c = 0; c < cols; ++c) row.push_back(num(d[r * inner + i * cols + c]));
        m.push_back(std::move(row));
      }
      a.push_back(std::move(m));
    }
  }
  return a;
}

const char* scale_name(analysis::SparsityScale s) {
  switch (s) {
    case analysis::SparsityScale::MaxAbs:
      return "max_abs";
    case analysis::SparsityScale::Std:
      return "std";
    case analysis::SparsityScale::Absolute:
      return "absolute";
  }
  return "?";
}

std::string sparsity_definition(const analysis::SparsityRule& r) {
  switch (r.scale) {
    case analysis::SparsityScale::MaxAbs:
      return fmt::format(
          "share of entries x of a layer's tensor with |x| < {} * max|x| of that tensor",
          r.threshold);
    case analysis::SparsityScale::Std:
      return fmt::format(
          "share of entries x of a layer's tensor with |x| < {} * std of that tensor", r.threshold);
    case analysis::SparsityScale::Absolute:
      return fmt::format("share of entries x of a layer's tensor with |x| < {}", r.threshold);
  }
  return "";
}

json stats_json(const analysis::TensorStats& s) {
  return {{"sparsity", num(s.sparsity)},
          {"mean", num(s.mean)},
          {"std", num(s.std)},
          {"mean_abs", num(s.mean_abs)},
          {"max_abs", num(s.max_abs)},
          {"kurtosis", num(s.kurtosis)},
          {"channel_max_abs", tensor_json(s.channel_max_abs)}};
}

json histogram_json(const analysis::Histogram& h) {
  return {{"edges", nums(h.edges)},
          {"counts", h.counts},
          {"outside", h.outside},
          {"non_finite", h.non_finite}};
}

json part_distribution_json(const analysis::PartDistribution& p) {
  json per_layer = json::array();
  for (const analysis::Histogram& h : p.per_layer) per_layer.push_back(json{{"counts", h.counts}});
  json per_layer_q = json::array();
  for (const auto& q : p.per_layer_percentiles) per_layer_q.push_back(nums(q));
  return {{"percentiles", nums(p.percentiles)},
          {"per_layer_percentiles", per_layer_q},
          {"histogram", histogram_json(p.overall)},
          {"per_layer_histogram_counts", per_layer}};
}

json pca_json(int layer, const char* part, const analysis::PcaResult& r) {
  return {{"layer", layer},
          {"part", part},
          {"explained_variance", nums(r.explained_variance)},
          {"explained_variance_ratio", nums(r.explained_variance_ratio)},
          {"coords", tensor_json(r.coords)}};
}

json quant_error_json(const std::vector<analysis::QuantError>& e) {
  json rel = json::array(), mx = json::array();
  for (const analysis::QuantError& q : e) {
    rel.push_back(num(q.relative_mse));
    mx.push_back(num(q.max_abs_error));
  }
  return {{"relative_mse", rel}, {"max_abs_error", mx}};
}

const char* importance_measure_key(analysis::ImportanceMeasure m) {
  switch (m) {
    case analysis::ImportanceMeasure::KeyNorm:
      return "key_norm";
    case analysis::ImportanceMeasure::ValueNorm:
      return "value_norm";
    case analysis::ImportanceMeasure::KeyValueNorm:
      return "key_value_norm";
    case analysis::ImportanceMeasure::AttentionReceived:
      return "attention_received";
  }
  return "?";
}

json ranked_json(const std::vector<analysis::RankedToken>& r) {
  json a = json::array();
  for (const analysis::RankedToken& t : r)
    a.push_back({{"position", t.index}, {"text", t.text}, {"score", num(t.score)}});
  return a;
}

std::string dump(const json& j) {
  return j.dump(1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string g(double v) {
  return std::isfinite(v) ? fmt::format("{:.9g}", v) : std::string();
}

int64_t layer_bytes(const capture::Capture& cap, int64_t seq) {
  return analysis::kv_cache_bytes(1, cap.n_kv_head, seq, cap.head_dim);
}

}  // namespace

std::string csv_field(std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

json metrics_json(const capture::Capture& cap, const Bundle& b, const ReportOptions& opt,
                  const capture::GenerationTrace* trace) {
  const int S = cap.seq_len();
  const int L = cap.n_layer;
  json j;
  j["schema"] = "kvscope.metrics/1";
  j["units"] = {
      {"activations",
       "K and V entries, norms and errors are in the units of the cached activations (fp32)"},
      {"_bytes", "bytes"},
      {"_nats", "natural-log information units"},
      {"_tokens", "token positions"},
      {"sparsity", "share in [0, 1]"},
      {"explained_variance_ratio", "share in [0, 1] of the total variance"},
      {"relative_mse", "||x - x'||^2 / ||x||^2, dimensionless"},
      {"percentiles", "percent levels listed in distribution.percent_levels"},
  };
  j["model"] = {{"name", cap.model_name}, {"arch", cap.arch},           {"n_layer", L},
                {"n_head", cap.n_head},   {"n_kv_head", cap.n_kv_head}, {"head_dim", cap.head_dim},
                {"d_model", cap.d_model}, {"has_rope", cap.has_rope},   {"seq_len", S}};
  j["prompt"] = cap.prompt;
  json toks = json::array();
  for (int i = 0; i < S; ++i)
    toks.push_back({{"position", i},
                    {"id", cap.token_ids[static_cast<size_t>(i)]},
                    {"text", static_cast<size_t>(i) < cap.token_strings.size()
                                 ? cap.token_strings[static_cast<size_t>(i)]
                                 : ""},
                    {"category", i < static_cast<int>(b.categories.size())
                                     ? std::string(analysis::category_name(
                                           b.categories[static_cast<size_t>(i)]))
                                     : std::string()}});
  j["tokens"] = toks;
  j["options"] = {{"layer", b.layer},
                  {"head", b.head},
                  {"attn_layers", b.attn_layers},
                  {"attn_heads", b.attn_heads},
                  {"pca_layers", b.pca_layers},
                  {"histogram_bins", opt.histogram_bins},
                  {"log_counts", opt.log_counts},
                  {"tokens_listed", opt.tokens_listed},
                  {"attention_norm", opt.attention_norm},
                  {"format", opt.ext}};
  j["sparsity_rule"] = {{"threshold", opt.sparsity.threshold},
                        {"scale", scale_name(opt.sparsity.scale)},
                        {"definition", sparsity_definition(opt.sparsity)}};

  json ls = json::array();
  for (int l = 0; l < static_cast<int>(b.stats.size()); ++l) {
    const analysis::LayerStats& s = b.stats[static_cast<size_t>(l)];
    ls.push_back({{"layer", l},
                  {"key", stats_json(s.key)},
                  {"value", stats_json(s.value)},
                  {"kv_correlation", num(s.kv_correlation)}});
  }
  j["layer_stats"] = {
      {"definition",
       "over all kv_heads x tokens x head_dim entries of one layer's K (after RoPE) or V; std is "
       "the population "
       "std (ddof 0); kurtosis is excess kurtosis m4/m2^2 - 3; kv_correlation is Pearson's r of K "
       "and V "
       "elementwise; channel_max_abs is [kv_heads][head_dim] max over tokens of |x|"},
      {"layers", ls}};

  j["distribution"] = {
      {"percent_levels", nums(b.distribution.q)},
      {"definition",
       "histograms of all K (resp. V) entries over all layers, equal-width bins over [min, max] "
       "(numpy.histogram conventions); per-layer counts share the overall edges; percentiles "
       "interpolate linearly (numpy default)"},
      {"key", part_distribution_json(b.distribution.key)},
      {"value", part_distribution_json(b.distribution.value)}};

  json pca = json::array();
  for (size_t i = 0; i < b.pca_layers.size(); ++i) {
    if (i < b.pca_keys.size()) pca.push_back(pca_json(b.pca_layers[i], "key", b.pca_keys[i]));
    if (i < b.pca_values.size()) pca.push_back(pca_json(b.pca_layers[i], "value", b.pca_values[i]));
  }
  j["pca"] = {{"definition",
               "PCA of the [tokens, kv_heads * head_dim] matrix of a layer's token vectors (heads "
               "concatenated), "
               "centred; coords are [tokens][2]; explained_variance divides by tokens - 1; each "
               "component's "
               "largest-magnitude entry is positive"},
              {"results", pca}};

  const analysis::HeadSpecialization& hs = b.heads;
  j["head_specialization"] = {{"layer", hs.layer},
                              {"definition",
                               "per query head of one layer; entropy_nats = mean over queries i of "
                               "-sum_j p_ij ln p_ij over keys j <= i; "
                               "mean_distance_tokens = mean over i of sum_j p_ij (i - j); "
                               "sink_share = mean over i of p_i0; similarity "
                               "= cosine of flattened attention patterns (of mean key vectors "
                               "without attention); key_norms and "
                               "value_norms are [heads][tokens] L2 norms"},
                              {"kv_head", hs.kv_head},
                              {"has_attention", hs.has_attention},
                              {"entropy_nats", nums(hs.entropy)},
                              {"mean_distance_tokens", nums(hs.mean_distance)},
                              {"sink_share", nums(hs.sink_share)},
                              {"similarity", tensor_json(hs.similarity)},
                              {"key_norms", tensor_json(hs.key_norms)},
                              {"value_norms", tensor_json(hs.value_norms)}};

  json curves = json::array();
  for (const analysis::QuantErrorCurve& c : b.quant)
    curves.push_back({{"grouping", analysis::grouping_name(c.grouping)},
                      {"bits", c.bits},
                      {"key", quant_error_json(c.key)},
                      {"value", quant_error_json(c.value)}});
  j["quantization"] = {{"scheme",
                        "uniform asymmetric min-max per group: scale = (hi - lo) / (2^bits - 1), q "
                        "= clamp(round((x - lo) / scale), "
                        "0, 2^bits - 1) with ties to even, x' = lo + q * scale; per_tensor = one "
                        "group per layer tensor, "
                        "per_token = each token vector of each kv head, per_channel = each channel "
                        "of each kv head across tokens"},
                       {"errors",
                        "relative_mse = ||x - x'||^2 / ||x||^2 per layer; max_abs_error = max |x - "
                        "x'| per layer (activation units)"},
                       {"curves", curves}};

  j["token_magnitudes"] = {
      {"definition",
       "per token: L2 norm of its head_dim vector in one (layer, kv head), "
       "averaged over all layers and kv heads"},
      {"key", nums(b.magnitudes.key)},
      {"value", nums(b.magnitudes.value)},
      {"largest_key", b.largest_key_tokens},
      {"largest_value", b.largest_value_tokens},
      {"outliers", b.kv_outliers},
      {"outlier_rule", fmt::format("positions (furthest first, at most {}) whose distance "
                                   "from the medians of (key, value) exceeds {}, each axis "
                                   "in units of its median absolute deviation (1 where "
                                   "that is 0); largest_*: positions of the largest norms, "
                                   "largest first",
                                   Bundle::kOutliersListed, Bundle::kOutlierDistance)}};
  j["importance"] = {{"measure", importance_measure_key(opt.importance.measure)},
                     {"per_visible_query", opt.importance.per_visible_query},
                     {"label", importance_label(opt.importance)},
                     {"definition", importance_definition(opt.importance)},
                     {"scores", nums(b.importance)}};
  j["ranking"] = {{"k", opt.tokens_listed},
                  {"rule", "lowest and highest finite scores; ties go to the earlier position"},
                  {"lowest", ranked_json(b.ranking.lowest)},
                  {"highest", ranked_json(b.ranking.highest)}};

  json groups = json::array();
  for (const analysis::CategoryGroup& gr : b.category_groups) {
    auto mean_of = [](const std::vector<double>& v) {
      double s = 0;
      for (double x : v) s += x;
      return v.empty() ? std::numeric_limits<double>::quiet_NaN()
                       : s / static_cast<double>(v.size());
    };
    groups.push_back({{"category", analysis::category_name(gr.category)},
                      {"count", gr.tokens.size()},
                      {"positions", gr.tokens},
                      {"key_magnitudes", nums(gr.key_magnitudes)},
                      {"value_magnitudes", nums(gr.value_magnitudes)},
                      {"mean_key_magnitude", num(mean_of(gr.key_magnitudes))},
                      {"mean_value_magnitude", num(mean_of(gr.value_magnitudes))}});
  }
  json stop = json::array();
  for (std::string_view w : analysis::stop_words()) stop.push_back(std::string(w));
  j["categories"] = {
      {"rules",
       json::array(
           {"special: the tokenizer marks the id special, or the text is <|...|> or one of <s> "
            "</s> <unk> "
            "<pad> <bos> <eos> <mask>",
            "whitespace: empty or only blank characters (ASCII whitespace, U+00A0, and the markers "
            "Ġ ▁ Ċ)",
            "number: every non-blank character is a digit, '.' or ',' and at least one is a digit",
            "punctuation: every non-blank character is ASCII punctuation or one of … – — ‘ ’ “ ” « "
            "» • · ¿ ¡",
            "stop_word: starts a word and its text without the word-start marker, lowercased, is a "
            "stop word",
            "word_start: has a word-start marker (' ', Ġ, ▁), is first, or follows a blank or "
            "punctuation",
            "word_continuation: anything else"})},
      {"order", "the first rule that holds decides"},
      {"stop_words", stop},
      {"groups", groups}};

  const int64_t fp32 = analysis::kv_cache_bytes(L, cap.n_kv_head, S, cap.head_dim, 4);
  const int64_t fp16 = analysis::kv_cache_bytes(L, cap.n_kv_head, S, cap.head_dim, 2);
  j["cache"] = {
      {"tokens", S},
      {"fp32_bytes", fp32},
      {"fp16_bytes", fp16},
      {"per_token_fp32_bytes", analysis::kv_cache_bytes(L, cap.n_kv_head, 1, cap.head_dim, 4)},
      {"per_layer_fp32_bytes", layer_bytes(cap, S)},
      {"definition", "2 (K and V) x layers x kv_heads x tokens x head_dim x bytes per value"}};
  if (!cap.windows.empty()) {
    // Sliding-window layers: the model's own cache keeps only the last window - 1 positions
    // there (the capture, and the figures above, keep every position).
    std::vector<int64_t> held;
    for (int l = 0; l < L; ++l) held.push_back(S - cap.cached_from(l));
    j["cache"]["layer_windows"] = cap.windows;
    j["cache"]["model_cache_positions_per_layer"] = held;
    j["cache"]["model_cache_per_layer_fp32_bytes"] =
        analysis::kv_cache_bytes_by_layer(cap.windows, cap.n_kv_head, S, cap.head_dim, 4);
    j["cache"]["model_cache_fp32_bytes"] =
        analysis::kv_cache_bytes_windowed(cap.windows, cap.n_kv_head, S, cap.head_dim, 4);
  }

  if (trace) {
    json steps = json::array();
    for (size_t t = 0; t < trace->steps.size(); ++t) {
      const capture::GenerationStep& s = trace->steps[t];
      json st = {{"step", t},
                 {"token", s.token},
                 {"text", s.text},
                 {"cache_len_tokens", s.cache_len},
                 {"cache_bytes", s.cache_bytes},
                 {"ms", num(s.ms)}};
      const analysis::GenerationAttention& ga = b.generation_attention;
      if (t < ga.all_layers.size()) {
        st["attention_mean_over_layers_heads"] = nums(ga.all_layers[t]);   // [cache_len]
        st["attention_mean_over_heads_of_layer"] = nums(ga.one_layer[t]);  // [cache_len]
      }
      steps.push_back(std::move(st));
    }
    json per_step = json::array();
    for (int64_t v : b.cache_bytes_per_step) per_step.push_back(v);
    j["generation"] = {
        {"prompt_ids", trace->prompt_ids},
        {"text", trace->text},
        {"stop_reason", trace->stop_reason},
        {"prefill_ms", num(trace->prefill_ms)},
        {"bytes_per_token", trace->bytes_per_token},
        {"cache_bytes_per_step", per_step},
        {"model_cache_bytes_per_step", b.model_cache_bytes_per_step},
        {"cache_bytes_per_step_definition",
         "entry 0: after the prompt; entry t: after t generated tokens (fp32 K and V, all layers)"},
        {"attention_layer", b.generation_attention.layer},
        {"attention_definition",
         "per step: the generated token's attention probability over the cache (prompt, then "
         "earlier generated tokens), mean over all layers and query heads, and mean over the "
         "query heads of attention_layer; as drawn in generation.png"},
        {"steps", steps}};
  }
  return j;
}

void write_metrics_json(const capture::Capture& cap, const Bundle& b, const ReportOptions& opt,
                        const capture::GenerationTrace* trace, const std::string& path) {
  write_file_atomic(path, dump(metrics_json(cap, b, opt, trace)));
}

std::vector<std::string> write_csv_tables(const capture::Capture& cap, const Bundle& b,
                                          const ReportOptions& opt,
                                          const capture::GenerationTrace* trace,
                                          const std::string& out_dir) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(out_dir))
    throw BadInput(fmt::format("{}: the output folder does not exist", out_dir));
  std::vector<std::string> written;
  auto at = [&](const char* name) {
    written.push_back((fs::path(out_dir) / name).string());
    return written.back();
  };

  std::string s =
      "layer,key_sparsity,key_mean,key_std,key_mean_abs,key_max_abs,key_kurtosis,value_sparsity,"
      "value_mean,"
      "value_std,value_mean_abs,value_max_abs,value_kurtosis,kv_correlation\n";
  for (size_t l = 0; l < b.stats.size(); ++l) {
    const analysis::LayerStats& x = b.stats[l];
    s += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", l, g(x.key.sparsity),
                     g(x.key.mean), g(x.key.std), g(x.key.mean_abs), g(x.key.max_abs),
                     g(x.key.kurtosis), g(x.value.sparsity), g(x.value.mean), g(x.value.std),
                     g(x.value.mean_abs), g(x.value.max_abs), g(x.value.kurtosis),
                     g(x.kv_correlation));
  }
  write_file_atomic(at("layer_stats.csv"), s);

  s = "grouping,bits,layer,key_relative_mse,key_max_abs_error,value_relative_mse,value_max_abs_"
      "error\n";
  for (const analysis::QuantErrorCurve& c : b.quant)
    for (size_t l = 0; l < c.key.size() && l < c.value.size(); ++l)
      s += fmt::format("{},{},{},{},{},{},{}\n", analysis::grouping_name(c.grouping), c.bits, l,
                       g(c.key[l].relative_mse), g(c.key[l].max_abs_error),
                       g(c.value[l].relative_mse), g(c.value[l].max_abs_error));
  write_file_atomic(at("quantization_error.csv"), s);

  s = fmt::format("position,id,text,category,key_magnitude,value_magnitude,importance_{}\n",
                  importance_measure_key(opt.importance.measure));
  for (int i = 0; i < cap.seq_len(); ++i) {
    const size_t u = static_cast<size_t>(i);
    s += fmt::format("{},{},{},{},{},{},{}\n", i, cap.token_ids[u],
                     csv_field(u < cap.token_strings.size() ? cap.token_strings[u] : ""),
                     u < b.categories.size() ? analysis::category_name(b.categories[u]) : "",
                     u < b.magnitudes.key.size() ? g(b.magnitudes.key[u]) : "",
                     u < b.magnitudes.value.size() ? g(b.magnitudes.value[u]) : "",
                     u < b.importance.size() ? g(b.importance[u]) : "");
  }
  write_file_atomic(at("tokens.csv"), s);

  const analysis::HeadSpecialization& hs = b.heads;
  s = "layer,head,kv_head,entropy_nats,mean_distance_tokens,sink_share,mean_key_norm,mean_value_"
      "norm\n";
  for (int h = 0; h < cap.n_head; ++h) {
    const size_t u = static_cast<size_t>(h);
    auto row_mean = [&](const Tensor& t) {
      if (t.empty() || t.shape.size() != 2) return std::numeric_limits<double>::quiet_NaN();
      const int64_t n = t.shape[1];
      double acc = 0;
      for (int64_t i = 0; i < n; ++i) acc += t.data.data()[static_cast<int64_t>(h) * n + i];
      return n > 0 ? acc / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
    };
    s += fmt::format("{},{},{},{},{},{},{},{}\n", hs.layer, h,
                     u < hs.kv_head.size() ? hs.kv_head[u] : -1,
                     u < hs.entropy.size() ? g(hs.entropy[u]) : "",
                     u < hs.mean_distance.size() ? g(hs.mean_distance[u]) : "",
                     u < hs.sink_share.size() ? g(hs.sink_share[u]) : "", g(row_mean(hs.key_norms)),
                     g(row_mean(hs.value_norms)));
  }
  write_file_atomic(at("head_specialization.csv"), s);

  if (trace) {
    s = "step,token,text,cache_len_tokens,cache_bytes,ms\n";
    for (size_t t = 0; t < trace->steps.size(); ++t) {
      const capture::GenerationStep& st = trace->steps[t];
      s += fmt::format("{},{},{},{},{},{}\n", t, st.token, csv_field(st.text), st.cache_len,
                       st.cache_bytes, g(st.ms));
    }
    write_file_atomic(at("generation.csv"), s);
  }
  return written;
}

std::string summary_text(const capture::Capture& cap, const Bundle& b,
                         const capture::GenerationTrace* trace) {
  const int S = cap.seq_len();
  std::string out;
  out +=
      fmt::format("model     {} ({}): {} layers, {} heads ({} kv heads), head dim {}\n",
                  cap.model_name, cap.arch, cap.n_layer, cap.n_head, cap.n_kv_head, cap.head_dim);
  const int64_t bytes = analysis::kv_cache_bytes(cap.n_layer, cap.n_kv_head, S, cap.head_dim, 4);
  out += fmt::format("tokens    {}\n", S);
  out += fmt::format("kv cache  {} bytes fp32 ({:.2f} MiB; {} bytes per token)\n", bytes,
                     static_cast<double>(bytes) / (1024.0 * 1024.0),
                     analysis::kv_cache_bytes(cap.n_layer, cap.n_kv_head, 1, cap.head_dim, 4));
  if (!cap.windows.empty()) {
    const int64_t held =
        analysis::kv_cache_bytes_windowed(cap.windows, cap.n_kv_head, S, cap.head_dim, 4);
    int sliding = 0;
    for (int w : cap.windows) sliding += w > 0;
    out += fmt::format(
        "          the model's own cache holds {} bytes ({:.2f} MiB): {} of {} layers slide and "
        "keep the last window - 1 positions\n",
        held, static_cast<double>(held) / (1024.0 * 1024.0), sliding, cap.n_layer);
  }
  auto list = [&](const std::vector<analysis::RankedToken>& r) {
    std::string s;
    for (size_t i = 0; i < r.size() && i < 5; ++i)
      s += fmt::format("{}{} @{} ({:.4g})", i ? ", " : "", token_label(cap, r[i].index), r[i].index,
                       r[i].score);
    return s;
  };
  out += fmt::format("most important   {}\n", list(b.ranking.highest));
  out += fmt::format("least important  {}\n", list(b.ranking.lowest));
  if (!b.stats.empty()) {
    size_t lk = 0, lv = 0;
    for (size_t l = 1; l < b.stats.size(); ++l) {
      if (b.stats[l].key.kurtosis > b.stats[lk].key.kurtosis) lk = l;
      if (b.stats[l].value.kurtosis > b.stats[lv].value.kurtosis) lv = l;
    }
    out += fmt::format("max kurtosis     keys: layer {} ({:.3g}), values: layer {} ({:.3g})\n", lk,
                       b.stats[lk].key.kurtosis, lv, b.stats[lv].value.kurtosis);
  }
  for (const analysis::QuantErrorCurve& c : b.quant) {
    if (c.grouping != analysis::QuantGrouping::PerToken || c.bits != 4 || c.key.empty()) continue;
    double k = 0, v = 0;
    for (size_t l = 0; l < c.key.size(); ++l) {
      k += c.key[l].relative_mse;
      v += c.value[l].relative_mse;
    }
    out += fmt::format(
        "4-bit per-token  relative MSE (mean over layers): keys {:.3g}, values {:.3g}\n",
        k / static_cast<double>(c.key.size()), v / static_cast<double>(c.value.size()));
  }
  if (trace && !trace->steps.empty())
    out += fmt::format("generation       {} tokens (stopped by {}), cache {} -> {} bytes\n",
                       trace->steps.size(), trace->stop_reason,
                       b.cache_bytes_per_step.empty() ? int64_t{0} : b.cache_bytes_per_step.front(),
                       b.cache_bytes_per_step.empty() ? int64_t{0} : b.cache_bytes_per_step.back());
  return out;
}

}  // namespace kvscope::report
