// Token categories (figure token_magnitude_distributions.png): every token string falls in
// exactly one category, so magnitudes can be compared between kinds of tokens.
//
// Token strings arrive as decoded text (" the", "\n", "ing", "<|endoftext|>"). The rules,
// tried in this order, the first that holds deciding:
//   1. special            the caller says so (special ids), or the text is a control token:
//                         "<|...|>" or one of <s> </s> <unk> <pad> <bos> <eos> <mask>.
//   Let marker = one leading word-start marker removed if present: ' ', 'Ġ' (U+0120) or
//   '▁' (U+2581) or '␣' (U+2423, token labels); body = the rest. Blank characters are ASCII
//   whitespace, U+00A0, the markers Ġ ▁ Ċ (U+010A, GPT-2's newline byte) and the label
//   symbols ␣ ↵ → ␍.
//   2. whitespace         the text is empty or all blank characters.
//   3. number             every non-blank character is an ASCII digit, '.' or ',', and at
//                         least one is a digit ("2024", " 3.14", "1,000").
//   4. punctuation        every non-blank character is ASCII punctuation (!"#$%&'()*+,-./:;<=>?@
//                         [\]^_`{|}~) or one of … – — ‘ ’ “ ” « » • · ¿ ¡.
//   5. stop word          body, ASCII-lowercased, is in stop_words(), and the token starts a
//                         word (as in 6).
//   6. word start         the text had a marker, or the token is first, or the previous token
//                         ends in a blank or punctuation character (so "The" after "\n" counts).
//   7. word continuation  anything else ("ing" after " runn").
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvscope/analysis/token_importance.hpp"
#include "kvscope/capture/capture.hpp"

namespace kvscope::analysis {

enum class TokenCategory {
  Special,
  Whitespace,
  Number,
  Punctuation,
  StopWord,
  WordStart,
  WordContinuation,
};
inline constexpr int kTokenCategoryCount = 7;

// "special", "whitespace", "number", "punctuation", "stop_word", "word_start",
// "word_continuation"; all of them, in enum order.
std::string_view category_name(TokenCategory c);
std::span<const std::string_view> category_names();

// The fixed list of common English stop words (lowercase, sorted) used by rule 5.
std::span<const std::string_view> stop_words();

// Category of one token. starts_word: the token is first or follows a token ending in a blank
// or punctuation character (rule 6 without the marker). is_special: rule 1 from the caller.
TokenCategory classify_token(std::string_view text, bool starts_word, bool is_special = false);

// Whether text ends in a blank or punctuation character (what makes the next token start a word).
bool ends_at_word_boundary(std::string_view text);

// [S] category of each token of the capture; tokens whose id is in special_ids are special.
std::vector<TokenCategory> classify_tokens(const capture::Capture& cap,
                                           std::span<const int32_t> special_ids = {});

// Magnitudes of the tokens of one category.
struct CategoryGroup {
  TokenCategory category = TokenCategory::WordStart;
  std::vector<int> tokens;               // positions, ascending
  std::vector<double> key_magnitudes;    // [tokens.size()] from TokenMagnitudes::key
  std::vector<double> value_magnitudes;  // [tokens.size()]
};

// [kTokenCategoryCount] one group per category in enum order, empty groups included.
// BadInput unless categories and both magnitude vectors have the same length.
std::vector<CategoryGroup> group_by_category(const std::vector<TokenCategory>& categories,
                                             const TokenMagnitudes& magnitudes);

}  // namespace kvscope::analysis
