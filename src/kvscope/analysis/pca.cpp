#include "kvscope/analysis/pca.hpp"

#include <fmt/format.h>

#include <cblas.h>

#include <Eigen/Core>
#include <Eigen/SVD>
#include <algorithm>
#include <cmath>

#include "kvscope/analysis/top_eigen.hpp"
#include "kvscope/error.hpp"

namespace kvscope::analysis {

namespace {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// An eigenvector of X^T X is accurate to about eps * lambda_1 / gap, which for a component of
// variance lambda is sqrt(lambda_1 / lambda) times worse than an SVD of X. Below this share of
// the first component's variance (a singular value below 1/1000 of the first) the SVD is used.
constexpr double kLeastVarianceShare = 1e-6;

}  // namespace

PcaResult pca(const Tensor& x, int k) {
  if (x.rank() != 2) throw BadInput(fmt::format("pca: input {} is not [N, dim]", x.shape_string()));
  const int64_t N = x.dim(0), dim = x.dim(1);
  if (k < 1 || k > std::min(N, dim))
    throw BadInput(fmt::format("pca: component count {} not in [1, min(N, dim) = {}] for input {}",
                               k, std::min(N, dim), x.shape_string()));

  // An eigendecomposition of non-finite input has no meaning (nor would it converge).
  for (size_t i = 0; i < x.data.size(); ++i)
    if (!std::isfinite(x.data[i]))
      throw BadInput(fmt::format("pca: input {} has non-finite value {} at row {}, column {}",
                                 x.shape_string(), x.data[i], static_cast<int64_t>(i) / dim,
                                 static_cast<int64_t>(i) % dim));

  // X [N, dim]: the centred rows, in double.
  RowMatrix X =
      Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
          x.ptr(), N, dim)
          .cast<double>();
  X.rowwise() -= X.colwise().mean();
  const double total = X.squaredNorm();

  PcaResult r;
  r.components = Tensor({k, dim});
  r.coords = Tensor({N, k});
  r.explained_variance.assign(static_cast<size_t>(k), 0.0);
  r.explained_variance_ratio.assign(static_cast<size_t>(k), 0.0);
  if (total == 0) {
    // All rows equal: no variance, and any orthonormal directions will do; take the axes.
    for (int c = 0; c < k; ++c) r.components.at(c, c) = 1.0f;
    return r;
  }

  // The right singular vectors of X are the eigenvectors of X^T X [dim, dim], and X^T u for
  // each eigenvector u of the Gram matrix X X^T [N, N]: factor the smaller of the two. Only k
  // eigenpairs are wanted, which a Krylov method finds in a few products with that matrix.
  const bool gram = N <= dim;
  const int64_t m = gram ? N : dim;
  Eigen::MatrixXd A(m, m);  // lower triangle from BLAS, then mirrored
  // X row-major [N, dim] is column-major [dim, N] with leading dimension dim.
  cblas_dsyrk(CblasColMajor, CblasLower, gram ? CblasTrans : CblasNoTrans, static_cast<int>(m),
              static_cast<int>(gram ? dim : N), 1.0, X.data(), static_cast<int>(dim), 0.0, A.data(),
              static_cast<int>(m));
  A.triangularView<Eigen::StrictlyUpper>() = A.transpose();
  const TopEigen top = top_eigenpairs(A, k);

  Eigen::MatrixXd V(dim, k);  // [dim, k] the components, orthonormal columns
  Eigen::VectorXd sv2(k);     // [k] squared singular values: the variance along V, times N - 1
  if (top.values(k - 1) >= kLeastVarianceShare * top.values(0)) {
    if (gram) {
      // X^T u has length sqrt(eigenvalue), well away from 0 here.
      V.noalias() = X.transpose() * top.vectors;
      V.colwise().normalize();
    } else {
      V = top.vectors;
    }
    // The variance of the coordinates, accurate to second order in the error of V.
    sv2 = (X * V).colwise().squaredNorm().transpose();
  } else {
    // A wanted component has almost no variance (rows that nearly lie in fewer than k
    // dimensions). Its eigenvector is lost in the rounding of X^T X, whose entries are squares,
    // while an SVD of X still resolves it: take the SVD, as numpy does.
    const Eigen::BDCSVD<Eigen::MatrixXd> svd(Eigen::MatrixXd(X), Eigen::ComputeThinV);
    V = svd.matrixV().leftCols(k);
    sv2 = svd.singularValues().head(k).cwiseAbs2();
  }

  const double dof = N > 1 ? static_cast<double>(N - 1) : 1.0;
  for (int c = 0; c < k; ++c) {
    Eigen::VectorXd v = V.col(c);
    Eigen::Index big = 0;
    v.cwiseAbs().maxCoeff(&big);
    if (v(big) < 0) v = -v;
    const Eigen::VectorXd proj = X * v;  // [N]
    for (int64_t j = 0; j < dim; ++j) r.components.at(c, j) = static_cast<float>(v(j));
    for (int64_t i = 0; i < N; ++i) r.coords.at(i, c) = static_cast<float>(proj(i));
    r.explained_variance[static_cast<size_t>(c)] = sv2(c) / dof;
    r.explained_variance_ratio[static_cast<size_t>(c)] = sv2(c) / total;
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
