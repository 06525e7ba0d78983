// AttentionSummary: what kvscope keeps of one layer's attention at any prompt length. The
// engine computes it while attention runs, one block of query rows at a time, so no [heads,
// seq, seq] map is ever held (model/attention_stats.hpp). Every analysis and figure about
// attention reads it; exact maps (LayerCapture::pattern) are kept only when asked for and
// within the memory budget.
//
// Letters: H = query heads, S = positions (prompt tokens), P = pooled cells per side, K = top-k.
// p[h, i, j] is head h's attention probability from query i to key j (0 where masked).
#pragma once

#include <cstdint>
#include <vector>

#include "kvscope/tensor.hpp"

namespace kvscope::capture {

struct SummaryShape {
  int seq = 0;           // S
  int heads = 0;         // H
  int sink_tokens = 4;   // keys 0 .. sink_tokens-1 are the "sink" (StreamingLLM keeps 4)
  int max_pooled = 256;  // P <= max_pooled
  int top_k = 8;         // K per query row (fewer when the row has fewer keys)
  int last_query = -1;   // the query whose row is kept whole (TOVA's score); -1 = S - 1

  // Positions per pooled cell side: ceil(S / max_pooled), at least 1.
  int tile() const;
  // Cells per side: ceil(S / tile()).
  int pooled() const;
};

struct AttentionSummary {
  SummaryShape shape;

  // Per head and query i, [H, S]:
  Tensor entropy;        // -sum_j p log p, nats
  Tensor mean_distance;  // sum_j p (i - j), positions
  Tensor sink_mass;      // sum_{j < sink_tokens} p
  Tensor first_key;      // p[h, i, 0]
  Tensor max_weight;     // max_j p
  Tensor prev_token;     // p[h, i, i-1] (0 for i = 0)

  // Per head and key j, [H, S]:
  Tensor received;    // sum_i p[h, i, j]: attention received (H2O's accumulated score)
  Tensor last_query;  // p[h, last_query, j] (TOVA's score)

  // Pooled maps, [H, P, P]: cell (a, b) covers queries a*tile .. and keys b*tile .. (cells of
  // the last row/column may be smaller). Max and mean over the cell's positions; masked
  // positions count as 0 in the mean, which is the mean pooling of the full map.
  Tensor pooled_max;
  Tensor pooled_mean;

  // Per head and query, the K largest weights and their keys, largest first, [H, S, K]; rows
  // with fewer than K visible keys are padded with key -1 and weight 0.
  Tensor topk_key;     // key index as a float (exact below 2^24)
  Tensor topk_weight;  //

  bool empty() const { return entropy.empty(); }
};

// A zero-filled summary of this shape, every tensor allocated.
AttentionSummary empty_summary(const SummaryShape& shape);

// Turns pooled_mean, holding each cell's sum, into each cell's mean over its positions (the
// cells of the last row and column may be smaller).
void pooled_sums_to_means(AttentionSummary& s);

// The summary computed from a full map p [H, S, S] (rows summing to 1 over their visible keys):
// the reference that the engine's streamed summary is tested against, and what a capture
// with exact maps reports.
AttentionSummary summarize_pattern(const Tensor& p, SummaryShape shape);

// [H, H] cosine similarity of the heads' pooled mean maps: head-to-head similarity at any
// length (with tile 1 it is the similarity of the full maps).
Tensor head_similarity(const AttentionSummary& s);

}  // namespace kvscope::capture
