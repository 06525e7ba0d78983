#include "kvscope/analysis/generation_attention.hpp"

#include <cstddef>

namespace kvscope::analysis {

GenerationAttention generation_attention(const capture::GenerationTrace& trace, int n_layer,
                                         int n_head, int layer) {
  GenerationAttention g;
  g.layer = layer;
  const size_t L = static_cast<size_t>(n_layer), H = static_cast<size_t>(n_head);
  for (const capture::GenerationStep& s : trace.steps)
    if (s.cache_len <= 0 || s.attention.size() != L * H * static_cast<size_t>(s.cache_len))
      return g;
  if (trace.steps.empty() || layer < 0 || static_cast<size_t>(layer) >= L) return g;
  // Sums over the rows [l0, l1) x H of a step's [L, H, T] attention, divided by their number.
  auto mean_rows = [H](const capture::GenerationStep& s, size_t l0, size_t l1) {
    const size_t T = static_cast<size_t>(s.cache_len);
    std::vector<double> m(T, 0.0);
    for (size_t r = l0 * H; r < l1 * H; ++r)
      for (size_t j = 0; j < T; ++j) m[j] += s.attention[r * T + j];
    for (double& v : m) v /= static_cast<double>((l1 - l0) * H);
    return m;
  };
  const size_t l = static_cast<size_t>(layer);
  for (const capture::GenerationStep& s : trace.steps) {
    g.all_layers.push_back(mean_rows(s, 0, L));
    g.one_layer.push_back(mean_rows(s, l, l + 1));
  }
  return g;
}

}  // namespace kvscope::analysis
