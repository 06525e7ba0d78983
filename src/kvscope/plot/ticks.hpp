// Tick positions and tick labels: "nice" steps of 1, 2 or 5 times a power of ten, and labels
// that read like a person wrote them ("0.3", not "0.30000000000000004"; "20k"; "2×10⁻⁴").
//
//   auto t = nice_ticks(0, 1);           // {0, 0.2, 0.4, 0.6, 0.8, 1}
//   auto s = format_ticks(t);            // {"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"}
//   auto d = log_ticks(1, 5000);         // {1, 10, 100, 1000}
//   auto e = format_log_ticks(d);        // {"10⁰", "10¹", "10²", "10³"}
//
// Negative numbers use the typographic minus U+2212 ("−3"), as printed figures do.
#pragma once

#include <span>
#include <string>
#include <vector>

namespace kvscope::plot {

// Ticks at multiples of the smallest 1-2-5 step that puts at most max_ticks (>= 2) ticks
// inside [lo, hi] (inclusive, either order). A degenerate range (lo == hi) is widened around
// the value. Throws BadInput on a non-finite bound.
std::vector<double> nice_ticks(double lo, double hi, int max_ticks = 8);

// Powers of ten inside [lo, hi] (0 < lo), every k-th decade when there are more than
// max_ticks; when fewer than two decades fall inside, 1-2-5 multiples are used instead.
// Throws BadInput on a bound <= 0 or non-finite.
std::vector<double> log_ticks(double lo, double hi, int max_ticks = 8);

// Labels for evenly spaced (or log) ticks, formatted together so they share a style and a
// number of decimals: fixed point with the fewest decimals that tell them apart, SI
// suffixes (k, M, G, T) from 10^4 up, and "2×10⁻⁴" style when the step is below 10^-3
// and the values are small.
std::vector<std::string> format_ticks(std::span<const double> ticks);
// Decades as "10ⁿ" with superscript exponents; any non-decade set falls back to format_ticks.
std::vector<std::string> format_log_ticks(std::span<const double> ticks);

// One number with `significant` significant digits, trailing zeros dropped: 0.1 + 0.2 ->
// "0.3", 12345 -> "1.23×10⁴", -0.5 -> "−0.5", NaN -> "nan".
std::string format_number(double v, int significant = 3);

// Label thinning, one rule for the plot layer's tick labels and for figures that thin their
// own: the round stride after `stride` in 1, 2, 5, 10, 20, 50, 100, ... (so labelled
// positions read as every 2nd, 5th, 10th ... token).
int next_round_stride(int stride);

// Positions 0, s, 2s, ... < n for the smallest round stride s that keeps their count <= fit
// (fit >= 1; all n when they fit).
std::vector<int> thinned_positions(int n, int fit);

}  // namespace kvscope::plot
