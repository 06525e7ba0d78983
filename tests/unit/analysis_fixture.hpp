// The synthetic capture of tests/oracle/make_analysis_fixtures.py, rebuilt bit for bit, and the
// numbers numpy computed for it (tests/fixtures/analysis/synthetic.json).
//
// Shapes: L=2, H=4 query heads, KH=2 kv heads, S=12 tokens, D=8.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kvscope/capture/capture.hpp"

namespace kvscope::analysis::testing {

// Products through memory so the compiler cannot fuse a * b + c into one rounding, which the
// Python side (no FMA) would not do.
inline double mul(double a, double b) {
  volatile double p = a * b;
  return p;
}

inline float key_at(int l, int h, int i, int c) {
  const double arg = mul(0.37, i) + mul(1.3, l) + mul(0.11, h) + mul(0.23, c);
  return static_cast<float>(mul(std::sin(arg), c % 7 == 0 ? 5.0 : 1.0));
}

inline float key_pre_rope_at(int l, int h, int i, int c) {
  return static_cast<float>(std::cos(mul(0.41, i) + mul(0.9, l) + mul(0.2, h) + mul(0.19, c)));
}

inline float value_at(int l, int h, int i, int c) {
  const double arg = mul(0.29, i) + mul(0.7, l) + mul(0.17, h) + mul(0.31, c);
  return static_cast<float>(mul(std::cos(arg), c % 5 == 0 ? 3.0 : 1.0) + mul(0.05, c));
}

// Token texts chosen to hit every category (see analysis_token_categories_test.cpp).
inline std::vector<std::string> synthetic_token_strings() {
  return {"<|endoftext|>",
          "The",
          " runn",
          "ing",
          " on",
          "\n",
          "the",
          " 2024",
          ",",
          " ",
          "\xC4\xA0mat",
          "\xE2\x96\x81"
          "and"};
}

inline capture::Capture synthetic_capture(bool with_attention = true) {
  constexpr int L = 2, H = 4, KH = 2, S = 12, D = 8;
  capture::Capture cap;
  cap.model_name = "synthetic";
  cap.arch = "llama";
  cap.n_layer = L;
  cap.n_head = H;
  cap.n_kv_head = KH;
  cap.head_dim = D;
  cap.d_model = H * D;
  cap.has_rope = true;
  cap.token_strings = synthetic_token_strings();
  for (int i = 0; i < S; ++i) cap.token_ids.push_back(i == 0 ? 50256 : 100 + i);
  for (int l = 0; l < L; ++l) {
    capture::LayerCapture lc;
    lc.k = Tensor({KH, S, D});
    lc.k_pre_rope = Tensor({KH, S, D});
    lc.v = Tensor({KH, S, D});
    for (int h = 0; h < KH; ++h)
      for (int i = 0; i < S; ++i)
        for (int c = 0; c < D; ++c) {
          lc.k.at(h, i, c) = key_at(l, h, i, c);
          lc.k_pre_rope.at(h, i, c) = key_pre_rope_at(l, h, i, c);
          lc.v.at(h, i, c) = value_at(l, h, i, c);
        }
    if (with_attention) {
      Tensor pattern({H, S, S});
      for (int h = 0; h < H; ++h)
        for (int i = 0; i < S; ++i) {
          std::vector<double> score(static_cast<size_t>(i) + 1);
          double top = -1e300;
          for (int j = 0; j <= i; ++j) {
            const double arg = mul(0.5, i) - mul(0.3, j) + mul(0.7, h) + mul(0.2, l);
            score[static_cast<size_t>(j)] = mul(2.0, std::cos(arg));
            top = std::max(top, score[static_cast<size_t>(j)]);
          }
          double total = 0;
          for (double& s : score) {
            s = std::exp(s - top);
            total += s;
          }
          for (int j = 0; j <= i; ++j)
            pattern.at(h, i, j) = static_cast<float>(score[static_cast<size_t>(j)] / total);
        }
      capture::set_exact_attention(lc, std::move(pattern));
    }
    cap.layers.push_back(std::move(lc));
  }
  return cap;
}

inline const nlohmann::json& expected() {
  static const nlohmann::json j = [] {
    std::ifstream in(std::string(KVSCOPE_FIXTURES_DIR) + "/analysis/synthetic.json");
    if (!in) throw std::runtime_error("cannot open tests/fixtures/analysis/synthetic.json");
    return nlohmann::json::parse(in);
  }();
  return j;
}

// Relative tolerance 1e-5 with an absolute floor for values near zero.
inline void expect_close(double got, double want, const std::string& what, double rel = 1e-5,
                         double abs_floor = 1e-6) {
  EXPECT_NEAR(got, want, rel * std::fabs(want) + abs_floor) << what;
}

template <typename Seq>
inline void expect_all_close(const Seq& got, const nlohmann::json& want, const std::string& what,
                             double rel = 1e-5, double abs_floor = 1e-6) {
  ASSERT_EQ(static_cast<size_t>(std::size(got)), want.size()) << what;
  size_t i = 0;
  for (const auto& g : got) {
    expect_close(static_cast<double>(g), want[i].get<double>(),
                 what + "[" + std::to_string(i) + "]", rel, abs_floor);
    ++i;
  }
}

// Flattens a nested JSON array of numbers in row-major order.
inline std::vector<double> flatten(const nlohmann::json& j) {
  std::vector<double> out;
  if (j.is_array()) {
    for (const auto& e : j) {
      const auto sub = flatten(e);
      out.insert(out.end(), sub.begin(), sub.end());
    }
  } else {
    out.push_back(j.get<double>());
  }
  return out;
}

}  // namespace kvscope::analysis::testing
