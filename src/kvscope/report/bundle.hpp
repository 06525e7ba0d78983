// The analysis behind a report, computed once from a capture: every figure reads from here
// and metrics.json writes all of it, so a number on a figure and in metrics.json are the same
// number.
//
// Letters: L layers, H query heads, KH key/value heads, S tokens, D head dim.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kvscope/analysis/capture_check.hpp"
#include "kvscope/analysis/generation_attention.hpp"
#include "kvscope/analysis/head_specialization.hpp"
#include "kvscope/analysis/histogram.hpp"
#include "kvscope/analysis/layer_stats.hpp"
#include "kvscope/analysis/pca.hpp"
#include "kvscope/analysis/quantization.hpp"
#include "kvscope/analysis/token_categories.hpp"
#include "kvscope/analysis/token_importance.hpp"
#include "kvscope/analysis/token_outliers.hpp"
#include "kvscope/capture/capture.hpp"
#include "kvscope/capture/generate.hpp"

namespace kvscope::report {

struct ReportOptions {
  std::string out_dir = "kvscope-out";
  std::string ext = "png";  // figure format: png, svg or pdf
  int layer = -1;  // --layer for head_specialization and kv_cache_details; -1 = middle layer
  int head = 0;    // --head for kv_cache_details
  std::vector<int> attn_layers;            // layers of attention_patterns.png; empty = all
  std::vector<int> attn_heads;             // heads of attention_patterns.png; empty = all
  std::vector<int> pca_layers;             // empty = first, middle and last layer
  analysis::ImportanceOptions importance;  // measure used by the token-importance figures
  analysis::SparsityRule sparsity;         // used by kv_cache_statistics.png
  int histogram_bins = 100;
  bool log_counts = true;  // kv_value_distribution.png on a log count axis
  int tokens_listed = 12;  // tokens shown in low/high importance figures
  // Attention maps: "row" normalises each map by its own maximum; "power" uses a power norm
  // with gamma 0.5 on [0, 1].
  std::string attention_norm = "power";
  bool figures = true;             // false: report.html, metrics.json and tables only
  bool html = true;                // write report.html
  std::string html_maps = "auto";  // report.html's attention maps: auto, exact or pooled
};

struct Bundle {
  int layer = 0;  // resolved --layer
  int head = 0;
  std::vector<int> attn_layers;  // resolved
  std::vector<int> attn_heads;   // resolved
  std::vector<int> pca_layers;   // resolved

  std::vector<analysis::LayerStats> stats;               // [L]
  analysis::ValueDistribution distribution;              // all K and V entries
  std::vector<analysis::PcaResult> pca_keys;             // [pca_layers]
  std::vector<analysis::PcaResult> pca_values;           // [pca_layers]
  analysis::HeadSpecialization heads;                    // of `layer`
  std::vector<analysis::QuantErrorCurve> quant;          // grouping x bits
  analysis::TokenMagnitudes magnitudes;                  // [S] key and value
  std::vector<double> importance;                        // [S] by options.importance.measure
  analysis::TokenRanking ranking;                        // lowest and highest `tokens_listed`
  std::vector<analysis::TokenCategory> categories;       // [S]
  std::vector<analysis::CategoryGroup> category_groups;  // [7]
  // Tokens the figures name: the largest key and value norms (3..8 of them, by length), and
  // the outliers of the (key norm, value norm) cloud beyond kOutlierDistance robust deviations.
  static constexpr int kOutliersListed = 12;
  static constexpr double kOutlierDistance = 3.0;
  std::vector<int> largest_key_tokens;        // positions, largest first
  std::vector<int> largest_value_tokens;      // positions, largest first
  std::vector<int> kv_outliers;               // positions, furthest first
  std::vector<int64_t> cache_bytes_per_step;  // [steps + 1] with a generation trace
  // [steps + 1] what the model's own cache holds, for models with sliding-window layers
  // (which keep only their last window - 1 positions); else empty.
  std::vector<int64_t> model_cache_bytes_per_step;
  analysis::GenerationAttention generation_attention;  // with a trace that has attention
};

// Validates options against the capture (BadInput: layer/head out of range, bad format, ...)
// and runs every analysis. special_ids: token ids the tokenizer calls special.
Bundle build_bundle(const capture::Capture& cap, const ReportOptions& opt,
                    std::span<const int32_t> special_ids,
                    const capture::GenerationTrace* trace = nullptr);

// Checks options that need no capture (format, importance measure vs attention); BadInput.
void validate_options(const ReportOptions& opt, int n_layer, int n_head);

}  // namespace kvscope::report
