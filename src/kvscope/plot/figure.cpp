#include "kvscope/plot/figure.hpp"

#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <cairo.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "kvscope/atomic_file.hpp"
#include "kvscope/error.hpp"
#include "kvscope/plot/layout_engine.hpp"
#include "kvscope/plot/png_writer.hpp"
#include "kvscope/plot/renderer.hpp"
#include "kvscope/plot/text_engine.hpp"

namespace kvscope::plot {
namespace {

// Vector pages: 100 figure units per inch, 72 points per inch.
constexpr double kPointsPerUnit = 0.72;

std::string lower_extension(const std::string& path) {
  size_t slash = path.find_last_of('/');
  size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot);
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

cairo_status_t write_to_file(void* closure, const unsigned char* data, unsigned int length) {
  auto* f = static_cast<AtomicFile*>(closure);
  return f->write(data, length) ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

void check(cairo_status_t s, const std::string& path) {
  if (s != CAIRO_STATUS_SUCCESS) {
    throw IoError(path + ": cannot render (" + cairo_status_to_string(s) + ")");
  }
}

}  // namespace

Figure::Figure(double width, double height, FigureStyle style)
    : width_(width), height_(height), style_(std::move(style)) {
  if (!(width >= 16 && width <= 32768 && height >= 16 && height <= 32768)) {
    throw BadInput("figure size " + std::to_string(width) + " x " + std::to_string(height) +
                   ": each side must be in [16, 32768]");
  }
  if (!(style_.font_scale > 0 && style_.font_scale < 100)) {
    throw BadInput("figure font_scale " + std::to_string(style_.font_scale) +
                   ": must be in (0, 100)");
  }
}

Figure Figure::inches(double width_in, double height_in, double dpi, FigureStyle style) {
  if (!(dpi >= 10 && dpi <= 2400)) {
    throw BadInput("figure dpi " + std::to_string(dpi) + ": must be in [10, 2400]");
  }
  Figure f(width_in * 100, height_in * 100, std::move(style));
  f.dpi_ = dpi;
  return f;
}

Figure::Figure(Figure&&) noexcept = default;
Figure& Figure::operator=(Figure&&) noexcept = default;
Figure::~Figure() = default;

Figure& Figure::suptitle(std::string s) {
  suptitle_ = std::move(s);
  return *this;
}

Figure& Figure::grid(int rows, int cols) {
  if (rows < 1 || cols < 1 || rows > 256 || cols > 256) {
    throw BadInput("figure grid " + std::to_string(rows) + " x " + std::to_string(cols) +
                   ": rows and cols must be in [1, 256]");
  }
  for (const Slot& s : axes_) {
    if (!s.fraction && (s.row + s.row_span > rows || s.col + s.col_span > cols)) {
      throw BadInput("figure grid " + std::to_string(rows) + " x " + std::to_string(cols) +
                     ": an existing axes at (" + std::to_string(s.row) + ", " +
                     std::to_string(s.col) + ") would fall outside");
    }
  }
  rows_ = rows;
  cols_ = cols;
  return *this;
}

Axes& Figure::axes(int row, int col, int row_span, int col_span) {
  if (row < 0 || col < 0 || row_span < 1 || col_span < 1 || row + row_span > rows_ ||
      col + col_span > cols_) {
    throw BadInput("axes (" + std::to_string(row) + ", " + std::to_string(col) + ") span " +
                   std::to_string(row_span) + " x " + std::to_string(col_span) + ": outside the " +
                   std::to_string(rows_) + " x " + std::to_string(cols_) + " grid");
  }
  for (Slot& s : axes_) {
    if (!s.fraction && s.row == row && s.col == col && s.row_span == row_span &&
        s.col_span == col_span) {
      return *s.axes;
    }
  }
  Slot s;
  s.axes = std::make_unique<Axes>();
  s.row = row;
  s.col = col;
  s.row_span = row_span;
  s.col_span = col_span;
  axes_.push_back(std::move(s));
  return *axes_.back().axes;
}

Axes& Figure::axes_at(double x, double y, double w, double h) {
  if (!(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= 1 + 1e-9 && y + h <= 1 + 1e-9)) {
    throw BadInput("axes rectangle (" + std::to_string(x) + ", " + std::to_string(y) + ", " +
                   std::to_string(w) + ", " + std::to_string(h) +
                   "): must lie inside the figure (fractions in [0, 1])");
  }
  Slot s;
  s.axes = std::make_unique<Axes>();
  s.fraction = Rect{x, y, w, h};
  axes_.push_back(std::move(s));
  return *axes_.back().axes;
}

Layout Figure::layout() const {
  detail::TextEngine te(style_.font_family);
  detail::FullLayout full =
      detail::compute_layout({width_, height_, &style_, &suptitle_, rows_, cols_, &axes_}, te);
  Layout out;
  out.width = full.width;
  out.height = full.height;
  for (const auto& a : full.axes) {
    out.axes.push_back({a.slot, a.plot, a.colorbar, a.legend, a.x_every, a.y_every, a.x_rotation});
  }
  for (const auto& t : full.texts) out.texts.push_back({t.role, t.axes, t.text, t.box});
  return out;
}

void prepare_fonts(const FigureStyle& style) {
  detail::TextEngine te(style.font_family);
  te.measure("0 Ag", {});
  te.measure("0 Ag", {.bold = true});
}

void Figure::save(const std::string& path, double scale) const {
  const std::string ext = lower_extension(path);
  if (ext != ".png" && ext != ".svg" && ext != ".pdf") {
    throw BadInput(path + ": unknown image extension '" + ext + "' (use .png, .svg or .pdf)");
  }
  if (scale == 0) scale = dpi_ / 100;
  if (!(scale > 0) || !std::isfinite(scale)) {
    throw BadInput(path + ": scale " + std::to_string(scale) + " must be > 0");
  }
  detail::TextEngine te(style_.font_family);
  detail::FullLayout full =
      detail::compute_layout({width_, height_, &style_, &suptitle_, rows_, cols_, &axes_}, te);

  if (ext == ".png") {
    double wpx = std::round(width_ * scale), hpx = std::round(height_ * scale);
    if (!(wpx >= 1 && wpx <= 32767 && hpx >= 1 && hpx <= 32767)) {
      throw BadInput(path + ": " + std::to_string(wpx) + " x " + std::to_string(hpx) +
                     " pixels is outside what a PNG here can hold (1 to 32767 a side)");
    }
    cairo_surface_t* surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, static_cast<int>(wpx),
                                                       static_cast<int>(hpx));
    cairo_t* cr = cairo_create(surf);
    cairo_scale(cr, wpx / width_, hpx / height_);
    detail::render(cr, full, te, style_, scale);
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    try {
      check(st, path);
      detail::write_png(surf, path);
    } catch (...) {
      cairo_surface_destroy(surf);
      throw;
    }
    cairo_surface_destroy(surf);
    return;
  }

  AtomicFile file(path);
  double wpt = width_ * kPointsPerUnit, hpt = height_ * kPointsPerUnit;
  cairo_surface_t* surf = ext == ".svg"
                              ? cairo_svg_surface_create_for_stream(write_to_file, &file, wpt, hpt)
                              : cairo_pdf_surface_create_for_stream(write_to_file, &file, wpt, hpt);
  if (ext == ".pdf") {
    cairo_pdf_surface_set_metadata(surf, CAIRO_PDF_METADATA_CREATOR, "kvscope");
  }
  cairo_t* cr = cairo_create(surf);
  cairo_scale(cr, kPointsPerUnit, kPointsPerUnit);
  detail::render(cr, full, te, style_, 0);
  cairo_status_t st = cairo_status(cr);
  cairo_destroy(cr);
  cairo_surface_finish(surf);
  cairo_status_t st2 = cairo_surface_status(surf);
  cairo_surface_destroy(surf);
  check(st, path);
  check(st2, path);
  file.commit();
}

}  // namespace kvscope::plot
