// Principal components of token vectors (figure kv_pca_by_position.png): where each position's
// key or value vector lies in the plane of largest variance.
#pragma once

#include <vector>

#include "kvscope/analysis/capture_check.hpp"
#include "kvscope/capture/capture.hpp"
#include "kvscope/tensor.hpp"

namespace kvscope::analysis {

struct PcaResult {
  // [N, k] each row (token) after centring, projected on the components: coords = X_c * C^T.
  Tensor coords;
  // [k, dim] orthonormal principal directions, strongest first. Sign convention, so results
  // are deterministic: the entry of largest |value| in each component is positive (the first
  // such entry on a tie).
  Tensor components;
  std::vector<double> explained_variance;        // [k] variance along each component (/ (N - 1))
  std::vector<double> explained_variance_ratio;  // [k] share of the total variance; 0 if none
};

// PCA of the rows of x [N, dim], keeping the top k components: the same result as a thin SVD
// of the centred rows, computed (in double) as the top k eigenpairs of the smaller of X^T X and
// X X^T (top_eigen.hpp). BadInput unless x has rank 2, is finite and 1 <= k <= min(N, dim).
PcaResult pca(const Tensor& x, int k);

// [S, KH * D] each token's vector in layer `layer`: its KH head vectors concatenated.
Tensor token_vectors(const capture::Capture& cap, int layer, KvPart part);

// PCA of token_vectors(cap, layer, part); k is clamped to min(S, KH * D).
PcaResult pca_by_position(const capture::Capture& cap, int layer, KvPart part, int k = 2);

}  // namespace kvscope::analysis
