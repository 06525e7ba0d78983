#include <gtest/gtest.h>

#include "kvscope/analysis/cache_size.hpp"
#include "kvscope/error.hpp"

namespace kvscope::analysis {
namespace {

TEST(AnalysisCacheSize, Gpt2SmallAtTenTokensInFp32) {
  // 2 (K and V) * 12 layers * 12 heads * 10 tokens * 64 dims * 4 bytes
  EXPECT_EQ(kv_cache_bytes(12, 12, 10, 64), 737280);
  EXPECT_EQ(kv_cache_bytes(12, 12, 10, 64, 2), 368640);
}

TEST(AnalysisCacheSize, GrowsByOneTokenPerStep) {
  const auto b = kv_cache_bytes_per_step(2, 3, 4, 5, 2);
  EXPECT_EQ(b, (std::vector<int64_t>{2 * 2 * 3 * 5 * 4 * 4, 2 * 2 * 3 * 6 * 4 * 4,
                                     2 * 2 * 3 * 7 * 4 * 4}));
}

TEST(AnalysisCacheSize, RejectsNegativeAndOverflowingSizes) {
  EXPECT_THROW(kv_cache_bytes(-1, 1, 1, 1), BadInput);
  EXPECT_THROW(kv_cache_bytes(1 << 30, 1 << 30, 1 << 30, 64), BadInput);
  EXPECT_THROW(kv_cache_bytes_per_step(1, 1, 1, 0, -1), BadInput);
}

}  // namespace
}  // namespace kvscope::analysis
