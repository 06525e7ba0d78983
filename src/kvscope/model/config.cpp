#include "kvscope/model/config.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kvscope/error.hpp"
#include "kvscope/io/json_file.hpp"

namespace kvscope::model {

namespace {

// Typed reads of config.json fields with errors that name the file, the field and the value
// (io/json_file.hpp's getters, bound to one object and file).
class Fields {
 public:
  Fields(const nlohmann::json& j, const std::string& file) : j_(j), file_(file) {}

  bool has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }

  int64_t integer(const char* key) const { return io::json_int(j_, key, file_); }
  int64_t integer_or(const char* key, int64_t fallback) const {
    return io::json_int_or(j_, key, file_, fallback);
  }
  double number_or(const char* key, double fallback) const {
    return io::json_float_or(j_, key, file_, fallback);
  }
  bool boolean_or(const char* key, bool fallback) const {
    return io::json_bool_or(j_, key, file_, fallback);
  }
  std::string string_or(const char* key, const std::string& fallback) const {
    return io::json_string_or(j_, key, file_, fallback);
  }
  // eos_token_id may be a list in newer configs: the first entry is the main one.
  int token_id_or(const char* key, int fallback) const {
    if (!has(key)) return fallback;
    const auto& v = j_[key];
    const nlohmann::json& id = v.is_array() ? (v.empty() ? v : v[0]) : v;
    if (id.is_array()) return fallback;  // an empty list
    const int64_t x = io::json_int_value(id, key, file_);
    if (x < INT32_MIN || x > INT32_MAX)
      throw BadInput(fmt::format("{}: field '{}': value {} is out of range", file_, key, x));
    return static_cast<int>(x);
  }
  const nlohmann::json& json() const { return j_; }
  const std::string& file() const { return file_; }

