// Every number behind every figure, as files a script can read: metrics.json (all of it, named
// and with units), one CSV per table, and a short plain-text summary.
//
// metrics.json layout (top-level keys): schema, units, model, prompt, tokens, options,
// sparsity_rule, layer_stats, distribution, pca, head_specialization, quantization,
// token_magnitudes (with the tokens figures name: largest and outliers), importance, ranking,
// categories, cache, generation (with a trace only; per-step attention as generation.png
// draws it).
// Units are stated in the "units" object and in key suffixes (_bytes, _nats, _tokens).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kvscope/capture/capture.hpp"
#include "kvscope/capture/generate.hpp"
#include "kvscope/report/bundle.hpp"

namespace kvscope::report {

// The metrics document as JSON (what write_metrics_json writes). trace may be null.
nlohmann::json metrics_json(const capture::Capture& cap, const Bundle& b, const ReportOptions& opt,
                            const capture::GenerationTrace* trace);

// Writes metrics_json(...) to `path` atomically (BadInput for an unwritable path).
void write_metrics_json(const capture::Capture& cap, const Bundle& b, const ReportOptions& opt,
                        const capture::GenerationTrace* trace, const std::string& path);

// The CSV tables write_csv_tables may write (generation.csv only with a trace).
inline constexpr const char* kCsvTables[] = {"layer_stats.csv", "quantization_error.csv",
                                             "tokens.csv", "head_specialization.csv",
                                             "generation.csv"};

// Writes into out_dir (which must exist): layer_stats.csv, quantization_error.csv, tokens.csv,
// head_specialization.csv, and generation.csv when trace is given. Each atomically; text
// fields are quoted as RFC 4180 asks. Returns the paths written, in order.
std::vector<std::string> write_csv_tables(const capture::Capture& cap, const Bundle& b,
                                          const ReportOptions& opt,
                                          const capture::GenerationTrace* trace,
                                          const std::string& out_dir);

// A few lines for a terminal: model, tokens, cache size and headline numbers.
std::string summary_text(const capture::Capture& cap, const Bundle& b,
                         const capture::GenerationTrace* trace);

// A CSV field: quoted (with inner quotes doubled) when it holds a comma, quote or line break.
std::string csv_field(std::string_view s);

}  // namespace kvscope::report
