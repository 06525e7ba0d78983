// The cache figures (figures_cache*.cpp) drawn from real captures of the tiny fixture models,
// and the helper decisions behind them (figure_helpers.hpp).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "kvscope/capture/loaded_model.hpp"
#include "kvscope/capture/run.hpp"
#include "kvscope/error.hpp"
#include "kvscope/report/bundle.hpp"
#include "kvscope/report/figure_helpers.hpp"
#include "kvscope/report/figures.hpp"

namespace fs = std::filesystem;
namespace fh = kvscope::report::figure_helpers;
using kvscope::capture::Capture;
using kvscope::report::Bundle;
using kvscope::report::ReportOptions;

namespace {

// Short enough for the smallest fixture context (64 tokens for gpt2-a).
const char* kPrompt = "Article: A car crash occurred on Highway 15 today, involving three cars.";

struct Captured {
  Capture cap;
  Bundle bundle;
  ReportOptions opt;
};

const Captured& captured(const std::string& model) {
  static std::map<std::string, Captured> cache;
  auto it = cache.find(model);
  if (it != cache.end()) return it->second;
  auto m = kvscope::capture::load_model(std::string(KVSCOPE_FIXTURES_DIR) + "/models/" + model, {});
  kvscope::capture::CaptureOptions co;
  co.attention = true;
  Captured c;
  c.cap = kvscope::capture::capture_prompt(m, kPrompt, co);
  c.bundle = kvscope::report::build_bundle(c.cap, c.opt, {});
  return cache.emplace(model, std::move(c)).first->second;
}

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("kvscope_report_cache_" + std::to_string(::getpid()) + "_" +
                                        std::to_string(reinterpret_cast<uintptr_t>(this)));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string read_bytes(const fs::path& p, size_t n) {
  std::ifstream f(p, std::ios::binary);
  std::string s(n, '\0');
  f.read(s.data(), static_cast<std::streamsize>(n));
  s.resize(static_cast<size_t>(f.gcount()));
  return s;
}

uint32_t be32(const std::string& s, size_t at) {
  return (static_cast<uint32_t>(static_cast<unsigned char>(s[at])) << 24) |
         (static_cast<uint32_t>(static_cast<unsigned char>(s[at + 1])) << 16) |
         (static_cast<uint32_t>(static_cast<unsigned char>(s[at + 2])) << 8) |
         static_cast<uint32_t>(static_cast<unsigned char>(s[at + 3]));
}

void expect_png(const fs::path& p) {
  ASSERT_TRUE(fs::exists(p)) << p;
  const std::string head = read_bytes(p, 24);
  ASSERT_EQ(head.size(), 24u) << p;
  EXPECT_EQ(head.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << p;
  EXPECT_EQ(head.substr(12, 4), "IHDR") << p;
  const uint32_t w = be32(head, 16), h = be32(head, 20);
  EXPECT_GE(w, 600u) << p;
  EXPECT_LE(w, 6000u) << p;
  EXPECT_GE(h, 400u) << p;
  EXPECT_LE(h, 6000u) << p;
}

class ReportCacheFigures : public ::testing::TestWithParam<std::string> {};

TEST_P(ReportCacheFigures, EveryFigureIsAPngOfSensibleSize) {
  const Captured& c = captured(GetParam());
  TempDir dir;
  for (const kvscope::report::FigureSpec& f : kvscope::report::figure_table()) {
    if (f.needs == kvscope::report::Needs::generation) continue;  // report_tokens_test
    const fs::path p = dir.path / (std::string(f.stem) + ".png");
    f.build({c.cap, c.bundle, c.opt, nullptr}).save(p.string());
    expect_png(p);
  }
}

INSTANTIATE_TEST_SUITE_P(Models, ReportCacheFigures,
                         ::testing::Values("gpt2-a", "llama-gqa", "qwen2"));

TEST(ReportCache, SvgAndPdfExtensionsWriteThoseFormats) {
  const Captured& c = captured("llama-gqa");
  TempDir dir;
  kvscope::report::build_attention_patterns(c.cap, c.bundle, c.opt)
      .save((dir.path / "a.svg").string());
  kvscope::report::build_kv_cache_details(c.cap, c.bundle, c.opt)
      .save((dir.path / "d.pdf").string());
  const std::string svg = read_bytes(dir.path / "a.svg", 400);
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_EQ(read_bytes(dir.path / "d.pdf", 5), "%PDF-");
}

TEST(ReportCache, FailedDrawIntoUnwritableFolderLeavesNoFile) {
  const Captured& c = captured("gpt2-a");
  TempDir dir;
  // A regular file where the folder should be: no user, root included, can create below it.
  const fs::path blocker = dir.path / "not_a_folder";
  std::ofstream(blocker) << "x";
  const fs::path p = blocker / "kv_cache_layers.png";
  EXPECT_THROW(kvscope::report::build_kv_cache_layers(c.cap, c.bundle, c.opt).save(p.string()),
               kvscope::BadInput);
  EXPECT_FALSE(fs::exists(p));
  // Nothing half-written left beside the blocker either.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path)) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(ReportCache, AttentionPatternsWithoutAttentionIsBadInput) {
  const Captured& c = captured("gpt2-a");
  Capture no_att = c.cap;
  for (auto& l : no_att.layers) {
    l.pattern = {};
    l.pattern_heads.clear();
    l.attn = {};
  }
  TempDir dir;
  const fs::path p = dir.path / "attention_patterns.png";
  EXPECT_THROW(kvscope::report::build_attention_patterns(no_att, c.bundle, c.opt).save(p.string()),
               kvscope::BadInput);
  EXPECT_FALSE(fs::exists(p));
}

TEST(ReportCache, HeadSpecializationDrawsWithoutAttention) {
  const Captured& c = captured("llama-gqa");
  Capture no_att = c.cap;
  for (auto& l : no_att.layers) {
    l.pattern = {};
    l.pattern_heads.clear();
    l.attn = {};
  }
  Bundle b = kvscope::report::build_bundle(no_att, c.opt, {});
  ASSERT_FALSE(b.heads.has_attention);
  TempDir dir;
  const fs::path p = dir.path / "head_specialization.png";
  kvscope::report::build_head_specialization(no_att, b, c.opt).save(p.string());
  expect_png(p);
}

TEST(ReportCache, RowNormAndChosenLayersAndHeadsDraw) {
  const Captured& c = captured("gpt2-a");
  ReportOptions opt = c.opt;
  opt.attention_norm = "row";
  opt.attn_layers = {1};
  opt.attn_heads = {0, 2};
  Bundle b = kvscope::report::build_bundle(c.cap, opt, {});
  TempDir dir;
  const fs::path p = dir.path / "attention_patterns.png";
  kvscope::report::build_attention_patterns(c.cap, b, opt).save(p.string());
  expect_png(p);
}

// ---- helpers ----

TEST(FigureHelpers, EvenlySpacedSubsetKeepsEndsAndSpacesEvenly) {
  std::vector<int> all;
  for (int i = 0; i < 30; ++i) all.push_back(i);
  EXPECT_EQ(fh::evenly_spaced_subset(all, 12),
            (std::vector<int>{0, 3, 5, 8, 11, 13, 16, 18, 21, 24, 26, 29}));
  EXPECT_EQ(fh::evenly_spaced_subset(all, 2), (std::vector<int>{0, 29}));
  EXPECT_EQ(fh::evenly_spaced_subset(all, 1), (std::vector<int>{0}));
  EXPECT_EQ(fh::evenly_spaced_subset({4, 7, 9}, 12), (std::vector<int>{4, 7, 9}));
  EXPECT_THROW(fh::evenly_spaced_subset(all, 0), kvscope::BadInput);
}

TEST(FigureHelpers, MaxPoolTakesTileMaximaAndIgnoresNaN) {
  const float n = std::numeric_limits<float>::quiet_NaN();
  // 3 x 5, block 2 -> 2 x 3 with partial last tiles.
  std::vector<float> x = {1, 2, 3, 4, 5,   //
                          6, n, 0, 9, -1,  //
                          n, n, 7, 1, 2};
  kvscope::Tensor p = fh::max_pool(x, 3, 5, 2);
  ASSERT_EQ(p.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(p.at(0, 0), 6);
  EXPECT_EQ(p.at(0, 1), 9);
  EXPECT_EQ(p.at(0, 2), 5);
  EXPECT_TRUE(std::isnan(p.at(1, 0)));
  EXPECT_EQ(p.at(1, 1), 7);
  EXPECT_EQ(p.at(1, 2), 2);
  kvscope::Tensor same = fh::max_pool(x, 3, 5, 1);
  EXPECT_EQ(same.at(1, 3), 9);
  EXPECT_THROW(fh::max_pool(x, 4, 5, 2), kvscope::BadInput);
  EXPECT_THROW(fh::max_pool(x, 3, 5, 0), kvscope::BadInput);
}

TEST(FigureHelpers, PoolBlockIsSmallestThatFits) {
  EXPECT_EQ(fh::pool_block(512, 126), 5);  // 103 cells
  EXPECT_EQ(fh::pool_block(512, 128), 4);
  EXPECT_EQ(fh::pool_block(75, 180), 1);
  EXPECT_EQ(fh::pool_block(10, 0), 10);
}

TEST(FigureHelpers, RobustHalfrangeUsesPercentilesThenFallsBack) {
  EXPECT_DOUBLE_EQ(fh::robust_halfrange(-2.5, 1.5, 40), 2.5);
  EXPECT_DOUBLE_EQ(fh::robust_halfrange(NAN, NAN, 40), 40);
  EXPECT_DOUBLE_EQ(fh::robust_halfrange(0, 0, 0), 1);
}

}  // namespace
