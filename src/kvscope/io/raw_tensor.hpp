// RawTensor: a tensor as it lies in a model file (safetensors or GGUF), not yet converted.
// The bytes are a view into a memory-mapped file owned by the reader that produced it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kvscope::io {

// Element types found in model files. The quantized ones are GGUF block types: `n`
// consecutive elements along the innermost dimension share one block of bytes.
enum class DType : uint8_t {
  F32,
  F16,
  BF16,
  F64,
  I8,
  I16,
  I32,
  I64,
  U8,
  BOOL,
  Q4_0,
  Q4_1,
  Q5_0,
  Q5_1,
  Q8_0,
  Q2_K,
  Q3_K,
  Q4_K,
  Q5_K,
  Q6_K,
};

std::string_view dtype_name(DType t);  // "F32", "Q4_K", ...

// Elements per block (1 for plain types) and bytes per block.
int64_t dtype_block_elems(DType t);
int64_t dtype_block_bytes(DType t);
bool dtype_is_float(DType t);  // F32, F16, BF16, F64 and the quantized float types

// Bytes needed for `numel` elements whose innermost dimension is `row` elements long.
// Throws BadInput if `row` is not a multiple of the block size or the size overflows.
int64_t dtype_storage_bytes(DType t, int64_t numel, int64_t row);

struct RawTensor {
  std::string name;  // name as in the file
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // row-major, outermost first (GGUF's ne[] reversed)
  const std::byte* data = nullptr;
  int64_t nbytes = 0;

  int64_t numel() const;
};

// Converts (dequantizes) the whole tensor to fp32. out must hold numel() floats.
// Throws Unsupported for integer types.
void to_f32(const RawTensor& t, float* out);
std::vector<float> to_f32(const RawTensor& t);

// Scalar conversions.
float f16_to_f32(uint16_t h);
float bf16_to_f32(uint16_t b);
uint16_t f32_to_f16(float f);
uint16_t f32_to_bf16(float f);

}  // namespace kvscope::io
