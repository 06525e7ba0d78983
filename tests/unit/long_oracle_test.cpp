// A prompt of 4,500 tokens, past the original context of the Llama 3 RoPE scaling, against
// transformers (tests/oracle/make_long_fixture.py): keys before and after RoPE, values and
// logits at the positions the fixture keeps, and the streamed attention entropy and attention
// received against the same statistics of transformers' full maps. The prompt runs in the
// default chunks, so this also checks chunked prefill against one full forward pass.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kvscope/capture/names.hpp"
#include "kvscope/capture/run.hpp"
#include "kvscope/io/json_file.hpp"
#include "kvscope/io/safetensors.hpp"

namespace kvscope {
namespace {

namespace fs = std::filesystem;

const fs::path kDir = fs::path(KVSCOPE_FIXTURES_DIR) / "models" / "llama3-long";

TEST(LongPromptOracle, KeysValuesLogitsAndStatisticsMatchTransformersAt4500Tokens) {
  const nlohmann::json e = io::read_json_file((kDir / "expected_long.json").string());
  const auto ids = e["input_ids"].get<std::vector<int32_t>>();
  const auto positions = e["positions"].get<std::vector<int>>();
  const auto logit_positions = e["logit_positions"].get<std::vector<int>>();
  ASSERT_GE(ids.size(), 4096u);
  const capture::LoadedModel m = capture::load_model(kDir.string(), io::HubOptions{});
  ASSERT_LT(m.model.config().rope_scaling.original_max_position, static_cast<int>(ids.size()));
  const capture::Capture c = capture::capture_tokens(m, ids, {.logits = true, .summary = true});
  const io::SafetensorsFile want((kDir / "expected_long.safetensors").string());
  const int S = c.seq_len();

  // got [rows, S, cols] at the kept positions against want [rows, K, cols].
  auto compare = [&](const std::string& name, const float* got, int rows, int cols, double tol,
                     const std::vector<int>& keep) {
    const int K = static_cast<int>(keep.size());
    const io::RawTensor* raw = want.find(name);
    ASSERT_NE(raw, nullptr) << "fixture lacks " << name;
    const std::vector<float> w = io::to_f32(*raw);
    ASSERT_EQ(static_cast<int64_t>(w.size()), int64_t{rows} * K * cols) << name;
    double worst = 0;
    for (int r = 0; r < rows; ++r)
      for (int k = 0; k < K; ++k)
        for (int j = 0; j < cols; ++j) {
          const double a =
              got[(static_cast<int64_t>(r) * S + keep[static_cast<size_t>(k)]) * cols + j];
          const double b = w[static_cast<size_t>((static_cast<int64_t>(r) * K + k) * cols + j)];
          worst = std::max(worst, std::abs(a - b) / std::max(1.0, std::abs(b)));
        }
    EXPECT_LE(worst, tol) << name;
  };
  for (int l = 0; l < c.n_layer; ++l) {
    const capture::LayerCapture& L = c.layers[static_cast<size_t>(l)];
    const int G = c.n_kv_head, D = c.head_dim, H = c.n_head;
    compare(capture::hook_name(l, capture::Hook::K), L.k.ptr(), G, D, 1e-4, positions);
    compare(capture::hook_name(l, capture::Hook::KPreRope), L.k_pre_rope.ptr(), G, D, 1e-4,
            positions);
    compare(capture::hook_name(l, capture::Hook::V), L.v.ptr(), G, D, 1e-4, positions);
    compare(fmt::format("blocks.{}.attn.entropy", l), L.attn.entropy.ptr(), H, 1, 1e-4, positions);
    compare(fmt::format("blocks.{}.attn.received", l), L.attn.received.ptr(), H, 1, 1e-4,
            positions);
  }
  compare("logits", c.logits.ptr(), 1, static_cast<int>(c.logits.dim(1)), 1e-4, logit_positions);
}

}  // namespace
}  // namespace kvscope
