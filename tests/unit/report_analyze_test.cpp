// report::analyze, the pipeline behind `kvscope analyze`, on a tiny fixture model.
#include "kvscope/report/analyze.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "io_test_util.hpp"
#include "kvscope/error.hpp"
#include "kvscope/report/figures.hpp"

namespace kvscope::report {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

capture::LoadedModel fixture() {
  return capture::load_model(std::string(KVSCOPE_FIXTURES_DIR) + "/models/llama-gqa", {});
}

TEST(Analyze, WritesEveryFileOfTheTableAndReportsStages) {
  kvscope::testing::TempDir dir;
  AnalyzeOptions o;
  o.prompt = "The cache keeps every key and value.";
  o.report.out_dir = dir / "out";
  o.generate = 3;
  std::vector<std::string> stages;
  int last_done = -1, last_total = -1;
  AnalyzeProgress p;
  p.stage = [&](const std::string& s) { stages.push_back(s); };
  p.file = [&](const std::string&, int done, int total) {
    last_done = done;
    last_total = total;
  };
  const AnalyzeResult r = analyze(o, fixture, p);
  ASSERT_TRUE(r.trace);
  EXPECT_EQ(r.trace->steps.size(), 3u);
  EXPECT_TRUE(r.cap.has_attention());  // "auto": a short prompt gets attention
  for (const FigureSpec& f : figure_table())
    EXPECT_TRUE(fs::exists(dir / ("out/" + std::string(f.stem) + ".png"))) << f.stem;
  EXPECT_TRUE(fs::exists(dir / "out/metrics.json"));
  EXPECT_TRUE(fs::exists(dir / "out/report.html"));
  EXPECT_EQ(r.files.size(), 14u + 1 + 5 + 1 + 1);  // figures, metrics.json, CSVs, guide, html
  for (const std::string& f : r.files) EXPECT_TRUE(fs::exists(f)) << f;
  EXPECT_EQ(stages.front(), "loading the model...");
  EXPECT_EQ(last_done, last_total);
  EXPECT_EQ(std::vector<std::string>{"out"}, [&] {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir.path()))
      names.push_back(e.path().filename().string());
    return names;
  }());
}

TEST(Analyze, OptionMessagesNameTheFieldAndCreateNothing) {
  kvscope::testing::TempDir dir;
  AnalyzeOptions o;
  o.prompt = "hello";
  o.report.out_dir = dir / "new/out";
  auto message = [&](const AnalyzeOptions& x) -> std::string {
    try {
      analyze(x, fixture);
    } catch (const BadInput& e) {
      return e.what();
    }
    return "no error";
  };
  AnalyzeOptions bad = o;
  bad.report.layer = 7;
  EXPECT_THAT(message(bad), HasSubstr("layer 7 is out of range"));
  bad = o;
  bad.attention = "sometimes";
  EXPECT_THAT(message(bad), HasSubstr("attention sometimes: expected auto, on or off"));
  bad = o;
  bad.generate = -2;
  EXPECT_THAT(message(bad), HasSubstr("generate -2 must not be negative"));
  bad = o;
  bad.attention = "off";
  bad.report.importance.measure = analysis::ImportanceMeasure::AttentionReceived;
  EXPECT_THAT(message(bad), HasSubstr("importance attention needs attention patterns"));
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(Analyze, ChecksTheOutputFolderBeforeLoading) {
  kvscope::testing::TempDir dir;
  kvscope::testing::write_bytes(dir / "a-file", "x");
  AnalyzeOptions o;
  o.prompt = "hello";
  o.report.out_dir = dir / "a-file";
  bool loaded = false;
  EXPECT_THROW(analyze(o,
                       [&] {
                         loaded = true;
                         return fixture();
                       }),
               BadInput);
  EXPECT_FALSE(loaded);
}

}  // namespace
}  // namespace kvscope::report
