#include "kvscope/model/sampler.hpp"

#include <gtest/gtest.h>

#include <map>

#include "kvscope/error.hpp"

namespace kvscope::model {
namespace {

TEST(Sampler, GreedyTakesArgmaxLowestIdOnTies) {
  Sampler s({});
  std::vector<float> l = {0.1f, 2.0f, -1.0f, 2.0f};
  EXPECT_EQ(s.next(l), 1);
}

TEST(Sampler, TopKOneIsGreedyAtAnyTemperature) {
  Sampler s({.temperature = 5.0f, .top_k = 1, .top_p = 1.0f, .seed = 7});
  std::vector<float> l = {0.1f, 0.3f, 0.2f};
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.next(l), 1);
}

TEST(Sampler, TopPKeepsOnlyTheNucleus) {
  // Probabilities at T=1: softmax([log .6, log .3, log .1]) = .6, .3, .1; top_p .8 keeps ids 0
  // and 1.
  Sampler s({.temperature = 1.0f, .top_k = 0, .top_p = 0.8f, .seed = 3});
  std::vector<float> l = {std::log(0.6f), std::log(0.3f), std::log(0.1f)};
  std::map<int, int> counts;
  for (int i = 0; i < 3000; ++i) counts[s.next(l)]++;
  EXPECT_EQ(counts[2], 0);
  // Renormalised: 2/3 and 1/3.
  EXPECT_NEAR(counts[0] / 3000.0, 2.0 / 3.0, 0.04);
}

TEST(Sampler, SameSeedSameSequence) {
  std::vector<float> l = {0.5f, 0.4f, 0.3f, 0.2f, 0.1f};
  Sampler a({.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 42});
  Sampler b({.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 42});
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.next(l), b.next(l));
}

TEST(Sampler, RejectsBadOptions) {
  EXPECT_THROW(validate_sampling({.temperature = -0.5f}), BadInput);
  EXPECT_THROW(validate_sampling({.temperature = 1.0f, .top_k = -1}), BadInput);
  EXPECT_THROW(validate_sampling({.temperature = 1.0f, .top_k = 0, .top_p = 0.0f}), BadInput);
  EXPECT_THROW(validate_sampling({.temperature = 1.0f, .top_k = 0, .top_p = 1.5f}), BadInput);
}

}  // namespace
}  // namespace kvscope::model
