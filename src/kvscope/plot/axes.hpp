// Axes: one plotting area of a Figure and the artists drawn in it (lines, scatter, bars,
// histograms, box and violin plots, heatmaps, reference lines, text). An Axes only stores
// plain data; Figure lays it out and renders it. Styles are plain structs whose every field
// has a sensible default: set the fields you need. (Designated initialisers such as
// {.label = "mean"} also work, but GCC 12 warns about them under -Wextra.)
//
//   Axes& ax = fig.axes(0, 0);
//   ax.title("Key norms by layer").x_label("layer").y_label("‖k‖₂").grid();
//   LineStyle mean;
//   mean.label = "mean";
//   mean.marker = Marker::circle;
//   ax.line(layers, mean_norm, mean);
//   ax.line(layers, max_norm).legend();
//
//   HeatmapStyle hs;
//   hs.cmap = "magma";
//   hs.norm = Norm::power(0.5, 0, 1);   // brings out small attention weights
//   hs.colorbar_label = "attention";
//   hs.x_labels = hs.y_labels = tokens;
//   fig.axes(0, 1).heatmap(attn, hs);
//
// Units: positions and sizes are in figure units (1 unit = 1 pixel at scale 1, see
// figure.hpp); font sizes likewise. Data coordinates are whatever the caller plots.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "kvscope/plot/color.hpp"
#include "kvscope/plot/rect.hpp"
#include "kvscope/tensor.hpp"

