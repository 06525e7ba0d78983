// kvscope analyze: capture the cache of a prompt and write every figure and number.
#include <chrono>
#include <cstdio>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "kvscope/capture/generate.hpp"
#include "kvscope/capture/memory_budget.hpp"
#include "kvscope/capture/run.hpp"
#include "kvscope/error.hpp"
#include "kvscope/report/bundle.hpp"
#include "kvscope/report/metrics.hpp"
#include "kvscope/report/report.hpp"

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

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

void add_analyze_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "analyze", "Capture a prompt's KV cache and write every figure, metrics.json and a guide");
  struct Opts {
    ModelOptions model;
    PromptOptions prompt;
    report::ReportOptions report;
    int generate = 0;
    std::string importance = "key_value_norm";
    std::string attention = "auto";
    int attention_max_tokens = 1024;
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
  cmd->add_option("--layers", o->report.attn_layers, "Layers in attention_patterns (default: all)")
      ->delimiter(',')
      ->check(non_negative_integer());
  cmd->add_option("--heads", o->report.attn_heads, "Heads in attention_patterns (default: all)")
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
                  "Capture attention patterns: auto (up to --attention-max-tokens), on, off")
      ->capture_default_str();
  cmd->add_option("--attention-max-tokens", o->attention_max_tokens,
                  "Prompt length up to which auto captures attention")
      ->capture_default_str()
      ->check(non_negative_integer());
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
      "--linear-counts", [o](int64_t) { o->report.log_counts = false; },
      "Plot value distributions on a linear count axis");
  cmd->callback([o]() {
    auto t_start = std::chrono::steady_clock::now();
    report::ReportOptions& ro = o->report;
    ro.importance.measure = parse_measure(o->importance);
    if (o->attention != "auto" && o->attention != "on" && o->attention != "off")
      throw BadInput(fmt::format("--attention {}: expected auto, on or off", o->attention));
    if (o->generate < 0)
      throw BadInput(fmt::format("--generate {} must not be negative", o->generate));
    const std::string prompt = o->prompt.text();
    if (ro.out_dir.empty()) throw BadInput("--out: empty folder name");
    o->model.validate();
    const bool tty = stderr_is_terminal();
    auto say = [tty](const std::string& s) {
      if (tty) std::fprintf(stderr, "\r\033[K%s", s.c_str());
    };

    say("loading the model...");
    capture::LoadedModel m = load(o->model);
    const model::Config& cfg = m.model.config();
    report::validate_options(ro, cfg.n_layer, cfg.n_head);
    capture::check_prompt_bytes(m, prompt.size());
    const std::vector<int32_t> ids = m.tokenizer.encode(prompt, true);
    const int n = static_cast<int>(ids.size());
    if (n == 0) throw BadInput("the prompt gives no tokens");
    if (n > cfg.n_ctx)
      throw BadInput(fmt::format(
          "the prompt has {} tokens, more than the model's context length of {}", n, cfg.n_ctx));
    const bool attention =
        o->attention == "on" || (o->attention == "auto" && n <= o->attention_max_tokens);
    if (ro.importance.measure == analysis::ImportanceMeasure::AttentionReceived && !attention)
      throw BadInput("--importance attention needs attention patterns: use --attention on");
    // Every check comes before the output folder is made, so a refused run leaves nothing.
    capture::check_capture_memory(cfg, n, {.attention = attention});
    capture::GenerateOptions g;
    g.max_new_tokens = o->generate;
    g.sampling.temperature = o->temperature;
    g.sampling.seed = o->seed;
    g.attention = true;
    if (o->generate > 0) capture::check_generation(m, n, g);
    report::prepare_output_dir(ro.out_dir);
    const double t_load = seconds_since(t_start);

    say(fmt::format("running the model over {} tokens...", n));
    auto t0 = std::chrono::steady_clock::now();
    capture::Capture cap = capture::capture_tokens(m, ids, {.attention = attention});
    cap.prompt = prompt;
    const double t_forward = seconds_since(t0);

    std::unique_ptr<capture::GenerationTrace> trace;
    double t_generate = 0;
    if (o->generate > 0) {
      say(fmt::format("generating {} tokens...", o->generate));
      t0 = std::chrono::steady_clock::now();
      trace = std::make_unique<capture::GenerationTrace>(capture::generate_ids(m, ids, g));
      t_generate = seconds_since(t0);
    }

    say("analysing...");
    t0 = std::chrono::steady_clock::now();
    std::vector<int32_t> special;
    for (int32_t id : ids)
      if (m.tokenizer.is_special(id)) special.push_back(id);
    report::Bundle b = report::build_bundle(cap, ro, special, trace.get());
    const double t_analysis = seconds_since(t0);

    t0 = std::chrono::steady_clock::now();
    std::vector<std::string> files = report::write_report(
        cap, b, ro, trace.get(), [&](const std::string& file, int done, int total) {
          if (!file.empty()) say(fmt::format("[{}/{}] writing {}", done + 1, total, file));
        });
    const double t_draw = seconds_since(t0);
    if (tty) std::fprintf(stderr, "\r\033[K");

    std::fputs(report::summary_text(cap, b, trace.get()).c_str(), stdout);
    fmt::print(
        "wrote {} files to {}/ (load {:.2f} s, forward {:.2f} s{}, analysis {:.2f} s, figures and "
        "files {:.2f} s)\n",
        files.size(), ro.out_dir, t_load, t_forward,
        trace ? fmt::format(", generation {:.2f} s", t_generate) : std::string(), t_analysis,
        t_draw);
  });
}

}  // namespace kvscope::cli
