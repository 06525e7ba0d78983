#include "kvscope/plot/renderer.hpp"

#include <algorithm>
#include <cmath>

namespace kvscope::plot::detail {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kTickLen = 4;
const Color kSpine = {0.2, 0.2, 0.2, 1};
const Color kGrid = {0.88, 0.88, 0.88, 1};

void set_color(cairo_t* cr, const Color& c, double alpha = 1) {
  cairo_set_source_rgba(cr, c.r, c.g, c.b, c.a * alpha);
}

Color darker(const Color& c, double f = 0.6) {
  return {c.r * f, c.g * f, c.b * f, c.a};
}

void marker_path(cairo_t* cr, Marker m, double x, double y, double r) {
  switch (m) {
    case Marker::circle:
      cairo_new_sub_path(cr);
      cairo_arc(cr, x, y, r, 0, 2 * kPi);
      break;
    case Marker::square:
      cairo_rectangle(cr, x - r * 0.85, y - r * 0.85, r * 1.7, r * 1.7);
      break;
    case Marker::triangle:
      cairo_move_to(cr, x, y - r * 1.1);
      cairo_line_to(cr, x + r * 1.0, y + r * 0.7);
      cairo_line_to(cr, x - r * 1.0, y + r * 0.7);
      cairo_close_path(cr);
      break;
    case Marker::diamond:
      cairo_move_to(cr, x, y - r * 1.2);
      cairo_line_to(cr, x + r * 0.9, y);
      cairo_line_to(cr, x, y + r * 1.2);
      cairo_line_to(cr, x - r * 0.9, y);
      cairo_close_path(cr);
      break;
    case Marker::none:
      break;
  }
}

void set_dash(cairo_t* cr, bool dashed, double width) {
  if (dashed) {
    double d[2] = {std::max(3.0, 3.7 * width), std::max(2.0, 1.6 * width)};
    cairo_set_dash(cr, d, 2, 0);
  } else {
    cairo_set_dash(cr, nullptr, 0, 0);
  }
}

void draw_line(cairo_t* cr, const AxesPlan& p, const LineArtist& l) {
  const LineStyle& s = l.style;
  cairo_set_line_width(cr, s.width);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
  set_dash(cr, s.dashed, s.width);
  set_color(cr, *s.color, s.alpha);
  bool pen = false;
  for (size_t i = 0; i < l.x.size(); ++i) {
    double x = p.x(l.x[i]), y = p.y(l.y[i]);
    if (!std::isfinite(x) || !std::isfinite(y)) {
      pen = false;
      continue;
    }
    if (pen) {
      cairo_line_to(cr, x, y);
    } else {
      cairo_move_to(cr, x, y);
    }
    pen = true;
  }
  cairo_stroke(cr);
  set_dash(cr, false, 0);
  if (s.marker != Marker::none) {
    for (size_t i = 0; i < l.x.size(); ++i) {
      double x = p.x(l.x[i]), y = p.y(l.y[i]);
      if (std::isfinite(x) && std::isfinite(y)) marker_path(cr, s.marker, x, y, s.marker_size);
    }
    cairo_fill(cr);
  }
}

void draw_scatter(cairo_t* cr, const AxesPlan& p, const ScatterArtist& a) {
  cairo_set_line_width(cr, 0.5);
  for (size_t i = 0; i < a.x.size(); ++i) {
    double x = p.x(a.x[i]), y = p.y(a.y[i]);
    if (!std::isfinite(x) || !std::isfinite(y) || a.colors[i].a == 0) continue;
    marker_path(cr, a.style.marker, x, y, a.style.size);
    set_color(cr, a.colors[i], a.style.alpha);
    cairo_fill_preserve(cr);
    // A thin white rim keeps overlapping points apart.
    cairo_set_source_rgba(cr, 1, 1, 1, 0.8);
    cairo_stroke(cr);
  }
}

void draw_patches(cairo_t* cr, const AxesPlan& p, const PatchArtist& a) {
  auto y_of = [&](double v) {
    double y = p.y(v);
    // Under a log axis bars from zero start at the bottom of the view.
    if (!std::isfinite(y) || y > p.plot.bottom() + 2) y = p.plot.bottom() + 2;
    if (y < p.plot.y - 2) y = p.plot.y - 2;
    return y;
  };
  if (a.outline) {
    cairo_set_line_width(cr, 1.6);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_MITER);
    set_color(cr, a.color);
    bool first = true;
    for (const auto& b : a.boxes) {
      double x0 = p.x(b.x0), x1 = p.x(b.x1), top = y_of(b.y1);
      if (first) {
        cairo_move_to(cr, x0, y_of(b.y0));
        first = false;
      }
      cairo_line_to(cr, x0, top);
      cairo_line_to(cr, x1, top);
    }
    if (!a.boxes.empty()) cairo_line_to(cr, p.x(a.boxes.back().x1), y_of(a.boxes.back().y0));
    cairo_stroke(cr);
    return;
  }
  for (const auto& b : a.boxes) {
    double x0 = p.x(b.x0), x1 = p.x(b.x1);
    double y0 = y_of(b.y0), y1 = y_of(b.y1);
    cairo_rectangle(cr, std::min(x0, x1), std::min(y0, y1), std::fabs(x1 - x0), std::fabs(y1 - y0));
  }
  set_color(cr, a.color, a.alpha);
  cairo_fill_preserve(cr);
  // Hairline edges separate adjacent bins only when the bars are wide enough to show it.
  double w = a.boxes.empty() ? 0 : std::fabs(p.x(a.boxes[0].x1) - p.x(a.boxes[0].x0));
  if (w > 4) {
    cairo_set_source_rgba(cr, 1, 1, 1, 0.7);
    cairo_set_line_width(cr, 0.5);
    cairo_stroke(cr);
  } else {
    cairo_new_path(cr);
  }
}

