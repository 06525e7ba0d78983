// Top eigenpairs of symmetric matrices with a spectrum chosen by the test: A = U diag(lambda) U^T
// with U a pseudo-random orthogonal matrix, so the answer is known without trusting a solver.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <random>
#include <vector>

#include "kvscope/analysis/top_eigen.hpp"
#include "kvscope/error.hpp"

namespace kvscope::analysis {
namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;

// [m, m] orthogonal, from the QR of a pseudo-random matrix (mt19937_64 is the same everywhere).
MatrixXd random_orthogonal(int m, uint64_t seed) {
  std::mt19937_64 gen(seed);
  MatrixXd r(m, m);
  for (int j = 0; j < m; ++j)
    for (int i = 0; i < m; ++i) r(i, j) = static_cast<double>(gen() >> 11) * 0x1.0p-53 - 0.5;
  return Eigen::HouseholderQR<MatrixXd>(r).householderQ();
}

struct Known {
  MatrixXd a;  // [m, m]
  MatrixXd u;  // [m, m] eigenvectors, column i for lambda(i)
  VectorXd lambda;
};

Known with_spectrum(const std::vector<double>& lambda, uint64_t seed = 7) {
  const int m = static_cast<int>(lambda.size());
  Known k;
  k.lambda = Eigen::Map<const VectorXd>(lambda.data(), m);
  k.u = random_orthogonal(m, seed);
  k.a = k.u * k.lambda.asDiagonal() * k.u.transpose();
  k.a = 0.5 * (k.a + k.a.transpose()).eval();  // exactly symmetric
  return k;
}

// Sine of the angle between two unit vectors (the length of x's part orthogonal to y, which
// unlike sqrt(1 - cos^2) stays accurate for tiny angles).
double sin_angle(const VectorXd& x, const VectorXd& y) {
  return (x - x.dot(y) * y).norm();
}

TopEigenOptions krylov_only() {
  TopEigenOptions o;
  o.dense_up_to = 0;
  return o;
}

TEST(AnalysisTopEigen, KrylovFindsTheTopPairsOfADecayingSpectrum) {
  std::vector<double> lambda;
  for (int i = 0; i < 300; ++i) lambda.push_back(1000.0 * std::pow(0.9, i) + 0.1);
  const Known k = with_spectrum(lambda);
  const TopEigen r = top_eigenpairs(k.a, 3, krylov_only());
  EXPECT_FALSE(r.dense);
  EXPECT_GT(r.basis, 0);
  EXPECT_LT(r.basis, 150);
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(r.values(c), lambda[static_cast<size_t>(c)], 1e-11 * lambda[0]) << c;
    EXPECT_LT(sin_angle(r.vectors.col(c), k.u.col(c)), 1e-9) << c;
    EXPECT_NEAR(r.vectors.col(c).norm(), 1.0, 1e-12) << c;
  }
  EXPECT_NEAR(r.vectors.col(0).dot(r.vectors.col(1)), 0.0, 1e-12);
}

TEST(AnalysisTopEigen, ResolvesANearlyDegenerateTopPair) {
  // lambda_1 - lambda_2 = gap * lambda_1: each vector is pinned down only through that gap, so
  // a residual test not scaled by the gap stops with the two mixed. Rounding A alone moves them
  // by about eps / gap.
  for (double gap : {1e-6, 1e-8}) {
    std::vector<double> lambda = {100.0, 100.0 * (1 - gap)};
    for (int i = 0; i < 248; ++i) lambda.push_back(50.0 * std::pow(0.95, i));
    const Known k = with_spectrum(lambda, 11);
    const TopEigen r = top_eigenpairs(k.a, 2, krylov_only());
    EXPECT_FALSE(r.fell_back) << gap;
    for (int c = 0; c < 2; ++c) {
      EXPECT_NEAR(r.values(c), lambda[static_cast<size_t>(c)], 1e-12 * lambda[0]) << gap;
      EXPECT_LT(sin_angle(r.vectors.col(c), k.u.col(c)), 1000 * 2.2e-16 / gap) << gap << " " << c;
    }
    EXPECT_GT(r.values(0), r.values(1)) << gap;
  }
}

TEST(AnalysisTopEigen, FindsEveryCopyOfARepeatedTopEigenvalue) {
  // lambda_1 = lambda_2 = lambda_3: a single-vector Lanczos would see it once; the block (k + 2
  // vectors) sees all three. Any orthonormal pair in their span is a right answer.
  std::vector<double> lambda = {10.0, 10.0, 10.0};
  for (int i = 0; i < 197; ++i) lambda.push_back(5.0 * std::pow(0.97, i));
  const Known k = with_spectrum(lambda, 3);
  const TopEigen r = top_eigenpairs(k.a, 2, krylov_only());
  const MatrixXd top = k.u.leftCols(3);
  for (int c = 0; c < 2; ++c) {
    EXPECT_NEAR(r.values(c), 10.0, 1e-11) << c;
    EXPECT_NEAR((top.transpose() * r.vectors.col(c)).norm(), 1.0, 1e-9) << c;
  }
  EXPECT_NEAR(r.vectors.col(0).dot(r.vectors.col(1)), 0.0, 1e-12);
}

