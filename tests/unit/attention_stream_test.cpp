// The attention summary the engine streams (capture/attention_stream) against the same
// statistics computed from full maps (capture::summarize_pattern), and a prompt run in chunks
// against one forward call: on the default model, over a prompt longer than one pooled cell
// per position (so pooling is exercised) and longer than a query block.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "kvscope/capture/attention_summary.hpp"
#include "kvscope/capture/run.hpp"
#include "kvscope/error.hpp"
#include "kvscope/model/model.hpp"

namespace kvscope {
namespace {

namespace fs = std::filesystem;

const fs::path kModel = fs::path(KVSCOPE_SOURCE_DIR) / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf";

// Largest |a - b| / max(1, |b|) over two tensors of one shape.
double max_rel_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape, b.shape);
  if (a.shape != b.shape) return INFINITY;
  double d = 0;
  for (size_t i = 0; i < a.data.size(); ++i)
    d = std::max(d, std::abs(static_cast<double>(a.data[i]) - b.data[i]) /
                        std::max(1.0, std::abs(static_cast<double>(b.data[i]))));
  return d;
}

void expect_summaries_near(const capture::AttentionSummary& got,
                           const capture::AttentionSummary& want, double tol,
                           const std::string& where) {
  const std::pair<const char*, const Tensor capture::AttentionSummary::*> fields[] = {
      {"entropy", &capture::AttentionSummary::entropy},
      {"mean_distance", &capture::AttentionSummary::mean_distance},
      {"sink_mass", &capture::AttentionSummary::sink_mass},
      {"first_key", &capture::AttentionSummary::first_key},
      {"max_weight", &capture::AttentionSummary::max_weight},
      {"prev_token", &capture::AttentionSummary::prev_token},
      {"received", &capture::AttentionSummary::received},
      {"last_query", &capture::AttentionSummary::last_query},
      {"pooled_max", &capture::AttentionSummary::pooled_max},
      {"pooled_mean", &capture::AttentionSummary::pooled_mean},
      {"topk_weight", &capture::AttentionSummary::topk_weight},
  };
  for (const auto& [name, f] : fields) {
    EXPECT_FALSE((got.*f).empty()) << where << " " << name;
    EXPECT_LE(max_rel_diff(got.*f, want.*f), tol) << where << " " << name;
  }
  // Top-k keys agree wherever the weights do not tie (within the tolerance) with a neighbour.
  const Tensor& kw = want.topk_weight;
  const int64_t K = kw.dim(2);
  int64_t compared = 0;
  for (int64_t r = 0; r < kw.dim(0) * kw.dim(1); ++r)
    for (int64_t k = 0; k < K; ++k) {
      const float w = kw.data[static_cast<size_t>(r * K + k)];
      const bool tie_before = k > 0 && kw.data[static_cast<size_t>(r * K + k - 1)] - w < 1e-5;
      const bool tie_after = k + 1 < K && w - kw.data[static_cast<size_t>(r * K + k + 1)] < 1e-5;
      if (tie_before || tie_after) continue;
      ++compared;
      ASSERT_EQ(got.topk_key.data[static_cast<size_t>(r * K + k)],
                want.topk_key.data[static_cast<size_t>(r * K + k)])
          << where << " top-k row " << r << " rank " << k;
    }
  EXPECT_GT(compared, kw.dim(0) * kw.dim(1));  // most entries are compared
}

class AttentionStream : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kModel)) return;
    model_ = new capture::LoadedModel(capture::load_model(kModel.string(), io::HubOptions{}));
    std::string text;
    for (int i = 0; i < 12; ++i)
      text +=
          "The cache holds every key and value the model has seen so far; attention reads "
          "them back at each step. ";
    ids_ = model_->tokenizer.encode(text, true);
    full_ = new capture::Capture(capture::capture_tokens(*model_, ids_, {.attention = true}));
  }
  static void TearDownTestSuite() {
    delete model_;
    delete full_;
    model_ = nullptr;
    full_ = nullptr;
  }
  void SetUp() override {
    if (!model_) GTEST_SKIP() << "default model not installed (run scripts/setup.sh)";
    ASSERT_GT(ids_.size(), 256u);  // more positions than pooled cells
  }
  static capture::LoadedModel* model_;
  static std::vector<int32_t> ids_;
  static capture::Capture* full_;  // every layer's and head's exact map, one forward call
};
capture::Capture* AttentionStream::full_ = nullptr;
capture::LoadedModel* AttentionStream::model_ = nullptr;
std::vector<int32_t> AttentionStream::ids_;

