#include "kvscope/plot/layout_engine.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "kvscope/plot/ticks.hpp"

namespace kvscope::plot::detail {
namespace {

constexpr double kTickLen = 4;  // tick marks point outwards this far
constexpr double kPad = 4;      // between a tick mark, its label and the axis label
constexpr double kGap = 8;      // least free space between neighbouring tick labels
constexpr double kCbPad = 10;   // plot area to colour bar
constexpr double kCbWidth = 12;
constexpr double kPi = 3.14159265358979323846;
const Color kTextColor = {0.1, 0.1, 0.1, 1};

Rect rotated_box(double x, double y, double w, double h, double angle, double ax, double ay) {
  double th = angle * kPi / 180, c = std::cos(th), s = std::sin(th);
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (double u : {-ax * w, (1 - ax) * w}) {
    for (double v : {-ay * h, (1 - ay) * h}) {
      double X = x + u * c + v * s, Y = y - u * s + v * c;
      x0 = std::min(x0, X);
      x1 = std::max(x1, X);
      y0 = std::min(y0, Y);
      y1 = std::max(y1, Y);
    }
  }
  return {x0, y0, x1 - x0, y1 - y0};
}

PlacedText place(TextEngine& te, const std::string& text, const TextSpec& spec, double x, double y,
                 double angle, double ax, double ay, TextRole role, int axes,
                 Color color = kTextColor) {
  PlacedText p;
  p.text = text;
  p.spec = spec;
  p.color = color;
  p.x = x;
  p.y = y;
  p.angle = angle;
  p.ax = ax;
  p.ay = ay;
  p.size = te.measure(text, spec);
  p.box = rotated_box(x, y, p.size.w, p.size.h, angle, ax, ay);
  p.role = role;
  p.axes = axes;
  return p;
}

struct Margins {
  double l = 0, t = 0, r = 0, b = 0;
};

std::pair<double, double> view_limits(double d0, double d1, double minpos, bool s0, bool s1,
                                      const Axes::Limits& lim, Scale sc) {
  double lo, hi;
  if (sc == Scale::log) {
    if (!(d1 > 0)) {
      d0 = 1;
      d1 = 10;
    }
    if (!(d0 > 0)) {
      d0 = std::isfinite(minpos) ? minpos : d1 / 10;
      s0 = false;
    }
    double l0 = std::log10(d0), l1 = std::log10(d1);
    if (l1 - l0 < 1e-9) {
      l0 -= 0.5;
      l1 += 0.5;
    }
    double m = 0.05 * (l1 - l0);
    lo = std::pow(10.0, s0 ? l0 : l0 - m);
    hi = std::pow(10.0, s1 ? l1 : l1 + m);
  } else {
    if (d0 > d1) {
      d0 = 0;
      d1 = 1;
    }
    if (d1 - d0 <= 1e-12 * std::max(std::fabs(d0), std::fabs(d1))) {
      double pad = d0 == 0 ? 0.5 : std::fabs(d0) * 0.1;
      d0 -= pad;
      d1 += pad;
      s0 = s1 = false;
    }
    double m = 0.05 * (d1 - d0);
    lo = s0 ? d0 : d0 - m;
    hi = s1 ? d1 : d1 + m;
  }
  if (lim.lo) lo = *lim.lo;
  if (lim.hi) hi = *lim.hi;
  if (sc == Scale::log && !(lo > 0)) lo = hi > 0 ? hi * 1e-3 : 1;
  if (!(hi > lo)) hi = lo + (sc == Scale::log ? lo * 9 : 1);
  return {lo, hi};
}

struct TickSet {
  std::vector<double> at;
  std::vector<std::string> labels;
};

TickSet auto_ticks(const AxisMap& m, bool integer, int max_ticks) {
  TickSet t;
  if (m.log) {
    t.at = log_ticks(m.lo, m.hi, max_ticks);
    t.labels = format_log_ticks(t.at);
    return t;
  }
  for (double v : nice_ticks(m.lo, m.hi, max_ticks)) {
    if (v < m.lo - 1e-9 * (m.hi - m.lo) || v > m.hi + 1e-9 * (m.hi - m.lo)) continue;
    if (integer && std::fabs(v - std::round(v)) > 1e-9) continue;
    t.at.push_back(v);
  }
  t.labels = format_ticks(t.at);
  return t;
}

TickSet fixed_ticks(const AxisMap& m, const FixedTicks& f) {
  TickSet t;
  double eps = 1e-9 * (m.hi - m.lo);
  std::vector<size_t> keep;
  for (size_t i = 0; i < f.at.size(); ++i) {
    double v = f.at[i];
    if (!std::isfinite(v) || v < m.lo - eps || v > m.hi + eps || (m.log && !(v > 0))) continue;
    keep.push_back(i);
    t.at.push_back(v);
  }
  if (f.labels.empty()) {
    t.labels = m.log ? format_log_ticks(t.at) : format_ticks(t.at);
  } else {
    for (size_t i : keep) t.labels.push_back(f.labels[i]);
  }
  return t;
}

// True when every k-th label (starting at the first) keeps clear of its neighbour along the
// axis. extent(i) is the label's size along the axis.
template <class Extent>
bool spaced(const AxisMap& m, const TickSet& t, int k, Extent extent) {
  double prev_pos = 0, prev_ext = 0;
  bool have = false;
  for (size_t i = 0; i < t.at.size(); i += static_cast<size_t>(k)) {
    double pos = m(t.at[i]), ext = extent(i);
    if (have && std::fabs(pos - prev_pos) < (ext + prev_ext) / 2 + kGap * 0.5) return false;
    prev_pos = pos;
    prev_ext = ext;
    have = true;
  }
  return true;
}

struct AxisFit {
  TickSet ticks;
  std::vector<TextSize> sizes;
  int every = 1;
  double rotation = 0;
  TextSpec spec;
};

// Chooses the ticks of one axis and how many of their labels fit: automatic ticks get fewer
// steps; the caller's ticks are rotated (x only) and thinned to every k-th.
AxisFit fit_axis(TextEngine& te, const AxisMap& m, const Axis& axis, bool is_x, double font) {
  const std::optional<FixedTicks>& fixed = axis.ticks;
  const bool integer = axis.integer_ticks;
  AxisFit fit;
  fit.spec.size = font;
  double length = std::fabs(m.p1 - m.p0);
  if (!fixed) {
    int max_ticks = std::clamp(static_cast<int>(length / (is_x ? 60 : 32)), 3, 9);
    for (;; --max_ticks) {
      fit.ticks = auto_ticks(m, integer, max_ticks);
      fit.sizes.clear();
      for (auto& s : fit.ticks.labels) fit.sizes.push_back(te.measure(s, fit.spec));
      bool ok =
          spaced(m, fit.ticks, 1, [&](size_t i) { return is_x ? fit.sizes[i].w : fit.sizes[i].h; });
      if (ok || max_ticks <= 2) break;
    }
    return fit;
  }
  fit.spec.single_line = true;
  fit.spec.max_width = fixed->style.max_width * (font / kTickFont);
  fit.ticks = fixed_ticks(m, *fixed);
  for (auto& s : fit.ticks.labels) fit.sizes.push_back(te.measure(s, fit.spec));
  double hmax = 0;
  for (auto& s : fit.sizes) hmax = std::max(hmax, s.h);
  auto extent_at = [&](double angle) {
    return [&, angle](size_t i) {
      if (!is_x) return fit.sizes[i].h;
      if (angle < 1e-6) return fit.sizes[i].w;
      // Parallel slanted lines of height h a distance d apart leave d*sin(angle) between them.
      return std::min(hmax / std::sin(angle * kPi / 180), fit.sizes[i].w + hmax);
    };
  };
  if (is_x) {
    if (!std::isnan(fixed->style.rotation)) {
      fit.rotation = fixed->style.rotation;
    } else {
      fit.rotation = spaced(m, fit.ticks, 1, extent_at(0)) ? 0 : 90;
    }
  }
  int n = static_cast<int>(fit.ticks.at.size());
  // Round strides (every 5th, 10th, 20th, 50th token) are easier to read positions from.
  fit.every = 1;
  while (fit.every < n && !spaced(m, fit.ticks, fit.every, extent_at(fit.rotation)))
    fit.every = next_round_stride(fit.every);
  fit.every = std::min(fit.every, std::max(n, 1));
  return fit;
}

struct PlanResult {
  AxesPlan plan;
  std::vector<PlacedText> texts;
  Margins margins;  // plot area to slot, per side
};

Axes::Extent extent_with_reference_lines(const Axes& ax) {
  Axes::Extent e = ax.extent();
  for (const Artist& a : ax.artists()) {
    if (auto* r = std::get_if<RefLineArtist>(&a)) {
      if (!std::isfinite(r->value)) continue;
      double& lo = r->horizontal ? e.y0 : e.x0;
      double& hi = r->horizontal ? e.y1 : e.x1;
      // Only widen an axis that has data; a lone reference line sets no scale.
      if (lo <= hi) {
        lo = std::min(lo, r->value);
        hi = std::max(hi, r->value);
      }
    }
  }
  return e;
}

void add_legend(TextEngine& te, const FigureStyle& st, PlanResult& res, int index) {
  const Axes& ax = *res.plan.axes;
  AxesPlan& plan = res.plan;
  std::vector<std::pair<std::string, LegendEntry>> entries;
  for (const Artist& a : ax.artists()) {
    LegendEntry e{};
    std::string label;
    if (auto* l = std::get_if<LineArtist>(&a)) {
      label = l->style.label;
      e = {LegendEntry::Kind::line,
           *l->style.color,
           l->style.dashed,
           l->style.marker,
           l->style.width,
           l->style.alpha,
           {}};
    } else if (auto* s = std::get_if<ScatterArtist>(&a)) {
      if (!s->style.values.empty() || s->colors.empty()) continue;
      label = s->style.label;
      e = {LegendEntry::Kind::marker, s->colors[0], false, s->style.marker, 1, s->style.alpha, {}};
    } else if (auto* p = std::get_if<PatchArtist>(&a)) {
      label = p->label;
      e = {p->outline ? LegendEntry::Kind::line : LegendEntry::Kind::patch,
           p->color,
           false,
           Marker::none,
           1.5,
           p->alpha,
           {}};
    } else if (auto* r = std::get_if<RefLineArtist>(&a)) {
      label = r->style.label;
      e = {LegendEntry::Kind::line,
           r->style.color,
           r->style.dashed,
           Marker::none,
           r->style.width,
           1,
           {}};
    }
    if (!label.empty()) entries.emplace_back(label, e);
  }
  if (entries.empty()) return;
  TextSpec spec{kLegendFont * st.font_scale, false, true, 220 * st.font_scale};
  const double pad = 6, handle_w = 24, gap = 6;
  double maxw = 0, row_h = 0;
  for (auto& [label, e] : entries) {
    TextSize s = te.measure(label, spec);
    maxw = std::max(maxw, s.w);
    row_h = std::max(row_h, s.h);
  }
  row_h += 2;
  double W = pad + handle_w + gap + maxw + pad;
  double H = pad + row_h * static_cast<double>(entries.size()) + pad - 2;
  const Rect P = plan.plot;
  const double in = 6;
  auto at = [&](Loc loc, int extra) -> Rect {
    double xl = P.x + in, xr = P.right() - in - W, xc = P.x + (P.w - W) / 2;
    double yt = P.y + in, yb = P.bottom() - in - H, yc = P.y + (P.h - H) / 2;
    switch (loc) {
      case Loc::upper_left:
        return {xl, yt, W, H};
      case Loc::lower_left:
        return {xl, yb, W, H};
      case Loc::lower_right:
        return {xr, yb, W, H};
      default:
        break;
    }
    switch (extra) {
      case 1:
        return {xr, yc, W, H};
      case 2:
        return {xl, yc, W, H};
      case 3:
        return {xc, yt, W, H};
      case 4:
        return {xc, yb, W, H};
      default:
        return {xr, yt, W, H};
    }
  };
  Rect box = at(Loc::upper_right, 0);
  Loc want = *ax.legend_loc();
  if (want != Loc::best) {
    box = at(want, 0);
  } else {
    // Fewest data points under the box wins; ties keep the conventional order.
    std::vector<std::pair<double, double>> pts;
    for (const Artist& a : ax.artists()) {
      if (auto* l = std::get_if<LineArtist>(&a)) {
        for (size_t i = 0; i < l->x.size(); ++i) {
          pts.emplace_back(plan.x(l->x[i]), plan.y(l->y[i]));
          if (i + 1 < l->x.size()) {
            pts.emplace_back((plan.x(l->x[i]) + plan.x(l->x[i + 1])) / 2,
                             (plan.y(l->y[i]) + plan.y(l->y[i + 1])) / 2);
          }
        }
      } else if (auto* s = std::get_if<ScatterArtist>(&a)) {
        for (size_t i = 0; i < s->x.size(); ++i) pts.emplace_back(plan.x(s->x[i]), plan.y(s->y[i]));
      } else if (auto* p = std::get_if<PatchArtist>(&a)) {
        for (auto& b : p->boxes) {
          // Sample the bar's area, so a box over bars is penalised, not only over their tops.
          for (int fy = 0; fy <= 4; ++fy) {
            double yy = b.y0 + (b.y1 - b.y0) * fy / 4;
            pts.emplace_back(plan.x((b.x0 + b.x1) / 2), plan.y(yy));
          }
        }
      } else if (auto* bx = std::get_if<BoxArtist>(&a)) {
        for (auto& g : bx->groups) {
          for (double v : {g.whisker_lo, g.q1, g.median, g.q3, g.whisker_hi}) {
            pts.emplace_back(plan.x(g.pos), plan.y(v));
          }
        }
      }
    }
    const Loc order[] = {Loc::upper_right, Loc::upper_left, Loc::lower_right, Loc::lower_left,
                         Loc::best,        Loc::best,       Loc::best,        Loc::best};
    size_t best = SIZE_MAX;
    for (int c = 0; c < 8; ++c) {
      Rect r = c < 4 ? at(order[c], 0) : at(Loc::best, c - 3);
      size_t n = 0;
      for (auto& [x, y] : pts) {
        if (x >= r.x && x <= r.right() && y >= r.y && y <= r.bottom()) ++n;
      }
      if (n < best) {
        best = n;
        box = r;
      }
    }
  }
  plan.legend = box;
  double y = box.y + pad;
  for (auto& [label, e] : entries) {
    e.handle = {box.x + pad, y, handle_w, row_h - 2};
    res.texts.push_back(place(te, label, spec, box.x + pad + handle_w + gap, y + (row_h - 2) / 2, 0,
                              0, 0.5, TextRole::legend, index));
    plan.legend_entries.push_back(e);
    y += row_h;
  }
}

void add_point_labels(TextEngine& te, const FigureStyle& st, PlanResult& res, int index) {
  const AxesPlan& plan = res.plan;
  std::vector<Rect> markers;
  for (const Artist& a : plan.axes->artists()) {
    if (auto* s = std::get_if<ScatterArtist>(&a)) {
      for (size_t i = 0; i < s->x.size(); ++i) {
        double px = plan.x(s->x[i]), py = plan.y(s->y[i]), r = s->style.size * 0.8;
        if (std::isfinite(px) && std::isfinite(py))
          markers.push_back({px - r, py - r, 2 * r, 2 * r});
      }
    }
  }
  std::vector<Rect> placed;
  TextSpec spec{kPointLabelFont * st.font_scale, false, true, 120 * st.font_scale};
  for (const Artist& a : plan.axes->artists()) {
    auto* s = std::get_if<ScatterArtist>(&a);
    if (!s || s->style.labels.empty()) continue;
    for (size_t i = 0; i < s->x.size(); ++i) {
      if (s->style.labels[i].empty()) continue;
      double px = plan.x(s->x[i]), py = plan.y(s->y[i]);
      if (!std::isfinite(px) || !std::isfinite(py) || px < plan.plot.x || px > plan.plot.right() ||
          py < plan.plot.y || py > plan.plot.bottom()) {
        continue;
      }
      double d = s->style.size + 1.5;
      const double cand[8][4] = {{d, -d, 0, 1},       {d + 1, 0, 0, 0.5},  {d, d, 0, 0},
                                 {-d, -d, 1, 1},      {-d - 1, 0, 1, 0.5}, {-d, d, 1, 0},
                                 {0, -d - 1, 0.5, 1}, {0, d + 1, 0.5, 0}};
      for (auto& c : cand) {
        PlacedText t = place(te, s->style.labels[i], spec, px + c[0], py + c[1], 0, c[2], c[3],
                             TextRole::point_label, index, {0.15, 0.15, 0.15, 1});
        if (!plan.plot.contains(t.box)) continue;
        bool clash = std::any_of(placed.begin(), placed.end(),
                                 [&](const Rect& r) { return r.overlaps(t.box); }) ||
                     std::any_of(markers.begin(), markers.end(),
                                 [&](const Rect& r) { return r.overlaps(t.box); });
        if (clash) continue;
        placed.push_back(t.box);
        res.texts.push_back(std::move(t));
        break;
      }
    }
  }
}

void add_annotations(TextEngine& te, const FigureStyle& st, PlanResult& res, int index) {
  const AxesPlan& plan = res.plan;
  for (const Artist& a : plan.axes->artists()) {
    auto* t = std::get_if<TextArtist>(&a);
    if (!t) continue;
    double x, y;
    if (t->style.coords == Coords::axes) {
      x = plan.plot.x + t->x * plan.plot.w;
      y = plan.plot.bottom() - t->y * plan.plot.h;
    } else {
      x = plan.x(t->x);
      y = plan.y(t->y);
    }
    if (!std::isfinite(x) || !std::isfinite(y)) continue;
    double ax = t->style.halign == HAlign::left ? 0 : t->style.halign == HAlign::center ? 0.5 : 1;
    double ay = t->style.valign == VAlign::top ? 0 : t->style.valign == VAlign::middle ? 0.5 : 1;
    TextSpec spec{t->style.size * st.font_scale, false, false, 0};
    res.texts.push_back(place(te, t->text, spec, x, y, t->style.rotation, ax, ay,
                              TextRole::annotation, index, t->style.color));
  }
}

// Places the tick labels of one axis (fitted by fit_axis) along the plot area P: below it for
// x (rotated when crowded), left of it for y. Records the ticks drawn and the stride; returns
// the band the labels take across the axis (height below x, width left of y).
double place_tick_labels(TextEngine& te, const AxisMap& m, const Axis& axis, bool is_x,
                         const Rect& P, double font, int index, std::vector<double>& ticks,
                         int& every, double* rotation, std::vector<PlacedText>& texts) {
  const AxisFit f = fit_axis(te, m, axis, is_x, font);
  ticks.clear();
  every = f.every;
  if (rotation) *rotation = f.rotation;
  double band = 0;
  for (size_t i = 0; i < f.ticks.at.size(); i += static_cast<size_t>(f.every)) {
    const double p = m(f.ticks.at[i]);
    ticks.push_back(f.ticks.at[i]);
    if (is_x) {
      const double y = P.bottom() + kTickLen + kPad;
      PlacedText t = f.rotation == 0 ? place(te, f.ticks.labels[i], f.spec, p, y, 0, 0.5, 0,
                                             TextRole::x_tick, index)
                                     : place(te, f.ticks.labels[i], f.spec, p, y, f.rotation, 1,
                                             0.5, TextRole::x_tick, index);
      band = std::max(band, t.box.bottom() - y);
      texts.push_back(std::move(t));
    } else {
      PlacedText t = place(te, f.ticks.labels[i], f.spec, P.x - kTickLen - kPad, p, 0, 1, 0.5,
                           TextRole::y_tick, index);
      band = std::max(band, t.size.w);
      texts.push_back(std::move(t));
    }
  }
  return band;
}

PlanResult plan_axes(TextEngine& te, const FigureStyle& st, const Axes& ax, int index,
                     const Rect& slot, const Margins& min_margins) {
  const double fs = st.font_scale;
  PlanResult res;
  AxesPlan& plan = res.plan;
  plan.axes = &ax;
  plan.slot = slot;
  Axes::Extent e = extent_with_reference_lines(ax);
  const Axis &xa = ax.x_axis(), &ya = ax.y_axis();
  auto [x0, x1] =
      view_limits(e.x0, e.x1, e.x_min_positive, e.sticky_x0, e.sticky_x1, xa.limits, xa.scale);
  auto [y0, y1] =
      view_limits(e.y0, e.y1, e.y_min_positive, e.sticky_y0, e.sticky_y1, ya.limits, ya.scale);
  plan.x = {x0, x1, xa.scale == Scale::log, xa.inverted, 0, 1};
  plan.y = {y0, y1, ya.scale == Scale::log, ya.inverted, 1, 0};

  TextSpec title_spec{kTitleFont * fs, true, false, slot.w};
  TextSpec xlabel_spec{kLabelFont * fs, false, false, slot.w};
  TextSpec ylabel_spec{kLabelFont * fs, false, false, slot.h};
  TextSpec tick_spec{kTickFont * fs};
  const auto& cb = ax.colorbar();
  TextSpec cblabel_spec{kLabelFont * fs, false, false, slot.h};
  const double tick_h = te.measure("0", tick_spec).h;
  double title_h = ax.title_text().empty() ? 0 : te.measure(ax.title_text(), title_spec).h;
  double xlabel_h = ax.x_label_text().empty() ? 0 : te.measure(ax.x_label_text(), xlabel_spec).h;
  double ylabel_h = ax.y_label_text().empty() ? 0 : te.measure(ax.y_label_text(), ylabel_spec).h;
  double cblabel_h = (!cb || cb->label.empty()) ? 0 : te.measure(cb->label, cblabel_spec).h;

  double xband = tick_h, yband = te.measure("0.00", tick_spec).w, cbband = yband;
  Margins extra;
  for (int iter = 0; iter < 8; ++iter) {
    res.texts.clear();
    Margins m;
    m.l = kTickLen + kPad + yband + (ylabel_h > 0 ? kPad + ylabel_h : 0) + 1;
    m.b = kTickLen + kPad + xband + (xlabel_h > 0 ? kPad + xlabel_h : 0) + 1;
    m.t = title_h > 0 ? title_h + 2 * kPad : kPad;
    m.r = cb ? kCbPad + kCbWidth + kTickLen + kPad + cbband +
                   (cblabel_h > 0 ? kPad + cblabel_h : 0) + 1
             : kPad;
    m.l = std::max(m.l, min_margins.l) + extra.l;
    m.t = std::max(m.t, min_margins.t) + extra.t;
    m.r = std::max(m.r, min_margins.r) + extra.r;
    m.b = std::max(m.b, min_margins.b) + extra.b;
    Rect P = slot.inset(m.l, m.t, m.r, m.b);
    P.w = std::max(P.w, 4.0);
    P.h = std::max(P.h, 4.0);
    if (ax.equal_aspect() && !plan.x.log && !plan.y.log) {
      double want = (x1 - x0) / (y1 - y0);
      if (P.w / P.h > want) {
        double w = P.h * want;
        P.x += (P.w - w) / 2;
        P.w = w;
      } else {
        double h = P.w / want;
        P.y += (P.h - h) / 2;
        P.h = h;
      }
    }
    plan.plot = P;
    plan.x.p0 = P.x;
    plan.x.p1 = P.right();
    plan.y.p0 = P.bottom();
    plan.y.p1 = P.y;

    // Tick labels: below the plot area for x, left of it for y.
    const double new_xband =
        place_tick_labels(te, plan.x, ax.x_axis(), true, P, tick_spec.size, index, plan.x_ticks,
                          plan.x_every, &plan.x_rotation, res.texts);
    const double new_yband =
        place_tick_labels(te, plan.y, ax.y_axis(), false, P, tick_spec.size, index, plan.y_ticks,
                          plan.y_every, nullptr, res.texts);
    // colour bar
    double new_cbband = cbband;
    plan.colorbar.reset();
    plan.colorbar_ticks.clear();
    if (cb) {
      Rect bar{P.right() + kCbPad, P.y, kCbWidth, P.h};
      plan.colorbar = bar;
      const Norm& n = cb->norm;
      int max_ticks = std::clamp(static_cast<int>(P.h / 30), 2, 8);
      std::vector<double> vals = n.kind == Norm::Kind::log ? log_ticks(n.vmin, n.vmax, max_ticks)
                                                           : nice_ticks(n.vmin, n.vmax, max_ticks);
      std::vector<std::string> labels =
          n.kind == Norm::Kind::log ? format_log_ticks(vals) : format_ticks(vals);
      new_cbband = 0;
      double last_y = INFINITY;
      for (size_t i = 0; i < vals.size(); ++i) {
        double tpos = n(vals[i]);
        double lo = std::min(n.vmin, n.vmax), hi = std::max(n.vmin, n.vmax);
        if (std::isnan(tpos) || vals[i] < lo - 1e-9 * (hi - lo) ||
            vals[i] > hi + 1e-9 * (hi - lo)) {
          continue;
        }
        double y = bar.bottom() - tpos * bar.h;
        TextSize sz = te.measure(labels[i], tick_spec);
        if (last_y - y < sz.h + 1) continue;  // crowded (power norms bunch ticks): skip
        last_y = y;
        plan.colorbar_ticks.push_back(tpos);
        PlacedText t = place(te, labels[i], tick_spec, bar.right() + kTickLen + kPad, y, 0, 0, 0.5,
                             TextRole::colorbar_tick, index);
        new_cbband = std::max(new_cbband, t.size.w);
        res.texts.push_back(std::move(t));
      }
      if (cblabel_h > 0) {
        res.texts.push_back(place(te, cb->label, cblabel_spec,
                                  bar.right() + kTickLen + kPad + new_cbband + kPad,
                                  bar.y + bar.h / 2, 90, 0.5, 0, TextRole::colorbar_label, index));
      }
    }
    if (title_h > 0) {
      res.texts.push_back(place(te, ax.title_text(), title_spec, P.x + P.w / 2, P.y - kPad, 0, 0.5,
                                1, TextRole::title, index));
    }
    if (xlabel_h > 0) {
      res.texts.push_back(place(te, ax.x_label_text(), xlabel_spec, P.x + P.w / 2,
                                P.bottom() + kTickLen + kPad + new_xband + kPad, 0, 0.5, 0,
                                TextRole::x_label, index));
    }
    if (ylabel_h > 0) {
      res.texts.push_back(place(te, ax.y_label_text(), ylabel_spec,
                                P.x - kTickLen - kPad - new_yband - kPad, P.y + P.h / 2, 90, 0.5, 1,
                                TextRole::y_label, index));
    }

    bool bands_changed = std::fabs(new_xband - xband) > 0.01 ||
                         std::fabs(new_yband - yband) > 0.01 ||
                         std::fabs(new_cbband - cbband) > 0.01;
    xband = new_xband;
    yband = new_yband;
    cbband = new_cbband;
    if (bands_changed) continue;
    // Labels hanging past the slot (end tick labels, a long title) push the plot area in.
    Rect u = P;
    for (auto& t : res.texts) u = u.united(t.box);
    Margins over{slot.x - u.x, slot.y - u.y, u.right() - slot.right(), u.bottom() - slot.bottom()};
    if (over.l <= 0.01 && over.t <= 0.01 && over.r <= 0.01 && over.b <= 0.01) break;
    extra.l += std::max(0.0, over.l) + (over.l > 0.01 ? 0.5 : 0);
    extra.t += std::max(0.0, over.t) + (over.t > 0.01 ? 0.5 : 0);
    extra.r += std::max(0.0, over.r) + (over.r > 0.01 ? 0.5 : 0);
    extra.b += std::max(0.0, over.b) + (over.b > 0.01 ? 0.5 : 0);
  }
  res.margins = {plan.plot.x - slot.x, plan.plot.y - slot.y, slot.right() - plan.plot.right(),
                 slot.bottom() - plan.plot.bottom()};
  if (plan.colorbar) res.margins.r = slot.right() - plan.plot.right();
  if (ax.legend_loc()) add_legend(te, st, res, index);
  add_point_labels(te, st, res, index);
  add_annotations(te, st, res, index);
  return res;
}

}  // namespace

double AxisMap::fraction(double v) const {
  double t;
  if (log) {
    t = v > 0 ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) : -1e6;
  } else {
    t = (v - lo) / (hi - lo);
  }
  return inverted ? 1 - t : t;
}

