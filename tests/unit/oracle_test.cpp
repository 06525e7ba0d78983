// Our engine against Hugging Face transformers: the tiny random-weight checkpoints and the
// expected tensors that tests/oracle/make_model_fixtures.py saved.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

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

// Largest |a - b| over a captured tensor and the expected one of the same shape.
double max_abs_diff(const Tensor& got, const io::RawTensor& want) {
  EXPECT_EQ(got.shape, want.shape) << want.name;
  if (got.shape != want.shape) return INFINITY;
  std::vector<float> w = io::to_f32(want);
  double m = 0;
  for (size_t i = 0; i < w.size(); ++i)
    m = std::max(m, static_cast<double>(std::fabs(got.data[i] - w[i])));
  return m;
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
        EXPECT_LE(max_abs_diff(*t, *w), kTol) << name;
        ++checked;
      }
    }
    const io::RawTensor* logits = want.find("logits");
    ASSERT_NE(logits, nullptr);
    EXPECT_LE(max_abs_diff(c.logits, *logits), kTol) << "logits";
    EXPECT_GE(checked, 3 * c.n_layer);

    capture::GenerateOptions g;
    g.max_new_tokens = p["greedy_new_tokens"];
    g.stop_at_eos = false;  // the fixtures generate exactly greedy_new_tokens
    capture::GenerationTrace t = capture::generate_ids(m, ids, g);
    std::vector<int32_t> got;
    for (const auto& s : t.steps) got.push_back(s.token);
    EXPECT_EQ(got, p["greedy_ids"].get<std::vector<int32_t>>()) << "greedy continuation";
  }
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
