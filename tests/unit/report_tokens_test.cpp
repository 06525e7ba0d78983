// The token figures drawn from real captures of the tiny fixture models, and the helpers that
// pick which tokens get named.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "kvscope/capture/generate.hpp"
#include "kvscope/capture/run.hpp"
#include "kvscope/error.hpp"
#include "kvscope/report/figures.hpp"
#include "kvscope/report/labels.hpp"
#include "kvscope/report/metrics.hpp"

namespace kvscope::report {
namespace {

namespace fs = std::filesystem;

const char* kPrompt =
    "Article: A car crash occurred on Highway 15 today, involving three cars. Authorities were "
    "called to the "
    "scene. TL;DR:";

struct Png {
  bool ok = false;
  uint32_t width = 0, height = 0;
};

Png read_png_header(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  unsigned char h[24] = {};
  f.read(reinterpret_cast<char*>(h), sizeof h);
  Png png;
  const unsigned char magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  png.ok = f.gcount() == 24 && std::equal(magic, magic + 8, h) &&
           std::string(reinterpret_cast<char*>(h + 12), 4) == "IHDR";
  auto be32 = [&](int o) {
    return (uint32_t{h[o]} << 24) | (uint32_t{h[o + 1]} << 16) | (uint32_t{h[o + 2]} << 8) |
           uint32_t{h[o + 3]};
  };
  png.width = be32(16);
  png.height = be32(20);
  return png;
}

std::vector<int32_t> special_ids(const capture::LoadedModel& m, const capture::Capture& c) {
  std::vector<int32_t> out;
  for (int32_t id : c.token_ids)
    if (m.tokenizer.is_special(id)) out.push_back(id);
  return out;
}

class TokenFigures : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = new capture::LoadedModel(capture::load_model(
        std::string(KVSCOPE_FIXTURES_DIR) + "/models/llama-gqa", io::HubOptions{}));
    capture::CaptureOptions co;
    co.attention = true;
    cap_ = new capture::Capture(capture::capture_prompt(*model_, kPrompt, co));
    capture::GenerateOptions go;
    go.max_new_tokens = 12;
    go.attention = true;
    go.stop_at_eos = false;
    trace_ = new capture::GenerationTrace(capture::generate(*model_, kPrompt, go));
    bundle_ = new Bundle(build_bundle(*cap_, opt_, special_ids(*model_, *cap_), trace_));
  }
  static void TearDownTestSuite() {
    delete bundle_;
    delete trace_;
    delete cap_;
    delete model_;
  }
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kvscope_report_tokens_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    // KVSCOPE_KEEP_FIGURES=<folder> keeps a copy to look at.
    if (const char* keep = std::getenv("KVSCOPE_KEEP_FIGURES")) {
      fs::create_directories(keep);
      for (const auto& e : fs::directory_iterator(dir_))
        fs::copy_file(e.path(), fs::path(keep) / e.path().filename(),
                      fs::copy_options::overwrite_existing);
    }
    fs::remove_all(dir_);
  }
  void expect_png(const std::string& name) {
    const Png p = read_png_header(dir_ / name);
    EXPECT_TRUE(p.ok) << name << " is not a PNG";
    EXPECT_GE(p.width, 600u) << name;
    EXPECT_LE(p.width, 6000u) << name;
    EXPECT_GE(p.height, 400u) << name;
    EXPECT_LE(p.height, 6000u) << name;
  }
  std::string at(const std::string& name) const { return (dir_ / name).string(); }

  static inline capture::LoadedModel* model_ = nullptr;
  static inline capture::Capture* cap_ = nullptr;
  static inline capture::GenerationTrace* trace_ = nullptr;
  static inline Bundle* bundle_ = nullptr;
  static inline ReportOptions opt_;
  fs::path dir_;
};

