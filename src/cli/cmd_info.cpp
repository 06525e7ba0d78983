// kvscope info: what a model is and what its KV cache costs.
#include <cstdio>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "kvscope/analysis/cache_size.hpp"

namespace kvscope::cli {

namespace {

const char* norm_name(model::NormKind k) {
  return k == model::NormKind::LayerNorm ? "LayerNorm" : "RMSNorm";
}
const char* mlp_name(model::MlpKind k) {
  switch (k) {
    case model::MlpKind::GeluTanh:
      return "GELU (tanh)";
    case model::MlpKind::SwiGlu:
      return "SwiGLU";
    case model::MlpKind::GeGlu:
      return "GeGLU (tanh GELU)";
  }
  return "?";
}

std::string position_text(const model::Config& c) {
  if (c.pos == model::PosKind::Learned) return "learned positions";
  std::string s =
      fmt::format("RoPE (theta {:g}, {} pairing)", c.rope_theta,
                  c.rope_pairing == model::RopePairing::Halves ? "rotate-half" : "interleaved");
  if (c.rope_scaling.llama3)
    s += fmt::format(", llama3 scaling x{:g} from {}", c.rope_scaling.factor,
                     c.rope_scaling.original_max_position);
  if (c.rope_linear_factor != 1.0f)
    s += fmt::format(", linear scaling x{:g}", c.rope_linear_factor);
  for (int l = 0; l < c.n_layer; ++l)
    if (c.layer(l).rope_theta > 0.0f) {
      s += fmt::format("; sliding layers theta {:g}", c.layer(l).rope_theta);
      break;
    }
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
    // Sliding-window layers: the model's own cache keeps only the last window - 1 positions
    // there; the figures above are what a capture keeps (every position of every layer).
    std::vector<int> windows;
    std::string kinds;
    int sliding = 0;
    for (int l = 0; l < c.n_layer; ++l) {
      windows.push_back(c.layer(l).window);
      kinds += c.layer(l).window > 0 ? 'L' : 'G';
      sliding += c.layer(l).window > 0;
    }
    if (sliding > 0) {
      fmt::print("layer kinds    {} (L: sliding window {}, G: global); {} of {} layers slide\n",
                 kinds, c.layer(static_cast<int>(kinds.find('L'))).window, sliding, c.n_layer);
      for (int t : {512, 2048, c.n_ctx}) {
        if (t > c.n_ctx) continue;
        const auto by_layer =
            analysis::kv_cache_bytes_by_layer(windows, c.n_kv_head, t, c.head_dim);
        const int64_t total =
            analysis::kv_cache_bytes_windowed(windows, c.n_kv_head, t, c.head_dim);
        fmt::print(
            "model's cache  {} at {} tokens (per layer: {} sliding, {} global)\n",
            human_bytes(static_cast<double>(total)), t,
            human_bytes(static_cast<double>(by_layer[static_cast<size_t>(kinds.find('L'))])),
            kinds.find('G') == std::string::npos
                ? std::string("none")
                : human_bytes(static_cast<double>(by_layer[static_cast<size_t>(kinds.find('G'))])));
      }
    }
  });
}

}  // namespace kvscope::cli

namespace kvscope::cli {

// kvscope models: the models scripts/setup.sh installs, by the names --model accepts.
void add_models_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("models", "List the installed models --model can name");
  cmd->callback([]() {
    for (const InstalledModel& m : installed_model_names()) {
      const std::optional<std::string> path = find_installed(m.file);
      fmt::print("{:<14} {:<13} {}\n", m.name, path ? "installed" : "not installed", m.description);
      fmt::print("{:<14} {}\n", "", path ? *path : fmt::format("models/{}", m.file));
    }
  });
}

}  // namespace kvscope::cli
