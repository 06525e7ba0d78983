// How the heads of one layer differ (figure head_specialization.png), for query heads h in
// [0, H); under grouped-query attention head h reads key/value head h / (H / KH).
#pragma once

#include <vector>

#include "kvscope/analysis/capture_check.hpp"
#include "kvscope/capture/capture.hpp"
#include "kvscope/tensor.hpp"

namespace kvscope::analysis {

struct HeadSpecialization {
  int layer = 0;
  std::vector<int> kv_head;  // [H] key/value head each query head reads
  Tensor key_norms;          // [H, S] L2 norm of the key vector (D entries) head h sees at token s
  Tensor value_norms;        // [H, S] same for values
  bool has_attention = false;
  // The three below are empty without attention patterns. Query i attends causally to keys
  // 0..i (i + 1 of them); only those entries of a pattern row are read. Each is the mean over
  // all S query positions, query 0 included.
  std::vector<double> entropy;        // [H] nats: -sum_j p_ij ln p_ij (0 ln 0 = 0)
  std::vector<double> mean_distance;  // [H] tokens: sum_j p_ij (i - j)
  std::vector<double> sink_share;     // [H] share of attention on token 0: p_i0
  // [H, H] cosine similarity between heads: of their flattened [S, S] attention patterns when
  // present, else of their mean key vectors ([D], mean over tokens). 0 where a norm is 0.
  Tensor similarity;
};

// BadInput on an inconsistent capture or a layer out of range.
HeadSpecialization head_specialization(const capture::Capture& cap, int layer,
                                       KvPart key_part = KvPart::Key);

// Entropy in nats of the first n entries of an attention row, -sum p ln p over p > 0.
double attention_entropy(const float* row, int64_t n);

}  // namespace kvscope::analysis
