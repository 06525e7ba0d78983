// The real Gemma 3 270M (Q4_K_M GGUF) against transformers loading the same file
// (tests/oracle/make_gemma_model_fixture.py, which first checks that transformers' loader maps
// the file's norms right). scripts/fetch_gemma_model.sh installs the model; without it these
// tests are skipped.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "kvscope/capture/generate.hpp"
#include "kvscope/capture/run.hpp"
#include "kvscope/io/json_file.hpp"

namespace kvscope {
namespace {

namespace fs = std::filesystem;

const fs::path kModel = fs::path(KVSCOPE_SOURCE_DIR) / "models" / "gemma-3-270m-q4_k_m.gguf";
const fs::path kFixture = fs::path(KVSCOPE_FIXTURES_DIR) / "gemma_model" / "expected.json";

class GemmaModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kModel)) return;
    model_ = new capture::LoadedModel(capture::load_model(kModel.string(), io::HubOptions{}));
    expected_ = new nlohmann::json(io::read_json_file(kFixture.string()));
  }
  static void TearDownTestSuite() {
    delete model_;
    delete expected_;
    model_ = nullptr;
    expected_ = nullptr;
  }
  void SetUp() override {
    if (!model_) GTEST_SKIP() << "gemma3-270m not installed (run scripts/setup.sh)";
  }
  static capture::LoadedModel* model_;
  static nlohmann::json* expected_;
};
capture::LoadedModel* GemmaModel::model_ = nullptr;
nlohmann::json* GemmaModel::expected_ = nullptr;

TEST_F(GemmaModel, ConfigIsGemma3WithFiveSlidingLayersInSix) {
  const model::Config& c = model_->model.config();
  EXPECT_EQ(c.family, model::Family::Gemma3);
  EXPECT_EQ(c.n_layer, 18);
  EXPECT_EQ(c.head_dim, 256);
  EXPECT_EQ(c.vocab_size, 262144);
  for (int l = 0; l < c.n_layer; ++l) EXPECT_EQ(c.layer(l).window, l % 6 == 5 ? 0 : 512) << l;
  // The file's norms have Gemma's + 1 folded in (llama.cpp's converter): nothing is added.
  EXPECT_EQ(c.norm_weight_offset, 0.0f);
}

TEST_F(GemmaModel, TokenizerMatchesTransformers) {
  const auto& e = *expected_;
  EXPECT_EQ(model_->tokenizer.encode(e["prompt"].get<std::string>(), true),
            e["input_ids"].get<std::vector<int32_t>>());
  if (!e.contains("corpus")) return;
  int agree = 0, total = 0;
  for (const auto& item : e["corpus"]) {
    const std::string text = item["text"];
    const auto want = item["ids"].get<std::vector<int32_t>>();
    const auto got = model_->tokenizer.encode(text, true);
    ++total;
    if (got == want)
      ++agree;
    else
      ADD_FAILURE() << "ids differ for " << nlohmann::json(text).dump();
  }
  std::printf("gemma3-270m tokenizer: %d of %d corpus strings as transformers\n", agree, total);
}

TEST_F(GemmaModel, LogitsTopOneMatchTransformersAtEveryPosition) {
  const auto& e = *expected_;
  const auto ids = e["input_ids"].get<std::vector<int32_t>>();
  capture::Capture c = capture::capture_tokens(*model_, ids, {.logits = true});
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
    for (size_t k = 0; k < probes.size(); ++k)
      max_diff = std::max(max_diff, std::fabs(row[probes[k]] - probe_logits[k]));
  }
  const double range = e["logit_range"];
  RecordProperty("max_abs_logit_diff", std::to_string(max_diff));
  std::printf("gemma3-270m: max |logit difference| %.3g, logit range %.2f (ratio %.2g)\n", max_diff,
              range, max_diff / range);
  EXPECT_LE(max_diff, 1e-3 * range);
}

TEST_F(GemmaModel, GreedyContinuationMatchesTransformers) {
  const auto& e = *expected_;
  capture::GenerateOptions g;
  g.max_new_tokens = e["greedy_new_tokens"];
  g.stop_at_eos = false;
  capture::GenerationTrace t =
      capture::generate_ids(*model_, e["input_ids"].get<std::vector<int32_t>>(), g);
  std::vector<int32_t> got;
  for (const auto& s : t.steps) got.push_back(s.token);
  EXPECT_EQ(got, e["greedy_ids"].get<std::vector<int32_t>>());
  EXPECT_EQ(t.text, e["greedy_text"].get<std::string>());
}

}  // namespace
}  // namespace kvscope