double AxisMap::operator()(double v) const {
  return p0 + (p1 - p0) * fraction(v);
}

FullLayout compute_layout(const FigureSpec& fig, TextEngine& te) {
  const FigureStyle& st = *fig.style;
  FullLayout out;
  out.width = fig.width;
  out.height = fig.height;
  Rect area{st.margin, st.margin, fig.width - 2 * st.margin, fig.height - 2 * st.margin};
  if (!fig.suptitle->empty()) {
    TextSpec spec{kSuptitleFont * st.font_scale, true, false, area.w};
    PlacedText t =
        place(te, *fig.suptitle, spec, fig.width / 2, st.margin, 0, 0.5, 0, TextRole::suptitle, -1);
    area = area.inset(0, t.size.h + 8, 0, 0);
    out.texts.push_back(std::move(t));
  }
  const auto& slots = *fig.slots;
  std::vector<Rect> rects;
  double cw = (area.w - (fig.cols - 1) * st.wspace) / fig.cols;
  double ch = (area.h - (fig.rows - 1) * st.hspace) / fig.rows;
  for (const auto& s : slots) {
    if (s.fraction) {
      rects.push_back({s.fraction->x * fig.width, s.fraction->y * fig.height,
                       s.fraction->w * fig.width, s.fraction->h * fig.height});
    } else {
      rects.push_back({area.x + s.col * (cw + st.wspace), area.y + s.row * (ch + st.hspace),
                       s.col_span * cw + (s.col_span - 1) * st.wspace,
                       s.row_span * ch + (s.row_span - 1) * st.hspace});
    }
  }
  std::vector<PlanResult> plans;
  for (size_t i = 0; i < slots.size(); ++i) {
    plans.push_back(plan_axes(te, st, *slots[i].axes, static_cast<int>(i), rects[i], {}));
  }
  // Axes sharing a grid column share left and right margins (rows: top and bottom), so
  // their plot areas line up as in a journal figure.
  std::map<std::pair<int, int>, Margins> col_m, row_m;
  std::vector<bool> aligned(slots.size(), false);
  for (size_t i = 0; i < slots.size(); ++i) {
    const auto& s = slots[i];
    if (s.fraction || s.axes->equal_aspect()) continue;
    aligned[i] = true;
    Margins& c = col_m[{s.col, s.col_span}];
    Margins& r = row_m[{s.row, s.row_span}];
    c.l = std::max(c.l, plans[i].margins.l);
    c.r = std::max(c.r, plans[i].margins.r);
    r.t = std::max(r.t, plans[i].margins.t);
    r.b = std::max(r.b, plans[i].margins.b);
  }
  for (size_t i = 0; i < slots.size(); ++i) {
    const auto& s = slots[i];
    if (aligned[i]) {
      Margins want{col_m[{s.col, s.col_span}].l, row_m[{s.row, s.row_span}].t,
                   col_m[{s.col, s.col_span}].r, row_m[{s.row, s.row_span}].b};
      const Margins& have = plans[i].margins;
      if (want.l > have.l + 0.01 || want.t > have.t + 0.01 || want.r > have.r + 0.01 ||
          want.b > have.b + 0.01) {
        plans[i] = plan_axes(te, st, *s.axes, static_cast<int>(i), rects[i], want);
      }
    }
    out.axes.push_back(std::move(plans[i].plan));
    for (auto& t : plans[i].texts) out.texts.push_back(std::move(t));
  }
  return out;
}

}  // namespace kvscope::plot::detail
