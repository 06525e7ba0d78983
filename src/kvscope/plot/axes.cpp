#include "kvscope/plot/axes.hpp"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>

#include "kvscope/error.hpp"

namespace kvscope::plot {
namespace {

void require_same_size(const char* what, size_t nx, size_t ny) {
  if (nx != ny) {
    throw BadInput(std::string(what) + ": x has " + std::to_string(nx) + " values but y has " +
                   std::to_string(ny));
  }
}

// Quantile q of sorted finite values, linear between order statistics (numpy's default).
double quantile(const std::vector<double>& sorted, double q) {
  double pos = q * static_cast<double>(sorted.size() - 1);
  size_t i = static_cast<size_t>(pos);
  if (i + 1 >= sorted.size()) return sorted.back();
  double f = pos - static_cast<double>(i);
  return sorted[i] + (sorted[i + 1] - sorted[i]) * f;
}

uint32_t argb(const Color& c) {
  auto q = [](double v) {
    return static_cast<uint32_t>(std::lround(std::clamp(v, 0.0, 1.0) * 255));
  };
  double a = std::clamp(c.a, 0.0, 1.0);
  return (q(a) << 24) | (q(c.r * a) << 16) | (q(c.g * a) << 8) | q(c.b * a);
}

}  // namespace

Axes& Axes::title(std::string s) {
  title_ = std::move(s);
  return *this;
}
Axes& Axes::x_label(std::string s) {
  x_.label = std::move(s);
  return *this;
}
Axes& Axes::y_label(std::string s) {
  y_.label = std::move(s);
  return *this;
}

void Axis::set_limits(double lo, double hi, const char* name) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || lo == hi) {
    throw BadInput(
        fmt::format("{} limits [{}, {}]: need two different finite values", name, lo, hi));
  }
  limits = {std::min(lo, hi), std::max(lo, hi)};
  inverted = lo > hi;
}

void Axis::set_ticks(std::vector<double> at, std::vector<std::string> labels, TickLabelStyle style,
                     const char* name) {
  if (!labels.empty() && labels.size() != at.size()) {
    throw BadInput(
        fmt::format("{} ticks: {} positions but {} labels", name, at.size(), labels.size()));
  }
  ticks = FixedTicks{std::move(at), std::move(labels), style};
}

void Axis::set_categories(std::vector<std::string> labels, TickLabelStyle style) {
  std::vector<double> at(labels.size());
  std::iota(at.begin(), at.end(), 0.0);
  ticks = FixedTicks{std::move(at), std::move(labels), style};
}

Axes& Axes::x_limits(double lo, double hi) {
  x_.set_limits(lo, hi, "x");
  return *this;
}
Axes& Axes::y_limits(double lo, double hi) {
  y_.set_limits(lo, hi, "y");
  return *this;
}
Axes& Axes::x_scale(Scale s) {
  x_.scale = s;
  return *this;
}
Axes& Axes::y_scale(Scale s) {
  y_.scale = s;
  return *this;
}
Axes& Axes::grid(bool on) {
  grid_ = on;
  return *this;
}
Axes& Axes::legend(Loc where) {
  legend_ = where;
  return *this;
}
Axes& Axes::x_categories(std::vector<std::string> labels, TickLabelStyle style) {
  x_.set_categories(std::move(labels), style);
  return *this;
}
Axes& Axes::y_categories(std::vector<std::string> labels, TickLabelStyle style) {
  y_.set_categories(std::move(labels), style);
  return *this;
}
Axes& Axes::x_ticks(std::vector<double> at, std::vector<std::string> labels, TickLabelStyle style) {
  x_.set_ticks(std::move(at), std::move(labels), style, "x");
  return *this;
}
Axes& Axes::y_ticks(std::vector<double> at, std::vector<std::string> labels, TickLabelStyle style) {
  y_.set_ticks(std::move(at), std::move(labels), style, "y");
  return *this;
}

