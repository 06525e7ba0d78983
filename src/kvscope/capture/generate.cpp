#include "kvscope/capture/generate.hpp"

#include <algorithm>
#include <chrono>
#include <optional>
#include <span>

#include <fmt/format.h>

#include "kvscope/capture/memory_budget.hpp"
#include "kvscope/capture/run.hpp"
#include "kvscope/error.hpp"

namespace kvscope::capture {

namespace {
double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Keeps one query's attention row of every layer and head, [L, H, T], as the forward pass
// computes it: the prompt's last row, without holding the prompt's maps.
class RowKeeper final : public model::AttentionObserver {
 public:
  RowKeeper(int n_layer, int heads, int query)
      : H_(heads), T_(query + 1), row_(static_cast<size_t>(n_layer) * heads * T_) {}
  void observe(const model::AttentionBlock& b, int) override {
    const int r = T_ - 1 - b.q0;
    if (r < 0 || r >= b.rows) return;
    // Keys before k0 lie outside a sliding window: the row starts zero there.
    const int k0 = std::min(b.k0, T_);
    std::copy_n(b.p + static_cast<int64_t>(r) * b.ld, T_ - k0,
                &row_[(static_cast<size_t>(b.layer) * H_ + b.head) * T_ + k0]);
  }
  void layer_done(int) override {}
  std::vector<float> take() { return std::move(row_); }

 private:
  int H_, T_;
  std::vector<float> row_;
};

}  // namespace

GenerationTrace generate(const LoadedModel& m, const std::string& prompt,
                         const GenerateOptions& opt,
                         const std::function<void(const std::string&)>& on_text) {
  if (prompt.empty()) throw BadInput("the prompt is empty");
  check_prompt_bytes(m, prompt.size());
  return generate_ids(m, m.tokenizer.encode(prompt, opt.add_special_tokens), opt, on_text);
}

int check_generation(const LoadedModel& m, int n, const GenerateOptions& opt) {
  const model::Config& cfg = m.model.config();
  if (opt.max_new_tokens < 0)
    throw BadInput(fmt::format("--max-new-tokens {} must not be negative", opt.max_new_tokens));
  model::validate_sampling(opt.sampling);
  if (n == 0) throw BadInput("the prompt gives no tokens");
  if (n > cfg.n_ctx)
    throw BadInput(fmt::format(
        "the prompt has {} tokens, more than the model's context length of {}", n, cfg.n_ctx));
  // Generation stops at the context length rather than failing.
  const int budget = std::min(opt.max_new_tokens, cfg.n_ctx - n);
  const double N = n, B = budget, L = cfg.n_layer, H = cfg.n_head;
  const double C = std::min(n, kDefaultChunk);  // the prompt runs in chunks
  std::vector<MemoryPart> parts = {
      {"cache", static_cast<double>(cfg.kv_bytes_per_token()) * (N + B)},
      {"activations", 4.0 * C * (6.0 * cfg.d_model + 3.0 * cfg.d_ff)},
  };
  // One row [L, H, T] of attention kept per step.
  if (opt.attention)
    parts.push_back({"attention per step", 4.0 * L * H * (B * N + B * (B - 1) / 2)});
  require_memory(parts,
                 fmt::format("generating {} tokens after a prompt of {}{}", budget, n,
                             opt.attention ? " with each step's attention" : ""),
                 "generate fewer tokens (generate -n, analyze --generate)");
  return budget;
}

GenerationTrace generate_ids(const LoadedModel& m, std::vector<int32_t> prompt_ids,
                             const GenerateOptions& opt,
                             const std::function<void(const std::string&)>& on_text) {
  const model::Config& cfg = m.model.config();
  const int n = static_cast<int>(prompt_ids.size());
  const int budget = check_generation(m, n, opt);
  GenerationTrace trace;
  trace.prompt_ids = std::move(prompt_ids);
  trace.bytes_per_token = cfg.kv_bytes_per_token();
  trace.stop_reason = "max_new_tokens";
  if (budget == 0) return trace;
  // A padded vocabulary (Qwen2's embedding has more rows than the tokenizer has tokens) gives
  // logits for ids that are no token: those are never sampled.
  const size_t vocab = static_cast<size_t>(std::min(cfg.vocab_size, m.tokenizer.vocab_size()));

  model::KvCache cache = m.model.new_cache(n + budget);
  model::Sampler sampler(opt.sampling);
  tokenizer::StreamDecoder stream(m.tokenizer);
  const std::optional<int32_t> eos =
      cfg.eos_id >= 0 ? std::optional<int32_t>(cfg.eos_id) : m.tokenizer.eos_id();

  // The prompt in chunks (activations bounded by the chunk); its last row of attention is
  // kept as it is computed.
  auto t0 = std::chrono::steady_clock::now();
  std::optional<RowKeeper> keeper;
  if (opt.attention) keeper.emplace(cfg.n_layer, cfg.n_head, n - 1);
  model::ForwardResult r;
  for (int p0 = 0; p0 < n; p0 += kDefaultChunk)
    r = m.model.forward(
        cache,
        std::span<const int32_t>(trace.prompt_ids)
            .subspan(static_cast<size_t>(p0), static_cast<size_t>(std::min(kDefaultChunk, n - p0))),
        {.observer = keeper ? &*keeper : nullptr});
  trace.prefill_ms = ms_since(t0);
  double step_ms = trace.prefill_ms;
  const int H = cfg.n_head;
  for (int s = 0; s < budget; ++s) {
    GenerationStep step;
    step.token = sampler.next(std::span<const float>(r.logits).first(vocab));
    step.cache_len = cache.length();
    step.cache_bytes = cache.bytes_used();
    step.ms = step_ms;
    if (opt.attention && s == 0) {
      step.attention = keeper->take();  // [L, H, n]
    } else if (opt.attention) {
      // The last query row of each layer's pattern: [H, T] per layer.
      const int T = cache.length();
      const int rows = static_cast<int>(r.patterns[0].size() / (static_cast<size_t>(H) * T));
      step.attention.resize(static_cast<size_t>(cfg.n_layer) * H * T);
      for (int l = 0; l < cfg.n_layer; ++l)
        for (int h = 0; h < H; ++h)
          std::copy_n(
              &r.patterns[static_cast<size_t>(l)][(static_cast<size_t>(h) * rows + rows - 1) * T],
              T, &step.attention[(static_cast<size_t>(l) * H + h) * T]);
    }
    const bool stop = opt.stop_at_eos && eos && step.token == *eos;
    if (!stop) {
      step.text = stream.push(step.token);
      trace.text += step.text;
      if (on_text && !step.text.empty()) on_text(step.text);
    }
    trace.steps.push_back(std::move(step));
    if (stop) {
      trace.stop_reason = "eos";
      break;
    }
    if (s + 1 == budget) break;
    const int32_t tok = trace.steps.back().token;
    t0 = std::chrono::steady_clock::now();
    r = m.model.forward(cache, std::span<const int32_t>(&tok, 1), {.attention = opt.attention});
    step_ms = ms_since(t0);
  }
  const std::string rest = stream.flush();
  if (!rest.empty()) {
    trace.text += rest;
    if (!trace.steps.empty()) trace.steps.back().text += rest;
    if (on_text) on_text(rest);
  }
  return trace;
}

}  // namespace kvscope::capture
