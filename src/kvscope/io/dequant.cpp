#include "kvscope/io/dequant.hpp"

#include <cstring>

#include <fmt/format.h>

#include "kvscope/error.hpp"
#include "kvscope/io/quant_blocks.hpp"

// Block layouts are those of the GGUF format; the decoders are in quant_blocks.hpp.
namespace kvscope::io {

namespace {

using namespace blocks;

template <void (*Block)(const uint8_t*, float*)>
void run(const std::byte* src, int64_t blocks, int64_t block_bytes, int64_t block_elems,
         float* out) {
  const auto* p = reinterpret_cast<const uint8_t*>(src);
  // Blocks are independent; a model's matrices are millions of them.
#pragma omp parallel for schedule(static) if (blocks > 8192)
  for (int64_t i = 0; i < blocks; ++i) Block(p + i * block_bytes, out + i * block_elems);
}

}  // namespace

void dequantize(DType t, const std::byte* src, int64_t n, float* out) {
  const int64_t be = dtype_block_elems(t);
  if (be <= 1) throw Unsupported(fmt::format("dequantize: {} is not a block type", dtype_name(t)));
  if (n < 0 || n % be != 0)
    throw BadInput(
        fmt::format("dequantize: {} elements of {} is not a whole number of {}-element "
                    "blocks",
                    n, dtype_name(t), be));
  const int64_t blocks = n / be;
  const int64_t bb = dtype_block_bytes(t);
  static_assert(kQKK == 256);
  switch (t) {
    case DType::Q4_0:
      return run<block_q4_0>(src, blocks, bb, be, out);
    case DType::Q4_1:
      return run<block_q4_1>(src, blocks, bb, be, out);
    case DType::Q5_0:
      return run<block_q5_0>(src, blocks, bb, be, out);
    case DType::Q5_1:
      return run<block_q5_1>(src, blocks, bb, be, out);
    case DType::Q8_0:
      return run<block_q8_0>(src, blocks, bb, be, out);
    case DType::Q2_K:
      return run<block_q2_k>(src, blocks, bb, be, out);
    case DType::Q3_K:
      return run<block_q3_k>(src, blocks, bb, be, out);
    case DType::Q4_K:
      return run<block_q4_k>(src, blocks, bb, be, out);
    case DType::Q5_K:
      return run<block_q5_k>(src, blocks, bb, be, out);
    case DType::Q6_K:
      return run<block_q6_k>(src, blocks, bb, be, out);
    default:
      break;
  }
  throw Unsupported(fmt::format("dequantize: {} is not implemented", dtype_name(t)));
}

}  // namespace kvscope::io