 private:
  const nlohmann::json& j_;
  const std::string& file_;
};

int to_int(int64_t v, const char* key, const std::string& file) {
  if (v < INT32_MIN || v > INT32_MAX)
    throw BadInput(fmt::format("{}: field '{}': value {} is out of range", file, key, v));
  return static_cast<int>(v);
}

void read_rope(const Fields& f, Config& c) {
  c.pos = PosKind::Rope;
  c.rope_pairing = RopePairing::Halves;  // Hugging Face checkpoints use rotate-half
  c.rope_theta = static_cast<float>(f.number_or("rope_theta", 10000.0));
  // transformers 4.x writes "rope_scaling"; 5.x writes "rope_parameters" (which also
  // carries rope_theta).
  for (const char* key : {"rope_scaling", "rope_parameters"}) {
    if (!f.has(key)) continue;
    const auto& r = f.json()[key];
    if (!r.is_object())
      throw BadInput(fmt::format("{}: field '{}': expected an object, got {}", f.file(), key,
                                 io::json_excerpt(r)));
    Fields rf(r, f.file());
    if (rf.has("rope_theta"))
      c.rope_theta = static_cast<float>(rf.number_or("rope_theta", c.rope_theta));
    std::string type = rf.string_or("rope_type", rf.string_or("type", "default"));
    if (type == "default" || type.empty()) continue;
    if (type != "llama3")
      throw Unsupported(
          fmt::format("{}: field '{}.rope_type': rope scaling '{}' is not supported (supported: "
                      "default, llama3)",
                      f.file(), key, type));
    c.rope_scaling.llama3 = true;
    c.rope_scaling.factor = static_cast<float>(rf.number_or("factor", 8.0));
    c.rope_scaling.low_freq_factor = static_cast<float>(rf.number_or("low_freq_factor", 1.0));
    c.rope_scaling.high_freq_factor = static_cast<float>(rf.number_or("high_freq_factor", 4.0));
    c.rope_scaling.original_max_position =
        to_int(rf.integer_or("original_max_position_embeddings", 8192),
               "original_max_position_embeddings", f.file());
  }
}

// Sliding-window layers: `layer_types` (transformers 5) names each layer's kind; older
// configs say it with `sliding_window` alone (Mistral: every layer) or, for Qwen2, with
// `use_sliding_window` and `max_window_layers` (layers from that index on slide).
void read_layer_types(const Fields& f, const std::string& type, Config& c) {
  const bool has_window = f.has("sliding_window");
  auto window = [&] {
    const int64_t w = f.integer("sliding_window");
    if (w <= 0 || w > INT32_MAX)
      throw BadInput(fmt::format("{}: field 'sliding_window': value {} is out of range (1..{})",
                                 f.file(), w, INT32_MAX));
    return static_cast<int>(w);
  };
  if (f.has("layer_types")) {
    const auto& lt = f.json()["layer_types"];
    if (!lt.is_array() || static_cast<int64_t>(lt.size()) != c.n_layer)
      throw BadInput(
          fmt::format("{}: field 'layer_types': expected a list of {} layer kinds, got {}",
                      f.file(), c.n_layer, io::json_excerpt(lt)));
    c.layer_specs.assign(lt.size(), LayerSpec{});
    for (size_t l = 0; l < lt.size(); ++l) {
      const std::string kind = lt[l].is_string() ? lt[l].get<std::string>() : "";
      if (kind == "sliding_attention") {
        if (!has_window)
          throw BadInput(
              fmt::format("{}: layer {} is a sliding_attention layer but the config has "
                          "no 'sliding_window'",
                          f.file(), l));
        c.layer_specs[l].window = window();
      } else if (kind != "full_attention") {
        throw BadInput(
            fmt::format("{}: field 'layer_types[{}]': unknown layer kind {} (known: "
                        "full_attention, sliding_attention)",
                        f.file(), l, io::json_excerpt(lt[l])));
      }
    }
    return;
  }
  if (!has_window) return;
  if (type == "mistral") {
    c.layer_specs.assign(static_cast<size_t>(c.n_layer), LayerSpec{window()});
  } else if ((type == "qwen2" || type == "qwen3") && f.boolean_or("use_sliding_window", false)) {
    const int64_t first = f.integer_or("max_window_layers", c.n_layer);
    c.layer_specs.assign(static_cast<size_t>(c.n_layer), LayerSpec{});
    for (int64_t l = std::max<int64_t>(first, 0); l < c.n_layer; ++l)
      c.layer_specs[static_cast<size_t>(l)].window = window();
  }
}

// Gemma 3's RoPE: full-attention layers use rope_theta and any linear rope_scaling, sliding
// layers rope_local_base_freq unscaled. transformers 5 says both in `rope_parameters`, keyed
// by layer kind.
void read_gemma3_rope(const Fields& f, Config& c) {
  c.pos = PosKind::Rope;
  c.rope_pairing = RopePairing::Halves;
  c.rope_theta = static_cast<float>(f.number_or("rope_theta", 1000000.0));
  float local_theta = static_cast<float>(f.number_or("rope_local_base_freq", 10000.0));
  // Reads one RoPE description; returns its linear factor (1 for "default").
  auto scaling = [&](const nlohmann::json& r, const std::string& key, float& theta) {
    if (r.is_null()) return 1.0f;
    if (!r.is_object())
      throw BadInput(fmt::format("{}: field '{}': expected an object, got {}", f.file(), key,
                                 io::json_excerpt(r)));
    Fields rf(r, f.file());
    if (rf.has("rope_theta")) theta = static_cast<float>(rf.number_or("rope_theta", theta));
    const std::string type = rf.string_or("rope_type", rf.string_or("type", "default"));
    if (type == "default" || type.empty()) return 1.0f;
    if (type != "linear")
      throw Unsupported(fmt::format(
          "{}: field '{}': rope scaling '{}' is not supported for gemma3 (supported: default, "
          "linear)",
          f.file(), key, type));
    return static_cast<float>(rf.number_or("factor", 1.0));
  };
  if (f.has("rope_scaling"))
    c.rope_linear_factor = scaling(f.json()["rope_scaling"], "rope_scaling", c.rope_theta);
  if (f.has("rope_parameters")) {
    const auto& rp = f.json()["rope_parameters"];
    if (rp.is_object() && (rp.contains("full_attention") || rp.contains("sliding_attention"))) {
      if (rp.contains("full_attention"))
        c.rope_linear_factor =
            scaling(rp["full_attention"], "rope_parameters.full_attention", c.rope_theta);
      if (rp.contains("sliding_attention") &&
          scaling(rp["sliding_attention"], "rope_parameters.sliding_attention", local_theta) !=
              1.0f)
        throw Unsupported(fmt::format(
            "{}: field 'rope_parameters.sliding_attention': scaled RoPE on sliding layers is not "
            "supported",
            f.file()));
    } else {
      c.rope_linear_factor = scaling(rp, "rope_parameters", c.rope_theta);
    }
  }
  for (LayerSpec& s : c.layer_specs)
    if (s.window > 0) {
      s.rope_theta = local_theta;
      s.rope_linear = false;
    }
}

// gemma3_text: the Llama block with Gemma's differences as data (see Config).
void read_gemma3(const Fields& f, Config& c) {
  const std::string& file = f.file();
  // A multimodal config's text_config leaves out what equals Gemma3TextConfig's defaults;
  // those defaults are these fallbacks.
  auto geti = [&](const char* key, int64_t fallback) {
    return to_int(f.integer_or(key, fallback), key, file);
  };
  c.family = Family::Gemma3;
  c.n_layer = geti("num_hidden_layers", 26);
  c.d_model = geti("hidden_size", 2304);
  c.n_head = geti("num_attention_heads", 8);
  c.n_kv_head = geti("num_key_value_heads", 4);
  c.head_dim = geti("head_dim", 256);
  c.d_ff = geti("intermediate_size", 9216);
  c.vocab_size = geti("vocab_size", 262208);
  c.n_ctx =
      to_int(f.integer_or("max_position_embeddings", 131072), "max_position_embeddings", file);
  c.norm_eps = static_cast<float>(f.number_or("rms_norm_eps", 1e-6));
  for (const char* key : {"hidden_activation", "hidden_act"}) {
    if (!f.has(key)) continue;
    const std::string act = f.string_or(key, "");
    if (act != "gelu_pytorch_tanh" && act != "gelu_new")
      throw Unsupported(fmt::format(
          "{}: field '{}': '{}' is not supported for gemma3 (supported: gelu_pytorch_tanh)", file,
          key, act));
    break;
  }
  if (f.has("attn_logit_softcapping"))
    throw Unsupported(fmt::format(
        "{}: field 'attn_logit_softcapping': attention softcapping is not supported", file));
  c.norm = NormKind::RmsNorm;
  c.mlp = MlpKind::GeGlu;
  c.qk_norm = true;
  c.post_norms = true;
  c.norm_weight_offset = 1.0f;
  c.embed_scale = std::sqrt(static_cast<float>(c.d_model));
  const double qscale = f.number_or("query_pre_attn_scalar", 256.0);
  if (!(qscale > 0.0) || !std::isfinite(qscale))
    throw BadInput(
        fmt::format("{}: field 'query_pre_attn_scalar': value {} must be positive", file, qscale));
  c.attn_scale = static_cast<float>(1.0 / std::sqrt(qscale));
  c.final_logit_softcap = static_cast<float>(f.number_or("final_logit_softcapping", 0.0));
  if (!(c.final_logit_softcap >= 0.0f) || !std::isfinite(c.final_logit_softcap))
    throw BadInput(fmt::format("{}: field 'final_logit_softcapping': value {} is out of range",
                               file, c.final_logit_softcap));
  c.qkv_bias = c.out_bias = f.boolean_or("attention_bias", false);
  if (c.qkv_bias)
    throw Unsupported(
        fmt::format("{}: field 'attention_bias': gemma3 with attention biases is "
                    "not supported",
                    file));
  c.tied_head = f.boolean_or("tie_word_embeddings", true);
  c.bos_id = f.token_id_or("bos_token_id", 2);
  c.eos_id = f.token_id_or("eos_token_id", 1);
  if (c.n_layer <= 0 || c.n_layer > 1024)
    throw BadInput(
        fmt::format("{}: number of layers {} is out of range (1..1024)", file, c.n_layer));
  // Layer kinds: layer_types, or every `sliding_window_pattern`-th layer global (default 6).
  if (f.has("layer_types")) {
    read_layer_types(f, "gemma3_text", c);
  } else {
    const int64_t pattern = f.integer_or("sliding_window_pattern", 6);
    if (pattern <= 0)
      throw BadInput(fmt::format("{}: field 'sliding_window_pattern': value {} must be positive",
                                 file, pattern));
    if (!f.has("sliding_window"))
      throw BadInput(fmt::format("{}: gemma3 config has no 'sliding_window'", file));
    const int64_t w = f.integer("sliding_window");
    if (w <= 0 || w > INT32_MAX)
      throw BadInput(fmt::format("{}: field 'sliding_window': value {} is out of range (1..{})",
                                 file, w, INT32_MAX));
    c.layer_specs.assign(static_cast<size_t>(c.n_layer), LayerSpec{});
    for (int l = 0; l < c.n_layer; ++l)
      if ((l + 1) % pattern != 0)
        c.layer_specs[static_cast<size_t>(l)].window = static_cast<int>(w);
  }
  read_gemma3_rope(f, c);
}

}  // namespace

