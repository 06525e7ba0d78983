#include "kvscope/io/raw_tensor.hpp"

#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "kvscope/error.hpp"
#include "kvscope/io/dequant.hpp"
#include "kvscope/tensor.hpp"

namespace kvscope::io {

namespace {
struct DTypeInfo {
  std::string_view name;
  int64_t block_elems;
  int64_t block_bytes;
  bool is_float;
};

// Block sizes are facts of the GGUF format (QK = 32 for the legacy types, QK_K = 256 for
// the k-quants).
DTypeInfo info(DType t) {
  switch (t) {
    case DType::F32:
      return {"F32", 1, 4, true};
    case DType::F16:
      return {"F16", 1, 2, true};
    case DType::BF16:
      return {"BF16", 1, 2, true};
    case DType::F64:
      return {"F64", 1, 8, true};
    case DType::I8:
      return {"I8", 1, 1, false};
    case DType::I16:
      return {"I16", 1, 2, false};
    case DType::I32:
      return {"I32", 1, 4, false};
    case DType::I64:
      return {"I64", 1, 8, false};
    case DType::U8:
      return {"U8", 1, 1, false};
    case DType::BOOL:
      return {"BOOL", 1, 1, false};
    case DType::Q4_0:
      return {"Q4_0", 32, 18, true};
    case DType::Q4_1:
      return {"Q4_1", 32, 20, true};
    case DType::Q5_0:
      return {"Q5_0", 32, 22, true};
    case DType::Q5_1:
      return {"Q5_1", 32, 24, true};
    case DType::Q8_0:
      return {"Q8_0", 32, 34, true};
    case DType::Q2_K:
      return {"Q2_K", 256, 84, true};
    case DType::Q3_K:
      return {"Q3_K", 256, 110, true};
    case DType::Q4_K:
      return {"Q4_K", 256, 144, true};
    case DType::Q5_K:
      return {"Q5_K", 256, 176, true};
    case DType::Q6_K:
      return {"Q6_K", 256, 210, true};
  }
  return {"?", 1, 1, false};
}
}  // namespace

std::string_view dtype_name(DType t) {
  return info(t).name;
}
int64_t dtype_block_elems(DType t) {
  return info(t).block_elems;
}
int64_t dtype_block_bytes(DType t) {
  return info(t).block_bytes;
}
bool dtype_is_float(DType t) {
  return info(t).is_float;
}

int64_t dtype_storage_bytes(DType t, int64_t numel, int64_t row) {
  const DTypeInfo d = info(t);
  if (numel < 0 || row < 0) throw BadInput("negative tensor size");
  if (d.block_elems > 1 && row % d.block_elems != 0)
    throw BadInput(
        fmt::format("{} tensor row of {} elements is not a multiple of the block size {}", d.name,
                    row, d.block_elems));
  const int64_t blocks = numel / d.block_elems;
  if (blocks > INT64_MAX / d.block_bytes) throw BadInput("tensor byte size overflows");
  return blocks * d.block_bytes;
}

int64_t RawTensor::numel() const {
  return shape_numel(shape);
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: value = mant * 2^-24
      float f = std::ldexp(static_cast<float>(mant), -24);
      return sign ? -f : f;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bf16_to_f32(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);  // NaN
  const uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);  // round to nearest even
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

uint16_t f32_to_f16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return sign | 0x7e00u;   // NaN
  if (ax >= 0x477ff000u) return sign | 0x7c00u;  // overflow to inf (>= 65520)
  if (ax < 0x38800000u) {                        // subnormal half or zero
    const float a = std::fabs(f);
    const float scaled = a * 16777216.0f;  // 2^24
    return sign | static_cast<uint16_t>(std::nearbyint(scaled));
  }
  // Normal: rebias exponent, round mantissa to nearest even.
  uint32_t m = ax + 0xc8000000u;  // exponent -= 112
  m += 0x0fffu + ((m >> 13) & 1u);
  return sign | static_cast<uint16_t>(m >> 13);
}

void to_f32(const RawTensor& t, float* out) {
  const int64_t n = t.numel();
  const int64_t row = t.shape.empty() ? 1 : t.shape.back();
  const int64_t need = dtype_storage_bytes(t.dtype, n, row);
  if (t.nbytes < need)
    throw BadInput(fmt::format("tensor '{}': {} bytes of {} data, {} needed", t.name, t.nbytes,
                               dtype_name(t.dtype), need));
  if (n == 0) return;
  const std::byte* p = t.data;
  switch (t.dtype) {
    case DType::F32:
      std::memcpy(out, p, static_cast<size_t>(n) * 4);
      return;
    case DType::F64:
      for (int64_t i = 0; i < n; ++i) {
        double d;
        std::memcpy(&d, p + i * 8, 8);
        out[i] = static_cast<float>(d);
      }
      return;
    case DType::F16:
#pragma omp parallel for schedule(static) if (n > (1 << 18))
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + i * 2, 2);
        out[i] = f16_to_f32(h);
      }
      return;
    case DType::BF16:
#pragma omp parallel for schedule(static) if (n > (1 << 18))
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + i * 2, 2);
        out[i] = bf16_to_f32(h);
      }
      return;
    default:
      break;
  }
  if (dtype_block_elems(t.dtype) > 1) {
    dequantize(t.dtype, p, n, out);
    return;
  }
  throw Unsupported(
      fmt::format("tensor '{}': cannot convert {} to float", t.name, dtype_name(t.dtype)));
}

std::vector<float> to_f32(const RawTensor& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  to_f32(t, out.data());
  return out;
}

}  // namespace kvscope::io
