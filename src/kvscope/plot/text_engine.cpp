#include "kvscope/plot/text_engine.hpp"

#include <glib.h>
#include <pango/pangocairo.h>

#include <cmath>

namespace kvscope::plot::detail {
namespace {

void set_font_options(cairo_t* cr) {
  cairo_font_options_t* fo = cairo_font_options_create();
  cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
  cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_NONE);
  cairo_font_options_set_antialias(fo, CAIRO_ANTIALIAS_GRAY);
  cairo_set_font_options(cr, fo);
  cairo_font_options_destroy(fo);
}

PangoLayout* make_layout(cairo_t* cr) {
  set_font_options(cr);
  PangoLayout* layout = pango_cairo_create_layout(cr);
  pango_context_set_round_glyph_positions(pango_layout_get_context(layout), FALSE);
  return layout;
}

}  // namespace

std::string valid_utf8(const std::string& s) {
  if (g_utf8_validate(s.data(), static_cast<gssize>(s.size()), nullptr)) return s;
  gchar* fixed = g_utf8_make_valid(s.data(), static_cast<gssize>(s.size()));
  std::string out(fixed);
  g_free(fixed);
  return out;
}

TextEngine::TextEngine(std::string font_family) : family_(std::move(font_family)) {
  surface_ = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1);
  cr_ = cairo_create(surface_);
  layout_ = make_layout(cr_);
}

TextEngine::~TextEngine() {
  g_object_unref(layout_);
  cairo_destroy(cr_);
  cairo_surface_destroy(surface_);
}

void TextEngine::configure(PangoLayout* layout, const std::string& text,
                           const TextSpec& spec) const {
  PangoFontDescription* fd = pango_font_description_from_string(family_.c_str());
  pango_font_description_set_absolute_size(fd, spec.size * PANGO_SCALE);
  pango_font_description_set_weight(fd, spec.bold ? PANGO_WEIGHT_BOLD : PANGO_WEIGHT_NORMAL);
  pango_layout_set_font_description(layout, fd);
  pango_font_description_free(fd);
  pango_layout_set_single_paragraph_mode(layout, spec.single_line);
  if (spec.max_width > 0) {
    pango_layout_set_width(layout, static_cast<int>(spec.max_width * PANGO_SCALE));
    pango_layout_set_ellipsize(layout, PANGO_ELLIPSIZE_END);
  } else {
    pango_layout_set_width(layout, -1);
    pango_layout_set_ellipsize(layout, PANGO_ELLIPSIZE_NONE);
  }
  pango_layout_set_alignment(layout, PANGO_ALIGN_CENTER);
  std::string t = valid_utf8(text);
  pango_layout_set_text(layout, t.data(), static_cast<int>(t.size()));
}

TextSize TextEngine::measure(const std::string& text, const TextSpec& spec) {
  std::string key = text;
  key += '\0';
  key += std::to_string(spec.size) + (spec.bold ? "b" : "") + (spec.single_line ? "s" : "") +
         std::to_string(spec.max_width);
  if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  configure(layout_, text, spec);
  PangoRectangle logical;
  pango_layout_get_extents(layout_, nullptr, &logical);
  TextSize sz{static_cast<double>(logical.width) / PANGO_SCALE,
              static_cast<double>(logical.height) / PANGO_SCALE};
  // With a set width Pango reports that width; the ellipsized text is what we want.
  if (spec.max_width > 0) {
    PangoLayoutIter* it = pango_layout_get_iter(layout_);
    double maxw = 0;
    do {
      PangoRectangle lr;
      pango_layout_iter_get_line_extents(it, nullptr, &lr);
      maxw = std::max(maxw, static_cast<double>(lr.width) / PANGO_SCALE);
    } while (pango_layout_iter_next_line(it));
    pango_layout_iter_free(it);
    sz.w = std::min(maxw, spec.max_width);
  }
  cache_.emplace(std::move(key), sz);
  return sz;
}

void TextEngine::draw(cairo_t* cr, const std::string& text, const TextSpec& spec,
                      const Color& color) {
  PangoLayout* layout = make_layout(cr);
  configure(layout, text, spec);
  cairo_save(cr);
  if (spec.max_width > 0) {
    // The layout box is max_width wide and lines are centred in it; shift so the measured
    // (narrower) text starts at the origin.
    TextSize sz = measure(text, spec);
    cairo_translate(cr, -(spec.max_width - sz.w) / 2, 0);
  }
  cairo_set_source_rgba(cr, color.r, color.g, color.b, color.a);
  cairo_move_to(cr, 0, 0);
  pango_cairo_show_layout(cr, layout);
  cairo_restore(cr);
  g_object_unref(layout);
}

}  // namespace kvscope::plot::detail
