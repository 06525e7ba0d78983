// Rect: an axis-aligned rectangle in figure units, origin at the top left, y pointing down.
#pragma once

#include <algorithm>

namespace kvscope::plot {

struct Rect {
  double x = 0, y = 0, w = 0, h = 0;

  double right() const { return x + w; }
  double bottom() const { return y + h; }
  // True when the interiors intersect (touching edges do not count).
  bool overlaps(const Rect& o) const {
    return x < o.right() && o.x < right() && y < o.bottom() && o.y < bottom();
  }
  // True when o lies inside this rectangle, allowing `tol` of slack on every side.
  bool contains(const Rect& o, double tol = 0) const {
    return o.x >= x - tol && o.y >= y - tol && o.right() <= right() + tol &&
           o.bottom() <= bottom() + tol;
  }
  Rect inset(double left, double top, double right_, double bottom_) const {
    return {x + left, y + top, std::max(0.0, w - left - right_), std::max(0.0, h - top - bottom_)};
  }
  Rect united(const Rect& o) const {
    double x0 = std::min(x, o.x), y0 = std::min(y, o.y);
    return {x0, y0, std::max(right(), o.right()) - x0, std::max(bottom(), o.bottom()) - y0};
  }
};

}  // namespace kvscope::plot
