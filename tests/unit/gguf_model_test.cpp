// Models from GGUF files run exactly as from Hugging Face folders: the tiny fixtures converted
// the way llama.cpp lays them out (tests/oracle/make_gguf_model_fixtures.py), checked against
// what transformers computes for the same (dequantized) weights.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "expected_capture.hpp"
#include "kvscope/capture/generate.hpp"
#include "kvscope/capture/names.hpp"
#include "kvscope/capture/run.hpp"
#include "kvscope/error.hpp"
#include "kvscope/io/json_file.hpp"
#include "kvscope/io/safetensors.hpp"

namespace kvscope {
namespace {

namespace fs = std::filesystem;

constexpr double kTol = 1e-4;  // absolute, as for the Hugging Face fixtures

const fs::path kFixtures = KVSCOPE_FIXTURES_DIR;
const fs::path kDir = kFixtures / "gguf_models";

std::vector<std::string> gguf_fixtures() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(kDir))
    if (fs::exists(e.path() / "expected.json")) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

io::HubOptions offline() {
  io::HubOptions hub;
  hub.offline = true;
  return hub;
}

class GgufModelFile : public ::testing::TestWithParam<std::string> {
 protected:
  fs::path folder() const { return kDir / GetParam(); }
  nlohmann::json expected() const {
    return io::read_json_file((folder() / "expected.json").string());
  }
  std::string gguf_path() const {
    return (folder() / expected()["gguf_file"].get<std::string>()).string();
  }
};

TEST_P(GgufModelFile, CaptureMatchesTransformers) {
  const nlohmann::json e = expected();
  const capture::LoadedModel m = capture::load_model(gguf_path(), offline());
  EXPECT_EQ(m.format, "gguf");
  for (const auto& p : e["prompts"]) {
    SCOPED_TRACE(GetParam() + ": " + p["text"].get<std::string>());
    const std::vector<int32_t> ids = p["input_ids"].get<std::vector<int32_t>>();
    const capture::Capture c = capture::capture_tokens(m, ids, {.attention = true, .logits = true});
    const io::SafetensorsFile want((kFixtures / p["expected_file"].get<std::string>()).string());
    EXPECT_EQ(c.has_rope, e["arch"] != "gpt2");
    const int checked = testing::expect_capture_matches(c, want, kTol);
    EXPECT_EQ(checked, (c.has_rope ? 4 : 3) * c.n_layer + 1);
  }
}

// The quantized files are read as stored (not, say, skipped for a same-named F32 tensor).
TEST_P(GgufModelFile, ReportsTheStoredTensorTypes) {
  const capture::LoadedModel m = capture::load_model(gguf_path(), offline());
  const std::map<std::string, int64_t> want =
      expected()["tensor_types"].get<std::map<std::string, int64_t>>();
  EXPECT_EQ(m.tensor_types, want);
  EXPECT_EQ(m.files, std::vector<std::string>{gguf_path()});
}

TEST_P(GgufModelFile, TokenizerFromMetadataMatchesTransformers) {
  const capture::LoadedModel m = capture::load_model(gguf_path(), offline());
  const nlohmann::json e = expected();
  for (const auto& p : e["prompts"])
    EXPECT_EQ(m.tokenizer.encode(p["text"].get<std::string>(), true),
              p["input_ids"].get<std::vector<int32_t>>())
        << GetParam() << ": " << p["text"];
}

// The tokenizer rebuilt from GGUF metadata against the one read from the same model's
// tokenizer.json (itself checked against Hugging Face `tokenizers` elsewhere), over the
// tokenizer corpus: whitespace, digits, contractions, non-ASCII.
TEST_P(GgufModelFile, TokenizerFromMetadataMatchesTokenizerJsonOnCorpus) {
  const nlohmann::json e = expected();
  const capture::LoadedModel g = capture::load_model(gguf_path(), offline());
  const capture::LoadedModel h = capture::load_model(
      (kFixtures / "models" / e["hf_fixture"].get<std::string>()).string(), offline());
  const nlohmann::json corpus =
      io::read_json_file((kFixtures / "tokenizer" / "corpus.json").string());
  int mismatches = 0, compared = 0;
  for (const auto& t : corpus) {
    const std::string text = t.get<std::string>();
    for (bool special : {false, true}) {
      ++compared;
      if (g.tokenizer.encode(text, special) != h.tokenizer.encode(text, special) &&
          ++mismatches <= 5)
        ADD_FAILURE() << GetParam() << ": ids differ for " << nlohmann::json(text).dump()
                      << (special ? " (with special tokens)" : "");
    }
  }
  EXPECT_EQ(mismatches, 0);
  EXPECT_EQ(compared, 2 * static_cast<int>(corpus.size()));
}

// UNKNOWN-typed tokens and NFC, which GGUF metadata carries only implicitly.
TEST(GgufModelTokenizerGap, UnknownTypedTokenIsMatchedAsSpecial) {
  const capture::LoadedModel m =
      capture::load_model((kDir / "llama-gqa" / "llama-gqa.gguf").string(), offline());
  const std::vector<int32_t> ids = m.tokenizer.encode("a <unk> b", false);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 0), 1);
}

