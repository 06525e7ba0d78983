// report.html: one self-contained page (script, style and data inline, no network) that lets
// a reader explore every layer, head and token of a capture. The page's code is kept as plain
// files in report/html/ and embedded at build time; this file packs the data.
//
// Data resolution is decided here, at write time, to keep the file within a byte budget:
//   exact   every head's full causal map (fp16), when all of them fit;
//   pooled  every head's max-pooled map (P x P cells, log-coded bytes) plus each query row's
//           top-k keys with their weights (fp16), k as large as the budget allows (<= 8).
// The page states which one it shows. Keys and values are kept per channel-scaled int8, with
// token rows max-pooled to at most kKvRows rows, and exact per-token norms.
//
// Letters: L layers, H query heads, KH key/value heads, S tokens, D head dim, P pooled cells.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "kvscope/capture/capture.hpp"
#include "kvscope/capture/generate.hpp"
#include "kvscope/report/bundle.hpp"

namespace kvscope::report {

struct HtmlOptions {
  std::string maps = "auto";           // auto, exact or pooled
  int64_t max_bytes = 64LL << 20;      // the whole file, bytes
  static constexpr int kKvRows = 512;  // token rows kept of K and V per head
  static constexpr int kThumb = 48;    // overview thumbnail cells per side
};

// What the page's data section holds, for tests and for the summary.
struct HtmlReport {
  std::string html;
  std::string maps;  // "exact", "pooled" or "none" (no attention captured)
  int top_k = 0;     // top-k keys per query row kept (pooled)
};

// compress: the compression lab's results.json of the same folder, or null.
HtmlReport html_report(const capture::Capture& cap, const Bundle& b, const ReportOptions& opt,
                       const capture::GenerationTrace* trace, const nlohmann::json& compress,
                       const HtmlOptions& html = {});

}  // namespace kvscope::report
