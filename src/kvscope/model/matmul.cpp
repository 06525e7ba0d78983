#include "kvscope/model/matmul.hpp"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <cstring>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define KVSCOPE_AVX2 1
#endif

#include <fmt/format.h>

#include "kvscope/error.hpp"
#include "kvscope/io/quant_blocks.hpp"

extern "C" char* openblas_get_corename(void);

namespace kvscope::model {

namespace {

using io::DType;

// Each stored type as a decoder of one block of kElems elements (kBytes bytes) into fp32.
// Plain types are cut into blocks of 32 so that every type runs through the same kernels.
template <DType T>
struct Codec;

// Plain types (F16, BF16) have rows of any length: the elements after the last whole block
// of 32 go through `one`. Block types have whole blocks only (checked at load).
template <>
struct Codec<DType::F16> {
  static constexpr int kElems = 32, kBytes = 64;
  static constexpr bool kPlain = true;
  static float one(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return io::f16_to_f32(h);
  }
  static void decode(const uint8_t* b, float* y) {
#ifdef KVSCOPE_AVX2
    for (int k = 0; k < kElems; k += 8)
      _mm256_storeu_ps(
          y + k, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 2 * k))));
#else
    for (int k = 0; k < kElems; ++k) {
      uint16_t h;
      std::memcpy(&h, b + 2 * k, 2);
      y[k] = io::f16_to_f32(h);
    }
#endif
  }
};
template <>
struct Codec<DType::BF16> {
  static constexpr int kElems = 32, kBytes = 64;
  static constexpr bool kPlain = true;
  static float one(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return io::bf16_to_f32(h);
  }
  static void decode(const uint8_t* b, float* y) {
    for (int k = 0; k < kElems; ++k) {
      uint16_t h;
      std::memcpy(&h, b + 2 * k, 2);
      const uint32_t bits = static_cast<uint32_t>(h) << 16;
      std::memcpy(&y[k], &bits, 4);
    }
  }
};
#define KVSCOPE_CODEC(T, E, B, fn)                                           \
  template <>                                                                \
  struct Codec<DType::T> {                                                   \
    static constexpr int kElems = E, kBytes = B;                             \
    static void decode(const uint8_t* b, float* y) { io::blocks::fn(b, y); } \
  };
KVSCOPE_CODEC(Q5_1, 32, 24, block_q5_1)
KVSCOPE_CODEC(Q2_K, 256, 84, block_q2_k)
KVSCOPE_CODEC(Q3_K, 256, 110, block_q3_k)
KVSCOPE_CODEC(Q5_K, 256, 176, block_q5_k)
#ifndef KVSCOPE_AVX2
KVSCOPE_CODEC(Q4_0, 32, 18, block_q4_0)
KVSCOPE_CODEC(Q4_1, 32, 20, block_q4_1)
KVSCOPE_CODEC(Q5_0, 32, 22, block_q5_0)
KVSCOPE_CODEC(Q8_0, 32, 34, block_q8_0)
KVSCOPE_CODEC(Q4_K, 256, 144, block_q4_k)
KVSCOPE_CODEC(Q6_K, 256, 210, block_q6_k)
#else
// AVX2 decoders of the types the common files are made of (Q4_0 and Q8_0 files, Q4_1 for the
// default model, Q4_K_M's Q4_K, Q5_0 and Q6_K). Each computes exactly what io::blocks' decoder
// computes (the products are tested against it), with the integer unpacking in vectors.