namespace kvscope::plot {

enum class Marker { none, circle, square, triangle, diamond };
enum class Scale { linear, log };
enum class Loc { best, upper_right, upper_left, lower_left, lower_right };
enum class HAlign { left, center, right };
enum class VAlign { top, middle, bottom };
// Where a text's (x, y) lives: data coordinates, or fractions of the plot area with (0, 0)
// at the lower left and (1, 1) at the upper right.
enum class Coords { data, axes };

struct LineStyle {
  std::string label;           // legend entry; empty = not in the legend
  std::optional<Color> color;  // default: next colour of the palette
  double width = 1.6;
  bool dashed = false;
  Marker marker = Marker::none;
  double marker_size = 4.5;  // radius
  double alpha = 1.0;
};

struct ScatterStyle {
  std::string label;
  std::optional<Color> color;  // one colour for all points (ignored when values are given)
  std::vector<double> values;  // per-point values coloured through cmap/norm (size = points)
  std::string cmap = "viridis";
  Norm norm;
  bool colorbar = true;  // a colour bar for values
  std::string colorbar_label;
  std::vector<std::string> labels;  // per-point text; placed to avoid each other, else dropped
  Marker marker = Marker::circle;
  double size = 4;  // marker radius
  double alpha = 0.85;
};

// One series of a (possibly grouped) bar chart: values[i] belongs to category i.
struct BarSeries {
  BarSeries(std::vector<double> values_, std::string label_ = {},
            std::optional<Color> color_ = std::nullopt)
      : values(std::move(values_)), label(std::move(label_)), color(color_) {}
  std::vector<double> values;
  std::string label;
  std::optional<Color> color;
};

struct BarStyle {
  double width = 0.8;  // width of a category's group, in category units
  double alpha = 1.0;
};

struct HistStyle {
  std::string label;
  std::optional<Color> color;
  int bins = 30;                          // equal-width bins over [range_lo, range_hi]
  std::vector<double> edges;              // explicit bin edges (ascending), overrides bins
  double range_lo = NAN, range_hi = NAN;  // NaN = min/max of the finite data
  bool log = false;                       // log count axis
  bool step = false;                      // outline only (good for overlays)
  bool density = false;                   // normalise to unit area
  double alpha = 0.55;
};

struct BoxStyle {
  std::optional<Color> color;
  double width = 0.6;  // in category units
  bool fliers = true;  // points beyond 1.5 IQR
};

struct HeatmapStyle {
  std::string cmap = "viridis";
  Norm norm;
  bool colorbar = true;
  std::string colorbar_label;
  std::vector<std::string> x_labels;  // one per column (token strings), thinned to fit
  std::vector<std::string> y_labels;  // one per row; row 0 is drawn at the top
  bool equal_aspect = false;          // square cells
};

struct RefLineStyle {
  std::string label;
  Color color = {0.35, 0.35, 0.35, 1};
  double width = 1.0;
  bool dashed = true;
};

struct TextStyle {
  double size = 10;
  Color color = {0.1, 0.1, 0.1, 1};
  HAlign halign = HAlign::left;
  VAlign valign = VAlign::bottom;
  Coords coords = Coords::data;
  double rotation = 0;  // degrees, counter-clockwise
};

// Tick labels given by the caller (categories, tokens).
struct TickLabelStyle {
  double rotation = NAN;   // degrees; NaN = horizontal if they fit, else vertical (90)
  double max_width = 110;  // longer labels are cut with an ellipsis (figure units)
};

// ---- Artists: the plain data an Axes holds (read by the renderer). ----
struct LineArtist {
  std::vector<double> x, y;
  LineStyle style;  // colour resolved
};
struct ScatterArtist {
  std::vector<double> x, y;
  std::vector<Color> colors;  // per point
  ScatterStyle style;
};
// Axis-aligned rectangles in data coordinates (bars, filled histogram bins).
struct PatchArtist {
  struct Box {
    double x0, x1, y0, y1;
  };
  std::vector<Box> boxes;
  Color color;
  double alpha = 1;
  std::string label;
  bool outline = false;  // draw only the top outline (step histogram)
};
struct BoxArtist {
  struct Group {
    double pos, q1, median, q3, whisker_lo, whisker_hi;
    std::vector<double> fliers;
    std::vector<double> density_y, density_w;  // violin: half-width at each y (category units)
  };
  std::vector<Group> groups;
  Color color;
  double width;
  bool violin;
};
struct HeatmapArtist {
  int64_t rows = 0, cols = 0;
  std::vector<uint32_t> pixels;  // rows*cols premultiplied ARGB32 (cairo's native order)
};
struct RefLineArtist {
  bool horizontal;
  double value;
  RefLineStyle style;
};
struct TextArtist {
  double x, y;
  std::string text;
  TextStyle style;
};
using Artist = std::variant<LineArtist, ScatterArtist, PatchArtist, BoxArtist, HeatmapArtist,
                            RefLineArtist, TextArtist>;

// A colour bar beside the plot area, drawn for the last heatmap or valued scatter.
struct ColorbarSpec {
  std::string cmap;
  Norm norm;  // resolved
  std::string label;
};

// Ticks chosen by the caller for one axis (positions in data coordinates).
struct FixedTicks {
  std::vector<double> at;
  std::vector<std::string> labels;
  TickLabelStyle style;
};

// One axis of an Axes, as matplotlib's XAxis and YAxis: what the caller set for it. An Axes
// holds two, and the layout places each with the same code.
struct Axis {
  struct Limits {
    std::optional<double> lo, hi;
  };
  std::string label;
  Scale scale = Scale::linear;
  Limits limits;               // fixed view limits; unset = automatic
  bool inverted = false;       // limits given high to low, or a heatmap's rows
  bool integer_ticks = false;  // automatic ticks only at whole numbers (matrix rows, columns)
  std::optional<FixedTicks> ticks;

  // `name` ("x" or "y") names the axis in messages. BadInput unless lo, hi finite, different.
  void set_limits(double lo, double hi, const char* name);
  // labels empty = formatted numbers; otherwise one per position (BadInput).
  void set_ticks(std::vector<double> at, std::vector<std::string> labels, TickLabelStyle style,
                 const char* name);
  // Labels at 0, 1, ..., n-1.
  void set_categories(std::vector<std::string> labels, TickLabelStyle style);
};

class Axes {
 public:
  Axes& title(std::string s);
  Axes& x_label(std::string s);
  Axes& y_label(std::string s);
  // Fixed view limits (lo > hi inverts the axis). Unset = automatic, with a 5% margin.
  Axes& x_limits(double lo, double hi);
  Axes& y_limits(double lo, double hi);
  Axes& x_scale(Scale s);
  Axes& y_scale(Scale s);
  Axes& grid(bool on = true);
  Axes& legend(Loc where = Loc::best);
  // Categorical tick labels at 0, 1, ..., n-1 (token strings); thinned to every k-th
  // when they do not fit.
  Axes& x_categories(std::vector<std::string> labels, TickLabelStyle style = {});
  Axes& y_categories(std::vector<std::string> labels, TickLabelStyle style = {});
  // Ticks at chosen positions; labels empty = formatted numbers.
  Axes& x_ticks(std::vector<double> at, std::vector<std::string> labels = {},
                TickLabelStyle style = {});
  Axes& y_ticks(std::vector<double> at, std::vector<std::string> labels = {},
                TickLabelStyle style = {});