TEST(AnalysisTopEigen, FallsBackToTheDenseSolverWhenTheBasisRunsOut) {
  // A nearly flat spectrum: the Krylov method needs far more than 12 basis vectors.
  std::vector<double> lambda;
  for (int i = 0; i < 200; ++i) lambda.push_back(2.0 - 1e-3 * i);
  const Known k = with_spectrum(lambda, 5);
  TopEigenOptions o = krylov_only();
  o.max_basis = 12;
  const TopEigen r = top_eigenpairs(k.a, 2, o);
  EXPECT_TRUE(r.fell_back);
  EXPECT_TRUE(r.dense);
  for (int c = 0; c < 2; ++c) {
    EXPECT_NEAR(r.values(c), lambda[static_cast<size_t>(c)], 1e-12) << c;
    EXPECT_LT(sin_angle(r.vectors.col(c), k.u.col(c)), 1e-9) << c;
  }
  // With room to grow (here up to the whole space), the Krylov method itself converges.
  o.max_basis = 200;
  const TopEigen free = top_eigenpairs(k.a, 2, o);
  EXPECT_FALSE(free.dense);
  EXPECT_NEAR(free.values(0), lambda[0], 1e-12);
  EXPECT_LT(sin_angle(free.vectors.col(1), k.u.col(1)), 1e-7);
}

TEST(AnalysisTopEigen, ZeroAndLowRankMatricesGiveOrthonormalVectors) {
  const MatrixXd zero = MatrixXd::Zero(120, 120);
  const TopEigen z = top_eigenpairs(zero, 2, krylov_only());
  EXPECT_EQ(z.values(0), 0.0);
  EXPECT_EQ(z.values(1), 0.0);
  EXPECT_NEAR((z.vectors.transpose() * z.vectors - MatrixXd::Identity(2, 2)).norm(), 0.0, 1e-12);

  // Rank 1: the Krylov space closes after one step and must be extended to find a second pair.
  const VectorXd u = random_orthogonal(120, 9).col(0);
  const MatrixXd one = 4.0 * u * u.transpose();
  const TopEigen r = top_eigenpairs(one, 2, krylov_only());
  EXPECT_NEAR(r.values(0), 4.0, 1e-12);
  EXPECT_NEAR(r.values(1), 0.0, 1e-12);
  EXPECT_LT(sin_angle(r.vectors.col(0), u), 1e-12);
  EXPECT_NEAR(r.vectors.col(1).norm(), 1.0, 1e-12);
  EXPECT_NEAR(r.vectors.col(1).dot(u), 0.0, 1e-12);
}

TEST(AnalysisTopEigen, IsDeterministicAndAgreesWithTheDenseSolver) {
  std::vector<double> lambda;
  for (int i = 0; i < 180; ++i) lambda.push_back(std::exp(-0.05 * i) * (1 + 0.3 * std::sin(i)));
  const Known k = with_spectrum(lambda, 21);
  const TopEigen a = top_eigenpairs(k.a, 2, krylov_only());
  const TopEigen b = top_eigenpairs(k.a, 2, krylov_only());
  EXPECT_EQ(a.values, b.values);
  EXPECT_EQ(a.vectors, b.vectors);
  TopEigenOptions dense;
  dense.dense_up_to = 1000;
  const TopEigen d = top_eigenpairs(k.a, 2, dense);
  EXPECT_TRUE(d.dense);
  EXPECT_FALSE(d.fell_back);
  for (int c = 0; c < 2; ++c) {
    EXPECT_NEAR(a.values(c), d.values(c), 1e-13) << c;
    EXPECT_LT(sin_angle(a.vectors.col(c), d.vectors.col(c)), 1e-9) << c;
  }
}

TEST(AnalysisTopEigen, RejectsNonSquareMatricesAndBadCounts) {
  EXPECT_THROW(top_eigenpairs(MatrixXd::Zero(3, 4), 1), BadInput);
  EXPECT_THROW(top_eigenpairs(MatrixXd::Identity(3, 3), 0), BadInput);
  EXPECT_THROW(top_eigenpairs(MatrixXd::Identity(3, 3), 4), BadInput);
  EXPECT_EQ(top_eigenpairs(MatrixXd::Identity(3, 3), 3).values.size(), 3);
}

}  // namespace
}  // namespace kvscope::analysis
