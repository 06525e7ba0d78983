// Tokenizer: byte-level BPE (GPT-2, Llama 3, Qwen2, SmolLM) and SentencePiece-style BPE
// (Llama 2) giving the same ids as Hugging Face `tokenizers`. Built from a TokenizerSpec,
// which load_hf_tokenizer() and the GGUF loader fill. Immutable once built; copies share
// their tables, and every const method is safe to call from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvscope/tokenizer/tokenizer_spec.hpp"

namespace kvscope::tokenizer {

class Tokenizer {
 public:
  // Text (valid UTF-8, else BadInput) -> ids. Added tokens written in the text ("<|im_end|>")
  // are matched whole before anything else; BOS/EOS are added per the spec when
  // add_special_tokens.
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;

  // Ids -> text, as `tokenizers` decodes: ill-formed UTF-8 becomes U+FFFD, SentencePiece drops
  // the leading space. decode(encode(s, false)) == s for byte-level tokenizers.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  // The raw bytes a token stands for; may be part of a UTF-8 sequence. Added tokens give
  // their text. BadInput for an id outside [0, vocab_size()).
  std::string token_bytes(int32_t id) const;

  // A printable label for figures, always valid UTF-8: ' ' -> '␣', '\n' -> '↵', '\t' -> '→',
  // '\r' -> '␍', other control bytes and partial UTF-8 as <0xE2>; added tokens as their text.
  std::string token_label(int32_t id) const;

  // The vocabulary's string for a token as the file stores it ('Ġhello', '▁hello').
  const std::string& token_string(int32_t id) const;

  int32_t vocab_size() const;
  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> eos_id() const;
  bool is_special(int32_t id) const;
  // Looks a token up by its stored string (or an added token's text).
  std::optional<int32_t> token_to_id(std::string_view token) const;
  TokenizerKind kind() const;
  // SentencePiece decoders drop the space that the text's leading '▁' stands for.
  bool decode_strips_leading_space() const;

  struct Impl;

 private:
  friend Tokenizer from_spec(TokenizerSpec spec);
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// Checks the spec and builds the tables. BadInput names spec.source and the field: a merge of
// unknown tokens, an id out of range, an empty vocab, a pattern that does not compile.
Tokenizer from_spec(TokenizerSpec spec);

// Turns generated ids into text as they come, emitting only complete UTF-8: a character split
// across tokens comes out with the token that finishes it.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = true)
      : tokenizer_(&tokenizer), skip_special_(skip_special_tokens) {}
  // The text that became complete with this token (often empty).
  std::string push(int32_t id);
  // Whatever is still held back, ill-formed bytes as U+FFFD; the decoder is then empty.
  std::string flush();

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_;
  bool started_ = false;
  std::string pending_;
};

}  // namespace kvscope::tokenizer
