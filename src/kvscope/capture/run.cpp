#include "kvscope/capture/run.hpp"

#include <cstring>
#include <filesystem>

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

void check_capture_memory(const model::Config& cfg, int n, const CaptureOptions& opt) {
  const double L = cfg.n_layer, N = n, kv = 4.0 * cfg.n_kv_head * cfg.head_dim;
  std::vector<MemoryPart> parts = {
      // The cache (keys, keys before RoPE, values) and the capture's copy of it.
      {"keys and values", 2 * 3 * L * N * kv},
      {"activations", 4.0 * N * (6.0 * cfg.d_model + 3.0 * cfg.d_ff)},
  };
  if (opt.attention) parts.push_back({"attention patterns", 4.0 * L * cfg.n_head * N * N});
  if (opt.logits) parts.push_back({"logits", 4.0 * N * cfg.vocab_size});
  if (opt.resid) parts.push_back({"residual stream", 4.0 * L * N * cfg.d_model});
  require_memory(parts, fmt::format("capturing {} tokens", n),
                 opt.attention ? "capture without attention (dump without --attention, analyze "
                                 "--attention off) or use a shorter prompt"
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
  model::KvCache cache = m.model.new_cache(n, /*keep_pre_rope=*/true);
  model::ForwardResult r = m.model.forward(
      cache, ids, {.all_logits = opt.logits, .attention = opt.attention, .resid = opt.resid});

  Capture c;
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
  for (int l = 0; l < cfg.n_layer && !cfg.layer_specs.empty(); ++l)
    c.windows.push_back(cfg.layer(l).window);
  const int G = cfg.n_kv_head, D = cfg.head_dim;
  c.layers.resize(static_cast<size_t>(cfg.n_layer));
  for (int l = 0; l < cfg.n_layer; ++l) {
    LayerCapture& L = c.layers[static_cast<size_t>(l)];
    L.k = Tensor({G, n, D});
    L.v = Tensor({G, n, D});
    L.k_pre_rope = Tensor({G, n, D});
    for (int g = 0; g < G; ++g) {
      const size_t off = static_cast<size_t>(g) * n * D;
      std::memcpy(L.k.ptr() + off, cache.k_row(l, g, 0), sizeof(float) * n * D);
      std::memcpy(L.v.ptr() + off, cache.v_row(l, g, 0), sizeof(float) * n * D);
      std::memcpy(L.k_pre_rope.ptr() + off, cache.k_pre_row(l, g, 0), sizeof(float) * n * D);
    }
    if (opt.attention) {
      L.pattern.shape = {cfg.n_head, n, n};
      L.pattern.data = std::move(r.patterns[static_cast<size_t>(l)]);
    }
    if (opt.resid) {
      L.resid_post.shape = {n, cfg.d_model};
      L.resid_post.data = std::move(r.resid[static_cast<size_t>(l)]);
    }
  }
  if (opt.logits) {
    c.logits.shape = {n, cfg.vocab_size};
    c.logits.data = std::move(r.logits);
  }
  return c;
}

}  // namespace kvscope::capture
