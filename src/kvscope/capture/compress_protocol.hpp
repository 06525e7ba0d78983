// The protocol of the compression lab (kvscope compress), teacher-forced and exact:
//
// - The text's token ids are cut into K windows of C + S + 1 tokens: window k is
//   ids[k(C+S+1), (k+1)(C+S+1)). C = context, S = continuation.
// - One prefill per window: the model runs window[0:C] into a cache (with the attention
//   probabilities and pre-RoPE keys when asked). Every job of the window starts from a copy
//   of that cache.
// - Reference: window[C:C+S] runs in one chunk on the unchanged cache, all logits kept; rows
//   0..S-1 are the distributions of window[C+1..C+S]. This is one forward over the first
//   C + S tokens, done in two calls (a test checks it equals the single call).
// - A job edits its copy of the prefill cache (evicts or rewrites context entries), then
//   window[C:C+S] runs in one chunk at the original positions C..C+S-1: the cache length
//   stays C, so RoPE and learned positions are those of the full run, and the continuation
//   attends to the edited context plus its own, unedited, entries.
//
// The protocol knows nothing of the methods or metrics: jobs and scoring come in as
// callbacks (analysis/ and report/ sit above this layer).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "kvscope/capture/loaded_model.hpp"
#include "kvscope/model/kv_cache.hpp"

namespace kvscope::capture {

struct ProtocolOptions {
  int context = 512;       // C
  int continuation = 128;  // S
  int windows = 4;         // K
  bool attention = false;  // keep the prefill's attention probabilities (h2o, tova, snapkv)
  bool pre_rope = false;   // keep pre-RoPE keys in the cache (prerope-int{B}-channel)
};

// What a job may read of one window.
struct Prefill {
  int window = 0;
  std::span<const int32_t> tokens;        // [C + S + 1] the window's ids
  const model::KvCache* cache = nullptr;  // after window[0:C], length C
  // [L][H, C, C] prefill attention probabilities (query rows), when asked; else empty.
  const std::vector<std::vector<float>>* patterns = nullptr;
};

// Tokens needed: K (C + S + 1).
int64_t protocol_tokens_needed(const ProtocolOptions& o);

// BadInput unless the options are sane for the model and `n_tokens` ids: C, S, K >= 1;
// C + S within the model's context; enough tokens ("the text has N tokens; K windows of
// C + S + 1 need M").
void check_protocol(const ProtocolOptions& o, const model::Config& cfg, int64_t n_tokens);

// Edits a copy of the prefill cache in place.
using Job = std::function<void(const Prefill&, model::KvCache&)>;
// Receives the logits [S, V] of the reference (job == -1) and of each job, in order; the
// reference comes first in every window.
using Score = std::function<void(const Prefill&, int job, std::span<const float> logits)>;
// Called after each forward: units done and total (a prefill counts C, a continuation S).
using ProtocolProgress = std::function<void(int64_t done, int64_t total)>;

// Seconds spent, for the benchmark's split.
struct ProtocolTimes {
  double prefill_s = 0;       // the K prefills
  double continuation_s = 0;  // the reference and job continuations
  double jobs_s = 0;          // the jobs' edits (cache copy included)
  double scoring_s = 0;       // the Score callbacks
};

ProtocolTimes run_protocol(const LoadedModel& m, std::span<const int32_t> ids,
                           const ProtocolOptions& o, const std::vector<Job>& jobs,
                           const Score& score, const ProtocolProgress& progress = {});

}  // namespace kvscope::capture
