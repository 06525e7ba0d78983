// What the cache holds, layer by layer: heatmaps of K and V, per-layer statistics, value
// distributions, PCA by position, quantization error, and one head's keys and values.
// Attention figures are in figures_cache_attention.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "kvscope/analysis/capture_check.hpp"
#include "kvscope/plot/figure.hpp"
#include "kvscope/plot/ticks.hpp"
#include "kvscope/report/figure_helpers.hpp"
#include "kvscope/report/figures.hpp"
#include "kvscope/report/labels.hpp"

namespace kvscope::report {

namespace fh = figure_helpers;

namespace {

const plot::Color kKeyColor = plot::palette(0);
const plot::Color kValueColor = plot::palette(1);

// Index of percent level q in the bundle's percentile list, or -1.
int percentile_index(const analysis::ValueDistribution& d, double q) {
  for (size_t i = 0; i < d.q.size(); ++i)
    if (std::fabs(d.q[i] - q) < 1e-9) return static_cast<int>(i);
  return -1;
}

// Half-range of the colour scale for layer l of one part: its 0.1th / 99.9th percentiles.
double layer_halfrange(const Bundle& b, bool key, int l) {
  const analysis::PartDistribution& p = key ? b.distribution.key : b.distribution.value;
  const analysis::TensorStats& st =
      key ? b.stats[static_cast<size_t>(l)].key : b.stats[static_cast<size_t>(l)].value;
  int lo = percentile_index(b.distribution, 0.1), hi = percentile_index(b.distribution, 99.9);
  if (lo < 0 || hi < 0 || static_cast<size_t>(l) >= p.per_layer_percentiles.size())
    return fh::robust_halfrange(NAN, NAN, st.max_abs);
  const auto& pl = p.per_layer_percentiles[static_cast<size_t>(l)];
  return fh::robust_halfrange(pl[static_cast<size_t>(lo)], pl[static_cast<size_t>(hi)], st.max_abs);
}

// [S, KH * D] one layer's K or V with the kv heads side by side.
Tensor heads_side_by_side(const Tensor& t) {
  const int64_t KH = t.dim(0), S = t.dim(1), D = t.dim(2);
  Tensor m({S, KH * D});
  for (int64_t h = 0; h < KH; ++h)
    for (int64_t s = 0; s < S; ++s)
      std::copy_n(&t.data[static_cast<size_t>((h * S + s) * D)], D, &m.at(s, h * D));
  return m;
}

std::vector<double> iota_d(int n) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<size_t>(i)] = i;
  return v;
}

plot::LineStyle line_style(plot::Color c, std::string label, bool dashed = false) {
  plot::LineStyle s;
  s.color = c;
  s.label = std::move(label);
  s.dashed = dashed;
  s.marker = plot::Marker::circle;
  s.marker_size = 3;
  return s;
}

std::string sparsity_rule_text(const analysis::SparsityRule& r) {
  switch (r.scale) {
    case analysis::SparsityScale::MaxAbs:
      return fmt::format("|x| < {}% of the layer's max |x|",
                         plot::format_number(r.threshold * 100));
    case analysis::SparsityScale::Std:
      return fmt::format("|x| < {} × the layer's std", plot::format_number(r.threshold));
    case analysis::SparsityScale::Absolute:
      return fmt::format("|x| < {}", plot::format_number(r.threshold));
  }
  return "";
}

// Layer-index x axis with integer ticks; with a capture, the label names the global layers of
// a model that also has sliding-window ones, and dotted lines mark them.
void layer_axis(plot::Axes& ax, int L, const capture::Capture* cap = nullptr) {
  ax.x_label(cap ? fh::layer_axis_label(*cap) : std::string("layer"));
  if (cap && !cap->windows.empty())
    for (int l = 0; l < L; ++l)
      if (cap->window(l) == 0) {
        plot::RefLineStyle global;
        global.color = {0.55, 0.55, 0.55, 1};
        ax.vline(l, global);
      }
  if (L <= 16) {
    ax.x_ticks(iota_d(L));
  } else {
    std::vector<double> at;
    int step = L <= 40 ? 5 : 10;
    for (int l = 0; l < L; l += step) at.push_back(l);
    ax.x_ticks(at);
  }
}

}  // namespace

