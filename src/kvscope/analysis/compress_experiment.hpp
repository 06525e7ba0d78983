// The compression lab's experiment: every method at every budget (and, when asked, one
// method layer by layer and KV head by KV head) run through the protocol of
// capture/compress_protocol.hpp and scored with compress_metrics.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kvscope/analysis/compress_methods.hpp"
#include "kvscope/analysis/compress_metrics.hpp"
#include "kvscope/capture/compress_protocol.hpp"
#include "kvscope/capture/loaded_model.hpp"

namespace kvscope::analysis {

struct CompressOptions {
  capture::ProtocolOptions protocol;
  std::vector<std::string> methods;  // empty: default_methods()
  std::vector<double> budgets = {0.5, 0.75, 0.9};
  int sinks = 4;
  uint64_t seed = 0;
  std::string sensitivity;  // "METHOD@BUDGET" (or a quantizer alone); empty: none
  int layer = -1;           // with sensitivity: also per KV head of this layer
  // Largest attention capture (bytes of [L][H, C, C] fp32) allowed for h2o, tova, snapkv.
  int64_t max_attention_bytes = int64_t{8} << 30;
};

// One method at one budget (budget unset for methods that only quantize).
struct CompressJobSpec {
  MethodSpec method;
  std::optional<double> budget;
  int n_keep = 0;       // context tokens kept (C without eviction)
  int only_layer = -1;  // sensitivity jobs
  int only_kv_head = -1;
};

// Every job, validated against the model before anything runs. BadInput for an unknown
// method (listing the known ones), a budget out of range, a bad --sensitivity or --layer, or
// an attention capture too large for memory.
struct CompressPlan {
  capture::ProtocolOptions protocol;  // attention / pre_rope set as the methods need
  std::vector<CompressJobSpec> jobs;  // results first, then sensitivity per layer, per head
  int n_results = 0;
  int n_sensitivity_layers = 0;  // jobs after the results: one per layer
  int n_sensitivity_heads = 0;   // then one per KV head of sensitivity_layer
  int sensitivity_layer = -1;
  std::string sensitivity_method;
  std::optional<double> sensitivity_budget;
};
CompressPlan plan_compress(const CompressOptions& o, const model::Config& cfg);

struct CompressResult {
  std::string method;
  std::optional<double> budget;
  double kept_tokens = 0;   // context tokens kept per layer and KV head (mean)
  int64_t cache_bytes = 0;  // compressed context cache (see compress_methods.hpp)
  double bytes_ratio = 0;   // cache_bytes / the fp16 context cache
  CompressMetrics metrics;
  std::vector<double> kl;  // [K * S] per scored position, window by window
};

struct SensitivityRow {
  int layer = 0;
  int kv_head = -1;  // -1: the whole layer
  CompressMetrics metrics;
};

struct CompressReport {
  int context = 0, continuation = 0, windows = 0;
  int64_t scored = 0;
  double ppl_ref = 0;      // perplexity of the text under the reference
  int64_t fp16_bytes = 0;  // the uncompressed context cache at fp16
  std::vector<CompressResult> results;
  std::string sensitivity_method;  // empty when not asked
  std::optional<double> sensitivity_budget;
  int sensitivity_layer = -1;
  std::vector<SensitivityRow> sensitivity_layers;  // [L]
  std::vector<SensitivityRow> sensitivity_heads;   // [G] of sensitivity_layer, or empty
  capture::ProtocolTimes times;
};

CompressReport run_compress(const capture::LoadedModel& m, const std::vector<int32_t>& ids,
                            const CompressPlan& plan, const CompressOptions& o,
                            const capture::ProtocolProgress& progress = {});

}  // namespace kvscope::analysis
