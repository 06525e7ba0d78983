#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <Eigen/SVD>
#include <cmath>
#include <limits>
#include <random>

#include "analysis_fixture.hpp"
#include "kvscope/analysis/pca.hpp"
#include "kvscope/error.hpp"

namespace kvscope::analysis {
namespace {

using testing::expect_all_close;
using testing::expected;
using testing::flatten;
using testing::synthetic_capture;

void expect_pca(const PcaResult& got, const nlohmann::json& want, const std::string& what) {
  expect_all_close(got.coords.data, flatten(want["coords"]), what + " coords", 1e-5, 1e-5);
  expect_all_close(got.components.data, flatten(want["components"]), what + " components", 1e-5,
                   1e-5);
  expect_all_close(got.explained_variance, want["explained_variance"], what + " variance");
  expect_all_close(got.explained_variance_ratio, want["explained_variance_ratio"], what + " ratio");
}

TEST(AnalysisPca, ByPositionMatchesNumpySvdWithFixedSigns) {
  const auto cap = synthetic_capture();
  const auto& want = expected()["pca"];
  const int layer = want["layer"];
  const auto key = pca_by_position(cap, layer, KvPart::Key, 2);
  EXPECT_EQ(key.coords.shape, (std::vector<int64_t>{12, 2}));
  expect_pca(key, want["key"], "key");
  expect_pca(pca_by_position(cap, layer, KvPart::Value, 2), want["value"], "value");
  expect_pca(pca_by_position(cap, 0, KvPart::KeyPreRope, 3), want["key_pre_rope_k3"], "pre-rope");
}

TEST(AnalysisPca, TokenVectorsConcatenateHeads) {
  const auto cap = synthetic_capture();
  const Tensor x = token_vectors(cap, 1, KvPart::Value);
  ASSERT_EQ(x.shape, (std::vector<int64_t>{12, 16}));
  EXPECT_EQ(x.at(5, 8 + 3), cap.layers[1].v.at(1, 5, 3));
  EXPECT_EQ(x.at(7, 2), cap.layers[1].v.at(0, 7, 2));
}

TEST(AnalysisPca, PointsOnALineHaveAllVarianceInTheFirstComponent) {
  Tensor x({3, 2});
  x.data = {0, 0, 1, -2, 2, -4};  // along (1, -2); centred at (1, -2)
  const auto r = pca(x, 2);
  EXPECT_NEAR(r.explained_variance_ratio[0], 1.0, 1e-12);
  EXPECT_NEAR(r.explained_variance_ratio[1], 0.0, 1e-12);
  // Largest-magnitude entry (-2 / sqrt 5) made positive: the component is (-1, 2) / sqrt 5.
  EXPECT_NEAR(r.components.at(0, 0), -1 / std::sqrt(5.0), 1e-6);
  EXPECT_NEAR(r.components.at(0, 1), 2 / std::sqrt(5.0), 1e-6);
  EXPECT_NEAR(r.coords.at(0, 0), std::sqrt(5.0), 1e-6);  // (-1, 2) . (-1, 2) / sqrt 5
  EXPECT_NEAR(r.explained_variance[0], 5.0, 1e-9);       // (5 + 0 + 5) / (3 - 1)
}

TEST(AnalysisPca, RejectsTooManyComponentsAndBadLayers) {
  Tensor x({3, 2});
  EXPECT_THROW(pca(x, 3), BadInput);
  EXPECT_THROW(pca(x, 0), BadInput);
  EXPECT_THROW(pca(Tensor({3}), 1), BadInput);
  x.data[3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(pca(x, 1), BadInput);
  EXPECT_THROW(pca_by_position(synthetic_capture(), 5, KvPart::Key), BadInput);
  EXPECT_EQ(pca_by_position(synthetic_capture(), 0, KvPart::Key, 50).coords.dim(1), 12);
}

// The PCA as it was computed before the eigensolver: a thin SVD (Eigen's BDCSVD) of the centred
// rows, with the same sign convention.
PcaResult svd_pca(const Tensor& x, int k) {
  const int64_t N = x.dim(0), dim = x.dim(1);
  Eigen::MatrixXd X =
      Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
          x.ptr(), N, dim)
          .cast<double>();
  X.rowwise() -= X.colwise().mean();
  const double total = X.squaredNorm();
  Eigen::BDCSVD<Eigen::MatrixXd> svd(X, Eigen::ComputeThinV);
  PcaResult r;
  r.components = Tensor({k, dim});
  r.coords = Tensor({N, k});
  for (int c = 0; c < k; ++c) {
    Eigen::VectorXd v = svd.matrixV().col(c);
    Eigen::Index big = 0;
    v.cwiseAbs().maxCoeff(&big);
    if (v(big) < 0) v = -v;
    const Eigen::VectorXd proj = X * v;
    for (int64_t j = 0; j < dim; ++j) r.components.at(c, j) = static_cast<float>(v(j));
    for (int64_t i = 0; i < N; ++i) r.coords.at(i, c) = static_cast<float>(proj(i));
    const double s2 = svd.singularValues()(c) * svd.singularValues()(c);
    r.explained_variance.push_back(s2 / static_cast<double>(N - 1));
    r.explained_variance_ratio.push_back(s2 / total);
  }
  return r;
}

// [N, dim] rows = a mean, plus `rank` directions with decaying scales, plus small noise: the
// shape of a KV cache's token vectors. Deterministic (mt19937_64 is the same everywhere).
Tensor low_rank_rows(int64_t N, int64_t dim, int rank, uint64_t seed) {
  std::mt19937_64 gen(seed);
  auto uniform = [&] { return static_cast<double>(gen() >> 11) * 0x1.0p-53 - 0.5; };
  std::vector<double> mean(static_cast<size_t>(dim)), dirs(static_cast<size_t>(rank * dim));
  for (double& v : mean) v = 3 * uniform();
  for (double& v : dirs) v = uniform();
  Tensor x({N, dim});
  for (int64_t i = 0; i < N; ++i) {
    std::vector<double> w(static_cast<size_t>(rank));
    for (int r = 0; r < rank; ++r) w[static_cast<size_t>(r)] = uniform() * 10.0 / (1 + r);
    for (int64_t j = 0; j < dim; ++j) {
      double v = mean[static_cast<size_t>(j)] + 0.05 * uniform();
      for (int r = 0; r < rank; ++r)
        v += w[static_cast<size_t>(r)] * dirs[static_cast<size_t>(r * dim + j)];
      x.at(i, j) = static_cast<float>(v);
    }
  }
  return x;
}

void expect_same_pca(const PcaResult& got, const PcaResult& want, const std::string& what) {
  ASSERT_EQ(got.components.shape, want.components.shape) << what;
  ASSERT_EQ(got.coords.shape, want.coords.shape) << what;
  for (size_t i = 0; i < want.components.data.size(); ++i)
    ASSERT_NEAR(got.components.data[i], want.components.data[i], 1e-6)
        << what << " component " << i;
  float scale = 0;
  for (float v : want.coords.data) scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < want.coords.data.size(); ++i)
    ASSERT_NEAR(got.coords.data[i], want.coords.data[i], 1e-6 * scale) << what << " coord " << i;
  for (size_t c = 0; c < want.explained_variance.size(); ++c) {
    EXPECT_NEAR(got.explained_variance[c], want.explained_variance[c],
                1e-10 * want.explained_variance[0])
        << what;
    EXPECT_NEAR(got.explained_variance_ratio[c], want.explained_variance_ratio[c], 1e-10) << what;
  }
}

TEST(AnalysisPca, MatchesTheSvdOnWideTallAndSmallInputs) {
  // Wide (N < dim: the Gram matrix, order 150), tall (the covariance, order 120), both large
  // enough for the Krylov method; and small ones for the dense solver.
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{150, 400}, {500, 120}, {512, 768},
                                                           {40, 64},   {64, 40},   {7, 3}};
  uint64_t seed = 1;
  for (const auto& [N, dim] : shapes) {
    const Tensor x = low_rank_rows(N, dim, 8, seed++);
    // Appended rather than `"[" + std::to_string(N)`: GCC 12 warns (-Wrestrict, a false
    // positive) on operator+ of a literal and a temporary string.
    std::string what = "[";
    what += std::to_string(N);
    what += ", ";
    what += std::to_string(dim);
    what += "]";
    expect_same_pca(pca(x, 2), svd_pca(x, 2), what + " k=2");
    expect_same_pca(pca(x, 3), svd_pca(x, 3), what + " k=3");
  }
}