plot::Figure build_kv_cache_layers(const capture::Capture& cap, const Bundle& b,
                                   const ReportOptions&) {
  constexpr int kMaxLayers = 12;
  std::vector<int> all;
  for (int l = 0; l < cap.n_layer; ++l) all.push_back(l);
  const std::vector<int> layers = fh::evenly_spaced_subset(all, kMaxLayers);
  const int n = static_cast<int>(layers.size());
  const int S = cap.seq_len(), KH = cap.n_kv_head, D = cap.head_dim;
  const double row_h = std::clamp(S * 0.6 + 120, 200.0, 290.0);
  plot::Figure fig(1500, 70 + n * row_h);
  std::string which = n == cap.n_layer
                          ? fmt::format("all {} layers", n)
                          : fmt::format("{} of {} layers, evenly spaced", n, cap.n_layer);
  fig.suptitle(
      fmt::format("KV cache by layer ({}): tokens × channels, {} {} of {} channels side by side;\n"
                  "colour symmetric about 0, clipped at each layer's 0.1th / 99.9th percentile",
                  which, KH, KH == 1 ? "kv head" : "kv heads", D));
  fig.grid(n, 2);
  // Labels thinned here rather than by the plot library: measuring every label of a long
  // prompt in every panel would dominate the drawing time.
  const std::vector<std::string> toks = token_labels(cap);
  std::vector<double> tok_at;
  std::vector<std::string> tok_lab;
  for (int t : plot::thinned_positions(S, std::max(1, static_cast<int>((row_h - 70) / 22)))) {
    tok_at.push_back(t);
    tok_lab.push_back(toks[static_cast<size_t>(t)]);
  }
  std::vector<double> head_at;
  std::vector<std::string> head_lab;
  for (int h = 0; h < KH; ++h) {
    head_at.push_back(h * D + (D - 1) / 2.0);
    head_lab.push_back(KH <= 6 ? fmt::format("kv head {}", h) : fmt::format("{}", h));
  }
  for (int r = 0; r < n; ++r) {
    const int l = layers[static_cast<size_t>(r)];
    for (int part = 0; part < 2; ++part) {
      const bool key = part == 0;
      const auto& lc = cap.layers[static_cast<size_t>(l)];
      plot::HeatmapStyle hs;
      hs.cmap = "coolwarm";
      hs.norm = plot::Norm::symmetric(layer_halfrange(b, key, l));
      hs.colorbar_label = key ? "key" : "value";
      plot::Axes& ax = fig.axes(r, part);
      ax.heatmap(heads_side_by_side(key ? lc.k : lc.v), hs);
      ax.y_ticks(tok_at, tok_lab);
      ax.title(
          fmt::format("Layer {}{} {}", l, fh::layer_kind_suffix(cap, l), key ? "keys" : "values"));
      ax.x_ticks(head_at, head_lab);
      plot::RefLineStyle sep;
      sep.color = {0.1, 0.1, 0.1, 1};
      sep.dashed = false;
      sep.width = 1.2;
      for (int h = 1; h < KH; ++h) ax.vline(h * D - 0.5, sep);
      if (r == n - 1)
        ax.x_label(KH > 6 ? "kv head (channels side by side)" : "channel, grouped by kv head");
      if (part == 0) ax.y_label("token");
    }
  }
  return fig;
}

