#include "kvscope/model/weights.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kvscope/error.hpp"

namespace kvscope::model {

namespace {

// Where a tensor goes.
enum class Slot : uint8_t {
  TokEmb,
  PosEmb,
  NormFW,
  NormFB,
  LmHead,
  RopeFreqs,  // once per model
  Norm1W,
  Norm1B,
  Qkv,
  QkvB,
  Q,
  QB,
  K,
  KB,
  V,
  VB,
  O,
  OB,
  Norm2W,
  Norm2B,
  Gate,
  GateB,
  Up,
  UpB,
  Down,
  DownB,
  QNorm,
  KNorm,
  PostAttnNorm,
  PostMlpNorm,  // once per layer
};
constexpr Slot kFirstLayerSlot = Slot::Norm1W;

// Sizes a shape is made of (Config fields, or sums of them).
enum class Dim : uint8_t { None, d, V, C, Qkv, Qd, Kd, F, D, HalfD };

// When a tensor must be present: always, only for some configs, or never (read if present).
enum class Need : uint8_t {
  Always,
  Optional,
  LayerNorm,           // NormKind::LayerNorm
  Learned,             // PosKind::Learned
  QkvBias,             // qkv_bias
  OutBias,             // out_bias
  MlpBias,             // mlp_bias
  Gated,               // gated MLPs (SwiGLU, GeGLU)
  GatedBias,           // a gated MLP with mlp_bias
  QkNorm,              // qk_norm
  PostNorms,           // post_norms
  Untied,              // !tied_head
  UnlessFusedQkv,      // when the file has no fused q|k|v tensor
  UnlessFusedQkvBias,  // ... and qkv_bias
  FusedQkvBias,        // a fused q|k|v tensor and qkv_bias
  RopeOptional,        // RoPE models, read if present
};

// One row of a family's tensor table: `name` is a pattern with {l} for the layer index and
// {p} for a prefix some checkpoints put before every name. Matrices are [rows, cols]; vectors
// have cols == None. `in_major` matrices are stored [in, out] (GPT-2's Conv1D).
struct TensorRow {
  Slot slot;
  Need need;
  Dim rows, cols;
  const char* name;
  bool in_major = false;
};

constexpr TensorRow kHfGpt2[] = {
    {Slot::TokEmb, Need::Always, Dim::V, Dim::d, "{p}wte.weight"},
    {Slot::PosEmb, Need::Always, Dim::C, Dim::d, "{p}wpe.weight"},
    {Slot::Norm1W, Need::Always, Dim::d, Dim::None, "{p}h.{l}.ln_1.weight"},
    {Slot::Norm1B, Need::Always, Dim::d, Dim::None, "{p}h.{l}.ln_1.bias"},
    {Slot::Qkv, Need::Always, Dim::d, Dim::Qkv, "{p}h.{l}.attn.c_attn.weight", true},
    {Slot::QkvB, Need::Always, Dim::Qkv, Dim::None, "{p}h.{l}.attn.c_attn.bias"},
    {Slot::O, Need::Always, Dim::Qd, Dim::d, "{p}h.{l}.attn.c_proj.weight", true},
    {Slot::OB, Need::Always, Dim::d, Dim::None, "{p}h.{l}.attn.c_proj.bias"},
    {Slot::Norm2W, Need::Always, Dim::d, Dim::None, "{p}h.{l}.ln_2.weight"},
    {Slot::Norm2B, Need::Always, Dim::d, Dim::None, "{p}h.{l}.ln_2.bias"},
    {Slot::Up, Need::Always, Dim::d, Dim::F, "{p}h.{l}.mlp.c_fc.weight", true},
    {Slot::UpB, Need::Always, Dim::F, Dim::None, "{p}h.{l}.mlp.c_fc.bias"},
    {Slot::Down, Need::Always, Dim::F, Dim::d, "{p}h.{l}.mlp.c_proj.weight", true},
    {Slot::DownB, Need::Always, Dim::d, Dim::None, "{p}h.{l}.mlp.c_proj.bias"},
    {Slot::NormFW, Need::Always, Dim::d, Dim::None, "{p}ln_f.weight"},
    {Slot::NormFB, Need::Always, Dim::d, Dim::None, "{p}ln_f.bias"},
    {Slot::LmHead, Need::Untied, Dim::V, Dim::d, "lm_head.weight"},
};

// Llama, Mistral and Qwen2 as transformers saves them.
constexpr TensorRow kHfLlama[] = {
    {Slot::TokEmb, Need::Always, Dim::V, Dim::d, "model.embed_tokens.weight"},
    {Slot::Norm1W, Need::Always, Dim::d, Dim::None, "model.layers.{l}.input_layernorm.weight"},
    {Slot::Q, Need::Always, Dim::Qd, Dim::d, "model.layers.{l}.self_attn.q_proj.weight"},
    {Slot::QB, Need::QkvBias, Dim::Qd, Dim::None, "model.layers.{l}.self_attn.q_proj.bias"},
    {Slot::K, Need::Always, Dim::Kd, Dim::d, "model.layers.{l}.self_attn.k_proj.weight"},
    {Slot::KB, Need::QkvBias, Dim::Kd, Dim::None, "model.layers.{l}.self_attn.k_proj.bias"},
    {Slot::V, Need::Always, Dim::Kd, Dim::d, "model.layers.{l}.self_attn.v_proj.weight"},
    {Slot::VB, Need::QkvBias, Dim::Kd, Dim::None, "model.layers.{l}.self_attn.v_proj.bias"},
    {Slot::O, Need::Always, Dim::d, Dim::Qd, "model.layers.{l}.self_attn.o_proj.weight"},
    {Slot::OB, Need::OutBias, Dim::d, Dim::None, "model.layers.{l}.self_attn.o_proj.bias"},
    {Slot::Norm2W, Need::Always, Dim::d, Dim::None,
     "model.layers.{l}.post_attention_layernorm.weight"},
    {Slot::Gate, Need::Always, Dim::F, Dim::d, "model.layers.{l}.mlp.gate_proj.weight"},
    {Slot::GateB, Need::MlpBias, Dim::F, Dim::None, "model.layers.{l}.mlp.gate_proj.bias"},
    {Slot::Up, Need::Always, Dim::F, Dim::d, "model.layers.{l}.mlp.up_proj.weight"},
    {Slot::UpB, Need::MlpBias, Dim::F, Dim::None, "model.layers.{l}.mlp.up_proj.bias"},
    {Slot::Down, Need::Always, Dim::d, Dim::F, "model.layers.{l}.mlp.down_proj.weight"},
    {Slot::DownB, Need::MlpBias, Dim::d, Dim::None, "model.layers.{l}.mlp.down_proj.bias"},
    {Slot::QNorm, Need::QkNorm, Dim::D, Dim::None, "model.layers.{l}.self_attn.q_norm.weight"},
    {Slot::KNorm, Need::QkNorm, Dim::D, Dim::None, "model.layers.{l}.self_attn.k_norm.weight"},
    {Slot::NormFW, Need::Always, Dim::d, Dim::None, "model.norm.weight"},
    {Slot::LmHead, Need::Untied, Dim::V, Dim::d, "lm_head.weight"},
};

// Gemma 3 (gemma3_text) as transformers saves it. Its post_attention_layernorm normalises the
// attention output (a sandwich norm); the MLP's input norm is pre_feedforward_layernorm.
constexpr TensorRow kHfGemma3[] = {
    {Slot::TokEmb, Need::Always, Dim::V, Dim::d, "{p}embed_tokens.weight"},
    {Slot::Norm1W, Need::Always, Dim::d, Dim::None, "{p}layers.{l}.input_layernorm.weight"},
    {Slot::Q, Need::Always, Dim::Qd, Dim::d, "{p}layers.{l}.self_attn.q_proj.weight"},
    {Slot::K, Need::Always, Dim::Kd, Dim::d, "{p}layers.{l}.self_attn.k_proj.weight"},
    {Slot::V, Need::Always, Dim::Kd, Dim::d, "{p}layers.{l}.self_attn.v_proj.weight"},
    {Slot::QNorm, Need::Always, Dim::D, Dim::None, "{p}layers.{l}.self_attn.q_norm.weight"},
    {Slot::KNorm, Need::Always, Dim::D, Dim::None, "{p}layers.{l}.self_attn.k_norm.weight"},
    {Slot::O, Need::Always, Dim::d, Dim::Qd, "{p}layers.{l}.self_attn.o_proj.weight"},
    {Slot::PostAttnNorm, Need::Always, Dim::d, Dim::None,
     "{p}layers.{l}.post_attention_layernorm.weight"},
    {Slot::Norm2W, Need::Always, Dim::d, Dim::None,
     "{p}layers.{l}.pre_feedforward_layernorm.weight"},
    {Slot::Gate, Need::Always, Dim::F, Dim::d, "{p}layers.{l}.mlp.gate_proj.weight"},
    {Slot::Up, Need::Always, Dim::F, Dim::d, "{p}layers.{l}.mlp.up_proj.weight"},
    {Slot::Down, Need::Always, Dim::d, Dim::F, "{p}layers.{l}.mlp.down_proj.weight"},
    {Slot::PostMlpNorm, Need::Always, Dim::d, Dim::None,
     "{p}layers.{l}.post_feedforward_layernorm.weight"},
    {Slot::NormFW, Need::Always, Dim::d, Dim::None, "{p}norm.weight"},
    {Slot::LmHead, Need::Untied, Dim::V, Dim::d, "lm_head.weight"},
};

// Every family as llama.cpp's converters name its tensors; what a family lacks is not needed
// by its config (no biases for llama, no gate for GELU, ...).
constexpr TensorRow kGguf[] = {
    {Slot::TokEmb, Need::Always, Dim::V, Dim::d, "token_embd.weight"},
    {Slot::PosEmb, Need::Learned, Dim::C, Dim::d, "position_embd.weight"},
    {Slot::Norm1W, Need::Always, Dim::d, Dim::None, "blk.{l}.attn_norm.weight"},
    {Slot::Norm1B, Need::LayerNorm, Dim::d, Dim::None, "blk.{l}.attn_norm.bias"},
    {Slot::Qkv, Need::Optional, Dim::Qkv, Dim::d, "blk.{l}.attn_qkv.weight"},
    {Slot::QkvB, Need::FusedQkvBias, Dim::Qkv, Dim::None, "blk.{l}.attn_qkv.bias"},
    {Slot::Q, Need::UnlessFusedQkv, Dim::Qd, Dim::d, "blk.{l}.attn_q.weight"},
    {Slot::QB, Need::UnlessFusedQkvBias, Dim::Qd, Dim::None, "blk.{l}.attn_q.bias"},
    {Slot::K, Need::UnlessFusedQkv, Dim::Kd, Dim::d, "blk.{l}.attn_k.weight"},
    {Slot::KB, Need::UnlessFusedQkvBias, Dim::Kd, Dim::None, "blk.{l}.attn_k.bias"},
    {Slot::V, Need::UnlessFusedQkv, Dim::Kd, Dim::d, "blk.{l}.attn_v.weight"},
    {Slot::VB, Need::UnlessFusedQkvBias, Dim::Kd, Dim::None, "blk.{l}.attn_v.bias"},
    {Slot::O, Need::Always, Dim::d, Dim::Qd, "blk.{l}.attn_output.weight"},
    {Slot::OB, Need::OutBias, Dim::d, Dim::None, "blk.{l}.attn_output.bias"},
    {Slot::Norm2W, Need::Always, Dim::d, Dim::None, "blk.{l}.ffn_norm.weight"},
    {Slot::Norm2B, Need::LayerNorm, Dim::d, Dim::None, "blk.{l}.ffn_norm.bias"},
    {Slot::Gate, Need::Gated, Dim::F, Dim::d, "blk.{l}.ffn_gate.weight"},
    {Slot::GateB, Need::GatedBias, Dim::F, Dim::None, "blk.{l}.ffn_gate.bias"},
    {Slot::Up, Need::Always, Dim::F, Dim::d, "blk.{l}.ffn_up.weight"},
    {Slot::UpB, Need::MlpBias, Dim::F, Dim::None, "blk.{l}.ffn_up.bias"},
    {Slot::Down, Need::Always, Dim::d, Dim::F, "blk.{l}.ffn_down.weight"},
    {Slot::DownB, Need::MlpBias, Dim::d, Dim::None, "blk.{l}.ffn_down.bias"},
    {Slot::QNorm, Need::QkNorm, Dim::D, Dim::None, "blk.{l}.attn_q_norm.weight"},
    {Slot::KNorm, Need::QkNorm, Dim::D, Dim::None, "blk.{l}.attn_k_norm.weight"},
    {Slot::PostAttnNorm, Need::PostNorms, Dim::d, Dim::None, "blk.{l}.post_attention_norm.weight"},
    {Slot::PostMlpNorm, Need::PostNorms, Dim::d, Dim::None, "blk.{l}.post_ffw_norm.weight"},
    {Slot::NormFW, Need::Always, Dim::d, Dim::None, "output_norm.weight"},
    {Slot::NormFB, Need::LayerNorm, Dim::d, Dim::None, "output_norm.bias"},
    // GGUF files without output.weight have a tied head (config_from_gguf sets tied_head).
    {Slot::LmHead, Need::Untied, Dim::V, Dim::d, "output.weight"},
    {Slot::RopeFreqs, Need::RopeOptional, Dim::HalfD, Dim::None, "rope_freqs.weight"},
};

std::span<const TensorRow> table(Family f, WeightNaming naming) {
  if (naming == WeightNaming::Gguf) return kGguf;
  if (f == Family::Gpt2) return kHfGpt2;
  if (f == Family::Gemma3) return kHfGemma3;
  return kHfLlama;
}

int64_t size_of(Dim dim, const Config& c) {
  const int64_t qd = int64_t{c.n_head} * c.head_dim, kd = int64_t{c.n_kv_head} * c.head_dim;
  switch (dim) {
    case Dim::None:
      return 0;
    case Dim::d:
      return c.d_model;
    case Dim::V:
      return c.vocab_size;
    case Dim::C:
      return c.n_ctx;
    case Dim::Qkv:
      return qd + 2 * kd;
    case Dim::Qd:
      return qd;
    case Dim::Kd:
      return kd;
    case Dim::F:
      return c.d_ff;
    case Dim::D:
      return c.head_dim;
    case Dim::HalfD:
      return c.head_dim / 2;
  }
  return 0;
}

// Whether a tensor must be present (true), may be read if present (nullopt), or is not
// part of this config (false).
std::optional<bool> needed(Need need, const Config& c, bool fused_qkv) {
  switch (need) {
    case Need::Always:
      return true;
    case Need::Optional:
      return std::nullopt;
    case Need::LayerNorm:
      return c.norm == NormKind::LayerNorm;
    case Need::Learned:
      return c.pos == PosKind::Learned;
    case Need::QkvBias:
      return c.qkv_bias;
    case Need::OutBias:
      return c.out_bias;
    case Need::MlpBias:
      return c.mlp_bias;
    case Need::Gated:
      return gated_mlp(c.mlp);
    case Need::GatedBias:
      return gated_mlp(c.mlp) && c.mlp_bias;
    case Need::QkNorm:
      return c.qk_norm;
    case Need::PostNorms:
      return c.post_norms;
    case Need::Untied:
      return !c.tied_head;
    case Need::UnlessFusedQkv:
      return !fused_qkv;
    case Need::UnlessFusedQkvBias:
      return !fused_qkv && c.qkv_bias;
    case Need::FusedQkvBias:
      return fused_qkv && c.qkv_bias;
    case Need::RopeOptional:
      if (c.pos != PosKind::Rope) return false;
      return std::nullopt;
  }
  return false;
}

// First value that is NaN or infinite, or -1. F32/F16/BF16 values are checked one by one;
// quantized blocks through their f16 scales (the quants themselves are integers).
int64_t first_non_finite(const io::RawTensor& t) {
  const auto* p = reinterpret_cast<const uint8_t*>(t.data);
  auto u16 = [&](int64_t byte) {
    uint16_t h;
    std::memcpy(&h, p + byte, 2);
    return h;
  };
  int64_t stride = 0, elems = 1;  // bytes and elements per unit checked
  std::vector<int> f16_fields;    // byte offsets of f16 values within a unit
  switch (t.dtype) {
    case io::DType::F32: {
      const int64_t n = t.numel();
      int64_t bad = -1;
#pragma omp parallel for reduction(max : bad) if (n > (1 << 20))
      for (int64_t i = 0; i < n; ++i) {
        uint32_t bits;
        std::memcpy(&bits, p + 4 * i, 4);
        if ((bits & 0x7f800000u) == 0x7f800000u) bad = std::max(bad, i);
      }
      return bad;
    }
    case io::DType::BF16: {
      const int64_t n = t.numel();
      int64_t bad = -1;
#pragma omp parallel for reduction(max : bad) if (n > (1 << 20))
      for (int64_t i = 0; i < n; ++i)
        if ((u16(2 * i) & 0x7f80u) == 0x7f80u) bad = std::max(bad, i);
      return bad;
    }
    case io::DType::F16:
      stride = 2, f16_fields = {0};
      break;
    case io::DType::Q4_0:
    case io::DType::Q5_0:
    case io::DType::Q8_0:
      f16_fields = {0};
      break;
    case io::DType::Q4_1:
    case io::DType::Q5_1:
    case io::DType::Q4_K:
    case io::DType::Q5_K:
      f16_fields = {0, 2};
      break;
    case io::DType::Q2_K:
      f16_fields = {80, 82};
      break;
    case io::DType::Q3_K:
      f16_fields = {108};
      break;
    case io::DType::Q6_K:
      f16_fields = {208};
      break;
    default:
      return -1;
  }
  if (stride == 0) {
    stride = io::dtype_block_bytes(t.dtype);
    elems = io::dtype_block_elems(t.dtype);
  }
  const int64_t units = t.nbytes / stride;
  int64_t bad = -1;
#pragma omp parallel for reduction(max : bad) if (units > (1 << 18))
  for (int64_t u = 0; u < units; ++u)
    for (int off : f16_fields)
      if ((u16(u * stride + off) & 0x7c00u) == 0x7c00u) bad = std::max(bad, u * elems);
  return bad;
}

class Loader {
 public:
  Loader(const Config& c, const TensorSource& src) : c_(c), src_(src) {}

