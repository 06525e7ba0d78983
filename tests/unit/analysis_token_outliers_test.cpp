// Which tokens figures name: the largest by a score and the robust outliers of a 2-D cloud.
#include "kvscope/analysis/token_outliers.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kvscope/error.hpp"

namespace kvscope::analysis {
namespace {

TEST(TokenOutliers, LargestTokensAreOrderedAndSkipNonFinite) {
  const std::vector<double> x = {1.0, 5.0, NAN, 5.0, 3.0, INFINITY};
  EXPECT_EQ(largest_tokens(x, 3), (std::vector<int>{1, 3, 4}));  // tie: earlier first
  EXPECT_EQ(largest_tokens(x, 10), (std::vector<int>{1, 3, 4, 0}));
  EXPECT_TRUE(largest_tokens(x, 0).empty());
}

TEST(TokenOutliers, OutliersAreFarFromTheMedianInRobustUnits) {
  // Bulk around (1, 1) with MAD 0.1 on both axes; token 5 is 20 MADs out in x, token 6 is 5
  // MADs out in y, token 7 only 2 out (below the 3 threshold).
  const std::vector<double> x = {0.9, 1.0, 1.1, 1.0, 0.9, 3.0, 1.0, 1.2};
  const std::vector<double> y = {1.0, 0.9, 1.1, 1.0, 1.1, 1.0, 1.5, 1.0};
  EXPECT_EQ(outlier_tokens(x, y, 10), (std::vector<int>{5, 6}));
  EXPECT_EQ(outlier_tokens(x, y, 1), (std::vector<int>{5}));
  EXPECT_THROW(outlier_tokens(x, std::vector<double>{1.0}, 3), BadInput);
}

TEST(TokenOutliers, ConstantDataHasNoOutliers) {
  const std::vector<double> x(6, 2.0), y(6, 3.0);
  EXPECT_TRUE(outlier_tokens(x, y, 5).empty());
}

}  // namespace
}  // namespace kvscope::analysis