TEST(AnalysisPca, RecoversAKnownSpectrumWithANearlyDegenerateTopPair) {
  // X = U diag(s) V^T with U's columns orthonormal and of zero mean, so centring leaves X as it
  // is: the variances are s^2 / (N - 1) and the components are V's columns (up to sign).
  // s_1 and s_2 differ by 1e-7: directions that only a well-converged solve keeps apart.
  const int N = 200, dim = 300, r = 6;
  const std::vector<double> s = {40.0, 40.0 * (1 - 1e-7), 25.0, 10.0, 3.0, 1.0};
  std::mt19937_64 gen(42);
  auto uniform = [&] { return static_cast<double>(gen() >> 11) * 0x1.0p-53 - 0.5; };
  Eigen::MatrixXd a(N, r + 1), b(dim, r);
  a.col(0).setOnes();
  for (int j = 1; j <= r; ++j)
    for (int i = 0; i < N; ++i) a(i, j) = uniform();
  for (int j = 0; j < r; ++j)
    for (int i = 0; i < dim; ++i) b(i, j) = uniform();
  // Orthonormal columns; U orthogonal to the ones vector (its first QR column).
  const Eigen::MatrixXd qa = Eigen::HouseholderQR<Eigen::MatrixXd>(a).householderQ();
  const Eigen::MatrixXd U = qa.middleCols(1, r);
  const Eigen::MatrixXd V =
      Eigen::MatrixXd(Eigen::HouseholderQR<Eigen::MatrixXd>(b).householderQ()).leftCols(r);
  const Eigen::MatrixXd X =
      U * Eigen::Map<const Eigen::VectorXd>(s.data(), r).asDiagonal() * V.transpose();
  Tensor x({N, dim});
  for (int i = 0; i < N; ++i)
    for (int j = 0; j < dim; ++j) x.at(i, j) = static_cast<float>(X(i, j));
  // fp32 storage perturbs X by ~1e-7 relative: compare with the SVD of the stored values for
  // directions, and with s for the variances.
  const PcaResult got = pca(x, 4);
  const PcaResult want = svd_pca(x, 4);
  double total = 0;
  for (double v : s) total += v * v;
  for (int c = 0; c < 4; ++c) {
    const double var = s[static_cast<size_t>(c)] * s[static_cast<size_t>(c)];
    EXPECT_NEAR(got.explained_variance[static_cast<size_t>(c)], var / (N - 1), 1e-5 * var / N);
    EXPECT_NEAR(got.explained_variance_ratio[static_cast<size_t>(c)], var / total, 1e-5);
    double dot = 0;
    for (int j = 0; j < dim; ++j) dot += got.components.at(c, j) * V(j, c);
    EXPECT_NEAR(std::fabs(dot), 1.0, c < 2 ? 1e-3 : 1e-6) << c;  // s_1, s_2: fp32 mixes them
  }
  expect_same_pca(got, want, "known spectrum");
}