void Axes::include(double x, double y) {
  if (std::isfinite(x)) {
    extent_.x0 = std::min(extent_.x0, x);
    extent_.x1 = std::max(extent_.x1, x);
    if (x > 0) extent_.x_min_positive = std::min(extent_.x_min_positive, x);
  }
  if (std::isfinite(y)) {
    extent_.y0 = std::min(extent_.y0, y);
    extent_.y1 = std::max(extent_.y1, y);
    if (y > 0) extent_.y_min_positive = std::min(extent_.y_min_positive, y);
  }
}

Axes& Axes::line(std::span<const double> x, std::span<const double> y, LineStyle style) {
  require_same_size("line", x.size(), y.size());
  if (!style.color) style.color = next_color();
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isfinite(x[i]) && std::isfinite(y[i])) include(x[i], y[i]);
  }
  artists_.push_back(LineArtist{{x.begin(), x.end()}, {y.begin(), y.end()}, std::move(style)});
  return *this;
}

Axes& Axes::line(std::span<const double> y, LineStyle style) {
  std::vector<double> x(y.size());
  std::iota(x.begin(), x.end(), 0.0);
  return line(x, y, std::move(style));
}

Axes& Axes::scatter(std::span<const double> x, std::span<const double> y, ScatterStyle style) {
  require_same_size("scatter", x.size(), y.size());
  if (!style.values.empty() && style.values.size() != x.size()) {
    throw BadInput("scatter: " + std::to_string(style.values.size()) + " colour values for " +
                   std::to_string(x.size()) + " points");
  }
  if (!style.labels.empty() && style.labels.size() != x.size()) {
    throw BadInput("scatter: " + std::to_string(style.labels.size()) + " labels for " +
                   std::to_string(x.size()) + " points");
  }
  ScatterArtist a;
  a.x.assign(x.begin(), x.end());
  a.y.assign(y.begin(), y.end());
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isfinite(x[i]) && std::isfinite(y[i])) include(x[i], y[i]);
  }
  if (!style.values.empty()) {
    const Colormap& cm = Colormap::by_name(style.cmap);
    std::vector<float> vf(style.values.begin(), style.values.end());
    style.norm = style.norm.resolve(vf);
    for (double v : style.values) a.colors.push_back(cm(style.norm(v)));
    if (style.colorbar) colorbar_ = ColorbarSpec{style.cmap, style.norm, style.colorbar_label};
  } else {
    if (!style.color) style.color = next_color();
    a.colors.assign(x.size(), *style.color);
  }
  a.style = std::move(style);
  artists_.push_back(std::move(a));
  return *this;
}

Axes& Axes::bars(std::vector<std::string> categories, std::vector<BarSeries> series, BarStyle style,
                 bool horizontal) {
  const size_t n = categories.size();
  const char* what = horizontal ? "barh" : "bar";
  if (!(style.width > 0 && style.width <= 1)) {
    throw BadInput(std::string(what) + ": width " + std::to_string(style.width) +
                   " must be in (0, 1]");
  }
  const double m = static_cast<double>(std::max<size_t>(series.size(), 1));
  const double bw = style.width / m;
  for (size_t s = 0; s < series.size(); ++s) {
    const BarSeries& ser = series[s];
    if (ser.values.size() != n) {
      throw BadInput(std::string(what) + ": series '" + ser.label + "' has " +
                     std::to_string(ser.values.size()) + " values for " + std::to_string(n) +
                     " categories");
    }
    PatchArtist p;
    p.color = ser.color ? *ser.color : next_color();
    p.alpha = style.alpha;
    p.label = ser.label;
    for (size_t i = 0; i < n; ++i) {
      double v = ser.values[i];
      if (!std::isfinite(v)) continue;
      double c0 = static_cast<double>(i) - style.width / 2 + bw * static_cast<double>(s);
      if (horizontal) {
        p.boxes.push_back({std::min(0.0, v), std::max(0.0, v), c0, c0 + bw});
        include(v, c0);
        include(0, c0 + bw);
      } else {
        p.boxes.push_back({c0, c0 + bw, std::min(0.0, v), std::max(0.0, v)});
        include(c0, v);
        include(c0 + bw, 0);
      }
    }
    artists_.push_back(std::move(p));
  }
  if (horizontal) {
    extent_.sticky_x0 = extent_.x0 >= 0;
    y_.inverted = true;
    y_categories(std::move(categories));
  } else {
    extent_.sticky_y0 = extent_.y0 >= 0;
    x_categories(std::move(categories));
  }
  return *this;
}