  // The tensor of `row` for layer `l` (-1 for model-wide ones), checked; nullptr when absent
  // and not needed.
  const io::RawTensor* fetch(const TensorRow& row, int l, bool fused_qkv) {
    const std::optional<bool> need = needed(row.need, c_, fused_qkv);
    if (need == false) return nullptr;
    const std::string name =
        fmt::format(fmt::runtime(row.name), fmt::arg("p", prefix_), fmt::arg("l", l));
    const io::RawTensor* t = src_.find(name);
    if (!t) {
      if (need == true) throw BadInput(fmt::format("{}: missing tensor '{}'", src_.file, name));
      return nullptr;
    }
    std::vector<int64_t> shape = {size_of(row.rows, c_)};
    if (row.cols != Dim::None) shape.push_back(size_of(row.cols, c_));
    if (t->shape != shape)
      throw BadInput(fmt::format("{}: tensor '{}' has shape [{}], config calls for [{}]", src_.file,
                                 t->name, fmt::join(t->shape, ", "), fmt::join(shape, ", ")));
    if (!io::dtype_is_float(t->dtype) || !matmul_supports(t->dtype))
      throw BadInput(fmt::format("{}: tensor '{}' has type {}, which kvscope cannot compute with",
                                 src_.file, t->name, io::dtype_name(t->dtype)));
    if (!c_.declared_dtype.empty() && io::dtype_name(t->dtype) != c_.declared_dtype)
      throw BadInput(fmt::format("{}: tensor '{}' has type {}, but config.json declares {}",
                                 src_.file, t->name, io::dtype_name(t->dtype), c_.declared_dtype));
    const int64_t expected_bytes = io::dtype_storage_bytes(t->dtype, t->numel(), shape.back());
    if (t->nbytes != expected_bytes)
      throw BadInput(fmt::format("{}: tensor '{}' holds {} bytes, {} [{}] needs {}", src_.file,
                                 t->name, t->nbytes, io::dtype_name(t->dtype),
                                 fmt::join(shape, ", "), expected_bytes));
    if (const int64_t bad = first_non_finite(*t); bad >= 0)
      throw BadInput(fmt::format("{}: tensor '{}' holds a NaN or infinite value (element {})",
                                 src_.file, t->name, bad));
    params_ += t->numel();
    bytes_ += t->nbytes;
    return t;
  }