std::string_view family_name(Family f) {
  switch (f) {
    case Family::Gpt2:
      return "gpt2";
    case Family::Llama:
      return "llama";
    case Family::Qwen2:
      return "qwen2";
    case Family::Qwen3:
      return "qwen3";
    case Family::Gemma3:
      return "gemma3";
  }
  return "?";
}

const char* supported_hf_architectures() {
  return "gemma3, gemma3_text, gpt2, llama, mistral, qwen2, qwen3";
}
const char* supported_gguf_architectures() {
  return "gemma3, gpt2, llama, qwen2, qwen3";
}

Config config_from_hf_json(const nlohmann::json& j, const std::string& file) {
  if (!j.is_object()) throw BadInput(fmt::format("{}: expected a JSON object", file));
  Fields f(j, file);
  Config c;
  std::string type = f.string_or("model_type", "");
  if (type.empty()) throw BadInput(fmt::format("{}: missing field 'model_type'", file));
  auto geti = [&](const char* key) { return to_int(f.integer(key), key, file); };

  if (type == "gpt2") {
    c.family = Family::Gpt2;
    c.n_layer = geti("n_layer");
    c.d_model = geti("n_embd");
    c.n_head = geti("n_head");
    c.n_kv_head = c.n_head;
    c.head_dim = c.n_head > 0 ? c.d_model / c.n_head : 0;
    c.d_ff = to_int(f.integer_or("n_inner", 4LL * c.d_model), "n_inner", file);
    c.vocab_size = geti("vocab_size");
    c.n_ctx = geti("n_positions");
    c.norm_eps = static_cast<float>(f.number_or("layer_norm_epsilon", 1e-5));
    std::string act = f.string_or("activation_function", "gelu_new");
    if (act != "gelu_new" && act != "gelu_pytorch_tanh")
      throw Unsupported(fmt::format(
          "{}: field 'activation_function': '{}' is not supported (supported: gelu_new)", file,
          act));
    c.norm = NormKind::LayerNorm;
    c.mlp = MlpKind::GeluTanh;
    c.pos = PosKind::Learned;
    c.qkv_bias = c.out_bias = c.mlp_bias = true;
    c.tied_head = f.boolean_or("tie_word_embeddings", true);
    c.bos_id = f.token_id_or("bos_token_id", -1);
    c.eos_id = f.token_id_or("eos_token_id", -1);
    if (c.n_head > 0 && c.d_model % c.n_head != 0)
      throw BadInput(
          fmt::format("{}: n_embd {} is not a multiple of n_head {}", file, c.d_model, c.n_head));
  } else if (type == "gemma3_text") {
    read_gemma3(f, c);
  } else if (type == "gemma3") {
    // The multimodal configuration: kvscope runs its language model (text_config).
    if (!f.has("text_config") || !j["text_config"].is_object())
      throw BadInput(fmt::format("{}: gemma3 config has no 'text_config' object", file));
    Fields tf(j["text_config"], file);
    read_gemma3(tf, c);
  } else if (type == "llama" || type == "mistral" || type == "qwen2" || type == "qwen3") {
    c.family = type == "qwen2" ? Family::Qwen2 : type == "qwen3" ? Family::Qwen3 : Family::Llama;
    c.n_layer = geti("num_hidden_layers");
    c.d_model = geti("hidden_size");
    c.n_head = geti("num_attention_heads");
    c.n_kv_head =
        to_int(f.integer_or("num_key_value_heads", c.n_head), "num_key_value_heads", file);
    c.head_dim =
        to_int(f.integer_or("head_dim", c.n_head > 0 ? c.d_model / c.n_head : 0), "head_dim", file);
    c.d_ff = geti("intermediate_size");
    c.vocab_size = geti("vocab_size");
    c.n_ctx =
        to_int(f.integer_or("max_position_embeddings", 2048), "max_position_embeddings", file);
    c.norm_eps = static_cast<float>(f.number_or("rms_norm_eps", 1e-6));
    std::string act = f.string_or("hidden_act", "silu");
    if (act != "silu")
      throw Unsupported(fmt::format(
          "{}: field 'hidden_act': '{}' is not supported (supported: silu)", file, act));
    c.norm = NormKind::RmsNorm;
    c.mlp = MlpKind::SwiGlu;
    read_rope(f, c);
    c.qkv_bias = type == "qwen2" ? true : f.boolean_or("attention_bias", false);
    c.out_bias = type == "qwen2" ? false : f.boolean_or("attention_bias", false);
    c.qk_norm = type == "qwen3";
    c.mlp_bias = f.boolean_or("mlp_bias", false);
    c.tied_head = f.boolean_or("tie_word_embeddings", false);
    c.bos_id = f.token_id_or("bos_token_id", -1);
    c.eos_id = f.token_id_or("eos_token_id", -1);
    read_layer_types(f, type, c);
  } else {
    throw Unsupported(fmt::format("{}: unsupported architecture '{}'; supported: {}", file, type,
                                  supported_hf_architectures()));
  }
  for (const char* key : {"torch_dtype", "dtype"}) {
    std::string dt = f.string_or(key, "");
    if (dt.empty()) continue;
    if (dt == "float32")
      c.declared_dtype = "F32";
    else if (dt == "float16")
      c.declared_dtype = "F16";
    else if (dt == "bfloat16")
      c.declared_dtype = "BF16";
    else
      throw BadInput(fmt::format(
          "{}: field '{}': unknown weight type '{}' (expected float32, float16 or bfloat16)", file,
          key, dt));
  }
  validate_config(c, file);
  return c;
}

