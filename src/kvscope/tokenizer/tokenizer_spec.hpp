// TokenizerSpec: a neutral description of a BPE tokenizer that both sources fill
// (Hugging Face tokenizer.json / vocab.json + merges.txt, and GGUF metadata), and from which
// Tokenizer is built. Plain data; from_spec() checks it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace kvscope::tokenizer {

enum class TokenizerKind {
  // GPT-2 style: text bytes are mapped to printable characters before BPE; vocab strings are
  // in that alphabet ('Ġ' = space, 'Ċ' = newline).
  ByteLevelBpe,
  // SentencePiece style (Llama 2): spaces become '▁' and characters missing from the vocab
  // fall back to <0xXX> byte tokens when byte_fallback is set.
  SentencePieceBpe,
};

// One text rewrite applied to every piece of text between added tokens, in order.
struct NormalizerStep {
  enum class Type { Nfc, Nfd, Nfkc, Nfkd, Prepend, Replace, Lowercase };
  Type type = Type::Nfc;
  std::string pattern;  // Prepend: the prefix; Replace: the literal to find
  std::string content;  // Replace: the replacement
};

// One way of cutting text into words; steps apply in order, each to every piece so far.
struct PreTokenizerStep {
  enum class Type {
    RegexSplit,  // PCRE2 pattern (UTF + UCP); matches become pieces
    Digits,      // numbers (Unicode N: '7', '٣', '½') isolated, one by one or as runs
    Metaspace,   // ' ' -> replacement, optional prefix, optional split before each replacement
  };
  enum class Behavior { Isolated, Removed, MergedWithPrevious, MergedWithNext, Contiguous };
  enum class Prepend { Always, First, Never };
  Type type = Type::RegexSplit;
  std::string pattern;                       // RegexSplit
  Behavior behavior = Behavior::Isolated;    // RegexSplit
  bool invert = false;                       // RegexSplit: the gaps are the pieces
  bool individual_digits = false;            // Digits
  std::string replacement = "\xe2\x96\x81";  // Metaspace ('▁')
  Prepend prepend_scheme = Prepend::Always;  // Metaspace
  bool split = false;                        // Metaspace
};

// A token matched as a whole in the input before any normalization or splitting.
struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool special = true;  // dropped by decode(skip_special_tokens = true)
  bool lstrip = false;  // swallows whitespace on its left
  bool rstrip = false;  // swallows whitespace on its right
};

struct TokenizerSpec {
  TokenizerKind kind = TokenizerKind::ByteLevelBpe;
  std::string source;  // file name used in error messages, e.g. "tokenizer.json"

  std::vector<NormalizerStep> normalizers;
  std::vector<PreTokenizerStep> pre_tokenizers;
  bool add_prefix_space = false;  // ByteLevel: prepend ' ' to text not starting with one

  std::vector<std::string> vocab;                           // id -> token string
  std::vector<std::pair<std::string, std::string>> merges;  // by rank, best first
  std::vector<float> scores;  // id -> score; merges by best score when `merges` is empty
  std::vector<AddedToken> added_tokens;

  std::optional<int32_t> bos_id, eos_id, unk_id;
  bool add_bos = false;  // encode(add_special_tokens = true) starts with bos_id
  bool add_eos = false;  // ... and ends with eos_id
  bool byte_fallback = false;
  bool fuse_unk = false;       // consecutive unknowns become one unk
  bool ignore_merges = false;  // a word found whole in the vocab is one token (Llama 3)
  // SentencePiece decoding drops the one space that the leading '▁' stands for.
  bool decode_strip_leading_space = false;
  // Whether decode turns <0xXX> tokens into their bytes (HF's ByteFallback decoder); without
  // it they decode as their literal text.
  bool decode_byte_fallback = true;
};

// The split patterns that GGUF files name in tokenizer.ggml.pre, in application order.
// Throws Unsupported for a name it does not know.
std::vector<PreTokenizerStep> builtin_pre_tokenizer(const std::string& name);

// Token ids at or beyond this are taken as a corrupt file, not a real vocabulary (the largest
// real ones hold a few hundred thousand tokens). It bounds the tables an id sizes: a file of a
// few bytes naming id 2^26 would otherwise cost gigabytes of empty strings.
inline constexpr int64_t kMaxVocabSize = int64_t{1} << 22;

// GPT-2's pattern, also what a ByteLevel pre-tokenizer with use_regex uses.
extern const char* const kGpt2Pattern;

}  // namespace kvscope::tokenizer
