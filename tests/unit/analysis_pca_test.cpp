#include <gtest/gtest.h>

#include <limits>

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

}  // namespace
}  // namespace kvscope::analysis
