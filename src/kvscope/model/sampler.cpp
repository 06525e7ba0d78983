#include "kvscope/model/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include <fmt/format.h>

#include "kvscope/error.hpp"

namespace kvscope::model {

void validate_sampling(const SamplingOptions& o) {
  if (!(o.temperature >= 0.0f) || !std::isfinite(o.temperature))
    throw BadInput(fmt::format("--temperature {} must be zero or positive", o.temperature));
  if (o.top_k < 0)
    throw BadInput(fmt::format("--top-k {} must be zero (off) or positive", o.top_k));
  if (!(o.top_p > 0.0f && o.top_p <= 1.0f))
    throw BadInput(fmt::format("--top-p {} must be in (0, 1]", o.top_p));
}

Sampler::Sampler(const SamplingOptions& o) : opt_(o), rng_(o.seed) {
  validate_sampling(o);
}

int32_t Sampler::next(std::span<const float> logits) {
  const int V = static_cast<int>(logits.size());
  if (opt_.temperature == 0.0f) {
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  // Candidates sorted by logit, cut by top-k, then softmax at the temperature, then top-p.
  std::vector<int32_t> idx(static_cast<size_t>(V));
  std::iota(idx.begin(), idx.end(), 0);
  const int k = opt_.top_k > 0 ? std::min(opt_.top_k, V) : V;
  auto by_logit = [&](int32_t a, int32_t b) {
    return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)] ||
           (logits[static_cast<size_t>(a)] == logits[static_cast<size_t>(b)] && a < b);
  };
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), by_logit);
  idx.resize(static_cast<size_t>(k));
  std::vector<double> p(idx.size());
  const double mx = logits[static_cast<size_t>(idx[0])];
  double sum = 0.0;
  for (size_t i = 0; i < idx.size(); ++i) {
    p[i] = std::exp((logits[static_cast<size_t>(idx[i])] - mx) / opt_.temperature);
    sum += p[i];
  }
  size_t keep = idx.size();
  if (opt_.top_p < 1.0f) {
    // Smallest prefix whose probability reaches top_p (at least one token).
    double acc = 0.0;
    for (size_t i = 0; i < idx.size(); ++i) {
      acc += p[i] / sum;
      if (acc >= opt_.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  double total = 0.0;
  for (size_t i = 0; i < keep; ++i) total += p[i];
  std::uniform_real_distribution<double> u(0.0, total);
  double r = u(rng_);
  for (size_t i = 0; i < keep; ++i) {
    r -= p[i];
    if (r <= 0.0) return idx[i];
  }
  return idx[keep - 1];
}

}  // namespace kvscope::model
