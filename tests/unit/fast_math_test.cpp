#include "kvscope/model/fast_math.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace kvscope::model {
namespace {

TEST(FastMath, ExpWithinTwoUlpOverTheUsefulRange) {
  double worst = 0;
  for (float x = -87.0f; x <= 88.0f; x += 0.00731f) {
    const double want = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::fabs(fast_exp(x) - want) / want);
  }
  EXPECT_LT(worst, 3e-7);
  EXPECT_EQ(fast_exp(0.0f), 1.0f);
  EXPECT_EQ(fast_exp(-1000.0f), fast_exp(-87.0f));  // saturates instead of producing garbage
  EXPECT_GT(fast_exp(-87.0f), 0.0f);
}

TEST(FastMath, ActivationsMatchTheirDefinitions) {
  for (float x = -12.0f; x <= 12.0f; x += 0.013f) {
    const double xd = x;
    const double gelu =
        0.5 * xd * (1.0 + std::tanh(0.7978845608028654 * (xd + 0.044715 * xd * xd * xd)));
    EXPECT_NEAR(gelu_tanh(x), gelu, 2e-6 * std::max(1.0, std::fabs(gelu))) << x;
    const double silu_ref = xd / (1.0 + std::exp(-xd));
    EXPECT_NEAR(silu(x), silu_ref, 1e-6 * std::max(1.0, std::fabs(silu_ref))) << x;
  }
}

}  // namespace
}  // namespace kvscope::model
