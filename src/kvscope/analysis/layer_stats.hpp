// Per-layer statistics of the keys and values in a capture (figure kv_cache_statistics.png).
// Every statistic is over all KH * S * D entries of one layer's K or V, accumulated in double.
#pragma once

#include <vector>

#include "kvscope/analysis/capture_check.hpp"
#include "kvscope/capture/capture.hpp"
#include "kvscope/tensor.hpp"

namespace kvscope::analysis {

// An entry x counts as "sparse" (near zero) when |x| < threshold * scale, where scale is:
enum class SparsityScale {
  MaxAbs,    // max |x| of that layer's tensor (the default: 1% of the largest magnitude)
  Std,       // standard deviation of that layer's tensor
  Absolute,  // 1, so threshold is an absolute magnitude
};

struct SparsityRule {
  double threshold = 0.01;
  SparsityScale scale = SparsityScale::MaxAbs;
};

// Statistics of one [KH, S, D] tensor.
struct TensorStats {
  double sparsity = 0;  // share in [0, 1] of entries with |x| < threshold * scale
  double mean = 0;
  double std = 0;       // population standard deviation (divides by the count, numpy ddof=0)
  double mean_abs = 0;  // mean of |x|
  double max_abs = 0;   // max of |x|
  // Excess kurtosis m4 / m2^2 - 3 with central moments m_k (0 for a Gaussian, large when a
  // few entries are outliers); 0 when the tensor is constant.
  double kurtosis = 0;
  // [KH, D] max over tokens of |x| per head and channel, to show outlier channels. For a
  // tensor of another rank: [last dim], the max over all other dims.
  Tensor channel_max_abs;
};

struct LayerStats {
  TensorStats key;
  TensorStats value;
  // Pearson correlation of K and V taken elementwise over all entries of the layer (the two
  // tensors have the same shape); 0 when either is constant.
  double kv_correlation = 0;
};

struct LayerStatsOptions {
  SparsityRule sparsity;
  KvPart key_part = KvPart::Key;  // or KvPart::KeyPreRope
};

// Statistics of x, normally [KH, S, D]; an empty tensor gives all zeros.
TensorStats tensor_stats(const Tensor& x, const SparsityRule& rule = {});

// Pearson correlation of two equally sized tensors, elementwise; BadInput on a size mismatch.
double pearson_correlation(const Tensor& a, const Tensor& b);

// [L] statistics of every layer; checks the capture first (BadInput when inconsistent).
std::vector<LayerStats> layer_stats(const capture::Capture& cap,
                                    const LayerStatsOptions& options = {});

}  // namespace kvscope::analysis
