// Our engine against Hugging Face transformers: the tiny random-weight checkpoints and the
// expected tensors that tests/oracle/make_model_fixtures.py saved.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "expected_capture.hpp"
#include "kvscope/capture/generate.hpp"
#include "kvscope/capture/names.hpp"
#include "kvscope/capture/run.hpp"
#include "kvscope/io/json_file.hpp"
#include "kvscope/io/safetensors.hpp"

namespace kvscope {
namespace {

namespace fs = std::filesystem;

constexpr double kTol = 1e-4;  // absolute, as the issue asks

std::vector<std::string> fixture_models() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(fs::path(KVSCOPE_FIXTURES_DIR) / "models"))
    if (fs::exists(e.path() / "expected.json")) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

class Oracle : public ::testing::TestWithParam<std::string> {};

TEST_P(Oracle, MatchesTransformers) {
  const fs::path dir = fs::path(KVSCOPE_FIXTURES_DIR) / "models" / GetParam();
  const nlohmann::json expected = io::read_json_file((dir / "expected.json").string());
  io::HubOptions hub;
  hub.offline = true;
  capture::LoadedModel m = capture::load_model(dir.string(), hub);
  for (const auto& p : expected["prompts"]) {
    const std::string text = p["text"];
    SCOPED_TRACE(GetParam() + ": " + text);
    const std::vector<int32_t> ids = p["input_ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(m.tokenizer.encode(text, true), ids) << "tokenizer disagrees with transformers";

    capture::Capture c = capture::capture_tokens(m, ids, {.attention = true, .logits = true});
    io::SafetensorsFile want((dir / p["expected_file"].get<std::string>()).string());
    const int checked = testing::expect_capture_matches(c, want, kTol);
    EXPECT_GE(checked, 3 * c.n_layer + 1);

    capture::GenerateOptions g;
    g.max_new_tokens = p["greedy_new_tokens"];
    g.stop_at_eos = false;  // the fixtures generate exactly greedy_new_tokens
    capture::GenerationTrace t = capture::generate_ids(m, ids, g);
    std::vector<int32_t> got;
    for (const auto& s : t.steps) got.push_back(s.token);
    EXPECT_EQ(got, p["greedy_ids"].get<std::vector<int32_t>>()) << "greedy continuation";
  }
}

// Weights stay in their stored type, as views of the mapped file: F32, BF16 and GGUF blocks
// alike (GPT-2's Conv1D matrices in their stored [in, out] layout), and q|k|v as parts rather
// than a fused copy. The model must stay correct after the loader's own file objects are gone
// (MatchesTransformers), so the weights keep the mapping alive.
TEST(WeightStorage, WeightsAreViewsInTheirStoredType) {
  io::HubOptions hub;
  hub.offline = true;
  const fs::path fixtures = fs::path(KVSCOPE_FIXTURES_DIR);
  const fs::path models = fixtures / "models";
  const capture::LoadedModel f32 = capture::load_model((models / "gpt2-a").string(), hub);
  const model::Weights& w = f32.model.weights();
  EXPECT_NE(w.storage, nullptr);
  EXPECT_TRUE(w.tok_emb.is_view());
  EXPECT_TRUE(w.layers[0].qkv.in_major);
  ASSERT_EQ(w.layers[0].qkv.parts.size(), 1u);
  EXPECT_TRUE(w.layers[0].qkv.parts[0].w.is_view());
  EXPECT_TRUE(w.layers[0].mlp_out.parts[0].w.is_view());

  const capture::LoadedModel bf16 = capture::load_model((models / "gpt2-bf16").string(), hub);
  const model::Weights& wb = bf16.model.weights();
  EXPECT_TRUE(wb.tok_emb.is_view());
  EXPECT_EQ(wb.tok_emb.dtype(), io::DType::BF16);
  EXPECT_EQ(wb.layers[0].qkv.parts[0].w.dtype(), io::DType::BF16);
  EXPECT_TRUE(wb.layers[0].qkv.parts[0].w.is_view());
  // Resident weight bytes are the file's tensor bytes: 2 per BF16 parameter.
  EXPECT_EQ(wb.bytes, 2 * wb.n_params);

  const capture::LoadedModel llama = capture::load_model((models / "llama-gqa").string(), hub);
  const model::Linear& qkv = llama.model.weights().layers[0].qkv;
  EXPECT_FALSE(qkv.in_major);
  ASSERT_EQ(qkv.parts.size(), 3u);  // q, k, v: each a view writing its own columns
  const model::Config& c = llama.model.config();
  EXPECT_EQ(qkv.parts[1].offset, int64_t{c.n_head} * c.head_dim);
  for (const model::LinearPart& p : qkv.parts) EXPECT_TRUE(p.w.is_view());

  const capture::LoadedModel q8 = capture::load_model(
      (fixtures / "gguf_models" / "llama-gqa-q8_0" / "llama-gqa-q8_0.gguf").string(), hub);
  const model::Linear& qkv8 = q8.model.weights().layers[0].qkv;
  ASSERT_EQ(qkv8.parts.size(), 3u);
  EXPECT_EQ(qkv8.parts[0].w.dtype(), io::DType::Q8_0);
  EXPECT_TRUE(qkv8.parts[0].w.is_view());
  EXPECT_EQ(qkv8.parts[0].gguf_rope_heads, c.n_head);  // llama.cpp's q order, undone on output
  EXPECT_EQ(qkv8.parts[2].gguf_rope_heads, 0);         // v is not rotated
}

INSTANTIATE_TEST_SUITE_P(Models, Oracle, ::testing::ValuesIn(fixture_models()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace kvscope
