// Names of captured tensors, generated in one place (DESIGN.md) and used by code, exported
// files and the report alike:
//   blocks.{l}.attn.k           [kv_heads, seq, head_dim]  keys as stored in the cache (after RoPE)
//   blocks.{l}.attn.k_pre_rope  [kv_heads, seq, head_dim]  keys before RoPE (== k without RoPE)
//   blocks.{l}.attn.v           [kv_heads, seq, head_dim]  values
//   blocks.{l}.attn.pattern     [heads, q, k]              softmax attention probabilities
//   blocks.{l}.resid_post       [seq, d_model]             residual stream after block l
//   logits                      [seq, vocab]
#pragma once

#include <string>

namespace kvscope::capture {

enum class Hook { K, KPreRope, V, Pattern, ResidPost };

std::string hook_name(int layer, Hook hook);  // "blocks.3.attn.k"
inline std::string logits_name() {
  return "logits";
}

}  // namespace kvscope::capture
