// Internal to plot/: turns a Figure's axes into positions (plot areas, ticks, colour bars,
// legends, every text item). The renderer draws exactly this; Figure::layout() reports it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kvscope/plot/axes.hpp"
#include "kvscope/plot/figure.hpp"
#include "kvscope/plot/text_engine.hpp"

namespace kvscope::plot::detail {

struct PlacedText {
  std::string text;
  TextSpec spec;
  Color color;
  double x = 0, y = 0;    // anchor point, figure units
  double angle = 0;       // degrees counter-clockwise about the anchor
  double ax = 0, ay = 0;  // anchor as a fraction of the text box (0 = left/top)
  TextSize size;
  Rect box;  // axis-aligned bounds after rotation
  TextRole role;
  int axes = -1;
};

// Data-to-figure mapping of one axis.
struct AxisMap {
  double lo = 0, hi = 1;  // view limits, lo < hi
  bool log = false, inverted = false;
  double p0 = 0, p1 = 1;  // figure coordinate of lo and hi (p1 < p0 for a y axis)
  double operator()(double v) const;
  double fraction(double v) const;  // 0 at lo, 1 at hi (log aware)
};

struct LegendEntry {
  enum class Kind { line, patch, marker } kind;
  Color color;
  bool dashed = false;
  Marker marker = Marker::none;
  double width = 1.5;
  double alpha = 1;
  Rect handle;  // where the handle is drawn
};

struct AxesPlan {
  const Axes* axes = nullptr;
  Rect slot, plot;
  AxisMap x, y;
  std::vector<double> x_ticks, y_ticks;  // positions with a tick mark (and grid line)
  int x_every = 1, y_every = 1;
  double x_rotation = 0;
  std::optional<Rect> colorbar;
  std::vector<double> colorbar_ticks;  // positions along the bar in [0, 1]
  std::optional<Rect> legend;
  std::vector<LegendEntry> legend_entries;
};

struct FullLayout {
  double width = 0, height = 0;
  std::vector<AxesPlan> axes;
  std::vector<PlacedText> texts;
};

struct FigureSpec {
  double width, height;
  const FigureStyle* style;
  const std::string* suptitle;
  int rows, cols;
  const std::vector<Figure::Slot>* slots;
};

FullLayout compute_layout(const FigureSpec& fig, TextEngine& te);

// Font sizes (figure units) before FigureStyle::font_scale.
inline constexpr double kTickFont = 10, kLabelFont = 11, kTitleFont = 12, kSuptitleFont = 14,
                        kLegendFont = 10, kPointLabelFont = 9;

}  // namespace kvscope::plot::detail