plot::Figure build_kv_cache_statistics(const capture::Capture& cap, const Bundle& b,
                                       const ReportOptions& opt) {
  const int L = cap.n_layer;
  std::vector<double> x = iota_d(L), ks, vs, corr, kstd, vstd, kabs, vabs;
  for (const auto& s : b.stats) {
    ks.push_back(s.key.sparsity * 100);
    vs.push_back(s.value.sparsity * 100);
    corr.push_back(s.kv_correlation);
    kstd.push_back(s.key.std);
    vstd.push_back(s.value.std);
    kabs.push_back(s.key.mean_abs);
    vabs.push_back(s.value.mean_abs);
  }
  plot::Figure fig(1400, 950);
  fig.suptitle(
      fmt::format("KV cache statistics per layer ({} tokens, {} layers)", cap.seq_len(), L));
  fig.grid(2, 2);
  {
    plot::Axes& ax = fig.axes(0, 0);
    ax.line(x, ks, line_style(kKeyColor, "keys")).line(x, vs, line_style(kValueColor, "values"));
    ax.title("Sparsity: share of near-zero entries")
        .y_label(fmt::format("% of entries with {}", sparsity_rule_text(opt.sparsity)));
    layer_axis(ax, L, &cap);
    ax.grid().legend();
  }
  {
    plot::Axes& ax = fig.axes(0, 1);
    ax.line(x, corr, line_style(plot::palette(2), "Pearson r of K and V"));
    plot::RefLineStyle zero;
    zero.dashed = false;
    zero.color = {0.6, 0.6, 0.6, 1};
    ax.hline(0, zero);
    ax.title("Key-value correlation (elementwise, all heads and tokens)")
        .y_label("Pearson correlation r");
    layer_axis(ax, L, &cap);
    ax.grid();
  }
  {
    plot::Axes& ax = fig.axes(1, 0);
    ax.line(x, kstd, line_style(kKeyColor, "keys"))
        .line(x, vstd, line_style(kValueColor, "values"));
    ax.title("Standard deviation of entries").y_label("standard deviation");
    layer_axis(ax, L, &cap);
    ax.grid().legend();
  }
  {
    plot::Axes& ax = fig.axes(1, 1);
    ax.line(x, kabs, line_style(kKeyColor, "keys"))
        .line(x, vabs, line_style(kValueColor, "values"));
    ax.title("Mean magnitude of entries").y_label("mean |x|");
    layer_axis(ax, L, &cap);
    ax.grid().legend();
  }
  return fig;
}

