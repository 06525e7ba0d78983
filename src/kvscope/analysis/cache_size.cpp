#include "kvscope/analysis/cache_size.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "kvscope/error.hpp"
#include "kvscope/tensor.hpp"

namespace kvscope::analysis {

int64_t kv_cache_bytes(int64_t n_layer, int64_t kv_heads, int64_t seq, int64_t head_dim,
                       int64_t bytes_per_value) {
  try {
    return shape_numel({2, n_layer, kv_heads, seq, head_dim, bytes_per_value});
  } catch (const BadInput&) {
    throw BadInput(fmt::format(
        "kv cache size: n_layer {}, kv_heads {}, seq {}, head_dim {}, {} bytes per value is "
        "negative or overflows",
        n_layer, kv_heads, seq, head_dim, bytes_per_value));
  }
}

std::vector<int64_t> kv_cache_bytes_per_step(int64_t n_layer, int64_t kv_heads, int64_t head_dim,
                                             int64_t prompt_len, int64_t steps,
                                             int64_t bytes_per_value) {
  // A trace longer than ten million steps is a mistake, not a generation.
  if (steps < 0 || steps > 10'000'000 || prompt_len < 0 || prompt_len > INT64_MAX - steps)
    throw BadInput(fmt::format("kv cache size: prompt length {} and {} steps are not valid",
                               prompt_len, steps));
  // The largest entry is checked first, so the smaller ones cannot overflow.
  kv_cache_bytes(n_layer, kv_heads, prompt_len + steps, head_dim, bytes_per_value);
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(steps) + 1);
  for (int64_t t = 0; t <= steps; ++t)
    out.push_back(kv_cache_bytes(n_layer, kv_heads, prompt_len + t, head_dim, bytes_per_value));
  return out;
}

int64_t cached_positions(int window, int64_t seq) {
  if (window <= 0) return seq;
  return std::min<int64_t>(seq, window - 1);
}

std::vector<int64_t> kv_cache_bytes_by_layer(const std::vector<int>& windows, int64_t kv_heads,
                                             int64_t seq, int64_t head_dim,
                                             int64_t bytes_per_value) {
  std::vector<int64_t> out;
  out.reserve(windows.size());
  for (int w : windows)
    out.push_back(kv_cache_bytes(1, kv_heads, cached_positions(w, seq), head_dim, bytes_per_value));
  return out;
}

int64_t kv_cache_bytes_windowed(const std::vector<int>& windows, int64_t kv_heads, int64_t seq,
                                int64_t head_dim, int64_t bytes_per_value) {
  int64_t total = 0;
  for (int64_t b : kv_cache_bytes_by_layer(windows, kv_heads, seq, head_dim, bytes_per_value)) {
    if (b > INT64_MAX - total)
      throw BadInput(fmt::format("kv cache size: {} tokens overflow", seq));
    total += b;
  }
  return total;
}

}  // namespace kvscope::analysis
