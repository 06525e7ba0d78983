// Bad input found by probing kvscope as an attacker would (issue 14), one test per kind at
// the library level; tests/cli/bad_input.sh holds the command-line side.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "io_test_util.hpp"
#include "kvscope/capture/generate.hpp"
#include "kvscope/capture/loaded_model.hpp"
#include "kvscope/capture/memory_budget.hpp"
#include "kvscope/capture/run.hpp"
#include "kvscope/error.hpp"
#include "kvscope/io/json_file.hpp"
#include "kvscope/io/mapped_file.hpp"
#include "kvscope/io/regular_file.hpp"
#include "kvscope/io/safetensors.hpp"
#include "kvscope/model/config.hpp"
#include "kvscope/printable.hpp"
#include "kvscope/report/bundle.hpp"
#include "kvscope/tokenizer/hf_tokenizer.hpp"
#include "kvscope/tokenizer/utf8.hpp"

namespace kvscope {
namespace {

using kvscope::testing::TempDir;
using kvscope::testing::write_bytes;
using ::testing::HasSubstr;

std::string bad_input(const std::function<void()>& f) {
  try {
    f();
  } catch (const BadInput& e) {
    return e.what();
  }
  return "(no BadInput)";
}

std::string nested(int depth, const std::string& open, const std::string& inner,
                   const std::string& close) {
  std::string s;
  for (int i = 0; i < depth; ++i) s += open;
  s += inner;
  for (int i = 0; i < depth; ++i) s += close;
  return s;
}

// Sets an environment variable for one test.
class ScopedEnvVar {
 public:
  ScopedEnvVar(const char* key, const char* value) : key_(key) {
    if (const char* old = std::getenv(key)) old_ = old;
    ::setenv(key, value, 1);
  }
  ~ScopedEnvVar() {
    if (old_)
      ::setenv(key_, old_->c_str(), 1);
    else
      ::unsetenv(key_);
  }

 private:
  const char* key_;
  std::optional<std::string> old_;
};

const std::string kFixtures = KVSCOPE_FIXTURES_DIR;

// ---- 1. JSON nesting ----

TEST(JsonDepth, DeepNestingIsRefusedBeforeParsingWithTheByteOffset) {
  const std::string deep = nested(100000, "[", "1", "]");
  EXPECT_EQ(bad_input([&] { io::parse_json(deep, "x.json"); }),
            "x.json: JSON nested more than 64 levels deep (at byte 64)");
  // At the limit it parses; brackets inside strings do not count.
  EXPECT_NO_THROW(io::parse_json(nested(64, "[", "1", "]"), "x.json"));
  EXPECT_NO_THROW(io::parse_json("\"" + std::string(1000, '[') + "\\\"[\"", "x.json"));
}

TEST(JsonDepth, TokenizerWithNormalizersNestedDeepIsBadInputNotACrash) {
  const std::string normalizer =
      nested(30000, R"({"type":"Sequence","normalizers":[)", R"({"type":"NFC"})", "]}");
  const std::string tokenizer =
      R"({"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"normalizer":)" + normalizer + "}";
  EXPECT_THAT(
      bad_input([&] { tokenizer::hf_tokenizer_spec_from_json(tokenizer, "", "tokenizer.json"); }),
      HasSubstr("tokenizer.json: JSON nested more than 64 levels deep"));
}