plot::Figure build_kv_value_distribution(const capture::Capture& cap, const Bundle& b,
                                         const ReportOptions& opt) {
  const analysis::ValueDistribution& d = b.distribution;
  const int L = cap.n_layer;
  plot::Figure fig(1500, 560 + std::clamp(L * 22, 300, 700));
  fig.suptitle(fmt::format(
      "Distribution of all cached key and value entries ({} layers × {} kv heads × {} tokens × {} "
      "channels each)",
      L, cap.n_kv_head, cap.seq_len(), cap.head_dim));
  fig.grid(2, 2);
  const int i01 = percentile_index(d, 0.1), i1 = percentile_index(d, 1),
            i50 = percentile_index(d, 50), i99 = percentile_index(d, 99),
            i999 = percentile_index(d, 99.9);
  for (int part = 0; part < 2; ++part) {
    const bool key = part == 0;
    const analysis::PartDistribution& p = key ? d.key : d.value;
    const std::string name = key ? "keys" : "values";
    // Overall histogram with its percentiles.
    {
      plot::Axes& ax = fig.axes(0, part);
      std::vector<double> counts(p.overall.counts.begin(), p.overall.counts.end());
      plot::HistStyle hs;
      hs.color = key ? kKeyColor : kValueColor;
      hs.log = opt.log_counts;
      hs.alpha = 0.75;
      ax.hist_counts(p.overall.edges, counts, hs);
      auto mark = [&](int lo, int hi, plot::Color c, bool dashed, const char* what) {
        if (lo < 0 || static_cast<size_t>(lo) >= p.percentiles.size()) return;
        plot::RefLineStyle rs;
        rs.color = c;
        rs.dashed = dashed;
        rs.width = 1.3;
        double vlo = p.percentiles[static_cast<size_t>(lo)];
        if (hi < 0) {
          rs.label = fmt::format("{}: {}", what, plot::format_number(vlo));
          ax.vline(vlo, rs);
          return;
        }
        double vhi = p.percentiles[static_cast<size_t>(hi)];
        rs.label =
            fmt::format("{}: {} / {}", what, plot::format_number(vlo), plot::format_number(vhi));
        ax.vline(vlo, rs);
        rs.label.clear();
        ax.vline(vhi, rs);
      };
      mark(i50, -1, {0.1, 0.1, 0.1, 1}, false, "median");
      mark(i1, i99, {0.2, 0.6, 0.2, 1}, true, "1st / 99th pct");
      mark(i01, i999, {0.84, 0.15, 0.16, 1}, true, "0.1th / 99.9th pct");
      ax.title(fmt::format("All {} (max |x| {})", name,
                           plot::format_number(std::max(std::fabs(p.overall.edges.front()),
                                                        std::fabs(p.overall.edges.back())))));
      ax.x_label(key ? "key value" : "value entry")
          .y_label(opt.log_counts ? "entries per bin (log scale)" : "entries per bin");
      ax.grid().legend();
    }
    // Per layer: a layers x bins map of counts on a log colour scale.
    {
      plot::Axes& ax = fig.axes(1, part);
      const int bins = p.overall.bins();
      std::vector<float> m(static_cast<size_t>(L) * static_cast<size_t>(bins), NAN);
      for (int l = 0; l < L && static_cast<size_t>(l) < p.per_layer.size(); ++l)
        for (int i = 0; i < bins; ++i) {
          int64_t c = p.per_layer[static_cast<size_t>(l)].counts[static_cast<size_t>(i)];
          if (c > 0) m[static_cast<size_t>(l) * bins + i] = static_cast<float>(c);
        }
      plot::HeatmapStyle hs;
      hs.cmap = "viridis";
      hs.norm = plot::Norm::log();
      hs.colorbar_label = "entries per bin (log; white = none)";
      ax.heatmap(m, L, bins, hs);
      const double lo = p.overall.edges.front(), w = (p.overall.edges.back() - lo) / bins;
      auto to_col = [&](double v) { return (v - lo) / w - 0.5; };
      std::vector<double> tv = plot::nice_ticks(lo, p.overall.edges.back(), 7), at;
      std::vector<double> kept;
      for (double v : tv)
        if (v >= lo && v <= p.overall.edges.back()) {
          kept.push_back(v);
          at.push_back(to_col(v));
        }
      ax.x_ticks(at, plot::format_ticks(kept));
      std::vector<std::string> layer_labels;
      for (int l = 0; l < L; ++l) layer_labels.push_back(std::to_string(l));
      ax.y_categories(layer_labels);
      if (i01 >= 0 && i999 >= 0) {
        std::vector<double> xl, xh, y;
        for (int l = 0; l < L && static_cast<size_t>(l) < p.per_layer_percentiles.size(); ++l) {
          xl.push_back(
              to_col(p.per_layer_percentiles[static_cast<size_t>(l)][static_cast<size_t>(i01)]));
          xh.push_back(
              to_col(p.per_layer_percentiles[static_cast<size_t>(l)][static_cast<size_t>(i999)]));
          y.push_back(l);
        }
        plot::LineStyle ls =
            line_style({0.95, 0.2, 0.2, 1}, "0.1th / 99.9th percentile of the layer");
        ls.marker_size = 2.5;
        ax.line(xl, y, ls);
        ls.label.clear();
        ax.line(xh, y, ls);
        ax.legend(plot::Loc::lower_right);
      }
      ax.title(fmt::format("{} by layer", key ? "Keys" : "Values"))
          .x_label(key ? "key value" : "value entry")
          .y_label("layer");
    }
  }
  return fig;
}

