#include "kvscope/report/figure_helpers.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kvscope/error.hpp"

namespace kvscope::report::figure_helpers {

std::vector<int> evenly_spaced_subset(const std::vector<int>& items, int max_count) {
  if (max_count < 1)
    throw BadInput("evenly_spaced_subset: max_count " + std::to_string(max_count) + " < 1");
  const int n = static_cast<int>(items.size());
  if (n <= max_count) return items;
  if (max_count == 1) return {items.front()};
  std::vector<int> out;
  for (int i = 0; i < max_count; ++i) {
    // Rounded positions of max_count evenly spaced points on [0, n - 1]; strictly increasing
    // because n > max_count.
    int64_t at = (static_cast<int64_t>(i) * (n - 1) * 2 + (max_count - 1)) / (2 * (max_count - 1));
    out.push_back(items[static_cast<size_t>(at)]);
  }
  return out;
}

std::vector<std::string> token_axis_labels(const capture::Capture& cap) {
  if (static_cast<int>(cap.token_strings.size()) == cap.seq_len()) return cap.token_strings;
  std::vector<std::string> out;
  for (int i = 0; i < cap.seq_len(); ++i) out.push_back(fmt::format("#{}", i));
  return out;
}

Tensor max_pool(std::span<const float> x, int64_t rows, int64_t cols, int block) {
  if (block < 1 || rows < 0 || cols < 0 ||
      static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols) != x.size())
    throw BadInput("max_pool: block " + std::to_string(block) + " or shape [" +
                   std::to_string(rows) + ", " + std::to_string(cols) + "] does not fit " +
                   std::to_string(x.size()) + " values");
  const int64_t r2 = (rows + block - 1) / block, c2 = (cols + block - 1) / block;
  Tensor out({r2, c2});
  std::fill(out.data.begin(), out.data.end(), std::numeric_limits<float>::quiet_NaN());
  for (int64_t r = 0; r < rows; ++r) {
    const float* src = x.data() + r * cols;
    float* dst = out.ptr() + (r / block) * c2;
    for (int64_t c = 0; c < cols; ++c) {
      float v = src[c];
      float& d = dst[c / block];
      // NaN compares false, so a NaN source never wins and a NaN destination is replaced.
      if (!(d >= v) && !std::isnan(v)) d = v;
    }
  }
  return out;
}

int pool_block(int64_t n, int64_t max_cells) {
  if (max_cells < 1) max_cells = 1;
  if (n <= max_cells) return 1;
  return static_cast<int>((n + max_cells - 1) / max_cells);
}

std::vector<int> labelled_positions(int n, int fit) {
  if (fit < 1) fit = 1;
  int stride = 1;
  for (int k = 0; (n + stride - 1) / stride > fit; ++k) {
    static constexpr int kLead[] = {2, 5, 10};
    int p = 1;
    for (int j = 0; j < k / 3; ++j) p *= 10;
    stride = kLead[k % 3] * p;
    if (stride >= n) break;
  }
  std::vector<int> out;
  for (int i = 0; i < n; i += stride) out.push_back(i);
  return out;
}

double robust_halfrange(double p_lo, double p_hi, double max_abs) {
  double h = std::max(std::fabs(p_lo), std::fabs(p_hi));
  if (!std::isfinite(h) || h <= 0) h = max_abs;
  if (!std::isfinite(h) || h <= 0) h = 1;
  return h;
}

}  // namespace kvscope::report::figure_helpers
