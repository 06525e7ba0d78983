// Config: the numbers and switches that describe one transformer, read from a Hugging Face
// config.json or from GGUF metadata. Every architecture runs the same block loop; what
// differs between families is data here, not a copy of the loop.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace kvscope::io {
class GgufFile;
}

namespace kvscope::model {

// The model families kvscope runs. Each has one tensor table (weights.cpp); everything else
// that differs between them is the data below.
enum class Family { Gpt2, Llama, Qwen2, Qwen3, Gemma3 };

// "gpt2", "llama", "qwen2", "qwen3", "gemma3": the name used in messages, captures and
// metrics.
std::string_view family_name(Family f);

enum class NormKind { LayerNorm, RmsNorm };
// GeluTanh: down(gelu(up x)); SwiGlu: down(silu(gate x) * up x); GeGlu: down(gelu(gate x) * up x)
// (tanh GELU).
enum class MlpKind { GeluTanh, SwiGlu, GeGlu };
inline bool gated_mlp(MlpKind k) {
  return k != MlpKind::GeluTanh;
}
enum class PosKind { Learned, Rope };
// Which channels RoPE rotates together: Hugging Face's rotate-half layout pairs i with
// i + head_dim/2 ("NeoX"); llama.cpp's GGUF layout pairs 2i with 2i+1 ("normal").
enum class RopePairing { Halves, Interleaved };

struct RopeScaling {
  bool llama3 = false;  // rope_type "llama3"
  float factor = 1.0f;
  float low_freq_factor = 1.0f;
  float high_freq_factor = 4.0f;
  int original_max_position = 8192;
};

// What may differ from one layer to the next.
struct LayerSpec {
  // Sliding-window attention: a query at position p sees keys p - window + 1 .. p (itself
  // and the window - 1 before it); 0 means every earlier position.
  int window = 0;
  // RoPE of this layer when it differs from the model's (Gemma 3's sliding layers): base
  // (0: Config::rope_theta) and whether Config::rope_linear_factor applies.
  float rope_theta = 0.0f;
  bool rope_linear = true;
};

struct Config {
  Family family = Family::Llama;
  int n_layer = 0;
  int d_model = 0;    // hidden size
  int n_head = 0;     // query heads
  int n_kv_head = 0;  // key/value heads (grouped-query attention when < n_head)
  int head_dim = 0;
  int d_ff = 0;  // MLP inner size
  int vocab_size = 0;
  int n_ctx = 0;  // maximum positions
  float norm_eps = 1e-5f;

  NormKind norm = NormKind::LayerNorm;
  MlpKind mlp = MlpKind::GeluTanh;
  PosKind pos = PosKind::Learned;
  RopePairing rope_pairing = RopePairing::Halves;
  float rope_theta = 10000.0f;
  RopeScaling rope_scaling;

  bool qkv_bias = false;   // biases on the q, k, v projections
  bool out_bias = false;   // bias on the attention output projection
  bool mlp_bias = false;   // biases on the MLP projections
  bool tied_head = false;  // LM head shares the token embedding

  // Gemma 3 and Qwen3: RMSNorm of each head of q and k (weights [head_dim]) before RoPE.
  bool qk_norm = false;
  // Gemma 3: the attention and MLP outputs are normalised before they join the residual
  // ("sandwich" norms; the input norms stay as in Llama).
  bool post_norms = false;
  // Added to every RMSNorm weight when loading: 1 for Gemma's Hugging Face checkpoints, whose
  // norms compute x * (1 + w) (GGUF converters fold the 1 into the stored weights).
  float norm_weight_offset = 0.0f;
  // Multiplies the token embedding (Gemma: sqrt(d_model), rounded to the embedding's type as
  // transformers does); 0 means none.
  float embed_scale = 0.0f;
  // Multiplies q k^T; 0 means 1 / sqrt(head_dim) (Gemma: query_pre_attn_scalar^-1/2).
  float attn_scale = 0.0f;
  // Logits become cap * tanh(logits / cap) when > 0 (final_logit_softcapping).
  float final_logit_softcap = 0.0f;
  // Linear RoPE scaling (positions divided by the factor) on layers whose spec says so.
  float rope_linear_factor = 1.0f;

  // Weight type config.json declares ("torch_dtype" or "dtype": F32, F16 or BF16), empty if
  // it declares none; every floating-point weight in the checkpoint must then have it.
  std::string declared_dtype;

  int bos_id = -1;
  int eos_id = -1;

  // One entry per layer, or empty when every layer is the default LayerSpec.
  std::vector<LayerSpec> layer_specs;
  LayerSpec layer(int l) const {
    return layer_specs.empty() ? LayerSpec{} : layer_specs[static_cast<size_t>(l)];
  }

  // Bytes of K and V for one token in all layers (fp32).
  int64_t kv_bytes_per_token() const {
    return 2LL * n_layer * n_kv_head * head_dim * static_cast<int64_t>(sizeof(float));
  }
};

// Parses a Hugging Face config.json (already read) into a Config, validating every size.
// `file` names the file in error messages. Throws BadInput / Unsupported.
Config config_from_hf_json(const nlohmann::json& j, const std::string& file);

// Builds a Config from GGUF metadata ({arch}.block_count, {arch}.embedding_length, ...).
Config config_from_gguf(const io::GgufFile& g);

// Checks sizes are positive, consistent and not absurd; throws BadInput naming `file`.
void validate_config(const Config& c, const std::string& file);

// Architectures kvscope runs, for "unsupported architecture X; supported: ..." messages: the
// Hugging Face model_type values, or the GGUF general.architecture values.
const char* supported_hf_architectures();
const char* supported_gguf_architectures();

}  // namespace kvscope::model