plot::Figure build_kv_pca_by_position(const capture::Capture& cap, const Bundle& b,
                                      const ReportOptions&) {
  const int n = static_cast<int>(b.pca_layers.size());
  const int S = cap.seq_len();
  plot::Figure fig(1300, 70 + n * 440);
  fig.suptitle(
      fmt::format("PCA of each token's key and value vector (all {} kv heads concatenated), "
                  "coloured by position",
                  cap.n_kv_head));
  fig.grid(n, 2);
  const std::vector<std::string> toks = token_labels(cap);
  for (int r = 0; r < n; ++r) {
    for (int part = 0; part < 2; ++part) {
      const analysis::PcaResult& pr =
          (part == 0 ? b.pca_keys : b.pca_values)[static_cast<size_t>(r)];
      plot::Axes& ax = fig.axes(r, part);
      ax.title(fmt::format("Layer {} {}", b.pca_layers[static_cast<size_t>(r)],
                           part == 0 ? "keys" : "values"));
      const int k = pr.coords.rank() == 2 ? static_cast<int>(pr.coords.dim(1)) : 0;
      std::vector<double> x(static_cast<size_t>(S)), y(static_cast<size_t>(S), 0.0);
      for (int s = 0; s < S && k >= 1; ++s) {
        x[static_cast<size_t>(s)] = pr.coords.at(s, 0);
        if (k >= 2) y[static_cast<size_t>(s)] = pr.coords.at(s, 1);
      }
      auto ev = [&](int c) {
        return static_cast<size_t>(c) < pr.explained_variance_ratio.size()
                   ? pr.explained_variance_ratio[static_cast<size_t>(c)] * 100
                   : 0.0;
      };
      // Consecutive tokens joined faintly, so the path through the prompt shows (a short
      // prompt only: hundreds of segments would hide the points).
      plot::LineStyle path_style;
      path_style.color = {0.55, 0.55, 0.55, 1};
      path_style.width = 0.6;
      path_style.alpha = 0.45;
      if (S <= 150) ax.line(x, y, path_style);
      plot::ScatterStyle ss;
      ss.values = iota_d(S);
      ss.cmap = "viridis";
      ss.colorbar_label = "token position";
      ss.size = S > 200 ? 2.6 : 4;
      // Label the three tokens farthest from the centre: outliers (often the first token).
      std::vector<int> order(static_cast<size_t>(S));
      for (int s = 0; s < S; ++s) order[static_cast<size_t>(s)] = s;
      std::partial_sort(order.begin(), order.begin() + std::min(3, S), order.end(),
                        [&](int a, int c) {
                          double da = x[static_cast<size_t>(a)] * x[static_cast<size_t>(a)] +
                                      y[static_cast<size_t>(a)] * y[static_cast<size_t>(a)];
                          double dc = x[static_cast<size_t>(c)] * x[static_cast<size_t>(c)] +
                                      y[static_cast<size_t>(c)] * y[static_cast<size_t>(c)];
                          return da > dc || (da == dc && a < c);
                        });
      ss.labels.assign(static_cast<size_t>(S), "");
      for (int i = 0; i < std::min(3, S); ++i) {
        int s = order[static_cast<size_t>(i)];
        ss.labels[static_cast<size_t>(s)] =
            fmt::format("{} (#{})", toks[static_cast<size_t>(s)], s);
      }
      ax.scatter(x, y, ss);
      ax.x_label(fmt::format("PC1 ({:.1f}% of variance)", ev(0)));
      ax.y_label(fmt::format("PC2 ({:.1f}% of variance)", ev(1)));
      ax.grid();
    }
  }
  return fig;
}