  void set_prefix(std::string p) { prefix_ = std::move(p); }
  int64_t params() const { return params_; }
  int64_t bytes() const { return bytes_; }

 private:
  const Config& c_;
  const TensorSource& src_;
  std::string prefix_;
  int64_t params_ = 0, bytes_ = 0;
};

// Puts `t` (absent: nothing) into its slot: vectors become fp32, matrices Matrix views.
void place(Weights& w, LayerWeights* lw, const TensorRow& row, const io::RawTensor* t,
           const Config& c, WeightNaming naming) {
  if (!t) return;
  const int64_t qd = int64_t{c.n_head} * c.head_dim, kd = int64_t{c.n_kv_head} * c.head_dim;
  const int64_t F = c.d_ff;
  auto part = [&](Linear& L, int64_t offset, int64_t in, int64_t out, int rope_heads = 0) {
    L.parts.push_back({Matrix::view(*t), {}, offset, rope_heads});
    L.in = in;
    L.out = std::max(L.out, out);
    L.in_major = row.in_major;
  };
  // A bias goes to the part that writes the same columns.
  auto bias = [&](Linear& L, int64_t offset) {
    for (LinearPart& p : L.parts)
      if (p.offset == offset) {
        p.b = io::to_f32(*t);
        return;
      }
    throw BadInput(fmt::format("tensor '{}' has no weight to go with", t->name));
  };
  // A norm weight in fp32, with Gemma's + 1 when the checkpoint stores it without.
  auto norm = [&] {
    std::vector<float> v = io::to_f32(*t);
    if (c.norm_weight_offset != 0.0f)
      for (float& x : v) x += c.norm_weight_offset;
    return v;
  };
  // llama.cpp's converter reorders llama's q/k rows for its RoPE; the product undoes it.
  const bool permuted = naming == WeightNaming::Gguf && c.family == Family::Llama;
  const int64_t d = c.d_model, qkv = qd + 2 * kd;
  switch (row.slot) {
    case Slot::TokEmb:
      w.tok_emb = Matrix::view(*t);
      return;
    case Slot::PosEmb:
      w.pos_emb = Matrix::view(*t);
      return;
    case Slot::NormFW:
      w.norm_f_w = norm();
      return;
    case Slot::NormFB:
      w.norm_f_b = io::to_f32(*t);
      return;
    case Slot::LmHead:
      part(w.lm_head, 0, d, c.vocab_size);
      return;
    case Slot::RopeFreqs:
      w.rope_freq_factors = io::to_f32(*t);
      return;
    case Slot::Norm1W:
      lw->norm1_w = norm();
      return;
    case Slot::Norm1B:
      lw->norm1_b = io::to_f32(*t);
      return;
    case Slot::Qkv:
      part(lw->qkv, 0, d, qkv);
      return;
    case Slot::QkvB:
      bias(lw->qkv, 0);
      return;
    case Slot::Q:
      part(lw->qkv, 0, d, qkv, permuted ? c.n_head : 0);
      return;
    case Slot::QB:
      bias(lw->qkv, 0);
      return;
    case Slot::K:
      part(lw->qkv, qd, d, qkv, permuted ? c.n_kv_head : 0);
      return;
    case Slot::KB:
      bias(lw->qkv, qd);
      return;
    case Slot::V:
      part(lw->qkv, qd + kd, d, qkv);
      return;
    case Slot::VB:
      bias(lw->qkv, qd + kd);
      return;
    case Slot::O:
      part(lw->o, 0, qd, d);
      return;
    case Slot::OB:
      bias(lw->o, 0);
      return;
    case Slot::Norm2W:
      lw->norm2_w = norm();
      return;
    case Slot::Norm2B:
      lw->norm2_b = io::to_f32(*t);
      return;
    case Slot::Gate:
      part(lw->mlp_in, 0, d, 2 * F);
      return;
    case Slot::GateB:
      bias(lw->mlp_in, 0);
      return;
    case Slot::Up:
      // Gated (SwiGLU, GeGLU): gate in columns 0..F-1, up in F..2F-1; GELU: up alone.
      part(lw->mlp_in, gated_mlp(c.mlp) ? F : 0, d, gated_mlp(c.mlp) ? 2 * F : F);
      return;
    case Slot::UpB:
      bias(lw->mlp_in, gated_mlp(c.mlp) ? F : 0);
      return;
    case Slot::Down:
      part(lw->mlp_out, 0, F, d);
      return;
    case Slot::DownB:
      bias(lw->mlp_out, 0);
      return;
    case Slot::QNorm:
      lw->q_norm_w = norm();
      return;
    case Slot::KNorm:
      lw->k_norm_w = norm();
      return;
    case Slot::PostAttnNorm:
      lw->post_attn_norm_w = norm();
      return;
    case Slot::PostMlpNorm:
      lw->post_mlp_norm_w = norm();
      return;
  }
}

}  // namespace

int64_t Linear::bytes() const {
  int64_t n = 0;
  for (const LinearPart& p : parts) n += p.w.bytes();
  return n;
}

Weights load_weights(const Config& c, const TensorSource& src, WeightNaming naming) {
  Loader L(c, src);
  const std::span<const TensorRow> rows = table(c.family, naming);
  // save_pretrained of GPT2LMHeadModel prefixes "transformer."; the original checkpoints don't.
  if (naming == WeightNaming::HuggingFace && c.family == Family::Gpt2 &&
      src.find("transformer.wte.weight"))
    L.set_prefix("transformer.");
  // Gemma 3: "model." for Gemma3ForCausalLM; the multimodal checkpoints keep the language model
  // under "model.language_model." (older transformers: "language_model.model.").
  if (naming == WeightNaming::HuggingFace && c.family == Family::Gemma3) {
    L.set_prefix("model.");
    for (const char* p : {"model.language_model.", "language_model.model."})
      if (src.find(std::string(p) + "embed_tokens.weight")) L.set_prefix(p);
  }
  Weights w;
  w.storage = src.storage;
  for (const TensorRow& row : rows)
    if (row.slot < kFirstLayerSlot) place(w, nullptr, row, L.fetch(row, -1, false), c, naming);
  w.layers.resize(static_cast<size_t>(c.n_layer));
  for (int l = 0; l < c.n_layer; ++l) {
    LayerWeights& lw = w.layers[static_cast<size_t>(l)];
    bool fused_qkv = false;
    for (const TensorRow& row : rows) {
      if (row.slot < kFirstLayerSlot) continue;
      const io::RawTensor* t = L.fetch(row, l, fused_qkv);
      if (row.slot == Slot::Qkv && t) fused_qkv = true;
      place(w, &lw, row, t, c, naming);
    }
  }
  if (w.lm_head.empty()) {  // tied: the head reads the token embedding
    w.lm_head.parts.push_back({w.tok_emb, {}, 0, 0});
    w.lm_head.in = c.d_model;
    w.lm_head.out = c.vocab_size;
  }
  // transformers multiplies the embedding by a scale cast to the embedding's type; a GGUF's
  // is dequantised to fp32 first (and llama.cpp scales in fp32).
  w.embed_scale = c.embed_scale;
  if (naming == WeightNaming::HuggingFace && w.tok_emb.dtype() == io::DType::BF16)
    w.embed_scale = io::bf16_to_f32(io::f32_to_bf16(c.embed_scale));
  else if (naming == WeightNaming::HuggingFace && w.tok_emb.dtype() == io::DType::F16)
    w.embed_scale = io::f16_to_f32(io::f32_to_f16(c.embed_scale));
  w.n_params = L.params();
  w.bytes = L.bytes();
  return w;
}

}  // namespace kvscope::model
