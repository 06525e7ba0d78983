// Built with -ffp-contract=off (CMakeLists.txt): a product and a sum must each round, as in
// numpy, for the block formats to match the gguf package bit for bit.
#include "kvscope/analysis/compress_quant.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "kvscope/error.hpp"

namespace kvscope::analysis {

uint16_t fp16_bits(float x) {
  uint32_t f;
  std::memcpy(&f, &x, sizeof f);
  const uint32_t sign = (f >> 16) & 0x8000u;
  const uint32_t a = f & 0x7fffffffu;
  if (a >= 0x7f800000u) return static_cast<uint16_t>(sign | (a > 0x7f800000u ? 0x7e00u : 0x7c00u));
  if (a >= 0x47800000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65536: infinity
  if (a < 0x38800000u) {
    // Below 2^-14: a subnormal half, round(|x| / 2^-24) to nearest even.
    if (a < 0x33000000u) return static_cast<uint16_t>(sign);  // < 2^-25 rounds to 0
    const uint32_t e = a >> 23;
    const uint32_t m = (a & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126u - e;  // 14..24
    uint32_t q = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (q & 1u))) ++q;
    return static_cast<uint16_t>(sign | q);
  }
  // Normal: rebias the exponent, keep 10 mantissa bits, round to nearest even (a carry into
  // the exponent is correct, up to infinity).
  uint32_t h = (a - (112u << 23)) >> 13;
  const uint32_t rem = a & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

float fp16_value(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  uint32_t f;
  if (e == 0) {
    if (m == 0) {
      f = sign;
    } else {  // subnormal: m * 2^-24, exact in fp32
      const float v = std::ldexp(static_cast<float>(m), -24);
      std::memcpy(&f, &v, sizeof f);
      f |= sign;
    }
  } else if (e == 31) {
    f = sign | 0x7f800000u | (m << 13);
  } else {
    f = sign | ((e + 112u) << 23) | (m << 13);
  }
  float out;
  std::memcpy(&out, &f, sizeof out);
  return out;
}

const char* block_format_name(BlockFormat f) {
  switch (f) {
    case BlockFormat::Q8_0:
      return "q8_0";
    case BlockFormat::Q5_1:
      return "q5_1";
    case BlockFormat::Q5_0:
      return "q5_0";
    case BlockFormat::Q4_1:
      return "q4_1";
    case BlockFormat::Q4_0:
      return "q4_0";
  }
  return "";
}

int block_bytes(BlockFormat f) {
  switch (f) {
    case BlockFormat::Q8_0:
      return 2 + 32;
    case BlockFormat::Q5_1:
      return 2 + 2 + 4 + 16;
    case BlockFormat::Q5_0:
      return 2 + 4 + 16;
    case BlockFormat::Q4_1:
      return 2 + 2 + 16;
    case BlockFormat::Q4_0:
      return 2 + 16;
  }
  return 0;
}

namespace {

void put_fp16(uint8_t* p, float v) {
  const uint16_t h = fp16_bits(v);
  p[0] = static_cast<uint8_t>(h & 0xff);
  p[1] = static_cast<uint8_t>(h >> 8);
}

float get_fp16(const uint8_t* p) {
  return fp16_value(static_cast<uint16_t>(p[0] | (p[1] << 8)));
}

// The signed value of largest magnitude (the first one on ties), as numpy's argmax of abs.
float signed_absmax(const float* x) {
  int imax = 0;
  float amax = std::fabs(x[0]);
  for (int j = 1; j < kBlockValues; ++j)
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      imax = j;
    }
  return x[imax];
}

// 32 codes of 4 bits: values 0-15 in the low nibbles, 16-31 in the high nibbles.
void pack_nibbles(const uint8_t* q, uint8_t* qs) {
  for (int j = 0; j < 16; ++j)
    qs[j] = static_cast<uint8_t>((q[j] & 0x0f) | ((q[j + 16] & 0x0f) << 4));
}
void unpack_nibbles(const uint8_t* qs, uint8_t* q) {
  for (int j = 0; j < 16; ++j) {
    q[j] = qs[j] & 0x0f;
    q[j + 16] = qs[j] >> 4;
  }
}
// The fifth bits of 32 codes, bit j of a little-endian uint32.
void pack_high_bits(const uint8_t* q, uint8_t* qh) {
  uint32_t h = 0;
  for (int j = 0; j < 32; ++j) h |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
  for (int b = 0; b < 4; ++b) qh[b] = static_cast<uint8_t>(h >> (8 * b));
}
void unpack_high_bits(const uint8_t* qh, uint8_t* q) {
  const uint32_t h = qh[0] | (qh[1] << 8) | (qh[2] << 16) | (static_cast<uint32_t>(qh[3]) << 24);
  for (int j = 0; j < 32; ++j) q[j] = static_cast<uint8_t>(q[j] | (((h >> j) & 1) << 4));
}

// Codes of the symmetric formats: trunc(x / d + offset), at most `top`.
void symmetric_codes(const float* x, float d, float offset, int top, uint8_t* q) {
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < kBlockValues; ++j) {
    const float t = x[j] * id + offset;
    q[j] = static_cast<uint8_t>(std::min(static_cast<int>(t), top));
  }
}

// Codes of the formats with a minimum: trunc((x - min) / d + 0.5), at most `top`.
void offset_codes(const float* x, float mn, float d, int top, uint8_t* q) {
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < kBlockValues; ++j) {
    const float t = (x[j] - mn) * id + 0.5f;
    q[j] = static_cast<uint8_t>(std::min(static_cast<int>(t), top));
  }
}

}  // namespace

