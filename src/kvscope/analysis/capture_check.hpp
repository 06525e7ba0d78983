// Which cached tensor an analysis reads, and the shape checks every analysis runs first.
//
// Dimension letters used across analysis/:
//   L layers, H query heads, KH key/value heads (H % KH == 0), S tokens (seq), D head_dim.
// A layer's K and V are [KH, S, D]; its attention pattern is [H, S, S] (query, key).
#pragma once

#include <string_view>

#include "kvscope/capture/capture.hpp"
#include "kvscope/tensor.hpp"

namespace kvscope::analysis {

enum class KvPart {
  Key,         // blocks.{l}.attn.k: keys as stored in the cache (after RoPE)
  KeyPreRope,  // blocks.{l}.attn.k_pre_rope; falls back to k when the capture left it empty
  Value,       // blocks.{l}.attn.v
};

std::string_view part_name(KvPart part);  // "key", "key_pre_rope", "value"

// The [KH, S, D] tensor of `part` in one layer.
const Tensor& part_tensor(const capture::LayerCapture& layer, KvPart part);

// Throws BadInput unless the capture is self-consistent: layers.size() == n_layer, H and KH
// positive with H % KH == 0, every k/v (and non-empty k_pre_rope) [KH, S, D], patterns
// present in all layers or none and each [H, S, S], token_strings empty or [S].
void check_capture(const capture::Capture& cap);

// Throws BadInput unless 0 <= layer < n_layer.
void check_layer_index(const capture::Capture& cap, int layer);

// Index of the key/value head that query head `head` reads under grouped-query attention:
// head / (H / KH).
inline int kv_head_of(const capture::Capture& cap, int head) {
  return head / (cap.n_head / cap.n_kv_head);
}

// Whether splitting an analysis over threads pays: at least 2^18 cached K values (below that,
// thread start-up and barriers cost more than the work).
inline bool worth_threads(const capture::Capture& cap) {
  return static_cast<int64_t>(cap.n_layer) * cap.n_kv_head * cap.seq_len() * cap.head_dim >=
         (int64_t{1} << 18);
}

}  // namespace kvscope::analysis