// 8 unsigned bytes -> 8 floats.
inline __m256 u8x8(__m128i v) {
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v));
}
inline float f16(const uint8_t* p) {
  return io::blocks::half(p);
}
// 32 bytes of 0..15 (low nibbles then high nibbles of 16 bytes) times d, plus m, into y[32].
inline void nibbles32(const uint8_t* qs, __m256 d, __m256 m, float* y) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i mask = _mm_set1_epi8(0x0f);
  const __m128i lo = _mm_and_si128(q, mask), hi = _mm_and_si128(_mm_srli_epi16(q, 4), mask);
  _mm256_storeu_ps(y + 0, _mm256_fmadd_ps(u8x8(lo), d, m));
  _mm256_storeu_ps(y + 8, _mm256_fmadd_ps(u8x8(_mm_srli_si128(lo, 8)), d, m));
  _mm256_storeu_ps(y + 16, _mm256_fmadd_ps(u8x8(hi), d, m));
  _mm256_storeu_ps(y + 24, _mm256_fmadd_ps(u8x8(_mm_srli_si128(hi, 8)), d, m));
}

template <>
struct Codec<DType::Q4_0> {  // x = (q - 8) d
  static constexpr int kElems = 32, kBytes = 18;
  static void decode(const uint8_t* b, float* y) {
    const float d = f16(b);
    nibbles32(b + 2, _mm256_set1_ps(d), _mm256_set1_ps(-8.0f * d), y);
  }
};
template <>
struct Codec<DType::Q4_1> {  // x = q d + m
  static constexpr int kElems = 32, kBytes = 20;
  static void decode(const uint8_t* b, float* y) {
    nibbles32(b + 4, _mm256_set1_ps(f16(b)), _mm256_set1_ps(f16(b + 2)), y);
  }
};
template <>
struct Codec<DType::Q8_0> {  // x = q d
  static constexpr int kElems = 32, kBytes = 34;
  static void decode(const uint8_t* b, float* y) {
    const __m256 d = _mm256_set1_ps(f16(b));
    for (int k = 0; k < 32; k += 8) {
      const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b + 2 + k));
      _mm256_storeu_ps(y + k, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d));
    }
  }
};
template <>
struct Codec<DType::Q5_0> {  // x = (q | hbit << 4) d - 16 d
  static constexpr int kElems = 32, kBytes = 22;
  static void decode(const uint8_t* b, float* y) {
    const float df = f16(b);
    uint32_t qh;
    std::memcpy(&qh, b + 2, 4);
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 6));
    const __m128i mask = _mm_set1_epi8(0x0f);
    const __m128i lo = _mm_and_si128(q, mask), hi = _mm_and_si128(_mm_srli_epi16(q, 4), mask);
    const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256 d = _mm256_set1_ps(df), off = _mm256_set1_ps(-16.0f * df);
    const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int k = 0; k < 4; ++k) {
      const __m256i h =
          _mm256_and_si256(_mm256_set1_epi32(static_cast<int>((qh >> (8 * k)) & 0xffu)), bit);
      const __m256i five = _mm256_and_si256(_mm256_cmpeq_epi32(h, bit), _mm256_set1_epi32(16));
      const __m256i v = _mm256_or_si256(_mm256_cvtepu8_epi32(parts[k]), five);
      _mm256_storeu_ps(y + 8 * k, _mm256_fmadd_ps(_mm256_cvtepi32_ps(v), d, off));
    }
  }
};
template <>
struct Codec<DType::Q4_K> {  // 8 groups of 32: x = d sc q - dmin m
  static constexpr int kElems = 256, kBytes = 144;
  static void decode(const uint8_t* b, float* y) {
    const float d = f16(b), dmin = f16(b + 2);
    const uint8_t* s = b + 4;
    const uint8_t* q = b + 16;
    const __m128i mask = _mm_set1_epi8(0x0f);
    for (int g = 0; g < 8; g += 2, q += 32, y += 64) {
      float sc1, m1, sc2, m2;
      io::blocks::scale_min_k4(g, s, &sc1, &m1);
      io::blocks::scale_min_k4(g + 1, s, &sc2, &m2);
      const __m256 d1 = _mm256_set1_ps(d * sc1), o1 = _mm256_set1_ps(-dmin * m1);
      const __m256 d2 = _mm256_set1_ps(d * sc2), o2 = _mm256_set1_ps(-dmin * m2);
      for (int h = 0; h < 2; ++h) {  // bytes 0..15, 16..31 of the group pair
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 16 * h));
        const __m128i lo = _mm_and_si128(v, mask), hi = _mm_and_si128(_mm_srli_epi16(v, 4), mask);
        _mm256_storeu_ps(y + 16 * h, _mm256_fmadd_ps(u8x8(lo), d1, o1));
        _mm256_storeu_ps(y + 16 * h + 8, _mm256_fmadd_ps(u8x8(_mm_srli_si128(lo, 8)), d1, o1));
        _mm256_storeu_ps(y + 32 + 16 * h, _mm256_fmadd_ps(u8x8(hi), d2, o2));
        _mm256_storeu_ps(y + 40 + 16 * h, _mm256_fmadd_ps(u8x8(_mm_srli_si128(hi, 8)), d2, o2));
      }
    }
  }
};
template <>
struct Codec<DType::Q6_K> {  // 16 groups of 16: x = d sc (q - 32)
  static constexpr int kElems = 256, kBytes = 210;
  static void decode(const uint8_t* b, float* y) {
    const uint8_t* ql = b;
    const uint8_t* qh = b + 128;
    const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
    const float d = f16(b + 208);
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(3);
    const __m256i s32 = _mm256_set1_epi8(32);
    for (int half = 0; half < 2; ++half, ql += 64, qh += 32, sc += 8, y += 128) {
      const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
      const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
      const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh));
      // q1..q4 as bytes 0..63, each for 32 consecutive outputs y[32 k .. 32 k + 31].
      __m256i q[4];
      q[0] =
          _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(h, m2), 4));
      q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m2), 4));
      q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m2), 4));
      q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m2), 4));
      for (int k = 0; k < 4; ++k) {
        const __m256i v = _mm256_sub_epi8(q[k], s32);  // -32 .. 31
        const __m128i lo = _mm256_castsi256_si128(v), hi = _mm256_extracti128_si256(v, 1);
        // Outputs 32 k + 0..15 use scale sc[2 k], 32 k + 16..31 scale sc[2 k + 1].
        const __m256 da = _mm256_set1_ps(d * static_cast<float>(sc[2 * k]));
        const __m256 db = _mm256_set1_ps(d * static_cast<float>(sc[2 * k + 1]));
        float* o = y + 32 * k;
        _mm256_storeu_ps(o, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), da));
        _mm256_storeu_ps(
            o + 8,
            _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), da));
        _mm256_storeu_ps(o + 16, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), db));
        _mm256_storeu_ps(
            o + 24,
            _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), db));
      }
    }
  }
};
#endif
#undef KVSCOPE_CODEC

