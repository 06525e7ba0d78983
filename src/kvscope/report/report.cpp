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

#include "kvscope/atomic_file.hpp"
#include "kvscope/error.hpp"
#include "kvscope/io/json_file.hpp"
#include "kvscope/plot/figure.hpp"
#include "kvscope/report/compress_report.hpp"
#include "kvscope/report/figures.hpp"
#include "kvscope/report/guide.hpp"
#include "kvscope/report/html_report.hpp"
#include "kvscope/report/metrics.hpp"

namespace kvscope::report {

namespace fs = std::filesystem;

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

bool is_report_file(const std::string& name) {
  if (is_compress_file(name)) return true;  // kept: report.html shows them
  for (const char* f : {"metrics.json", "figure_guide.md", "report.html"})
    if (name == f) return true;
  for (const char* f : kCsvTables)
    if (name == f) return true;
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  const std::string stem = name.substr(0, dot), ext = name.substr(dot + 1);
  if (ext != "png" && ext != "svg" && ext != "pdf") return false;
  for (const FigureSpec& f : figure_table())
    if (stem == f.stem) return true;
  return false;
}

AtomicFolder output_folder(const std::string& out_dir) {
  return AtomicFolder(out_dir, is_report_file, "out_dir");
}

namespace {

std::vector<std::string> write_into(const capture::Capture& cap, const Bundle& b,
                                    const ReportOptions& opt, const capture::GenerationTrace* trace,
                                    AtomicFolder& out, const Progress& progress) {
  out.create();
  const bool with_generation = trace != nullptr && !trace->steps.empty();
  auto path_of = [&](const std::string& file) { return out.path_of(file); };

  // The figures are independent of each other: they are built and saved on a few threads,
  // each into its own surface, and each file appears atomically. Progress calls are
  // serialised, and `done` (figures finished) only grows. The heavy figures start first, so
  // that the last to finish is a light one and the threads run out of work at about the same
  // time; `written` keeps the table's order.
  std::vector<std::string> written;
  std::vector<std::function<void()>> heavy, light;
  std::mutex progress_mutex;
  int done = 0, total = 0;
  const FigureInput in{cap, b, opt, trace};
  for (const FigureSpec& f : figure_table()) {
    if (!opt.figures || !f.applies(cap.has_attention(), with_generation)) continue;
    const std::string file = fmt::format("{}.{}", f.stem, opt.ext);
    written.push_back(path_of(file));
    (f.heavy ? heavy : light).push_back([&, file, path = written.back(), build = f.build] {
      {
        std::lock_guard lock(progress_mutex);
        if (progress) progress(file, done, total);
      }
      build(in).save(path);
      std::lock_guard lock(progress_mutex);
      ++done;
    });
  }
  std::vector<std::function<void()>> jobs = std::move(heavy);
  for (auto& j : light) jobs.push_back(std::move(j));
  total = static_cast<int>(jobs.size()) + 3 + (opt.html ? 1 : 0);

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
  for (std::string& p : write_csv_tables(cap, b, opt, trace, out.temp_path()))
    written.push_back(std::move(p));
  write_file_atomic(step("figure_guide.md"),
                    figure_guide_markdown(opt, with_generation, cap.has_attention()));

  // The compression lab's files of an earlier `kvscope compress` into this folder stay, and
  // report.html shows its results next to the token importance.
  nlohmann::json compress;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(out.final_path(), ec)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || !is_compress_file(name)) continue;
    fs::copy_file(e.path(), out.path_of(name), fs::copy_options::overwrite_existing, ec);
    if (ec)
      throw IoError(fmt::format("{}: cannot keep it in the new report ({})", e.path().string(),
                                ec.message()));
    written.push_back(out.path_of(name));
    if (name == "results.json") {
      try {
        compress = io::read_json_file(e.path().string());
      } catch (const Error&) {
        compress = nullptr;  // not the lab's file after all: the page leaves it out
      }
    }
  }
  if (opt.html) {
    const std::string path = step("report.html");
    write_file_atomic(path,
                      html_report(cap, b, opt, trace, compress, {.maps = opt.html_maps}).html);
  }
  out.commit();
  for (std::string& p : written) p = (fs::path(out.final_path()) / fs::path(p).filename()).string();
  if (progress) progress("", total, total);
  return written;
}

}  // namespace

std::vector<std::string> write_report(const capture::Capture& cap, const Bundle& b,
                                      const ReportOptions& opt,
                                      const capture::GenerationTrace* trace, AtomicFolder& out,
                                      const Progress& progress) {
  // Errors name the files where they will be, not in the temporary folder.
  try {
    return write_into(cap, b, opt, trace, out, progress);
  } catch (const BadInput& e) {
    throw BadInput(out.as_final(e.what()));
  } catch (const Unsupported& e) {
    throw Unsupported(out.as_final(e.what()));
  } catch (const IoError& e) {
    throw IoError(out.as_final(e.what()));
  }
}

}  // namespace kvscope::report