// DESIGN.md's rules for a readable figure, asserted on the layout of every figure of the
// table: a title, titled axes, a colour bar on every heatmap, and token labels on the
// figures that show tokens.
TEST_F(TokenFigures, EveryFigureHasTitlesColourBarsAndTokenLabels) {
  const FigureInput in{*cap_, *bundle_, opt_, trace_};
  const std::set<std::string> names_tokens = {"kv_cache_layers",
                                              "attention_patterns",
                                              "kv_cache_details",
                                              "low_importance_tokens",
                                              "token_importance_comparison",
                                              "token_magnitudes",
                                              "token_key_value_scatter",
                                              "generation"};
  int figures = 0;
  for (const FigureSpec& f : figure_table()) {
    SCOPED_TRACE(f.stem);
    plot::Figure fig = f.build(in);
    const plot::Layout l = fig.layout();
    ++figures;
    int suptitles = 0, titles = 0, token_texts = 0;  // titles: of axes, or of panels in one
    for (const plot::TextBox& t : l.texts) {
      if (t.role == plot::TextRole::suptitle && !t.text.empty()) ++suptitles;
      if ((t.role == plot::TextRole::title || t.role == plot::TextRole::annotation) &&
          !t.text.empty())
        ++titles;
      for (int i = 1; i < cap_->seq_len(); ++i)  // token 0 is <s>, which a title might name
        if (t.role != plot::TextRole::suptitle && t.role != plot::TextRole::title &&
            t.text.find(token_label(*cap_, i)) != std::string::npos &&
            token_label(*cap_, i).size() > 2) {
          ++token_texts;
          break;
        }
    }
    EXPECT_EQ(suptitles, 1);
    EXPECT_GE(titles, 1);
    ASSERT_EQ(static_cast<int>(l.axes.size()), fig.axes_count());
    for (int a = 0; a < fig.axes_count(); ++a) {
      bool heatmap = false;
      for (const plot::Artist& art : fig.axes_by_index(a).artists())
        heatmap = heatmap || std::holds_alternative<plot::HeatmapArtist>(art);
      if (heatmap) {
        EXPECT_TRUE(l.axes[static_cast<size_t>(a)].colorbar.has_value()) << "axes " << a;
      }
    }
    // The scatter names only its outliers (two in this capture); the rest name many tokens.
    if (names_tokens.count(f.stem)) {
      EXPECT_GE(token_texts, f.stem == std::string("token_key_value_scatter") ? 1 : 3)
          << "token labels";
    }
    // One size convention: 100 figure units per inch, saved at 100 dpi.
    EXPECT_EQ(fig.dpi(), 100);
  }
  EXPECT_EQ(figures, 14);
}

// generation.png draws the bundle's attention averages, and metrics.json writes the same
// numbers; both equal a plain average of the trace's [L, H, T] rows.
TEST_F(TokenFigures, GenerationAttentionInMetricsIsTheAverageTheFigureDraws) {
  const analysis::GenerationAttention& ga = bundle_->generation_attention;
  ASSERT_TRUE(ga.complete());
  ASSERT_EQ(ga.all_layers.size(), trace_->steps.size());
  const nlohmann::json j = metrics_json(*cap_, *bundle_, opt_, trace_);
  EXPECT_EQ(j["generation"]["attention_layer"].get<int>(), bundle_->layer);
  const int L = cap_->n_layer, H = cap_->n_head;
  for (size_t t = 0; t < trace_->steps.size(); ++t) {
    const capture::GenerationStep& st = trace_->steps[t];
    const size_t T = static_cast<size_t>(st.cache_len);
    const auto all =
        j["generation"]["steps"][t]["attention_mean_over_layers_heads"].get<std::vector<double>>();
    const auto one = j["generation"]["steps"][t]["attention_mean_over_heads_of_layer"]
                         .get<std::vector<double>>();
    ASSERT_EQ(all.size(), T);
    ASSERT_EQ(one.size(), T);
    double row_sum = 0;
    for (size_t k = 0; k < T; ++k) {
      double a = 0, o = 0;
      for (int l = 0; l < L; ++l)
        for (int h = 0; h < H; ++h) {
          const double p = st.attention[(static_cast<size_t>(l * H + h)) * T + k];
          a += p;
          if (l == ga.layer) o += p;
        }
      EXPECT_NEAR(all[k], a / (L * H), 1e-9);
      EXPECT_NEAR(one[k], o / H, 1e-9);
      EXPECT_DOUBLE_EQ(all[k], ga.all_layers[t][k]);
      row_sum += all[k];
    }
    EXPECT_NEAR(row_sum, 1.0, 1e-4);  // a mean of softmax rows is one
  }
}

TEST_F(TokenFigures, TokensTheFiguresNameAreInMetrics) {
  const nlohmann::json j = metrics_json(*cap_, *bundle_, opt_, trace_);
  EXPECT_EQ(j["token_magnitudes"]["outliers"].get<std::vector<int>>(), bundle_->kv_outliers);
  EXPECT_EQ(j["token_magnitudes"]["largest_key"].get<std::vector<int>>(),
            bundle_->largest_key_tokens);
  EXPECT_EQ(
      bundle_->largest_key_tokens,
      analysis::largest_tokens(bundle_->magnitudes.key, std::clamp(cap_->seq_len() / 12, 3, 8)));
  EXPECT_EQ(bundle_->kv_outliers,
            analysis::outlier_tokens(bundle_->magnitudes.key, bundle_->magnitudes.value, 12, 3.0));
}

TEST_F(TokenFigures, LowImportanceTokensIsAPngOfSensibleSize) {
  build_low_importance_tokens(*cap_, *bundle_, opt_).save(at("low_importance_tokens.png"));
  expect_png("low_importance_tokens.png");
}

