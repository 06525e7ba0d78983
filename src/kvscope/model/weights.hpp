// Weights: every parameter of a model, the large ones as Matrix views of the memory-mapped
// file in their stored type (F32, F16, BF16 or GGUF blocks), the small ones (norms, biases,
// RoPE frequency factors) converted to fp32. Linear weights are [out, in] row-major
// (nn.Linear's layout), so y = x W^T, except where a projection says `in_major`: GPT-2's Conv1D
// weights as Hugging Face stores them, [in, out], used as they are.
//
// A projection whose outputs come from several tensors (q|k|v, gate|up) is one Linear with a
// part per tensor, each writing its own columns of the output, so parts may differ in type
// (Q4_K_M files store q, k and v in different block types).
//
// Which tensors a family has, their names in each format, shapes and when they are required
// is one table per family in weights.cpp.
//
// Norm weights are stored as the forward pass multiplies by them (Gemma's 1 + w already
// added).
//
// Letters: d = d_model, H = n_head, G = n_kv_head, D = head_dim, F = d_ff, V = vocab, C = n_ctx.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kvscope/io/raw_tensor.hpp"
#include "kvscope/model/config.hpp"
#include "kvscope/model/matmul.hpp"

namespace kvscope::model {

struct LinearPart {
  Matrix w;              // [rows, in] ([in, rows] when in_major)
  std::vector<float> b;  // [rows] or empty
  int64_t offset = 0;    // first output column the part writes
  // When > 0: the rows are this many RoPE heads in llama.cpp's GGUF order (each head's rows
  // 2i, 2i+1 rotate together); the output is put back in Hugging Face's order (i, i + D/2).
  int gguf_rope_heads = 0;
};

struct Linear {
  std::vector<LinearPart> parts;
  int64_t in = 0, out = 0;
  bool in_major = false;

  bool empty() const { return parts.empty(); }
  int64_t bytes() const;  // weight bytes as stored
};

struct LayerWeights {
  std::vector<float> norm1_w, norm1_b;    // [d], [d] (bias only for LayerNorm)
  Linear qkv;                             // [(H + 2G) * D, d]: columns of q, then k, then v
  Linear o;                               // [d, H * D]
  std::vector<float> norm2_w, norm2_b;    // [d], [d]
  Linear mlp_in;                          // GELU: [F, d]; SwiGLU: [2F, d], gate then up
  Linear mlp_out;                         // [d, F]
  std::vector<float> q_norm_w, k_norm_w;  // [D] per-head q/k RMSNorm (qk_norm), else empty
  std::vector<float> post_attn_norm_w;    // [d] norm of the attention output (post_norms)
  std::vector<float> post_mlp_norm_w;     // [d] norm of the MLP output (post_norms)
};

struct Weights {
  Matrix tok_emb;                         // [V, d]
  Matrix pos_emb;                         // [C, d] for learned positions, else empty
  std::vector<LayerWeights> layers;       // [n_layer]
  std::vector<float> norm_f_w, norm_f_b;  // [d]
  Linear lm_head;                         // [V, d]; the token embedding when tied
  std::vector<float> rope_freq_factors;   // [D / 2] divisors of RoPE frequencies, or empty
  float embed_scale = 0.0f;               // Config::embed_scale as applied (0: none)
  int64_t n_params = 0;                   // parameters read from the file
  int64_t bytes = 0;                      // bytes of the weights as stored (resident size)
  std::shared_ptr<const void> storage;    // the mapped file(s) that views point into
};

// Where weights come from: a lookup by on-file name (nullptr when absent), a file name for
// error messages, and the mapping the RawTensors point into (kept alive by Weights).
struct TensorSource {
  std::function<const io::RawTensor*(std::string_view)> find;
  std::string file;
  std::shared_ptr<const void> storage;
};

enum class WeightNaming { HuggingFace, Gguf };

// Reads every weight the config calls for from the family's table, checking each one's
// presence, shape, type and finiteness; throws BadInput naming the file and the tensor.
Weights load_weights(const Config& c, const TensorSource& src, WeightNaming naming);

}  // namespace kvscope::model
