// The Q K^T product of prefill attention, by our own AVX2 kernel. OpenBLAS handles these
// shapes (a block of query rows against every earlier key, contraction over one head's
// dimension) at about 60% of the cores' FMA rate: it packs K again on every call and clears
// the output before writing it. Here the keys of a layer's KV head are packed once, into
// panels that every query head of the group and every block of rows reads, and the scores
// are written straight out.
#pragma once

#include <vector>

namespace kvscope::model::attention {

// Whether this CPU runs the kernel (AVX2 and FMA). Without it the caller uses sgemm.
bool kernel_available();

// Whether the forward pass uses the kernel: available and not switched off. The switch is for
// comparisons (benchmarks, tests) of the two paths in one process; it is process-wide.
bool kernel_enabled();
void set_kernel_enabled(bool on);

inline constexpr int kPanel = 16;  // keys per packed panel

// Keys K[T, D] (rows D apart) packed into panels: panel p holds keys 16p..16p+15 as
// [D][16], keys past T zero. `out` is resized to ceil(T / 16) * 16 * D floats.
void pack_keys(const float* K, int T, int D, std::vector<float>& out);

// S[r, j] = scale * <Q[r], K[j]> for r < rows and j <= min(first_last + r, Tb - 1), where
// Q's rows are ldq apart, S's rows lds apart, and Kp holds at least Tb packed keys. Entries
// of row r beyond first_last + r and below Tb may be written with products too (the causal
// mask is the caller's); nothing at or beyond column Tb is written.
void scores(const float* Q, int ldq, int rows, const float* Kp, int D, int Tb, int first_last,
            float scale, float* S, int lds);

}  // namespace kvscope::model::attention
