// Tokenizer behaviour beyond the corpus comparison: labels and bytes of tricky tokens,
// streaming decode, added-token stripping, loader errors, UTF-8 helpers and speed.
#include "kvscope/tokenizer/tokenizer.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kvscope/error.hpp"
#include "kvscope/tokenizer/hf_tokenizer.hpp"
#include "kvscope/tokenizer/utf8.hpp"

namespace kvscope::tokenizer {
namespace {

const std::string kDir = std::string(KVSCOPE_FIXTURES_DIR) + "/tokenizer/";

const Tokenizer& gpt2() {
  static const Tokenizer t = load_hf_tokenizer(kDir + "gpt2");
  return t;
}
const Tokenizer& llama2() {
  static const Tokenizer t = load_hf_tokenizer(kDir + "llama2");
  return t;
}
const Tokenizer& smollm2() {
  static const Tokenizer t = load_hf_tokenizer(kDir + "smollm2");
  return t;
}

int32_t id_of(const Tokenizer& t, std::string_view token) {
  auto id = t.token_to_id(token);
  EXPECT_TRUE(id.has_value()) << token;
  return id.value_or(0);
}

TEST(TokenizerLabels, ByteLevelSpaceNewlineTabAndPartialBytes) {
  const Tokenizer& t = gpt2();
  EXPECT_EQ(t.token_label(id_of(t, "Ġthe")), "␣the");
  EXPECT_EQ(t.token_bytes(id_of(t, "Ġthe")), " the");
  EXPECT_EQ(t.token_label(id_of(t, "Ċ")), "↵");
  EXPECT_EQ(t.token_label(id_of(t, "ĉ")), "→");
  EXPECT_EQ(t.token_label(id_of(t, "č")), "␍");
  EXPECT_EQ(t.token_label(id_of(t, "Ā")), "<0x00>");  // byte 0
  // 'â' stands for byte 0xE2, the first byte of '—' and '€': not a character on its own.
  EXPECT_EQ(t.token_bytes(id_of(t, "â")), "\xE2");
  EXPECT_EQ(t.token_label(id_of(t, "â")), "<0xE2>");
  EXPECT_EQ(t.token_label(0), "<|endoftext|>");
  EXPECT_TRUE(t.is_special(0));
  EXPECT_FALSE(t.is_special(id_of(t, "Ġthe")));
}

TEST(TokenizerLabels, SentencePieceMetaspaceAndByteTokens) {
  const Tokenizer& t = llama2();
  EXPECT_EQ(t.token_label(id_of(t, "▁the")), "␣the");
  EXPECT_EQ(t.token_bytes(id_of(t, "▁the")), " the");
  EXPECT_EQ(t.token_bytes(id_of(t, "<0x0A>")), "\n");
  EXPECT_EQ(t.token_label(id_of(t, "<0x0A>")), "↵");
  EXPECT_EQ(t.token_label(id_of(t, "<0xF0>")), "<0xF0>");
  EXPECT_EQ(t.token_label(1), "<s>");
  EXPECT_EQ(t.bos_id(), 1);
  EXPECT_EQ(t.eos_id(), 2);
  EXPECT_EQ(t.kind(), TokenizerKind::SentencePieceBpe);
}

TEST(TokenizerLabels, IdOutOfRangeIsBadInput) {
  EXPECT_THROW(gpt2().token_label(gpt2().vocab_size()), BadInput);
  EXPECT_THROW(gpt2().token_bytes(-1), BadInput);
  const std::vector<int32_t> ids{5, 1 << 30};
  EXPECT_THROW(gpt2().decode(ids), BadInput);
}

TEST(TokenizerDecode, PartialUtf8BecomesReplacementCharacter) {
  const Tokenizer& t = gpt2();
  const std::vector<int32_t> ids{id_of(t, "a"), id_of(t, "â"), id_of(t, "b")};
  EXPECT_EQ(t.decode(ids),
            "a\xEF\xBF\xBD"
            "b");
}

TEST(TokenizerEncode, InvalidUtf8IsBadInput) {
  EXPECT_THROW(gpt2().encode("ok \xC3("), BadInput);
  EXPECT_THROW(gpt2().encode("\xED\xA0\x80"), BadInput);  // a UTF-16 surrogate
}

// Collects what a StreamDecoder emits token by token.
std::vector<std::string> stream(const Tokenizer& t, const std::vector<int32_t>& ids,
                                std::string& all) {
  StreamDecoder d(t);
  std::vector<std::string> parts;
  for (int32_t id : ids) {
    parts.push_back(d.push(id));
    all += parts.back();
  }
  all += d.flush();
  return parts;
}

TEST(TokenizerStream, EmitsOnlyCompleteCharacters) {
  for (const Tokenizer* t : {&gpt2(), &llama2(), &smollm2()}) {
    const std::string text = "Hello 😀 world 东京 — ok\n";
    const std::vector<int32_t> ids = t->encode(text, true);
    std::string all;
    for (const std::string& part : stream(*t, ids, all)) {
      EXPECT_EQ(utf8_first_invalid(part), part.size()) << part;
    }
    EXPECT_EQ(all, text);
    EXPECT_EQ(all, t->decode(ids, true));
  }
}

TEST(TokenizerStream, HoldsBackBytesOfOneEmoji) {
  const Tokenizer& t = llama2();  // 😀 is not in this vocabulary: four byte tokens
  const std::vector<int32_t> ids{id_of(t, "<0xF0>"), id_of(t, "<0x9F>"), id_of(t, "<0x98>"),
                                 id_of(t, "<0x80>")};
  StreamDecoder d(t);
  EXPECT_EQ(d.push(ids[0]), "");
  EXPECT_EQ(d.push(ids[1]), "");
  EXPECT_EQ(d.push(ids[2]), "");
  EXPECT_EQ(d.push(ids[3]), "😀");
  EXPECT_EQ(d.push(ids[0]), "");
  EXPECT_EQ(d.flush(), "\xEF\xBF\xBD");  // an unfinished character at the end
  EXPECT_EQ(d.flush(), "");
}

TEST(TokenizerStream, DropsSentencePieceLeadingSpaceOnce) {
  const Tokenizer& t = llama2();
  StreamDecoder d(t);
  EXPECT_EQ(d.push(1), "");  // <s>, skipped
  EXPECT_EQ(d.push(id_of(t, "▁the")), "the");
  EXPECT_EQ(d.push(id_of(t, "▁the")), " the");
}

TokenizerSpec tiny_byte_level(bool lstrip, bool rstrip) {
  TokenizerSpec s;
  s.source = "tiny";
  for (const std::string& c : byte_level_chars()) s.vocab.push_back(c);
  s.vocab.push_back("ab");
  s.merges = {{"a", "b"}};
  s.added_tokens.push_back({257, "<m>", true, lstrip, rstrip});
  s.pre_tokenizers.push_back({});
  s.pre_tokenizers.back().pattern = kGpt2Pattern;
  return s;
}

TEST(TokenizerAddedTokens, LstripAndRstripSwallowNeighbouringSpaces) {
  const int32_t a = 'a', b = 'b';  // ids are bytes below 256 in this vocab
  ASSERT_EQ(byte_level_chars()[' '], "Ġ");
  EXPECT_EQ(from_spec(tiny_byte_level(false, false)).encode("ab <m> b"),
            (std::vector<int32_t>{256, ' ', 257, ' ', b}));
  EXPECT_EQ(from_spec(tiny_byte_level(true, false)).encode("ab <m> b"),
            (std::vector<int32_t>{256, 257, ' ', b}));
  EXPECT_EQ(from_spec(tiny_byte_level(true, true)).encode("a  <m>  b"),
            (std::vector<int32_t>{a, 257, b}));
}

TEST(TokenizerDecode, IdOutOfRangeIsBadInputWithoutTheByteFallbackDecoder) {
  // Found by fuzz/tokenizer_fuzz: without the ByteFallback decoder, decode looked the id up
  // in its byte-token table before checking its range.
  TokenizerSpec s = tiny_byte_level(false, false);
  s.kind = TokenizerKind::SentencePieceBpe;
  s.pre_tokenizers.clear();
  s.decode_byte_fallback = false;
  const Tokenizer t = from_spec(s);
  for (const int32_t bad : {t.vocab_size(), -1, 1 << 30}) {
    const std::vector<int32_t> one{bad};
    EXPECT_THROW(t.decode(one), BadInput) << bad;
    EXPECT_THROW(t.decode(one, /*skip_special_tokens=*/true), BadInput) << bad;
  }
}

TEST(TokenizerSpecChecks, RejectsBadIdsAndMerges) {
  TokenizerSpec s = tiny_byte_level(false, false);
  s.bos_id = 9999;
  EXPECT_THROW(from_spec(s), BadInput);
  s.bos_id.reset();
  s.add_bos = true;
  EXPECT_THROW(from_spec(s), BadInput);
  s.add_bos = false;
  s.merges = {{"a", "zz"}};
  try {
    from_spec(s);
    FAIL();
  } catch (const BadInput& e) {
    EXPECT_EQ(std::string(e.what()), "tiny: merges[0] 'a zz': token 'zz' not in vocab");
  }
  s = tiny_byte_level(false, false);
  s.vocab.clear();
  EXPECT_THROW(from_spec(s), BadInput);
}

std::string error_of(const std::string& tokenizer_json) {
  try {
    hf_tokenizer_spec_from_json(tokenizer_json, "", "tokenizer.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(HfTokenizerErrors, NamesFileAndField) {
  EXPECT_THROW(hf_tokenizer_spec_from_json("{\"model\": ", "", "tokenizer.json"), BadInput);
  EXPECT_EQ(error_of(R"({"model": {"type": "Unigram", "vocab": []}})"),
            "tokenizer.json: model.type 'Unigram' not supported (only BPE)");
  EXPECT_THROW(hf_tokenizer_spec_from_json(R"({"model": {"type": "WordPiece"}})", "", "t"),
               Unsupported);
  EXPECT_EQ(error_of(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a"]}})"),
            "tokenizer.json: model.merges[0]: expected two tokens separated by one space, got "
            "'a'");
  EXPECT_EQ(error_of(R"({"model": {"type": "BPE", "vocab": {"a": "x"}, "merges": []}})"),
            "tokenizer.json: model.vocab['a']: expected an integer, got \"x\"");
  EXPECT_EQ(error_of(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
                        "pre_tokenizer": {"type": "Whitespace"}})"),
            "tokenizer.json: pre_tokenizer.type: pre-tokenizer 'Whitespace' not supported");
  try {
    from_spec(hf_tokenizer_spec_from_json(
        R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
              {"type": "Split", "pattern": {"Regex": "(a"}}, {"type": "ByteLevel"}]}})",
        "", "tokenizer.json"));
    FAIL() << "a pattern that does not compile was accepted";
  } catch (const BadInput& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.json: pre_tokenizer pattern '(a'"),
              std::string::npos)
        << e.what();
  }
}

