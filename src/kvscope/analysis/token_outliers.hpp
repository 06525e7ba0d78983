// Which tokens stand out: the largest by a score, and the robust outliers of a 2-D cloud
// (median and median absolute deviation). Figures label these tokens; metrics.json lists them.
#pragma once

#include <span>
#include <vector>

namespace kvscope::analysis {

// Positions of the k largest finite values of x, largest first (ties: earlier position).
std::vector<int> largest_tokens(std::span<const double> x, int k);

// Positions of at most k tokens that lie far from the bulk in the plane (x, y): each axis is
// scaled by its median absolute deviation around the median (1 where that is 0), and a token
// qualifies when its scaled distance from the medians exceeds min_distance. Furthest first
// (ties: earlier position). x and y have the same length (BadInput otherwise).
std::vector<int> outlier_tokens(std::span<const double> x, std::span<const double> y, int k,
                                double min_distance = 3.0);

}  // namespace kvscope::analysis