void quantize_block(BlockFormat f, const float* x, uint8_t* out) {
  uint8_t q[kBlockValues];
  switch (f) {
    case BlockFormat::Q8_0: {
      float amax = 0.0f;
      for (int j = 0; j < kBlockValues; ++j) amax = std::max(amax, std::fabs(x[j]));
      const float d = amax / 127.0f;
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      put_fp16(out, d);
      for (int j = 0; j < kBlockValues; ++j) {
        const float r = std::round(x[j] * id);  // half away from zero, as roundf
        const int8_t v = static_cast<int8_t>(r);
        std::memcpy(&out[2 + j], &v, 1);
      }
      return;
    }
    case BlockFormat::Q4_0: {
      const float d = signed_absmax(x) / -8.0f;
      symmetric_codes(x, d, 8.5f, 15, q);
      put_fp16(out, d);
      pack_nibbles(q, out + 2);
      return;
    }
    case BlockFormat::Q5_0: {
      const float d = signed_absmax(x) / -16.0f;
      symmetric_codes(x, d, 16.5f, 31, q);
      put_fp16(out, d);
      pack_high_bits(q, out + 2);
      pack_nibbles(q, out + 6);
      return;
    }
    case BlockFormat::Q4_1:
    case BlockFormat::Q5_1: {
      const bool five = f == BlockFormat::Q5_1;
      float mx = x[0], mn = x[0];
      for (int j = 1; j < kBlockValues; ++j) {
        mx = std::max(mx, x[j]);
        mn = std::min(mn, x[j]);
      }
      const float d = (mx - mn) / (five ? 31.0f : 15.0f);
      offset_codes(x, mn, d, five ? 31 : 15, q);
      put_fp16(out, d);
      put_fp16(out + 2, mn);
      if (five) {
        pack_high_bits(q, out + 4);
        pack_nibbles(q, out + 8);
      } else {
        pack_nibbles(q, out + 4);
      }
      return;
    }
  }
}

void dequantize_block(BlockFormat f, const uint8_t* b, float* x) {
  uint8_t q[kBlockValues] = {};
  const float d = get_fp16(b);
  switch (f) {
    case BlockFormat::Q8_0:
      for (int j = 0; j < kBlockValues; ++j) {
        int8_t v;
        std::memcpy(&v, &b[2 + j], 1);
        x[j] = static_cast<float>(v) * d;
      }
      return;
    case BlockFormat::Q4_0:
      unpack_nibbles(b + 2, q);
      for (int j = 0; j < kBlockValues; ++j) x[j] = d * static_cast<float>(q[j] - 8);
      return;
    case BlockFormat::Q5_0:
      unpack_nibbles(b + 6, q);
      unpack_high_bits(b + 2, q);
      for (int j = 0; j < kBlockValues; ++j) x[j] = d * static_cast<float>(q[j] - 16);
      return;
    case BlockFormat::Q4_1:
    case BlockFormat::Q5_1: {
      const float m = get_fp16(b + 2);
      if (f == BlockFormat::Q5_1) {
        unpack_nibbles(b + 8, q);
        unpack_high_bits(b + 4, q);
      } else {
        unpack_nibbles(b + 4, q);
      }
      for (int j = 0; j < kBlockValues; ++j) x[j] = d * static_cast<float>(q[j]) + m;
      return;
    }
  }
}

namespace {

// int{bits} min-max over the `count` values x[0], x[stride], ...: codes computed with the
// fp32 scale and minimum, values rebuilt from their fp16 copies (what is stored).
void int_group(float* x, int64_t count, int64_t stride, int bits) {
  if (count <= 0) return;
  float lo = x[0], hi = x[0];
  for (int64_t i = 1; i < count; ++i) {
    lo = std::min(lo, x[i * stride]);
    hi = std::max(hi, x[i * stride]);
  }
  const float top = static_cast<float>((1 << bits) - 1);
  const float s = (hi - lo) / top;
  const float lo16 = to_fp16(lo), s16 = to_fp16(s);
  for (int64_t i = 0; i < count; ++i) {
    float& v = x[i * stride];
    const float q = s > 0.0f ? std::clamp(std::nearbyint((v - lo) / s), 0.0f, top) : 0.0f;
    v = lo16 + q * s16;
  }
}

int64_t packed_bytes(int64_t values, int bits) {
  return (values * bits + 7) / 8;
}

}  // namespace

