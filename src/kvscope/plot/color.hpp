// Colours, colormaps and the normalisations that map data values onto a colormap.
//
//   Color c = Color::hex("#1f77b4");
//   const Colormap& cm = Colormap::viridis();
//   Norm n = Norm::power(0.5, 0.0, 1.0);   // gamma 0.5 brings out small attention weights
//   Color cell = cm(n(0.04));
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>

namespace kvscope::plot {

// Straight (not premultiplied) sRGB colour, each channel in [0, 1].
struct Color {
  double r = 0, g = 0, b = 0, a = 1;

  // "#rrggbb" or "#rrggbbaa"; throws BadInput on anything else.
  static Color hex(std::string_view s);
  // "#rrggbb" (alpha dropped), channels rounded to 8 bits.
  std::string to_hex() const;
  Color with_alpha(double alpha) const { return {r, g, b, alpha}; }
  // Perceived lightness in [0, 1] (Rec. 709 luma); picks black or white text on a fill.
  double luma() const { return 0.2126 * r + 0.7152 * g + 0.0722 * b; }
  bool operator==(const Color&) const = default;
};

// The i-th colour of a 10-colour categorical palette (matplotlib's "tab10"); wraps around.
Color palette(int i);

// A continuous colormap sampled at evenly spaced control points, linearly interpolated.
class Colormap {
 public:
  static const Colormap& viridis();   // sequential, perceptually uniform
  static const Colormap& magma();     // sequential, dark to light
  static const Colormap& coolwarm();  // diverging blue - light grey - red (Moreland 2009)
  static const Colormap& greys();     // sequential, white to black
  // "viridis", "magma", "coolwarm", "greys"; throws BadInput naming the unknown name.
  static const Colormap& by_name(std::string_view name);

  // t in [0, 1] (clamped). NaN gives a fully transparent colour.
  Color operator()(double t) const;
  const std::string& name() const { return name_; }
  bool diverging() const { return diverging_; }

  Colormap(std::string name, std::span<const std::array<double, 3>> points, bool diverging);

 private:
  std::string name_;
  std::span<const std::array<double, 3>> points_;  // >= 2 control points, rgb in [0, 1]
  bool diverging_;
};

// Maps a data value to [0, 1] for a colormap. vmin/vmax left as NaN are filled in from the
// data by resolve() (min/max of the finite values, or +-max|v| for a symmetric norm).
struct Norm {
  enum class Kind {
    linear,     // (v - vmin) / (vmax - vmin)
    power,      // ((v - vmin) / (vmax - vmin)) ^ gamma; gamma < 1 lifts small values
    log,        // log(v / vmin) / log(vmax / vmin); needs 0 < vmin < vmax, v <= 0 -> NaN
    symmetric,  // linear on [-h, h], h = max(|vmin|, |vmax|): zero sits at the map's centre
  };
  Kind kind = Kind::linear;
  double vmin = std::numeric_limits<double>::quiet_NaN();
  double vmax = std::numeric_limits<double>::quiet_NaN();
  double gamma = 1.0;

  static Norm linear(double vmin = NAN, double vmax = NAN) { return {Kind::linear, vmin, vmax}; }
  static Norm power(double gamma, double vmin = NAN, double vmax = NAN) {
    return {Kind::power, vmin, vmax, gamma};
  }
  static Norm log(double vmin = NAN, double vmax = NAN) { return {Kind::log, vmin, vmax}; }
  // Symmetric around zero; halfrange NaN = max |v| of the data.
  static Norm symmetric(double halfrange = NAN) { return {Kind::symmetric, -halfrange, halfrange}; }

  // A copy with vmin/vmax filled from the data where they were NaN and made usable (a
  // degenerate range widened, log bounds made positive). Throws BadInput on a gamma <= 0 or
  // log bounds <= 0 given explicitly.
  Norm resolve(std::span<const float> data) const;
  // Position in [0, 1] (clamped) of v; NaN for NaN input or v <= 0 under a log norm.
  // Requires resolved (finite) bounds.
  double operator()(double v) const;
  // Inverse of operator() on [0, 1]: the data value at colorbar position t.
  double inverse(double t) const;
};

}  // namespace kvscope::plot
