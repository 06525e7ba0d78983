// Comparing a capture with the tensors transformers saved for the same tokens
// (tests/oracle/): shared by the checkpoint and GGUF oracle tests.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "kvscope/capture/capture.hpp"
#include "kvscope/capture/names.hpp"
#include "kvscope/io/safetensors.hpp"

namespace kvscope::testing {

// Largest |a - b| over a captured tensor and the expected one of the same shape.
inline double max_abs_diff(const Tensor& got, const io::RawTensor& want) {
  EXPECT_EQ(got.shape, want.shape) << want.name;
  if (got.shape != want.shape) return INFINITY;
  std::vector<float> w = io::to_f32(want);
  double m = 0;
  for (size_t i = 0; i < w.size(); ++i)
    m = std::max(m, static_cast<double>(std::fabs(got.data[i] - w[i])));
  return m;
}

// Every blocks.{l}.attn.{k, k_pre_rope, v, pattern} and logits of `want` within `tol` of the
// capture's; k_pre_rope may be absent only for a model without RoPE. Returns the number of
// tensors compared.
inline int expect_capture_matches(const capture::Capture& c, const io::SafetensorsFile& want,
                                  double tol) {
  int checked = 0;
  for (int l = 0; l < c.n_layer; ++l) {
    const auto& L = c.layers[static_cast<size_t>(l)];
    const std::pair<capture::Hook, const Tensor*> hooks[] = {
        {capture::Hook::K, &L.k},
        {capture::Hook::KPreRope, &L.k_pre_rope},
        {capture::Hook::V, &L.v},
        {capture::Hook::Pattern, &L.pattern}};
    for (const auto& [hook, t] : hooks) {
      const std::string name = capture::hook_name(l, hook);
      const io::RawTensor* w = want.find(name);
      if (!w) {
        EXPECT_TRUE(hook == capture::Hook::KPreRope && !c.has_rope) << "fixture lacks " << name;
        continue;
      }
      EXPECT_LE(max_abs_diff(*t, *w), tol) << name;
      ++checked;
    }
  }
  const io::RawTensor* logits = want.find(capture::logits_name());
  EXPECT_NE(logits, nullptr) << "fixture lacks logits";
  if (logits) {
    EXPECT_LE(max_abs_diff(c.logits, *logits), tol) << "logits";
    ++checked;
  }
  return checked;
}

}  // namespace kvscope::testing