TEST_F(AttentionStream, StreamedSummaryEqualsTheFullMapsSummary) {
  const capture::Capture& c = *full_;
  ASSERT_TRUE(c.has_attention());
  const int S = c.seq_len();
  for (int l = 0; l < c.n_layer; ++l) {
    const capture::LayerCapture& L = c.layers[static_cast<size_t>(l)];
    ASSERT_EQ(L.pattern.shape, (std::vector<int64_t>{c.n_head, S, S}));
    EXPECT_EQ(L.attn.shape.tile(), 2);
    const capture::AttentionSummary want = capture::summarize_pattern(L.pattern, L.attn.shape);
    expect_summaries_near(L.attn, want, 1e-5, "layer " + std::to_string(l));
  }
  // Head similarity from pooled maps: a cosine, 1 on the diagonal.
  const Tensor sim = capture::head_similarity(c.layers[3].attn);
  for (int h = 0; h < c.n_head; ++h) EXPECT_NEAR(sim.at(h, h), 1.0, 1e-6);
}

TEST_F(AttentionStream, PooledMapsArePoolingOfTheFullMap) {
  const capture::Capture& c = *full_;
  const capture::LayerCapture& L = c.layers[5];
  const int S = c.seq_len(), t = L.attn.shape.tile(), P = L.attn.shape.pooled();
  ASSERT_EQ(P, (S + t - 1) / t);
  for (int h : {0, 4, 8})
    for (int a = 0; a < P; a += 17)
      for (int b = 0; b <= a; b += 5) {
        double sum = 0, mx = 0;
        int count = 0;
        for (int i = a * t; i < std::min(S, (a + 1) * t); ++i)
          for (int j = b * t; j < std::min(S, (b + 1) * t); ++j) {
            sum += L.pattern.at(h, i, j);
            mx = std::max(mx, static_cast<double>(L.pattern.at(h, i, j)));
            ++count;
          }
        EXPECT_NEAR(L.attn.pooled_mean.at(h, a, b), sum / count, 1e-6);
        EXPECT_NEAR(L.attn.pooled_max.at(h, a, b), mx, 1e-7);
      }
}

TEST_F(AttentionStream, ChunkedPrefillEqualsOnePass) {
  const int n = static_cast<int>(ids_.size());
  const capture::Capture one =
      capture::capture_tokens(*model_, ids_, {.logits = true, .summary = true, .chunk = n});
  for (int chunk : {48}) {
    const capture::Capture c =
        capture::capture_tokens(*model_, ids_, {.logits = true, .summary = true, .chunk = chunk});
    const std::string where = "chunk " + std::to_string(chunk);
    EXPECT_LE(max_rel_diff(c.logits, one.logits), 1e-4) << where;
    for (int l = 0; l < c.n_layer; ++l) {
      const auto& a = c.layers[static_cast<size_t>(l)];
      const auto& b = one.layers[static_cast<size_t>(l)];
      EXPECT_LE(max_rel_diff(a.k, b.k), 1e-4) << where << " layer " << l;
      EXPECT_LE(max_rel_diff(a.k_pre_rope, b.k_pre_rope), 1e-4) << where << " layer " << l;
      EXPECT_LE(max_rel_diff(a.v, b.v), 1e-4) << where << " layer " << l;
      expect_summaries_near(a.attn, b.attn, 1e-4, where + " layer " + std::to_string(l));
    }
  }
}

