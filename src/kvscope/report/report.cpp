#include "kvscope/report/report.hpp"

#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>

#include "kvscope/error.hpp"
#include "kvscope/io/atomic_file.hpp"
#include "kvscope/report/figures.hpp"
#include "kvscope/report/guide.hpp"
#include "kvscope/report/metrics.hpp"

namespace kvscope::report {

namespace fs = std::filesystem;

void prepare_output_dir(const std::string& dir) {
  if (dir.empty()) throw BadInput("--out: empty folder name");
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    throw BadInput(fmt::format("--out {}: exists and is not a folder", dir));
  fs::create_directories(dir, ec);
  if (ec) throw BadInput(fmt::format("--out {}: cannot create the folder: {}", dir, ec.message()));
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    throw BadInput(fmt::format("--out {}: the folder is not writable", dir));
}

std::vector<std::string> write_report(const capture::Capture& cap, const Bundle& b,
                                      const ReportOptions& opt,
                                      const capture::GenerationTrace* trace,
                                      const Progress& progress) {
  using Draw =
      void (*)(const capture::Capture&, const Bundle&, const ReportOptions&, const std::string&);
  struct Item {
    const char* stem;
    Draw draw;
    bool needs_attention;
  };
  const Item figures[] = {
      {"kv_cache_layers", draw_kv_cache_layers, false},
      {"kv_cache_statistics", draw_kv_cache_statistics, false},
      {"kv_value_distribution", draw_kv_value_distribution, false},
      {"kv_pca_by_position", draw_kv_pca_by_position, false},
      {"head_specialization", draw_head_specialization, false},
      {"kv_quantization_error", draw_kv_quantization_error, false},
      {"low_importance_tokens", draw_low_importance_tokens, false},
      {"token_importance_comparison", draw_token_importance_comparison, false},
      {"token_magnitude_distributions", draw_token_magnitude_distributions, false},
      {"token_magnitudes", draw_token_magnitudes, false},
      {"token_key_value_scatter", draw_token_key_value_scatter, false},
      {"attention_patterns", draw_attention_patterns, true},
      {"kv_cache_details", draw_kv_cache_details, false},
  };
  std::vector<std::string> todo;
  for (const Item& f : figures)
    if (!f.needs_attention || cap.has_attention()) todo.push_back(f.stem);
  const bool with_generation = trace != nullptr && !trace->steps.empty();
  const int total = static_cast<int>(todo.size()) + (with_generation ? 1 : 0) + 3;
  int done = 0;
  std::vector<std::string> written;
  auto step = [&](const std::string& file) {
    if (progress) progress(file, done, total);
    ++done;
    const std::string path = (fs::path(opt.out_dir) / file).string();
    written.push_back(path);
    return path;
  };
  for (const Item& f : figures) {
    if (f.needs_attention && !cap.has_attention()) continue;
    f.draw(cap, b, opt, step(fmt::format("{}.{}", f.stem, opt.ext)));
  }
  if (with_generation)
    draw_generation(cap, b, *trace, opt, step(fmt::format("generation.{}", opt.ext)));
  write_metrics_json(cap, b, opt, trace, step("metrics.json"));
  if (progress) progress("tables (CSV)", done, total);
  ++done;
  for (std::string& p : write_csv_tables(cap, b, opt, trace, opt.out_dir))
    written.push_back(std::move(p));
  io::write_file_atomic(step("figure_guide.md"), figure_guide_markdown(opt, with_generation));
  if (progress) progress("", total, total);
  return written;
}

}  // namespace kvscope::report
