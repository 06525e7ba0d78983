// Small decisions shared by the cache figures (figures_cache*.cpp): which layers or tokens a
// crowded figure shows, how a large map is shrunk for a small panel, and where colour scales
// are clipped. Kept apart from the drawing so tests can pin them down.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kvscope/capture/capture.hpp"
#include "kvscope/tensor.hpp"

namespace kvscope::report::figure_helpers {

// At most max_count of items, evenly spaced, always keeping the first and the last (all of
// them when they fit). max_count >= 1; with max_count == 1 only the first is kept.
std::vector<int> evenly_spaced_subset(const std::vector<int>& items, int max_count);

// Shrinks a rows x cols map (row-major) by taking the maximum of each block x block tile
// (the last tiles may be smaller), ignoring NaN; a tile of only NaN stays NaN. The maximum,
// unlike the mean, keeps a lone strong cell (an attention sink, a diagonal) visible.
// Returns [ceil(rows / block), ceil(cols / block)]; block >= 1 (1 copies).
Tensor max_pool(std::span<const float> x, int64_t rows, int64_t cols, int block);

// Smallest block so that n cells shrink to at most max_cells (max_cells >= 1).
int pool_block(int64_t n, int64_t max_cells);

// Token axes of heatmaps over long prompts: above kMaxTokenCells tokens, consecutive tokens
// are averaged into bins of `bin` (the last bin may be smaller), and each bin is labelled by
// its positions ("1024-1031") instead of by one token's text.
inline constexpr int kMaxTokenCells = 1024;
struct TokenBins {
  int bin = 1;                      // tokens per cell
  std::vector<std::string> labels;  // one per cell: the token's text, or "first-last"
  // "; each row averages 8 consecutive tokens" (empty when bin == 1); `axis` is "row"/"column".
  std::string caption(const std::string& axis) const;
};
TokenBins token_bins(const std::vector<std::string>& tokens);

// x [rows, S] with S tokens along the columns, averaged into bins: [rows, ceil(S / bin)].
std::vector<float> bin_columns(std::span<const float> x, int64_t rows, int64_t S, int bin);
// x [S, cols] with S tokens along the rows, averaged into bins: [ceil(S / bin), cols].
std::vector<float> bin_rows(std::span<const float> x, int64_t S, int64_t cols, int bin);

// Half-range of a symmetric colour scale for signed activations: the larger magnitude of the
// two given percentiles (e.g. 0.1th and 99.9th), so that a few outlier entries do not wash out
// the rest; falls back to max_abs when the percentiles are not finite or are both 0, and to
// 1 when everything is 0.
double robust_halfrange(double p_lo, double p_hi, double max_abs);

// " (sliding 512)" or " (global)" after a layer's name when the model mixes sliding-window
// and global layers (Gemma 3), "" otherwise.
std::string layer_kind_suffix(const capture::Capture& cap, int layer);
// "layer" or, for a model with sliding layers, "layer (global: 5, 11, 17; the others slide
// over 512 tokens)": the x-axis label of per-layer plots.
std::string layer_axis_label(const capture::Capture& cap);

}  // namespace kvscope::report::figure_helpers
