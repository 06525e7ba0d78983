// Weights: every parameter of a model as fp32. Linear weights are [out, in] row-major
// (nn.Linear's layout), so y = x W^T, except where a layer says `in_major`: GPT-2's Conv1D
// weights as stored in Hugging Face checkpoints, [in, out], used as they are. Projections
// that read the same input are stored fused so one GEMM computes them: q|k|v and, for
// SwiGLU, gate|up. F32 tensors of a memory-mapped file are used in place, not copied.
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

namespace kvscope::model {

// The fp32 values of one large weight tensor: either owned, or a view of F32 data in a
// memory-mapped model file that Weights::storage keeps mapped.
class Param {
 public:
  Param() = default;
  Param(std::vector<float> values) : owned_(std::move(values)) {}  // NOLINT: implicit on purpose
  static Param view(const float* data, size_t size) {
    Param p;
    p.view_ = data;
    p.size_ = size;
    return p;
  }

  const float* data() const { return view_ ? view_ : owned_.data(); }
  size_t size() const { return view_ ? size_ : owned_.size(); }
  bool empty() const { return size() == 0; }
  bool is_view() const { return view_ != nullptr; }
  const float& operator[](size_t i) const { return data()[i]; }

 private:
  std::vector<float> owned_;
  const float* view_ = nullptr;
  size_t size_ = 0;
};

struct LayerWeights {
  std::vector<float> norm1_w, norm1_b;  // [d], [d] (bias only for LayerNorm)
  Param wqkv;                           // [(H + 2G) * D, d]: rows of q, then k, then v
  std::vector<float> bqkv;              // [(H + 2G) * D] or empty
  Param wo;                             // [d, H * D]
  std::vector<float> bo;                // [d] or empty
  std::vector<float> norm2_w, norm2_b;  // [d], [d]
  Param w_in;                           // GELU: [F, d]; SwiGLU: [2F, d], gate rows then up rows
  std::vector<float> b_in;              // [F] or empty
  Param w_out;                          // [d, F]
  std::vector<float> b_out;             // [d] or empty
  // The four matrices above are stored transposed, [in, out] (GPT-2 Conv1D): wqkv [d, 3d],
  // wo [H * D, d], w_in [d, F], w_out [F, d].
  bool in_major = false;
};

struct Weights {
  Param tok_emb;                          // [V, d]
  Param pos_emb;                          // [C, d] for learned positions, else empty
  std::vector<LayerWeights> layers;       // [n_layer]
  std::vector<float> norm_f_w, norm_f_b;  // [d]
  Param lm_head;                          // [V, d]; empty when tied to tok_emb
  std::vector<float>
      rope_freq_factors;  // [D / 2] divisors of RoPE frequencies (GGUF llama3), or empty
  int64_t n_params = 0;   // parameters read from the file
  std::shared_ptr<const void> storage;  // the mapped file(s) that views point into, or null
};

// Where weights come from: a lookup by on-file name (nullptr when absent) and a file name
// for error messages. When `storage` owns the mapping the RawTensors point into, F32 tensors
// are used in place (Weights keeps `storage`); otherwise every tensor is copied.
struct TensorSource {
  std::function<const io::RawTensor*(std::string_view)> find;
  std::string file;
  std::shared_ptr<const void> storage;
};

enum class WeightNaming { HuggingFace, Gguf };

// Reads and converts every weight the config calls for, checking each one's presence, shape
// and type; throws BadInput naming the file, the tensor and what was wrong.
Weights load_weights(const Config& c, const TensorSource& src, WeightNaming naming);

}  // namespace kvscope::model
