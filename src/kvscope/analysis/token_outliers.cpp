#include "kvscope/analysis/token_outliers.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "kvscope/error.hpp"

namespace kvscope::analysis {

namespace {

double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  const size_t n = v.size();
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n / 2), v.end());
  double hi = v[n / 2];
  if (n % 2 == 1) return hi;
  double lo = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n / 2));
  return 0.5 * (lo + hi);
}

}  // namespace

std::vector<int> largest_tokens(std::span<const double> x, int k) {
  std::vector<int> idx;
  for (size_t i = 0; i < x.size(); ++i)
    if (std::isfinite(x[i])) idx.push_back(static_cast<int>(i));
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return x[a] > x[b]; });
  if (k < 0) k = 0;
  if (idx.size() > static_cast<size_t>(k)) idx.resize(static_cast<size_t>(k));
  return idx;
}

std::vector<int> outlier_tokens(std::span<const double> x, std::span<const double> y, int k,
                                double min_distance) {
  if (x.size() != y.size())
    throw BadInput(fmt::format("outlier_tokens: {} x values for {} y values", x.size(), y.size()));
  std::vector<double> fx, fy;
  for (size_t i = 0; i < x.size(); ++i)
    if (std::isfinite(x[i]) && std::isfinite(y[i])) {
      fx.push_back(x[i]);
      fy.push_back(y[i]);
    }
  const double mx = median_of(fx), my = median_of(fy);
  std::vector<double> dx, dy;
  for (double v : fx) dx.push_back(std::fabs(v - mx));
  for (double v : fy) dy.push_back(std::fabs(v - my));
  double sx = median_of(dx), sy = median_of(dy);
  if (!(sx > 0)) sx = 1;
  if (!(sy > 0)) sy = 1;
  std::vector<double> dist(x.size(), -1);
  std::vector<int> idx;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i]) || !std::isfinite(y[i])) continue;
    dist[i] = std::hypot((x[i] - mx) / sx, (y[i] - my) / sy);
    if (dist[i] > min_distance) idx.push_back(static_cast<int>(i));
  }
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return dist[a] > dist[b]; });
  if (k < 0) k = 0;
  if (idx.size() > static_cast<size_t>(k)) idx.resize(static_cast<size_t>(k));
  return idx;
}

}  // namespace kvscope::analysis
