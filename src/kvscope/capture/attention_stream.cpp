#include "kvscope/capture/attention_stream.hpp"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "kvscope/error.hpp"

namespace kvscope::capture {

namespace {

// Inserts (key, w) into the K best of a row so far, kept largest first; a later key equal to
// one kept stays behind it, so ties keep the earlier key (as the reference's order does).
inline void offer(float* wt, float* key, int& n, int K, float w, int j) {
  if (n == K && !(w > wt[K - 1])) return;
  int at = n < K ? n++ : K - 1;
  while (at > 0 && w > wt[at - 1]) {
    wt[at] = wt[at - 1];
    key[at] = key[at - 1];
    --at;
  }
  wt[at] = w;
  key[at] = static_cast<float>(j);
}

}  // namespace

SummaryBuilder::SummaryBuilder(int n_layer, SummaryShape shape, ExactMaps exact)
    : shape_(shape), tile_(shape.tile()), P_(shape.pooled()) {
  const int64_t H = shape.heads, S = shape.seq, K = shape.top_k;
  if (S <= 0 || H <= 0 || K <= 0)
    throw BadInput(fmt::format("attention summary of {} heads over {} tokens, top {}", H, S, K));
  last_ = shape.last_query >= 0 ? shape.last_query : shape.seq - 1;
  layers_.assign(static_cast<size_t>(n_layer), empty_summary(shape));
  maps_.resize(static_cast<size_t>(n_layer));
  map_slot_.assign(static_cast<size_t>(n_layer), std::vector<int>(static_cast<size_t>(H), -1));
  for (int l : exact.layers) {
    if (l < 0 || l >= n_layer) continue;
    int slot = 0;
    for (int h : exact.heads)
      if (h >= 0 && h < H) map_slot_[static_cast<size_t>(l)][static_cast<size_t>(h)] = slot++;
    if (slot > 0) maps_[static_cast<size_t>(l)] = Tensor({slot, S, S});
  }
  threads_.resize(static_cast<size_t>(std::max(omp_get_max_threads(), 1)));
}

double SummaryBuilder::bytes_needed(int n_layer, const SummaryShape& shape) {
  const double H = shape.heads, S = shape.seq, P = shape.pooled(), K = shape.top_k;
  const double per_layer = 4.0 * H * (8 * S + 2 * P * P + 2 * S * K);
  const double threads = std::max(omp_get_max_threads(), 1);
  return n_layer * per_layer + threads * 4.0 * H * (S + 2 * P * P);
}

SummaryBuilder::ThreadAcc& SummaryBuilder::acc(int thread) {
  ThreadAcc& a = threads_[static_cast<size_t>(thread)];
  if (!a.used) {
    const size_t H = static_cast<size_t>(shape_.heads), S = static_cast<size_t>(shape_.seq);
    const size_t PP = static_cast<size_t>(P_) * static_cast<size_t>(P_);
    a.received.assign(H * S, 0.0f);
    a.pool_sum.assign(H * PP, 0.0f);
    a.pool_max.assign(H * PP, 0.0f);
    a.used = true;
  }
  return a;
}

void SummaryBuilder::observe(const model::AttentionBlock& b, int thread) {
  AttentionSummary& s = layers_[static_cast<size_t>(b.layer)];
  ThreadAcc& a = acc(thread);
  const int S = shape_.seq, K = shape_.top_k, h = b.head;
  float* received = a.received.data() + static_cast<size_t>(h) * S;
  const size_t PP = static_cast<size_t>(P_) * static_cast<size_t>(P_);
  const int slot = map_slot_[static_cast<size_t>(b.layer)][static_cast<size_t>(h)];
  for (int r = 0; r < b.rows; ++r) {
    const int i = b.q0 + r;
    if (i >= S) break;  // positions past the summarised prompt (generation) are not kept
    // Keys k0..i are stored, key j at p[j - k0]; keys before k0 (outside a sliding window)
    // have weight 0 and add nothing to any statistic.
    const int k0 = std::min(b.k0, i);
    const float* p = b.p + static_cast<int64_t>(r) * b.ld;
    auto weight = [&](int j) { return j >= k0 && j <= i ? p[j - k0] : 0.0f; };
    const int cell_row = i / tile_;
    float* sum_row = a.pool_sum.data() + h * PP + static_cast<size_t>(cell_row) * P_;
    float* max_row = a.pool_max.data() + h * PP + static_cast<size_t>(cell_row) * P_;
    // One pass over the stored keys k0..i, a pooled cell at a time, in fp32 within a cell
    // (the distance as (i - j0) * sum p - sum p (j - j0), whose terms stay small) and in fp64
    // across cells.
    double dist = 0;
    float mx = 0;
    for (int cell = k0 / tile_; cell * tile_ <= i; ++cell) {
      const int j0 = std::max(cell * tile_, k0), len = std::min((cell + 1) * tile_, i + 1) - j0;
      const float* pj = p + (j0 - k0);
      float* rj = received + j0;
      float csum = 0, cmax = 0, cj = 0;
#pragma omp simd reduction(+ : csum, cj) reduction(max : cmax)
      for (int u = 0; u < len; ++u) {
        const float w = pj[u];
        rj[u] += w;
        csum += w;
        cmax = std::max(cmax, w);
        cj += w * static_cast<float>(u);
      }
      sum_row[cell] += csum;
      max_row[cell] = std::max(max_row[cell], cmax);
      mx = std::max(mx, cmax);
      dist += static_cast<double>(i - j0) * csum - cj;
    }
    double sink = 0;
    for (int j = k0; j < std::min(shape_.sink_tokens, i + 1); ++j) sink += p[j - k0];
    const int64_t at = static_cast<int64_t>(h) * S + i;
    s.entropy.data[static_cast<size_t>(at)] = b.entropy[r];
    s.mean_distance.data[static_cast<size_t>(at)] = static_cast<float>(dist);
    s.sink_mass.data[static_cast<size_t>(at)] = static_cast<float>(sink);
    s.first_key.data[static_cast<size_t>(at)] = weight(0);
    s.max_weight.data[static_cast<size_t>(at)] = mx;
    s.prev_token.data[static_cast<size_t>(at)] = weight(i - 1);
    if (i == last_)  // the summary starts zero: keys before k0 stay 0
      std::memcpy(s.last_query.ptr() + static_cast<int64_t>(h) * S + k0, p,
                  sizeof(float) * static_cast<size_t>(i + 1 - k0));
    float* kw = s.topk_weight.ptr() + at * K;
    float* kk = s.topk_key.ptr() + at * K;
    // Once K are kept, a block of keys whose largest weight does not beat the K-th is skipped
    // whole (most are, past the first blocks).
    int kept = 0;
    constexpr int kBlock = 16;
    for (int j0 = k0; j0 <= i; j0 += kBlock) {
      const int j1 = std::min(j0 + kBlock, i + 1);
      if (kept == K) {
        float bm = 0;
#pragma omp simd reduction(max : bm)
        for (int j = j0; j < j1; ++j) bm = std::max(bm, p[j - k0]);
        if (!(bm > kw[K - 1])) continue;
      }
      for (int j = j0; j < j1; ++j) offer(kw, kk, kept, K, p[j - k0], j);
    }
    for (int t = kept; t < K; ++t) {
      kw[t] = 0.0f;
      kk[t] = -1.0f;
    }
    if (slot >= 0)  // the map starts zero, like the summary
      std::memcpy(
          maps_[static_cast<size_t>(b.layer)].ptr() + (static_cast<int64_t>(slot) * S + i) * S + k0,
          p, sizeof(float) * static_cast<size_t>(i + 1 - k0));
  }
}

void SummaryBuilder::layer_done(int layer) {
  AttentionSummary& s = layers_[static_cast<size_t>(layer)];
  const size_t HS = s.received.data.size(), HPP = s.pooled_mean.data.size();
  for (ThreadAcc& a : threads_) {
    if (!a.used) continue;
    for (size_t i = 0; i < HS; ++i) s.received.data[i] += a.received[i];
    for (size_t i = 0; i < HPP; ++i) {
      s.pooled_mean.data[i] += a.pool_sum[i];
      s.pooled_max.data[i] = std::max(s.pooled_max.data[i], a.pool_max[i]);
    }
    std::fill(a.received.begin(), a.received.end(), 0.0f);
    std::fill(a.pool_sum.begin(), a.pool_sum.end(), 0.0f);
    std::fill(a.pool_max.begin(), a.pool_max.end(), 0.0f);
  }
}

std::vector<AttentionSummary> SummaryBuilder::take_summaries() {
  // Pooled sums become means over each cell's positions.
  for (AttentionSummary& s : layers_) pooled_sums_to_means(s);
  threads_.clear();
  return std::move(layers_);
}

std::vector<Tensor> SummaryBuilder::take_maps() {
  return std::move(maps_);
}

}  // namespace kvscope::capture
