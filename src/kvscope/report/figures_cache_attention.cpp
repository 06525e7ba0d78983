// Attention figures of the cache: the layers x heads grid of attention maps, and how the
// heads of one layer differ.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "kvscope/analysis/capture_check.hpp"
#include "kvscope/error.hpp"
#include "kvscope/plot/figure.hpp"
#include "kvscope/plot/ticks.hpp"
#include "kvscope/report/figure_helpers.hpp"
#include "kvscope/report/figures.hpp"
#include "kvscope/report/labels.hpp"

namespace kvscope::report {

namespace fh = figure_helpers;

namespace {

std::vector<std::string> head_labels(const capture::Capture& cap) {
  std::vector<std::string> out;
  for (int h = 0; h < cap.n_head; ++h)
    out.push_back(cap.n_kv_head == cap.n_head
                      ? fmt::format("head {}", h)
                      : fmt::format("head {} (kv {})", h, analysis::kv_head_of(cap, h)));
  return out;
}

void head_bars(plot::Axes& ax, const std::vector<double>& v, plot::Color c,
               const std::string& title, const std::string& y_label) {
  std::vector<std::string> cats;
  for (size_t h = 0; h < v.size(); ++h) cats.push_back(std::to_string(h));
  ax.bar(cats, {plot::BarSeries(v, "", c)});
  ax.title(title).x_label("query head").y_label(y_label).grid();
}

}  // namespace

plot::Figure build_head_specialization(const capture::Capture& cap, const Bundle& b,
                                       const ReportOptions&) {
  const analysis::HeadSpecialization& hs = b.heads;
  const int H = cap.n_head, S = cap.seq_len();
  const bool att = hs.has_attention;
  plot::Figure fig(1700, 1350);
  fig.suptitle(fmt::format("How the {} heads of layer {} differ ({} tokens{})", H, hs.layer, S,
                           cap.n_kv_head == cap.n_head
                               ? ""
                               : fmt::format("; {} query heads share each kv head, so their "
                                             "key and value norms are equal",
                                             H / cap.n_kv_head)));
  fig.grid(3, att ? 4 : 1);
  const std::vector<std::string> toks = token_labels(cap);
  const std::vector<std::string> heads = head_labels(cap);
  for (int part = 0; part < 2; ++part) {
    const bool key = part == 0;
    plot::HeatmapStyle st;
    st.cmap = "viridis";
    st.colorbar_label = key ? "‖k‖₂" : "‖v‖₂";
    st.x_labels = toks;
    st.y_labels = heads;
    plot::Axes& ax = fig.axes(part, 0, 1, att ? 4 : 1);
    ax.heatmap(key ? hs.key_norms : hs.value_norms, st);
    ax.title(key ? "Key norm per token and head" : "Value norm per token and head")
        .y_label("query head");
    if (part == 1) ax.x_label("token");
  }
  if (att) {
    // References for attention spread evenly over the causal window 0..i, averaged over i.
    double uniform_entropy = 0, uniform_distance = 0;
    for (int i = 0; i < S; ++i) {
      uniform_entropy += std::log(i + 1.0);
      uniform_distance += i / 2.0;
    }
    uniform_entropy /= std::max(S, 1);
    uniform_distance /= std::max(S, 1);
    plot::RefLineStyle ref;
    ref.label = "uniform attention";
    {
      plot::Axes& ax = fig.axes(2, 0);
      head_bars(ax, hs.entropy, plot::palette(0), "Attention entropy (mean over queries)",
                "entropy (nats)");
      ax.hline(uniform_entropy, ref).legend();
    }
    {
      plot::Axes& ax = fig.axes(2, 1);
      head_bars(ax, hs.mean_distance, plot::palette(2), "Mean attention distance",
                "tokens back (query − key)");
      ax.hline(uniform_distance, ref).legend();
    }
    {
      plot::Axes& ax = fig.axes(2, 2);
      std::vector<double> pct;
      for (double v : hs.sink_share) pct.push_back(v * 100);
      head_bars(ax, pct, plot::palette(3), "Attention on the first token (sink)",
                "% of attention on token 0");
    }
  }
  {
    plot::HeatmapStyle st;
    st.cmap = "magma";
    st.norm = plot::Norm::linear(
        std::min(0.0, hs.similarity.empty()
                          ? 0.0
                          : static_cast<double>(*std::min_element(hs.similarity.data.begin(),
                                                                  hs.similarity.data.end()))),
        1.0);
    st.colorbar_label = "cosine similarity";
    std::vector<std::string> nums;
    for (int h = 0; h < H; ++h) nums.push_back(std::to_string(h));
    st.x_labels = st.y_labels = nums;
    st.equal_aspect = true;
    plot::Axes& ax = fig.axes(2, att ? 3 : 0);
    ax.heatmap(hs.similarity, st);
    ax.title(att ? "Head similarity (attention patterns)"
                 : "Head similarity (mean key vectors; no attention captured)")
        .x_label("query head")
        .y_label("query head");
  }
  return fig;
}

plot::Figure build_attention_patterns(const capture::Capture& cap, const Bundle& b,
                                      const ReportOptions& opt) {
  if (!cap.has_attention())
    throw BadInput(
        "attention_patterns: the capture holds no attention (capture with attention on)");
  const std::vector<int>& Ls = b.attn_layers;
  const std::vector<int>& Hs = b.attn_heads;
  const int nr = static_cast<int>(Ls.size()), nc = static_cast<int>(Hs.size());
  const int S = cap.seq_len();
  const bool row_norm = opt.attention_norm == "row";

  // Panel size in figure units: wide enough to read, small enough that the figure stays
  // within a few thousand pixels for 30 x 9 maps. A panel comes from the exact map where the
  // capture kept it, else from the summary's pooled maximum (cells of `tile` positions); both
  // are max-pooled further to `block` positions per cell, a multiple of the tile.
  const double panel = std::clamp(std::min(1500.0 / nc, 3600.0 / nr), 60.0, 320.0);
  const int tile = cap.layers[0].attn.shape.tile();
  const int cells = (fh::pool_block(S, static_cast<int64_t>(panel)) + tile - 1) / tile;
  const int block = cells * tile;
  const int s = (S + block - 1) / block;  // cells per panel side
  const double unit = panel / s;          // figure units per cell (approximate)
  const int gap = std::max(1, static_cast<int>(std::lround(12 / unit)));
  const int top = static_cast<int>(std::ceil(18 / unit));   // band for head titles
  const int left = static_cast<int>(std::ceil(50 / unit));  // band for layer titles
  const int64_t R = top + static_cast<int64_t>(nr) * (s + gap),
                C = left + static_cast<int64_t>(nc) * (s + gap);
  std::vector<float> mosaic(static_cast<size_t>(R * C), NAN);
  int exact_panels = 0;
  for (int r = 0; r < nr; ++r) {
    const capture::LayerCapture& lc = cap.layers[static_cast<size_t>(Ls[static_cast<size_t>(r)])];
    for (int c = 0; c < nc; ++c) {
      const int h = Hs[static_cast<size_t>(c)];
      const auto kept = std::find(lc.pattern_heads.begin(), lc.pattern_heads.end(), h);
      const bool exact = kept != lc.pattern_heads.end();
      exact_panels += exact;
      // Cells after the query (masked keys) become NaN and show as background.
      const int side = exact ? S : lc.attn.shape.pooled();
      const float* src = exact
                             ? lc.pattern.ptr() + (kept - lc.pattern_heads.begin()) * int64_t{S} * S
                             : lc.attn.pooled_max.ptr() + static_cast<int64_t>(h) * side * side;
      std::vector<float> map(src, src + static_cast<size_t>(side) * side);
      float mx = 0;
      for (int i = 0; i < side; ++i)
        for (int j = 0; j < side; ++j) {
          float& v = map[static_cast<size_t>(i) * side + j];
          if (j > i)
            v = NAN;
          else
            mx = std::max(mx, v);
        }
      if (row_norm && mx > 0)
        for (float& v : map) v /= mx;
      Tensor pooled = fh::max_pool(map, side, side, exact ? block : cells);
      const int64_t r0 = top + static_cast<int64_t>(r) * (s + gap),
                    c0 = left + static_cast<int64_t>(c) * (s + gap);
      for (int i = 0; i < s; ++i)
        std::copy_n(pooled.ptr() + static_cast<size_t>(i) * s, s,
                    &mosaic[static_cast<size_t>((r0 + i) * C + c0)]);
    }
  }

  // Token labels on the outer axes when at least every 10th fits, else positions. A label
  // needs about 22 units (its height and the plot library's gap).
  const std::vector<std::string> toks = token_labels(cap);
  const int fit = std::max(1, static_cast<int>(panel / 22));
  std::vector<int> lab = plot::thinned_positions(S, fit);
  const bool token_labels = lab.size() >= 2 && (lab[1] - lab[0]) <= 10;
  if (!token_labels) {
    lab.clear();
    for (double v : plot::nice_ticks(0, S - 1, std::max(2, static_cast<int>(panel / 35))))
      if (v >= 0 && v <= S - 1) lab.push_back(static_cast<int>(v));
  }
  auto label_of = [&](int tok) {
    return token_labels ? toks[static_cast<size_t>(tok)] : std::to_string(tok);
  };
  std::vector<double> xat, yat;
  std::vector<std::string> xl, yl;
  for (int c = 0; c < nc; ++c)
    for (int t : lab) {
      xat.push_back(left + c * (s + gap) + t / block);
      xl.push_back(label_of(t));
    }
  for (int r = 0; r < nr; ++r)
    for (int t : lab) {
      yat.push_back(top + r * (s + gap) + t / block);
      yl.push_back(label_of(t));
    }

  const double label_band = token_labels ? 110 : 40;
  plot::Figure fig(C * unit + label_band + 200, R * unit + label_band + 150);
  std::string shown = fmt::format("{} {} × {} {}", nr, nr == 1 ? "layer" : "layers", nc,
                                  nc == 1 ? "head" : "heads");
  std::string norm_text = row_norm ? "colour: each map divided by its own maximum"
                                   : "colour: attention probability on a power scale (γ = 0.5)";
  std::string pool_text =
      block > 1
          ? fmt::format("; each cell is the maximum over a {} × {} block of tokens{}", block, block,
                        exact_panels == nr * nc ? ""
                        : exact_panels == 0
                            ? " (from the streamed pooled maps)"
                            : fmt::format(" ({} of {} maps exact, the others streamed pooled maps)",
                                          exact_panels, nr * nc))
          : "";
  fig.suptitle(fmt::format(
      "Attention patterns, {} ({} tokens; rows: query, columns: key)\n{}{}; white: masked "
      "(future) keys",
      shown, S, norm_text, pool_text));
  plot::HeatmapStyle hm;
  hm.cmap = "viridis";
  hm.norm = plot::Norm::power(row_norm ? 1.0 : 0.5, 0, 1);
  hm.colorbar_label = row_norm ? "attention ÷ map maximum" : "attention probability";
  hm.equal_aspect = true;
  plot::Axes& ax = fig.axes(0, 0);
  ax.heatmap(mosaic, R, C, hm);
  plot::TickLabelStyle ts;
  ts.max_width = 80;
  ax.x_ticks(xat, xl, ts).y_ticks(yat, yl, ts);
  ax.x_label(token_labels ? "key token" : "key position")
      .y_label(token_labels ? "query token" : "query position");
  plot::TextStyle tt;
  tt.size = 10;
  tt.halign = plot::HAlign::center;
  tt.valign = plot::VAlign::middle;
  for (int c = 0; c < nc; ++c)
    ax.text(left + c * (s + gap) + (s - 1) / 2.0, (top - 1) / 2.0,
            fmt::format("head {}", Hs[static_cast<size_t>(c)]), tt);
  plot::TextStyle lt = tt;
  lt.halign = plot::HAlign::right;
  for (int r = 0; r < nr; ++r)
    ax.text(left - 1.5, top + r * (s + gap) + (s - 1) / 2.0,
            fmt::format("layer {}", Ls[static_cast<size_t>(r)]), lt);
  return fig;
}

}  // namespace kvscope::report
