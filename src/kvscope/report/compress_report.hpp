// The compression lab's output (kvscope compress): results.json, results.csv, the figures
// compression_pareto, compression_kl_distribution and (with --sensitivity)
// compression_sensitivity, a guide to reading them, and the table printed on stdout. Every
// file is written atomically.
#pragma once

#include "kvscope/atomic_file.hpp"

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kvscope/analysis/compress_experiment.hpp"

namespace kvscope::report {

struct CompressInfo {
  std::string model;  // as the user named it
  std::string text;   // the text file, or "--prompt"
  std::string ext = "png";
};

nlohmann::json compress_results_json(const analysis::CompressReport& r, const CompressInfo& info);
std::string compress_results_csv(const analysis::CompressReport& r);
std::string compress_sensitivity_csv(const analysis::CompressReport& r);
// A fixed-width table, one row per result, sorted as run.
std::string compress_table_text(const analysis::CompressReport& r);
std::string compress_guide_markdown(const analysis::CompressReport& r, const CompressInfo& info);

void draw_compression_pareto(const analysis::CompressReport& r, const std::string& path);
void draw_compression_kl_distribution(const analysis::CompressReport& r, const std::string& path);
void draw_compression_sensitivity(const analysis::CompressReport& r, const std::string& path);

// The output folder, checked now (BadInput when it cannot be one) and created by
// write_compress_report; it holds only this run's files once committed.
AtomicFolder compress_output_folder(const std::string& dir);
// Whether `name` (no folder) is a file write_compress_report writes.
bool is_compress_file(const std::string& name);
// Writes every file into `out` and commits it; returns the final paths written. progress is
// called before each file with its name.
std::vector<std::string> write_compress_report(
    const analysis::CompressReport& r, const CompressInfo& info, AtomicFolder& out,
    const std::function<void(const std::string&)>& progress);

}  // namespace kvscope::report
