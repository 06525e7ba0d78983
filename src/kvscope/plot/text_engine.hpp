// Internal to plot/: measures and draws text with Pango so that layout and rendering agree
// exactly (metrics unhinted, glyph positions unrounded: sizes scale linearly with the
// canvas, so a layout computed once holds for PNG at any scale, SVG and PDF).
#pragma once

#include <cairo.h>

#include <string>
#include <unordered_map>

#include "kvscope/plot/color.hpp"

typedef struct _PangoLayout PangoLayout;

namespace kvscope::plot::detail {

struct TextSpec {
  double size = 10;  // font size, figure units (pixels at scale 1)
  bool bold = false;
  bool single_line = false;  // newlines shown as symbols (token labels), not line breaks
  double max_width = 0;      // > 0: ellipsize at the end beyond this width
};

struct TextSize {
  double w = 0, h = 0;  // logical extents, figure units
};

class TextEngine {
 public:
  explicit TextEngine(std::string font_family);
  ~TextEngine();
  TextEngine(const TextEngine&) = delete;
  TextEngine& operator=(const TextEngine&) = delete;

  TextSize measure(const std::string& text, const TextSpec& spec);
  // Draws with the logical box's top-left corner at the current origin of cr.
  void draw(cairo_t* cr, const std::string& text, const TextSpec& spec, const Color& color);

 private:
  void configure(PangoLayout* layout, const std::string& text, const TextSpec& spec) const;

  std::string family_;
  cairo_surface_t* surface_ = nullptr;
  cairo_t* cr_ = nullptr;
  PangoLayout* layout_ = nullptr;
  std::unordered_map<std::string, TextSize> cache_;
};

// Replaces invalid UTF-8 with U+FFFD (Pango would warn on stderr and drop the text).
std::string valid_utf8(const std::string& s);

}  // namespace kvscope::plot::detail