Axes& Axes::bar(std::vector<std::string> categories, std::vector<BarSeries> series,
                BarStyle style) {
  return bars(std::move(categories), std::move(series), style, false);
}

Axes& Axes::barh(std::vector<std::string> categories, std::vector<BarSeries> series,
                 BarStyle style) {
  return bars(std::move(categories), std::move(series), style, true);
}

Axes& Axes::hist(std::span<const double> data, HistStyle style) {
  std::vector<double> finite;
  finite.reserve(data.size());
  for (double v : data) {
    if (std::isfinite(v)) finite.push_back(v);
  }
  std::vector<double> edges = style.edges;
  if (edges.empty()) {
    if (style.bins <= 0 || style.bins > 1000000) {
      throw BadInput("hist: bins " + std::to_string(style.bins) + " must be in [1, 1000000]");
    }
    double lo = style.range_lo, hi = style.range_hi;
    if (std::isnan(lo)) lo = finite.empty() ? 0 : *std::min_element(finite.begin(), finite.end());
    if (std::isnan(hi)) hi = finite.empty() ? 1 : *std::max_element(finite.begin(), finite.end());
    if (!std::isfinite(lo) || !std::isfinite(hi) || lo > hi) {
      throw BadInput("hist: range [" + std::to_string(lo) + ", " + std::to_string(hi) +
                     "] is not an interval");
    }
    if (lo == hi) {
      lo -= 0.5;
      hi += 0.5;
    }
    edges.resize(static_cast<size_t>(style.bins) + 1);
    for (int i = 0; i <= style.bins; ++i) edges[i] = lo + (hi - lo) * i / style.bins;
  }
  if (edges.size() < 2) throw BadInput("hist: need at least 2 bin edges");
  for (size_t i = 1; i < edges.size(); ++i) {
    if (!(edges[i] > edges[i - 1])) {
      throw BadInput("hist: bin edges not strictly ascending at index " + std::to_string(i) + " (" +
                     std::to_string(edges[i]) + ")");
    }
  }
  std::vector<double> counts(edges.size() - 1, 0.0);
  for (double v : finite) {
    if (v < edges.front() || v > edges.back()) continue;
    // The last bin is closed on the right, as in numpy.
    size_t i = static_cast<size_t>(std::upper_bound(edges.begin(), edges.end(), v) - edges.begin());
    i = std::min(i, edges.size() - 1);
    counts[i - 1] += 1;
  }
  style.edges.clear();
  return hist_counts(edges, counts, std::move(style));
}

Axes& Axes::hist(std::span<const float> data, HistStyle style) {
  std::vector<double> d(data.begin(), data.end());
  return hist(std::span<const double>(d), std::move(style));
}

Axes& Axes::hist_counts(std::span<const double> edges, std::span<const double> counts,
                        HistStyle style) {
  if (edges.size() != counts.size() + 1) {
    throw BadInput("hist: " + std::to_string(edges.size()) + " edges for " +
                   std::to_string(counts.size()) + " counts (need counts + 1)");
  }
  double total = 0;
  for (double c : counts) total += std::isfinite(c) ? c : 0;
  PatchArtist p;
  p.color = style.color ? *style.color : next_color();
  p.alpha = style.step ? 1.0 : style.alpha;
  p.label = style.label;
  p.outline = style.step;
  for (size_t i = 0; i < counts.size(); ++i) {
    double c = counts[i];
    if (!std::isfinite(c)) c = 0;
    if (style.density && total > 0) c /= total * (edges[i + 1] - edges[i]);
    p.boxes.push_back({edges[i], edges[i + 1], 0, c});
    include(edges[i], c);
    include(edges[i + 1], 0);
  }
  artists_.push_back(std::move(p));
  extent_.sticky_y0 = extent_.y0 >= 0;
  if (style.log) y_.scale = Scale::log;
  return *this;
}

