#include "kvscope/report/compress_report.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include <fmt/format.h>

#include "kvscope/atomic_file.hpp"
#include "kvscope/plot/figure.hpp"
#include "kvscope/report/metrics.hpp"

namespace kvscope::report {

using json = nlohmann::json;
using analysis::CompressReport;
using analysis::CompressResult;

namespace {

json num(double v) {
  return std::isfinite(v) ? json(v) : json(nullptr);
}

std::string g(double v) {
  return std::isfinite(v) ? fmt::format("{:.9g}", v) : std::string();
}

std::string budget_text(const std::optional<double>& b) {
  return b ? fmt::format("{:g}", *b) : std::string();
}

// "1 window", "4 windows".
std::string windows_text(int n) {
  return fmt::format("{} window{}", n, n == 1 ? "" : "s");
}

std::string label(const CompressResult& r) {
  return r.budget ? fmt::format("{} @ {:g}", r.method, *r.budget) : r.method;
}

json metrics_fields(const analysis::CompressMetrics& m) {
  return {{"kl_mean", num(m.kl_mean)},
          {"kl_p50", num(m.kl_p50)},
          {"kl_p90", num(m.kl_p90)},
          {"kl_p99", num(m.kl_p99)},
          {"kl_max", num(m.kl_max)},
          {"top1_agree", num(m.top1_agree)},
          {"ppl", num(m.ppl)},
          {"ppl_ratio", num(m.ppl_ratio)},
          {"delta_p_mean", num(m.delta_p_mean)},
          {"delta_p_rms", num(m.delta_p_rms)}};
}

// A KL of exactly 0 (nothing changed) has no place on a log axis: NaN leaves it out.
double log_safe(double v) {
  return v > 0 && std::isfinite(v) ? v : NAN;
}

}  // namespace

json compress_results_json(const CompressReport& r, const CompressInfo& info) {
  json j;
  j["schema"] = "kvscope.compress/1";
  j["model"] = info.model;
  j["text"] = info.text;
  j["context"] = r.context;
  j["continuation"] = r.continuation;
  j["windows"] = r.windows;
  j["scored"] = r.scored;
  j["reference"] = {{"ppl", num(r.ppl_ref)}, {"cache_bytes", r.fp16_bytes}};
  j["units"] = {
      {"budget",
       "share of the context removed in [0, 1), or a count of tokens kept when >= 1; "
       "null for methods that only quantize"},
      {"kept_tokens", "context tokens kept, mean over layers and KV heads"},
      {"cache_bytes",
       "bytes of the compressed context cache: every code, scale, zero point "
       "and full-precision entry; uncompressed values count 2 bytes (fp16)"},
      {"bytes_ratio", "cache_bytes / reference.cache_bytes (the context cache at fp16)"},
      {"kl", "KL(p_ref || p) over the full vocabulary, natural logs (nats), per scored position"},
      {"top1_agree", "share of scored positions whose most likely token equals the reference's"},
      {"ppl", "exp(mean -ln p(actual next token)); ppl_ratio = ppl / reference.ppl"},
      {"delta_p", "p(actual next token) - p_ref(actual next token); mean and root mean square"},
  };
  json results = json::array();
  for (const CompressResult& x : r.results) {
    json e = {{"method", x.method},
              {"budget", x.budget ? json(*x.budget) : json(nullptr)},
              {"kept_tokens", num(x.kept_tokens)},
              {"cache_bytes", x.cache_bytes},
              {"bytes_ratio", num(x.bytes_ratio)}};
    e.update(metrics_fields(x.metrics));
    results.push_back(std::move(e));
  }
  j["results"] = std::move(results);
  if (!r.sensitivity_method.empty()) {
    json layers = json::array(), heads = json::array();
    for (const auto& row : r.sensitivity_layers) {
      json e = {{"layer", row.layer}};
      e.update(metrics_fields(row.metrics));
      layers.push_back(std::move(e));
    }
    for (const auto& row : r.sensitivity_heads) {
      json e = {{"layer", row.layer}, {"kv_head", row.kv_head}};
      e.update(metrics_fields(row.metrics));
      heads.push_back(std::move(e));
    }
    j["sensitivity"] = {
        {"method", r.sensitivity_method},
        {"budget", r.sensitivity_budget ? json(*r.sensitivity_budget) : json(nullptr)},
        {"per_layer", std::move(layers)},
        {"layer", r.sensitivity_layer >= 0 ? json(r.sensitivity_layer) : json(nullptr)},
        {"per_kv_head", std::move(heads)}};
  }
  return j;
}

std::string compress_results_csv(const CompressReport& r) {
  std::string s =
      "method,budget,kept_tokens,cache_bytes,bytes_ratio,kl_mean,kl_p50,kl_p90,kl_p99,kl_max,"
      "top1_agree,ppl,ppl_ratio,delta_p_mean,delta_p_rms\n";
  for (const CompressResult& x : r.results) {
    const auto& m = x.metrics;
    s +=
        fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", csv_field(x.method),
                    budget_text(x.budget), g(x.kept_tokens), x.cache_bytes, g(x.bytes_ratio),
                    g(m.kl_mean), g(m.kl_p50), g(m.kl_p90), g(m.kl_p99), g(m.kl_max),
                    g(m.top1_agree), g(m.ppl), g(m.ppl_ratio), g(m.delta_p_mean), g(m.delta_p_rms));
  }
  return s;
}

