#include "kvscope/model/weights.hpp"

#include <algorithm>
#include <cstdint>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kvscope/error.hpp"

namespace kvscope::model {

namespace {

class Loader {
 public:
  Loader(const Config& c, const TensorSource& src) : c_(c), src_(src) {}

  const io::RawTensor* find(const std::string& name) const { return src_.find(name); }

  // The tensor `name`, checked against `shape` (row-major, outermost first).
  const io::RawTensor& require(const std::string& name, const std::vector<int64_t>& shape) const {
    const io::RawTensor* t = src_.find(name);
    if (!t) throw BadInput(fmt::format("{}: missing tensor '{}'", src_.file, name));
    check(*t, shape);
    return *t;
  }

  std::vector<float> get(const std::string& name, const std::vector<int64_t>& shape) {
    return convert(require(name, shape));
  }
  std::vector<float> get_optional(const std::string& name, const std::vector<int64_t>& shape) {
    const io::RawTensor* t = src_.find(name);
    if (!t) return {};
    check(*t, shape);
    return convert(*t);
  }
  // Like get, but F32 data of a mapped file is used in place rather than copied.
  Param get_param(const std::string& name, const std::vector<int64_t>& shape) {
    const io::RawTensor& t = require(name, shape);
    const bool aligned = reinterpret_cast<uintptr_t>(t.data) % alignof(float) == 0;
    if (src_.storage && t.dtype == io::DType::F32 && aligned) {
      params_ += t.numel();
      return Param::view(reinterpret_cast<const float*>(t.data), static_cast<size_t>(t.numel()));
    }
    return convert(t);
  }
  Param get_param_optional(const std::string& name, const std::vector<int64_t>& shape) {
    return src_.find(name) ? get_param(name, shape) : Param{};
  }
  int64_t params() const { return params_; }

 private:
  void check(const io::RawTensor& t, const std::vector<int64_t>& shape) const {
    if (t.shape != shape)
      throw BadInput(fmt::format("{}: tensor '{}' has shape [{}], config calls for [{}]", src_.file,
                                 t.name, fmt::join(t.shape, ", "), fmt::join(shape, ", ")));
    if (!io::dtype_is_float(t.dtype))
      throw BadInput(fmt::format("{}: tensor '{}' has type {}, expected a floating-point type",
                                 src_.file, t.name, io::dtype_name(t.dtype)));
    if (!c_.declared_dtype.empty() && io::dtype_name(t.dtype) != c_.declared_dtype)
      throw BadInput(fmt::format("{}: tensor '{}' has type {}, but config.json declares {}",
                                 src_.file, t.name, io::dtype_name(t.dtype), c_.declared_dtype));
  }
  std::vector<float> convert(const io::RawTensor& t) {
    params_ += t.numel();
    return io::to_f32(t);
  }

