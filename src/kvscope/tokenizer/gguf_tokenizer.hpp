// Tokenizers from GGUF metadata (tokenizer.ggml.*): model "gpt2" is byte-level BPE with the
// split patterns named by tokenizer.ggml.pre; model "llama" is SentencePiece BPE merging by
// tokenizer.ggml.scores with <0xXX> byte fallback.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kvscope/io/gguf.hpp"
#include "kvscope/tokenizer/tokenizer.hpp"
#include "kvscope/tokenizer/tokenizer_spec.hpp"

namespace kvscope::tokenizer {

// The tokenizer.ggml.* keys, read out of a file (or filled by hand in tests).
struct GgufTokenizerData {
  std::string model;                // tokenizer.ggml.model: "gpt2" | "llama"
  std::string pre;                  // tokenizer.ggml.pre, e.g. "smollm", "llama-bpe"; may be empty
  std::vector<std::string> tokens;  // id -> token string
  std::vector<std::string> merges;  // "a b", by rank
  std::vector<float> scores;        // id -> score (llama)
  std::vector<int32_t>
      token_types;  // id -> 1 normal, 2 unknown, 3 control, 4 user, 5 unused, 6 byte
  std::optional<int64_t> bos_id, eos_id, unk_id;
  std::optional<bool> add_bos, add_eos, add_space_prefix;
};

GgufTokenizerData gguf_tokenizer_data(const io::GgufFile& file);

// BadInput naming `source` and the key for inconsistent arrays or ids; Unsupported for a
// model or pre-tokenizer kvscope does not know.
TokenizerSpec gguf_tokenizer_spec(const GgufTokenizerData& data, const std::string& source);

Tokenizer load_gguf_tokenizer(const io::GgufFile& file);

}  // namespace kvscope::tokenizer
