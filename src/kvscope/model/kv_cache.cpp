#include "kvscope/model/kv_cache.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "kvscope/error.hpp"

namespace kvscope::model {

KvCache::KvCache(int n_layer, int n_kv_head, int head_dim, int capacity, bool keep_pre_rope)
    : layers_(static_cast<size_t>(n_layer)),
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
  capacity_ = cap;
}

void KvCache::truncate(int len) {
  if (len < 0 || len > length_)
    throw BadInput(fmt::format("cannot truncate a cache of {} tokens to {}", length_, len));
  length_ = len;
}

}  // namespace kvscope::model
