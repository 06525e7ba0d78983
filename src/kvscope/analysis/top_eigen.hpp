// The few largest eigenpairs of a symmetric matrix, for PCA: a block Krylov method (block
// Lanczos with full reorthogonalisation and Rayleigh-Ritz) that stops on a residual test, and
// the dense solver for small matrices or when the Krylov method has not converged in time.
//
// Letters: m the matrix order, k the eigenpairs wanted, b the block size, K the basis size.
#pragma once

#include <Eigen/Core>

namespace kvscope::analysis {

struct TopEigenOptions {
  // Krylov block size b; 0 picks k + 3. A block at least as large as the multiplicity of a
  // wanted eigenvalue finds every copy of it.
  int block = 0;
  // A Ritz pair (theta, y) is accepted when ||A y - theta y|| / gap, which bounds its angle to
  // the true eigenvector, is at most `angle`. The gap (to the nearest other Ritz value) is
  // taken as at most 1% of the scale (the largest |theta|), so the residual must reach
  // angle * scale / 100 even when the Ritz values look far apart. A residual at rounding level
  // (64 eps * scale) is always accepted: the dense solver's vectors are no more accurate then,
  // and a degenerate eigenvalue (gap 0) has no better answer.
  double angle = 1e-8;
  // Largest Krylov basis (columns) before giving up and running the dense solver; 0 picks
  // max(8 b, m / 3), never more than m.
  int max_basis = 0;
  // Matrices of order up to this go straight to the dense solver (faster there).
  int dense_up_to = 96;
};

struct TopEigen {
  Eigen::VectorXd values;   // [k] the largest eigenvalues, descending
  Eigen::MatrixXd vectors;  // [m, k] orthonormal eigenvectors, column c for values(c)
  int basis = 0;            // Krylov basis size at convergence; 0 when the dense solver ran
  bool dense = false;       // solved by the dense solver (small m, or the fallback)
  bool fell_back = false;   // the Krylov method did not converge within max_basis
};

// Top k eigenpairs of the symmetric matrix a [m, m] (both triangles must be filled).
// BadInput unless a is square and 1 <= k <= m. Deterministic: the Krylov start block is a
// fixed pseudo-random one. The sign of each eigenvector is whatever the solver produced.
TopEigen top_eigenpairs(const Eigen::MatrixXd& a, int k, const TopEigenOptions& options = {});

}  // namespace kvscope::analysis
