#include "kvscope/capture/run.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <optional>
#include <span>
#include <stdexcept>

#include <fmt/format.h>

#include "kvscope/capture/memory_budget.hpp"
#include "kvscope/error.hpp"

namespace kvscope::capture {

std::vector<std::string> token_labels(const tokenizer::Tokenizer& tok,
                                      const std::vector<int32_t>& ids) {
  std::vector<std::string> out;
  out.reserve(ids.size());
  for (int32_t id : ids) out.push_back(tok.token_label(id));
  return out;
}

Capture capture_prompt(const LoadedModel& m, const std::string& prompt, const CaptureOptions& opt) {
  if (prompt.empty()) throw BadInput("the prompt is empty");
  check_prompt_bytes(m, prompt.size());
  std::vector<int32_t> ids = m.tokenizer.encode(prompt, opt.add_special_tokens);
  if (ids.empty()) throw BadInput("the prompt gives no tokens");
  Capture c = capture_tokens(m, ids, opt);
  c.prompt = prompt;
  return c;
}

namespace {

// The exact maps a capture keeps: every layer and head with `attention`, else the chosen ones
// (in range, ascending, once each).
ExactMaps exact_maps(const model::Config& cfg, const CaptureOptions& opt) {
  auto chosen = [](const std::vector<int>& want, int n, bool all) {
    std::vector<int> out;
    for (int i = 0; i < n; ++i)
      if (all || std::find(want.begin(), want.end(), i) != want.end()) out.push_back(i);
    return out;
  };
  ExactMaps e{chosen(opt.exact.layers, cfg.n_layer, opt.attention),
              chosen(opt.exact.heads, cfg.n_head, opt.attention)};
  if (e.layers.empty() || e.heads.empty()) return {};
  return e;
}

SummaryShape summary_shape(const model::Config& cfg, int n) {
  SummaryShape s;
  s.seq = n;
  s.heads = cfg.n_head;
  return s;
}

}  // namespace

void check_capture_memory(const model::Config& cfg, int n, const CaptureOptions& opt) {
  if (opt.chunk < 1)
    throw BadInput(fmt::format("chunk {}: expected at least 1 token per forward call", opt.chunk));
  const double L = cfg.n_layer, N = n, kv = 4.0 * cfg.n_kv_head * cfg.head_dim;
  const double C = std::min(n, opt.chunk);
  std::vector<MemoryPart> parts = {
      // The cache (keys, keys before RoPE, values) becomes the capture's.
      {"keys and values", 3 * L * N * kv},
      {"activations", 4.0 * C * (6.0 * cfg.d_model + 3.0 * cfg.d_ff + 2.0 * cfg.n_head * N)},
  };
  const ExactMaps exact = exact_maps(cfg, opt);
  if (opt.summary || opt.attention)
    parts.push_back(
        {"attention statistics", SummaryBuilder::bytes_needed(cfg.n_layer, summary_shape(cfg, n))});
  if (!exact.layers.empty())
    parts.push_back({"attention maps", 4.0 * static_cast<double>(exact.layers.size()) *
                                           static_cast<double>(exact.heads.size()) * N * N});
  if (opt.logits) parts.push_back({"logits", 4.0 * N * cfg.vocab_size});
  if (opt.resid) parts.push_back({"residual stream", 4.0 * L * N * cfg.d_model});
  require_memory(parts, fmt::format("capturing {} tokens", n),
                 opt.attention || !exact.layers.empty()
                     ? "keep exact maps of fewer layers and heads (dump without --attention, "
                       "analyze --attention-layers/--attention-heads) or use a shorter prompt"
                     : "use a shorter prompt or leave out --logits and --resid");
}

Capture capture_tokens(const LoadedModel& m, const std::vector<int32_t>& ids,
                       const CaptureOptions& opt) {
  const model::Config& cfg = m.model.config();
  const int n = static_cast<int>(ids.size());
  if (n == 0) throw BadInput("no tokens to capture");
  if (n > cfg.n_ctx)
    throw BadInput(fmt::format(
        "the prompt has {} tokens, more than the model's context length of {}", n, cfg.n_ctx));
  check_capture_memory(cfg, n, opt);
  const ExactMaps exact = exact_maps(cfg, opt);
  const bool summarise = opt.summary || opt.attention;
  std::optional<SummaryBuilder> builder;
  if (summarise || !exact.layers.empty())
    builder.emplace(cfg.n_layer, summary_shape(cfg, n), exact);

  Capture c;
  c.layers.resize(static_cast<size_t>(cfg.n_layer));
  if (opt.logits) c.logits = Tensor({n, cfg.vocab_size});
  if (opt.resid)
    for (LayerCapture& L : c.layers) L.resid_post = Tensor({n, cfg.d_model});
  model::KvCache cache = m.model.new_cache(n, /*keep_pre_rope=*/true);
  for (int p0 = 0; p0 < n; p0 += opt.chunk) {
    const int len = std::min(opt.chunk, n - p0);
    model::ForwardResult r = m.model.forward(
        cache, std::span(ids).subspan(static_cast<size_t>(p0), static_cast<size_t>(len)),
        {.all_logits = opt.logits, .resid = opt.resid, .observer = builder ? &*builder : nullptr});
    const size_t off = static_cast<size_t>(p0);
    if (opt.logits)
      std::copy(r.logits.begin(), r.logits.end(), c.logits.data.begin() + off * cfg.vocab_size);
    if (opt.resid)
      for (int l = 0; l < cfg.n_layer; ++l)
        std::copy(r.resid[static_cast<size_t>(l)].begin(), r.resid[static_cast<size_t>(l)].end(),
                  c.layers[static_cast<size_t>(l)].resid_post.data.begin() + off * cfg.d_model);
  }

  // A path is named by its last component in titles and metadata; a Hub id as given.
  c.model_name = m.spec == m.path ? std::filesystem::path(m.spec).filename().string() : m.spec;
  if (c.model_name.empty()) c.model_name = m.spec;
  c.arch = model::family_name(cfg.family);
  c.token_ids = ids;
  c.token_strings = token_labels(m.tokenizer, ids);
  c.n_layer = cfg.n_layer;
  c.n_head = cfg.n_head;
  c.n_kv_head = cfg.n_kv_head;
  c.head_dim = cfg.head_dim;
  c.d_model = cfg.d_model;
  c.has_rope = cfg.pos == model::PosKind::Rope;
  const int G = cfg.n_kv_head, D = cfg.head_dim;
  std::vector<AttentionSummary> summaries;
  std::vector<Tensor> maps;
  if (builder) {
    summaries = builder->take_summaries();
    maps = builder->take_maps();
  }
  // The cache holds exactly n positions, so its slabs [G, n, D] become the capture's tensors.
  if (cache.capacity() != n)
    throw std::logic_error("capture: the cache grew past the prompt it was sized for");
  for (int l = 0; l < cfg.n_layer; ++l) {
    LayerCapture& L = c.layers[static_cast<size_t>(l)];
    model::KvLayer& kl = cache.layer(l);
    L.k.shape = {G, n, D};
    L.k.data = std::move(kl.k);
    L.v.shape = {G, n, D};
    L.v.data = std::move(kl.v);
    L.k_pre_rope.shape = {G, n, D};
    L.k_pre_rope.data = std::move(kl.k_pre_rope);
    if (summarise) L.attn = std::move(summaries[static_cast<size_t>(l)]);
    if (!maps.empty() && !maps[static_cast<size_t>(l)].empty()) {
      L.pattern = std::move(maps[static_cast<size_t>(l)]);
      L.pattern_heads = exact.heads;
    }
  }
  return c;
}

}  // namespace kvscope::capture