  const Config& c_;
  const TensorSource& src_;
  int64_t params_ = 0;
};

void append(std::vector<float>& dst, const std::vector<float>& src) {
  dst.insert(dst.end(), src.begin(), src.end());
}

Weights load_hf_gpt2(const Config& c, Loader& L) {
  // save_pretrained of GPT2LMHeadModel prefixes "transformer."; the original checkpoints don't.
  const std::string p = L.find("transformer.wte.weight") ? "transformer." : "";
  const int64_t d = c.d_model, F = c.d_ff, V = c.vocab_size;
  Weights w;
  w.tok_emb = L.get_param(p + "wte.weight", {V, d});
  w.pos_emb = L.get_param(p + "wpe.weight", {c.n_ctx, d});
  for (int l = 0; l < c.n_layer; ++l) {
    const std::string b = fmt::format("{}h.{}.", p, l);
    LayerWeights lw;
    lw.norm1_w = L.get(b + "ln_1.weight", {d});
    lw.norm1_b = L.get(b + "ln_1.bias", {d});
    lw.in_major = true;  // Conv1D: [in, out]
    lw.wqkv = L.get_param(b + "attn.c_attn.weight", {d, 3 * d});
    lw.bqkv = L.get(b + "attn.c_attn.bias", {3 * d});
    lw.wo = L.get_param(b + "attn.c_proj.weight", {d, d});
    lw.bo = L.get(b + "attn.c_proj.bias", {d});
    lw.norm2_w = L.get(b + "ln_2.weight", {d});
    lw.norm2_b = L.get(b + "ln_2.bias", {d});
    lw.w_in = L.get_param(b + "mlp.c_fc.weight", {d, F});
    lw.b_in = L.get(b + "mlp.c_fc.bias", {F});
    lw.w_out = L.get_param(b + "mlp.c_proj.weight", {F, d});
    lw.b_out = L.get(b + "mlp.c_proj.bias", {d});
    w.layers.push_back(std::move(lw));
  }
  w.norm_f_w = L.get(p + "ln_f.weight", {d});
  w.norm_f_b = L.get(p + "ln_f.bias", {d});
  if (!c.tied_head) w.lm_head = L.get_param("lm_head.weight", {V, d});
  return w;
}

Weights load_hf_llama(const Config& c, Loader& L) {
  const int64_t d = c.d_model, F = c.d_ff, V = c.vocab_size;
  const int64_t qd = int64_t{c.n_head} * c.head_dim, kd = int64_t{c.n_kv_head} * c.head_dim;
  Weights w;
  w.tok_emb = L.get_param("model.embed_tokens.weight", {V, d});
  for (int l = 0; l < c.n_layer; ++l) {
    const std::string b = fmt::format("model.layers.{}.", l);
    LayerWeights lw;
    lw.norm1_w = L.get(b + "input_layernorm.weight", {d});
    std::vector<float> qkv = L.get(b + "self_attn.q_proj.weight", {qd, d});
    append(qkv, L.get(b + "self_attn.k_proj.weight", {kd, d}));
    append(qkv, L.get(b + "self_attn.v_proj.weight", {kd, d}));
    lw.wqkv = std::move(qkv);
    if (c.qkv_bias) {
      lw.bqkv = L.get(b + "self_attn.q_proj.bias", {qd});
      append(lw.bqkv, L.get(b + "self_attn.k_proj.bias", {kd}));
      append(lw.bqkv, L.get(b + "self_attn.v_proj.bias", {kd}));
    }
    lw.wo = L.get_param(b + "self_attn.o_proj.weight", {d, qd});
    if (c.out_bias) lw.bo = L.get(b + "self_attn.o_proj.bias", {d});
    lw.norm2_w = L.get(b + "post_attention_layernorm.weight", {d});
    std::vector<float> gate_up = L.get(b + "mlp.gate_proj.weight", {F, d});
    append(gate_up, L.get(b + "mlp.up_proj.weight", {F, d}));
    lw.w_in = std::move(gate_up);
    lw.w_out = L.get_param(b + "mlp.down_proj.weight", {d, F});
    if (c.mlp_bias) {
      // Only the down projection's bias is kept separately; gate/up biases are fused like
      // their weights.
      lw.b_in = L.get(b + "mlp.gate_proj.bias", {F});
      append(lw.b_in, L.get(b + "mlp.up_proj.bias", {F}));
      lw.b_out = L.get(b + "mlp.down_proj.bias", {d});
    }
    w.layers.push_back(std::move(lw));
  }
  w.norm_f_w = L.get("model.norm.weight", {d});
  if (!c.tied_head) w.lm_head = L.get_param("lm_head.weight", {V, d});
  return w;
}

// llama.cpp's converter reorders each llama head's q/k rows so that RoPE rotates adjacent
// pairs: GGUF row 2i + j of a head is Hugging Face row j * D/2 + i. Undo it, so that keys are
// captured in the same channel order as transformers' and RoPE rotates halves.
std::vector<float> unpermute_rope_rows(const std::vector<float>& w, int heads, int D,
                                       int64_t cols) {
  std::vector<float> out(w.size());
  const int half = D / 2;
  for (int h = 0; h < heads; ++h)
    for (int i = 0; i < half; ++i)
      for (int j = 0; j < 2; ++j) {
        const size_t from = (static_cast<size_t>(h) * D + 2 * i + j) * cols;
        const size_t to = (static_cast<size_t>(h) * D + static_cast<size_t>(j) * half + i) * cols;
        std::copy_n(&w[from], cols, &out[to]);
      }
  return out;
}

Weights load_gguf(const Config& c, Loader& L) {
  const int64_t d = c.d_model, F = c.d_ff, V = c.vocab_size;
  const int64_t qd = int64_t{c.n_head} * c.head_dim, kd = int64_t{c.n_kv_head} * c.head_dim;
  const bool layer_norm = c.norm == NormKind::LayerNorm;
  Weights w;
  w.tok_emb = L.get_param("token_embd.weight", {V, d});
  if (c.pos == PosKind::Learned) w.pos_emb = L.get_param("position_embd.weight", {c.n_ctx, d});
  for (int l = 0; l < c.n_layer; ++l) {
    const std::string b = fmt::format("blk.{}.", l);
    LayerWeights lw;
    lw.norm1_w = L.get(b + "attn_norm.weight", {d});
    if (layer_norm) lw.norm1_b = L.get(b + "attn_norm.bias", {d});
    if (L.find(b + "attn_qkv.weight")) {
      lw.wqkv = L.get_param(b + "attn_qkv.weight", {qd + 2 * kd, d});
      if (c.qkv_bias) lw.bqkv = L.get(b + "attn_qkv.bias", {qd + 2 * kd});
    } else {
      std::vector<float> q = L.get(b + "attn_q.weight", {qd, d});
      std::vector<float> k = L.get(b + "attn_k.weight", {kd, d});
      if (c.arch == "llama") {
        q = unpermute_rope_rows(q, c.n_head, c.head_dim, d);
        k = unpermute_rope_rows(k, c.n_kv_head, c.head_dim, d);
      }
      append(q, k);
      append(q, L.get(b + "attn_v.weight", {kd, d}));
      lw.wqkv = std::move(q);
      if (c.qkv_bias) {
        lw.bqkv = L.get(b + "attn_q.bias", {qd});
        append(lw.bqkv, L.get(b + "attn_k.bias", {kd}));
        append(lw.bqkv, L.get(b + "attn_v.bias", {kd}));
      }
    }
    lw.wo = L.get_param(b + "attn_output.weight", {d, qd});
    if (c.out_bias) lw.bo = L.get(b + "attn_output.bias", {d});
    lw.norm2_w = L.get(b + "ffn_norm.weight", {d});
    if (layer_norm) lw.norm2_b = L.get(b + "ffn_norm.bias", {d});
    if (c.mlp == MlpKind::SwiGlu) {
      std::vector<float> gate_up = L.get(b + "ffn_gate.weight", {F, d});
      append(gate_up, L.get(b + "ffn_up.weight", {F, d}));
      lw.w_in = std::move(gate_up);
    } else {
      lw.w_in = L.get_param(b + "ffn_up.weight", {F, d});
    }
    if (c.mlp_bias) lw.b_in = L.get(b + "ffn_up.bias", {F});
    lw.w_out = L.get_param(b + "ffn_down.weight", {d, F});
    if (c.mlp_bias) lw.b_out = L.get(b + "ffn_down.bias", {d});
    w.layers.push_back(std::move(lw));
  }
  w.norm_f_w = L.get("output_norm.weight", {d});
  if (layer_norm) w.norm_f_b = L.get("output_norm.bias", {d});
  // Some GGUF files omit output.weight to mean a tied head.
  if (!c.tied_head) {
    w.lm_head = L.get_param_optional("output.weight", {V, d});
  }
  if (c.pos == PosKind::Rope)
    w.rope_freq_factors = L.get_optional("rope_freqs.weight", {c.head_dim / 2});
  return w;
}

}  // namespace

Weights load_weights(const Config& c, const TensorSource& src, WeightNaming naming) {
  Loader L(c, src);
  Weights w;
  if (naming == WeightNaming::Gguf) {
    w = load_gguf(c, L);
  } else if (c.arch == "gpt2") {
    w = load_hf_gpt2(c, L);
  } else {
    w = load_hf_llama(c, L);
  }
  w.n_params = L.params();
  w.storage = src.storage;
  return w;
}

}  // namespace kvscope::model