TEST(JsonDepth, SafetensorsHeaderNestedDeepIsBadInput) {
  const std::string header = R"({"__metadata__":)" + nested(5000, R"({"a":)", "1", "}") + "}";
  std::string file(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(file.data(), &n, 8);
  file += header;
  EXPECT_THAT(bad_input([&] { io::SafetensorsFile::from_bytes(file, "deep.safetensors"); }),
              HasSubstr("deep.safetensors: header: JSON nested more than 64 levels deep"));
}

TEST(JsonExcerpt, LongStringsAreCutBeforeTheyAreCopied) {
  const nlohmann::json v = std::string(10'000'000, 'x');
  EXPECT_LE(io::json_excerpt(v).size(), 60u);
}

// ---- 2. only regular files ----

TEST(RegularFile, FifoIsRefusedWithoutBlocking) {
  TempDir dir;
  const std::string fifo = dir / "model.gguf";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(bad_input([&] { io::RegularFile f(fifo); }), fifo + ": not a regular file (a FIFO)");
  EXPECT_EQ(bad_input([&] { io::MappedFile f(fifo); }), fifo + ": not a regular file (a FIFO)");
  EXPECT_EQ(bad_input([&] { io::read_json_file(fifo); }), fifo + ": not a regular file (a FIFO)");
  EXPECT_EQ(bad_input([&] { capture::load_model(fifo, io::HubOptions{}); }),
            fifo + ": not a regular file (a FIFO)");
}

TEST(RegularFile, DeviceAndFolderAreRefused) {
  EXPECT_EQ(bad_input([&] { io::read_regular_file("/dev/zero", 100, "prompt file"); }),
            "/dev/zero: not a regular file (a character device)");
  TempDir dir;
  EXPECT_EQ(bad_input([&] { io::read_json_file(dir.path()); }),
            dir.path() + ": is a folder, not a file");
}

TEST(RegularFile, ReadsHaveASizeLimitThatNamesTheFile) {
  TempDir dir;
  write_bytes(dir / "config.json", std::string(2000, ' ') + "{}");
  EXPECT_EQ(bad_input([&] { io::read_json_file(dir / "config.json", 1000); }),
            dir / "config.json" + ": 2.0 KB is more than the 1.0 KB a JSON file may have");
  EXPECT_EQ(io::read_regular_file(dir / "config.json", 2002, "x").size(), 2002u);
}

// ---- 3. memory budget ----

class MemoryBudget : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = new capture::LoadedModel(
        capture::load_model(kFixtures + "/models/gpt2-a", io::HubOptions{}));
  }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }
  static capture::LoadedModel* model_;
};
capture::LoadedModel* MemoryBudget::model_ = nullptr;

TEST_F(MemoryBudget, EnvironmentSetsTheBudget) {
  ScopedEnvVar env("KVSCOPE_MEMORY_LIMIT", "3M");
  std::string source;
  EXPECT_EQ(capture::memory_budget(&source), 3 << 20);
  EXPECT_EQ(source, "KVSCOPE_MEMORY_LIMIT");
  ScopedEnvVar bad("KVSCOPE_MEMORY_LIMIT", "lots");
  EXPECT_THAT(bad_input([] { capture::memory_budget(); }), HasSubstr("KVSCOPE_MEMORY_LIMIT=lots"));
}

TEST_F(MemoryBudget, AttentionCaptureOverTheBudgetIsRefusedBeforeAllocating) {
  // 40 tokens of gpt2-a: keys and values 122.9 KB, activations 184.3 KB, and attention
  // patterns 2 layers x 4 heads x 40 x 40 x 4 bytes = 51.2 KB.
  const std::vector<int32_t> ids(40, 7);
  ScopedEnvVar env("KVSCOPE_MEMORY_LIMIT", "330K");
  EXPECT_NO_THROW(capture::capture_tokens(*model_, ids, {.attention = false}));
  const std::string msg =
      bad_input([&] { capture::capture_tokens(*model_, ids, {.attention = true}); });
  EXPECT_THAT(msg, HasSubstr("capturing 40 tokens needs"));
  EXPECT_THAT(msg, HasSubstr("attention maps 51.2 KB"));
  EXPECT_THAT(msg, HasSubstr("more than the memory budget of 337.9 KB (KVSCOPE_MEMORY_LIMIT)"));
  EXPECT_THAT(msg, HasSubstr("analyze --attention-layers/--attention-heads"));
}

TEST_F(MemoryBudget, GenerationIsCheckedForItsWholeLengthBeforeTheCacheIsMade) {
  capture::GenerateOptions g;
  g.max_new_tokens = 2147483647;
  ScopedEnvVar env("KVSCOPE_MEMORY_LIMIT", "16K");
  // Capped by the context (64): 62 new tokens after 2, a cache of 64 x 1 KB.
  const std::string msg = bad_input([&] { capture::generate_ids(*model_, {1, 2}, g); });
  EXPECT_THAT(msg, HasSubstr("generating 62 tokens after a prompt of 2 needs"));
  EXPECT_THAT(msg, HasSubstr("cache 65.5 KB"));
  EXPECT_THAT(msg, HasSubstr("generate fewer tokens (generate -n, analyze --generate)"));
}