plot::Figure build_kv_quantization_error(const capture::Capture& cap, const Bundle& b,
                                         const ReportOptions&) {
  const int L = cap.n_layer;
  const std::vector<double> x = iota_d(L);
  std::vector<analysis::QuantGrouping> groupings;
  std::vector<int> bits;
  for (const auto& c : b.quant) {
    if (std::find(groupings.begin(), groupings.end(), c.grouping) == groupings.end())
      groupings.push_back(c.grouping);
    if (std::find(bits.begin(), bits.end(), c.bits) == bits.end()) bits.push_back(c.bits);
  }
  const int G = std::max<int>(1, static_cast<int>(groupings.size()));
  plot::Figure fig(std::max(900, 480 * G), 900);
  fig.suptitle(
      "Error of uniform min-max quantization of the cache, per layer (solid: keys, dashed: "
      "values)\n"
      "groups sharing one scale: per tensor = one layer's K or V; per token = one head's vector "
      "for one token; per channel "
      "= one channel of one head over all tokens");
  fig.grid(2, G);
  // Shared y range per row so the groupings compare directly.
  double lo[2] = {INFINITY, INFINITY}, hi[2] = {0, 0};
  for (const auto& c : b.quant)
    for (const auto* part : {&c.key, &c.value})
      for (const auto& e : *part) {
        double v[2] = {e.relative_mse, e.max_abs_error};
        for (int m = 0; m < 2; ++m)
          if (v[m] > 0 && std::isfinite(v[m])) {
            lo[m] = std::min(lo[m], v[m]);
            hi[m] = std::max(hi[m], v[m]);
          }
      }
  auto grouping_title = [](analysis::QuantGrouping g) {
    switch (g) {
      case analysis::QuantGrouping::PerTensor:
        return "per tensor";
      case analysis::QuantGrouping::PerToken:
        return "per token";
      case analysis::QuantGrouping::PerChannel:
        return "per channel";
    }
    return "";
  };
  for (int g = 0; g < static_cast<int>(groupings.size()); ++g) {
    for (int m = 0; m < 2; ++m) {
      plot::Axes& ax = fig.axes(m, g);
      for (const auto& c : b.quant) {
        if (c.grouping != groupings[static_cast<size_t>(g)]) continue;
        const int bi = static_cast<int>(std::find(bits.begin(), bits.end(), c.bits) - bits.begin());
        std::vector<double> yk, yv;
        for (const auto& e : c.key) yk.push_back(m == 0 ? e.relative_mse : e.max_abs_error);
        for (const auto& e : c.value) yv.push_back(m == 0 ? e.relative_mse : e.max_abs_error);
        // A zero error cannot sit on a log axis; it breaks the line instead.
        for (auto* v : {&yk, &yv})
          for (double& y : *v)
            if (!(y > 0)) y = NAN;
        plot::Color col = plot::palette(bi);
        ax.line(x, yk, line_style(col, fmt::format("{} bits", c.bits)));
        plot::LineStyle vs = line_style(col, "", true);
        vs.marker = plot::Marker::square;
        ax.line(x, yv, vs);
      }
      ax.y_scale(plot::Scale::log);
      if (hi[m] > 0) ax.y_limits(lo[m] / 2, hi[m] * 2);
      ax.title(fmt::format("{}: {}", grouping_title(groupings[static_cast<size_t>(g)]),
                           m == 0 ? "relative MSE" : "max absolute error"));
      ax.y_label(m == 0 ? "‖x − x̂‖² / ‖x‖² (log scale)" : "max |x − x̂| (log scale)");
      layer_axis(ax, L, &cap);
      ax.grid();
      if (g == 0 && m == 0) ax.legend(plot::Loc::lower_right);
    }
  }
  return fig;
}

plot::Figure build_kv_cache_details(const capture::Capture& cap, const Bundle& b,
                                    const ReportOptions&) {
  const int l = b.layer, h = b.head, kvh = analysis::kv_head_of(cap, b.head);
  const int S = cap.seq_len(), D = cap.head_dim;
  const auto& lc = cap.layers[static_cast<size_t>(l)];
  plot::Figure fig(1500, std::clamp(180.0 + S * 13.0, 600.0, 3400.0));
  std::string head_text = cap.n_kv_head == cap.n_head
                              ? fmt::format("head {}", h)
                              : fmt::format("kv head {} (read by query head {} and {} others)", kvh,
                                            h, cap.n_head / cap.n_kv_head - 1);
  const fh::TokenBins bins = fh::token_bins(token_labels(cap));
  fig.suptitle(fmt::format(
      "Keys and values cached for layer {}, {}\ncolour symmetric about 0, clipped at the layer's "
      "0.1th / 99.9th percentile{}",
      l, head_text, bins.caption("row")));
  fig.grid(1, 2);
  for (int part = 0; part < 2; ++part) {
    const bool key = part == 0;
    const Tensor& t = key ? lc.k : lc.v;
    std::span<const float> m(t.data.data() + static_cast<size_t>(kvh) * S * D,
                             static_cast<size_t>(S) * D);
    const std::vector<float> binned = fh::bin_rows(m, S, D, bins.bin);
    plot::HeatmapStyle hs;
    hs.cmap = "coolwarm";
    hs.norm = plot::Norm::symmetric(layer_halfrange(b, key, l));
    hs.colorbar_label = key ? "key" : "value";
    hs.y_labels = bins.labels;
    plot::Axes& ax = fig.axes(0, part);
    ax.heatmap(binned, static_cast<int64_t>(bins.labels.size()), D, hs);
    ax.title(key ? (cap.has_rope ? "Key states (as cached, after RoPE)" : "Key states")
                 : "Value states");
    ax.x_label("channel (dimension within the head)")
        .y_label(bins.bin > 1 ? "token positions" : "token");
  }
  return fig;
}

}  // namespace kvscope::report
