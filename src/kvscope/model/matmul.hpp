// Weights in their stored type, and the products the engine computes with them.
//
// A Matrix is a 2-D weight as it lies in the model file: [rows, cols] row-major, each row
// `row_bytes` bytes of F32, F16, BF16 or GGUF quantization blocks, usually a view of the
// memory-mapped file. Nothing converts a whole matrix to fp32: products dequantize as they go.
// - Many input rows (prefill): tiles of the matrix are dequantized into an fp32 panel (at
//   most kPanelFloats) and multiplied with OpenBLAS's sgemm.
// - One or a few rows (decode): fused kernels decode one block at a time into registers or a
//   stack buffer and multiply it with every input row at once; the matrix is read once.
// Activations and accumulation are fp32 in both, so results equal the dequantize-everything
// computation up to summation order.
//
// Letters: n = input rows, in = input features, out = output features.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kvscope/io/raw_tensor.hpp"

namespace kvscope::model {

class Matrix {
 public:
  Matrix() = default;
  // A view of a tensor of a mapped file, [shape[0], product of the rest]; the caller keeps the
  // mapping alive (Weights::storage).
  static Matrix view(const io::RawTensor& t);
  // An owned fp32 matrix (tests, and tensors that had to be rearranged at load).
  static Matrix from_f32(std::vector<float> values, int64_t rows, int64_t cols);
  // An owned copy of `rows` rows of `row_bytes` each, in `dtype`.
  static Matrix from_bytes(io::DType dtype, std::vector<std::byte> bytes, int64_t rows,
                           int64_t cols);

  io::DType dtype() const { return dtype_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t row_bytes() const { return row_bytes_; }
  int64_t bytes() const { return rows_ * row_bytes_; }  // as stored
  bool empty() const { return rows_ == 0; }
  bool is_view() const { return data_ != nullptr && owned_ == nullptr; }  // of a mapped file
  const std::byte* row(int64_t r) const { return data_ + r * row_bytes_; }
  // The fp32 values when the matrix is stored as F32 (used in place), else nullptr.
  const float* f32() const;

  // out[n, cols] = rows r0 .. r0+n-1 as fp32.
  void dequantize_rows(int64_t r0, int64_t n, float* out) const;

 private:
  io::DType dtype_ = io::DType::F32;
  const std::byte* data_ = nullptr;
  int64_t rows_ = 0, cols_ = 0, row_bytes_ = 0;
  std::shared_ptr<const std::vector<std::byte>> owned_;
};

// True for the types Matrix can hold and multiply with.
bool matmul_supports(io::DType t);

// Floats of the per-thread dequantization panel of the tiled product.
inline constexpr int64_t kPanelFloats = int64_t{1} << 20;
// Inputs with fewer rows than this take the fused kernels, more take the tiled sgemm.
inline constexpr int kFusedMaxRows = 8;

// y[i, j] (+)= sum_k x[i, k] W[j, k] for i < n, j < W.rows(): x is [n, W.cols()] with rows ldx
// apart, y is [n, W.rows()] with rows ldy apart. With accumulate the product is added to y,
// else y is overwritten.
void matmul(float* y, int64_t ldy, const float* x, int64_t ldx, int n, const Matrix& W,
            bool accumulate);

// Several products of the same input at once (q, k and v; gate and up): for few rows one
// parallel region runs every part's fused kernel, so threads meet once instead of per part.
struct MatmulTarget {
  const Matrix* w;
  float* y;  // [n, w->rows()] with rows ldy apart
  int64_t ldy;
  bool accumulate;
};
void matmul_parts(std::span<const MatmulTarget> parts, const float* x, int64_t ldx, int n);

// The same for W stored [in, out] (GPT-2's Conv1D): y[i, j] (+)= sum_k x[i, k] W[k, j].
void matmul_in_major(float* y, int64_t ldy, const float* x, int64_t ldx, int n, const Matrix& W,
                     bool accumulate);

// The name of the kernels the fused path and OpenBLAS run on this CPU, e.g. "avx2+fma (fused),
// OpenBLAS Haswell".
std::string kernel_description();

}  // namespace kvscope::model
