#include "kvscope/analysis/pca.hpp"

#include <fmt/format.h>

#include <Eigen/SVD>
#include <algorithm>
#include <cmath>

#include "kvscope/error.hpp"

namespace kvscope::analysis {

PcaResult pca(const Tensor& x, int k) {
  if (x.rank() != 2) throw BadInput(fmt::format("pca: input {} is not [N, dim]", x.shape_string()));
  const int64_t N = x.dim(0), dim = x.dim(1);
  if (k < 1 || k > std::min(N, dim))
    throw BadInput(fmt::format("pca: component count {} not in [1, min(N, dim) = {}] for input {}",
                               k, std::min(N, dim), x.shape_string()));

  // An SVD of non-finite input has no meaning (and iterative solvers may not settle on one).
  for (size_t i = 0; i < x.data.size(); ++i)
    if (!std::isfinite(x.data[i]))
      throw BadInput(fmt::format("pca: input {} has non-finite value {} at row {}, column {}",
                                 x.shape_string(), x.data[i], static_cast<int64_t>(i) / dim,
                                 static_cast<int64_t>(i) % dim));
  Eigen::MatrixXd X =
      Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
          x.ptr(), N, dim)
          .cast<double>();
  X.rowwise() -= X.colwise().mean();
  const double total = X.squaredNorm();

  // Bidiagonal divide and conquer: fast for the tall matrices of long prompts.
  Eigen::BDCSVD<Eigen::MatrixXd> svd(X, Eigen::ComputeThinV);
  const auto& s = svd.singularValues();
  const Eigen::MatrixXd& V = svd.matrixV();  // [dim, r]

  PcaResult r;
  r.components = Tensor({k, dim});
  r.coords = Tensor({N, k});
  r.explained_variance.resize(static_cast<size_t>(k));
  r.explained_variance_ratio.resize(static_cast<size_t>(k));
  const double dof = N > 1 ? static_cast<double>(N - 1) : 1.0;
  for (int c = 0; c < k; ++c) {
    Eigen::VectorXd v = V.col(c);
    Eigen::Index big = 0;
    v.cwiseAbs().maxCoeff(&big);
    if (v(big) < 0) v = -v;
    const Eigen::VectorXd proj = X * v;  // [N]
    for (int64_t j = 0; j < dim; ++j) r.components.at(c, j) = static_cast<float>(v(j));
    for (int64_t i = 0; i < N; ++i) r.coords.at(i, c) = static_cast<float>(proj(i));
    const double sv2 = s(c) * s(c);
    r.explained_variance[static_cast<size_t>(c)] = sv2 / dof;
    r.explained_variance_ratio[static_cast<size_t>(c)] = total > 0 ? sv2 / total : 0.0;
  }
  return r;
}

Tensor token_vectors(const capture::Capture& cap, int layer, KvPart part) {
  check_capture(cap);
  check_layer_index(cap, layer);
  const Tensor& t = part_tensor(cap.layers[static_cast<size_t>(layer)], part);
  const int64_t KH = cap.n_kv_head, S = cap.seq_len(), D = cap.head_dim;
  Tensor out({S, KH * D});
  for (int64_t h = 0; h < KH; ++h)
    for (int64_t i = 0; i < S; ++i)
      std::copy_n(t.ptr() + (h * S + i) * D, D, out.ptr() + i * KH * D + h * D);
  return out;
}

PcaResult pca_by_position(const capture::Capture& cap, int layer, KvPart part, int k) {
  const Tensor x = token_vectors(cap, layer, part);
  const int64_t most = std::min(x.dim(0), x.dim(1));
  if (k < 1) throw BadInput(fmt::format("pca: component count {} is not >= 1", k));
  return pca(x, static_cast<int>(std::min<int64_t>(k, most)));
}

}  // namespace kvscope::analysis
