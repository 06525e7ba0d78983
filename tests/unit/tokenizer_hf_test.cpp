// Tokenizers loaded from Hugging Face folders against ids and decodes that the `tokenizers`
// library produced (tests/oracle/make_tokenizer_fixtures.py) for every string of corpus.json.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "kvscope/tokenizer/hf_tokenizer.hpp"
#include "kvscope/tokenizer/tokenizer.hpp"

namespace kvscope::tokenizer {
namespace {

using nlohmann::json;

const std::string kDir = std::string(KVSCOPE_FIXTURES_DIR) + "/tokenizer/";

json read_json(const std::string& path) {
  std::ifstream f(path);
  EXPECT_TRUE(f.good()) << path;
  std::stringstream ss;
  ss << f.rdbuf();
  return json::parse(ss.str());
}

struct Case {
  const char* folder;    // tokenizer folder under fixtures/tokenizer
  const char* expected;  // folder holding expected.json
  bool exact_round_trip;
};

class TokenizerMatchesHf : public ::testing::TestWithParam<Case> {};

TEST_P(TokenizerMatchesHf, EveryCorpusStringEncodesAndDecodesLikeTokenizers) {
  const Case c = GetParam();
  const Tokenizer tok = load_hf_tokenizer(kDir + c.folder);
  const json corpus = read_json(kDir + "corpus.json");
  const json expected = read_json(kDir + c.expected + "/expected.json");
  EXPECT_EQ(tok.vocab_size(), expected["vocab_size"].get<int32_t>());
  const json& cases = expected["cases"];
  ASSERT_EQ(cases.size(), corpus.size());
  int failures = 0;
  for (size_t i = 0; i < corpus.size() && failures < 10; ++i) {
    const std::string text = corpus[i].get<std::string>();
    const json& e = cases[i];
    const auto ids = tok.encode(text, false);
    const auto ids_sp = tok.encode(text, true);
    const bool ok = ids == e["ids"].get<std::vector<int32_t>>() &&
                    ids_sp == e["ids_special"].get<std::vector<int32_t>>();
    EXPECT_TRUE(ok) << "case " << i << " '" << text << "'\n got " << json(ids).dump() << "\nwant "
                    << e["ids"].dump();
    const auto want_ids = e["ids"].get<std::vector<int32_t>>();
    const auto want_sp = e["ids_special"].get<std::vector<int32_t>>();
    EXPECT_EQ(tok.decode(want_ids, false), e["decode"].get<std::string>()) << "case " << i;
    EXPECT_EQ(tok.decode(want_sp, false), e["decode_special"].get<std::string>()) << "case " << i;
    EXPECT_EQ(tok.decode(want_sp, true), e["decode_skip"].get<std::string>()) << "case " << i;
    if (c.exact_round_trip) {
      EXPECT_EQ(tok.decode(ids, false), text) << "case " << i;
    }
    if (!ok) ++failures;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TokenizerMatchesHf,
                         ::testing::Values(Case{"gpt2", "gpt2", true},
                                           Case{"gpt2_classic", "gpt2", true},
                                           Case{"llama3", "llama3", true},
                                           Case{"qwen2", "qwen2", false},
                                           Case{"llama2", "llama2", false},
                                           Case{"llama2_metaspace", "llama2_metaspace", false},
                                           Case{"smollm2", "smollm2", true}),
                         [](const auto& info) { return std::string(info.param.folder); });

}  // namespace
}  // namespace kvscope::tokenizer
