// Output metrics of the compression lab: how far a compressed cache moves the model's
// next-token distribution from the uncompressed one, over the full vocabulary, in natural
// logs (llama.cpp's KL-divergence statistics, computed against the exact fp32 reference).
//
// Letters: S scored positions of one window, V vocabulary.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace kvscope::analysis {

// A reference window, prepared once and compared with every method's logits.
struct ReferenceRows {
  int rows = 0, vocab = 0;
  std::vector<double> logp;     // [S, V] log-softmax of the reference logits
  std::vector<float> p;         // [S, V] its probabilities
  std::vector<int32_t> target;  // [S] the actual next tokens
  std::vector<int32_t> top1;    // [S] argmax of the reference (first on ties)
};

// logits [S, V]; targets [S]. BadInput on sizes that disagree or a target out of range.
ReferenceRows prepare_reference(std::span<const float> logits, std::span<const int32_t> targets,
                                int vocab);

// Per scored position.
struct PositionScore {
  double kl = 0;  // KL(p_ref || p) = sum_i p_ref(i) (ln p_ref(i) - ln p(i)), nats
  bool same_top1 = false;
  double nll_ref = 0;  // -ln p_ref(y)
  double nll = 0;      // -ln p(y)
  double delta_p = 0;  // p(y) - p_ref(y)
};

// Scores a method's logits [S, V] against the reference; rows run in parallel.
std::vector<PositionScore> score_rows(const ReferenceRows& ref, std::span<const float> logits);

struct CompressMetrics {
  int64_t scored = 0;
  double kl_mean = 0, kl_p50 = 0, kl_p90 = 0, kl_p99 = 0, kl_max = 0;
  double top1_agree = 0;        // share of positions whose argmax equals the reference's
  double ppl = 0, ppl_ref = 0;  // exp(mean -ln p(y)), under the method and the reference
  double ppl_ratio = 0;         // ppl / ppl_ref
  double delta_p_mean = 0, delta_p_rms = 0;
};

// Percentiles interpolate linearly between order statistics (numpy's default).
CompressMetrics summarize(std::span<const PositionScore> scores);

}  // namespace kvscope::analysis
