// Model: a Config and its Weights, and the forward pass every architecture shares.
//
// forward() runs n new tokens at positions cache.length() .. cache.length()+n-1: one batched
// pass for a prompt (prefill), or one token at a time (decode). It appends their keys and
// values to the cache and attends over everything cached.
//
// Letters: n = new tokens, T = cached tokens after the call, d = d_model, H = n_head,
// G = n_kv_head, D = head_dim, V = vocab.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kvscope/model/config.hpp"
#include "kvscope/model/kv_cache.hpp"
#include "kvscope/model/weights.hpp"

namespace kvscope::model {

// One block of attention probabilities: rows q0 .. q0+rows-1 (absolute query positions) of
// one layer and query head. Row r is p + r * ld and holds keys k0 .. q0 + r, key j at
// p[r * ld + j - k0]; keys before k0 lie outside a sliding window (weight 0, never stored),
// keys from k0 on that are masked by the window or evicted are 0. entropy[r] is the row's
// entropy in nats, computed by the softmax from the scores (log Z - E[s - max]) rather than
// from the rounded probabilities.
struct AttentionBlock {
  int layer = 0;
  int head = 0;
  int q0 = 0;
  int rows = 0;
  const float* p = nullptr;
  int64_t ld = 0;
  const float* entropy = nullptr;
  int k0 = 0;
};

// Sees every row of attention probabilities while the forward pass computes them, so that
// statistics need no [H, n, T] map. observe() sees each row right after its softmax, while
// the row is in cache, on the pass's worker threads, concurrently for different (head, block)
// pairs of one layer; `thread` < omp_get_max_threads() tells the threads apart. layer_done()
// runs after the layer's last block, on the calling thread.
class AttentionObserver {
 public:
  virtual ~AttentionObserver() = default;
  virtual void observe(const AttentionBlock& block, int thread) = 0;
  virtual void layer_done(int layer) = 0;
};

struct ForwardRequest {
  bool all_logits = false;  // logits for every new token; otherwise for the last one only
  bool attention = false;   // attention probabilities of every layer
  bool resid = false;       // residual stream after every block
  AttentionObserver* observer = nullptr;  // sees every attention row (not owned)
};

struct ForwardResult {
  std::vector<float> logits;                 // [n or 1, V]
  std::vector<std::vector<float>> patterns;  // [n_layer][H, n, T] when requested
  std::vector<std::vector<float>> resid;     // [n_layer][n, d] when requested
};

class Model {
 public:
  Model(Config config, Weights weights);

  const Config& config() const { return config_; }
  const Weights& weights() const { return weights_; }

  // An empty cache shaped for this model with room for `capacity` tokens (it grows if needed).
  KvCache new_cache(int capacity, bool keep_pre_rope = false) const;

  // Throws BadInput if a token id is out of range or the cache would exceed the context.
  ForwardResult forward(KvCache& cache, std::span<const int32_t> tokens,
                        const ForwardRequest& req = {}) const;

  // RoPE inverse frequencies [D / 2] (after any scaling) of the model's full-attention layers,
  // as the engine uses them; rope_inv_freq(l) those of layer l (Gemma 3's sliding layers have
  // their own base).
  const std::vector<float>& rope_inv_freq() const {
    return inv_freqs_.empty() ? kNone : inv_freqs_[0];
  }
  const std::vector<float>& rope_inv_freq(int l) const {
    return inv_freqs_.empty()
               ? kNone
               : inv_freqs_[static_cast<size_t>(layer_rope_[static_cast<size_t>(l)])];
  }

 private:
  Config config_;
  Weights weights_;
  inline static const std::vector<float> kNone;
  std::vector<std::vector<float>> inv_freqs_;  // [variants][D / 2]; [0] is the default
  std::vector<int> layer_rope_;                // [n_layer] index into inv_freqs_
};

}  // namespace kvscope::model