  // y against x (same length; non-finite points break the line).
  Axes& line(std::span<const double> x, std::span<const double> y, LineStyle style = {});
  // y against 0, 1, ..., n-1.
  Axes& line(std::span<const double> y, LineStyle style = {});
  Axes& scatter(std::span<const double> x, std::span<const double> y, ScatterStyle style = {});
  // Vertical bars per category; several series are grouped side by side.
  Axes& bar(std::vector<std::string> categories, std::vector<BarSeries> series,
            BarStyle style = {});
  // Horizontal bars; the first category is at the top.
  Axes& barh(std::vector<std::string> categories, std::vector<BarSeries> series,
             BarStyle style = {});
  // Histogram of the finite values of data.
  Axes& hist(std::span<const double> data, HistStyle style = {});
  Axes& hist(std::span<const float> data, HistStyle style = {});
  // Histogram already counted: counts[i] in [edges[i], edges[i+1]).
  Axes& hist_counts(std::span<const double> edges, std::span<const double> counts,
                    HistStyle style = {});
  // One box (median, quartiles, 1.5 IQR whiskers, fliers) per group at x = 0, 1, ...
  Axes& boxplot(const std::vector<std::vector<double>>& groups,
                std::vector<std::string> labels = {}, BoxStyle style = {});
  // Gaussian-kernel density per group (Scott's bandwidth) with median and quartile marks.
  Axes& violin(const std::vector<std::vector<double>>& groups, std::vector<std::string> labels = {},
               BoxStyle style = {});
  // A rows x cols matrix (row-major); cell (r, c) is centred on x = c, y = r, row 0 on top.
  Axes& heatmap(std::span<const float> values, int64_t rows, int64_t cols, HeatmapStyle style = {});
  Axes& heatmap(const Tensor& matrix, HeatmapStyle style = {});  // rank 2
  Axes& hline(double y, RefLineStyle style = {});
  Axes& vline(double x, RefLineStyle style = {});
  Axes& text(double x, double y, std::string s, TextStyle style = {});

  // ---- read by the layout and renderer ----
  using Limits = Axis::Limits;
  const std::vector<Artist>& artists() const { return artists_; }
  const std::string& title_text() const { return title_; }
  const Axis& x_axis() const { return x_; }
  const Axis& y_axis() const { return y_; }
  const std::string& x_label_text() const { return x_.label; }
  const std::string& y_label_text() const { return y_.label; }
  bool grid_on() const { return grid_; }
  std::optional<Loc> legend_loc() const { return legend_; }
  const std::optional<ColorbarSpec>& colorbar() const { return colorbar_; }
  bool equal_aspect() const { return equal_aspect_; }
  // Data extent of the artists, with "sticky" edges that get no margin (bars start at 0,
  // heatmaps end at their cells).
  struct Extent {
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    double x_min_positive = INFINITY, y_min_positive = INFINITY;  // for log scales
    bool sticky_x0 = false, sticky_x1 = false, sticky_y0 = false, sticky_y1 = false;
  };
  const Extent& extent() const { return extent_; }

 private:
  Color next_color() { return palette(color_cycle_++); }
  void include(double x, double y);
  Axes& bars(std::vector<std::string> categories, std::vector<BarSeries> series, BarStyle style,
             bool horizontal);
  Axes& boxes(const std::vector<std::vector<double>>& groups, std::vector<std::string> labels,
              BoxStyle style, bool violin);

  std::vector<Artist> artists_;
  std::string title_;
  Axis x_, y_;
  bool grid_ = false;
  std::optional<Loc> legend_;
  std::optional<ColorbarSpec> colorbar_;
  bool equal_aspect_ = false;
  Extent extent_;
  int color_cycle_ = 0;
};

}  // namespace kvscope::plot
