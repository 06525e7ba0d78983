// kvscope analyze: capture the cache of a prompt and write every figure and number.
#include <cstdio>
#include <utility>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "kvscope/error.hpp"
#include "kvscope/report/analyze.hpp"
#include "kvscope/report/metrics.hpp"

namespace kvscope::cli {

namespace {

analysis::ImportanceMeasure parse_measure(const std::string& s) {
  if (s == "key_norm") return analysis::ImportanceMeasure::KeyNorm;
  if (s == "value_norm") return analysis::ImportanceMeasure::ValueNorm;
  if (s == "key_value_norm") return analysis::ImportanceMeasure::KeyValueNorm;
  if (s == "attention") return analysis::ImportanceMeasure::AttentionReceived;
  throw BadInput(fmt::format(
      "--importance {}: expected key_norm, value_norm, key_value_norm or attention", s));
}

// The library names an option by its field (report/analyze.hpp); say it as the flag.
std::string with_flag_names(const std::string& message) {
  static const std::pair<const char*, const char*> kFlags[] = {
      {"out_dir", "--out"},
      {"ext", "--format"},
      {"layer", "--layer"},
      {"head", "--head"},
      {"attn_layers", "--attention-layers"},
      {"attn_heads", "--attention-heads"},
      {"chunk", "--chunk"},
      {"prompt_tokens", "--prompt-tokens"},
      {"pca_layers", "--pca-layers"},
      {"histogram_bins", "--bins"},
      {"tokens_listed", "--tokens-listed"},
      {"attention_norm", "--attention-norm"},
      {"html_maps", "--html-maps"},
      {"attention_max_tokens", "--attention-max-tokens"},
      {"attention", "--attention"},
      {"importance", "--importance"},
      {"generate", "--generate"},
  };
  for (const auto& [field, flag] : kFlags) {
    const std::string f = field;
    if (message.compare(0, f.size() + 1, f + " ") == 0) {
      std::string out = flag + message.substr(f.size());
      // "... attention must be on" names a second option.
      if (const size_t at = out.find(": attention must be on"); at != std::string::npos)
        out.replace(at, 22, ": use --attention on");
      return out;
    }
  }
  return message;
}

}  // namespace

void add_analyze_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "analyze",
      "Capture a prompt's KV cache and write every figure, metrics.json, a guide and "
      "report.html (an interactive page, one self-contained file)");
  struct Opts {
    ModelOptions model;
    PromptOptions prompt;
    report::ReportOptions report;
    int generate = 0;
    std::string importance = "key_value_norm";
    std::string attention = "auto";
    int attention_max_tokens = 1024;
    int chunk = capture::kDefaultChunk;
    int prompt_tokens = 0;
    uint64_t seed = 0;
    float temperature = 0.0f;
  };
  auto o = std::make_shared<Opts>();
  o->model.add_to(*cmd);
  o->prompt.add_to(*cmd, kNewsPrompt);
  cmd->add_option("-o,--out", o->report.out_dir, "Output folder")->capture_default_str();
  cmd->add_option("-g,--generate", o->generate, "Also generate N tokens and show the cache growing")
      ->capture_default_str();
  cmd->add_option("--temperature", o->temperature,
                  "Sampling temperature for --generate (0 = greedy)")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "Random seed for --generate sampling")
      ->capture_default_str()
      ->check(non_negative_integer());
  cmd->add_option("-l,--layer", o->report.layer,
                  "Layer for head_specialization and kv_cache_details (default: middle)")
      ->check(non_negative_integer());
  cmd->add_option("--head", o->report.head, "Query head for kv_cache_details")
      ->capture_default_str()
      ->check(non_negative_integer());
  cmd->add_option("--attention-layers,--layers", o->report.attn_layers,
                  "Layers in attention_patterns, with exact maps up to --attention-max-tokens "
                  "(default: all)")
      ->delimiter(',')
      ->check(non_negative_integer());
  cmd->add_option("--attention-heads,--heads", o->report.attn_heads,
                  "Heads in attention_patterns, with exact maps up to --attention-max-tokens "
                  "(default: all)")
      ->delimiter(',')
      ->check(non_negative_integer());
  cmd->add_option("--pca-layers", o->report.pca_layers,
                  "Layers in kv_pca_by_position (default: first, middle, last)")
      ->delimiter(',')
      ->check(non_negative_integer());
  cmd->add_option(
         "--importance", o->importance,
         "Token importance: key_norm, value_norm, key_value_norm or attention (attention received)")
      ->capture_default_str();
  cmd->add_option("--attention", o->attention,
                  "Attention statistics and pooled maps, streamed at any length: on (or auto), "
                  "off")
      ->capture_default_str();
  cmd->add_option("--attention-max-tokens", o->attention_max_tokens,
                  "Prompt length up to which the drawn layers' and heads' exact maps are kept")
      ->capture_default_str()
      ->check(non_negative_integer());
  cmd->add_option("--prompt-tokens", o->prompt_tokens,
                  "Keep only the prompt's first N tokens (0 = all; for long texts)")
      ->capture_default_str()
      ->check(non_negative_integer());
  cmd->add_option("--chunk", o->chunk,
                  "Prompt tokens per forward call (bounds activation memory; results equal)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--attention-norm", o->report.attention_norm,
                  "Colour scale of attention maps: power or row")
      ->capture_default_str();
  cmd->add_option("--format", o->report.ext, "Figure format: png, svg or pdf")
      ->capture_default_str();
  cmd->add_option("--bins", o->report.histogram_bins, "Histogram bins")->capture_default_str();
  cmd->add_option("--tokens-listed", o->report.tokens_listed,
                  "Tokens listed in the importance figures")
      ->capture_default_str();
  cmd->add_flag(
      "--report-only", [o](int64_t) { o->report.figures = false; },
      "Write report.html, metrics.json and the tables, no figures");
  cmd->add_flag(
      "--no-html", [o](int64_t) { o->report.html = false; }, "Do not write report.html");
  cmd->add_option("--html-maps", o->report.html_maps,
                  "Attention maps in report.html: auto (exact when every map was kept, see "
                  "--attention-max-tokens, and they fit 64 MB), exact, or pooled (max-pooled "
                  "maps plus each row's top keys)")
      ->capture_default_str();
  cmd->add_flag(
      "--linear-counts", [o](int64_t) { o->report.log_counts = false; },
      "Plot value distributions on a linear count axis");
  cmd->callback([o]() {
    report::AnalyzeOptions a;
    a.report = o->report;
    a.report.importance.measure = parse_measure(o->importance);
    a.generate = o->generate;
    a.temperature = o->temperature;
    a.seed = o->seed;
    a.attention = o->attention;
    a.attention_max_tokens = o->attention_max_tokens;
    a.chunk = o->chunk;
    a.prompt_tokens = o->prompt_tokens;
    a.prompt = o->prompt.text();
    o->model.validate();
    const bool tty = stderr_is_terminal();
    auto say = [tty](const std::string& s) {
      if (tty) std::fprintf(stderr, "\r\033[K%s", s.c_str());
    };
    report::AnalyzeProgress progress;
    progress.stage = say;
    progress.file = [&](const std::string& file, int done, int total) {
      if (!file.empty()) say(fmt::format("[{}/{}] writing {}", done + 1, total, file));
    };
    report::AnalyzeResult r;
    try {
      r = report::analyze(
          a, [o] { return load(o->model); }, progress);
    } catch (const BadInput& e) {
      throw BadInput(with_flag_names(e.what()));
    }
    if (tty) std::fprintf(stderr, "\r\033[K");

    std::fputs(report::summary_text(r.cap, r.bundle, r.trace.get()).c_str(), stdout);
    fmt::print(
        "wrote {} files to {}/ (load {:.2f} s, forward {:.2f} s{}, analysis {:.2f} s, figures and "
        "files {:.2f} s)\n",
        r.files.size(), a.report.out_dir, r.load_s, r.forward_s,
        r.trace ? fmt::format(", generation {:.2f} s", r.generate_s) : std::string(), r.analysis_s,
        r.files_s);
  });
}

}  // namespace kvscope::cli
