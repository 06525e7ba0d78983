// Where each generated token looked: its attention over the cache (prompt and the tokens
// generated before it), averaged over heads, for all layers together and for one layer.
//
// Letters: L layers, H query heads, T_t cache length at step t.
#pragma once

#include <vector>

#include "kvscope/capture/generate.hpp"

namespace kvscope::analysis {

struct GenerationAttention {
  int layer = 0;                                // the layer of `one_layer`
  std::vector<std::vector<double>> all_layers;  // [steps][T_t] mean over L and H
  std::vector<std::vector<double>> one_layer;   // [steps][T_t] mean over the H heads of `layer`
  // Every step carries its attention ([L, H, T_t]); otherwise both lists are empty.
  bool complete() const { return !all_layers.empty(); }
};

// From a trace generated with attention; empty when any step lacks it (or has another shape).
GenerationAttention generation_attention(const capture::GenerationTrace& trace, int n_layer,
                                         int n_head, int layer);

}  // namespace kvscope::analysis