std::string compress_sensitivity_csv(const CompressReport& r) {
  std::string s = "method,budget,layer,kv_head,kl_mean,kl_p99,top1_agree,ppl_ratio\n";
  auto rows = r.sensitivity_layers;
  rows.insert(rows.end(), r.sensitivity_heads.begin(), r.sensitivity_heads.end());
  for (const auto& row : rows)
    s += fmt::format("{},{},{},{},{},{},{},{}\n", csv_field(r.sensitivity_method),
                     budget_text(r.sensitivity_budget), row.layer,
                     row.kv_head >= 0 ? std::to_string(row.kv_head) : std::string("all"),
                     g(row.metrics.kl_mean), g(row.metrics.kl_p99), g(row.metrics.top1_agree),
                     g(row.metrics.ppl_ratio));
  return s;
}

std::string compress_table_text(const CompressReport& r) {
  std::string s = fmt::format(
      "{} of {} context + {} scored tokens ({} positions); reference perplexity {:.3f}; "
      "fp16 context cache {} bytes\n",
      windows_text(r.windows), r.context, r.continuation, r.scored, r.ppl_ref, r.fp16_bytes);
  size_t w = 6;
  for (const CompressResult& x : r.results) w = std::max(w, x.method.size());
  s += fmt::format("{:<{}}  {:>6}  {:>7}  {:>6}  {:>9}  {:>9}  {:>6}  {:>8}  {:>7}\n", "method", w,
                   "budget", "kept", "bytes", "KL mean", "KL p99", "top-1", "ppl x", "dp rms");
  for (const CompressResult& x : r.results) {
    const auto& m = x.metrics;
    s += fmt::format(
        "{:<{}}  {:>6}  {:>7.1f}  {:>5.1f}%  {:>9.2e}  {:>9.2e}  {:>5.1f}%  {:>8.4f}  {:>7.4f}\n",
        x.method, w, x.budget ? budget_text(x.budget) : "-", x.kept_tokens, 100 * x.bytes_ratio,
        m.kl_mean, m.kl_p99, 100 * m.top1_agree, m.ppl_ratio, m.delta_p_rms);
  }
  if (!r.sensitivity_method.empty()) {
    s += fmt::format("sensitivity of {}{}: mean KL when only one layer is compressed\n",
                     r.sensitivity_method,
                     r.sensitivity_budget ? fmt::format(" @ {:g}", *r.sensitivity_budget) : "");
    for (const auto& row : r.sensitivity_layers)
      s += fmt::format("  layer {:>3}: KL {:.2e}  top-1 {:.1f}%\n", row.layer, row.metrics.kl_mean,
                       100 * row.metrics.top1_agree);
    for (const auto& row : r.sensitivity_heads)
      s += fmt::format("  layer {:>3} KV head {:>2}: KL {:.2e}  top-1 {:.1f}%\n", row.layer,
                       row.kv_head, row.metrics.kl_mean, 100 * row.metrics.top1_agree);
  }
  return s;
}

