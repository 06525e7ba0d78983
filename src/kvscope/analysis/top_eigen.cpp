#include "kvscope/analysis/top_eigen.hpp"

#include <fmt/format.h>

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "kvscope/error.hpp"

namespace kvscope::analysis {

namespace {

using Eigen::Index;
using Eigen::MatrixXd;

// A residual this small relative to the scale is rounding: the dense solver's own eigenvectors
// are no better, so a Ritz pair that reaches it is accepted whatever the gap.
constexpr double kRoundingResidual = 64 * 2.220446049250313e-16;

// Uniform values in [-1, 1) from splitmix64: a fixed start block, the same on every platform.
class PseudoRandom {
 public:
  double next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) * 0x1.0p-52 - 1.0;
  }
  void fill(Eigen::Ref<Eigen::VectorXd> v) {
    for (Index i = 0; i < v.size(); ++i) v(i) = next();
  }

 private:
  uint64_t state_ = 0;
};

TopEigen dense(const MatrixXd& a, int k, bool fell_back) {
  const Eigen::SelfAdjointEigenSolver<MatrixXd> es(a);  // ascending eigenvalues
  if (es.info() != Eigen::Success)
    throw Error(fmt::format("top eigenpairs: the dense solver did not converge on a {}x{} matrix",
                            a.rows(), a.cols()));
  const Index m = a.rows();
  TopEigen r;
  r.values.resize(k);
  r.vectors.resize(m, k);
  for (int c = 0; c < k; ++c) {
    r.values(c) = es.eigenvalues()(m - 1 - c);
    r.vectors.col(c) = es.eigenvectors().col(m - 1 - c);
  }
  r.dense = true;
  r.fell_back = fell_back;
  return r;
}

// Makes columns [from, to) of q orthonormal and orthogonal to the columns before them: one
// block Gram-Schmidt pass against [0, from) (matrix products), then two passes per column
// against every earlier column. A column that loses nearly all its length (it lay in the span
// already, as when the Krylov space closes on an invariant subspace) is replaced by a fresh
// pseudo-random direction, which keeps the basis growing; Rayleigh-Ritz is valid on any basis.
void orthonormalise(MatrixXd& q, Index from, Index to, PseudoRandom& rng) {
  Eigen::VectorXd before = q.middleCols(from, to - from).colwise().norm().transpose();
  if (from > 0)
    q.middleCols(from, to - from).noalias() -=
        q.leftCols(from) * (q.leftCols(from).transpose() * q.middleCols(from, to - from));
  for (Index j = from; j < to; ++j) {
    auto col = q.col(j);
    double norm0 = before(j - from);
    for (int attempt = 0;; ++attempt) {
      for (int pass = 0; pass < 2 && j > 0; ++pass)
        col.noalias() -= q.leftCols(j) * (q.leftCols(j).transpose() * col);
      const double norm = col.norm();
      if (norm > 1e-8 * norm0 && norm > 0) {
        col /= norm;
        break;
      }
      // j < m always (the basis never exceeds m columns), so a random vector has a part
      // outside the span; more than a few misses would mean broken arithmetic.
      if (attempt == 8) throw Error("top eigenpairs: cannot extend an orthonormal basis");
      rng.fill(col);
      norm0 = col.norm();
    }
  }
}

}  // namespace

