// GGUF tokenizer metadata -> Tokenizer. The arrays are rebuilt from the fixtures'
// tokenizer.json (as llama.cpp's converter writes them), so ids must equal what HF
// `tokenizers` gave; the real default model is checked too when present.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "kvscope/error.hpp"
#include "kvscope/tokenizer/gguf_tokenizer.hpp"

namespace kvscope::tokenizer {
namespace {

using nlohmann::json;

const std::string kDir = std::string(KVSCOPE_FIXTURES_DIR) + "/tokenizer/";

json read_json(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return json::parse(ss.str());
}

// tokenizer.ggml.* arrays as the GGUF converter derives them from a tokenizer.json.
GgufTokenizerData data_from_hf(const std::string& name) {
  const json j = read_json(kDir + name + "/tokenizer.json");
  GgufTokenizerData d;
  std::map<int64_t, std::string> by_id;
  for (auto it = j["model"]["vocab"].begin(); it != j["model"]["vocab"].end(); ++it) {
    by_id[it.value().get<int64_t>()] = it.key();
  }
  for (const auto& [id, tok] : by_id) d.tokens.push_back(tok);
  d.token_types.assign(d.tokens.size(), 1);
  for (const json& a : j["added_tokens"]) d.token_types[a["id"].get<size_t>()] = 3;
  std::map<std::string, size_t> merge_rank;
  for (const json& m : j["model"]["merges"]) {
    const std::string s = m.is_string() ? m.get<std::string>()
                                        : m[0].get<std::string>() + " " + m[1].get<std::string>();
    merge_rank[s.substr(0, s.find(' ')) + s.substr(s.find(' ') + 1)] = d.merges.size();
    d.merges.push_back(s);
  }
  // SentencePiece scores: a token made by an earlier merge scores higher.
  for (const std::string& t : d.tokens) {
    auto it = merge_rank.find(t);
    d.scores.push_back(it == merge_rank.end() ? -1e9f : -static_cast<float>(it->second));
  }
  return d;
}

int count_mismatches(const Tokenizer& tok, const std::string& expected_name, bool special) {
  const json corpus = read_json(kDir + "corpus.json");
  const json cases = read_json(kDir + expected_name + "/expected.json")["cases"];
  int bad = 0;
  for (size_t i = 0; i < corpus.size(); ++i) {
    const auto ids = tok.encode(corpus[i].get<std::string>(), special);
    const auto want = cases[i][special ? "ids_special" : "ids"].get<std::vector<int32_t>>();
    if (ids != want) {
      ADD_FAILURE() << "case " << i << " '" << corpus[i].get<std::string>() << "'";
      ++bad;
    }
  }
  return bad;
}

TEST(GgufTokenizer, SmolLmPreTokenizerMatchesHfDigitsThenByteLevel) {
  GgufTokenizerData d = data_from_hf("smollm2");
  d.model = "gpt2";
  d.pre = "smollm";
  d.scores.clear();
  d.bos_id = 1;
  d.eos_id = 2;
  d.add_bos = false;
  const Tokenizer tok = from_spec(gguf_tokenizer_spec(d, "test.gguf"));
  EXPECT_EQ(tok.vocab_size(), 49152);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_TRUE(tok.is_special(2));
  EXPECT_EQ(count_mismatches(tok, "smollm2", false), 0);
  EXPECT_EQ(count_mismatches(tok, "smollm2", true), 0);
}

TEST(GgufTokenizer, Gpt2AndLlama3PreTokenizersMatchHf) {
  for (const auto& [name, pre] : {std::pair{"gpt2", "gpt-2"}, std::pair{"llama3", "llama-bpe"},
                                  std::pair{"qwen2", "qwen2"}}) {
    SCOPED_TRACE(name);
    GgufTokenizerData d = data_from_hf(name);
    d.model = "gpt2";
    d.pre = pre;
    d.scores.clear();
    TokenizerSpec spec = gguf_tokenizer_spec(d, "test.gguf");
    // What GGUF leaves out of these fixtures: Llama 3's whole-word lookup, Qwen2's NFC.
    spec.ignore_merges = std::string(name) == "llama3";
    if (std::string(name) == "qwen2")
      spec.normalizers.push_back({NormalizerStep::Type::Nfc, "", ""});
    EXPECT_EQ(count_mismatches(from_spec(spec), name, false), 0);
  }
}

TEST(GgufTokenizer, LlamaScoresWithByteFallbackMatchHfMerges) {
  GgufTokenizerData d = data_from_hf("llama2");
  d.model = "llama";
  d.merges.clear();
  for (size_t id = 3; id < 259; ++id) d.token_types[id] = 6;  // <0x00>..<0xFF>
  d.bos_id = 1;
  d.eos_id = 2;
  d.unk_id = 0;
  const Tokenizer tok = from_spec(gguf_tokenizer_spec(d, "test.gguf"));
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(count_mismatches(tok, "llama2", true), 0);
  const std::vector<int32_t> ids = tok.encode("Hello 😀 world", true);
  EXPECT_EQ(tok.decode(ids, true), "Hello 😀 world");
}

TEST(GgufTokenizer, DefaultModelFileMatchesHf) {
  const std::string path =
      std::string(KVSCOPE_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "default model not present";
  const Tokenizer tok = load_gguf_tokenizer(io::GgufFile(path));
  EXPECT_EQ(tok.vocab_size(), 49152);
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_EQ(count_mismatches(tok, "smollm2", true), 0);
}

TEST(GgufTokenizer, RejectsInconsistentMetadata) {
  GgufTokenizerData d;
  d.model = "gpt2";
  d.pre = "gpt-2";
  d.tokens = {"a", "b", "ab"};
  d.merges = {"a b"};
  d.token_types = {1, 1};
  EXPECT_THROW(gguf_tokenizer_spec(d, "x.gguf"), BadInput);  // 2 types for 3 tokens
  d.token_types = {1, 1, 1};
  d.bos_id = 7;
  try {
    gguf_tokenizer_spec(d, "x.gguf");
    FAIL() << "bos id out of range accepted";
  } catch (const BadInput& e) {
    EXPECT_NE(std::string(e.what()).find("bos_token_id 7"), std::string::npos) << e.what();
  }
  d.bos_id.reset();
  d.merges = {"a  b"};
  EXPECT_THROW(from_spec(gguf_tokenizer_spec(d, "x.gguf")), BadInput);
  d.merges = {"a c"};
  EXPECT_THROW(from_spec(gguf_tokenizer_spec(d, "x.gguf")), BadInput);  // 'c' not in vocab
  d.merges = {"a b"};
  d.pre = "no-such-pre";
  EXPECT_THROW(gguf_tokenizer_spec(d, "x.gguf"), Unsupported);
  d.pre = "gpt-2";
  d.model = "bert";
  EXPECT_THROW(gguf_tokenizer_spec(d, "x.gguf"), Unsupported);
  d.model = "llama";
  d.scores = {0.0f};
  EXPECT_THROW(gguf_tokenizer_spec(d, "x.gguf"), BadInput);  // 1 score for 3 tokens
}

}  // namespace
}  // namespace kvscope::tokenizer
