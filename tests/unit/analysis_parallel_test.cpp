// analysis::parallel_for on its own and inside a parallel region, and report::build_bundle,
// which runs the analyses as tasks, against the same analyses run one after another.
#include <gtest/gtest.h>
#include <omp.h>

#include <atomic>
#include <random>
#include <stdexcept>
#include <vector>

#include "kvscope/analysis/parallel.hpp"
#include "kvscope/error.hpp"
#include "kvscope/report/bundle.hpp"

namespace kvscope::analysis {
namespace {

TEST(AnalysisParallel, EveryItemRunsOnceAloneAndInsideARegion) {
  const int64_t n = 1000;
  std::vector<std::atomic<int>> alone(n), nested(n);
  parallel_for(n, true, [&](int64_t i) { ++alone[static_cast<size_t>(i)]; });
#pragma omp parallel num_threads(2)
#pragma omp single
  {
#pragma omp task
    parallel_for(n, true, [&](int64_t i) { ++nested[static_cast<size_t>(i)]; });
  }
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_EQ(alone[static_cast<size_t>(i)], 1) << i;
    EXPECT_EQ(nested[static_cast<size_t>(i)], 1) << i;
  }
  parallel_for(0, true, [](int64_t) { FAIL() << "no items"; });
}

TEST(AnalysisParallel, AnItemsExceptionIsRethrownOnceEveryItemHasRun) {
  for (bool inside : {false, true}) {
    std::atomic<int> ran{0};
    auto body = [&](int64_t i) {
      ++ran;
      if (i == 7) throw BadInput("item 7");
    };
    bool thrown = false;
    if (inside) {
#pragma omp parallel num_threads(2)
#pragma omp single
      {
        try {
          parallel_for(100, true, body);
        } catch (const BadInput&) {
          thrown = true;
        }
      }
    } else {
      EXPECT_THROW(parallel_for(100, true, body), BadInput);
      thrown = true;
    }
    EXPECT_TRUE(thrown) << inside;
    EXPECT_EQ(ran, 100) << inside;
  }
}

// A capture large enough for worth_threads (L * KH * S * D = 2^18), with pseudo-random K and V.
capture::Capture random_capture() {
  constexpr int L = 4, KH = 4, S = 256, D = 64;
  capture::Capture cap;
  cap.model_name = "random";
  cap.n_layer = L;
  cap.n_head = KH;
  cap.n_kv_head = KH;
  cap.head_dim = D;
  cap.d_model = KH * D;
  for (int i = 0; i < S; ++i) cap.token_ids.push_back(i);
  std::mt19937_64 gen(3);
  auto uniform = [&] { return static_cast<float>(static_cast<double>(gen() >> 11) * 0x1.0p-53); };
  for (int l = 0; l < L; ++l) {
    capture::LayerCapture lc;
    lc.k = Tensor({KH, S, D});
    lc.v = Tensor({KH, S, D});
    for (size_t j = 0; j < lc.k.data.size(); ++j) {
      const auto c = static_cast<int>(j % D);
      lc.k.data[j] = (uniform() - 0.5f) * (c == 5 ? 20.0f : 1.0f) + 0.1f * static_cast<float>(l);
      lc.v.data[j] = uniform() * uniform() - 0.2f;
    }
    cap.layers.push_back(std::move(lc));
  }
  return cap;
}

TEST(AnalysisParallel, TheBundleEqualsTheAnalysesRunOneByOne) {
  const capture::Capture cap = random_capture();
  ASSERT_TRUE(worth_threads(cap));
  const report::ReportOptions opt;
  const report::Bundle b = report::build_bundle(cap, opt, {});
  // Each analysis alone (its inner loops may still be parallel: items are independent).
  const auto stats = layer_stats(cap, {.sparsity = opt.sparsity});
  ASSERT_EQ(b.stats.size(), stats.size());
  for (size_t l = 0; l < stats.size(); ++l) {
    EXPECT_EQ(b.stats[l].key.std, stats[l].key.std);
    EXPECT_EQ(b.stats[l].value.kurtosis, stats[l].value.kurtosis);
    EXPECT_EQ(b.stats[l].kv_correlation, stats[l].kv_correlation);
  }
  const auto dist = value_distribution(cap, opt.histogram_bins);
  EXPECT_EQ(b.distribution.key.overall.counts, dist.key.overall.counts);
  EXPECT_EQ(b.distribution.value.percentiles, dist.value.percentiles);
  EXPECT_EQ(b.distribution.key.per_layer_percentiles, dist.key.per_layer_percentiles);
  ASSERT_EQ(b.pca_layers, (std::vector<int>{0, 2, 3}));
  for (size_t i = 0; i < b.pca_layers.size(); ++i) {
    const auto k = pca_by_position(cap, b.pca_layers[i], KvPart::Key);
    const auto v = pca_by_position(cap, b.pca_layers[i], KvPart::Value);
    EXPECT_EQ(b.pca_keys[i].components.data, k.components.data) << i;
    EXPECT_EQ(b.pca_values[i].explained_variance, v.explained_variance) << i;
  }
  const auto quant = quantization_errors(cap);
  ASSERT_EQ(b.quant.size(), quant.size());
  for (size_t i = 0; i < quant.size(); ++i) {
    for (size_t l = 0; l < quant[i].key.size(); ++l) {
      EXPECT_EQ(b.quant[i].key[l].relative_mse, quant[i].key[l].relative_mse);
      EXPECT_EQ(b.quant[i].value[l].max_abs_error, quant[i].value[l].max_abs_error);
    }
  }
  EXPECT_EQ(b.heads.similarity.data, head_specialization(cap, b.layer).similarity.data);
  EXPECT_EQ(b.magnitudes.key, token_magnitudes(cap).key);
  EXPECT_EQ(b.importance, token_importance(cap, opt.importance));
  EXPECT_EQ(b.categories.size(), static_cast<size_t>(cap.seq_len()));
}

}  // namespace
}  // namespace kvscope::analysis
