// Attention of generated tokens averaged over heads: all layers together and one layer.
#include "kvscope/analysis/generation_attention.hpp"

#include <gtest/gtest.h>

namespace kvscope::analysis {
namespace {

// Two layers, two heads; step t has cache length 2 + t; entry (l, h, j) = 1 + 10 l + 100 h + j.
capture::GenerationTrace trace_of(int steps) {
  capture::GenerationTrace tr;
  for (int t = 0; t < steps; ++t) {
    capture::GenerationStep s;
    s.cache_len = 2 + t;
    for (int l = 0; l < 2; ++l)
      for (int h = 0; h < 2; ++h)
        for (int j = 0; j < s.cache_len; ++j) s.attention.push_back(1.0f + 10 * l + 100 * h + j);
    tr.steps.push_back(s);
  }
  return tr;
}

TEST(GenerationAttention, AveragesOverHeadsForAllLayersAndForOne) {
  const GenerationAttention g = generation_attention(trace_of(3), 2, 2, 1);
  ASSERT_TRUE(g.complete());
  ASSERT_EQ(g.all_layers.size(), 3u);
  EXPECT_EQ(g.layer, 1);
  ASSERT_EQ(g.all_layers[2].size(), 4u);  // cache length 4 at step 2
  // all layers: mean of 1 + 10 l + 100 h + j over l, h in {0, 1} = 1 + 5 + 50 + j
  EXPECT_DOUBLE_EQ(g.all_layers[2][3], 56 + 3);
  // layer 1: mean over h of 11 + 100 h + j = 61 + j
  EXPECT_DOUBLE_EQ(g.one_layer[0][1], 61 + 1);
}

TEST(GenerationAttention, IsEmptyWhenAStepLacksItsAttention) {
  capture::GenerationTrace tr = trace_of(3);
  tr.steps[1].attention.pop_back();  // wrong shape
  EXPECT_FALSE(generation_attention(tr, 2, 2, 0).complete());
  tr = trace_of(2);
  tr.steps[0].attention.clear();
  EXPECT_FALSE(generation_attention(tr, 2, 2, 0).complete());
  EXPECT_FALSE(generation_attention(trace_of(2), 2, 2, 2).complete());  // no such layer
}

}  // namespace
}  // namespace kvscope::analysis
