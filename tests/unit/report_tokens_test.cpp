// The token figures drawn from real captures of the tiny fixture models, and the helpers that
// pick which tokens get named.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "kvscope/capture/generate.hpp"
#include "kvscope/capture/run.hpp"
#include "kvscope/error.hpp"
#include "kvscope/report/figures.hpp"
#include "kvscope/report/token_selection.hpp"

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

TEST_F(TokenFigures, LowImportanceTokensIsAPngOfSensibleSize) {
  draw_low_importance_tokens(*cap_, *bundle_, opt_, at("low_importance_tokens.png"));
  expect_png("low_importance_tokens.png");
}

TEST_F(TokenFigures, ImportanceComparisonIsAPngOfSensibleSize) {
  draw_token_importance_comparison(*cap_, *bundle_, opt_, at("token_importance_comparison.png"));
  expect_png("token_importance_comparison.png");
}

TEST_F(TokenFigures, MagnitudeDistributionsIsAPngOfSensibleSize) {
  draw_token_magnitude_distributions(*cap_, *bundle_, opt_,
                                     at("token_magnitude_distributions.png"));
  expect_png("token_magnitude_distributions.png");
}

TEST_F(TokenFigures, MagnitudesByPositionIsAPngOfSensibleSize) {
  draw_token_magnitudes(*cap_, *bundle_, opt_, at("token_magnitudes.png"));
  expect_png("token_magnitudes.png");
}

TEST_F(TokenFigures, KeyValueScatterIsAPngOfSensibleSize) {
  draw_token_key_value_scatter(*cap_, *bundle_, opt_, at("token_key_value_scatter.png"));
  expect_png("token_key_value_scatter.png");
}

TEST_F(TokenFigures, GenerationIsAPngOfSensibleSize) {
  ASSERT_EQ(trace_->steps.size(), 12u);
  draw_generation(*cap_, *bundle_, *trace_, opt_, at("generation.png"));
  expect_png("generation.png");
}

TEST_F(TokenFigures, GenerationWithoutAttentionStillDrawsTheCacheGrowth) {
  capture::GenerationTrace t = *trace_;
  for (auto& s : t.steps) s.attention.clear();
  draw_generation(*cap_, *bundle_, t, opt_, at("generation_no_attention.png"));
  const Png p = read_png_header(dir_ / "generation_no_attention.png");
  EXPECT_TRUE(p.ok);
  EXPECT_GE(p.width, 600u);
  draw_generation(*cap_, *bundle_, *trace_, opt_, at("generation.png"));
  EXPECT_LT(p.height, read_png_header(dir_ / "generation.png").height);  // no heatmap rows
}

TEST_F(TokenFigures, SvgAndPdfExtensionsWriteThoseFormats) {
  draw_token_key_value_scatter(*cap_, *bundle_, opt_, at("scatter.svg"));
  draw_token_magnitudes(*cap_, *bundle_, opt_, at("magnitudes.pdf"));
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
  EXPECT_THROW(draw_low_importance_tokens(*cap_, *bundle_, opt_, (missing / "x.png").string()),
               BadInput);
  EXPECT_THROW(draw_generation(*cap_, *bundle_, *trace_, opt_, (missing / "g.png").string()),
               BadInput);
  EXPECT_FALSE(fs::exists(missing));
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(TokenFigures, GenerationWithAnEmptyTraceIsBadInput) {
  capture::GenerationTrace empty;
  EXPECT_THROW(draw_generation(*cap_, *bundle_, empty, opt_, at("g.png")), BadInput);
  EXPECT_FALSE(fs::exists(dir_ / "g.png"));
}

TEST(TokenSelection, LargestTokensAreOrderedAndSkipNonFinite) {
  const std::vector<double> x = {1.0, 5.0, NAN, 5.0, 3.0, INFINITY};
  EXPECT_EQ(largest_tokens(x, 3), (std::vector<int>{1, 3, 4}));  // tie: earlier first
  EXPECT_EQ(largest_tokens(x, 10), (std::vector<int>{1, 3, 4, 0}));
  EXPECT_TRUE(largest_tokens(x, 0).empty());
}

TEST(TokenSelection, OutliersAreFarFromTheMedianInRobustUnits) {
  // Bulk around (1, 1) with MAD 0.1 on both axes; token 5 is 20 MADs out in x, token 6 is 5
  // MADs out in y, token 7 only 2 out (below the 3 threshold).
  const std::vector<double> x = {0.9, 1.0, 1.1, 1.0, 0.9, 3.0, 1.0, 1.2};
  const std::vector<double> y = {1.0, 0.9, 1.1, 1.0, 1.1, 1.0, 1.5, 1.0};
  EXPECT_EQ(outlier_tokens(x, y, 10), (std::vector<int>{5, 6}));
  EXPECT_EQ(outlier_tokens(x, y, 1), (std::vector<int>{5}));
  EXPECT_THROW(outlier_tokens(x, std::vector<double>{1.0}, 3), BadInput);
}

TEST(TokenSelection, ConstantDataHasNoOutliers) {
  const std::vector<double> x(6, 2.0), y(6, 3.0);
  EXPECT_TRUE(outlier_tokens(x, y, 5).empty());
}

TEST(TokenSelection, VisibleTextShowsWhitespaceAndRepairsBadUtf8) {
  EXPECT_EQ(visible_text(" the\n"), "␣the↵");
  EXPECT_EQ(visible_text(""), "∅");
  EXPECT_EQ(visible_text("a\tb"), "a→b");
  EXPECT_EQ(visible_text("x\xC3"), "x\xEF\xBF\xBD");  // a cut two-byte sequence
  EXPECT_EQ(visible_text("é"), "é");
}

TEST(TokenSelection, ValidUtf8KeepsGoodTextAndLineBreaks) {
  EXPECT_EQ(valid_utf8("a\nb é"), "a\nb é");
  EXPECT_EQ(valid_utf8("\xFF\xE2\x96"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(TokenSelection, TokenLabelsFallBackToPositions) {
  capture::Capture c;
  c.token_ids = {1, 2};
  EXPECT_EQ(token_label(c, 1), "#1");
  c.token_strings = {"␣the", ""};
  EXPECT_EQ(token_with_position(c, 0), "'␣the' @0");
  EXPECT_EQ(token_label(c, 1), "∅");
}

}  // namespace
}  // namespace kvscope::report
