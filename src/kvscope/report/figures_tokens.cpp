// The token figures: what each token weighs in the cache, and what generation does to it.
#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "kvscope/error.hpp"
#include "kvscope/plot/figure.hpp"
#include "kvscope/report/figures.hpp"
#include "kvscope/report/labels.hpp"
#include "kvscope/tokenizer/utf8.hpp"

namespace kvscope::report {

namespace {

// Sizes below are in inches of the report's convention (figures.hpp): 100 figure units each.
plot::Figure inches(double w, double h) {
  return plot::Figure(100 * w, 100 * h);
}

std::string category_words(analysis::TokenCategory c) {
  std::string s(analysis::category_name(c));
  std::replace(s.begin(), s.end(), '_', ' ');
  return s;
}

// One bar list (lowest or highest tokens) on an axes, bars coloured by rank group.
void ranked_bars(plot::Axes& ax, const capture::Capture& cap,
                 const std::vector<analysis::RankedToken>& ranked, plot::Color color) {
  std::vector<std::string> names;
  std::vector<double> scores;
  for (const analysis::RankedToken& t : ranked) {
    names.push_back(token_with_position(cap, t.index));
    scores.push_back(t.score);
  }
  plot::TickLabelStyle ts;
  ts.max_width = 160;
  ax.barh(names, {plot::BarSeries(scores, "", color)});
  ax.y_categories(names, ts);
  ax.grid();
  // The score at each bar's end: bars start at 0, so close scores would otherwise read alike.
  plot::TextStyle vs;
  vs.size = 8.5;
  vs.valign = plot::VAlign::middle;
  for (size_t i = 0; i < scores.size(); ++i) {
    vs.halign = scores[i] < 0 ? plot::HAlign::right : plot::HAlign::left;
    ax.text(scores[i], static_cast<double>(i), fmt::format(" {:.4g} ", scores[i]), vs);
  }
}

// Upper end of a bar axis with room for the value labels.
double bar_axis_end(const std::vector<analysis::RankedToken>& ranked) {
  double hi = 0;
  for (const analysis::RankedToken& t : ranked) hi = std::max(hi, t.score);
  return hi > 0 ? hi * 1.12 : 1.0;
}

// Bytes in the unit that keeps the numbers readable: KiB below one MiB, else MiB.
struct ByteUnit {
  double div;
  const char* name;
};
ByteUnit byte_unit(double max_bytes) {
  return max_bytes < 1024.0 * 1024.0 ? ByteUnit{1024.0, "KiB"} : ByteUnit{1024.0 * 1024.0, "MiB"};
}

std::string model_line(const capture::Capture& cap) {
  return fmt::format("{} ({}), {} tokens", cap.model_name, cap.arch, cap.seq_len());
}

}  // namespace

plot::Figure build_low_importance_tokens(const capture::Capture& cap, const Bundle& b,
                                         const ReportOptions& opt) {
  const auto& low = b.ranking.lowest;
  const double h = std::clamp(1.6 + 0.3 * static_cast<double>(low.size()), 3.5, 40.0);
  plot::Figure fig = inches(9, h);
  fig.suptitle(fmt::format("The {} least important tokens by {}", low.size(),
                           importance_label(opt.importance)));
  plot::Axes& ax = fig.axes();
  ranked_bars(ax, cap, low, plot::palette(0));
  ax.x_limits(0, bar_axis_end(low));
  ax.title(model_line(cap) + "; lowest score at the top")
      .x_label(importance_label(opt.importance))
      .y_label("token (text @ position)");
  return fig;
}

plot::Figure build_token_importance_comparison(const capture::Capture& cap, const Bundle& b,
                                               const ReportOptions& opt) {
  const auto& hi = b.ranking.highest;
  const auto& lo = b.ranking.lowest;
  const size_t n = std::max(hi.size(), lo.size());
  const double h = std::clamp(1.8 + 0.3 * static_cast<double>(n), 3.5, 40.0);
  plot::Figure fig = inches(13, h);
  fig.suptitle(fmt::format("Most and least important tokens by {} ({})",
                           importance_label(opt.importance), model_line(cap)))
      .grid(1, 2);
  double lo_x = 0, hi_x = 0;
  for (const auto* list : {&hi, &lo})
    for (const analysis::RankedToken& t : *list) {
      lo_x = std::min(lo_x, t.score);
      hi_x = std::max(hi_x, t.score);
    }
  if (!(hi_x > lo_x)) hi_x = lo_x + 1;
  const double pad = 0.12 * (hi_x - lo_x);
  plot::Axes& a = fig.axes(0, 0);
  ranked_bars(a, cap, hi, plot::palette(3));
  a.title(fmt::format("{} highest (largest at the top)", hi.size()))
      .x_label(importance_label(opt.importance))
      .y_label("token (text @ position)")
      .x_limits(lo_x < 0 ? lo_x - pad : 0, hi_x + pad);
  plot::Axes& c = fig.axes(0, 1);
  ranked_bars(c, cap, lo, plot::palette(0));
  c.title(fmt::format("{} lowest (smallest at the top), same scale", lo.size()))
      .x_label(importance_label(opt.importance))
      .x_limits(lo_x < 0 ? lo_x - pad : 0, hi_x + pad);
  return fig;
}

plot::Figure build_token_magnitude_distributions(const capture::Capture& cap, const Bundle& b,
                                                 const ReportOptions&) {
  std::vector<std::string> labels;
  std::vector<std::vector<double>> keys, values;
  std::vector<std::string> omitted;
  for (const analysis::CategoryGroup& g : b.category_groups) {
    if (g.tokens.empty()) {
      omitted.push_back(category_words(g.category));
      continue;
    }
    labels.push_back(fmt::format("{} (n={})", category_words(g.category), g.tokens.size()));
    keys.push_back(g.key_magnitudes);
    values.push_back(g.value_magnitudes);
  }
  plot::Figure fig = inches(13, 6);
  std::string sup = fmt::format("Key and value magnitudes by token category ({})", model_line(cap));
  if (!omitted.empty()) sup += fmt::format("\nno tokens in: {}", fmt::join(omitted, ", "));
  fig.suptitle(sup).grid(1, 2);
  const char* parts[2] = {"Keys", "Values"};
  const char* units[2] = {"key norm ‖k‖₂ (mean over layers and kv heads)",
                          "value norm ‖v‖₂ (mean over layers and kv heads)"};
  for (int p = 0; p < 2; ++p) {
    plot::Axes& ax = fig.axes(0, p);
    const auto& groups = p == 0 ? keys : values;
    if (groups.empty()) {
      plot::TextStyle ts;
      ts.coords = plot::Coords::axes;
      ts.halign = plot::HAlign::center;
      ax.text(0.5, 0.5, "no tokens", ts);
      continue;
    }
    plot::BoxStyle bs;
    bs.color = plot::palette(p == 0 ? 0 : 1);
    bs.fliers = false;  // every token is drawn as a point below
    ax.boxplot(groups, labels, bs);
    // Each token as a point, spread deterministically across the box so small groups show.
    for (size_t g = 0; g < groups.size(); ++g) {
      std::vector<double> xs, ys;
      const size_t m = groups[g].size();
      for (size_t i = 0; i < m; ++i) {
        const double jitter =
            m > 1 ? (static_cast<double>((i * 7919) % m) / static_cast<double>(m - 1) - 0.5) * 0.4
                  : 0;
        xs.push_back(static_cast<double>(g) + jitter);
        ys.push_back(groups[g][i]);
      }
      plot::ScatterStyle ss;
      ss.color = plot::Color{0.15, 0.15, 0.15, 1};
      ss.size = m > 200 ? 1.2 : 2.2;
      ss.alpha = m > 200 ? 0.35 : 0.6;
      ax.scatter(xs, ys, ss);
    }
    plot::TickLabelStyle tls;
    tls.max_width = 170;
    ax.x_categories(labels, tls);
    ax.title(parts[p]).x_label("token category (n = tokens in it)").y_label(units[p]).grid();
  }
  return fig;
}

plot::Figure build_token_magnitudes(const capture::Capture& cap, const Bundle& b,
                                    const ReportOptions&) {
  const int S = cap.seq_len();
  plot::Figure fig = inches(14, 8);
  fig.suptitle(
         fmt::format("Key and value magnitude of each token by position ({})", model_line(cap)))
      .grid(2, 1);
  std::vector<std::string> tick_labels;
  for (int i = 0; i < S; ++i) tick_labels.push_back(token_label(cap, i));
  for (int p = 0; p < 2; ++p) {
    const std::vector<double>& m = p == 0 ? b.magnitudes.key : b.magnitudes.value;
    plot::Axes& ax = fig.axes(p, 0);
    plot::LineStyle ls;
    ls.color = plot::palette(p);
    ls.label = p == 0 ? "key norm" : "value norm";
    if (S <= 80) ls.marker = plot::Marker::circle;
    ls.marker_size = 2.5;
    ax.line(m, ls);
    double mean = 0;
    for (double v : m) mean += v;
    mean /= std::max(1, S);
    plot::RefLineStyle rs;
    rs.label = fmt::format("mean {:.3g}", mean);
    ax.hline(mean, rs);
    // The largest tokens by name: where a cache keeps its sinks and outliers.
    const std::vector<int>& top = p == 0 ? b.largest_key_tokens : b.largest_value_tokens;
    std::vector<double> xs, ys;
    plot::ScatterStyle ss;
    for (int i : top) {
      xs.push_back(i);
      ys.push_back(m[static_cast<size_t>(i)]);
      ss.labels.push_back(token_with_position(cap, i));
    }
    ss.color = plot::Color{0.8, 0.1, 0.1, 1};
    ss.size = 3.5;
    ss.label = fmt::format("{} largest (labelled)", top.size());
    ax.scatter(xs, ys, ss);
    // Headroom above the curve for the legend and the labels of the largest tokens.
    const double lo_y = *std::min_element(m.begin(), m.end()),
                 hi_y = *std::max_element(m.begin(), m.end());
    const double span = hi_y > lo_y ? hi_y - lo_y : 1.0;
    ax.y_limits(lo_y - 0.05 * span, hi_y + 0.3 * span);
    plot::TickLabelStyle tls;
    tls.max_width = 70;
    ax.x_categories(tick_labels, tls);
    ax.title(p == 0 ? "Keys" : "Values")
        .y_label(p == 0 ? "‖k‖₂ (mean over layers, kv heads)" : "‖v‖₂ (mean over layers, kv heads)")
        .x_label(p == 1 ? "token position (labels thinned to fit)" : "")
        .grid()
        .legend(plot::Loc::upper_right);
  }
  return fig;
}

plot::Figure build_token_key_value_scatter(const capture::Capture& cap, const Bundle& b,
                                           const ReportOptions&) {
  plot::Figure fig = inches(10, 8);
  fig.suptitle(fmt::format("Tokens by key and value magnitude ({})", model_line(cap)));
  plot::Axes& ax = fig.axes();
  int ci = 0;
  for (const analysis::CategoryGroup& g : b.category_groups) {
    const int color = ci++;
    if (g.tokens.empty()) continue;
    plot::ScatterStyle ss;
    ss.color = plot::palette(color);
    ss.label = fmt::format("{} ({})", category_words(g.category), g.tokens.size());
    ss.size = cap.seq_len() > 200 ? 3 : 4.5;
    ss.alpha = 0.75;
    ax.scatter(g.key_magnitudes, g.value_magnitudes, ss);
  }
  const std::vector<int>& out = b.kv_outliers;
  if (!out.empty()) {
    std::vector<double> xs, ys;
    plot::ScatterStyle os;
    for (int i : out) {
      xs.push_back(b.magnitudes.key[static_cast<size_t>(i)]);
      ys.push_back(b.magnitudes.value[static_cast<size_t>(i)]);
      os.labels.push_back(token_with_position(cap, i));
    }
    os.color = plot::Color{0, 0, 0, 1};
    os.marker = plot::Marker::none;
    os.label = "";
    ax.scatter(xs, ys, os);
  }
  ax.title(out.empty() ? fmt::format("colour = token category; no outliers beyond {} robust "
                                     "deviations",
                                     Bundle::kOutlierDistance)
                       : fmt::format("colour = token category; labelled: outliers beyond {} "
                                     "robust deviations (median ± MAD)",
                                     Bundle::kOutlierDistance))
      .x_label("key norm ‖k‖₂ (mean over layers and kv heads)")
      .y_label("value norm ‖v‖₂ (mean over layers and kv heads)")
      .grid()
      .legend(plot::Loc::best);
  return fig;
}

plot::Figure build_generation(const capture::Capture& cap, const Bundle& b,
                              const capture::GenerationTrace& trace, const ReportOptions&) {
  const int steps = static_cast<int>(trace.steps.size());
  if (steps == 0) throw BadInput("build_generation: the generation trace has no steps");
  const int prompt_len = static_cast<int>(trace.prompt_ids.size());
  const int L = cap.n_layer, H = cap.n_head;
  int max_len = 0;
  for (const capture::GenerationStep& s : trace.steps) max_len = std::max(max_len, s.cache_len);
  const analysis::GenerationAttention& ga = b.generation_attention;
  const bool has_attention = ga.complete() && ga.all_layers.size() == trace.steps.size();

  // The generated text, wrapped by characters (UTF-8 aware) so it fits the width.
  std::string wrapped;
  {
    // A model can stop mid-character; Pango needs valid UTF-8.
    const std::string text = tokenizer::utf8_lossy(trace.text);
    int col = 0;
    for (size_t i = 0; i < text.size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(text[i]);
      if (c == '\n') {
        wrapped += "↵\n";
        col = 0;
        continue;
      }
      const bool starts_char = (c & 0xC0) != 0x80;
      if (starts_char && col >= 120 && c == ' ') {
        wrapped += '\n';
        col = 0;
        continue;
      }
      wrapped += static_cast<char>(c);
      if (starts_char) ++col;
    }
    if (wrapped.size() > 1400) wrapped = wrapped.substr(0, 1400) + " …";
  }
  const int text_lines = 1 + static_cast<int>(std::count(wrapped.begin(), wrapped.end(), '\n'));

  // Heights in inches; panels are placed by figure fractions so the text block takes only
  // the room its lines need.
  const double title_h = 0.45, text_h = 0.35 + 0.19 * text_lines, bytes_h = 3.4;
  // Heatmap rows are generated tokens: short runs get shorter panels, long runs stay legible.
  const double attn_h = std::clamp(2.2 + 0.16 * steps, 3.2, 9.0);
  const double fig_h = title_h + text_h + bytes_h + (has_attention ? 2 * attn_h : 0);
  plot::Figure fig = inches(14, fig_h);
  fig.suptitle(fmt::format(
      "Generation with the KV cache: {} prompt tokens + {} generated ({}, stopped by {})",
      prompt_len, steps, cap.model_name, trace.stop_reason));
  double y = title_h / fig_h;
  auto band = [&](double h_in) {
    const double y0 = y;
    y += h_in / fig_h;
    return y0;
  };

  {
    plot::Axes& t = fig.axes_at(0.0, band(text_h), 1.0, text_h / fig_h);
    plot::TextStyle ts;
    ts.coords = plot::Coords::axes;
    ts.valign = plot::VAlign::top;
    ts.size = 10;
    // One text item per line: Pango would centre the lines of one multi-line item.
    const double line = 0.19 / text_h;
    size_t start = 0;
    std::string first = "Generated text: ";
    for (int i = 0; start <= wrapped.size(); ++i) {
      size_t end = wrapped.find('\n', start);
      if (end == std::string::npos) end = wrapped.size();
      t.text(0.01, 1.0 - (0.09 / text_h) - i * line, first + wrapped.substr(start, end - start),
             ts);
      first.clear();
      start = end + 1;
    }
    t.x_ticks({}).y_ticks({});
  }
  const double bytes_y = band(bytes_h);

  // Cache growth: bytes after the prompt and after each step, all layers and one layer.
  std::vector<double> x, total_mib, layer_kib;
  const std::vector<int64_t>& bytes = b.cache_bytes_per_step;
  const double max_bytes = bytes.empty() ? 0.0 : static_cast<double>(bytes.back());
  const ByteUnit tu = byte_unit(max_bytes), lu = byte_unit(max_bytes / std::max(1, L));
  for (size_t t = 0; t < bytes.size(); ++t) {
    x.push_back(static_cast<double>(t));
    total_mib.push_back(static_cast<double>(bytes[t]) / tu.div);
    layer_kib.push_back(static_cast<double>(bytes[t]) / std::max(1, L) / lu.div);
  }
  const double per_token = static_cast<double>(trace.bytes_per_token);
  {
    plot::Axes& a = fig.axes_at(0.0, bytes_y, 0.5, bytes_h / fig_h);
    plot::LineStyle ls;
    ls.color = plot::palette(0);
    ls.marker = steps <= 60 ? plot::Marker::circle : plot::Marker::none;
    ls.marker_size = 2.5;
    if (b.model_cache_bytes_per_step.empty()) {
      a.line(x, total_mib, ls);
    } else {
      // Sliding layers keep only their last window - 1 positions in the model's own cache.
      std::vector<double> held;
      for (int64_t v : b.model_cache_bytes_per_step)
        held.push_back(static_cast<double>(v) / tu.div);
      plot::LineStyle hs = ls;
      hs.color = plot::palette(2);
      hs.label = "the model's own cache";
      ls.label = "captured (every position)";
      a.line(x, total_mib, ls).line(x, held, hs).legend();
    }
    a.title(fmt::format("Cache size, all {} layers (fp32 K and V; +{:.1f} KiB per token)", L,
                        per_token / 1024.0))
        .x_label("generation step (0 = after the prompt)")
        .y_label(fmt::format("cache size ({})", tu.name))
        .grid();
    plot::Axes& c = fig.axes_at(0.5, bytes_y, 0.5, bytes_h / fig_h);
    ls.color = plot::palette(1);
    c.line(x, layer_kib, ls);
    c.title(fmt::format("Cache size of one layer ({} kv heads x {} dims x 2)", cap.n_kv_head,
                        cap.head_dim))
        .x_label("generation step (0 = after the prompt)")
        .y_label(fmt::format("cache size per layer ({})", lu.name))
        .grid();
  }
  if (!has_attention) {
    return fig;
  }

  // Attention of each generated token over the cache: [steps, max_len], NaN where the cache
  // did not reach yet.
  std::vector<std::string> x_labels;
  for (int j = 0; j < max_len; ++j) {
    if (j < prompt_len && cap.seq_len() == prompt_len) {
      x_labels.push_back(token_label(cap, j));
    } else if (j >= prompt_len && j - prompt_len < steps) {
      x_labels.push_back(visible_text(trace.steps[static_cast<size_t>(j - prompt_len)].text));
    } else {
      x_labels.push_back(fmt::format("#{}", j));
    }
  }
  std::vector<std::string> y_labels;
  for (int t = 0; t < steps; ++t)
    y_labels.push_back(visible_text(trace.steps[static_cast<size_t>(t)].text));

  // [steps, max_len] from the bundle's per-step rows, NaN where the cache did not reach yet.
  auto attention_map = [&](const std::vector<std::vector<double>>& rows) {
    std::vector<float> m(static_cast<size_t>(steps) * static_cast<size_t>(max_len), NAN);
    for (size_t t = 0; t < rows.size(); ++t)
      for (size_t j = 0; j < rows[t].size(); ++j)
        m[t * static_cast<size_t>(max_len) + j] = static_cast<float>(rows[t][j]);
    return m;
  };

  for (int panel = 0; panel < 2; ++panel) {
    const int layer = panel == 0 ? -1 : ga.layer;
    plot::Axes& a = fig.axes_at(0.0, band(attn_h), 1.0, attn_h / fig_h);
    plot::HeatmapStyle hs;
    hs.cmap = "magma";
    hs.norm = plot::Norm::power(0.5, 0, NAN);
    hs.colorbar_label = "attention probability (power scale, γ = 0.5)";
    hs.x_labels = x_labels;
    hs.y_labels = y_labels;
    a.heatmap(attention_map(panel == 0 ? ga.all_layers : ga.one_layer), steps, max_len, hs);
    plot::RefLineStyle rs;
    rs.color = plot::Color{0.2, 0.9, 0.9, 1};
    rs.width = 1.5;
    rs.label = "end of prompt";
    a.vline(prompt_len - 0.5, rs);
    a.title(layer < 0
                ? "Attention of each generated token over the cache, mean over all layers and heads"
                : fmt::format("Same for layer {} only (mean over its {} heads)", layer, H))
        .x_label("cache position (prompt | generated; cyan line = end of prompt)")
        .y_label("generated token (step)");
  }
  return fig;
}

}  // namespace kvscope::report
