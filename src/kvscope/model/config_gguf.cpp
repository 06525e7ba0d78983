// Config from GGUF metadata. Key names are those of the GGUF format ("{arch}.block_count").
#include <cmath>

#include <fmt/format.h>

#include "kvscope/error.hpp"
#include "kvscope/io/gguf.hpp"
#include "kvscope/model/config.hpp"

namespace kvscope::model {

namespace {

int int_key(const io::GgufFile& g, const std::string& key,
            std::optional<int64_t> fallback = std::nullopt) {
  std::optional<int64_t> v = g.get_int(key);
  if (!v) v = fallback;
  if (!v) throw BadInput(fmt::format("{}: missing metadata key '{}'", g.path(), key));
  if (*v < INT32_MIN || *v > INT32_MAX)
    throw BadInput(fmt::format("{}: metadata '{}': value {} is out of range", g.path(), key, *v));
  return static_cast<int>(*v);
}

// Gemma 3 as llama.cpp's converter writes it: the norms' + 1 is already in the weights, the
// query scale is 1 / sqrt(head_dim), and the sliding window is a key. Which layers slide is not
// stored unless a `sliding_window_pattern` key says it: llama.cpp uses a fixed pattern of 6
// (every sixth layer global) and a local RoPE base of 10000 when the file has none.
void read_gemma3(const io::GgufFile& g, const std::string& a, Config& c) {
  c.mlp = MlpKind::GeGlu;
  c.post_norms = true;
  c.embed_scale = std::sqrt(static_cast<float>(c.d_model));
  c.attn_scale = c.head_dim > 0 ? 1.0f / std::sqrt(static_cast<float>(c.head_dim)) : 0.0f;
  c.final_logit_softcap =
      static_cast<float>(g.get_float(a + ".final_logit_softcapping").value_or(0.0));
  if (!(c.final_logit_softcap >= 0.0f) || !std::isfinite(c.final_logit_softcap))
    throw BadInput(
        fmt::format("{}: metadata '{}.final_logit_softcapping': value {} is out of range", g.path(),
                    a, c.final_logit_softcap));
  if (!g.get_int(a + ".attention.sliding_window"))
    throw BadInput(
        fmt::format("{}: missing metadata key '{}.attention.sliding_window'", g.path(), a));
  const int window = int_key(g, a + ".attention.sliding_window");
  if (window <= 0)
    throw BadInput(
        fmt::format("{}: metadata '{}.attention.sliding_window': value {} must be positive",
                    g.path(), a, window));
  const int pattern = int_key(g, a + ".attention.sliding_window_pattern", 6);
  if (pattern <= 0)
    throw BadInput(
        fmt::format("{}: metadata '{}.attention.sliding_window_pattern': value {} must be positive",
                    g.path(), a, pattern));
  const float local_theta =
      static_cast<float>(g.get_float(a + ".rope.freq_base_swa").value_or(10000.0));
  if (c.n_layer <= 0 || c.n_layer > 1024)
    throw BadInput(
        fmt::format("{}: number of layers {} is out of range (1..1024)", g.path(), c.n_layer));
  c.layer_specs.assign(static_cast<size_t>(c.n_layer), LayerSpec{});
  for (int l = 0; l < c.n_layer; ++l)
    if ((l + 1) % pattern != 0)
      c.layer_specs[static_cast<size_t>(l)] = {window, local_theta, false};
}

}  // namespace

Config config_from_gguf(const io::GgufFile& g) {
  const std::optional<std::string> arch = g.get_string("general.architecture");
  if (!arch)
    throw BadInput(fmt::format("{}: missing metadata key 'general.architecture'", g.path()));
  const std::string& a = *arch;
  Config c;
  if (a == "llama")
    c.family = Family::Llama;
  else if (a == "qwen2")
    c.family = Family::Qwen2;
  else if (a == "qwen3")
    c.family = Family::Qwen3;
  else if (a == "gemma3")
    c.family = Family::Gemma3;
  else if (a == "gpt2")
    c.family = Family::Gpt2;
  else
    throw Unsupported(fmt::format("{}: unsupported architecture '{}'; supported: {}", g.path(), a,
                                  supported_gguf_architectures()));
  c.n_layer = int_key(g, a + ".block_count");
  c.d_model = int_key(g, a + ".embedding_length");
  c.d_ff = int_key(g, a + ".feed_forward_length");
  c.n_head = int_key(g, a + ".attention.head_count");
  c.n_kv_head = int_key(g, a + ".attention.head_count_kv", c.n_head);
  c.n_ctx = int_key(g, a + ".context_length");
  c.head_dim = int_key(g, a + ".attention.key_length", c.n_head > 0 ? c.d_model / c.n_head : 0);
  const io::RawTensor* emb = g.find("token_embd.weight");
  if (!emb || emb->shape.size() != 2)
    throw BadInput(fmt::format("{}: missing or malformed tensor 'token_embd.weight'", g.path()));
  c.vocab_size = int_key(g, a + ".vocab_size", emb->shape[0]);
  c.tied_head = g.find("output.weight") == nullptr;
  c.bos_id = static_cast<int>(g.get_int("tokenizer.ggml.bos_token_id").value_or(-1));
  c.eos_id = static_cast<int>(g.get_int("tokenizer.ggml.eos_token_id").value_or(-1));

  if (c.family == Family::Gpt2) {
    c.norm = NormKind::LayerNorm;
    c.norm_eps =
        static_cast<float>(g.get_float(a + ".attention.layer_norm_epsilon").value_or(1e-5));
    c.mlp = MlpKind::GeluTanh;
    c.pos = PosKind::Learned;
    c.qkv_bias = c.out_bias = c.mlp_bias = true;
  } else {
    c.norm = NormKind::RmsNorm;
    c.norm_eps =
        static_cast<float>(g.get_float(a + ".attention.layer_norm_rms_epsilon").value_or(1e-6));
    c.mlp = MlpKind::SwiGlu;
    c.pos = PosKind::Rope;
    // llama.cpp's converter permutes llama's q/k rows so that RoPE rotates adjacent pairs;
    // load_weights undoes that, so every family runs rotate-half like transformers.
    c.rope_pairing = RopePairing::Halves;
    c.rope_theta = static_cast<float>(g.get_float(a + ".rope.freq_base").value_or(10000.0));
    const int rope_dims = int_key(g, a + ".rope.dimension_count", c.head_dim);
    if (rope_dims != c.head_dim)
      throw Unsupported(fmt::format("{}: partial RoPE ({} of {} dimensions) is not supported",
                                    g.path(), rope_dims, c.head_dim));
    if (auto type = g.get_string(a + ".rope.scaling.type"); type && *type != "none") {
      if (c.family != Family::Gemma3 || *type != "linear")
        throw Unsupported(fmt::format("{}: RoPE scaling '{}' is not supported", g.path(), *type));
      c.rope_linear_factor =
          static_cast<float>(g.get_float(a + ".rope.scaling.factor").value_or(1.0));
    }
    c.qkv_bias = c.family == Family::Qwen2;
    c.qk_norm = c.family == Family::Qwen3 || c.family == Family::Gemma3;
    if (c.family == Family::Gemma3) read_gemma3(g, a, c);
  }
  validate_config(c, g.path());
  return c;
}

}  // namespace kvscope::model