void draw_compression_pareto(const CompressReport& r, const std::string& path) {
  plot::Figure fig(1500, 720);
  fig.suptitle(
      fmt::format("What each method costs: output change against cache size ({} of {} + {} tokens; "
                  "lines join one eviction rule's budgets, dots are quantizers)",
                  windows_text(r.windows), r.context, r.continuation));
  fig.grid(1, 2);
  plot::Axes& kl = fig.axes(0, 0);
  plot::Axes& top = fig.axes(0, 1);
  // One line per method name that has budgets, in order of appearance; points for the rest.
  std::vector<std::string> names;
  std::map<std::string, std::vector<const CompressResult*>> by_name;
  std::vector<const CompressResult*> points;
  for (const CompressResult& x : r.results) {
    if (!x.budget) {
      points.push_back(&x);
      continue;
    }
    if (!by_name.count(x.method)) names.push_back(x.method);
    by_name[x.method].push_back(&x);
  }
  for (size_t i = 0; i < names.size(); ++i) {
    auto rows = by_name[names[i]];
    std::sort(rows.begin(), rows.end(), [](const CompressResult* a, const CompressResult* b) {
      return a->bytes_ratio < b->bytes_ratio;
    });
    std::vector<double> x, y, t;
    for (const CompressResult* p : rows) {
      x.push_back(100 * p->bytes_ratio);
      y.push_back(log_safe(p->metrics.kl_mean));
      t.push_back(100 * p->metrics.top1_agree);
    }
    plot::LineStyle ls;
    ls.label = names[i];
    ls.color = plot::palette(static_cast<int>(i));
    ls.marker = plot::Marker::circle;
    kl.line(x, y, ls);
    plot::LineStyle ts = ls;
    ts.label.clear();
    top.line(x, t, ts);
  }
  if (!points.empty()) {
    std::vector<double> x, y, xt, t;
    std::vector<std::string> labels, labels_t;
    for (const CompressResult* p : points) {
      const double v = log_safe(p->metrics.kl_mean);
      if (std::isfinite(v)) {
        x.push_back(100 * p->bytes_ratio);
        y.push_back(v);
        labels.push_back(p->method);
      }
      xt.push_back(100 * p->bytes_ratio);
      t.push_back(100 * p->metrics.top1_agree);
      labels_t.push_back(p->method);
    }
    plot::ScatterStyle ss;
    ss.label = "quantizers";
    ss.color = plot::Color{0.15, 0.15, 0.15, 1};
    ss.marker = plot::Marker::diamond;
    ss.size = 5;
    ss.labels = labels;
    kl.scatter(x, y, ss);
    ss.label.clear();
    ss.labels = labels_t;
    top.scatter(xt, t, ss);
  }
  // One x range for both panels, from an empty cache to the whole fp16 one (or beyond).
  double x_hi = 100;
  for (const CompressResult& x : r.results) x_hi = std::max(x_hi, 100 * x.bytes_ratio);
  kl.x_limits(0, x_hi * 1.04);
  top.x_limits(0, x_hi * 1.04);
  kl.y_scale(plot::Scale::log)
      .title("Mean KL(reference || compressed) per scored token")
      .x_label("context cache size, % of the fp16 cache")
      .y_label("mean KL, nats (log scale)")
      .grid()
      .legend(plot::Loc::best);
  top.title("Same most-likely next token as the reference")
      .x_label("context cache size, % of the fp16 cache")
      .y_label("top-1 agreement, %")
      .grid();
  fig.save(path);
}

