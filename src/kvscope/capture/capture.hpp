// Capture: everything kvscope recorded while running a model over a prompt. Analyses and
// reports read only this struct, never the engine.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kvscope/capture/attention_summary.hpp"
#include "kvscope/tensor.hpp"

namespace kvscope::capture {

struct LayerCapture {
  Tensor k;           // [kv_heads, seq, head_dim] as stored in the cache (after RoPE)
  Tensor k_pre_rope;  // [kv_heads, seq, head_dim] before RoPE (same as k for GPT-2)
  Tensor v;           // [kv_heads, seq, head_dim]
  Tensor pattern;     // [heads kept, seq, seq] exact attention probabilities; empty unless
                      // requested for this layer
  std::vector<int> pattern_heads;  // the query head of each of pattern's rows, ascending
  AttentionSummary attn;           // attention statistics and pooled maps at any length; empty when
                                   // attention was off
  Tensor resid_post;               // [seq, d_model]; empty unless requested
};

struct Capture {
  std::string model_name;  // folder, file or Hub id the user gave
  std::string arch;        // "gpt2", "llama", "qwen2"
  std::string prompt;
  std::vector<int32_t> token_ids;          // [seq]
  std::vector<std::string> token_strings;  // [seq] each token's text, as decoded alone
  int n_layer = 0;
  int n_head = 0;     // query heads
  int n_kv_head = 0;  // key/value heads (== n_head without grouped-query attention)
  int head_dim = 0;
  int d_model = 0;
  bool has_rope = false;
  std::vector<LayerCapture> layers;  // [n_layer]
  Tensor logits;                     // [seq, vocab]; empty unless requested

  int seq_len() const { return static_cast<int>(token_ids.size()); }
  // Whether attention was captured: every layer's summary (exact maps are optional beside it).
  bool has_attention() const { return !layers.empty() && !layers[0].attn.empty(); }
};

// Gives a layer the exact map of every query head, p [heads, seq, seq], and the summary
// computed from it (summarize_pattern): for captures made outside the engine (tests, files).
void set_exact_attention(LayerCapture& layer, Tensor p);

}  // namespace kvscope::capture