void quantize_rows(const QuantConfig& c, std::span<float> x, int n, int D) {
  if (static_cast<int64_t>(x.size()) != int64_t{n} * D)
    throw BadInput(fmt::format("quantize_rows: {} values for {} rows of {}", x.size(), n, D));
  if (c.scheme != QuantScheme::Block && (c.bits < 2 || c.bits > 8))
    throw BadInput(fmt::format("int{}: bits must be 2..8", c.bits));
  float* p = x.data();
  const int quantized = (c.scheme == QuantScheme::KiviKey || c.scheme == QuantScheme::KiviValue)
                            ? std::max(0, n - kKiviResidual)
                            : n;
  switch (c.scheme) {
    case QuantScheme::Block: {
      if (D % kBlockValues != 0)
        throw BadInput(fmt::format("{} needs a head_dim that is a multiple of 32, not {}",
                                   block_format_name(c.format), D));
      uint8_t block[64];
      for (int64_t b = 0; b < int64_t{n} * D / kBlockValues; ++b) {
        float* v = p + b * kBlockValues;
        quantize_block(c.format, v, block);
        dequantize_block(c.format, block, v);
      }
      return;
    }
    case QuantScheme::IntToken:
      for (int i = 0; i < n; ++i) int_group(p + int64_t{i} * D, D, 1, c.bits);
      return;
    case QuantScheme::IntChannel:
      for (int d = 0; d < D; ++d) int_group(p + d, n, D, c.bits);
      return;
    case QuantScheme::KiviKey:
      for (int i0 = 0; i0 < quantized; i0 += kKiviGroup) {
        const int rows = std::min(kKiviGroup, quantized - i0);
        for (int d = 0; d < D; ++d) int_group(p + int64_t{i0} * D + d, rows, D, c.bits);
      }
      return;
    case QuantScheme::KiviValue:
      for (int i = 0; i < quantized; ++i)
        for (int d0 = 0; d0 < D; d0 += kKiviGroup)
          int_group(p + int64_t{i} * D + d0, std::min(kKiviGroup, D - d0), 1, c.bits);
      return;
  }
}

int64_t quantized_bytes(const QuantConfig& c, int64_t n, int D) {
  constexpr int64_t kScaleAndMin = 4;  // fp16 scale + fp16 minimum per group
  const int64_t residual = std::min<int64_t>(n, kKiviResidual);
  switch (c.scheme) {
    case QuantScheme::Block:
      return n * (D / kBlockValues) * block_bytes(c.format);
    case QuantScheme::IntToken:
      return n * (packed_bytes(D, c.bits) + kScaleAndMin);
    case QuantScheme::IntChannel:
      return n == 0 ? 0 : D * (packed_bytes(n, c.bits) + kScaleAndMin);
    case QuantScheme::KiviKey: {
      int64_t bytes = residual * D * 2;
      for (int64_t i0 = 0; i0 < n - residual; i0 += kKiviGroup)
        bytes += D * (packed_bytes(std::min<int64_t>(kKiviGroup, n - residual - i0), c.bits) +
                      kScaleAndMin);
      return bytes;
    }
    case QuantScheme::KiviValue: {
      int64_t per_row = 0;
      for (int d0 = 0; d0 < D; d0 += kKiviGroup)
        per_row += packed_bytes(std::min(kKiviGroup, D - d0), c.bits) + kScaleAndMin;
      return residual * D * 2 + (n - residual) * per_row;
    }
  }
  return 0;
}

void hadamard_rotate(float* x, int D) {
  if (D <= 0 || (D & (D - 1)) != 0)
    throw BadInput(fmt::format("+rot needs a head_dim that is a power of two, not {}", D));
  // Fast Walsh-Hadamard transform, then 1/sqrt(D) for an orthonormal matrix.
  for (int len = 1; len < D; len <<= 1)
    for (int i = 0; i < D; i += 2 * len)
      for (int j = i; j < i + len; ++j) {
        const float a = x[j], b = x[j + len];
        x[j] = a + b;
        x[j + len] = a - b;
      }
  const float s = 1.0f / std::sqrt(static_cast<float>(D));
  for (int j = 0; j < D; ++j) x[j] *= s;
}

}  // namespace kvscope::analysis
