// Choosing the next token from logits: greedy, or sampling with temperature, top-k and
// top-p (nucleus), reproducible from a seed.
#pragma once

#include <cstdint>
#include <random>
#include <span>

namespace kvscope::model {

struct SamplingOptions {
  float temperature = 0.0f;  // 0 = greedy (argmax)
  int top_k = 0;             // 0 = no limit
  float top_p = 1.0f;        // 1 = no limit
  uint64_t seed = 0;
};

// Throws BadInput for a negative temperature or top_k, or top_p outside (0, 1].
void validate_sampling(const SamplingOptions& o);

class Sampler {
 public:
  explicit Sampler(const SamplingOptions& o);
  // Picks a token id from logits [V]. Ties in greedy mode go to the lowest id.
  int32_t next(std::span<const float> logits);

 private:
  SamplingOptions opt_;
  std::mt19937_64 rng_;
};

}  // namespace kvscope::model
