#include "kvscope/report/report.hpp"

#include <omp.h>
#include <unistd.h>

#include <atomic>
#include <exception>
#include <filesystem>
#include <functional>
#include <mutex>
#include <system_error>
#include <thread>

#include <fmt/format.h>

#include "kvscope/error.hpp"
#include "kvscope/io/atomic_file.hpp"
#include "kvscope/plot/figure.hpp"
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

namespace {

// Runs every job on up to `threads` threads, the caller's among them, taking jobs in order
// as threads free up. After a failure no further job starts; once every thread has stopped,
// the exception of the failed job that comes first in `jobs` is rethrown.
void run_jobs(const std::vector<std::function<void()>>& jobs, int threads) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::vector<std::exception_ptr> errors(jobs.size());
  auto work = [&] {
    for (size_t i; !failed && (i = next++) < jobs.size();) {
      try {
        jobs[i]();
      } catch (...) {
        errors[i] = std::current_exception();
        failed = true;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::min<int>(threads, static_cast<int>(jobs.size())); ++t) {
    try {
      pool.emplace_back(work);
    } catch (const std::system_error&) {
      break;  // no more threads to be had: the ones running share the work
    }
  }
  work();
  for (std::thread& t : pool) t.join();
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace

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
    bool heavy;  // one of the slowest to draw (most pixels or marks): started first
  };
  const Item figures[] = {
      {"kv_cache_layers", draw_kv_cache_layers, false, true},
      {"kv_cache_statistics", draw_kv_cache_statistics, false, false},
      {"kv_value_distribution", draw_kv_value_distribution, false, false},
      {"kv_pca_by_position", draw_kv_pca_by_position, false, true},
      {"head_specialization", draw_head_specialization, false, false},
      {"kv_quantization_error", draw_kv_quantization_error, false, false},
      {"low_importance_tokens", draw_low_importance_tokens, false, false},
      {"token_importance_comparison", draw_token_importance_comparison, false, false},
      {"token_magnitude_distributions", draw_token_magnitude_distributions, false, false},
      {"token_magnitudes", draw_token_magnitudes, false, true},
      {"token_key_value_scatter", draw_token_key_value_scatter, false, false},
      {"attention_patterns", draw_attention_patterns, true, true},
      {"kv_cache_details", draw_kv_cache_details, false, true},
  };
  const bool with_generation = trace != nullptr && !trace->steps.empty();
  auto path_of = [&](const std::string& file) { return (fs::path(opt.out_dir) / file).string(); };

  // The figures are independent of each other: they are drawn on a few threads, each into
  // its own surface, and each file appears atomically. Progress calls are serialised, and
  // `done` (figures finished) only grows. The heavy figures start first, so that the last to
  // finish is a light one and the threads run out of work at about the same time; `written`
  // keeps the list's order.
  std::vector<std::string> written;
  std::vector<std::function<void()>> heavy, light;
  std::mutex progress_mutex;
  int done = 0, total = 0;
  auto figure_job = [&](const std::string& file, bool is_heavy,
                        std::function<void(const std::string&)> draw) {
    written.push_back(path_of(file));
    (is_heavy ? heavy : light).push_back([&, file, path = written.back(), draw = std::move(draw)] {
      {
        std::lock_guard lock(progress_mutex);
        if (progress) progress(file, done, total);
      }
      draw(path);
      std::lock_guard lock(progress_mutex);
      ++done;
    });
  };
  for (const Item& f : figures) {
    if (f.needs_attention && !cap.has_attention()) continue;
    figure_job(fmt::format("{}.{}", f.stem, opt.ext), f.heavy,
               [&, draw = f.draw](const std::string& path) { draw(cap, b, opt, path); });
  }
  if (with_generation)
    figure_job(fmt::format("generation.{}", opt.ext), false,
               [&](const std::string& path) { draw_generation(cap, b, *trace, opt, path); });
  std::vector<std::function<void()>> jobs = std::move(heavy);
  for (auto& j : light) jobs.push_back(std::move(j));
  total = static_cast<int>(jobs.size()) + 3;

  plot::prepare_fonts();
  run_jobs(jobs, std::max(1, omp_get_max_threads()));

  auto step = [&](const std::string& file) {
    if (progress) progress(file, done, total);
    ++done;
    const std::string path = path_of(file);
    written.push_back(path);
    return path;
  };
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
