// Sliding-window layers on the tiny Gemma 3 fixture (window 8; layers 0, 1 and 3 slide, layer 2
// is global): attention outside the window is exactly zero, the capture keeps every position
// and says which ones the model's own cache holds (transformers' count, from expected.json),
// and the cache size counts only those.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "kvscope/analysis/cache_size.hpp"
#include "kvscope/capture/generate.hpp"
#include "kvscope/capture/run.hpp"
#include "kvscope/io/json_file.hpp"
#include "kvscope/report/bundle.hpp"

namespace kvscope {
namespace {

namespace fs = std::filesystem;

const fs::path kDir = fs::path(KVSCOPE_FIXTURES_DIR) / "models" / "gemma3-tiny";

TEST(SlidingWindow, AttentionIsZeroOutsideTheWindowAndCacheCountsAgree) {
  io::HubOptions hub;
  hub.offline = true;
  capture::LoadedModel m = capture::load_model(kDir.string(), hub);
  const nlohmann::json e = io::read_json_file((kDir / "expected.json").string());
  const auto& p = e["prompts"][0];
  const auto ids = p["input_ids"].get<std::vector<int32_t>>();
  const int n = static_cast<int>(ids.size());
  const int W = 8;
  ASSERT_GT(n, W);
  capture::Capture c = capture::capture_tokens(m, ids, {.attention = true});
  ASSERT_EQ(c.windows, (std::vector<int>{W, W, 0, W}));
  const auto held = p["cache_positions_after_prefill"].get<std::vector<int>>();
  for (int l = 0; l < c.n_layer; ++l) {
    EXPECT_EQ(c.layers[static_cast<size_t>(l)].k.dim(1), n) << "capture keeps every position";
    EXPECT_EQ(n - c.cached_from(l), held[static_cast<size_t>(l)]) << "layer " << l;
    const Tensor& P = c.layers[static_cast<size_t>(l)].pattern;
    double outside = 0, before_window_global = 0;
    for (int h = 0; h < c.n_head; ++h)
      for (int i = 0; i < n; ++i) {
        double in_window = 0;
        for (int j = 0; j < n; ++j) {
          const float a = P.data[(static_cast<size_t>(h) * n + i) * n + j];
          const bool inside = j <= i && j > i - W;
          if (inside) in_window += a;
          if (c.window(l) > 0 && !inside) outside += std::fabs(a);
          if (c.window(l) == 0 && j <= i - W) before_window_global += a;
        }
        if (c.window(l) > 0) {
          EXPECT_NEAR(in_window, 1.0, 1e-5);
        }
      }
    if (c.window(l) > 0)
      EXPECT_EQ(outside, 0.0) << "layer " << l << " attends outside its window";
    else
      EXPECT_GT(before_window_global, 0.0) << "the global layer sees the whole prefix";
  }
  // Bytes the model's own cache holds: 7 positions on each sliding layer, n on the global one.
  const int64_t per_pos = 2LL * c.n_kv_head * c.head_dim * 4;
  EXPECT_EQ(analysis::kv_cache_bytes_by_layer(c.windows, c.n_kv_head, n, c.head_dim),
            (std::vector<int64_t>{7 * per_pos, 7 * per_pos, n * per_pos, 7 * per_pos}));
  EXPECT_EQ(analysis::kv_cache_bytes_windowed(c.windows, c.n_kv_head, n, c.head_dim),
            (21 + n) * per_pos);
  EXPECT_EQ(analysis::cached_positions(W, 3), 3);
  EXPECT_EQ(analysis::cached_positions(0, 300), 300);
}

// Decoding far past the window: each cached step's logits equal one full forward of the whole
// sequence (the window is applied the same way in both).
TEST(SlidingWindow, DecodingPastTheWindowMatchesAFullForward) {
  io::HubOptions hub;
  hub.offline = true;
  capture::LoadedModel m = capture::load_model(kDir.string(), hub);
  const nlohmann::json e = io::read_json_file((kDir / "expected.json").string());
  std::vector<int32_t> ids = e["prompts"][1]["input_ids"].get<std::vector<int32_t>>();
  capture::GenerateOptions g;
  g.max_new_tokens = 24;  // prompt of 11 + 24: three windows long
  g.stop_at_eos = false;
  capture::GenerationTrace t = capture::generate_ids(m, ids, g);
  ASSERT_EQ(t.steps.size(), 24u);
  std::vector<int32_t> all = ids;
  for (const auto& s : t.steps) all.push_back(s.token);
  capture::Capture full = capture::capture_tokens(m, all, {.logits = true});
  const int V = static_cast<int>(full.logits.dim(1));
  for (size_t s = 0; s < t.steps.size(); ++s) {
    const size_t row = ids.size() - 1 + s;
    const float* r = &full.logits.data[row * static_cast<size_t>(V)];
    const int top = static_cast<int>(std::max_element(r, r + V) - r);
    EXPECT_EQ(top, t.steps[s].token) << "step " << s;
  }
}

}  // namespace
}  // namespace kvscope

namespace kvscope {
namespace {

// The report's generation section counts the model's own cache step by step: the sliding
// layers stop growing at window - 1 = 7 positions, the global one grows by one per token.
TEST(SlidingWindow, ReportCountsTheModelsOwnCachePerStep) {
  io::HubOptions hub;
  hub.offline = true;
  capture::LoadedModel m = capture::load_model(kDir.string(), hub);
  const std::vector<int32_t> ids = {2, 300, 301, 302};  // 4 tokens, under the window
  capture::Capture c = capture::capture_tokens(m, ids, {.attention = true});
  capture::GenerateOptions g;
  g.max_new_tokens = 10;
  g.stop_at_eos = false;
  capture::GenerationTrace t = capture::generate_ids(m, ids, g);
  report::ReportOptions opt;
  const report::Bundle b = report::build_bundle(c, opt, {}, &t);
  ASSERT_EQ(b.model_cache_bytes_per_step.size(), 11u);
  const int64_t per_pos = 2LL * c.n_kv_head * c.head_dim * 4;
  for (int s = 0; s <= 10; ++s) {
    const int64_t seq = 4 + s;
    const int64_t want = (3 * std::min<int64_t>(seq, 7) + seq) * per_pos;
    EXPECT_EQ(b.model_cache_bytes_per_step[static_cast<size_t>(s)], want) << "step " << s;
    EXPECT_EQ(b.cache_bytes_per_step[static_cast<size_t>(s)], 4 * seq * per_pos);
  }
}

// The oracle suite finds fixtures by folder; these must not go missing silently.
TEST(SlidingWindow, WindowAndQkNormFixturesArePresent) {
  for (const char* name : {"gemma3-tiny", "qwen3-tiny", "mistral-window"})
    EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(KVSCOPE_FIXTURES_DIR) / "models" /
                                        name / "expected.json"))
        << name;
}

}  // namespace
}  // namespace kvscope
