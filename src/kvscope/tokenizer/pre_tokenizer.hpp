// PreTokenizer: cuts a piece of text (between added tokens, after normalization) into words,
// the units BPE merges within. Regexes are PCRE2 in UTF + UCP mode, JIT-compiled when the
// library has JIT.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kvscope/tokenizer/tokenizer_spec.hpp"

namespace kvscope::tokenizer {

class PreTokenizer {
 public:
  // Compiles the steps; BadInput naming `source` and the pattern when one does not compile.
  PreTokenizer(const std::vector<PreTokenizerStep>& steps, const std::string& source);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // Appends the words of `text` (valid UTF-8) to `words`. `at_start` says the text begins
  // the input, which Metaspace's "first" prepend scheme needs.
  void split(std::string_view text, bool at_start, std::vector<std::string>& words) const;

 private:
  struct Compiled;
  std::vector<std::unique_ptr<Compiled>> steps_;
};

// Applies normalizer steps to valid UTF-8 text.
std::string normalize(const std::vector<NormalizerStep>& steps, std::string_view text);

}  // namespace kvscope::tokenizer
