// The Q K^T kernel of prefill attention against the products summed in double, over shapes
// that exercise every path: row counts that leave remainders after blocks of 6 and 2, head
// dimensions that are not a multiple of 8, key counts around the 16-key panel, a row stride
// wider than the keys (the captured pattern rows) and causal limits inside the last panel.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kvscope/model/attention_kernel.hpp"

namespace attn = kvscope::model::attention;

namespace {

struct Shape {
  int rows, D, Tb, first_last, extra_cols;  // extra_cols: S's stride is Tb + extra_cols
};

void check(const Shape& sh, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int ldq = sh.D + 5;  // queries sit inside wider rows, as in the fused q|k|v buffer
  std::vector<float> Q(static_cast<size_t>(sh.rows) * ldq), K(static_cast<size_t>(sh.Tb) * sh.D);
  for (float& v : Q) v = nd(rng);
  for (float& v : K) v = nd(rng);
  std::vector<float> Kp;
  attn::pack_keys(K.data(), sh.Tb, sh.D, Kp);
  ASSERT_EQ(Kp.size(), static_cast<size_t>((sh.Tb + 15) / 16) * 16 * sh.D);

  const int lds = sh.Tb + sh.extra_cols;
  const float sentinel = -12345.0f;
  std::vector<float> S(static_cast<size_t>(sh.rows) * lds, sentinel);
  const float scale = 1.0f / std::sqrt(static_cast<float>(sh.D));
  attn::scores(Q.data(), ldq, sh.rows, Kp.data(), sh.D, sh.Tb, sh.first_last, scale, S.data(), lds);

  for (int r = 0; r < sh.rows; ++r) {
    const int last = std::min(sh.first_last + r, sh.Tb - 1);
    for (int j = 0; j < lds; ++j) {
      const float got = S[static_cast<size_t>(r) * lds + j];
      if (j >= sh.Tb) {
        ASSERT_EQ(got, sentinel) << "written past Tb: row " << r << " col " << j;
        continue;
      }
      if (j > last) continue;  // may or may not be written; the caller masks it
      double want = 0;
      for (int d = 0; d < sh.D; ++d)
        want += static_cast<double>(Q[static_cast<size_t>(r) * ldq + d]) *
                K[static_cast<size_t>(j) * sh.D + d];
      want *= scale;
      ASSERT_NEAR(got, want, 1e-5 * (1.0 + std::fabs(want)))
          << "rows " << sh.rows << " D " << sh.D << " Tb " << sh.Tb << " at (" << r << ", " << j
          << ")";
    }
  }
}

TEST(AttentionKernel, PackedKeysHoldEachKeyInItsPanelAndZerosBeyond) {
  const int T = 19, D = 3;
  std::vector<float> K(static_cast<size_t>(T) * D);
  for (size_t i = 0; i < K.size(); ++i) K[i] = static_cast<float>(i + 1);
  std::vector<float> Kp;
  attn::pack_keys(K.data(), T, D, Kp);
  ASSERT_EQ(Kp.size(), 2u * 16 * D);
  // Key 17 is the second key of panel 1; its dimension 2 sits at [1][2][1].
  EXPECT_EQ(Kp[(1 * D + 2) * 16 + 1], K[17 * D + 2]);
  EXPECT_EQ(Kp[(0 * D + 0) * 16 + 5], K[5 * D + 0]);
  for (int c = T - 16; c < 16; ++c)
    for (int d = 0; d < D; ++d) EXPECT_EQ(Kp[(1 * D + d) * 16 + c], 0.0f);
}

TEST(AttentionKernel, ScoresMatchDoubleSums) {
  if (!attn::kernel_available()) GTEST_SKIP() << "this CPU has no AVX2/FMA";
  std::mt19937 rng(11);
  const Shape shapes[] = {
      {1, 64, 1, 0, 0},    {2, 64, 16, 14, 0},  {5, 64, 17, 12, 3},     {6, 64, 64, 58, 0},
      {7, 80, 100, 93, 9}, {13, 17, 33, 20, 0}, {64, 64, 200, 136, 56}, {64, 128, 64, 0, 0},
      {9, 8, 40, 40, 0},   {3, 1, 5, 2, 1},
  };
  for (const Shape& sh : shapes) check(sh, rng);
}

TEST(AttentionKernel, RowsWithEarlierLimitsStopAtTheirBlocksLastKey) {
  if (!attn::kernel_available()) GTEST_SKIP() << "this CPU has no AVX2/FMA";
  // A first block of a prompt: row r sees keys 0..r. Columns past row 5's limit in the first
  // block of six are never needed, so the kernel must not be relied on there, but those up to
  // each row's own limit must be right.
  std::mt19937 rng(5);
  check({12, 64, 12, 0, 4}, rng);
  check({6, 64, 48, 0, 0}, rng);
}

}  // namespace
