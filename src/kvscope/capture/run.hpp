// Running a model over a prompt and recording its cache: the first half of every kvscope
// command.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kvscope/capture/attention_stream.hpp"
#include "kvscope/capture/capture.hpp"
#include "kvscope/capture/loaded_model.hpp"

namespace kvscope::capture {

inline constexpr int kDefaultChunk = 512;  // prompt tokens per forward call

struct CaptureOptions {
  bool attention = false;          // blocks.{l}.attn.pattern [H, seq, seq] of every layer
  bool logits = false;             // logits [seq, V]
  bool resid = false;              // blocks.{l}.resid_post [seq, d]
  bool add_special_tokens = true;  // BOS where the tokenizer adds it
  // The attention summary of every layer (statistics, pooled maps, top-k), streamed: its size
  // grows linearly with the prompt. On whenever `attention` is.
  bool summary = false;
  ExactMaps exact = {};  // exact maps of chosen layers and heads only (when `attention` is off)
  // Prompt tokens per forward call: activation scratch is bounded by the chunk, and keys,
  // values, logits and every statistic equal those of one call over the whole prompt.
  int chunk = kDefaultChunk;
};

// Tokenizes `prompt` and captures it. Throws BadInput for an empty prompt or one longer than
// the model's context (a prompt of more bytes than the context could hold is refused before
// it is tokenized).
Capture capture_prompt(const LoadedModel& m, const std::string& prompt, const CaptureOptions& opt);

// BadInput if capturing n tokens with these options needs more memory than the budget
// (capture/memory_budget.hpp), naming the size and the option that avoids it. capture_tokens
// calls it before allocating anything.
void check_capture_memory(const model::Config& cfg, int n, const CaptureOptions& opt);

// Captures given token ids (for tests and for callers that tokenized already).
Capture capture_tokens(const LoadedModel& m, const std::vector<int32_t>& ids,
                       const CaptureOptions& opt);

// Token texts for figures: each token's printable label.
std::vector<std::string> token_labels(const tokenizer::Tokenizer& tok,
                                      const std::vector<int32_t>& ids);

}  // namespace kvscope::capture
