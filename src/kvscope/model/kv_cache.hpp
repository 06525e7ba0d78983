// KvCache: the engine's key-value cache, one slab per layer, that incremental decoding
// appends to. Reading it is the capture: the keys here are exactly what attention used.
//
// Keys are stored AFTER RoPE (as transformers' past_key_values holds them); the keys before
// RoPE are kept beside them when asked for, for analysis only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kvscope::model {

// Scratch of the forward pass over one sequence (activations, attention scores, packed keys),
// kept with the cache so that it is allocated once per sequence and length, not per call.
// A copy of a cache starts with empty scratch of its own.
struct RunState {
  RunState() = default;
  RunState(const RunState&) {}
  RunState& operator=(const RunState&) { return *this; }
  RunState(RunState&&) = default;
  RunState& operator=(RunState&&) = default;

  std::vector<float> x, h, qkv, attn, mid;      // [n, d], [n, d], [n, qkv], [n, H D], [n, mlp]
  std::vector<float> cos, sin;                  // [n, D / 2] RoPE angles
  std::vector<std::vector<float>> scores;       // per thread: [rows, T] scores
  std::vector<std::vector<float>> packed_keys;  // per KV head: attention_kernel panels
};

struct KvLayer {
  std::vector<float> k;           // [G, capacity, D] after RoPE
  std::vector<float> v;           // [G, capacity, D]
  std::vector<float> k_pre_rope;  // [G, capacity, D], or empty when not kept
};

class KvCache {
 public:
  KvCache() = default;
  KvCache(int n_layer, int n_kv_head, int head_dim, int capacity, bool keep_pre_rope);

  int length() const { return length_; }  // tokens cached
  int capacity() const { return capacity_; }
  int n_layer() const { return static_cast<int>(layers_.size()); }
  int n_kv_head() const { return n_kv_head_; }
  int head_dim() const { return head_dim_; }
  bool keeps_pre_rope() const { return keep_pre_rope_; }
  int64_t bytes_used() const;  // bytes of K and V for the cached tokens (fp32)

  KvLayer& layer(int l) { return layers_[static_cast<size_t>(l)]; }
  const KvLayer& layer(int l) const { return layers_[static_cast<size_t>(l)]; }
  // Row of head g at position t: D floats.
  float* k_row(int l, int g, int t) { return &layer(l).k[index(g, t)]; }
  float* v_row(int l, int g, int t) { return &layer(l).v[index(g, t)]; }
  float* k_pre_row(int l, int g, int t) { return &layer(l).k_pre_rope[index(g, t)]; }
  const float* k_row(int l, int g, int t) const { return &layer(l).k[index(g, t)]; }
  const float* v_row(int l, int g, int t) const { return &layer(l).v[index(g, t)]; }
  const float* k_pre_row(int l, int g, int t) const { return &layer(l).k_pre_rope[index(g, t)]; }

  RunState& run_state() { return run_state_; }

  // Makes room for `n` more tokens (grows the slabs, keeping contents).
  void reserve_more(int n);
  // Marks `n` more positions as filled (the forward pass wrote them).
  void advance(int n) { length_ += n; }
  // Drops every token at or after `len` (for re-running a suffix), and their eviction flags.
  void truncate(int len);

  // Eviction, for the compression lab: an evicted entry stays in the slab (positions never
  // shift), but attention gives its key probability exactly 0. Per layer, KV head, position.
  void evict(int l, int g, int t);
  bool evicted(int l, int g, int t) const {
    const auto& f = evicted_[static_cast<size_t>(l)];
    const size_t i =
        static_cast<size_t>(g) * static_cast<size_t>(capacity_) + static_cast<size_t>(t);
    return i < f.size() && f[i] != 0;
  }
  bool has_evictions(int l) const { return n_evicted_[static_cast<size_t>(l)] > 0; }

 private:
  size_t index(int g, int t) const {
    return (static_cast<size_t>(g) * static_cast<size_t>(capacity_) + static_cast<size_t>(t)) *
           static_cast<size_t>(head_dim_);
  }
  std::vector<KvLayer> layers_;
  std::vector<std::vector<uint8_t>> evicted_;  // [n_layer][G, capacity] flags, empty until used
  std::vector<int64_t> n_evicted_;             // [n_layer] flags set
  int n_kv_head_ = 0;
  int head_dim_ = 0;
  int capacity_ = 0;
  int length_ = 0;
  bool keep_pre_rope_ = false;
  RunState run_state_;
};

}  // namespace kvscope::model
