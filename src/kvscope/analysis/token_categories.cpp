#include "kvscope/analysis/token_categories.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "kvscope/error.hpp"

namespace kvscope::analysis {

namespace {

constexpr std::array<std::string_view, kTokenCategoryCount> kNames = {
    "special",   "whitespace", "number",           "punctuation",
    "stop_word", "word_start", "word_continuation"};

constexpr std::string_view kStopWords[] = {
    "a",      "about",  "above", "after",  "again",    "against",    "all",  "am",
    "an",     "and",    "any",   "are",    "as",       "at",         "be",   "because",
    "been",   "before", "being", "below",  "between",  "both",       "but",  "by",
    "can",    "could",  "did",   "do",     "does",     "doing",      "down", "during",
    "each",   "few",    "for",   "from",   "further",  "had",        "has",  "have",
    "having", "he",     "her",   "here",   "hers",     "herself",    "him",  "himself",
    "his",    "how",    "i",     "if",     "in",       "into",       "is",   "it",
    "its",    "itself", "just",  "me",     "more",     "most",       "my",   "myself",
    "no",     "nor",    "not",   "now",    "of",       "off",        "on",   "once",
    "only",   "or",     "other", "our",    "ours",     "ourselves",  "out",  "over",
    "own",    "same",   "she",   "should", "so",       "some",       "such", "than",
    "that",   "the",    "their", "theirs", "them",     "themselves", "then", "there",
    "these",  "they",   "this",  "those",  "through",  "to",         "too",  "under",
    "until",  "up",     "very",  "was",    "we",       "were",       "what", "when",
    "where",  "which",  "while", "who",    "whom",     "why",        "will", "with",
    "would",  "you",    "your",  "yours",  "yourself", "yourselves",
};

constexpr std::string_view kControlTokens[] = {"<s>",   "</s>",  "<unk>", "<pad>",
                                               "<bos>", "<eos>", "<mask>"};

// Next code point of s at i (advancing i); a malformed byte reads as U+FFFD and advances by one.
char32_t next_code_point(std::string_view s, size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  int len = b0 < 0x80 ? 1 : (b0 >> 5) == 0x6 ? 2 : (b0 >> 4) == 0xE ? 3 : (b0 >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + static_cast<size_t>(len) > s.size()) {
    ++i;
    return 0xFFFD;
  }
  char32_t cp = len == 1 ? b0 : (b0 & (0x7F >> len));
  for (int k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
    if ((b >> 6) != 0x2) {
      ++i;
      return 0xFFFD;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  i += static_cast<size_t>(len);
  return cp;
}

bool is_marker(char32_t c) {
  // ' ', GPT-2's 'Ġ', SentencePiece's '▁', and '␣' as token labels show a leading space.
  return c == U' ' || c == 0x120 || c == 0x2581 || c == 0x2423;
}

bool is_blank(char32_t c) {
  return c == U' ' || c == U'\t' || c == U'\n' || c == U'\r' || c == U'\v' || c == U'\f' ||
         c == 0xA0 || c == 0x120 || c == 0x2581 || c == 0x10A ||
         // the visible whitespace of token labels: '␣' space, '↵' newline, '→' tab, '␍' return
         c == 0x2423 || c == 0x21B5 || c == 0x2192 || c == 0x240D;
}

bool is_punct(char32_t c) {
  if (c < 0x80)
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
           (c >= 0x7B && c <= 0x7E);
  switch (c) {
    case 0x2026:  // …
    case 0x2013:  // –
    case 0x2014:  // —
    case 0x2018:  // ‘
    case 0x2019:  // ’
    case 0x201C:  // “
    case 0x201D:  // ”
    case 0xAB:    // «
    case 0xBB:    // »
    case 0x2022:  // •
    case 0xB7:    // ·
    case 0xBF:    // ¿
    case 0xA1:    // ¡
      return true;
    default:
      return false;
  }
}

bool is_control_token(std::string_view t) {
  if (t.size() >= 4 && t.starts_with("<|") && t.ends_with("|>")) return true;
  return std::find(std::begin(kControlTokens), std::end(kControlTokens), t) !=
         std::end(kControlTokens);
}

}  // namespace

std::string_view category_name(TokenCategory c) {
  return kNames.at(static_cast<size_t>(c));
}

std::span<const std::string_view> category_names() {
  return kNames;
}

std::span<const std::string_view> stop_words() {
  return kStopWords;
}

bool ends_at_word_boundary(std::string_view text) {
  char32_t last = 0;
  for (size_t i = 0; i < text.size();) last = next_code_point(text, i);
  return last != 0 && (is_blank(last) || is_punct(last));
}

TokenCategory classify_token(std::string_view text, bool starts_word, bool is_special) {
  if (is_special || is_control_token(text)) return TokenCategory::Special;
  std::vector<char32_t> cps;
  for (size_t i = 0; i < text.size();) cps.push_back(next_code_point(text, i));
  if (std::all_of(cps.begin(), cps.end(), is_blank)) return TokenCategory::Whitespace;

  bool any_digit = false, numeric = true, punct = true;
  for (char32_t c : cps) {
    if (is_blank(c)) continue;
    const bool digit = c >= U'0' && c <= U'9';
    any_digit |= digit;
    numeric &= digit || c == U'.' || c == U',';
    punct &= is_punct(c);
  }
  if (numeric && any_digit) return TokenCategory::Number;
  if (punct) return TokenCategory::Punctuation;

  const bool marked = is_marker(cps.front());
  std::string lower;
  for (size_t i = marked ? 1 : 0; i < cps.size(); ++i) {
    const char32_t c = cps[i];
    if (c >= 0x80) {
      lower.clear();  // not ASCII: no stop word can match
      break;
    }
    lower.push_back(static_cast<char>(c >= U'A' && c <= U'Z' ? c - U'A' + U'a' : c));
  }
  const bool word_start = marked || starts_word;
  if (word_start && !lower.empty() &&
      std::binary_search(std::begin(kStopWords), std::end(kStopWords), std::string_view(lower)))
    return TokenCategory::StopWord;
  return word_start ? TokenCategory::WordStart : TokenCategory::WordContinuation;
}

std::vector<TokenCategory> classify_tokens(const capture::Capture& cap,
                                           std::span<const int32_t> special_ids) {
  const size_t S = cap.token_ids.size();
  if (!cap.token_strings.empty() && cap.token_strings.size() != S)
    throw BadInput(fmt::format("token categories: {} token_strings for {} token_ids",
                               cap.token_strings.size(), S));
  std::vector<TokenCategory> out(S);
  for (size_t s = 0; s < S; ++s) {
    const std::string_view text =
        cap.token_strings.empty() ? std::string_view() : cap.token_strings[s];
    const bool first = s == 0;
    const bool starts =
        first || (!cap.token_strings.empty() && ends_at_word_boundary(cap.token_strings[s - 1]));
    const bool special =
        std::find(special_ids.begin(), special_ids.end(), cap.token_ids[s]) != special_ids.end();
    out[s] = classify_token(text, starts, special);
  }
  return out;
}

std::vector<CategoryGroup> group_by_category(const std::vector<TokenCategory>& categories,
                                             const TokenMagnitudes& magnitudes) {
  if (magnitudes.key.size() != categories.size() || magnitudes.value.size() != categories.size())
    throw BadInput(fmt::format("token categories: {} categories for {} key and {} value magnitudes",
                               categories.size(), magnitudes.key.size(), magnitudes.value.size()));
  std::vector<CategoryGroup> groups(kTokenCategoryCount);
  for (int c = 0; c < kTokenCategoryCount; ++c)
    groups[static_cast<size_t>(c)].category = static_cast<TokenCategory>(c);
  for (size_t s = 0; s < categories.size(); ++s) {
    auto& g = groups.at(static_cast<size_t>(categories[s]));
    g.tokens.push_back(static_cast<int>(s));
    g.key_magnitudes.push_back(magnitudes.key[s]);
    g.value_magnitudes.push_back(magnitudes.value[s]);
  }
  return groups;
}

}  // namespace kvscope::analysis