void draw_boxes(cairo_t* cr, const AxesPlan& p, const BoxArtist& a) {
  const double hw = a.width / 2;
  for (const auto& g : a.groups) {
    double xc = p.x(g.pos);
    if (a.violin) {
      if (g.density_y.empty()) continue;
      for (size_t i = 0; i < g.density_y.size(); ++i) {
        double x = p.x(g.pos + g.density_w[i]), y = p.y(g.density_y[i]);
        i == 0 ? cairo_move_to(cr, x, y) : cairo_line_to(cr, x, y);
      }
      for (size_t i = g.density_y.size(); i-- > 0;) {
        cairo_line_to(cr, p.x(g.pos - g.density_w[i]), p.y(g.density_y[i]));
      }
      cairo_close_path(cr);
      set_color(cr, a.color, 0.45);
      cairo_fill_preserve(cr);
      set_color(cr, darker(a.color, 0.8));
      cairo_set_line_width(cr, 1.0);
      cairo_stroke(cr);
      // Inner box: quartile bar and median dot.
      cairo_set_line_width(cr, 4);
      cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
      cairo_set_source_rgba(cr, 0.2, 0.2, 0.2, 0.9);
      cairo_move_to(cr, xc, p.y(g.q1));
      cairo_line_to(cr, xc, p.y(g.q3));
      cairo_stroke(cr);
      cairo_set_line_width(cr, 1);
      cairo_move_to(cr, xc, p.y(g.whisker_lo));
      cairo_line_to(cr, xc, p.y(g.whisker_hi));
      cairo_stroke(cr);
      cairo_arc(cr, xc, p.y(g.median), 2.4, 0, 2 * kPi);
      cairo_set_source_rgb(cr, 1, 1, 1);
      cairo_fill(cr);
      continue;
    }
    double x0 = p.x(g.pos - hw), x1 = p.x(g.pos + hw);
    double yq1 = p.y(g.q1), yq3 = p.y(g.q3);
    cairo_rectangle(cr, std::min(x0, x1), std::min(yq1, yq3), std::fabs(x1 - x0),
                    std::fabs(yq1 - yq3));
    set_color(cr, a.color, 0.35);
    cairo_fill_preserve(cr);
    set_color(cr, darker(a.color, 0.75));
    cairo_set_line_width(cr, 1.1);
    cairo_stroke(cr);
    double cap0 = p.x(g.pos - hw / 2), cap1 = p.x(g.pos + hw / 2);
    for (auto [from, to] : {std::pair{g.q1, g.whisker_lo}, std::pair{g.q3, g.whisker_hi}}) {
      cairo_move_to(cr, xc, p.y(from));
      cairo_line_to(cr, xc, p.y(to));
      cairo_move_to(cr, cap0, p.y(to));
      cairo_line_to(cr, cap1, p.y(to));
    }
    cairo_stroke(cr);
    cairo_set_line_width(cr, 2);
    set_color(cr, darker(a.color, 0.45));
    cairo_move_to(cr, x0, p.y(g.median));
    cairo_line_to(cr, x1, p.y(g.median));
    cairo_stroke(cr);
    cairo_set_line_width(cr, 0.8);
    set_color(cr, darker(a.color, 0.75), 0.8);
    for (double f : g.fliers) {
      cairo_new_sub_path(cr);
      cairo_arc(cr, xc, p.y(f), 2.2, 0, 2 * kPi);
    }
    cairo_stroke(cr);
  }
}

