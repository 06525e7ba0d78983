// A whole report: every figure, metrics.json, the CSV tables and the figure guide, written
// into one folder. Each file is written atomically, so a run that fails part-way leaves no
// half-written file.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "kvscope/capture/capture.hpp"
#include "kvscope/capture/generate.hpp"
#include "kvscope/report/bundle.hpp"

namespace kvscope::report {

// Called before each file is written: its name, how many are done, how many in all.
// Called from whichever thread finished a file (never two calls at once); `done` only grows.
using Progress = std::function<void(const std::string& file, int done, int total)>;

// Creates opt.out_dir if needed and checks it can be written to; BadInput naming the folder
// otherwise. Call it before the expensive capture.
void prepare_output_dir(const std::string& dir);

// Writes everything; returns the paths written, in order.
std::vector<std::string> write_report(const capture::Capture& cap, const Bundle& b,
                                      const ReportOptions& opt,
                                      const capture::GenerationTrace* trace,
                                      const Progress& progress = {});

}  // namespace kvscope::report