TEST(HfTokenizerErrors, IdsBeyondAnyRealVocabularyAreRefused) {
  // An id sizes the tables: 2^22 and up is a corrupt file, not a vocabulary to allocate.
  const std::string big = std::to_string(kMaxVocabSize);
  EXPECT_NE(error_of(R"({"model": {"type": "BPE", "vocab": {"a": )" + big + R"(}, "merges": []}})")
                .find("out of range"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
                        "added_tokens": [{"id": )" +
                     big + R"(, "content": "<x>"}]})")
                .find("out of range"),
            std::string::npos);
  const std::string last = std::to_string(kMaxVocabSize - 1);
  EXPECT_EQ(error_of(R"({"model": {"type": "BPE", "vocab": {"a": )" + last +
                     R"(}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}})"),
            "no error");
}

TEST(HfTokenizerErrors, MissingFilesAndUnknownTokensInMerges) {
  namespace fs = std::filesystem;
  EXPECT_THROW(load_hf_tokenizer(kDir + "no-such-folder"), BadInput);
  const fs::path dir = fs::temp_directory_path() / "kvscope_tokenizer_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  try {
    load_hf_tokenizer(dir.string());
    FAIL();
  } catch (const BadInput& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.json: not found"), std::string::npos);
  }
  std::ofstream(dir / "tokenizer.json") << "not json";
  EXPECT_THROW(load_hf_tokenizer(dir.string()), BadInput);
  std::ofstream(dir / "tokenizer.json")
      << R"({"model": {"type": "BPE", "vocab": {"Ġ": 0, "a": 1}, "merges": ["Ġ b"]},
             "pre_tokenizer": {"type": "ByteLevel"}})";
  try {
    load_hf_tokenizer(dir.string());
    FAIL();
  } catch (const BadInput& e) {
    EXPECT_NE(std::string(e.what()).find("merges[0] 'Ġ b': token 'b' not in vocab"),
              std::string::npos)
        << e.what();
  }
  fs::remove_all(dir);
}