// Calls f(Codec<t>{}) for the stored type `t`; false for F32 (used in place) and unsupported types.
template <class F>
bool with_codec(DType t, F&& f) {
  switch (t) {
#define KVSCOPE_CASE(T)   \
  case DType::T:          \
    f(Codec<DType::T>{}); \
    return true;
    KVSCOPE_CASE(F16)
    KVSCOPE_CASE(BF16)
    KVSCOPE_CASE(Q4_0)
    KVSCOPE_CASE(Q4_1)
    KVSCOPE_CASE(Q5_0)
    KVSCOPE_CASE(Q5_1)
    KVSCOPE_CASE(Q8_0)
    KVSCOPE_CASE(Q2_K)
    KVSCOPE_CASE(Q3_K)
    KVSCOPE_CASE(Q4_K)
    KVSCOPE_CASE(Q5_K)
    KVSCOPE_CASE(Q6_K)
#undef KVSCOPE_CASE
    default:
      return false;
  }
}

#ifdef KVSCOPE_AVX2
inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
#endif

// The elements k0 .. cols-1 of a plain-type row after its whole blocks: out[i] += w . x_i.
template <class C>
void tail(const uint8_t* row, int64_t k0, int64_t cols, const float* x, int64_t ldx, int n,
          float* out) {
  if constexpr (requires { C::kPlain; }) {
    constexpr int64_t bytes = C::kBytes / C::kElems;
    for (int64_t k = k0; k < cols; ++k) {
      const float v = C::one(row + k * bytes);
      for (int i = 0; i < n; ++i) out[i] += v * x[i * ldx + k];
    }
  }
}