void draw_heatmap(cairo_t* cr, const AxesPlan& p, const HeatmapArtist& h, double device_scale) {
  const int cols = static_cast<int>(h.cols), rows = static_cast<int>(h.rows);
  cairo_surface_t* img = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, cols, rows);
  if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
    cairo_surface_destroy(img);
    return;
  }
  cairo_surface_flush(img);
  unsigned char* data = cairo_image_surface_get_data(img);
  int stride = cairo_image_surface_get_stride(img);
  for (int r = 0; r < rows; ++r) {
    std::copy_n(h.pixels.data() + static_cast<size_t>(r) * cols, cols,
                reinterpret_cast<uint32_t*>(data + static_cast<size_t>(r) * stride));
  }
  cairo_surface_mark_dirty(img);
  double px0 = p.x(-0.5), px1 = p.x(cols - 0.5);
  double py0 = p.y(-0.5), py1 = p.y(rows - 0.5);
  double sx = (px1 - px0) / cols, sy = (py1 - py0) / rows;
  cairo_save(cr);
  cairo_translate(cr, px0, py0);
  cairo_scale(cr, sx, sy);
  cairo_set_source_surface(cr, img, 0, 0);
  // Enlarging: hard cell edges. Shrinking below a pixel per cell: average, so that a lone
  // strong cell (an attention sink) is not skipped by point sampling.
  bool shrinking =
      device_scale > 0 && (std::fabs(sx) * device_scale < 1 || std::fabs(sy) * device_scale < 1);
  cairo_pattern_set_filter(cairo_get_source(cr),
                           shrinking ? CAIRO_FILTER_GOOD : CAIRO_FILTER_NEAREST);
  cairo_pattern_set_extend(cairo_get_source(cr), CAIRO_EXTEND_PAD);
  cairo_rectangle(cr, 0, 0, cols, rows);
  cairo_fill(cr);
  cairo_restore(cr);
  cairo_surface_destroy(img);
}

void draw_colorbar(cairo_t* cr, const AxesPlan& p) {
  const auto& spec = *p.axes->colorbar();
  const Rect& bar = *p.colorbar;
  const Colormap& cm = Colormap::by_name(spec.cmap);
  constexpr int kSteps = 256;
  cairo_surface_t* img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, kSteps);
  cairo_surface_flush(img);
  unsigned char* data = cairo_image_surface_get_data(img);
  int stride = cairo_image_surface_get_stride(img);
  for (int i = 0; i < kSteps; ++i) {
    Color c = cm(1.0 - (i + 0.5) / kSteps);  // top of the bar is the high end
    auto q = [](double v) {
      return static_cast<uint32_t>(std::lround(std::clamp(v, 0.0, 1.0) * 255));
    };
    *reinterpret_cast<uint32_t*>(data + static_cast<size_t>(i) * stride) =
        0xff000000u | (q(c.r) << 16) | (q(c.g) << 8) | q(c.b);
  }
  cairo_surface_mark_dirty(img);
  cairo_save(cr);
  cairo_translate(cr, bar.x, bar.y);
  cairo_scale(cr, bar.w, bar.h / kSteps);
  cairo_set_source_surface(cr, img, 0, 0);
  cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_BILINEAR);
  cairo_pattern_set_extend(cairo_get_source(cr), CAIRO_EXTEND_PAD);
  cairo_rectangle(cr, 0, 0, 1, kSteps);
  cairo_fill(cr);
  cairo_restore(cr);
  cairo_surface_destroy(img);
  set_color(cr, kSpine);
  cairo_set_line_width(cr, 0.8);
  cairo_rectangle(cr, bar.x, bar.y, bar.w, bar.h);
  for (double t : p.colorbar_ticks) {
    double y = bar.bottom() - t * bar.h;
    cairo_move_to(cr, bar.right(), y);
    cairo_line_to(cr, bar.right() + kTickLen, y);
  }
  cairo_stroke(cr);
}

