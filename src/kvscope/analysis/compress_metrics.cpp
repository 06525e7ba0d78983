#include "kvscope/analysis/compress_metrics.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "kvscope/analysis/parallel.hpp"
#include "kvscope/error.hpp"
#include "kvscope/model/fast_math.hpp"

namespace kvscope::analysis {

namespace {

// ln sum_i exp(x_i): the exponentials in fp32 by the engine's vectorised exp (relative error
// below 2e-7), summed in double block by block. Reference and methods go through this same
// function, so identical logits give a KL of exactly 0.
double log_sum_exp(const float* x, int V) {
  float mx = x[0];
#pragma omp simd reduction(max : mx)
  for (int i = 0; i < V; ++i) mx = std::max(mx, x[i]);
  constexpr int kBlock = 512;
  double s = 0;
  for (int i0 = 0; i0 < V; i0 += kBlock) {
    const int i1 = std::min(V, i0 + kBlock);
    float part = 0.0f;
#pragma omp simd reduction(+ : part)
    for (int i = i0; i < i1; ++i) part += model::fast_exp(x[i] - mx);
    s += part;
  }
  return mx + std::log(s);
}

int argmax(const float* x, int V) {
  int best = 0;
  for (int i = 1; i < V; ++i)
    if (x[i] > x[best]) best = i;
  return best;
}

double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const double pos = (static_cast<double>(sorted.size()) - 1) * q / 100.0;
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - static_cast<double>(lo));
}

}  // namespace

ReferenceRows prepare_reference(std::span<const float> logits, std::span<const int32_t> targets,
                                int V) {
  const int S = static_cast<int>(targets.size());
  if (V < 1 || logits.size() != static_cast<size_t>(S) * V)
    throw BadInput(
        fmt::format("reference logits: {} values for {} rows of {}", logits.size(), S, V));
  ReferenceRows r;
  r.rows = S;
  r.vocab = V;
  r.logp.resize(logits.size());
  r.p.resize(logits.size());
  r.target.assign(targets.begin(), targets.end());
  r.top1.resize(static_cast<size_t>(S));
  for (int s = 0; s < S; ++s) {
    if (targets[static_cast<size_t>(s)] < 0 || targets[static_cast<size_t>(s)] >= V)
      throw BadInput(fmt::format("target token {} is outside the vocabulary of {}",
                                 targets[static_cast<size_t>(s)], V));
    const float* x = &logits[static_cast<size_t>(s) * V];
    const double lse = log_sum_exp(x, V);
    for (int i = 0; i < V; ++i) {
      const size_t at = static_cast<size_t>(s) * V + i;
      r.logp[at] = x[i] - lse;
      r.p[at] = static_cast<float>(std::exp(r.logp[at]));
    }
    r.top1[static_cast<size_t>(s)] = argmax(x, V);
  }
  return r;
}

std::vector<PositionScore> score_rows(const ReferenceRows& ref, std::span<const float> logits) {
  const int S = ref.rows, V = ref.vocab;
  if (logits.size() != static_cast<size_t>(S) * V)
    throw BadInput(fmt::format("method logits: {} values for {} rows of {}", logits.size(), S, V));
  std::vector<PositionScore> out(static_cast<size_t>(S));
  parallel_for(S, true, [&](int64_t s) {
    const float* x = &logits[static_cast<size_t>(s) * V];
    const double* lr = &ref.logp[static_cast<size_t>(s) * V];
    const float* pr = &ref.p[static_cast<size_t>(s) * V];
    const double lse = log_sum_exp(x, V);
    double kl = 0;
#pragma omp simd reduction(+ : kl)
    for (int i = 0; i < V; ++i) kl += pr[i] * (lr[i] - (static_cast<double>(x[i]) - lse));
    PositionScore& p = out[static_cast<size_t>(s)];
    const int y = ref.target[static_cast<size_t>(s)];
    p.kl = std::max(kl, 0.0);  // rounding can leave -1e-17 for equal distributions
    p.same_top1 = argmax(x, V) == ref.top1[static_cast<size_t>(s)];
    p.nll_ref = -lr[y];
    p.nll = -(x[y] - lse);
    p.delta_p = std::exp(-p.nll) - std::exp(-p.nll_ref);
  });
  return out;
}

CompressMetrics summarize(std::span<const PositionScore> scores) {
  CompressMetrics m;
  m.scored = static_cast<int64_t>(scores.size());
  if (scores.empty()) return m;
  const double n = static_cast<double>(scores.size());
  std::vector<double> kl;
  kl.reserve(scores.size());
  double nll = 0, nll_ref = 0, dp = 0, dp2 = 0, same = 0, kls = 0;
  for (const PositionScore& p : scores) {
    kl.push_back(p.kl);
    kls += p.kl;
    nll += p.nll;
    nll_ref += p.nll_ref;
    dp += p.delta_p;
    dp2 += p.delta_p * p.delta_p;
    same += p.same_top1 ? 1 : 0;
  }
  std::sort(kl.begin(), kl.end());
  m.kl_mean = kls / n;
  m.kl_p50 = percentile(kl, 50);
  m.kl_p90 = percentile(kl, 90);
  m.kl_p99 = percentile(kl, 99);
  m.kl_max = kl.back();
  m.top1_agree = same / n;
  m.ppl = std::exp(nll / n);
  m.ppl_ref = std::exp(nll_ref / n);
  m.ppl_ratio = std::exp((nll - nll_ref) / n);
  m.delta_p_mean = dp / n;
  m.delta_p_rms = std::sqrt(dp2 / n);
  return m;
}

}  // namespace kvscope::analysis