TEST_F(MemoryBudget, PromptOfMoreBytesThanTheContextCanHoldIsRefusedBeforeTokenizing) {
  const int64_t max = capture::max_prompt_bytes(*model_);
  EXPECT_GT(max, 64);  // the context is 64 tokens
  EXPECT_NO_THROW(capture::check_prompt_bytes(*model_, static_cast<size_t>(max)));
  EXPECT_THAT(bad_input([&] { capture::check_prompt_bytes(*model_, 50'000'000); }),
              HasSubstr("the prompt has 50000000 bytes, more than the model's context length of "
                        "64 tokens can hold"));
  EXPECT_THAT(
      bad_input([&] { capture::capture_prompt(*model_, std::string(50'000'000, 'a'), {}); }),
      HasSubstr("the prompt has 50000000 bytes"));
}

TEST(ReportOptions, RepeatedIndicesAreRefused) {
  report::ReportOptions o;
  o.attn_heads = {0, 1, 0};
  EXPECT_EQ(bad_input([&] { report::validate_options(o, 2, 4); }),
            "attn_heads entry 0 is given more than once");
  o.attn_heads = {};
  o.attn_layers = {1, 1};
  EXPECT_EQ(bad_input([&] { report::validate_options(o, 2, 4); }),
            "attn_layers entry 1 is given more than once");
}

// ---- 6. bad values ----

TEST(BadValues, RopeThetaThatIsInfiniteAsAFloatIsRefused) {
  const nlohmann::json j = nlohmann::json::parse(
      R"({"model_type":"llama","num_hidden_layers":1,"hidden_size":8,"num_attention_heads":2,
          "intermediate_size":16,"vocab_size":10,"rope_theta":1e300})");
  EXPECT_EQ(bad_input([&] { model::config_from_hf_json(j, "config.json"); }),
            "config.json: rope_theta inf must be positive and finite");
}

TEST(BadValues, SpecialTokenIdBeyondInt32DoesNotWrapAround) {
  const std::string tokenizer = R"({
    "model": {"type": "BPE", "vocab": {"a": 0, "<s>": 7}, "merges": []},
    "pre_tokenizer": {"type": "ByteLevel"},
    "post_processor": {"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A"}}],
      "special_tokens": {"<s>": {"id": "<s>", "ids": [4294967303], "tokens": ["<s>"]}}}})";
  EXPECT_THAT(
      bad_input([&] { tokenizer::hf_tokenizer_spec_from_json(tokenizer, "", "tokenizer.json"); }),
      HasSubstr("tokenizer.json: post_processor.special_tokens['<s>'].ids[0]: 4294967303 out of "
                "range"));
}

// ---- 8. one line, control characters escaped ----

TEST(Printable, EscapesControlCharactersAndBoundsLength) {
  EXPECT_EQ(printable("a\nb\x1b[31m\"q\"\\"), "a\\nb\\x1b[31m\\\"q\\\"\\\\");
  EXPECT_EQ(printable(std::string(300, 'x'), 10), std::string(10, 'x') + "...");
  EXPECT_EQ(printable("\xc3\xa9\xc3\xa9", 1), "\xc3\xa9...");  // never half a character
  EXPECT_EQ(one_line("dir\nname: \"bad\"\r\t\x7f"), "dir\\nname: \"bad\"\\r\\t\\x7f");
}

// ---- 9. ids past the tokenizer's vocabulary are never sampled ----

TEST_F(MemoryBudget, PaddedVocabularyIdsAreNeverSampled) {
  // gpt2-a's embedding has 512 rows. The same model with a 256-token byte-level tokenizer is
  // a padded vocabulary: greedy decoding must stay within the 256.
  capture::GenerateOptions g;
  g.max_new_tokens = 60;
  g.stop_at_eos = false;
  const std::vector<int32_t> prompt = {11, 12, 13};
  const capture::GenerationTrace full = capture::generate_ids(*model_, prompt, g);
  bool past = false;
  for (const auto& s : full.steps) past = past || s.token >= 256;
  ASSERT_TRUE(past) << "the test needs a model that picks ids >= 256 when it may";

  tokenizer::TokenizerSpec spec;
  spec.source = "bytes";
  for (const std::string& c : tokenizer::byte_level_chars()) spec.vocab.push_back(c);
  capture::LoadedModel padded = capture::load_model(kFixtures + "/models/gpt2-a", io::HubOptions{});
  padded.tokenizer = tokenizer::from_spec(spec);
  ASSERT_EQ(padded.tokenizer.vocab_size(), 256);
  const capture::GenerationTrace t = capture::generate_ids(padded, prompt, g);
  ASSERT_EQ(t.steps.size(), 60u);
  for (const auto& s : t.steps) EXPECT_LT(s.token, 256);
}

}  // namespace
}  // namespace kvscope