TEST(GgufModelTokenizerGap, Qwen2NormalizesToNfc) {
  const capture::LoadedModel m =
      capture::load_model((kDir / "qwen2" / "qwen2.gguf").string(), offline());
  EXPECT_EQ(m.tokenizer.encode("cafe\xcc\x81", false), m.tokenizer.encode("caf\xc3\xa9", false));
}

TEST_P(GgufModelFile, GreedyIdsMatchTransformers) {
  const capture::LoadedModel m = capture::load_model(gguf_path(), offline());
  const nlohmann::json e = expected();
  for (const auto& p : e["prompts"]) {
    capture::GenerateOptions g;
    g.max_new_tokens = p["greedy_new_tokens"];
    g.stop_at_eos = false;  // the fixtures generate exactly greedy_new_tokens
    const capture::GenerationTrace t =
        capture::generate_ids(m, p["input_ids"].get<std::vector<int32_t>>(), g);
    std::vector<int32_t> got;
    for (const auto& s : t.steps) got.push_back(s.token);
    EXPECT_EQ(got, p["greedy_ids"].get<std::vector<int32_t>>()) << GetParam() << ": " << p["text"];
  }
}

INSTANTIATE_TEST_SUITE_P(GgufModel, GgufModelFile, ::testing::ValuesIn(gguf_fixtures()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

// Every fixture the script writes is found, so a lost folder cannot pass silently.
TEST(GgufModelFixtures, AllConversionsArePresent) {
  EXPECT_EQ(gguf_fixtures(),
            (std::vector<std::string>{"gpt2-a", "gpt2-a-q8_0", "llama-gqa", "llama-gqa-q8_0",
                                      "llama3-scaled", "qwen2", "qwen2-q8_0", "qwen3-tiny"}));
}

// What the loader says for each refused file: kind of error and the words that locate it.
template <typename E>
std::string error_of(const std::string& path) {
  try {
    capture::load_model(path, offline());
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << path << ": loaded, or threw another error type";
  return {};
}

TEST(GgufModelRefusal, UnknownArchitectureIsUnsupportedAndNamed) {
  const std::string path = (kDir / "bad" / "mamba.gguf").string();
  const std::string msg = error_of<Unsupported>(path);
  EXPECT_NE(msg.find("mamba.gguf"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unsupported architecture 'mamba'; supported: "), std::string::npos) << msg;
}

TEST(GgufModelRefusal, TensorShapeDisagreeingWithMetadataIsBadInputWithShapes) {
  // head_count_kv 2 of head_dim 4 calls for attn_k [8, 16]; the file holds [16, 16].
  const std::string msg = error_of<BadInput>((kDir / "bad" / "kv_heads_mismatch.gguf").string());
  EXPECT_NE(msg.find("kv_heads_mismatch.gguf"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'blk.0.attn_k.weight'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[16, 16]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[8, 16]"), std::string::npos) << msg;
}

}  // namespace
}  // namespace kvscope