TopEigen top_eigenpairs(const MatrixXd& a, int k, const TopEigenOptions& options) {
  const Index m = a.rows();
  if (a.cols() != m)
    throw BadInput(fmt::format("top eigenpairs: matrix {}x{} is not square", a.rows(), a.cols()));
  if (k < 1 || k > m)
    throw BadInput(
        fmt::format("top eigenpairs: count {} not in [1, {}] for a {}x{} matrix", k, m, m, m));
  const Index b = std::min<Index>(m, std::max(options.block > 0 ? options.block : k + 2, k));
  const Index kmax =
      std::min<Index>(m, options.max_basis > 0 ? options.max_basis : std::max<Index>(8 * b, m / 3));
  if (m <= options.dense_up_to || kmax < b) return dense(a, k, false);

  MatrixXd q(m, kmax);     // [m, K] orthonormal Krylov basis, built block by block
  MatrixXd w(m, kmax);     // [m, K] a * q
  MatrixXd t(kmax, kmax);  // [K, K] q^T a q, the Rayleigh-Ritz matrix
  PseudoRandom rng;
  for (Index j = 0; j < b; ++j) rng.fill(q.col(j));
  orthonormalise(q, 0, b, rng);

  // The eigensolve of t costs K^3, so convergence is checked now and then: first at 4 blocks,
  // then where the residuals' decay since the last check says they will be small enough.
  Index K = 0, next_check = 4 * b, prev_K = 0;
  double prev_excess = 0;  // log(residual / allowed) of the worst pair at the last check
  for (;;) {
    // The new block's image, and its rows and columns of t.
    w.middleCols(K, b).noalias() = a * q.middleCols(K, b);
    t.block(0, K, K + b, b).noalias() = q.leftCols(K + b).transpose() * w.middleCols(K, b);
    t.block(K, 0, b, K) = t.block(0, K, K, b).transpose();
    const MatrixXd diag = t.block(K, K, b, b);
    t.block(K, K, b, b) = 0.5 * (diag + diag.transpose());
    K += b;
    const bool last = K + b > kmax;
    if (K >= next_check || last) {
      const Eigen::SelfAdjointEigenSolver<MatrixXd> es(t.topLeftCorner(K, K));
      double excess = std::numeric_limits<double>::infinity();
      if (es.info() == Eigen::Success) {
        const Eigen::VectorXd& all = es.eigenvalues();                          // [K] ascending
        const Eigen::VectorXd theta = all.tail(k).reverse();                    // [k]
        const MatrixXd s = es.eigenvectors().rightCols(k).rowwise().reverse();  // [K, k]
        const MatrixXd y = q.leftCols(K) * s;                                   // [m, k]
        const MatrixXd r = w.leftCols(K) * s - y * theta.asDiagonal();          // [m, k]
        const double scale = std::max(std::fabs(all(0)), std::fabs(all(K - 1)));
        excess = -std::numeric_limits<double>::infinity();
        for (int c = 0; c < k; ++c) {
          const Index i = K - 1 - c;  // theta(c) == all(i)
          double gap = 1e-2 * scale;  // never trusted beyond 1% of the scale
          if (i + 1 < K) gap = std::min(gap, all(i + 1) - all(i));
          if (i > 0) gap = std::min(gap, all(i) - all(i - 1));
          const double allowed = std::max(kRoundingResidual * scale, options.angle * gap);
          const double res = r.col(c).norm();
          excess = std::max(excess, res <= allowed ? -1.0 : std::log(res / allowed));
        }
        if (excess <= 0) {
          TopEigen out;
          out.values = theta;
          out.vectors = y;
          out.basis = static_cast<int>(K);
          return out;
        }
      }
      if (last) return dense(a, k, true);
      Index step = std::max(b, K / 4);
      if (prev_K > 0 && std::isfinite(excess) && excess < prev_excess) {
        // Krylov residuals fall about geometrically with the basis size.
        const double per_column = (prev_excess - excess) / static_cast<double>(K - prev_K);
        const double blocks = std::ceil(excess / per_column / static_cast<double>(b));
        step = b * static_cast<Index>(std::clamp(
                       blocks, 1.0, std::max(1.0, std::floor(static_cast<double>(K / 2 / b)))));
      }
      prev_K = K;
      prev_excess = excess;
      next_check = K + step;
    }
    // Next block: the image of this one, orthogonalised against the whole basis.
    q.middleCols(K, b) = w.middleCols(K - b, b);
    orthonormalise(q, K, K + b, rng);
  }
}

}  // namespace kvscope::analysis
