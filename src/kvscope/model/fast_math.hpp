// Elementwise maths of the forward pass, written so the compiler vectorises the loops that
// call it: exp by range reduction and a polynomial (relative error < 2e-7 over the float
// range), and the activations built on it.
#pragma once

#include <cstdint>
#include <cstring>

namespace kvscope::model {

// e^x for x in about [-87, 88]; saturates outside (0 below, e^88 above).
[[gnu::always_inline]] inline float fast_exp(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  // x = n ln2 + r, |r| <= ln2 / 2, with ln2 split in two for an exact product.
  // Round to nearest by adding and removing 1.5 * 2^23 (plain arithmetic, so it vectorises).
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693145751953125f;
  r = r - n * 1.428606765330187045e-06f;
  // e^r by its Taylor polynomial to degree 7 (error below 1 ulp on |r| <= 0.347).
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // Multiply by 2^n through the exponent bits.
  const int32_t e = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &e, sizeof(scale));
  return p * scale;
}

// GPT-2's GELU, tanh approximation, with tanh(u) = 1 - 2 / (1 + e^{2u}).
[[gnu::always_inline]] inline float gelu_tanh(float x) {
  constexpr float k = 0.7978845608028654f;  // sqrt(2 / pi)
  const float u = k * (x + 0.044715f * x * x * x);
  const float t = 1.0f - 2.0f / (1.0f + fast_exp(2.0f * u));
  return 0.5f * x * (1.0f + t);
}

[[gnu::always_inline]] inline float silu(float x) {
  return x / (1.0f + fast_exp(-x));
}

}  // namespace kvscope::model