Axes& Axes::boxes(const std::vector<std::vector<double>>& groups, std::vector<std::string> labels,
                  BoxStyle style, bool violin) {
  const char* what = violin ? "violin" : "boxplot";
  if (!labels.empty() && labels.size() != groups.size()) {
    throw BadInput(std::string(what) + ": " + std::to_string(labels.size()) + " labels for " +
                   std::to_string(groups.size()) + " groups");
  }
  BoxArtist b;
  b.color = style.color ? *style.color : next_color();
  b.width = style.width;
  b.violin = violin;
  for (size_t g = 0; g < groups.size(); ++g) {
    std::vector<double> v;
    for (double x : groups[g]) {
      if (std::isfinite(x)) v.push_back(x);
    }
    if (v.empty()) continue;
    std::sort(v.begin(), v.end());
    BoxArtist::Group gr{};
    gr.pos = static_cast<double>(g);
    gr.q1 = quantile(v, 0.25);
    gr.median = quantile(v, 0.5);
    gr.q3 = quantile(v, 0.75);
    double iqr = gr.q3 - gr.q1;
    double lo_fence = gr.q1 - 1.5 * iqr, hi_fence = gr.q3 + 1.5 * iqr;
    gr.whisker_lo = *std::lower_bound(v.begin(), v.end(), lo_fence);
    gr.whisker_hi = *(std::upper_bound(v.begin(), v.end(), hi_fence) - 1);
    if (style.fliers && !violin) {
      for (double x : v) {
        if (x < gr.whisker_lo || x > gr.whisker_hi) gr.fliers.push_back(x);
      }
    }
    if (violin) {
      double mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
      double var = 0;
      for (double x : v) var += (x - mean) * (x - mean);
      double sd = v.size() > 1 ? std::sqrt(var / static_cast<double>(v.size() - 1)) : 0;
      double bw = sd * std::pow(static_cast<double>(v.size()), -0.2);  // Scott's rule
      const int kPoints = 96;
      double lo = v.front(), hi = v.back();
      double peak = 0;
      for (int i = 0; i < kPoints; ++i) {
        double y = lo + (hi - lo) * i / (kPoints - 1);
        double d = 0;
        if (bw > 0) {
          // Kernel sum over all points; groups are summaries (thousands of values at most).
          for (double x : v) d += std::exp(-0.5 * ((y - x) / bw) * ((y - x) / bw));
        }
        gr.density_y.push_back(y);
        gr.density_w.push_back(d);
        peak = std::max(peak, d);
      }
      for (double& d : gr.density_w) d = peak > 0 ? d / peak * style.width / 2 : style.width / 2;
    }
    include(gr.pos - style.width / 2, v.front());
    include(gr.pos + style.width / 2, v.back());
    b.groups.push_back(std::move(gr));
  }
  artists_.push_back(std::move(b));
  if (!labels.empty()) x_categories(std::move(labels));
  x_.integer_ticks = true;
  return *this;
}

Axes& Axes::boxplot(const std::vector<std::vector<double>>& groups, std::vector<std::string> labels,
                    BoxStyle style) {
  return boxes(groups, std::move(labels), style, false);
}

Axes& Axes::violin(const std::vector<std::vector<double>>& groups, std::vector<std::string> labels,
                   BoxStyle style) {
  return boxes(groups, std::move(labels), style, true);
}

