// Figure: a canvas holding a grid of Axes, laid out so that no text is clipped or overlaps,
// and saved as PNG, SVG or PDF (chosen by the file extension; files are written atomically).
//
//   plot::Figure fig(1200, 500);                 // or Figure::inches(6.4, 4.8, 200)
//   fig.suptitle("Layer 3 attention").grid(1, 2);
//   HeatmapStyle hs;
//   hs.cmap = "magma";
//   hs.x_labels = hs.y_labels = toks;
//   fig.axes(0, 0).heatmap(attn, hs);
//   HistStyle h;
//   h.bins = 60;
//   h.log = true;
//   fig.axes(0, 1).hist(keys, h).x_label("key value");
//   fig.save("attention.png");                   // .png, .svg or .pdf
//
// Units: the figure is `width` x `height` figure units. A PNG has round(width * scale) x
// round(height * scale) pixels (scale defaults to the figure's dpi / 100); an SVG or PDF page
// measures width * 0.72 x height * 0.72 points, so 100 units are one inch. Fonts are sized in
// figure units too, so a figure looks the same in every format and at every dpi.
//
// Text is drawn by Pango with font fallback (Latin, CJK, emoji), so any token string shows;
// token labels are drawn exactly as given (make whitespace visible before passing them) and
// cut with an ellipsis when longer than their max_width.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kvscope/plot/axes.hpp"
#include "kvscope/plot/rect.hpp"

namespace kvscope::plot {

// What a piece of text in the layout is.
enum class TextRole {
  suptitle,
  title,
  x_label,
  y_label,
  x_tick,
  y_tick,
  colorbar_tick,
  colorbar_label,
  legend,
  annotation,
  point_label,
};

struct TextBox {
  TextRole role;
  int axes;  // index into Figure's axes (-1 for the suptitle)
  std::string text;
  Rect box;  // axis-aligned bounds of the (possibly rotated) text, figure units
};

struct AxesBox {
  Rect slot;                     // the grid cell(s) the axes and its decorations live in
  Rect plot;                     // the data area inside the spines
  std::optional<Rect> colorbar;  // the colour bar's gradient
  std::optional<Rect> legend;
  int x_tick_every = 1;  // labels shown: every k-th of the caller's ticks
  int y_tick_every = 1;
  double x_tick_rotation = 0;  // degrees
};

// Where everything goes; computed by the same code that renders.
struct Layout {
  double width = 0, height = 0;
  std::vector<AxesBox> axes;
  std::vector<TextBox> texts;  // every drawn text item
};

struct FigureStyle {
  // Emoji come from fontconfig's fallback: naming "Noto Color Emoji" here would make it
  // claim the digits (it has keycap digit glyphs) and space numbers out.
  std::string font_family = "DejaVu Sans, Noto Sans, Noto Sans CJK SC";
  double font_scale = 1.0;  // multiplies every font size
  double margin = 10;       // around the figure
  double wspace = 18;       // between grid columns
  double hspace = 18;       // between grid rows
  Color background = {1, 1, 1, 1};
};

class Figure {
 public:
  // Throws BadInput unless 16 <= width, height <= 32768.
  Figure(double width, double height, FigureStyle style = {});
  // matplotlib-style size: width_in x height_in inches saved at dpi.
  static Figure inches(double width_in, double height_in, double dpi = 100, FigureStyle style = {});
  Figure(Figure&&) noexcept;
  Figure& operator=(Figure&&) noexcept;
  ~Figure();

  Figure& suptitle(std::string s);
  // Divide the figure into rows x cols cells (default 1 x 1).
  Figure& grid(int rows, int cols);
  // The axes in cell (row, col) spanning row_span x col_span cells; created on first use.
  // Throws BadInput when the cell lies outside the grid.
  Axes& axes(int row = 0, int col = 0, int row_span = 1, int col_span = 1);
  // An axes in an explicit rectangle given in figure fractions ((0, 0) top left, (1, 1)
  // bottom right); its decorations are fitted inside that rectangle.
  Axes& axes_at(double x, double y, double w, double h);

  double width() const { return width_; }
  double height() const { return height_; }
  double dpi() const { return dpi_; }
  int axes_count() const { return static_cast<int>(axes_.size()); }
  Axes& axes_by_index(int i) { return *axes_.at(static_cast<size_t>(i)).axes; }

  // Positions of every axes, colour bar, legend and text item.
  Layout layout() const;

  // Write the figure; format from the extension (.png, .svg, .pdf; case-insensitive).
  // scale: PNG pixels per figure unit (0 = dpi / 100). Throws BadInput on an unknown
  // extension or a path that cannot be written (naming the path); never leaves a partial file.
  void save(const std::string& path, double scale = 0) const;

  struct Slot {
    std::unique_ptr<Axes> axes;
    int row = 0, col = 0, row_span = 1, col_span = 1;
    std::optional<Rect> fraction;  // explicit rectangle (axes_at)
  };

 private:
  double width_, height_, dpi_ = 100;
  FigureStyle style_;
  std::string suptitle_;
  int rows_ = 1, cols_ = 1;
  std::vector<Slot> axes_;
};

// Figures may be built and saved on several threads at once, each Figure used by one thread
// (text goes through a font map per thread). Call this once on the main thread before
// starting them: it loads the font configuration (fontconfig) and the default fonts, so that
// the threads do not race to load them.
void prepare_fonts(const FigureStyle& style = {});

}  // namespace kvscope::plot