void draw_compression_kl_distribution(const CompressReport& r, const std::string& path) {
  std::vector<const CompressResult*> rows;
  for (const CompressResult& x : r.results) rows.push_back(&x);
  std::stable_sort(rows.begin(), rows.end(), [](const CompressResult* a, const CompressResult* b) {
    return a->metrics.kl_mean < b->metrics.kl_mean;
  });
  const int n = static_cast<int>(rows.size());
  plot::Figure fig(1300, std::clamp(200.0 + 24.0 * n, 420.0, 4000.0));
  fig.suptitle(
      fmt::format("How KL(reference || compressed) is spread over the {} scored tokens, per method "
                  "(sorted by the mean; a method with KL 0 everywhere has no marks)",
                  r.scored));
  plot::Axes& ax = fig.axes(0, 0);
  std::vector<std::string> labels;
  for (const CompressResult* p : rows) labels.push_back(label(*p));
  // Row 0 at the top: the smallest mean first.
  struct Stat {
    const char* name;
    double analysis::CompressMetrics::*field;
    plot::Marker marker;
  };
  const Stat stats[] = {
      {"median", &analysis::CompressMetrics::kl_p50, plot::Marker::circle},
      {"90th percentile", &analysis::CompressMetrics::kl_p90, plot::Marker::square},
      {"99th percentile", &analysis::CompressMetrics::kl_p99, plot::Marker::triangle},
      {"maximum", &analysis::CompressMetrics::kl_max, plot::Marker::diamond}};
  for (int i = 0; i < n; ++i) {
    const auto& m = rows[static_cast<size_t>(i)]->metrics;
    const double lo = log_safe(m.kl_p50), hi = log_safe(m.kl_max);
    if (std::isfinite(lo) && std::isfinite(hi)) {
      plot::LineStyle ls;
      ls.color = plot::Color{0.6, 0.6, 0.6, 1};
      ls.width = 1.2;
      const double xs[] = {lo, hi}, ys[] = {static_cast<double>(i), static_cast<double>(i)};
      ax.line(xs, ys, ls);
    }
  }
  for (size_t s = 0; s < std::size(stats); ++s) {
    std::vector<double> x, y;
    for (int i = 0; i < n; ++i) {
      const double v = log_safe(rows[static_cast<size_t>(i)]->metrics.*stats[s].field);
      if (!std::isfinite(v)) continue;
      x.push_back(v);
      y.push_back(i);
    }
    plot::ScatterStyle ss;
    ss.label = stats[s].name;
    ss.color = plot::palette(static_cast<int>(s));
    ss.marker = stats[s].marker;
    ss.size = 4.5;
    ax.scatter(x, y, ss);
  }
  {
    std::vector<double> x, y;
    for (int i = 0; i < n; ++i) {
      const double v = log_safe(rows[static_cast<size_t>(i)]->metrics.kl_mean);
      if (!std::isfinite(v)) continue;
      x.push_back(v);
      y.push_back(i);
    }
    plot::ScatterStyle ss;
    ss.label = "mean";
    ss.color = plot::Color{0, 0, 0, 1};
    ss.marker = plot::Marker::circle;
    ss.size = 2.5;
    ax.scatter(x, y, ss);
  }
  ax.y_categories(labels, {.rotation = 0, .max_width = 260});
  ax.y_limits(n - 0.5, -0.5);
  ax.x_scale(plot::Scale::log)
      .x_label("KL(reference || compressed) per scored token, nats (log scale)")
      .grid()
      .legend(plot::Loc::lower_left);  // the worst rows, at the bottom, have their marks right
  fig.save(path);
}

