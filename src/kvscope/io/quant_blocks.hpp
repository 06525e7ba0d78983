// Decoders of one GGUF quantization block each (the layouts of ggml's block_q4_0 ... block_q6_K):
// `b` points at the block's bytes, `y` receives its elements. They are inline so that the
// whole-tensor dequantizer (dequant.cpp) and the engine's fused dequantize-and-dot kernels
// (model/matmul.cpp) share one definition and the compiler can keep a decoded block in
// registers. Inner loops have fixed trip counts so that they vectorise.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__F16C__)
#include <immintrin.h>
#endif

#include "kvscope/io/raw_tensor.hpp"

namespace kvscope::io::blocks {

constexpr int kQK = 32;    // elements per legacy block (Q4_0 ... Q8_0)
constexpr int kQKK = 256;  // elements per k-quant super-block (Q2_K ... Q6_K)

inline float half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
#if defined(__F16C__)
  return _cvtsh_ss(h);
#else
  return f16_to_f32(h);
#endif
}

// Q4_0: f16 d, u8 qs[16]. Low nibbles are elements 0..15, high nibbles 16..31; x = (q - 8) d.
inline void block_q4_0(const uint8_t* b, float* y) {
  const float d = half(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < kQK / 2; ++j) {
    y[j] = static_cast<float>((qs[j] & 0x0f) - 8) * d;
    y[j + kQK / 2] = static_cast<float>((qs[j] >> 4) - 8) * d;
  }
}

// Q4_1: f16 d, f16 m, u8 qs[16]; x = q d + m.
inline void block_q4_1(const uint8_t* b, float* y) {
  const float d = half(b);
  const float m = half(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < kQK / 2; ++j) {
    y[j] = static_cast<float>(qs[j] & 0x0f) * d + m;
    y[j + kQK / 2] = static_cast<float>(qs[j] >> 4) * d + m;
  }
}

// Q5_0: f16 d, u32 qh (bit j = 5th bit of element j), u8 qs[16]; x = (q - 16) d.
inline void block_q5_0(const uint8_t* b, float* y) {
  const float d = half(b);
  uint32_t qh;
  std::memcpy(&qh, b + 2, 4);
  const uint8_t* qs = b + 6;
  for (int j = 0; j < kQK / 2; ++j) {
    const int hi0 = static_cast<int>((qh >> j) & 1u) << 4;
    const int hi1 = static_cast<int>((qh >> (j + 16)) & 1u) << 4;
    y[j] = static_cast<float>(((qs[j] & 0x0f) | hi0) - 16) * d;
    y[j + kQK / 2] = static_cast<float>(((qs[j] >> 4) | hi1) - 16) * d;
  }
}

// Q5_1: f16 d, f16 m, u32 qh, u8 qs[16]; x = q d + m.
inline void block_q5_1(const uint8_t* b, float* y) {
  const float d = half(b);
  const float m = half(b + 2);
  uint32_t qh;
  std::memcpy(&qh, b + 4, 4);
  const uint8_t* qs = b + 8;
  for (int j = 0; j < kQK / 2; ++j) {
    const int hi0 = static_cast<int>((qh >> j) & 1u) << 4;
    const int hi1 = static_cast<int>((qh >> (j + 16)) & 1u) << 4;
    y[j] = static_cast<float>((qs[j] & 0x0f) | hi0) * d + m;
    y[j + kQK / 2] = static_cast<float>((qs[j] >> 4) | hi1) * d + m;
  }
}

// Q8_0: f16 d, i8 qs[32]; x = q d.
inline void block_q8_0(const uint8_t* b, float* y) {
  const float d = half(b);
  const auto* qs = reinterpret_cast<const int8_t*>(b + 2);
  for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(qs[j]) * d;
}

// Q2_K: u8 scales[16] (low nibble scale, high nibble min), u8 qs[64] (2-bit), f16 d, f16 dmin.
// 16 groups of 16 elements; x = d sc q - dmin m.
inline void block_q2_k(const uint8_t* b, float* y) {
  const uint8_t* scales = b;
  const uint8_t* q = b + 16;
  const float d = half(b + 80);
  const float dmin = half(b + 82);
  int is = 0;
  for (int half_block = 0; half_block < 2; ++half_block) {
    for (int shift = 0; shift < 8; shift += 2) {
      for (int k = 0; k < 2; ++k) {  // two groups of 16 share each 2-bit plane of 32 bytes
        const uint8_t sc = scales[is++];
        const float dl = d * static_cast<float>(sc & 0x0f);
        const float ml = dmin * static_cast<float>(sc >> 4);
        const uint8_t* qq = q + 16 * k;
        for (int l = 0; l < 16; ++l) *y++ = dl * static_cast<float>((qq[l] >> shift) & 3) - ml;
      }
    }
    q += 32;
  }
}

