// SummaryBuilder: builds every layer's AttentionSummary (attention_summary.hpp) from the rows
// the forward pass hands its observer, and copies the rows of chosen layers and heads into
// exact maps. Nothing here holds more than one row of a [heads, seq, seq] map beyond those
// chosen maps, so the statistics exist at any prompt length; the prompt may be run in chunks
// (positions continue from one forward call to the next).
#pragma once

#include <vector>

#include "kvscope/capture/attention_summary.hpp"
#include "kvscope/model/model.hpp"

namespace kvscope::capture {

struct ExactMaps {
  std::vector<int> layers;  // layers whose exact maps are kept (ascending, in range)
  std::vector<int> heads;   // query heads kept in each of those layers (ascending, in range)
};

class SummaryBuilder final : public model::AttentionObserver {
 public:
  // For a prompt of shape.seq tokens through n_layer layers of shape.heads query heads.
  SummaryBuilder(int n_layer, SummaryShape shape, ExactMaps exact = {});

  void observe(const model::AttentionBlock& b, int thread) override;
  void layer_done(int layer) override;

  // Bytes the summaries of this shape take, with the per-thread accumulators (for the memory
  // check, before anything is allocated).
  static double bytes_needed(int n_layer, const SummaryShape& shape);

  // The finished summaries [n_layer] and exact maps [n_layer] ([heads kept, seq, seq] for the
  // chosen layers, empty elsewhere); call after the last forward call, once.
  std::vector<AttentionSummary> take_summaries();
  std::vector<Tensor> take_maps();

 private:
  struct ThreadAcc {
    std::vector<float> received;  // [H, S]
    std::vector<float> pool_sum;  // [H, P, P]
    std::vector<float> pool_max;  // [H, P, P]
    bool used = false;
  };
  ThreadAcc& acc(int thread);

  SummaryShape shape_;
  int tile_, P_, last_;
  std::vector<AttentionSummary> layers_;
  std::vector<Tensor> maps_;
  std::vector<std::vector<int>> map_slot_;  // [n_layer][H]: index in the exact map, or -1
  std::vector<ThreadAcc> threads_;
};

}  // namespace kvscope::capture
