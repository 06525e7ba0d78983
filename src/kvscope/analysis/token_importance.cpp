#include "kvscope/analysis/token_importance.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kvscope/analysis/parallel.hpp"
#include "kvscope/error.hpp"

namespace kvscope::analysis {

std::string_view measure_name(ImportanceMeasure m) {
  switch (m) {
    case ImportanceMeasure::KeyNorm:
      return "key_norm";
    case ImportanceMeasure::ValueNorm:
      return "value_norm";
    case ImportanceMeasure::KeyValueNorm:
      return "key_value_norm";
    case ImportanceMeasure::AttentionReceived:
      return "attention_received";
  }
  return "unknown";
}

namespace {

// out[s] += L2 norm of token s's D-vector in each of x's KH heads.
void add_norms(const Tensor& x, int64_t KH, int64_t S, int64_t D, std::vector<double>& out) {
  for (int64_t h = 0; h < KH; ++h)
    for (int64_t s = 0; s < S; ++s) {
      const float* v = x.ptr() + (h * S + s) * D;
      double sq = 0;
#pragma omp simd reduction(+ : sq)
      for (int64_t c = 0; c < D; ++c) sq += static_cast<double>(v[c]) * v[c];
      out[static_cast<size_t>(s)] += std::sqrt(sq);
    }
}

}  // namespace

TokenMagnitudes token_magnitudes(const capture::Capture& cap, KvPart key_part) {
  check_capture(cap);
  const int64_t S = cap.seq_len(), KH = cap.n_kv_head, D = cap.head_dim;
  const size_t L = static_cast<size_t>(cap.n_layer);
  // Per-layer partial sums keep the parallel loop free of shared writes.
  std::vector<std::vector<double>> kpart(L, std::vector<double>(static_cast<size_t>(S))),
      vpart(L, std::vector<double>(static_cast<size_t>(S)));
  parallel_for(static_cast<int64_t>(L), worth_threads(cap), [&](int64_t i) {
    const auto l = static_cast<size_t>(i);
    add_norms(part_tensor(cap.layers[l], key_part), KH, S, D, kpart[l]);
    add_norms(cap.layers[l].v, KH, S, D, vpart[l]);
  });
  TokenMagnitudes m;
  m.key.assign(static_cast<size_t>(S), 0.0);
  m.value.assign(static_cast<size_t>(S), 0.0);
  const double n = static_cast<double>(L) * static_cast<double>(KH);
  for (size_t l = 0; l < L; ++l)
    for (size_t s = 0; s < static_cast<size_t>(S); ++s) {
      m.key[s] += kpart[l][s];
      m.value[s] += vpart[l][s];
    }
  if (n > 0)
    for (size_t s = 0; s < static_cast<size_t>(S); ++s) {
      m.key[s] /= n;
      m.value[s] /= n;
    }
  return m;
}

std::vector<double> token_importance(const capture::Capture& cap,
                                     const ImportanceOptions& options) {
  check_capture(cap);
  const int64_t S = cap.seq_len();
  if (options.measure != ImportanceMeasure::AttentionReceived) {
    const TokenMagnitudes m = token_magnitudes(cap, options.key_part);
    switch (options.measure) {
      case ImportanceMeasure::KeyNorm:
        return m.key;
      case ImportanceMeasure::ValueNorm:
        return m.value;
      default: {
        std::vector<double> out(m.key.size());
        for (size_t s = 0; s < out.size(); ++s) out[s] = m.key[s] + m.value[s];
        return out;
      }
    }
  }
  if (!cap.has_attention())
    throw BadInput(
        fmt::format("token importance: measure '{}' needs attention patterns, and the "
                    "capture of '{}' has none",
                    measure_name(options.measure), cap.model_name));
  const size_t L = static_cast<size_t>(cap.n_layer);
  const int64_t H = cap.n_head;
  std::vector<std::vector<double>> part(L, std::vector<double>(static_cast<size_t>(S)));
  for (size_t l = 0; l < L; ++l) {
    const Tensor& received = cap.layers[l].attn.received;  // [H, S], summed over queries
    for (int64_t h = 0; h < H; ++h)
      for (int64_t j = 0; j < S; ++j) part[l][static_cast<size_t>(j)] += received.at(h, j);
  }
  std::vector<double> out(static_cast<size_t>(S), 0.0);
  for (size_t l = 0; l < L; ++l)
    for (size_t j = 0; j < out.size(); ++j) out[j] += part[l][j];
  if (options.per_visible_query)
    for (size_t j = 0; j < out.size(); ++j)
      out[j] /= static_cast<double>(S - static_cast<int64_t>(j));
  return out;
}

TokenRanking rank_tokens(const std::vector<double>& scores, const std::vector<std::string>& texts,
                         int k) {
  if (!texts.empty() && texts.size() != scores.size())
    throw BadInput(
        fmt::format("token ranking: {} texts for {} scores", texts.size(), scores.size()));
  std::vector<int> idx;
  for (size_t i = 0; i < scores.size(); ++i)
    if (std::isfinite(scores[i])) idx.push_back(static_cast<int>(i));
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) {
    return scores[static_cast<size_t>(a)] < scores[static_cast<size_t>(b)];
  });
  const size_t n = std::min(idx.size(), static_cast<size_t>(std::max(k, 0)));
  auto make = [&](int i) {
    const size_t u = static_cast<size_t>(i);
    return RankedToken{i, texts.empty() ? std::string() : texts[u], scores[u]};
  };
  TokenRanking r;
  for (size_t i = 0; i < n; ++i) r.lowest.push_back(make(idx[i]));
  // Highest first, earlier position first among equals.
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) {
    return scores[static_cast<size_t>(a)] > scores[static_cast<size_t>(b)];
  });
  for (size_t i = 0; i < n; ++i) r.highest.push_back(make(idx[i]));
  return r;
}

}  // namespace kvscope::analysis