TEST_F(AttentionStream, ExactMapsOfChosenLayersAndHeadsOnly) {
  const capture::Capture& all = *full_;
  const capture::Capture some = capture::capture_tokens(
      *model_, ids_, {.summary = true, .exact = {.layers = {7, 2}, .heads = {5, 0, 5}}});
  const int S = some.seq_len();
  for (int l = 0; l < some.n_layer; ++l) {
    const capture::LayerCapture& L = some.layers[static_cast<size_t>(l)];
    if (l != 2 && l != 7) {
      EXPECT_TRUE(L.pattern.empty()) << l;
      continue;
    }
    ASSERT_EQ(L.pattern_heads, (std::vector<int>{0, 5}));
    ASSERT_EQ(L.pattern.shape, (std::vector<int64_t>{2, S, S}));
    for (int k = 0; k < 2; ++k)
      for (int i = 0; i < S; i += 13)
        for (int j = 0; j < S; j += 7)
          ASSERT_EQ(L.pattern.at(k, i, j),
                    all.layers[static_cast<size_t>(l)].pattern.at(L.pattern_heads[k], i, j));
  }
}

TEST_F(AttentionStream, RefusesExactMapsThatDoNotFitBeforeAllocating) {
  ::setenv("KVSCOPE_MEMORY_LIMIT", "100M", 1);  // exact maps need 97 MB more here
  try {
    capture::capture_tokens(*model_, ids_, {.attention = true});
    ADD_FAILURE() << "expected the memory check to refuse";
  } catch (const BadInput& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("attention maps"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--attention-layers"), std::string::npos) << msg;
  }
  EXPECT_NO_THROW(capture::capture_tokens(*model_, ids_, {.summary = true}));
  ::unsetenv("KVSCOPE_MEMORY_LIMIT");
}

// Sliding layers score only the keys their window reaches (the block starts at a whole panel
// before it), so their work grows linearly with the prompt. The tiny Gemma 3 fixture (window
// 8, three sliding layers of four) over 120 tokens, in one call and in chunks of 7 and 40,
// against one forward pass that writes whole [H, n, n] maps: logits, keys and values equal,
// every streamed statistic equals the one from the whole maps, and exact maps equal them.
TEST(AttentionStreamWindow, SlidingLayersScoreOnlyTheirWindowAndAgreeWithWholeMaps) {
  io::HubOptions hub;
  hub.offline = true;
  const capture::LoadedModel m = capture::load_model(
      (fs::path(KVSCOPE_FIXTURES_DIR) / "models" / "gemma3-tiny").string(), hub);
  std::vector<int32_t> ids;
  for (int i = 0; i < 120; ++i) ids.push_back(2 + (i * 37 + i * i) % 250);
  const int n = static_cast<int>(ids.size());
  model::KvCache cache = m.model.new_cache(n, /*keep_pre_rope=*/false);
  const model::ForwardResult whole =
      m.model.forward(cache, ids, {.all_logits = true, .attention = true});
  for (int chunk : {n, 40, 7}) {
    const std::string where = "chunk " + std::to_string(chunk);
    const capture::Capture c = capture::capture_tokens(
        m, ids, {.attention = true, .logits = true, .add_special_tokens = false, .chunk = chunk});
    ASSERT_EQ(c.windows, (std::vector<int>{8, 8, 0, 8}));
    Tensor logits({n, static_cast<int64_t>(whole.logits.size()) / n});
    logits.data = whole.logits;
    EXPECT_LE(max_rel_diff(c.logits, logits), 1e-5) << where;
    for (int l = 0; l < c.n_layer; ++l) {
      const capture::LayerCapture& L = c.layers[static_cast<size_t>(l)];
      Tensor maps({c.n_head, n, n});
      maps.data = whole.patterns[static_cast<size_t>(l)];
      EXPECT_LE(max_rel_diff(L.pattern, maps), 1e-6) << where << " layer " << l;
      for (int g = 0; g < c.n_kv_head; ++g)
        for (int t = 0; t < n; t += 11)
          for (int d = 0; d < c.head_dim; ++d)
            ASSERT_NEAR(L.k.at(g, t, d), cache.k_row(l, g, t)[d], 1e-5) << where << " layer " << l;
      expect_summaries_near(L.attn, capture::summarize_pattern(maps, L.attn.shape), 1e-5,
                            where + " layer " + std::to_string(l));
    }
  }
}

}  // namespace
}  // namespace kvscope