// y[i, j] (+)= W[j, :] . x[i, :] for rows j0 <= j < j1 and i < n (n <= kFusedMaxRows): each
// block is decoded once into a stack buffer and multiplied with every input row.
template <class C>
void fused_rows(const Matrix& W, int64_t j0, int64_t j1, const float* x, int64_t ldx, int n,
                float* y, int64_t ldy, bool accumulate) {
  constexpr int E = C::kElems;
  const int64_t nb = W.cols() / E;
  alignas(32) float buf[E];
  for (int64_t j = j0; j < j1; ++j) {
    const auto* p = reinterpret_cast<const uint8_t*>(W.row(j));
    float out[kFusedMaxRows];
#ifdef KVSCOPE_AVX2
    __m256 s[kFusedMaxRows];
    for (int i = 0; i < n; ++i) s[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      C::decode(p + b * C::kBytes, buf);
      for (int i = 0; i < n; ++i) {
        const float* xi = x + i * ldx + b * E;
        __m256 a = s[i];
        for (int k = 0; k < E; k += 8)
          a = _mm256_fmadd_ps(_mm256_load_ps(buf + k), _mm256_loadu_ps(xi + k), a);
        s[i] = a;
      }
    }
    for (int i = 0; i < n; ++i) out[i] = hsum(s[i]);
    tail<C>(p, nb * E, W.cols(), x, ldx, n, out);
#else
    for (int i = 0; i < n; ++i) out[i] = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      C::decode(p + b * C::kBytes, buf);
      for (int i = 0; i < n; ++i) {
        const float* xi = x + i * ldx + b * E;
        float a = 0.0f;
        for (int k = 0; k < E; ++k) a += buf[k] * xi[k];
        out[i] += a;
      }
    }
    tail<C>(p, nb * E, W.cols(), x, ldx, n, out);
#endif
    for (int i = 0; i < n; ++i) {
      float& dst = y[i * ldy + j];
      dst = accumulate ? dst + out[i] : out[i];
    }
  }
}

// Rows of W per task of the fused kernels: enough work per task to pay for scheduling.
int64_t fused_chunk(const Matrix& W) {
  return std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(1, W.cols()));
}

// Parts one fused_products call takes.
constexpr size_t kMaxFusedParts = 8;

// The fused kernels for every part (at most kMaxFusedParts, each of a block or plain type
// other than F32, n < kFusedMaxRows) in one parallel region: each task is a chunk of one
// part's rows.
void fused_products(std::span<const MatmulTarget> parts, const float* x, int64_t ldx, int n) {
  std::array<int64_t, kMaxFusedParts + 1> first_task{};  // task index where part i starts
  const size_t np = parts.size();
  int64_t work = 0;
  for (size_t i = 0; i < np; ++i) {
    const Matrix& W = *parts[i].w;
    const int64_t chunk = fused_chunk(W);
    first_task[i + 1] = first_task[i] + (W.rows() + chunk - 1) / chunk;
    work += W.rows() * W.cols();
  }
  const int64_t tasks = first_task[np];
#pragma omp parallel for schedule(static) if (work >= (int64_t{1} << 15))
  for (int64_t t = 0; t < tasks; ++t) {
    size_t i = 0;
    while (t >= first_task[i + 1]) ++i;
    const MatmulTarget& p = parts[i];
    const Matrix& W = *p.w;
    const int64_t chunk = fused_chunk(W), j0 = (t - first_task[i]) * chunk;
    with_codec(W.dtype(), [&](auto codec) {
      fused_rows<decltype(codec)>(W, j0, std::min(W.rows(), j0 + chunk), x, ldx, n, p.y, p.ldy,
                                  p.accumulate);
    });
  }
}

