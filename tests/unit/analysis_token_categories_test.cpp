#include <gtest/gtest.h>

#include <algorithm>

#include "analysis_fixture.hpp"
#include "kvscope/analysis/token_categories.hpp"
#include "kvscope/error.hpp"

namespace kvscope::analysis {
namespace {

using testing::synthetic_capture;
using C = TokenCategory;

TEST(AnalysisTokenCategories, SyntheticPromptHitsEveryCategory) {
  const auto cats = classify_tokens(synthetic_capture());
  // "<|endoftext|>" "The" " runn" "ing" " on" "\n" "the" " 2024" "," " " "Ġmat" "▁and"
  const std::vector<C> want = {C::Special,     C::StopWord,   C::WordStart, C::WordContinuation,
                               C::StopWord,    C::Whitespace, C::StopWord,  C::Number,
                               C::Punctuation, C::Whitespace, C::WordStart, C::StopWord};
  EXPECT_EQ(cats, want);
}

TEST(AnalysisTokenCategories, SpecialIdsWinOverText) {
  auto cap = synthetic_capture();
  const int32_t ids[] = {104};  // " on"
  EXPECT_EQ(classify_tokens(cap, ids)[4], C::Special);
}

TEST(AnalysisTokenCategories, RulesOnSingleTokens) {
  EXPECT_EQ(classify_token("</s>", false), C::Special);
  EXPECT_EQ(classify_token("<|im_start|>", false), C::Special);
  EXPECT_EQ(classify_token("<b>", false), C::WordContinuation);  // not a control token
  EXPECT_EQ(classify_token("<>", false), C::Punctuation);
  EXPECT_EQ(classify_token("", false), C::Whitespace);
  EXPECT_EQ(classify_token("\n\n", false), C::Whitespace);
  EXPECT_EQ(classify_token("\xC4\xA0", false), C::Whitespace);  // a lone 'Ġ'
  EXPECT_EQ(classify_token(" 3.14", false), C::Number);
  EXPECT_EQ(classify_token("1,000", false), C::Number);
  EXPECT_EQ(classify_token(".", true), C::Punctuation);
  EXPECT_EQ(classify_token(" \xE2\x80\x94", false), C::Punctuation);  // " —"
  EXPECT_EQ(classify_token(" The", false), C::StopWord);
  EXPECT_EQ(classify_token("the", false), C::WordContinuation);  // as in "bathe"
  EXPECT_EQ(classify_token(" caf\xC3\xA9", false), C::WordStart);
  EXPECT_EQ(classify_token("'s", false), C::WordContinuation);
  EXPECT_EQ(classify_token("cat", true, true), C::Special);
}

TEST(AnalysisTokenCategories, WordBoundaryFollowsBlanksAndPunctuation) {
  EXPECT_TRUE(ends_at_word_boundary("\n"));
  EXPECT_TRUE(ends_at_word_boundary("end."));
  EXPECT_FALSE(ends_at_word_boundary(" runn"));
  EXPECT_FALSE(ends_at_word_boundary(""));
}

TEST(AnalysisTokenCategories, NamesAndStopWordsAreListed) {
  const auto names = category_names();
  ASSERT_EQ(names.size(), static_cast<size_t>(kTokenCategoryCount));
  EXPECT_EQ(names[4], "stop_word");
  EXPECT_EQ(category_name(C::WordContinuation), "word_continuation");
  const auto words = stop_words();
  EXPECT_TRUE(std::is_sorted(words.begin(), words.end()));
  EXPECT_TRUE(std::binary_search(words.begin(), words.end(), "which"));
  EXPECT_FALSE(std::binary_search(words.begin(), words.end(), "cat"));
}

TEST(AnalysisTokenCategories, GroupsCarryMagnitudesOfTheirTokens) {
  const std::vector<C> cats = {C::Number, C::WordStart, C::Number};
  TokenMagnitudes m;
  m.key = {1, 2, 3};
  m.value = {4, 5, 6};
  const auto groups = group_by_category(cats, m);
  ASSERT_EQ(groups.size(), 7u);
  const auto& num = groups[static_cast<size_t>(C::Number)];
  EXPECT_EQ(num.category, C::Number);
  EXPECT_EQ(num.tokens, (std::vector<int>{0, 2}));
  EXPECT_EQ(num.value_magnitudes, (std::vector<double>{4, 6}));
  EXPECT_TRUE(groups[static_cast<size_t>(C::Special)].tokens.empty());
  m.key.pop_back();
  EXPECT_THROW(group_by_category(cats, m), BadInput);
}

TEST(AnalysisTokenCategories, TokenLabelSymbolsCountAsWhitespaceMarkers) {
  // Token labels show a leading space as U+2423 and a newline as U+21B5.
  EXPECT_EQ(classify_token("\xe2\x90\xa3the", false), TokenCategory::StopWord);
  EXPECT_EQ(classify_token("\xe2\x90\xa3Highway", false), TokenCategory::WordStart);
  EXPECT_EQ(classify_token("\xe2\x86\xb5\xe2\x86\xb5", false), TokenCategory::Whitespace);
  EXPECT_EQ(classify_token("amed", false), TokenCategory::WordContinuation);
}

}  // namespace
}  // namespace kvscope::analysis
