#include "kvscope/capture/compress_protocol.hpp"

#include <chrono>

#include <fmt/format.h>

#include "kvscope/error.hpp"

namespace kvscope::capture {

namespace {

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int64_t protocol_tokens_needed(const ProtocolOptions& o) {
  return int64_t{o.windows} * (int64_t{o.context} + o.continuation + 1);
}

void check_protocol(const ProtocolOptions& o, const model::Config& cfg, int64_t n_tokens) {
  if (o.context < 1) throw BadInput(fmt::format("--context {} must be at least 1", o.context));
  if (o.continuation < 1)
    throw BadInput(fmt::format("--continuation {} must be at least 1", o.continuation));
  if (o.windows < 1) throw BadInput(fmt::format("--windows {} must be at least 1", o.windows));
  if (int64_t{o.context} + o.continuation > cfg.n_ctx)
    throw BadInput(fmt::format(
        "--context {} + --continuation {} = {} tokens is longer than the model's context of {}",
        o.context, o.continuation, int64_t{o.context} + o.continuation, cfg.n_ctx));
  if (n_tokens == 0) throw BadInput("the text is empty: it gives no tokens");
  const int64_t need = protocol_tokens_needed(o);
  if (n_tokens < need)
    throw BadInput(
        fmt::format("the text is too short: it has {} tokens; {} window{} of {} + {} + 1 need{} {}",
                    n_tokens, o.windows, o.windows == 1 ? "" : "s", o.context, o.continuation,
                    o.windows == 1 ? "s" : "", need));
}

ProtocolTimes run_protocol(const LoadedModel& m, std::span<const int32_t> ids,
                           const ProtocolOptions& o, const std::vector<Job>& jobs,
                           const Score& score, const ProtocolProgress& progress) {
  const model::Config& cfg = m.model.config();
  check_protocol(o, cfg, static_cast<int64_t>(ids.size()));
  const int C = o.context, S = o.continuation;
  const int64_t per_window = C + int64_t{S} * (1 + static_cast<int64_t>(jobs.size()));
  const int64_t total = per_window * o.windows;
  int64_t done = 0;
  ProtocolTimes times;
  for (int k = 0; k < o.windows; ++k) {
    const std::span<const int32_t> win = ids.subspan(
        static_cast<size_t>(k) * static_cast<size_t>(C + S + 1), static_cast<size_t>(C + S + 1));
    auto t0 = std::chrono::steady_clock::now();
    model::KvCache prefilled = m.model.new_cache(C + S, o.pre_rope);
    model::ForwardResult pre = m.model.forward(prefilled, win.subspan(0, static_cast<size_t>(C)),
                                               {.attention = o.attention});
    times.prefill_s += since(t0);
    done += C;
    if (progress) progress(done, total);
    Prefill p{k, win, &prefilled, &pre.patterns};
    const std::span<const int32_t> cont =
        win.subspan(static_cast<size_t>(C), static_cast<size_t>(S));

    for (int j = -1; j < static_cast<int>(jobs.size()); ++j) {
      t0 = std::chrono::steady_clock::now();
      model::KvCache cache = prefilled;  // a copy: capacity C + S, no regrowth
      if (j >= 0) jobs[static_cast<size_t>(j)](p, cache);
      if (cache.length() != C)
        throw BadInput(fmt::format("a compression job changed the cache length from {} to {}", C,
                                   cache.length()));
      times.jobs_s += since(t0);
      t0 = std::chrono::steady_clock::now();
      model::ForwardResult r = m.model.forward(cache, cont, {.all_logits = true});
      times.continuation_s += since(t0);
      t0 = std::chrono::steady_clock::now();
      score(p, j, r.logits);
      times.scoring_s += since(t0);
      done += S;
      if (progress) progress(done, total);
    }
  }
  return times;
}

}  // namespace kvscope::capture
