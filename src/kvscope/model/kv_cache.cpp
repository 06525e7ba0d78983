#include "kvscope/model/kv_cache.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "kvscope/error.hpp"

namespace kvscope::model {

KvCache::KvCache(int n_layer, int n_kv_head, int head_dim, int capacity, bool keep_pre_rope)
    : layers_(static_cast<size_t>(n_layer)),
      evicted_(static_cast<size_t>(n_layer)),
      n_evicted_(static_cast<size_t>(n_layer), 0),
      n_kv_head_(n_kv_head),
      head_dim_(head_dim),
      capacity_(0),
      keep_pre_rope_(keep_pre_rope) {
  reserve_more(capacity);
}

int64_t KvCache::bytes_used() const {
  return 2LL * n_layer() * n_kv_head_ * length_ * head_dim_ * static_cast<int64_t>(sizeof(float));
}

void KvCache::reserve_more(int n) {
  if (n < 0) throw BadInput(fmt::format("cannot reserve {} cache positions", n));
  const int need = length_ + n;
  if (need <= capacity_) return;
  const int cap = std::max(need, capacity_ + capacity_ / 2);
  const size_t row = static_cast<size_t>(head_dim_);
  auto grow = [&](std::vector<float>& slab) {
    std::vector<float> fresh(static_cast<size_t>(n_kv_head_) * static_cast<size_t>(cap) * row,
                             0.0f);
    for (int g = 0; g < n_kv_head_; ++g) {
      if (length_ > 0)
        std::memcpy(&fresh[static_cast<size_t>(g) * cap * row],
                    &slab[static_cast<size_t>(g) * capacity_ * row],
                    static_cast<size_t>(length_) * row * sizeof(float));
    }
    slab.swap(fresh);
  };
  for (auto& L : layers_) {
    grow(L.k);
    grow(L.v);
    if (keep_pre_rope_) grow(L.k_pre_rope);
  }
  for (auto& f : evicted_) {
    if (f.empty()) continue;
    std::vector<uint8_t> fresh(static_cast<size_t>(n_kv_head_) * static_cast<size_t>(cap), 0);
    for (int g = 0; g < n_kv_head_; ++g)
      std::memcpy(&fresh[static_cast<size_t>(g) * cap], &f[static_cast<size_t>(g) * capacity_],
                  static_cast<size_t>(length_));
    f.swap(fresh);
  }
  capacity_ = cap;
}

void KvCache::truncate(int len) {
  if (len < 0 || len > length_)
    throw BadInput(fmt::format("cannot truncate a cache of {} tokens to {}", length_, len));
  for (size_t l = 0; l < evicted_.size(); ++l) {
    if (evicted_[l].empty()) continue;
    for (int g = 0; g < n_kv_head_; ++g)
      for (int t = len; t < length_; ++t) {
        uint8_t& f = evicted_[l][static_cast<size_t>(g) * capacity_ + static_cast<size_t>(t)];
        n_evicted_[l] -= f;
        f = 0;
      }
  }
  length_ = len;
}

void KvCache::evict(int l, int g, int t) {
  if (l < 0 || l >= n_layer() || g < 0 || g >= n_kv_head_ || t < 0 || t >= length_)
    throw BadInput(
        fmt::format("cannot evict layer {}, kv head {}, position {} from a cache of {} "
                    "layers, {} kv heads and {} tokens",
                    l, g, t, n_layer(), n_kv_head_, length_));
  auto& f = evicted_[static_cast<size_t>(l)];
  if (f.empty()) f.assign(static_cast<size_t>(n_kv_head_) * static_cast<size_t>(capacity_), 0);
  uint8_t& flag = f[static_cast<size_t>(g) * capacity_ + static_cast<size_t>(t)];
  n_evicted_[static_cast<size_t>(l)] += 1 - flag;
  flag = 1;
}

}  // namespace kvscope::model
