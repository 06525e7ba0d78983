// kvscope info: what a model is and what its KV cache costs.
#include <cstdio>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"

namespace kvscope::cli {

namespace {

const char* norm_name(model::NormKind k) {
  return k == model::NormKind::LayerNorm ? "LayerNorm" : "RMSNorm";
}
const char* mlp_name(model::MlpKind k) {
  return k == model::MlpKind::GeluTanh ? "GELU (tanh)" : "SwiGLU";
}

std::string position_text(const model::Config& c) {
  if (c.pos == model::PosKind::Learned) return "learned positions";
  std::string s =
      fmt::format("RoPE (theta {:g}, {} pairing)", c.rope_theta,
                  c.rope_pairing == model::RopePairing::Halves ? "rotate-half" : "interleaved");
  if (c.rope_scaling.llama3)
    s += fmt::format(", llama3 scaling x{:g} from {}", c.rope_scaling.factor,
                     c.rope_scaling.original_max_position);
  return s;
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Summarise a model and the size of its KV cache");
  auto opts = std::make_shared<ModelOptions>();
  opts->add_to(*cmd);
  cmd->callback([opts]() {
    capture::LoadedModel m = load(*opts);
    const model::Config& c = m.model.config();
    std::string types;
    for (const auto& [t, n] : m.tensor_types)
      types += fmt::format("{}{} x{}", types.empty() ? "" : ", ", t, n);
    const auto& tok = m.tokenizer;
    const double per_token = static_cast<double>(c.kv_bytes_per_token());
    fmt::print("model          {}\n", m.spec);
    fmt::print("path           {}\n", m.path);
    fmt::print("format         {} ({})\n", m.format, types);
    const model::Weights& w = m.model.weights();
    fmt::print("architecture   {}\n", model::family_name(c.family));
    fmt::print("parameters     {:.1f} M\n", static_cast<double>(w.n_params) / 1e6);
    fmt::print("resident       {} of weights as stored (memory-mapped, not converted)\n",
               human_bytes(static_cast<double>(w.bytes)));
    fmt::print("kernels        {}\n", model::kernel_description());
    fmt::print("layers         {}\n", c.n_layer);
    fmt::print("hidden size    {}\n", c.d_model);
    fmt::print("heads          {} query, {} key/value{}, head dim {}\n", c.n_head, c.n_kv_head,
               c.n_kv_head < c.n_head ? " (grouped-query)" : "", c.head_dim);
    fmt::print("MLP            {} x{}\n", mlp_name(c.mlp), c.d_ff);
    fmt::print("norm           {} (eps {:g})\n", norm_name(c.norm), c.norm_eps);
    fmt::print("positions      {}\n", position_text(c));
    fmt::print("context        {} tokens\n", c.n_ctx);
    fmt::print("vocabulary     {} (tokenizer: {}, {} tokens", c.vocab_size,
               tok.kind() == tokenizer::TokenizerKind::ByteLevelBpe ? "byte-level BPE"
                                                                    : "SentencePiece BPE",
               tok.vocab_size());
    if (tok.bos_id()) fmt::print(", BOS {}", *tok.bos_id());
    if (tok.eos_id()) fmt::print(", EOS {}", *tok.eos_id());
    fmt::print(")\n");
    fmt::print(
        "KV cache       2 x {} layers x {} heads x {} dims x 4 bytes = {} per token (fp32)\n",
        c.n_layer, c.n_kv_head, c.head_dim, human_bytes(per_token));
    for (int t : {512, 2048}) {
      if (t < c.n_ctx)
        fmt::print("               {} at {} tokens\n", human_bytes(per_token * t), t);
    }
    fmt::print("               {} at the full context ({} tokens)\n",
               human_bytes(per_token * c.n_ctx), c.n_ctx);
  });
}

}  // namespace kvscope::cli
