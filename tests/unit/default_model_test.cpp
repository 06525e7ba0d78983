// The default model (SmolLM2-135M-Instruct, Q4_1 GGUF) against transformers loading the same
// GGUF file (tests/oracle/make_default_model_fixture.py). scripts/setup.sh installs the
// model; without it these tests are skipped.
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

const fs::path kModel = fs::path(KVSCOPE_SOURCE_DIR) / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf";
const fs::path kFixture = fs::path(KVSCOPE_FIXTURES_DIR) / "default_model";

class DefaultModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kModel)) return;
    model_ = new capture::LoadedModel(capture::load_model(kModel.string(), io::HubOptions{}));
    expected_ = new nlohmann::json(io::read_json_file((kFixture / "expected.json").string()));
  }
  static void TearDownTestSuite() {
    delete model_;
    delete expected_;
    model_ = nullptr;
    expected_ = nullptr;
  }
  void SetUp() override {
    if (!model_) GTEST_SKIP() << "default model not installed (run scripts/setup.sh)";
  }
  static capture::LoadedModel* model_;
  static nlohmann::json* expected_;
};
capture::LoadedModel* DefaultModel::model_ = nullptr;
nlohmann::json* DefaultModel::expected_ = nullptr;

TEST_F(DefaultModel, TokenizerMatchesTransformers) {
  const auto& e = *expected_;
  EXPECT_EQ(model_->tokenizer.encode(e["prompt"].get<std::string>(), true),
            e["input_ids"].get<std::vector<int32_t>>());
}

TEST_F(DefaultModel, LogitsTopOneAndProbesMatchTransformers) {
  const auto& e = *expected_;
  const auto ids = e["input_ids"].get<std::vector<int32_t>>();
  capture::Capture c = capture::capture_tokens(*model_, ids, {.attention = true, .logits = true});
  const int V = static_cast<int>(c.logits.dim(1));
  const auto probes = e["probe_ids"].get<std::vector<int>>();
  double max_diff = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    const auto& pos = e["positions"][i];
    const float* row = &c.logits.data[i * static_cast<size_t>(V)];
    const int top = static_cast<int>(std::max_element(row, row + V) - row);
    EXPECT_EQ(top, pos["top_ids"][0].get<int>()) << "position " << i;
    const auto top_ids = pos["top_ids"].get<std::vector<int>>();
    const auto top_logits = pos["top_logits"].get<std::vector<double>>();
    for (size_t k = 0; k < top_ids.size(); ++k)
      max_diff = std::max(max_diff, std::fabs(row[top_ids[k]] - top_logits[k]));
    const auto probe_logits = pos["probe_logits"].get<std::vector<double>>();
    for (size_t k = 0; k < probes.size(); ++k) max_diff = std::max(max_diff, std::fabs(row[probes[k]] - probe_logits[k]));
  }
  const double range = e["logit_range"];
  RecordProperty("max_abs_logit_diff", std::to_string(max_diff));
  std::printf("default model: max |logit difference| %.3g over %zu checked logits per position, logit range %.2f (ratio %.2g)\n",
              max_diff, probes.size() + 10, range, max_diff / range);
  EXPECT_LE(max_diff, 1e-3 * range);

  io::SafetensorsFile want((kFixture / e["expected_file"].get<std::string>()).string());
  for (const io::RawTensor& w : want.tensors()) {
    // "blocks.{l}.attn.{k,k_pre_rope,v,pattern}"
    const int l = std::stoi(w.name.substr(7));
    const auto& L = c.layers[static_cast<size_t>(l)];
    const std::string leaf = w.name.substr(w.name.find(".attn.") + 6);
    const Tensor& got = leaf == "k" ? L.k : leaf == "k_pre_rope" ? L.k_pre_rope : leaf == "v" ? L.v : L.pattern;
    ASSERT_EQ(got.shape, w.shape) << w.name;
    std::vector<float> want_values = io::to_f32(w);
    double d = 0, scale = 0;
    for (size_t i = 0; i < want_values.size(); ++i) {
      d = std::max(d, static_cast<double>(std::fabs(got.data[i] - want_values[i])));
      scale = std::max(scale, static_cast<double>(std::fabs(want_values[i])));
    }
    EXPECT_LE(d, 1e-4 * std::max(1.0, scale)) << w.name << " (max |value| " << scale << ")";
  }
}

TEST_F(DefaultModel, GreedyContinuationMatchesTransformers) {
  const auto& e = *expected_;
  capture::GenerateOptions g;
  g.max_new_tokens = e["greedy_new_tokens"];
  g.stop_at_eos = false;
  capture::GenerationTrace t = capture::generate_ids(*model_, e["input_ids"].get<std::vector<int32_t>>(), g);
  std::vector<int32_t> got;
  for (const auto& s : t.steps) got.push_back(s.token);
  EXPECT_EQ(got, e["greedy_ids"].get<std::vector<int32_t>>());
  EXPECT_EQ(t.text, e["greedy_text"].get<std::string>());
}

}  // namespace
}  // namespace kvscope