void draw_compression_sensitivity(const CompressReport& r, const std::string& path) {
  const bool heads = !r.sensitivity_heads.empty();
  plot::Figure fig(heads ? 1500 : 1000, 620);
  const std::string what =
      r.sensitivity_budget ? fmt::format("{} @ {:g}", r.sensitivity_method, *r.sensitivity_budget)
                           : r.sensitivity_method;
  fig.suptitle(fmt::format(
      "Where {} hurts: mean KL(reference || compressed) when it compresses one layer{} and "
      "leaves the rest full",
      what, heads ? " (left) or one KV head of one layer (right)" : ""));
  fig.grid(1, heads ? 2 : 1);
  {
    plot::Axes& ax = fig.axes(0, 0);
    std::vector<double> x, y;
    for (const auto& row : r.sensitivity_layers) {
      x.push_back(row.layer);
      y.push_back(log_safe(row.metrics.kl_mean));
    }
    plot::LineStyle ls;
    ls.color = plot::palette(0);
    ls.marker = plot::Marker::circle;
    ax.line(x, y, ls);
    ax.y_scale(plot::Scale::log)
        .title("one layer at a time")
        .x_label("layer compressed")
        .y_label("mean KL, nats (log scale)")
        .grid();
    if (r.sensitivity_layer >= 0) {
      plot::RefLineStyle rs;
      rs.label = fmt::format("layer {} (right)", r.sensitivity_layer);
      ax.vline(r.sensitivity_layer, rs).legend(plot::Loc::upper_right);
    }
  }
  if (heads) {
    plot::Axes& ax = fig.axes(0, 1);
    std::vector<std::string> cats;
    std::vector<double> v;
    for (const auto& row : r.sensitivity_heads) {
      cats.push_back(fmt::format("KV head {}", row.kv_head));
      v.push_back(row.metrics.kl_mean);
    }
    ax.bar(cats, {plot::BarSeries(v, "", plot::palette(1))})
        .title(fmt::format("one KV head of layer {} at a time", r.sensitivity_layer))
        .y_label("mean KL, nats")
        .grid();
  }
  fig.save(path);
}