Axes& Axes::heatmap(std::span<const float> values, int64_t rows, int64_t cols, HeatmapStyle style) {
  if (rows <= 0 || cols <= 0 || rows > (1 << 20) || cols > (1 << 20) ||
      static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols) != values.size()) {
    throw BadInput("heatmap: shape [" + std::to_string(rows) + ", " + std::to_string(cols) +
                   "] does not match " + std::to_string(values.size()) + " values");
  }
  if (!style.x_labels.empty() && static_cast<int64_t>(style.x_labels.size()) != cols) {
    throw BadInput("heatmap: " + std::to_string(style.x_labels.size()) + " x labels for " +
                   std::to_string(cols) + " columns");
  }
  if (!style.y_labels.empty() && static_cast<int64_t>(style.y_labels.size()) != rows) {
    throw BadInput("heatmap: " + std::to_string(style.y_labels.size()) + " y labels for " +
                   std::to_string(rows) + " rows");
  }
  const Colormap& cm = Colormap::by_name(style.cmap);
  Norm norm = style.norm.resolve(values);

  // Colour lookup on a fine grid of the linear (or log) position: one table lookup per cell
  // instead of a pow() per cell; 2^13 steps is far below what a colormap can show.
  constexpr int kLut = 1 << 13;
  std::vector<uint32_t> lut(kLut);
  for (int i = 0; i < kLut; ++i) {
    double u = static_cast<double>(i) / (kLut - 1);
    double t = norm.kind == Norm::Kind::power ? std::pow(u, norm.gamma) : u;
    lut[i] = argb(cm(t));
  }
  HeatmapArtist h;
  h.rows = rows;
  h.cols = cols;
  h.pixels.resize(values.size());
  const bool is_log = norm.kind == Norm::Kind::log;
  const double lo = is_log ? std::log(norm.vmin) : norm.vmin;
  const double inv = 1.0 / ((is_log ? std::log(norm.vmax) : norm.vmax) - lo);
  for (size_t i = 0; i < values.size(); ++i) {
    double v = values[i];
    if (is_log) v = v > 0 ? std::log(v) : NAN;
    double u = (v - lo) * inv;
    if (std::isnan(u)) {
      h.pixels[i] = 0;  // transparent: missing cells show the background
      continue;
    }
    u = std::clamp(u, 0.0, 1.0);
    h.pixels[i] = lut[static_cast<size_t>(u * (kLut - 1) + 0.5)];
  }
  artists_.push_back(std::move(h));
  include(-0.5, -0.5);
  include(static_cast<double>(cols) - 0.5, static_cast<double>(rows) - 0.5);
  extent_.sticky_x0 = extent_.sticky_x1 = extent_.sticky_y0 = extent_.sticky_y1 = true;
  y_.inverted = true;
  equal_aspect_ = style.equal_aspect;
  x_.integer_ticks = y_.integer_ticks = true;
  if (!style.x_labels.empty()) x_categories(std::move(style.x_labels));
  if (!style.y_labels.empty()) y_categories(std::move(style.y_labels));
  if (style.colorbar) colorbar_ = ColorbarSpec{style.cmap, norm, style.colorbar_label};
  return *this;
}

Axes& Axes::heatmap(const Tensor& matrix, HeatmapStyle style) {
  if (matrix.rank() != 2) {
    throw BadInput("heatmap: tensor of shape " + matrix.shape_string() + " is not a matrix");
  }
  return heatmap(matrix.data, matrix.dim(0), matrix.dim(1), std::move(style));
}

Axes& Axes::hline(double y, RefLineStyle style) {
  artists_.push_back(RefLineArtist{true, y, std::move(style)});
  return *this;
}

Axes& Axes::vline(double x, RefLineStyle style) {
  artists_.push_back(RefLineArtist{false, x, std::move(style)});
  return *this;
}

Axes& Axes::text(double x, double y, std::string s, TextStyle style) {
  artists_.push_back(TextArtist{x, y, std::move(s), style});
  return *this;
}

}  // namespace kvscope::plot
