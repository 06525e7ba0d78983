// Quantizers of the compression lab (kvscope compress): each rounds a block of cache rows and
// writes the dequantized values back, so attention runs on exactly what a quantized cache
// would give it. Rows are head vectors [n, D] (n tokens of one layer and KV head, in position
// order); every function works in place on such a matrix.
//
// Formats:
// - llama.cpp's block formats q8_0 q5_1 q5_0 q4_1 q4_0: 32 consecutive values of a row share an
//   fp16 scale (and, for _1, an fp16 minimum). Rounding and packing are bit for bit those of
//   the `gguf` Python package's quantizers (the reference of ggml-quants.c); a test checks the
//   packed bytes and dequantized values against fixtures it made.
// - int{B}: asymmetric min-max at B bits over a group (one token's row, or one channel across
//   the rows): q = clamp(round((x - lo) / s), 0, 2^B - 1) with s = (hi - lo) / (2^B - 1)
//   computed in fp32; x' = fp16(lo) + q * fp16(s), the scale and minimum stored as fp16.
// - kivi{B}: keys per channel in groups of 32 rows, values per row in groups of 32 channels,
//   the last 32 rows left in full precision (KIVI, arXiv 2402.02750).
// Bytes count every stored code, scale, minimum and full-precision row (at fp16).
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace kvscope::analysis {

// IEEE half precision, round to nearest even (as numpy's astype(float16)), and back.
uint16_t fp16_bits(float x);
float fp16_value(uint16_t h);
inline float to_fp16(float x) {
  return fp16_value(fp16_bits(x));
}

enum class BlockFormat { Q8_0, Q5_1, Q5_0, Q4_1, Q4_0 };
inline constexpr int kBlockValues = 32;

const char* block_format_name(BlockFormat f);  // "q8_0", ...
int block_bytes(BlockFormat f);                // 34, 24, 22, 20, 18

// Packs 32 floats into one block of block_bytes(f) bytes, as gguf.quants.quantize does.
void quantize_block(BlockFormat f, const float* x, uint8_t* out);
// Unpacks one block into 32 floats, as gguf.quants.dequantize does.
void dequantize_block(BlockFormat f, const uint8_t* block, float* x);

// Where the rows of one cache part come from and how they are grouped.
enum class QuantScheme {
  Block,       // a BlockFormat along each row (D % 32 == 0)
  IntToken,    // int{B}, one group per row
  IntChannel,  // int{B}, one group per channel across all rows
  KiviKey,     // int{B}, per channel in groups of 32 rows; last 32 rows full precision
  KiviValue,   // int{B}, per row in groups of 32 channels; last 32 rows full precision
};

struct QuantConfig {
  QuantScheme scheme = QuantScheme::IntToken;
  BlockFormat format = BlockFormat::Q8_0;  // Block only
  int bits = 8;                            // int schemes, 2..8
};

inline constexpr int kKiviGroup = 32;     // tokens (keys) or channels (values) per group
inline constexpr int kKiviResidual = 32;  // most recent rows kept in full precision

// Quantizes and dequantizes x [n, D] (row-major) in place.
void quantize_rows(const QuantConfig& c, std::span<float> x, int n, int D);

// Bytes stored for n rows of D values under c.
int64_t quantized_bytes(const QuantConfig& c, int64_t n, int D);

// Orthonormal Hadamard rotation of one row (Sylvester's construction divided by sqrt(D);
// its own inverse). D must be a power of two.
void hadamard_rotate(float* x, int D);

}  // namespace kvscope::analysis
