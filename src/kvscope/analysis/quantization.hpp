// Quantization error of the cache (figure kv_quantization_error.png): what storing K and V in
// fewer bits would cost.
//
// Scheme: uniform, asymmetric (min-max), round to nearest (ties to even). For a group of
// entries with minimum lo and maximum hi, at b bits:
//   scale = (hi - lo) / (2^b - 1)
//   q     = clamp(round((x - lo) / scale), 0, 2^b - 1)   (an integer code of b bits)
//   x'    = lo + q * scale                                 (the dequantized value)
// A constant group (hi == lo) is reproduced exactly. Arithmetic is in double.
#pragma once

#include <array>
#include <span>
#include <string_view>
#include <vector>

#include "kvscope/analysis/capture_check.hpp"
#include "kvscope/capture/capture.hpp"
#include "kvscope/tensor.hpp"

namespace kvscope::analysis {

// Which entries of a [KH, S, D] tensor share one (lo, scale) pair.
enum class QuantGrouping {
  PerTensor,   // the whole tensor: one group
  PerToken,    // each token vector of each head: KH * S groups of D entries
  PerChannel,  // each channel of each head across tokens: KH * D groups of S entries
};

std::string_view grouping_name(QuantGrouping g);  // "per_tensor", "per_token", "per_channel"

inline constexpr std::array<int, 4> kDefaultQuantBits = {8, 4, 3, 2};
inline constexpr std::array<QuantGrouping, 3> kAllGroupings = {
    QuantGrouping::PerTensor, QuantGrouping::PerToken, QuantGrouping::PerChannel};

// Quantizes and dequantizes x in place as one group. BadInput unless 1 <= bits <= 16.
void quantize_dequantize(std::span<float> x, int bits);

// x' for x [KH, S, D] (rank 3) grouped as g; BadInput on another rank or bits out of [1, 16].
Tensor quantize_dequantize(const Tensor& x, int bits, QuantGrouping g);

struct QuantError {
  double relative_mse = 0;   // ||x - x'||^2 / ||x||^2 (0 when x is all zeros)
  double max_abs_error = 0;  // max |x - x'|, in the units of x
};

// Error of quantize_dequantize(x, bits, g), measured on the double x' (before it would be
// rounded to fp32), without building x'.
QuantError quantization_error(const Tensor& x, int bits, QuantGrouping g);

// Errors of one (grouping, bits) setting across layers.
struct QuantErrorCurve {
  QuantGrouping grouping = QuantGrouping::PerTensor;
  int bits = 8;
  std::vector<QuantError> key;    // [L]
  std::vector<QuantError> value;  // [L]
};

// One curve per grouping (outer) and bit width (inner), in the order given.
std::vector<QuantErrorCurve> quantization_errors(
    const capture::Capture& cap, std::span<const int> bits = kDefaultQuantBits,
    std::span<const QuantGrouping> groupings = kAllGroupings, KvPart key_part = KvPart::Key);

}  // namespace kvscope::analysis
