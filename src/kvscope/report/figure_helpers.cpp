#include "kvscope/report/figure_helpers.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

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

Tensor max_pool(std::span<const float> x, int64_t rows, int64_t cols, int block) {
  if (block < 1 || rows < 0 || cols < 0 ||
      static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols) != x.size())
    throw BadInput("max_pool: block " + std::to_string(block) + " or shape [" +
                   std::to_string(rows) + ", " + std::to_string(cols) + "] does not fit " +
                   std::to_string(x.size()) + " values");
  const int64_t r2 = (rows + block - 1) / block, c2 = (cols + block - 1) / block;
  Tensor out({r2, c2});
  constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
  // Per band of `block` rows: first each column's maximum over the band (a loop the
  // compiler vectorises), then the maximum of those across each tile. `v > m ? v : m` skips a
  // NaN v, since the comparison is false; a tile that held only NaN ends as NaN.
  std::vector<float> col_max(static_cast<size_t>(cols));
  std::vector<int32_t> col_seen(static_cast<size_t>(cols));  // 1: the column had a number
  auto first_zero = [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = c0; c < c1; ++c)
        if (const float v = x[static_cast<size_t>(r * cols + c)]; v == 0) return v;
    return 0.0f;
  };
  for (int64_t R = 0; R < r2; ++R) {
    const int64_t r0 = R * block, r1 = std::min(rows, r0 + block);
    std::fill(col_max.begin(), col_max.end(), -std::numeric_limits<float>::infinity());
    std::fill(col_seen.begin(), col_seen.end(), 0);
    for (int64_t r = r0; r < r1; ++r) {
      const float* src = x.data() + r * cols;
      for (size_t c = 0; c < static_cast<size_t>(cols); ++c) {
        const float v = src[c];
        col_max[c] = v > col_max[c] ? v : col_max[c];
        col_seen[c] |= v == v;
      }
    }
    float* dst = out.ptr() + R * c2;
    for (int64_t j = 0; j < c2; ++j) {
      const int64_t c0 = j * block, c1 = std::min(cols, c0 + block);
      float m = -std::numeric_limits<float>::infinity();
      int32_t seen = 0;
      for (int64_t c = c0; c < c1; ++c) {
        m = col_max[static_cast<size_t>(c)] > m ? col_max[static_cast<size_t>(c)] : m;
        seen |= col_seen[static_cast<size_t>(c)];
      }
      // A zero maximum keeps the sign of the tile's first zero in row-major order, as one
      // scan of the tile in that order would give.
      if (m == 0) m = first_zero(r0, r1, c0, c1);
      dst[j] = seen ? m : kNaN;
    }
  }
  return out;
}

int pool_block(int64_t n, int64_t max_cells) {
  if (max_cells < 1) max_cells = 1;
  if (n <= max_cells) return 1;
  return static_cast<int>((n + max_cells - 1) / max_cells);
}

double robust_halfrange(double p_lo, double p_hi, double max_abs) {
  double h = std::max(std::fabs(p_lo), std::fabs(p_hi));
  if (!std::isfinite(h) || h <= 0) h = max_abs;
  if (!std::isfinite(h) || h <= 0) h = 1;
  return h;
}

std::string TokenBins::caption(const std::string& axis) const {
  return bin > 1 ? fmt::format("; each {} averages {} consecutive tokens", axis, bin) : "";
}

TokenBins token_bins(const std::vector<std::string>& tokens) {
  TokenBins b;
  const int64_t S = static_cast<int64_t>(tokens.size());
  b.bin = pool_block(S, kMaxTokenCells);
  if (b.bin == 1) {
    b.labels = tokens;
    return b;
  }
  for (int64_t t = 0; t < S; t += b.bin)
    b.labels.push_back(fmt::format("{}-{}", t, std::min(S, t + b.bin) - 1));
  return b;
}

std::vector<float> bin_columns(std::span<const float> x, int64_t rows, int64_t S, int bin) {
  const int64_t n = (S + bin - 1) / bin;
  std::vector<float> out(static_cast<size_t>(rows * n));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < n; ++c) {
      const int64_t t0 = c * bin, t1 = std::min(S, t0 + bin);
      double sum = 0;
      for (int64_t t = t0; t < t1; ++t) sum += x[static_cast<size_t>(r * S + t)];
      out[static_cast<size_t>(r * n + c)] = static_cast<float>(sum / static_cast<double>(t1 - t0));
    }
  return out;
}

std::vector<float> bin_rows(std::span<const float> x, int64_t S, int64_t cols, int bin) {
  const int64_t n = (S + bin - 1) / bin;
  std::vector<float> out(static_cast<size_t>(n * cols));
  for (int64_t r = 0; r < n; ++r) {
    const int64_t t0 = r * bin, t1 = std::min(S, t0 + bin);
    for (int64_t c = 0; c < cols; ++c) {
      double sum = 0;
      for (int64_t t = t0; t < t1; ++t) sum += x[static_cast<size_t>(t * cols + c)];
      out[static_cast<size_t>(r * cols + c)] =
          static_cast<float>(sum / static_cast<double>(t1 - t0));
    }
  }
  return out;
}

std::string layer_kind_suffix(const capture::Capture& cap, int layer) {
  if (cap.windows.empty()) return "";
  const int w = cap.window(layer);
  return w > 0 ? fmt::format(" (sliding {})", w) : " (global)";
}

std::string layer_axis_label(const capture::Capture& cap) {
  std::vector<int> global;
  int window = 0;
  for (int l = 0; l < cap.n_layer; ++l) {
    if (cap.window(l) > 0)
      window = cap.window(l);
    else
      global.push_back(l);
  }
  if (cap.windows.empty() || window == 0) return "layer";
  if (global.empty()) return fmt::format("layer (all slide over {} tokens)", window);
  return fmt::format("layer (global: {}; the others slide over {} tokens)", fmt::join(global, ", "),
                     window);
}

}  // namespace kvscope::report::figure_helpers