TEST(Utf8, LossyAndCompletePrefixFollowMaximalSubparts) {
  EXPECT_EQ(utf8_lossy("a\xF0\x9F\x98"), "a\xEF\xBF\xBD");        // one subpart
  EXPECT_EQ(utf8_lossy("\x80\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // two lone bytes
  EXPECT_EQ(utf8_lossy("\xE2\x82x"), "\xEF\xBF\xBDx");
  EXPECT_EQ(utf8_complete_prefix("ab\xF0\x9F\x98"), 2u);  // may still complete
  EXPECT_EQ(utf8_complete_prefix("ab\xF0\x9F\x98\x80"), 6u);
  EXPECT_EQ(utf8_complete_prefix("ab\x80"), 3u);  // can never complete: emit it
}

TEST(TokenizerSpeed, TwoThousandTokenPromptInAFewMilliseconds) {
  std::string text;
  std::ifstream f(kDir + "corpus.json");
  std::stringstream ss;
  ss << f.rdbuf();
  while (text.size() < 9000) text += ss.str();
  const Tokenizer& t = smollm2();
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<int32_t> ids = t.encode(text, false);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GT(ids.size(), 2000u);
#ifdef NDEBUG
  EXPECT_LT(ms, 20.0) << ids.size() << " tokens";
#else
  (void)ms;  // sanitizer builds are not timed
#endif
  EXPECT_EQ(t.decode(ids), text);
}

}  // namespace
}  // namespace kvscope::tokenizer
