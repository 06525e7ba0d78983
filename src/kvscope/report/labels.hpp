// How a token and a measure are named on figures, in tables and in the guide. The rule for
// token text itself is tokenizer::visible_label; which tokens are named is analysis's
// (token_outliers.hpp).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kvscope/analysis/token_importance.hpp"
#include "kvscope/capture/capture.hpp"

namespace kvscope::report {

// Text of a token for a label (tokenizer::visible_label: whitespace as glyphs, stray bytes as
// "<0xNN>"); empty text -> "∅".
std::string visible_text(std::string_view text);

// The label of token i of a capture: its token string, or "#i" when the capture has none.
std::string token_label(const capture::Capture& cap, int i);

// token_label of every position of the capture: [S] labels for token axes.
std::vector<std::string> token_labels(const capture::Capture& cap);

// "'text' @i": a token's label with its position, as the bar figures list them.
std::string token_with_position(const capture::Capture& cap, int i);

// Words for the importance measure: a short axis label ("key + value norm") and a full
// definition with units, as figure titles, metrics.json and the guide state it.
std::string importance_label(const analysis::ImportanceOptions& opt);
std::string importance_definition(const analysis::ImportanceOptions& opt);

}  // namespace kvscope::report
