// Generation with the KV cache: the prompt in one prefill pass, then one token per step,
// each step appending to the cache. A trace records, per step, the token, the cache's
// length and size, and (on request) that token's attention over the whole cache.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kvscope/capture/loaded_model.hpp"
#include "kvscope/model/sampler.hpp"

namespace kvscope::capture {

struct GenerateOptions {
  int max_new_tokens = 50;
  model::SamplingOptions sampling;  // temperature 0 = greedy
  bool stop_at_eos = true;
  bool attention = false;  // record each step's attention [n_layer, H, T]
  bool add_special_tokens = true;
};

struct GenerationStep {
  int32_t token = 0;
  std::string text;         // the token's text as it joins the output (may be empty mid-UTF-8)
  int cache_len = 0;        // tokens in the cache after this step's forward
  int64_t cache_bytes = 0;  // bytes of K and V in the cache (fp32), all layers
  double ms = 0.0;          // wall time of the step's forward pass
  std::vector<float>
      attention;  // [n_layer, H, cache_len] of the query that produced the token, if asked
};

struct GenerationTrace {
  std::vector<int32_t> prompt_ids;
  std::vector<GenerationStep> steps;  // one per generated token
  std::string text;                   // the generated text (prompt excluded)
  std::string stop_reason;            // "eos" or "max_new_tokens"
  double prefill_ms = 0.0;
  int64_t bytes_per_token = 0;  // cache bytes one token adds
};

// Calls on_text with each complete piece of text as it is produced (streaming). Throws
// BadInput for a negative max_new_tokens, bad sampling options, an empty prompt, a prompt
// longer than the context, or a run that would need more memory than the budget. Ids past
// the tokenizer's vocabulary (a padded embedding) are never sampled.
GenerationTrace generate(const LoadedModel& m, const std::string& prompt,
                         const GenerateOptions& opt,
                         const std::function<void(const std::string&)>& on_text = {});

// Checks everything generate_ids checks before it runs the model (options, the prompt's
// length, and the memory the cache and the per-step attention would need for the whole run:
// capture/memory_budget.hpp) and returns the number of tokens it will generate at most.
// Callers that print before generating call it first, so that bad input prints nothing.
int check_generation(const LoadedModel& m, int n_prompt_tokens, const GenerateOptions& opt);

// The same from token ids already made.
GenerationTrace generate_ids(const LoadedModel& m, std::vector<int32_t> prompt_ids,
                             const GenerateOptions& opt,
                             const std::function<void(const std::string&)>& on_text = {});

}  // namespace kvscope::capture