void draw_legend(cairo_t* cr, const AxesPlan& p) {
  const Rect& b = *p.legend;
  cairo_rectangle(cr, b.x, b.y, b.w, b.h);
  cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
  cairo_fill_preserve(cr);
  cairo_set_source_rgba(cr, 0.8, 0.8, 0.8, 1);
  cairo_set_line_width(cr, 0.8);
  cairo_stroke(cr);
  for (const auto& e : p.legend_entries) {
    const Rect& h = e.handle;
    double ym = h.y + h.h / 2;
    switch (e.kind) {
      case LegendEntry::Kind::line:
        cairo_set_line_width(cr, e.width);
        set_dash(cr, e.dashed, e.width);
        set_color(cr, e.color, e.alpha);
        cairo_move_to(cr, h.x, ym);
        cairo_line_to(cr, h.right(), ym);
        cairo_stroke(cr);
        set_dash(cr, false, 0);
        if (e.marker != Marker::none) {
          marker_path(cr, e.marker, h.x + h.w / 2, ym, 3.5);
          cairo_fill(cr);
        }
        break;
      case LegendEntry::Kind::patch: {
        double s = std::min(h.h, 10.0);
        cairo_rectangle(cr, h.x + 4, ym - s / 2, h.w - 8, s);
        set_color(cr, e.color, e.alpha);
        cairo_fill(cr);
        break;
      }
      case LegendEntry::Kind::marker:
        marker_path(cr, e.marker, h.x + h.w / 2, ym, 3.5);
        set_color(cr, e.color, e.alpha);
        cairo_fill(cr);
        break;
    }
  }
}

void draw_axes(cairo_t* cr, const AxesPlan& p, double device_scale) {
  const Rect& P = p.plot;
  const Axes& ax = *p.axes;
  cairo_save(cr);
  cairo_rectangle(cr, P.x, P.y, P.w, P.h);
  cairo_clip(cr);
  if (ax.grid_on()) {
    set_color(cr, kGrid);
    cairo_set_line_width(cr, 0.7);
    for (double v : p.x_ticks) {
      cairo_move_to(cr, p.x(v), P.y);
      cairo_line_to(cr, p.x(v), P.bottom());
    }
    for (double v : p.y_ticks) {
      cairo_move_to(cr, P.x, p.y(v));
      cairo_line_to(cr, P.right(), p.y(v));
    }
    cairo_stroke(cr);
  }
  for (const Artist& a : ax.artists()) {
    if (auto* l = std::get_if<LineArtist>(&a))
      draw_line(cr, p, *l);
    else if (auto* s = std::get_if<ScatterArtist>(&a))
      draw_scatter(cr, p, *s);
    else if (auto* b = std::get_if<PatchArtist>(&a))
      draw_patches(cr, p, *b);
    else if (auto* bx = std::get_if<BoxArtist>(&a))
      draw_boxes(cr, p, *bx);
    else if (auto* h = std::get_if<HeatmapArtist>(&a))
      draw_heatmap(cr, p, *h, device_scale);
    else if (auto* r = std::get_if<RefLineArtist>(&a)) {
      cairo_set_line_width(cr, r->style.width);
      set_dash(cr, r->style.dashed, r->style.width);
      set_color(cr, r->style.color);
      if (r->horizontal) {
        cairo_move_to(cr, P.x, p.y(r->value));
        cairo_line_to(cr, P.right(), p.y(r->value));
      } else {
        cairo_move_to(cr, p.x(r->value), P.y);
        cairo_line_to(cr, p.x(r->value), P.bottom());
      }
      cairo_stroke(cr);
      set_dash(cr, false, 0);
    }
  }
  cairo_restore(cr);
  // Spines and outward ticks.
  set_color(cr, kSpine);
  cairo_set_line_width(cr, 0.8);
  cairo_rectangle(cr, P.x, P.y, P.w, P.h);
  for (double v : p.x_ticks) {
    cairo_move_to(cr, p.x(v), P.bottom());
    cairo_line_to(cr, p.x(v), P.bottom() + kTickLen);
  }
  for (double v : p.y_ticks) {
    cairo_move_to(cr, P.x, p.y(v));
    cairo_line_to(cr, P.x - kTickLen, p.y(v));
  }
  cairo_stroke(cr);
  if (p.colorbar) draw_colorbar(cr, p);
  if (p.legend) draw_legend(cr, p);
}

}  // namespace

void render(cairo_t* cr, const FullLayout& layout, TextEngine& te, const FigureStyle& style,
            double device_scale) {
  set_color(cr, style.background);
  cairo_paint(cr);
  for (const AxesPlan& p : layout.axes) draw_axes(cr, p, device_scale);
  for (const PlacedText& t : layout.texts) {
    cairo_save(cr);
    cairo_translate(cr, t.x, t.y);
    cairo_rotate(cr, -t.angle * kPi / 180);
    cairo_translate(cr, -t.ax * t.size.w, -t.ay * t.size.h);
    te.draw(cr, t.text, t.spec, t.color);
    cairo_restore(cr);
  }
}

}  // namespace kvscope::plot::detail
