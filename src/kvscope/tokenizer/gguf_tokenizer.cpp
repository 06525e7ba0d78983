#include "kvscope/tokenizer/gguf_tokenizer.hpp"

#include <algorithm>

#include "kvscope/error.hpp"
#include "kvscope/printable.hpp"

namespace kvscope::tokenizer {

namespace {

constexpr int32_t kUnknown = 2;
constexpr int32_t kControl = 3;
constexpr int32_t kUserDefined = 4;

std::optional<int32_t> checked_id(const std::optional<int64_t>& id, size_t n_tokens,
                                  const std::string& source, const char* key) {
  if (!id) return std::nullopt;
  if (*id < 0 || *id >= static_cast<int64_t>(n_tokens)) {
    throw BadInput(source + ": " + key + " " + std::to_string(*id) + " out of range (" +
                   std::to_string(n_tokens) + " tokens)");
  }
  return static_cast<int32_t>(*id);
}

}  // namespace

GgufTokenizerData gguf_tokenizer_data(const io::GgufFile& f) {
  GgufTokenizerData d;
  d.model = f.get_string("tokenizer.ggml.model").value_or("");
  d.pre = f.get_string("tokenizer.ggml.pre").value_or("");
  d.tokens = f.get_string_array("tokenizer.ggml.tokens");
  d.merges = f.get_string_array("tokenizer.ggml.merges");
  for (double s : f.get_float_array("tokenizer.ggml.scores"))
    d.scores.push_back(static_cast<float>(s));
  for (int64_t t : f.get_int_array("tokenizer.ggml.token_type")) {
    d.token_types.push_back(static_cast<int32_t>(std::clamp<int64_t>(t, -1, 1000)));
  }
  d.bos_id = f.get_int("tokenizer.ggml.bos_token_id");
  d.eos_id = f.get_int("tokenizer.ggml.eos_token_id");
  d.unk_id = f.get_int("tokenizer.ggml.unknown_token_id");
  d.add_bos = f.get_bool("tokenizer.ggml.add_bos_token");
  d.add_eos = f.get_bool("tokenizer.ggml.add_eos_token");
  d.add_space_prefix = f.get_bool("tokenizer.ggml.add_space_prefix");
  return d;
}

TokenizerSpec gguf_tokenizer_spec(const GgufTokenizerData& d, const std::string& source) {
  TokenizerSpec spec;
  spec.source = source;
  if (d.model.empty()) throw BadInput(source + ": tokenizer.ggml.model missing");
  if (d.tokens.empty()) throw BadInput(source + ": tokenizer.ggml.tokens missing or empty");
  const size_t n = d.tokens.size();
  if (!d.token_types.empty() && d.token_types.size() != n) {
    throw BadInput(source + ": tokenizer.ggml.token_type has " +
                   std::to_string(d.token_types.size()) + " entries for " + std::to_string(n) +
                   " tokens");
  }
  spec.vocab = d.tokens;
  for (size_t id = 0; id < d.token_types.size(); ++id) {
    const int32_t t = d.token_types[id];
    // UNKNOWN (<unk>) is matched whole in text like the control tokens, as llama.cpp and
    // Hugging Face tokenizers both do.
    if (t == kControl || t == kUserDefined || t == kUnknown) {
      spec.added_tokens.push_back(
          {static_cast<int32_t>(id), d.tokens[id], t != kUserDefined, false, false});
    }
  }
  spec.bos_id = checked_id(d.bos_id, n, source, "tokenizer.ggml.bos_token_id");
  spec.eos_id = checked_id(d.eos_id, n, source, "tokenizer.ggml.eos_token_id");
  spec.unk_id = checked_id(d.unk_id, n, source, "tokenizer.ggml.unknown_token_id");

  if (d.model == "gpt2") {
    spec.kind = TokenizerKind::ByteLevelBpe;
    spec.pre_tokenizers = builtin_pre_tokenizer(d.pre.empty() ? "default" : d.pre);
    // Qwen2's tokenizer normalises to NFC; GGUF has no key for it, so it goes with the name.
    if (d.pre == "qwen2") spec.normalizers.push_back({NormalizerStep::Type::Nfc, "", ""});
    spec.merges.reserve(d.merges.size());
    for (size_t i = 0; i < d.merges.size(); ++i) {
      const std::string& m = d.merges[i];
      const size_t sp = m.find(' ');
      if (sp == std::string::npos || m.find(' ', sp + 1) != std::string::npos) {
        throw BadInput(source + ": tokenizer.ggml.merges[" + std::to_string(i) + "]: expected " +
                       "two tokens separated by one space, got '" + printable(m, 80) + "'");
      }
      spec.merges.emplace_back(m.substr(0, sp), m.substr(sp + 1));
    }
    // Byte-level BPE has no unknown token: every byte has one.
    spec.unk_id.reset();
    spec.add_bos = d.add_bos.value_or(false);
  } else if (d.model == "llama") {
    spec.kind = TokenizerKind::SentencePieceBpe;
    if (d.scores.size() != n) {
      throw BadInput(source + ": tokenizer.ggml.scores has " + std::to_string(d.scores.size()) +
                     " entries for " + std::to_string(n) + " tokens");
    }
    spec.scores = d.scores;
    if (d.add_space_prefix.value_or(true)) {
      spec.normalizers.push_back({NormalizerStep::Type::Prepend, "\xe2\x96\x81", ""});
    }
    spec.normalizers.push_back({NormalizerStep::Type::Replace, " ", "\xe2\x96\x81"});
    spec.byte_fallback = true;
    spec.decode_strip_leading_space = d.add_space_prefix.value_or(true);
    spec.add_bos = d.add_bos.value_or(true);
    if (!spec.unk_id) spec.unk_id = 0;
  } else {
    throw Unsupported(source + ": tokenizer.ggml.model '" + printable(d.model, 80) +
                      "' not supported (gpt2 or llama)");
  }
  spec.add_eos = d.add_eos.value_or(false);
  if (spec.add_bos && !spec.bos_id) {
    throw BadInput(source + ": tokenizer.ggml.add_bos_token is true but there is no bos_token_id");
  }
  if (spec.add_eos && !spec.eos_id) {
    throw BadInput(source + ": tokenizer.ggml.add_eos_token is true but there is no eos_token_id");
  }
  return spec;
}

Tokenizer load_gguf_tokenizer(const io::GgufFile& file) {
  return from_spec(gguf_tokenizer_spec(gguf_tokenizer_data(file), file.path()));
}

}  // namespace kvscope::tokenizer
