// Memory a KV cache takes as it grows during generation.
#pragma once

#include <cstdint>
#include <vector>

namespace kvscope::analysis {

// Bytes of K and V for `seq` tokens: 2 * n_layer * kv_heads * seq * head_dim * bytes_per_value
// (4 for fp32, 2 for fp16). BadInput on a negative size or int64 overflow.
int64_t kv_cache_bytes(int64_t n_layer, int64_t kv_heads, int64_t seq, int64_t head_dim,
                       int64_t bytes_per_value = 4);

// [steps + 1] cache bytes (steps <= 10^7) after the prompt (entry 0: prompt_len tokens) and after
// each of `steps` generated tokens (entry t: prompt_len + t tokens).
std::vector<int64_t> kv_cache_bytes_per_step(int64_t n_layer, int64_t kv_heads, int64_t head_dim,
                                             int64_t prompt_len, int64_t steps,
                                             int64_t bytes_per_value = 4);

// Positions a layer's own cache holds after `seq` tokens: all of them, or for a sliding layer
// of window W (> 0) the last W - 1 (what the next token attends to besides itself; this is
// what transformers keeps on sliding layers).
int64_t cached_positions(int window, int64_t seq);

// Bytes of K and V that the model's own cache holds after `seq` tokens, layer by layer:
// windows[l] is layer l's sliding window (0: full attention). Sliding layers stop growing at
// W - 1 positions, so this is less than kv_cache_bytes once seq >= W.
std::vector<int64_t> kv_cache_bytes_by_layer(const std::vector<int>& windows, int64_t kv_heads,
                                             int64_t seq, int64_t head_dim,
                                             int64_t bytes_per_value = 4);
int64_t kv_cache_bytes_windowed(const std::vector<int>& windows, int64_t kv_heads, int64_t seq,
                                int64_t head_dim, int64_t bytes_per_value = 4);

}  // namespace kvscope::analysis