// The dequantization panel of the calling thread: one per thread, grown once.
std::vector<float>& panel() {
  static thread_local std::vector<float> p;
  return p;
}

}  // namespace

bool matmul_supports(DType t) {
  return t == DType::F32 || with_codec(t, [](auto) {});
}

Matrix Matrix::view(const io::RawTensor& t) {
  Matrix m;
  m.dtype_ = t.dtype;
  m.data_ = t.data;
  m.rows_ = t.shape.empty() ? 1 : t.shape[0];
  const int64_t numel = t.numel();
  m.cols_ = m.rows_ > 0 ? numel / m.rows_ : 0;
  m.row_bytes_ = m.rows_ > 0 ? t.nbytes / m.rows_ : 0;
  return m;
}

Matrix Matrix::from_bytes(DType dtype, std::vector<std::byte> bytes, int64_t rows, int64_t cols) {
  Matrix m;
  m.dtype_ = dtype;
  m.rows_ = rows;
  m.cols_ = cols;
  m.row_bytes_ = rows > 0 ? static_cast<int64_t>(bytes.size()) / rows : 0;
  auto owned = std::make_shared<std::vector<std::byte>>(std::move(bytes));
  m.data_ = owned->data();
  m.owned_ = std::move(owned);
  return m;
}

Matrix Matrix::from_f32(std::vector<float> values, int64_t rows, int64_t cols) {
  std::vector<std::byte> bytes(values.size() * sizeof(float));
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return from_bytes(DType::F32, std::move(bytes), rows, cols);
}

const float* Matrix::f32() const {
  return dtype_ == DType::F32 ? reinterpret_cast<const float*>(data_) : nullptr;
}

void Matrix::dequantize_rows(int64_t r0, int64_t n, float* out) const {
  if (const float* f = f32()) {
    std::memcpy(out, f + r0 * cols_, sizeof(float) * static_cast<size_t>(n * cols_));
    return;
  }
  const bool ok = with_codec(dtype_, [&](auto codec) {
    using C = decltype(codec);
    const int64_t nb = cols_ / C::kElems;
#pragma omp parallel for schedule(static) if (n * cols_ >= (int64_t{1} << 16))
    for (int64_t r = r0; r < r0 + n; ++r) {
      const auto* p = reinterpret_cast<const uint8_t*>(row(r));
      float* o = out + (r - r0) * cols_;
      for (int64_t b = 0; b < nb; ++b) C::decode(p + b * C::kBytes, o + b * C::kElems);
      if constexpr (requires { C::kPlain; })
        for (int64_t k = nb * C::kElems; k < cols_; ++k)
          o[k] = C::one(p + k * (C::kBytes / C::kElems));
    }
  });
  if (!ok)
    throw Unsupported(
        fmt::format("weights of type {} cannot be multiplied", io::dtype_name(dtype_)));
}

