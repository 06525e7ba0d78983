#include "kvscope/report/analyze.hpp"

#include <algorithm>
#include <chrono>
#include <string_view>

#include <fmt/format.h>

#include "kvscope/atomic_file.hpp"
#include "kvscope/capture/generate.hpp"
#include "kvscope/capture/memory_budget.hpp"
#include "kvscope/capture/run.hpp"
#include "kvscope/error.hpp"
#include "kvscope/report/report.hpp"

namespace kvscope::report {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

AnalyzeResult analyze(const AnalyzeOptions& opt, const std::function<capture::LoadedModel()>& load,
                      const AnalyzeProgress& progress) {
  const auto t_start = Clock::now();
  auto stage = [&](const std::string& s) {
    if (progress.stage) progress.stage(s);
  };
  const ReportOptions& ro = opt.report;
  if (opt.attention != "auto" && opt.attention != "on" && opt.attention != "off")
    throw BadInput(fmt::format("attention {}: expected auto, on or off", opt.attention));
  if (opt.generate < 0)
    throw BadInput(fmt::format("generate {} must not be negative", opt.generate));
  if (opt.prompt.empty()) throw BadInput("the prompt is empty");
  if (opt.prompt_tokens < 0)
    throw BadInput(fmt::format("prompt_tokens {} must not be negative", opt.prompt_tokens));
  AtomicFolder out = output_folder(ro.out_dir);  // checked now, created at the end

  stage("loading the model...");
  capture::LoadedModel m = load();
  const model::Config& cfg = m.model.config();
  validate_options(ro, cfg.n_layer, cfg.n_head);
  // With prompt_tokens, only as many bytes as that many tokens could hold are tokenized (a
  // long text cut to length), and the ids are cut to exactly N.
  std::string_view text = opt.prompt;
  if (opt.prompt_tokens > 0) {
    const int64_t per_token = std::max<int64_t>(1, capture::max_prompt_bytes(m) / cfg.n_ctx);
    const int64_t keep = (int64_t{opt.prompt_tokens} + 1) * per_token;
    if (static_cast<int64_t>(text.size()) > keep) {
      size_t cut = static_cast<size_t>(keep);
      while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
      text = text.substr(0, cut);
    }
  }
  capture::check_prompt_bytes(m, text.size());
  std::vector<int32_t> ids = m.tokenizer.encode(std::string(text), true);
  if (opt.prompt_tokens > 0 && static_cast<int>(ids.size()) > opt.prompt_tokens)
    ids.resize(static_cast<size_t>(opt.prompt_tokens));
  const int n = static_cast<int>(ids.size());
  if (n == 0) throw BadInput("the prompt gives no tokens");
  if (n > cfg.n_ctx)
    throw BadInput(fmt::format(
        "the prompt has {} tokens, more than the model's context length of {}", n, cfg.n_ctx));
  const bool attention = opt.attention != "off";
  if (ro.html && ro.html_maps == "exact") {
    // report.html's exact maps need every layer's and head's full map.
    if (!attention)
      throw BadInput("html_maps exact needs attention patterns: attention must be on");
    if (n > opt.attention_max_tokens)
      throw BadInput(fmt::format(
          "html_maps exact needs exact maps, which are kept up to attention_max_tokens ({}) "
          "tokens; the prompt has {}",
          opt.attention_max_tokens, n));
    if (!ro.attn_layers.empty() || !ro.attn_heads.empty())
      throw BadInput(
          "html_maps exact needs the exact map of every layer and head: choose no attention "
          "layers or heads");
  }
  if (ro.importance.measure == analysis::ImportanceMeasure::AttentionReceived && !attention)
    throw BadInput("importance attention needs attention patterns: attention must be on");
  capture::CaptureOptions co{.summary = attention, .chunk = opt.chunk};
  if (attention && n <= opt.attention_max_tokens) {
    // Exact maps of what the attention figure draws (all layers and heads unless chosen).
    auto all_or = [](const std::vector<int>& chosen, int count) {
      std::vector<int> out = chosen;
      for (int i = 0; chosen.empty() && i < count; ++i) out.push_back(i);
      return out;
    };
    co.exact = {all_or(ro.attn_layers, cfg.n_layer), all_or(ro.attn_heads, cfg.n_head)};
  }
  // Every size a user's numbers drive is checked before anything is allocated.
  capture::check_capture_memory(cfg, n, co);
  capture::GenerateOptions g;
  g.max_new_tokens = opt.generate;
  g.sampling.temperature = opt.temperature;
  g.sampling.seed = opt.seed;
  g.attention = true;
  if (opt.generate > 0 && n + int64_t{opt.generate} > cfg.n_ctx)
    throw BadInput(fmt::format(
        "generate {}: the prompt's {} tokens and {} generated exceed the model's context length "
        "of {}: generate at most {} (--generate) or cut the prompt (--prompt-tokens)",
        opt.generate, n, opt.generate, cfg.n_ctx, cfg.n_ctx - n));
  if (opt.generate > 0) capture::check_generation(m, n, g);
  AnalyzeResult r;
  r.load_s = seconds_since(t_start);

  stage(fmt::format("running the model over {} tokens...", n));
  auto t0 = Clock::now();
  r.cap = capture::capture_tokens(m, ids, co);  // checks the context
  r.cap.prompt = std::string(text);
  r.forward_s = seconds_since(t0);

  if (opt.generate > 0) {
    stage(fmt::format("generating {} tokens...", opt.generate));
    t0 = Clock::now();
    r.trace = std::make_unique<capture::GenerationTrace>(capture::generate_ids(m, ids, g));
    r.generate_s = seconds_since(t0);
  }

  stage("analysing...");
  t0 = Clock::now();
  std::vector<int32_t> special;
  for (int32_t id : ids)
    if (m.tokenizer.is_special(id)) special.push_back(id);
  r.bundle = build_bundle(r.cap, ro, special, r.trace.get());
  r.analysis_s = seconds_since(t0);

  t0 = Clock::now();
  r.files = write_report(r.cap, r.bundle, ro, r.trace.get(), out, progress.file);
  r.files_s = seconds_since(t0);
  return r;
}

}  // namespace kvscope::report