void validate_config(const Config& c, const std::string& file) {
  // Limits far above any published model, far below what would exhaust memory by accident.
  struct Limit {
    const char* name;
    int64_t value;
    int64_t max;
  };
  const Limit limits[] = {
      {"number of layers", c.n_layer, 1024},      {"hidden size", c.d_model, 65536},
      {"attention heads", c.n_head, 1024},        {"key/value heads", c.n_kv_head, 1024},
      {"head dimension", c.head_dim, 4096},       {"MLP size", c.d_ff, 1 << 20},
      {"vocabulary size", c.vocab_size, 1 << 24}, {"context length", c.n_ctx, 1 << 24},
  };
  for (const auto& l : limits) {
    if (l.value <= 0 || l.value > l.max)
      throw BadInput(
          fmt::format("{}: {} {} is out of range (1..{})", file, l.name, l.value, l.max));
  }
  if (!c.layer_specs.empty() && static_cast<int64_t>(c.layer_specs.size()) != c.n_layer)
    throw BadInput(
        fmt::format("{}: {} layer kinds for {} layers", file, c.layer_specs.size(), c.n_layer));
  for (const LayerSpec& s : c.layer_specs)
    if (s.window < 0)
      throw BadInput(fmt::format("{}: sliding window {} is out of range", file, s.window));
  if (c.n_head % c.n_kv_head != 0)
    throw BadInput(fmt::format("{}: {} attention heads are not a multiple of {} key/value heads",
                               file, c.n_head, c.n_kv_head));
  if (c.pos == PosKind::Rope && c.head_dim % 2 != 0)
    throw BadInput(fmt::format("{}: head dimension {} must be even for RoPE", file, c.head_dim));
  if (!(c.norm_eps > 0.0f) || c.norm_eps > 1.0f)
    throw BadInput(fmt::format("{}: normalisation epsilon {} is out of range", file, c.norm_eps));
  if (c.pos == PosKind::Rope && !(c.rope_theta > 0.0f && std::isfinite(c.rope_theta)))
    throw BadInput(
        fmt::format("{}: rope_theta {} must be positive and finite", file, c.rope_theta));
  for (const LayerSpec& s : c.layer_specs)
    if (s.rope_theta != 0.0f && !(s.rope_theta > 0.0f && std::isfinite(s.rope_theta)))
      throw BadInput(
          fmt::format("{}: local rope base {} must be positive and finite", file, s.rope_theta));
  if (!(c.rope_linear_factor > 0.0f) || !std::isfinite(c.rope_linear_factor))
    throw BadInput(fmt::format("{}: linear rope scaling factor {} must be positive and finite",
                               file, c.rope_linear_factor));
  if (c.attn_scale != 0.0f && !(c.attn_scale > 0.0f && std::isfinite(c.attn_scale)))
    throw BadInput(
        fmt::format("{}: attention scale {} must be positive and finite", file, c.attn_scale));
  if (c.rope_scaling.llama3 &&
      (!(c.rope_scaling.factor > 0.0f) || c.rope_scaling.original_max_position <= 0 ||
       !(c.rope_scaling.high_freq_factor > c.rope_scaling.low_freq_factor)))
    throw BadInput(fmt::format("{}: llama3 rope scaling parameters are inconsistent", file));
}

}  // namespace kvscope::model