TEST_F(TokenFigures, ImportanceComparisonIsAPngOfSensibleSize) {
  build_token_importance_comparison(*cap_, *bundle_, opt_)
      .save(at("token_importance_comparison.png"));
  expect_png("token_importance_comparison.png");
}

TEST_F(TokenFigures, MagnitudeDistributionsIsAPngOfSensibleSize) {
  build_token_magnitude_distributions(*cap_, *bundle_, opt_)
      .save(at("token_magnitude_distributions.png"));
  expect_png("token_magnitude_distributions.png");
}

TEST_F(TokenFigures, MagnitudesByPositionIsAPngOfSensibleSize) {
  build_token_magnitudes(*cap_, *bundle_, opt_).save(at("token_magnitudes.png"));
  expect_png("token_magnitudes.png");
}

TEST_F(TokenFigures, KeyValueScatterIsAPngOfSensibleSize) {
  build_token_key_value_scatter(*cap_, *bundle_, opt_).save(at("token_key_value_scatter.png"));
  expect_png("token_key_value_scatter.png");
}

TEST_F(TokenFigures, GenerationIsAPngOfSensibleSize) {
  ASSERT_EQ(trace_->steps.size(), 12u);
  build_generation(*cap_, *bundle_, *trace_, opt_).save(at("generation.png"));
  expect_png("generation.png");
}

TEST_F(TokenFigures, GenerationWithoutAttentionStillDrawsTheCacheGrowth) {
  capture::GenerationTrace t = *trace_;
  for (auto& s : t.steps) s.attention.clear();
  const Bundle b = build_bundle(*cap_, opt_, special_ids(*model_, *cap_), &t);
  EXPECT_FALSE(b.generation_attention.complete());
  build_generation(*cap_, b, t, opt_).save(at("generation_no_attention.png"));
  const Png p = read_png_header(dir_ / "generation_no_attention.png");
  EXPECT_TRUE(p.ok);
  EXPECT_GE(p.width, 600u);
  build_generation(*cap_, *bundle_, *trace_, opt_).save(at("generation.png"));
  EXPECT_LT(p.height, read_png_header(dir_ / "generation.png").height);  // no heatmap rows
}

TEST_F(TokenFigures, SvgAndPdfExtensionsWriteThoseFormats) {
  build_token_key_value_scatter(*cap_, *bundle_, opt_).save(at("scatter.svg"));
  build_token_magnitudes(*cap_, *bundle_, opt_).save(at("magnitudes.pdf"));
  std::ifstream svg(dir_ / "scatter.svg");
  std::string head(400, '\0');
  svg.read(head.data(), 400);
  EXPECT_NE(head.find("<svg"), std::string::npos);
  std::ifstream pdf(dir_ / "magnitudes.pdf", std::ios::binary);
  std::string magic(5, '\0');
  pdf.read(magic.data(), 5);
  EXPECT_EQ(magic, "%PDF-");
}

TEST_F(TokenFigures, FailedDrawIntoMissingFolderLeavesNoFile) {
  const fs::path missing = dir_ / "no_such_folder";
  EXPECT_THROW(
      build_low_importance_tokens(*cap_, *bundle_, opt_).save((missing / "x.png").string()),
      BadInput);
  EXPECT_THROW(build_generation(*cap_, *bundle_, *trace_, opt_).save((missing / "g.png").string()),
               BadInput);
  EXPECT_FALSE(fs::exists(missing));
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(TokenFigures, GenerationWithAnEmptyTraceIsBadInput) {
  capture::GenerationTrace empty;
  EXPECT_THROW(build_generation(*cap_, *bundle_, empty, opt_).save(at("g.png")), BadInput);
  EXPECT_FALSE(fs::exists(dir_ / "g.png"));
}

TEST(Labels, VisibleTextShowsWhitespaceAndNamesStrayBytes) {
  EXPECT_EQ(visible_text(" the\n"), "␣the↵");
  EXPECT_EQ(visible_text(""), "∅");
  EXPECT_EQ(visible_text("a\tb"), "a→b");
  EXPECT_EQ(visible_text("x\xC3"), "x<0xC3>");  // a cut two-byte sequence, as token labels do
  EXPECT_EQ(visible_text("é\x01"), "é<0x01>");
}

TEST(Labels, TokenLabelsFallBackToPositions) {
  capture::Capture c;
  c.token_ids = {1, 2};
  EXPECT_EQ(token_label(c, 1), "#1");
  c.token_strings = {"␣the", ""};
  EXPECT_EQ(token_with_position(c, 0), "'␣the' @0");
  EXPECT_EQ(token_label(c, 1), "∅");
  EXPECT_EQ(token_labels(c), (std::vector<std::string>{"␣the", "∅"}));
  c.token_strings.clear();
  EXPECT_EQ(token_labels(c), (std::vector<std::string>{"#0", "#1"}));
}

}  // namespace
}  // namespace kvscope::report
