#include "kvscope/analysis/quantization.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "kvscope/analysis/parallel.hpp"
#include "kvscope/error.hpp"

namespace kvscope::analysis {

std::string_view grouping_name(QuantGrouping g) {
  switch (g) {
    case QuantGrouping::PerTensor:
      return "per_tensor";
    case QuantGrouping::PerToken:
      return "per_token";
    case QuantGrouping::PerChannel:
      return "per_channel";
  }
  return "unknown";
}

namespace {

void check_bits(int bits) {
  if (bits < 1 || bits > 16)
    throw BadInput(fmt::format("quantization: bit width {} not in [1, 16]", bits));
}

void check_rank3(const Tensor& x) {
  if (x.rank() != 3)
    throw BadInput(fmt::format("quantization: tensor {} is not [KH, S, D]", x.shape_string()));
}

// (min, max) of n > 0 floats, in a loop the compiler vectorizes (minmax_element is scalar).
std::pair<float, float> min_max(const float* x, int64_t n) {
  float lo = x[0], hi = x[0];
#pragma omp simd reduction(min : lo) reduction(max : hi)
  for (int64_t i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  return {lo, hi};
}

double levels_of(int bits) {
  return static_cast<double>((1 << bits) - 1);
}

// The codec of one group at one bit width. `div` stands in for a zero step so that a constant
// group divides 0 by 1 and decodes to lo exactly.
struct Codec {
  double lo = 0, step = 0, div = 1, levels = 1;
  Codec() = default;
  Codec(double lo_, double hi_, double levels_) : lo(lo_), levels(levels_) {
    step = (hi_ - lo_) / levels;
    div = step > 0 ? step : 1.0;
  }
  double operator()(double x) const {
    const double q = std::clamp(std::nearbyint((x - lo) / div), 0.0, levels);
    return lo + q * step;
  }
};

// Visits x [A, S, D] row by row, giving each row of D entries the codecs that apply to it
// (one per entry, for each bit width): codecs[b * D + c].
template <typename RowFn>
void sweep(const Tensor& x, QuantGrouping g, std::span<const int> bits, RowFn&& row_fn) {
  const int64_t A = x.dim(0), S = x.dim(1), D = x.dim(2);
  const size_t nb = bits.size();
  std::vector<Codec> codecs(nb * static_cast<size_t>(D));
  auto fill_uniform = [&](double lo, double hi) {
    for (size_t b = 0; b < nb; ++b)
      std::fill_n(codecs.begin() + static_cast<ptrdiff_t>(b * D), D,
                  Codec(lo, hi, levels_of(bits[b])));
  };
  if (x.data.empty()) return;
  if (g == QuantGrouping::PerTensor) {
    const auto [mn, mx] = min_max(x.ptr(), x.numel());
    fill_uniform(mn, mx);
  }
  std::vector<float> lo(static_cast<size_t>(D)), hi(static_cast<size_t>(D));
  for (int64_t a = 0; a < A; ++a) {
    const float* head = x.ptr() + a * S * D;
    if (g == QuantGrouping::PerChannel) {
      std::copy_n(head, D, lo.begin());
      std::copy_n(head, D, hi.begin());
      for (int64_t i = 1; i < S; ++i)
        for (int64_t c = 0; c < D; ++c) {
          lo[c] = std::min(lo[c], head[i * D + c]);
          hi[c] = std::max(hi[c], head[i * D + c]);
        }
      for (size_t b = 0; b < nb; ++b)
        for (int64_t c = 0; c < D; ++c) codecs[b * D + c] = Codec(lo[c], hi[c], levels_of(bits[b]));
    }
    for (int64_t i = 0; i < S; ++i) {
      const float* row = head + i * D;
      if (g == QuantGrouping::PerToken) {
        const auto [mn, mx] = min_max(row, D);
        fill_uniform(mn, mx);
      }
      row_fn(a * S + i, row, codecs.data());
    }
  }
}

}  // namespace

void quantize_dequantize(std::span<float> x, int bits) {
  check_bits(bits);
  if (x.empty()) return;
  const auto [mn, mx] = min_max(x.data(), static_cast<int64_t>(x.size()));
  const Codec codec(mn, mx, levels_of(bits));
  for (float& v : x) v = static_cast<float>(codec(v));
}

Tensor quantize_dequantize(const Tensor& x, int bits, QuantGrouping g) {
  check_bits(bits);
  check_rank3(x);
  Tensor out(x.shape);
  const int64_t D = x.dim(2);
  const int one[1] = {bits};
  sweep(x, g, one, [&](int64_t r, const float* row, const Codec* codecs) {
    float* o = out.ptr() + r * D;
    for (int64_t c = 0; c < D; ++c) o[c] = static_cast<float>(codecs[c](row[c]));
  });
  return out;
}

namespace {

// Adds the squared errors of columns [c0, c0 + W) of one head x [S, D] at one bit width to sq
// and their largest |error| into mx. The codec parameters are indexed by row (PerToken), by
// column (PerChannel) or are one set (PerTensor). Walking down W columns keeps the W running
// sums and maxima in registers; they are reduced once per block. Codec's arithmetic, written so
// the compiler can vectorize it, and with the division by the step replaced by a product with
// its inverse (a division costs several times more): the code can then differ only where
// (x - lo) / step is within an ulp of a half-integer, where either neighbour is equally near
// and the error's magnitude is the same to rounding.
template <QuantGrouping G, int W>
void block_error(const float* x, int64_t S, int64_t D, int64_t c0, const double* lo,
                 const double* step, const double* inv, double levels, double& sq, double& mx) {
  double s[W] = {}, m[W] = {};
  for (int64_t i = 0; i < S; ++i) {
    const float* row = x + i * D + c0;
#pragma omp simd
    for (int c = 0; c < W; ++c) {
      const int64_t k =
          G == QuantGrouping::PerToken ? i : (G == QuantGrouping::PerChannel ? c0 + c : 0);
      double q = std::nearbyint((row[c] - lo[k]) * inv[k]);
      q = q < 0.0 ? 0.0 : (q > levels ? levels : q);
      const double e = row[c] - (lo[k] + q * step[k]);
      const double a = std::fabs(e);
      s[c] += e * e;
      m[c] = m[c] > a ? m[c] : a;
    }
  }
  for (int c = 0; c < W; ++c) {
    sq += s[c];
    mx = std::max(mx, m[c]);
  }
}

template <QuantGrouping G>
void head_error(const float* x, int64_t S, int64_t D, const double* lo, const double* step,
                const double* inv, double levels, double& sq, double& mx) {
  constexpr int kWidth = 8;
  int64_t c0 = 0;
  for (; c0 + kWidth <= D; c0 += kWidth)
    block_error<G, kWidth>(x, S, D, c0, lo, step, inv, levels, sq, mx);
  for (; c0 < D; ++c0) block_error<G, 1>(x, S, D, c0, lo, step, inv, levels, sq, mx);
}

std::vector<QuantError> errors_for(const Tensor& x, std::span<const int> bits, QuantGrouping g) {
  const size_t nb = bits.size();
  const int64_t A = x.dim(0), S = x.dim(1), D = x.dim(2);
  std::vector<double> levels(nb), sq(nb, 0.0), mx(nb, 0.0);
  for (size_t b = 0; b < nb; ++b) levels[b] = levels_of(bits[b]);
  double norm2 = 0;
  const float* p = x.ptr();
  const int64_t n = x.numel();
#pragma omp simd reduction(+ : norm2)
  for (int64_t i = 0; i < n; ++i) norm2 += static_cast<double>(p[i]) * p[i];

  // Codec parameters of one head: lo [P], and step and 1 / div [nb][P], with P groups: S
  // (PerToken), D (PerChannel) or 1 (PerTensor).
  const int64_t P = g == QuantGrouping::PerToken ? S : (g == QuantGrouping::PerChannel ? D : 1);
  std::vector<double> lo(static_cast<size_t>(P)), step(nb * P), inv(nb * P);
  auto set = [&](int64_t k, double l, double h) {
    for (size_t b = 0; b < nb; ++b) {
      const Codec codec(l, h, levels[b]);
      lo[static_cast<size_t>(k)] = codec.lo;
      step[b * P + k] = codec.step;
      inv[b * P + k] = 1.0 / codec.div;
    }
  };
  if (n > 0 && g == QuantGrouping::PerTensor) {
    const auto [mn, mxv] = min_max(x.ptr(), x.numel());
    set(0, mn, mxv);
  }
  std::vector<float> cmin(static_cast<size_t>(D)), cmax(static_cast<size_t>(D));
  for (int64_t a = 0; a < A && S > 0; ++a) {
    const float* head = p + a * S * D;
    if (g == QuantGrouping::PerChannel) {
      std::copy_n(head, D, cmin.begin());
      std::copy_n(head, D, cmax.begin());
      for (int64_t i = 1; i < S; ++i)
        for (int64_t c = 0; c < D; ++c) {
          cmin[c] = std::min(cmin[c], head[i * D + c]);
          cmax[c] = std::max(cmax[c], head[i * D + c]);
        }
      for (int64_t c = 0; c < D; ++c) set(c, cmin[c], cmax[c]);
    } else if (g == QuantGrouping::PerToken) {
      for (int64_t i = 0; i < S; ++i) {
        const auto [mn, mxv] = min_max(head + i * D, D);
        set(i, mn, mxv);
      }
    }
    for (size_t b = 0; b < nb; ++b) {
      const double* st = &step[b * P];
      const double* iv = &inv[b * P];
      switch (g) {
        case QuantGrouping::PerTensor:
          head_error<QuantGrouping::PerTensor>(head, S, D, lo.data(), st, iv, levels[b], sq[b],
                                               mx[b]);
          break;
        case QuantGrouping::PerToken:
          head_error<QuantGrouping::PerToken>(head, S, D, lo.data(), st, iv, levels[b], sq[b],
                                              mx[b]);
          break;
        case QuantGrouping::PerChannel:
          head_error<QuantGrouping::PerChannel>(head, S, D, lo.data(), st, iv, levels[b], sq[b],
                                                mx[b]);
          break;
      }
    }
  }
  std::vector<QuantError> out(nb);
  for (size_t b = 0; b < nb; ++b) {
    out[b].relative_mse = norm2 > 0 ? sq[b] / norm2 : 0.0;
    out[b].max_abs_error = mx[b];
  }
  return out;
}

}  // namespace

QuantError quantization_error(const Tensor& x, int bits, QuantGrouping g) {
  check_bits(bits);
  check_rank3(x);
  const int one[1] = {bits};
  return errors_for(x, one, g)[0];
}

std::vector<QuantErrorCurve> quantization_errors(const capture::Capture& cap,
                                                 std::span<const int> bits,
                                                 std::span<const QuantGrouping> groupings,
                                                 KvPart key_part) {
  check_capture(cap);
  for (int b : bits) check_bits(b);
  const size_t L = static_cast<size_t>(cap.n_layer), nb = bits.size(), ng = groupings.size();
  std::vector<QuantErrorCurve> curves(ng * nb);
  for (size_t gi = 0; gi < ng; ++gi)
    for (size_t b = 0; b < nb; ++b) {
      auto& c = curves[gi * nb + b];
      c.grouping = groupings[gi];
      c.bits = bits[b];
      c.key.resize(L);
      c.value.resize(L);
    }
  // One task per (layer, part, grouping); each covers every bit width in one sweep.
  const int64_t tasks = static_cast<int64_t>(L * 2 * ng);
  parallel_for(tasks, worth_threads(cap), [&](int64_t t) {
    const size_t l = static_cast<size_t>(t) / (2 * ng);
    const bool is_key = (static_cast<size_t>(t) / ng) % 2 == 0;
    const size_t gi = static_cast<size_t>(t) % ng;
    const auto& layer = cap.layers[l];
    const Tensor& x = is_key ? part_tensor(layer, key_part) : layer.v;
    const std::vector<QuantError> errs = errors_for(x, bits, groupings[gi]);
    for (size_t b = 0; b < nb; ++b)
      (is_key ? curves[gi * nb + b].key : curves[gi * nb + b].value)[l] = errs[b];
  });
  return curves;
}

}  // namespace kvscope::analysis
