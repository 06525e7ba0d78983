// metrics.json, the CSV tables, the summary and the figure guide: hand-computed values for a
// two-token capture, and numpy's values (tests/fixtures/analysis/synthetic.json) for the
// synthetic capture the analysis tests use.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "analysis_fixture.hpp"
#include "kvscope/error.hpp"
#include "kvscope/report/figures.hpp"
#include "kvscope/report/guide.hpp"
#include "kvscope/report/metrics.hpp"

namespace kvscope::report {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// L=1, H=1, KH=1, S=2, D=2. Keys [[3, 4], [0, 1]], values [[1, 0], [0, 2]]; attention
// [[1, 0], [0.5, 0.5]].
capture::Capture tiny_capture() {
  capture::Capture c;
  c.model_name = "tiny";
  c.arch = "gpt2";
  c.prompt = "Hi,";
  c.token_ids = {17, 11};
  c.token_strings = {"Hi", ","};
  c.n_layer = 1;
  c.n_head = 1;
  c.n_kv_head = 1;
  c.head_dim = 2;
  c.d_model = 2;
  capture::LayerCapture l;
  l.k = Tensor({1, 2, 2});
  l.k.data = {3, 4, 0, 1};
  l.k_pre_rope = l.k;
  l.v = Tensor({1, 2, 2});
  l.v.data = {1, 0, 0, 2};
  Tensor pattern({1, 2, 2});
  pattern.data = {1, 0, 0.5f, 0.5f};
  capture::set_exact_attention(l, std::move(pattern));
  c.layers.push_back(l);
  return c;
}

std::string read(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

class MetricsTiny : public ::testing::Test {
 protected:
  void SetUp() override {
    cap = tiny_capture();
    opt.tokens_listed = 1;
    b = build_bundle(cap, opt, {});
    j = metrics_json(cap, b, opt, nullptr);
  }
  capture::Capture cap;
  ReportOptions opt;
  Bundle b;
  json j;
};

TEST_F(MetricsTiny, HasEveryTopLevelSection) {
  for (const char* key :
       {"schema", "units", "model", "prompt", "tokens", "options", "sparsity_rule", "layer_stats",
        "distribution", "pca", "head_specialization", "quantization", "token_magnitudes",
        "importance", "ranking", "categories", "cache"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_FALSE(j.contains("generation"));  // no trace
  EXPECT_EQ(j["model"]["seq_len"], 2);
  EXPECT_EQ(j["tokens"][1]["text"], ",");
  EXPECT_EQ(j["tokens"][1]["category"], "punctuation");
  EXPECT_EQ(j["tokens"][0]["category"], "word_start");
}

TEST_F(MetricsTiny, LayerStatsMatchHandComputedValues) {
  const json& k = j["layer_stats"]["layers"][0]["key"];
  EXPECT_DOUBLE_EQ(k["mean"].get<double>(), 2.0);
  EXPECT_NEAR(k["std"].get<double>(), std::sqrt(2.5), 1e-12);
  EXPECT_DOUBLE_EQ(k["max_abs"].get<double>(), 4.0);
  EXPECT_DOUBLE_EQ(k["sparsity"].get<double>(), 0.25);  // one of four entries below 0.01 * 4
  EXPECT_DOUBLE_EQ(j["layer_stats"]["layers"][0]["value"]["sparsity"].get<double>(), 0.5);
  // Pearson r of [3, 4, 0, 1] and [1, 0, 0, 2]: -1 / sqrt(10 * 2.75).
  EXPECT_NEAR(j["layer_stats"]["layers"][0]["kv_correlation"].get<double>(), -1.0 / std::sqrt(27.5),
              1e-12);
}

TEST_F(MetricsTiny, TokenMagnitudesAndImportanceAreNormsOfTheVectors) {
  EXPECT_NEAR(j["token_magnitudes"]["key"][0].get<double>(), 5.0, 1e-12);
  EXPECT_NEAR(j["token_magnitudes"]["key"][1].get<double>(), 1.0, 1e-12);
  EXPECT_NEAR(j["token_magnitudes"]["value"][1].get<double>(), 2.0, 1e-12);
  EXPECT_EQ(j["importance"]["measure"], "key_value_norm");
  EXPECT_NEAR(j["importance"]["scores"][0].get<double>(), 6.0, 1e-12);
  EXPECT_NEAR(j["importance"]["scores"][1].get<double>(), 3.0, 1e-12);
  EXPECT_EQ(j["ranking"]["lowest"][0]["position"], 1);
  EXPECT_EQ(j["ranking"]["highest"][0]["text"], "Hi");
  EXPECT_FALSE(j["importance"]["definition"].get<std::string>().empty());
}

TEST_F(MetricsTiny, HeadSpecializationMatchesHandComputedAttention) {
  const json& h = j["head_specialization"];
  EXPECT_NEAR(h["entropy_nats"][0].get<double>(), std::log(2.0) / 2, 1e-7);
  EXPECT_NEAR(h["mean_distance_tokens"][0].get<double>(), 0.25, 1e-7);
  EXPECT_NEAR(h["sink_share"][0].get<double>(), 0.75, 1e-7);
}

TEST_F(MetricsTiny, PerTensorTwoBitErrorMatchesHandComputation) {
  // Keys [3, 4, 0, 1] on the 2-bit grid {0, 4/3, 8/3, 4}: 3 -> 8/3 and 1 -> 4/3, each off by 1/3.
  bool found = false;
  for (const json& c : j["quantization"]["curves"]) {
    if (c["grouping"] != "per_tensor" || c["bits"] != 2) continue;
    found = true;
    EXPECT_NEAR(c["key"]["relative_mse"][0].get<double>(), (2.0 / 9.0) / 26.0, 1e-12);
    EXPECT_NEAR(c["key"]["max_abs_error"][0].get<double>(), 1.0 / 3.0, 1e-12);
  }
  EXPECT_TRUE(found);
}

TEST_F(MetricsTiny, CacheBytesCountKeysAndValuesOfEveryLayer) {
  EXPECT_EQ(j["cache"]["fp32_bytes"], 2 * 1 * 1 * 2 * 2 * 4);
  EXPECT_EQ(j["cache"]["fp16_bytes"], 16);
  EXPECT_EQ(j["cache"]["per_token_fp32_bytes"], 16);
}

TEST_F(MetricsTiny, CategoriesListRulesAndStopWords) {
  const json& c = j["categories"];
  EXPECT_EQ(c["rules"].size(), 7u);
  EXPECT_FALSE(c["stop_words"].empty());
  EXPECT_EQ(c["groups"].size(), 7u);
  EXPECT_EQ(c["groups"][3]["category"], "punctuation");
  EXPECT_EQ(c["groups"][3]["count"], 1);
}

TEST_F(MetricsTiny, GenerationSectionFollowsTheTrace) {
  capture::GenerationTrace t;
  t.prompt_ids = cap.token_ids;
  capture::GenerationStep s;
  s.token = 5;
  s.text = " ok";
  s.cache_len = 3;
  s.cache_bytes = 48;
  s.attention = {0.5f, 0.25f, 0.25f};  // [L=1, H=1, 3]
  t.steps.push_back(s);
  t.stop_reason = "max_new_tokens";
  t.bytes_per_token = 16;
  Bundle bt = build_bundle(cap, opt, {}, &t);
  const json g = metrics_json(cap, bt, opt, &t)["generation"];
  EXPECT_EQ(g["cache_bytes_per_step"], json::array({32, 48}));
  EXPECT_EQ(g["steps"][0]["cache_len_tokens"], 3);
  EXPECT_NEAR(g["steps"][0]["attention_mean_over_layers_heads"][0].get<double>(), 0.5, 1e-7);
}

TEST_F(MetricsTiny, FilesAreWrittenAndParse) {
  const fs::path dir =
      fs::temp_directory_path() / ("kvscope_metrics_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  write_metrics_json(cap, b, opt, nullptr, (dir / "metrics.json").string());
  const json back = json::parse(read(dir / "metrics.json"));
  EXPECT_EQ(back["model"]["name"], "tiny");
  write_csv_tables(cap, b, opt, nullptr, dir.string());
  const std::string tokens = read(dir / "tokens.csv");
  EXPECT_NE(tokens.find("1,11,\",\",punctuation,1,2,3\n"), std::string::npos) << tokens;
  EXPECT_TRUE(fs::exists(dir / "layer_stats.csv"));
  EXPECT_TRUE(fs::exists(dir / "quantization_error.csv"));
  EXPECT_TRUE(fs::exists(dir / "head_specialization.csv"));
  EXPECT_FALSE(fs::exists(dir / "generation.csv"));
  EXPECT_THROW(write_metrics_json(cap, b, opt, nullptr, (dir / "missing" / "m.json").string()),
               BadInput);
  EXPECT_THROW(write_csv_tables(cap, b, opt, nullptr, (dir / "missing").string()), BadInput);
  EXPECT_FALSE(fs::exists(dir / "missing"));
  fs::remove_all(dir);
}

TEST_F(MetricsTiny, SummaryNamesModelAndHeadlines) {
  const std::string s = summary_text(cap, b, nullptr);
  EXPECT_NE(s.find("tiny"), std::string::npos);
  EXPECT_NE(s.find("32 bytes"), std::string::npos);
  EXPECT_NE(s.find("Hi @0"), std::string::npos);
  EXPECT_NE(s.find("4-bit per-token"), std::string::npos);
}

TEST(CsvField, QuotesOnlyWhenNeeded) {
  EXPECT_EQ(csv_field("abc"), "abc");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("\n"), "\"\n\"");
}

TEST(MetricsSynthetic, AgreesWithNumpyOnTheSyntheticCapture) {
  using analysis::testing::expected;
  const capture::Capture cap = analysis::testing::synthetic_capture();
  ReportOptions opt;
  const Bundle b = build_bundle(cap, opt, {});
  const json j = metrics_json(cap, b, opt, nullptr);
  const json& want = expected();
  for (int l = 0; l < cap.n_layer; ++l)
    for (const char* part : {"key", "value"})
      for (const char* stat : {"sparsity", "mean", "std", "mean_abs", "max_abs", "kurtosis"})
        analysis::testing::expect_close(j["layer_stats"]["layers"][l][part][stat].get<double>(),
                                        want["layer_stats"][l][part][stat].get<double>(),
                                        std::string(part) + "." + stat);
  analysis::testing::expect_all_close(j["token_magnitudes"]["key"].get<std::vector<double>>(),
                                      want["tokens"]["key_magnitude"], "key magnitude");
  analysis::testing::expect_all_close(j["token_magnitudes"]["value"].get<std::vector<double>>(),
                                      want["tokens"]["value_magnitude"], "value magnitude");
  analysis::testing::expect_all_close(
      j["head_specialization"]["entropy_nats"].get<std::vector<double>>(), want["heads"]["entropy"],
      "entropy");
}

TEST(FigureGuide, HasOneSectionPerFigureFile) {
  ReportOptions opt;
  const std::string md = figure_guide_markdown(opt, false);
  int sections = 0;
  for (const FigureSpec& f : figure_table()) {
    if (f.needs == Needs::generation) continue;
    EXPECT_NE(md.find(std::string("## ") + f.stem + ".png: " + f.guide.title), std::string::npos)
        << f.stem;
    ++sections;
  }
  EXPECT_EQ(sections, 13);  // the seed README's eleven and two of kvscope's own
  EXPECT_EQ(md.find("## generation"), std::string::npos);
  EXPECT_EQ(md.find('{'), std::string::npos);  // every template field filled in
  EXPECT_EQ(figure_guide_markdown(opt, false, false).find("## attention_patterns"),
            std::string::npos);
  opt.ext = "svg";
  const std::string with_gen = figure_guide_markdown(opt, true);
  EXPECT_NE(with_gen.find("## generation.svg"), std::string::npos);
  EXPECT_NE(with_gen.find("0.01 times the largest magnitude"),
            std::string::npos);  // the sparsity rule in use
}

}  // namespace
}  // namespace kvscope::report
