// Fuzzes loading a Hugging Face tokenizer and using it. The input is
//   tokenizer.json NUL tokenizer_config.json NUL text
// (a missing part is empty; the text is everything after the second NUL and may hold NULs).
// Any bytes may only ever fail with a kvscope::Error. A tokenizer that loads must also keep
// these invariants, else the target traps:
// - encode(text, false) gives ids in [0, vocab_size), and encode(text, true) is the same ids
//   with bos in front when the spec says add_bos and eos behind when it says add_eos;
// - decode (with and without skipping special tokens), token_bytes, token_string and
//   token_label of those ids never fail, and decode and token_label give valid UTF-8;
// - for a byte-level tokenizer, a StreamDecoder fed those ids gives what decode gives;
// - decode(encode(text, false)) == text for a byte-level tokenizer that keeps text as it is:
//   no normalizer, no prefix space, no pre-tokenizer that drops or rewrites text, every byte
//   in the vocab, every added token with an id in the vocab standing for its vocab string,
//   and no added token that strips whitespace occurring in the text.
// The text's bytes, read as 16-bit signed ids, are then decoded, streamed and labelled: ids
// out of range may only fail with a kvscope::Error.
//
// Caps, so that one input stays fast: a text of at most 4 KiB, and no vocab or added-token id
// of 65536 or more. The library accepts ids below kMaxVocabSize (2^22) and sizes its tables by
// the largest: about 130 MB for a file of a few bytes, which is allowed but slows a fuzzer down.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "kvscope/error.hpp"
#include "kvscope/tokenizer/hf_tokenizer.hpp"
#include "kvscope/tokenizer/tokenizer.hpp"
#include "kvscope/tokenizer/utf8.hpp"

namespace {

using namespace kvscope::tokenizer;

constexpr size_t kMaxText = 4096;
constexpr int64_t kMaxId = 65536;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

bool valid_utf8(std::string_view s) {
  return utf8_first_invalid(s) == s.size();
}

// Whether every id the file names (model.vocab values, added_tokens[].id) is below kMaxId.
// Anything the library would reject for other reasons passes, so that it gets rejected.
bool ids_small(const std::string& tokenizer_json) {
  const nlohmann::json j = nlohmann::json::parse(tokenizer_json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return true;
  auto big = [](const nlohmann::json& v) {
    return v.is_number_integer() && v.get<int64_t>() >= kMaxId;
  };
  if (auto m = j.find("model"); m != j.end() && m->is_object()) {
    if (auto v = m->find("vocab"); v != m->end() && v->is_object()) {
      for (const auto& id : *v) {
        if (big(id)) return false;
      }
    }
  }
  if (auto a = j.find("added_tokens"); a != j.end() && a->is_array()) {
    for (const auto& t : *a) {
      if (t.is_object() && t.contains("id") && big(t["id"])) return false;
    }
  }
  return true;
}

// Whether decode(encode(text, false)) must give `text` back (see the header).
bool keeps_text(const TokenizerSpec& spec, std::string_view text) {
  if (spec.kind != TokenizerKind::ByteLevelBpe) return false;
  if (!spec.normalizers.empty() || spec.add_prefix_space) return false;
  for (const PreTokenizerStep& s : spec.pre_tokenizers) {
    if (s.type == PreTokenizerStep::Type::Metaspace) return false;
    if (s.type == PreTokenizerStep::Type::RegexSplit &&
        s.behavior == PreTokenizerStep::Behavior::Removed) {
      return false;
    }
  }
  const std::unordered_set<std::string_view> vocab(spec.vocab.begin(), spec.vocab.end());
  for (const std::string& c : byte_level_chars()) {
    if (vocab.count(c) == 0) return false;
  }
  for (const AddedToken& t : spec.added_tokens) {
    if ((t.lstrip || t.rstrip) && text.find(t.content) != std::string_view::npos) return false;
    const auto id = static_cast<size_t>(t.id);
    if (id < spec.vocab.size() && !spec.vocab[id].empty() &&
        byte_level_bytes(spec.vocab[id]) != t.content) {
      return false;
    }
    for (const AddedToken& u : spec.added_tokens) {
      if (u.id == t.id && u.content != t.content) return false;
    }
  }
  return true;
}

std::string stream(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip_special) {
  StreamDecoder d(tok, skip_special);
  std::string out;
  for (int32_t id : ids) out += d.push(id);
  return out + d.flush();
}

// Ids that came from encode: nothing may fail.
void check_ids(const Tokenizer& tok, const TokenizerSpec& spec, std::string_view text) {
  const std::vector<int32_t> plain = tok.encode(text, false);
  const std::vector<int32_t> full = tok.encode(text, true);
  std::vector<int32_t> want;
  if (spec.add_bos) want.push_back(*spec.bos_id);
  want.insert(want.end(), plain.begin(), plain.end());
  if (spec.add_eos) want.push_back(*spec.eos_id);
  check(full == want);
  for (int32_t id : full) check(id >= 0 && id < tok.vocab_size());
  try {
    for (int32_t id : full) {
      (void)tok.token_bytes(id);
      (void)tok.token_string(id);
      check(valid_utf8(tok.token_label(id)));
    }
    const std::string text_back = tok.decode(plain, false);
    check(valid_utf8(text_back));
    for (bool skip : {false, true}) {
      const std::string d = tok.decode(full, skip);
      check(valid_utf8(d));
      if (tok.kind() == TokenizerKind::ByteLevelBpe) check(stream(tok, full, skip) == d);
    }
    if (keeps_text(spec, text)) check(text_back == text);
  } catch (const kvscope::Error&) {
    check(false);
  }
}

// Ids straight from the input: in range or not, only a kvscope::Error may come out.
void check_any_ids(const Tokenizer& tok, std::string_view bytes) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i + 1 < bytes.size(); i += 2) {
    const auto lo = static_cast<uint8_t>(bytes[i]), hi = static_cast<uint8_t>(bytes[i + 1]);
    ids.push_back(static_cast<int16_t>(static_cast<uint16_t>(lo | (hi << 8))));
  }
  for (bool skip : {false, true}) {
    try {
      check(valid_utf8(tok.decode(ids, skip)));
    } catch (const kvscope::Error&) {
    }
    StreamDecoder d(tok, skip);
    for (int32_t id : ids) {
      try {
        check(valid_utf8(d.push(id)));
      } catch (const kvscope::Error&) {
      }
    }
    check(valid_utf8(d.flush()));
  }
  for (int32_t id : ids) {
    (void)tok.is_special(id);
    try {
      check(valid_utf8(tok.token_label(id)));
      (void)tok.token_to_id(tok.token_string(id));
    } catch (const kvscope::Error&) {
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t a = in.find('\0');
  const size_t b = a == std::string_view::npos ? a : in.find('\0', a + 1);
  const std::string tokenizer_json(in.substr(0, a));
  const std::string config_json(a == std::string_view::npos ? std::string_view()
                                                            : in.substr(a + 1, b - a - 1));
  const std::string_view text = b == std::string_view::npos ? std::string_view() : in.substr(b + 1);
  if (text.size() > kMaxText || !ids_small(tokenizer_json)) return -1;  // not added to the corpus
  try {
    const TokenizerSpec spec =
        hf_tokenizer_spec_from_json(tokenizer_json, config_json, "fuzz.json");
    const Tokenizer tok = from_spec(spec);
    try {
      check_ids(tok, spec, text);
    } catch (const kvscope::Error&) {  // the text is not valid UTF-8, or a resource limit
    }
    check_any_ids(tok, text);
  } catch (const kvscope::Error&) {
  }
  return 0;
}
