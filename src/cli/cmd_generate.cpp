// kvscope generate: the model's continuation of a prompt, streamed, computed with the cache.
#include <cstdio>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "kvscope/capture/generate.hpp"
#include "kvscope/capture/memory_budget.hpp"
#include "kvscope/error.hpp"

namespace kvscope::cli {

void add_generate_command(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("generate", "Continue a prompt with the model, using the KV cache");
  struct Opts {
    ModelOptions model;
    PromptOptions prompt;
    capture::GenerateOptions gen;
    bool quiet = false;
  };
  auto o = std::make_shared<Opts>();
  o->model.add_to(*cmd);
  o->prompt.add_to(*cmd, "Human: can fish fly?\nAssistant answer:");
  cmd->add_option("-n,--max-new-tokens", o->gen.max_new_tokens, "Tokens to generate at most")
      ->capture_default_str();
  cmd->add_option("-t,--temperature", o->gen.sampling.temperature,
                  "Sampling temperature; 0 = greedy")
      ->capture_default_str();
  cmd->add_option("--top-k", o->gen.sampling.top_k,
                  "Sample from the k most likely tokens (0 = all)")
      ->capture_default_str();
  cmd->add_option("--top-p", o->gen.sampling.top_p,
                  "Sample from the smallest set with this much probability")
      ->capture_default_str();
  cmd->add_option("--seed", o->gen.sampling.seed, "Random seed for sampling")
      ->capture_default_str()
      ->check(non_negative_integer());
  cmd->add_flag("-q,--quiet", o->quiet, "Print only the generated text, no prompt or summary");
  cmd->callback([o]() {
    // Everything is checked before anything is printed: bad input leaves stdout empty.
    const std::string prompt = o->prompt.text();
    model::validate_sampling(o->gen.sampling);
    if (o->gen.max_new_tokens < 0)
      throw BadInput(
          fmt::format("--max-new-tokens {} must not be negative", o->gen.max_new_tokens));
    o->model.validate();
    capture::LoadedModel m = load(o->model);
    capture::check_prompt_bytes(m, prompt.size());
    std::vector<int32_t> ids = m.tokenizer.encode(prompt, o->gen.add_special_tokens);
    capture::check_generation(m, static_cast<int>(ids.size()), o->gen);
    if (!o->quiet) {
      std::fputs(prompt.c_str(), stdout);
      std::fflush(stdout);
    }
    capture::GenerationTrace t =
        capture::generate_ids(m, std::move(ids), o->gen, [](const std::string& piece) {
          std::fputs(piece.c_str(), stdout);
          std::fflush(stdout);
        });
    std::fputs("\n", stdout);
    if (!o->quiet) {
      double decode_ms = 0;
      for (size_t i = 1; i < t.steps.size(); ++i) decode_ms += t.steps[i].ms;
      // The last token chosen is never run through the model, so it is not in the cache.
      const int cache_len =
          t.steps.empty() ? static_cast<int>(t.prompt_ids.size()) : t.steps.back().cache_len;
      std::fprintf(
          stderr,
          "[%zu tokens, stopped at %s; prefill %zu tokens in %.0f ms; decode %.1f tokens/s; cache "
          "%d tokens = %s]\n",
          t.steps.size(), t.stop_reason.c_str(), t.prompt_ids.size(), t.prefill_ms,
          t.steps.size() > 1 ? 1000.0 * static_cast<double>(t.steps.size() - 1) / decode_ms : 0.0,
          cache_len, human_bytes(static_cast<double>(t.bytes_per_token) * cache_len).c_str());
    }
  });
}

}  // namespace kvscope::cli
