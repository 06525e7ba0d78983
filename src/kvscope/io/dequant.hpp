// Dequantization of GGUF block types (Q4_0 ... Q6_K) to fp32.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kvscope/io/raw_tensor.hpp"

namespace kvscope::io {

// Dequantizes `n` elements (a multiple of the type's block size) stored as consecutive
// blocks at `src` into `out`. Throws Unsupported for a type that is not a block type.
void dequantize(DType t, const std::byte* src, int64_t n, float* out);

}  // namespace kvscope::io