// Q3_K: u8 hmask[32] (3rd bit), u8 qs[64] (low 2 bits), u8 scales[12] (16 x 6-bit), f16 d.
// x = d (sc - 32) (q - (hbit ? 0 : 4)).
inline void block_q3_k(const uint8_t* b, float* y) {
  const uint8_t* hm = b;
  const uint8_t* q = b + 32;
  const uint8_t* packed = b + 96;
  const float d_all = half(b + 108);

  // Unpack 16 six-bit scales: low 4 bits from bytes 0..7 (nibbles), high 2 bits from 8..11.
  int8_t sc[16];
  for (int i = 0; i < 16; ++i) {
    const int lo = (i < 8) ? (packed[i] & 0x0f) : (packed[i - 8] >> 4);
    const int hi = (packed[8 + (i % 4)] >> (2 * (i / 4))) & 3;
    sc[i] = static_cast<int8_t>((lo | (hi << 4)) - 32);
  }

  int is = 0;
  uint8_t m = 1;
  for (int half_block = 0; half_block < 2; ++half_block) {
    for (int shift = 0; shift < 8; shift += 2) {
      for (int k = 0; k < 2; ++k) {
        const float dl = d_all * static_cast<float>(sc[is++]);
        const uint8_t* qq = q + 16 * k;
        const uint8_t* hh = hm + 16 * k;
        for (int l = 0; l < 16; ++l) {
          const int v = ((qq[l] >> shift) & 3) - ((hh[l] & m) ? 0 : 4);
          *y++ = dl * static_cast<float>(v);
        }
      }
      m = static_cast<uint8_t>(m << 1);
    }
    q += 32;
  }
}

// The 12-byte packing of eight 6-bit scales and eight 6-bit mins shared by Q4_K and Q5_K.
inline void scale_min_k4(int j, const uint8_t* s, float* sc, float* mn) {
  int a, m;
  if (j < 4) {
    a = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    a = (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4);
    m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
  *sc = static_cast<float>(a);
  *mn = static_cast<float>(m);
}

// Q4_K: f16 d, f16 dmin, u8 scales[12], u8 qs[128]. 8 groups of 32; x = d sc q - dmin m.
inline void block_q4_k(const uint8_t* b, float* y) {
  const float d = half(b);
  const float dmin = half(b + 2);
  const uint8_t* s = b + 4;
  const uint8_t* q = b + 16;
  for (int g = 0; g < 8; g += 2) {
    float sc1, m1, sc2, m2;
    scale_min_k4(g, s, &sc1, &m1);
    scale_min_k4(g + 1, s, &sc2, &m2);
    const float d1 = d * sc1, mm1 = dmin * m1;
    const float d2 = d * sc2, mm2 = dmin * m2;
    for (int l = 0; l < 32; ++l) y[l] = d1 * static_cast<float>(q[l] & 0x0f) - mm1;
    for (int l = 0; l < 32; ++l) y[l + 32] = d2 * static_cast<float>(q[l] >> 4) - mm2;
    y += 64;
    q += 32;
  }
}

// Q5_K: f16 d, f16 dmin, u8 scales[12], u8 qh[32] (5th bits), u8 qs[128].
inline void block_q5_k(const uint8_t* b, float* y) {
  const float d = half(b);
  const float dmin = half(b + 2);
  const uint8_t* s = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* ql = b + 48;
  uint8_t u1 = 1, u2 = 2;
  for (int g = 0; g < 8; g += 2) {
    float sc1, m1, sc2, m2;
    scale_min_k4(g, s, &sc1, &m1);
    scale_min_k4(g + 1, s, &sc2, &m2);
    const float d1 = d * sc1, mm1 = dmin * m1;
    const float d2 = d * sc2, mm2 = dmin * m2;
    for (int l = 0; l < 32; ++l)
      y[l] = d1 * static_cast<float>((ql[l] & 0x0f) + ((qh[l] & u1) ? 16 : 0)) - mm1;
    for (int l = 0; l < 32; ++l)
      y[l + 32] = d2 * static_cast<float>((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - mm2;
    y += 64;
    ql += 32;
    u1 = static_cast<uint8_t>(u1 << 2);
    u2 = static_cast<uint8_t>(u2 << 2);
  }
}

// Q6_K: u8 ql[128] (low 4 bits), u8 qh[64] (high 2 bits), i8 scales[16], f16 d.
// x = d sc (q - 32), 16 groups of 16.
inline void block_q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = half(b + 208);
  for (int n = 0; n < 2; ++n) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
      y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
      y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
      y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
    }
    y += 128;
    ql += 64;
    qh += 32;
    sc += 8;
  }
}

}  // namespace kvscope::io::blocks
