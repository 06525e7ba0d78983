#include "kvscope/model/attention_kernel.hpp"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>

namespace kvscope::model::attention {

namespace {

std::atomic<bool> g_enabled{true};  // see set_kernel_enabled

// R query rows against one panel of 16 keys: 2 R accumulators of 8 lanes, one broadcast of
// Q per row and two loads of the panel per step of d. With R = 6 that is 12 accumulators,
// enough independent FMAs to keep both FMA pipes busy, and 15 of the 16 vector registers.
template <int R>
[[gnu::target("avx2,fma"), gnu::always_inline]] inline void tile(const float* Q, int ldq,
                                                                 const float* panel, int D,
                                                                 __m256 scale, float* S, int lds,
                                                                 int cols) {
  __m256 lo[R], hi[R];
  for (int r = 0; r < R; ++r) lo[r] = hi[r] = _mm256_setzero_ps();
  for (int d = 0; d < D; ++d) {
    const __m256 k0 = _mm256_loadu_ps(panel + static_cast<size_t>(d) * kPanel);
    const __m256 k1 = _mm256_loadu_ps(panel + static_cast<size_t>(d) * kPanel + 8);
    for (int r = 0; r < R; ++r) {
      const __m256 q = _mm256_broadcast_ss(Q + static_cast<size_t>(r) * ldq + d);
      lo[r] = _mm256_fmadd_ps(q, k0, lo[r]);
      hi[r] = _mm256_fmadd_ps(q, k1, hi[r]);
    }
  }
  for (int r = 0; r < R; ++r) {
    float* s = S + static_cast<size_t>(r) * lds;
    if (cols == kPanel) {
      _mm256_storeu_ps(s, _mm256_mul_ps(lo[r], scale));
      _mm256_storeu_ps(s + 8, _mm256_mul_ps(hi[r], scale));
    } else {  // the last, partial panel: only the columns that exist
      alignas(32) float buf[kPanel];
      _mm256_store_ps(buf, _mm256_mul_ps(lo[r], scale));
      _mm256_store_ps(buf + 8, _mm256_mul_ps(hi[r], scale));
      std::memcpy(s, buf, sizeof(float) * static_cast<size_t>(cols));
    }
  }
}

// Rows r0..r0+R-1: the panels up to the last key any of them attends to.
template <int R>
[[gnu::target("avx2,fma")]] void rows_block(const float* Q, int ldq, const float* Kp, int D, int Tb,
                                            int last, __m256 scale, float* S, int lds) {
  const int end = std::min(Tb, last + 1);  // keys 0..end-1
  for (int j0 = 0; j0 < end; j0 += kPanel)
    tile<R>(Q, ldq, Kp + static_cast<size_t>(j0) * D, D, scale, S + j0, lds,
            std::min(kPanel, Tb - j0));
}

}  // namespace

bool kernel_available() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}

bool kernel_enabled() {
  return g_enabled.load(std::memory_order_relaxed) && kernel_available();
}

void set_kernel_enabled(bool on) {
  g_enabled.store(on, std::memory_order_relaxed);
}

void pack_keys(const float* K, int T, int D, std::vector<float>& out) {
  const int panels = (T + kPanel - 1) / kPanel;
  out.resize(static_cast<size_t>(panels) * kPanel * D);
  for (int p = 0; p < panels; ++p) {
    float* dst = out.data() + static_cast<size_t>(p) * kPanel * D;
    for (int c = 0; c < kPanel; ++c) {
      const int j = p * kPanel + c;
      if (j < T) {
        const float* k = K + static_cast<size_t>(j) * D;
        for (int d = 0; d < D; ++d) dst[static_cast<size_t>(d) * kPanel + c] = k[d];
      } else {
        for (int d = 0; d < D; ++d) dst[static_cast<size_t>(d) * kPanel + c] = 0.0f;
      }
    }
  }
}

[[gnu::target("avx2,fma")]] void scores(const float* Q, int ldq, int rows, const float* Kp, int D,
                                        int Tb, int first_last, float scale, float* S, int lds) {
  const __m256 sc = _mm256_set1_ps(scale);
  int r = 0;
  for (; r + 6 <= rows; r += 6)
    rows_block<6>(Q + static_cast<size_t>(r) * ldq, ldq, Kp, D, Tb, first_last + r + 5, sc,
                  S + static_cast<size_t>(r) * lds, lds);
  for (; r + 2 <= rows; r += 2)
    rows_block<2>(Q + static_cast<size_t>(r) * ldq, ldq, Kp, D, Tb, first_last + r + 1, sc,
                  S + static_cast<size_t>(r) * lds, lds);
  for (; r < rows; ++r)
    rows_block<1>(Q + static_cast<size_t>(r) * ldq, ldq, Kp, D, Tb, first_last + r, sc,
                  S + static_cast<size_t>(r) * lds, lds);
}

}  // namespace kvscope::model::attention