void matmul(float* y, int64_t ldy, const float* x, int64_t ldx, int n, const Matrix& W,
            bool accumulate) {
  const int64_t out = W.rows(), in = W.cols();
  const float beta = accumulate ? 1.0f : 0.0f;
  if (const float* w = W.f32()) {
    // OpenBLAS's sgemm with M = 1 is several times slower than its sgemv.
    if (n == 1)
      cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(out), static_cast<int>(in), 1.0f, w,
                  static_cast<int>(in), x, 1, beta, y, 1);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, static_cast<int>(out),
                  static_cast<int>(in), 1.0f, x, static_cast<int>(ldx), w, static_cast<int>(in),
                  beta, y, static_cast<int>(ldy));
    return;
  }
  if (n < kFusedMaxRows) {
    if (!matmul_supports(W.dtype()))
      throw Unsupported(
          fmt::format("weights of type {} cannot be multiplied", io::dtype_name(W.dtype())));
    const MatmulTarget one{&W, y, ldy, accumulate};
    fused_products(std::span(&one, 1), x, ldx, n);
    return;
  }
  // Tiles of output rows: dequantize into the panel (in parallel), one sgemm each.
  const int64_t tile = std::clamp<int64_t>(kPanelFloats / std::max<int64_t>(in, 1) / 16 * 16, 16,
                                           std::max<int64_t>(out, 16));
  std::vector<float>& p = panel();
  p.resize(static_cast<size_t>(std::min(tile, out) * in));
  for (int64_t j0 = 0; j0 < out; j0 += tile) {
    const int64_t rows = std::min(tile, out - j0);
    W.dequantize_rows(j0, rows, p.data());
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, static_cast<int>(rows),
                static_cast<int>(in), 1.0f, x, static_cast<int>(ldx), p.data(),
                static_cast<int>(in), beta, y + j0, static_cast<int>(ldy));
  }
}

void matmul_parts(std::span<const MatmulTarget> parts, const float* x, int64_t ldx, int n) {
  const bool fused =
      n < kFusedMaxRows && std::all_of(parts.begin(), parts.end(), [](const auto& p) {
        return p.w->f32() == nullptr && matmul_supports(p.w->dtype());
      });
  if (!fused) {
    for (const MatmulTarget& p : parts) matmul(p.y, p.ldy, x, ldx, n, *p.w, p.accumulate);
    return;
  }
  const size_t np = std::min<size_t>(parts.size(), kMaxFusedParts);
  fused_products(parts.first(np), x, ldx, n);
  for (size_t i = np; i < parts.size(); ++i)
    matmul(parts[i].y, parts[i].ldy, x, ldx, n, *parts[i].w, parts[i].accumulate);
}

void matmul_in_major(float* y, int64_t ldy, const float* x, int64_t ldx, int n, const Matrix& W,
                     bool accumulate) {
  // W is [in, out]: its rows are input features, so tiles run along the inner dimension and
  // every tile after the first accumulates.
  const int64_t in = W.rows(), out = W.cols();
  if (const float* w = W.f32()) {
    const float beta = accumulate ? 1.0f : 0.0f;
    if (n == 1)
      cblas_sgemv(CblasRowMajor, CblasTrans, static_cast<int>(in), static_cast<int>(out), 1.0f, w,
                  static_cast<int>(out), x, 1, beta, y, 1);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, static_cast<int>(out),
                  static_cast<int>(in), 1.0f, x, static_cast<int>(ldx), w, static_cast<int>(out),
                  beta, y, static_cast<int>(ldy));
    return;
  }
  const int64_t tile = std::clamp<int64_t>(kPanelFloats / std::max<int64_t>(out, 1), 1, in);
  std::vector<float>& p = panel();
  p.resize(static_cast<size_t>(tile * out));
  for (int64_t k0 = 0; k0 < in; k0 += tile) {
    const int64_t rows = std::min(tile, in - k0);
    W.dequantize_rows(k0, rows, p.data());
    const float beta = accumulate || k0 > 0 ? 1.0f : 0.0f;
    if (n == 1)
      cblas_sgemv(CblasRowMajor, CblasTrans, static_cast<int>(rows), static_cast<int>(out), 1.0f,
                  p.data(), static_cast<int>(out), x + k0, 1, beta, y, 1);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, static_cast<int>(out),
                  static_cast<int>(rows), 1.0f, x + k0, static_cast<int>(ldx), p.data(),
                  static_cast<int>(out), beta, y, static_cast<int>(ldy));
  }
}

std::string kernel_description() {
#ifdef KVSCOPE_AVX2
  const char* fused = "AVX2+FMA";
#else
  const char* fused = "portable C++";
#endif
  return fmt::format("fused dequantize-dot {}, OpenBLAS {} kernels", fused,
                     openblas_get_corename());
}

}  // namespace kvscope::model