std::string compress_guide_markdown(const CompressReport& r, const CompressInfo& info) {
  const std::string ext = info.ext;
  std::string s = fmt::format(
      "# Reading the compression lab's output\n\n"
      "`kvscope compress` asks one question of every method: if the cache is compressed this "
      "way, how far does the model's prediction of the next token move? Model: `{}`; text: {}.\n\n"
      "## How the numbers were made\n\n"
      "The text was cut into {} of {} + {} + 1 tokens. For each window the model read "
      "the first {} tokens (the *context*) once. Every method then got its own copy of that "
      "cache, changed it (evicted entries, or rounded them and wrote the rounded values back), "
      "and the next {} tokens were fed in one piece at their true positions, so nothing moved: "
      "an evicted entry simply gets zero attention. The *reference* is the same continuation "
      "on the untouched cache. The {} continuation tokens were not compressed; they are the "
      "positions scored, {} in all.\n\n"
      "For every scored position we compare the method's next-token distribution p with the "
      "reference's p_ref over the whole vocabulary:\n\n"
      "- **KL** = sum over tokens of p_ref (ln p_ref - ln p), in nats. 0 means no change. For "
      "scale, llama.cpp's own measurements on an 8B model give about 0.001 for a q8_0 K and V "
      "cache and 0.07 for q4_0 weights. We give its mean and its 50th, 90th and 99th "
      "percentiles and maximum, because a method can be harmless on average and ruinous on a "
      "few tokens.\n"
      "- **top-1 agreement**: how often the most likely token is the same.\n"
      "- **perplexity** of the text's actual next tokens under each run, and the ratio to the "
      "reference's ({:.3f}).\n"
      "- **delta p**: p(actual next token) minus the reference's; its mean says whether the "
      "method loses the right answer, its RMS how much it wobbles.\n"
      "- **cache bytes**: what the compressed context cache would take to store, counting every "
      "code, scale, zero point and full-precision entry, with the uncompressed cache at fp16 "
      "(2 bytes per value, {} bytes here). Eviction keeps the same number of tokens in every "
      "layer and KV head.\n\n",
      info.model, info.text, windows_text(r.windows), r.context, r.continuation, r.context,
      r.continuation, r.continuation, r.scored, r.ppl_ref, r.fp16_bytes);
  s += fmt::format(
      "## compression_pareto.{}\n\n"
      "Left: mean KL (log scale) against the size of the context cache as a share of fp16. "
      "Each coloured line is one eviction rule at the budgets asked for (more eviction, further "
      "left); dark diamonds are the quantizers, labelled. A method that changed nothing (KL 0, "
      "such as `full`) has no place on a log axis and shows in the right panel only. Lower and "
      "further left is better; the "
      "methods on the lower-left edge are the ones worth their memory. Right: the same methods' "
      "top-1 agreement, where higher is better. When two methods have the same size, compare "
      "their heights: at this length and model a factor of ten in KL is a real difference, a "
      "factor of 1.2 may be the text.\n\n",
      ext);
  s += fmt::format(
      "## compression_kl_distribution.{}\n\n"
      "One row per method (and budget), sorted by mean KL. The marks show the median, 90th and "
      "99th percentile and maximum of KL over the scored tokens, the small black dot the mean. "
      "A mean far above the median means the damage sits in a few tokens (a lost name, a "
      "wrong number), which averages hide; a long bar from median to maximum means the same.\n\n",
      ext);
  if (!r.sensitivity_method.empty())
    s += fmt::format(
        "## compression_sensitivity.{}\n\n"
        "The method named in --sensitivity is applied to one layer at a time, every other "
        "layer kept whole, and the mean KL plotted per layer: the layers where it hurts most "
        "are the ones to spare (or to give more budget). With --layer, the right panel does the "
        "same for each KV head of that layer. These are not additive: the KL of compressing "
        "every layer is not the sum of the per-layer KLs.\n\n",
        ext);
  s += "## Files\n\n"
       "`results.json` and `results.csv` hold one row per method and budget with every number "
       "above (`budget` is the share of the context removed, or a token count when >= 1, and "
       "empty for quantizers); `sensitivity.csv` the per-layer and per-head rows when asked.\n\n"
       "## What this does not tell you\n\n"
       "The continuation is teacher-forced: the model is never fed its own, possibly wrong, "
       "tokens, so errors do not compound as they would in generation. The text and the model "
       "are one text and one model; the windows are few, so small differences between methods "
       "(within a factor of about 1.5 in mean KL) may not survive another text. Attention-based "
       "methods (h2o, tova, snapkv) see the context's own attention, as they would at the end "
       "of a prefill; none of them sees the continuation.\n";
  return s;
}

bool is_compress_file(const std::string& name) {
  return name == "results.json" || name == "results.csv" || name == "sensitivity.csv" ||
         name.rfind("compression_", 0) == 0;
}

AtomicFolder compress_output_folder(const std::string& dir) {
  return AtomicFolder(dir, is_compress_file, "out");
}

std::vector<std::string> write_compress_report(
    const CompressReport& r, const CompressInfo& info, AtomicFolder& out,
    const std::function<void(const std::string&)>& progress) {
  // The folder appears whole, with this run's files only (atomic_file.hpp): a failed or
  // interrupted run leaves the previous one as it was.
  const std::string& dir = out.final_path();
  out.create();
  std::vector<std::string> written;
  auto at = [&](const std::string& name) {
    if (progress) progress(name);
    written.push_back(dir + "/" + name);
    return out.path_of(name);
  };
  write_file_atomic(at("results.json"), compress_results_json(r, info).dump(1) + "\n");
  write_file_atomic(at("results.csv"), compress_results_csv(r));
  if (!r.sensitivity_method.empty())
    write_file_atomic(at("sensitivity.csv"), compress_sensitivity_csv(r));
  draw_compression_pareto(r, at("compression_pareto." + info.ext));
  draw_compression_kl_distribution(r, at("compression_kl_distribution." + info.ext));
  if (!r.sensitivity_method.empty())
    draw_compression_sensitivity(r, at("compression_sensitivity." + info.ext));
  write_file_atomic(at("compression_guide.md"), compress_guide_markdown(r, info));
  out.commit();
  return written;
}

}  // namespace kvscope::report
