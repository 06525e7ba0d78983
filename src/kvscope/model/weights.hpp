// Weights: every parameter of a model as fp32, in one layout whatever the file it came
// from. Linear weights are [out, in] row-major (nn.Linear's layout), so y = x W^T; GPT-2's
// Conv1D [in, out] weights are transposed at load. Projections that read the same input are
// stored fused so one GEMM computes them: q|k|v and, for SwiGLU, gate|up.
//
// Letters: d = d_model, H = n_head, G = n_kv_head, D = head_dim, F = d_ff, V = vocab, C = n_ctx.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "kvscope/io/raw_tensor.hpp"
#include "kvscope/model/config.hpp"

namespace kvscope::model {

struct LayerWeights {
  std::vector<float> norm1_w, norm1_b;  // [d], [d] (bias only for LayerNorm)
  std::vector<float> wqkv;              // [(H + 2G) * D, d]: rows of q, then k, then v
  std::vector<float> bqkv;              // [(H + 2G) * D] or empty
  std::vector<float> wo;                // [d, H * D]
  std::vector<float> bo;                // [d] or empty
  std::vector<float> norm2_w, norm2_b;  // [d], [d]
  std::vector<float> w_in;              // GELU: [F, d]; SwiGLU: [2F, d], gate rows then up rows
  std::vector<float> b_in;              // [F] or empty
  std::vector<float> w_out;             // [d, F]
  std::vector<float> b_out;             // [d] or empty
};

struct Weights {
  std::vector<float> tok_emb;             // [V, d]
  std::vector<float> pos_emb;             // [C, d] for learned positions, else empty
  std::vector<LayerWeights> layers;       // [n_layer]
  std::vector<float> norm_f_w, norm_f_b;  // [d]
  std::vector<float> lm_head;             // [V, d]; empty when tied to tok_emb
  std::vector<float>
      rope_freq_factors;  // [D / 2] divisors of RoPE frequencies (GGUF llama3), or empty
  int64_t n_params = 0;   // parameters read from the file
};

// Where weights come from: a lookup by on-file name (nullptr when absent) and a file name
// for error messages.
struct TensorSource {
  std::function<const io::RawTensor*(std::string_view)> find;
  std::string file;
};

enum class WeightNaming { HuggingFace, Gguf };

// Reads and converts every weight the config calls for, checking each one's presence, shape
// and type; throws BadInput naming the file, the tensor and what was wrong.
Weights load_weights(const Config& c, const TensorSource& src, WeightNaming naming);

}  // namespace kvscope::model
