// A whole report: every figure, metrics.json, the CSV tables and the figure guide, written
// into one folder that appears whole: a run that fails part-way leaves the previous report as
// it was, and two runs into one folder never mix.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "kvscope/atomic_file.hpp"
#include "kvscope/capture/capture.hpp"
#include "kvscope/capture/generate.hpp"
#include "kvscope/report/bundle.hpp"

namespace kvscope::report {

// Called before each file is written: its name, how many are done, how many in all.
// Called from whichever thread finished a file (never two calls at once); `done` only grows.
using Progress = std::function<void(const std::string& file, int done, int total)>;

// Whether `name` (no folder) is a file a report writes, in any figure format: an earlier
// report's folder holds nothing else, and only such a folder is replaced by a new report.
bool is_report_file(const std::string& name);

// The folder a report goes to, checked now (BadInput naming out_dir: a file, a folder holding
// files a report does not write, no way to create it) and created by nothing: write_report
// fills a temporary folder beside it and swaps it in whole.
AtomicFolder output_folder(const std::string& out_dir);

// Writes everything into a fresh temporary folder beside `out` and swaps it in at the end, so
// the folder holds this run's files only, all of them or (after a failure) the previous
// run's. Returns the paths written (in the final folder), in order.
std::vector<std::string> write_report(const capture::Capture& cap, const Bundle& b,
                                      const ReportOptions& opt,
                                      const capture::GenerationTrace* trace, AtomicFolder& out,
                                      const Progress& progress = {});

}  // namespace kvscope::report
