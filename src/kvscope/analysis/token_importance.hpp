// How much each token weighs in the cache (figures low_importance_tokens.png,
// token_importance_comparison.png, token_magnitudes.png, token_key_value_scatter.png).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kvscope/analysis/capture_check.hpp"
#include "kvscope/capture/capture.hpp"

namespace kvscope::analysis {

// Per-token magnitudes: the L2 norm of the token's D-vector in one (layer, kv head), averaged
// over all L layers and KH key/value heads (each kv head once, however many query heads
// share it). Units of the cached activations.
struct TokenMagnitudes {
  std::vector<double> key;    // [S]
  std::vector<double> value;  // [S]
};

TokenMagnitudes token_magnitudes(const capture::Capture& cap, KvPart key_part = KvPart::Key);

enum class ImportanceMeasure {
  KeyNorm,            // TokenMagnitudes::key
  ValueNorm,          // TokenMagnitudes::value
  KeyValueNorm,       // key + value magnitude
  AttentionReceived,  // sum over layers, query heads and query positions i >= j of p[h, i, j];
                      // needs attention patterns
};

std::string_view measure_name(ImportanceMeasure m);  // "key_norm", "value_norm", ...

struct ImportanceOptions {
  ImportanceMeasure measure = ImportanceMeasure::KeyValueNorm;
  // AttentionReceived only: divide token j's sum by S - j, the number of query positions that
  // can see it under the causal mask, so early tokens are not favoured just for being early.
  bool per_visible_query = false;
  KvPart key_part = KvPart::Key;
};

// [S] importance score of each token; BadInput for AttentionReceived without patterns.
std::vector<double> token_importance(const capture::Capture& cap,
                                     const ImportanceOptions& options = {});

struct RankedToken {
  int index = 0;     // position in the prompt
  std::string text;  // token_strings[index], or "" when the capture has none
  double score = 0;
};

struct TokenRanking {
  std::vector<RankedToken> lowest;   // [<= k] lowest scores first
  std::vector<RankedToken> highest;  // [<= k] highest scores first
};

// The k lowest and k highest scored tokens (k clamped to the number of finite scores; ties go
// to the earlier position; non-finite scores are left out). texts is [S] or empty.
TokenRanking rank_tokens(const std::vector<double>& scores, const std::vector<std::string>& texts,
                         int k);

}  // namespace kvscope::analysis
