// The `analyze` pipeline as one library call: check the options, load the model, tokenize,
// capture (with attention when asked or when the prompt is short enough), optionally generate,
// run every analysis and write the report folder. A front end (the CLI, a report server) only
// gathers options and shows progress.
//
// Messages about options name the fields of AnalyzeOptions / ReportOptions as the first word
// ("layer 7 is out of range ...", "out_dir x: exists and is not a folder"), so that a front
// end can say them in its own words (the CLI maps them to its flags).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kvscope/capture/capture.hpp"
#include "kvscope/capture/generate.hpp"
#include "kvscope/capture/loaded_model.hpp"
#include "kvscope/capture/run.hpp"
#include "kvscope/report/bundle.hpp"

namespace kvscope::report {

struct AnalyzeOptions {
  std::string prompt;
  ReportOptions report;  // report.out_dir is the folder written
  int generate = 0;      // tokens to generate after the prompt (0 = none)
  float temperature = 0.0f;
  uint64_t seed = 0;
  // Attention: "on" (or "auto", the same) streams every layer's statistics and pooled maps at
  // any prompt length; "off" captures none.
  std::string attention = "auto";
  // Exact maps of the attention figure's layers and heads are kept up to this prompt length.
  int attention_max_tokens = 1024;
  int chunk = capture::kDefaultChunk;  // prompt tokens per forward call
  int prompt_tokens = 0;  // keep the prompt's first N tokens (0 = all of it)
};

struct AnalyzeResult {
  capture::Capture cap;
  Bundle bundle;
  std::unique_ptr<capture::GenerationTrace> trace;  // null without generate
  std::vector<std::string> files;                   // written, in order
  // Wall time of each stage, seconds.
  double load_s = 0, forward_s = 0, generate_s = 0, analysis_s = 0, files_s = 0;
};

// Stage messages ("loading the model...") and, while files are written, each file's name with
// how many are done and how many in all (done == total at the end, with an empty name).
struct AnalyzeProgress {
  std::function<void(const std::string& stage)> stage;
  std::function<void(const std::string& file, int done, int total)> file;
};

// Checks everything that needs no model (BadInput naming the field), then calls `load`, and
// runs the pipeline. Nothing is created on disk before the inputs are checked; the output
// folder appears whole at the end or not at all.
AnalyzeResult analyze(const AnalyzeOptions& opt, const std::function<capture::LoadedModel()>& load,
                      const AnalyzeProgress& progress = {});

}  // namespace kvscope::report
