// Which tokens a figure names, and how a token's text is shown: the small decisions the token
// figures share, kept apart so tests can pin them down.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvscope/analysis/token_importance.hpp"
#include "kvscope/capture/capture.hpp"

namespace kvscope::report {

// Positions of the k largest finite values of x, largest first (ties: earlier position).
std::vector<int> largest_tokens(std::span<const double> x, int k);

// Positions of at most k tokens that lie far from the bulk in the plane (x, y): each axis is
// scaled by its median absolute deviation around the median (1 where that is 0), and a token
// qualifies when its scaled distance from the medians exceeds min_distance. Furthest first
// (ties: earlier position). x and y have the same length (BadInput otherwise).
std::vector<int> outlier_tokens(std::span<const double> x, std::span<const double> y, int k,
                                double min_distance = 3.0);

// Text with whitespace made visible for a label: ' ' -> '␣', '\n' -> '↵', '\t' -> '→', '\r' ->
// '␍'; empty text -> "∅". Invalid UTF-8 bytes become U+FFFD.
std::string visible_text(std::string_view text);

// text with each byte that does not start a valid UTF-8 sequence replaced by U+FFFD.
std::string valid_utf8(std::string_view text);

// The label of token i of a capture: its token string, or "#i" when the capture has none.
std::string token_label(const capture::Capture& cap, int i);

// "'text' @i": a token's label with its position, as the bar figures list them.
std::string token_with_position(const capture::Capture& cap, int i);

// Words for the importance measure: a short axis label ("key + value norm") and a full
// definition with units, as figure titles, metrics.json and the guide state it.
std::string importance_label(const analysis::ImportanceOptions& opt);
std::string importance_definition(const analysis::ImportanceOptions& opt);

}  // namespace kvscope::report
