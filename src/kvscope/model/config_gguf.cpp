// Config from GGUF metadata. Key names are those of the GGUF format ("{arch}.block_count").
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
    if (auto type = g.get_string(a + ".rope.scaling.type"); type && *type != "none")
      throw Unsupported(fmt::format("{}: RoPE scaling '{}' is not supported", g.path(), *type));
    c.qkv_bias = c.family == Family::Qwen2;
  }
  validate_config(c, g.path());
  return c;
}

}  // namespace kvscope::model