TEST(AnalysisPca, RankOneRowsGiveAnOrthogonalSecondComponentWithNoVariance) {
  // Rows on a line in 200 dimensions, fewer rows than dimensions (the Gram side).
  const int N = 120, dim = 200;
  Tensor x({N, dim});
  for (int i = 0; i < N; ++i)
    for (int j = 0; j < dim; ++j)
      x.at(i, j) = static_cast<float>((i % 7 - 3) * std::cos(0.1 * j) + 0.5);
  const PcaResult r = pca(x, 2);
  EXPECT_NEAR(r.explained_variance_ratio[0], 1.0, 1e-6);
  EXPECT_NEAR(r.explained_variance_ratio[1], 0.0, 1e-6);
  double n0 = 0, n1 = 0, d = 0;
  for (int j = 0; j < dim; ++j) {
    n0 += r.components.at(0, j) * r.components.at(0, j);
    n1 += r.components.at(1, j) * r.components.at(1, j);
    d += r.components.at(0, j) * r.components.at(1, j);
  }
  EXPECT_NEAR(n0, 1.0, 1e-6);
  EXPECT_NEAR(n1, 1.0, 1e-6);
  EXPECT_NEAR(d, 0.0, 1e-6);
  expect_same_pca(pca(x, 1), svd_pca(x, 1), "rank one");
}

TEST(AnalysisPca, EqualRowsHaveNoVarianceAndTheAxesAsComponents) {
  for (const auto& shape : {std::vector<int64_t>{5, 8}, std::vector<int64_t>{200, 150}}) {
    Tensor x(shape);
    for (float& v : x.data) v = 3.0f;
    const PcaResult r = pca(x, 2);
    for (int c = 0; c < 2; ++c) {
      EXPECT_EQ(r.explained_variance[static_cast<size_t>(c)], 0.0);
      EXPECT_EQ(r.explained_variance_ratio[static_cast<size_t>(c)], 0.0);
      for (int64_t j = 0; j < shape[1]; ++j) EXPECT_EQ(r.components.at(c, j), j == c ? 1.0f : 0.0f);
    }
    for (float v : r.coords.data) EXPECT_EQ(v, 0.0f);
  }
}

}  // namespace
}  // namespace kvscope::analysis
