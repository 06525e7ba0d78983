#include "kvscope/plot/figure.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "kvscope/error.hpp"

namespace kvscope::plot {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> tokens(int n) {
  std::vector<std::string> t;
  for (int i = 0; i < n; ++i) t.push_back("␣token" + std::to_string(i));
  return t;
}

Figure heatmap_figure(int n, double w, double h) {
  Figure fig(w, h);
  fig.suptitle("Attention, layer 0");
  std::vector<float> m(static_cast<size_t>(n) * n);
  for (size_t i = 0; i < m.size(); ++i) m[i] = static_cast<float>(i % 7) / 7.0f;
  HeatmapStyle style;
  style.colorbar_label = "weight";
  style.x_labels = tokens(n);
  style.y_labels = tokens(n);
  fig.axes().heatmap(m, n, n, style).title("head 3").x_label("key").y_label("query");
  return fig;
}

std::vector<const TextBox*> role(const Layout& l, TextRole r, int axes = 0) {
  std::vector<const TextBox*> out;
  for (const auto& t : l.texts) {
    if (t.role == r && (r == TextRole::suptitle || t.axes == axes)) out.push_back(&t);
  }
  return out;
}

void expect_no_overlap(const std::vector<const TextBox*>& boxes) {
  for (size_t i = 0; i < boxes.size(); ++i) {
    for (size_t j = i + 1; j < boxes.size(); ++j) {
      EXPECT_FALSE(boxes[i]->box.overlaps(boxes[j]->box))
          << "'" << boxes[i]->text << "' overlaps '" << boxes[j]->text << "'";
    }
  }
}

TEST(PlotLayout, EverythingInsideTheCanvas) {
  Figure fig = heatmap_figure(40, 640, 520);
  Layout l = fig.layout();
  Rect canvas{0, 0, 640, 520};
  ASSERT_EQ(l.axes.size(), 1u);
  EXPECT_TRUE(canvas.contains(l.axes[0].plot));
  ASSERT_TRUE(l.axes[0].colorbar);
  EXPECT_TRUE(canvas.contains(*l.axes[0].colorbar));
  for (const auto& t : l.texts) {
    EXPECT_TRUE(canvas.contains(t.box, 0.01)) << t.text << " at " << t.box.x << "," << t.box.y;
    EXPECT_TRUE(l.axes[0].slot.contains(t.box, 0.01) || t.role == TextRole::suptitle) << t.text;
  }
  EXPECT_EQ(role(l, TextRole::suptitle).size(), 1u);
  EXPECT_EQ(role(l, TextRole::title).size(), 1u);
  EXPECT_EQ(role(l, TextRole::colorbar_label).size(), 1u);
}

TEST(PlotLayout, ManyTokenLabelsAreThinnedAndDoNotOverlap) {
  Figure fig = heatmap_figure(300, 640, 520);
  Layout l = fig.layout();
  EXPECT_GT(l.axes[0].x_tick_every, 1);
  EXPECT_GT(l.axes[0].y_tick_every, 1);
  auto xt = role(l, TextRole::x_tick), yt = role(l, TextRole::y_tick);
  EXPECT_GE(xt.size(), 3u);
  EXPECT_LE(xt.size(), 300u / static_cast<size_t>(l.axes[0].x_tick_every) + 1);
  EXPECT_EQ(xt[0]->text, "␣token0");
  EXPECT_EQ(xt[1]->text, "␣token" + std::to_string(l.axes[0].x_tick_every));
  expect_no_overlap(xt);
  expect_no_overlap(yt);
  // Crowded x labels turn vertical.
  EXPECT_EQ(l.axes[0].x_tick_rotation, 90);
}

TEST(PlotLayout, FewShortLabelsStayHorizontalAndAllShow) {
  Figure fig(640, 400);
  fig.axes().bar({"a", "b", "c"}, {{{1, 2, 3}, "s"}});
  Layout l = fig.layout();
  EXPECT_EQ(l.axes[0].x_tick_every, 1);
  EXPECT_EQ(l.axes[0].x_tick_rotation, 0);
  auto xt = role(l, TextRole::x_tick);
  ASSERT_EQ(xt.size(), 3u);
  EXPECT_EQ(xt[2]->text, "c");
}

TEST(PlotLayout, ColorbarBesideHeatmapWithoutOverlap) {
  Figure fig = heatmap_figure(64, 700, 500);
  Layout l = fig.layout();
  const AxesBox& a = l.axes[0];
  ASSERT_TRUE(a.colorbar);
  EXPECT_FALSE(a.colorbar->overlaps(a.plot));
  EXPECT_GT(a.colorbar->x, a.plot.right());
  auto plot_side = role(l, TextRole::y_tick);
  for (const TextBox* t : role(l, TextRole::colorbar_tick)) {
    EXPECT_FALSE(t->box.overlaps(a.plot)) << t->text;
    EXPECT_FALSE(t->box.overlaps(*a.colorbar)) << t->text;
  }
  EXPECT_GE(role(l, TextRole::colorbar_tick).size(), 2u);
}

TEST(PlotLayout, TextItemsOfAGridDoNotOverlap) {
  Figure fig(900, 600);
  fig.suptitle("Grid").grid(2, 3);
  for (int r = 0; r < 2; ++r) {
    for (int c = 0; c < 3; ++c) {
      std::vector<double> y = {1, 10 + 1000.0 * r, 3e4 * c};
      fig.axes(r, c)
          .line(y)
          .title("axes " + std::to_string(r * 3 + c))
          .x_label("step")
          .y_label("value");
    }
  }
  Layout l = fig.layout();
  ASSERT_EQ(l.axes.size(), 6u);
  std::vector<const TextBox*> all;
  for (const auto& t : l.texts) all.push_back(&t);
  expect_no_overlap(all);
  for (size_t i = 0; i < l.axes.size(); ++i) {
    for (size_t j = i + 1; j < l.axes.size(); ++j) {
      EXPECT_FALSE(l.axes[i].plot.overlaps(l.axes[j].plot));
    }
  }
  // Axes of one column line up.
  EXPECT_NEAR(l.axes[0].plot.x, l.axes[3].plot.x, 1e-6);
  EXPECT_NEAR(l.axes[1].plot.right(), l.axes[4].plot.right(), 1e-6);
}

TEST(PlotLayout, LongTitleIsEllipsizedToFit) {
  Figure fig(200, 200);
  fig.axes().line(std::vector<double>{1, 2}).title(std::string(300, 'W'));
  Layout l = fig.layout();
  auto t = role(l, TextRole::title);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_LE(t[0]->box.w, 200);
  EXPECT_TRUE((Rect{0, 0, 200, 200}).contains(t[0]->box, 0.01));
}

TEST(PlotLayout, ScatterLabelsAvoidEachOther) {
  Figure fig(400, 400);
  std::vector<double> x, y;
  std::vector<std::string> labels;
  for (int i = 0; i < 30; ++i) {
    x.push_back(i % 6);
    y.push_back(i / 6);
    labels.push_back("point" + std::to_string(i));
  }
  ScatterStyle style;
  style.labels = labels;
  fig.axes().scatter(x, y, style);
  Layout l = fig.layout();
  auto pl = role(l, TextRole::point_label);
  EXPECT_GE(pl.size(), 10u);
  expect_no_overlap(pl);
  for (auto* t : pl) EXPECT_TRUE(l.axes[0].plot.contains(t->box, 0.01));
}

TEST(PlotLayout, LegendAvoidsTheData) {
  Figure fig(500, 400);
  std::vector<double> x = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  std::vector<double> y = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0};  // fills upper left / lower right
  LineStyle style;
  style.label = "falling";
  fig.axes().line(x, y, style).legend();
  Layout l = fig.layout();
  ASSERT_TRUE(l.axes[0].legend);
  const Rect& box = *l.axes[0].legend;
  const Rect& p = l.axes[0].plot;
  EXPECT_GT(box.x + box.w / 2, p.x + p.w / 2);  // right half
  EXPECT_LT(box.y + box.h / 2, p.y + p.h / 2);  // upper half
  EXPECT_EQ(role(l, TextRole::legend).size(), 1u);
}

class PlotSave : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kvscope_plot_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string read(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
  }
  fs::path dir_;
};

TEST_F(PlotSave, PngHasMagicAndRequestedSize) {
  Figure fig = Figure::inches(3.2, 2.4, 150);
  fig.axes().line(std::vector<double>{1, 3, 2}).title("t");
  fig.save((dir_ / "a.png").string());
  std::string b = read(dir_ / "a.png");
  ASSERT_GT(b.size(), 24u);
  EXPECT_EQ(b.substr(0, 8), "\x89PNG\r\n\x1a\n");
  auto be32 = [&](size_t o) {
    return (uint32_t(uint8_t(b[o])) << 24) | (uint32_t(uint8_t(b[o + 1])) << 16) |
           (uint32_t(uint8_t(b[o + 2])) << 8) | uint32_t(uint8_t(b[o + 3]));
  };
  EXPECT_EQ(be32(16), 480u);  // 3.2 in at 150 dpi
  EXPECT_EQ(be32(20), 360u);
  fig.save((dir_ / "b.PNG").string(), 0.5);
  std::string c = read(dir_ / "b.PNG");
  EXPECT_EQ(c.substr(0, 8), "\x89PNG\r\n\x1a\n");
  b = c;
  EXPECT_EQ(be32(16), 160u);
}

TEST_F(PlotSave, SvgAndPdfHaveTheirMagic) {
  Figure fig = heatmap_figure(8, 300, 240);
  fig.save((dir_ / "a.svg").string());
  fig.save((dir_ / "a.pdf").string());
  std::string svg = read(dir_ / "a.svg");
  EXPECT_EQ(svg.substr(0, 5), "<?xml");
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_EQ(read(dir_ / "a.pdf").substr(0, 5), "%PDF-");
}

TEST_F(PlotSave, UnknownExtensionIsBadInputAndWritesNothing) {
  Figure fig(100, 100);
  std::string p = (dir_ / "fig.bmp").string();
  try {
    fig.save(p);
    FAIL();
  } catch (const BadInput& e) {
    EXPECT_NE(std::string(e.what()).find(p), std::string::npos);
  }
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(PlotSave, UnwritablePathIsBadInputAndLeavesNoFile) {
  Figure fig(100, 100);
  std::string p = (dir_ / "missing" / "fig.png").string();
  try {
    fig.save(p);
    FAIL();
  } catch (const BadInput& e) {
    EXPECT_NE(std::string(e.what()).find(p), std::string::npos);
  }
  EXPECT_THROW(fig.save((dir_ / "missing" / "fig.pdf").string()), BadInput);
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(PlotSave, FailedSaveKeepsThePreviousFile) {
  Figure fig(100, 100);
  std::string p = (dir_ / "fig.png").string();
  fig.save(p);
  std::string before = read(p);
  EXPECT_THROW(fig.save(p, 1000), BadInput);  // 100000 px: too large
  EXPECT_EQ(read(p), before);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator{}), 1);
}

TEST(PlotFigure, RejectsAbsurdSizesAndCells) {
  EXPECT_THROW(Figure(0, 100), BadInput);
  EXPECT_THROW(Figure(100, NAN), BadInput);
  Figure fig(200, 200);
  fig.grid(2, 2);
  EXPECT_THROW(fig.axes(2, 0), BadInput);
  EXPECT_THROW(fig.axes(1, 1, 1, 2), BadInput);
  EXPECT_EQ(&fig.axes(1, 1), &fig.axes(1, 1));
  EXPECT_THROW(fig.axes_at(0.5, 0.5, 0.6, 0.1), BadInput);
}

TEST(PlotAxes, RejectsMismatchedData) {
  Axes ax;
  std::vector<double> a = {1, 2, 3}, b = {1, 2};
  EXPECT_THROW(ax.line(a, b), BadInput);
  std::vector<float> m(6);
  EXPECT_THROW(ax.heatmap(m, 2, 4), BadInput);
  HeatmapStyle one_label;
  one_label.x_labels = {"a"};
  EXPECT_THROW(ax.heatmap(m, 2, 3, one_label), BadInput);
  HistStyle no_bins;
  no_bins.bins = 0;
  EXPECT_THROW(ax.hist(a, no_bins), BadInput);
  HistStyle bad_edges;
  bad_edges.edges = {0, 2, 1};
  EXPECT_THROW(ax.hist(a, bad_edges), BadInput);
  EXPECT_THROW(ax.bar({"x", "y"}, {{{1}, "s"}}), BadInput);
}

TEST(PlotAxes, HistogramCountsLikeNumpy) {
  // numpy.histogram([0, 0.5, 1, 1, 2, nan], bins=2) -> counts [2, 3], edges [0, 1, 2]
  Axes ax;
  std::vector<double> d = {0, 0.5, 1, 1, 2, NAN};
  HistStyle two;
  two.bins = 2;
  ax.hist(d, two);
  const auto& p = std::get<PatchArtist>(ax.artists().at(0));
  ASSERT_EQ(p.boxes.size(), 2u);
  EXPECT_EQ(p.boxes[0].y1, 2);
  EXPECT_EQ(p.boxes[1].y1, 3);
  EXPECT_EQ(p.boxes[1].x1, 2);
}

TEST(PlotAxes, BoxplotStatisticsLikeNumpy) {
  // numpy.percentile([1..9, 100], [25, 50, 75]) = [3.25, 5.5, 7.75]; 100 is beyond 1.5 IQR.
  Axes ax;
  std::vector<std::vector<double>> g = {{1, 2, 3, 4, 5, 6, 7, 8, 9, 100}};
  ax.boxplot(g);
  const auto& b = std::get<BoxArtist>(ax.artists().at(0));
  ASSERT_EQ(b.groups.size(), 1u);
  EXPECT_DOUBLE_EQ(b.groups[0].q1, 3.25);
  EXPECT_DOUBLE_EQ(b.groups[0].median, 5.5);
  EXPECT_DOUBLE_EQ(b.groups[0].q3, 7.75);
  EXPECT_EQ(b.groups[0].whisker_hi, 9);
  EXPECT_EQ(b.groups[0].whisker_lo, 1);
  ASSERT_EQ(b.groups[0].fliers.size(), 1u);
  EXPECT_EQ(b.groups[0].fliers[0], 100);
}

TEST(PlotAxes, HeatmapPixelsFollowTheColormap) {
  Axes ax;
  std::vector<float> m = {0, 1, NAN, 0.5f};
  HeatmapStyle unit;
  unit.norm = Norm::linear(0, 1);
  ax.heatmap(m, 2, 2, unit);
  const auto& h = std::get<HeatmapArtist>(ax.artists().at(0));
  EXPECT_EQ(h.pixels[0], 0xff440154u);
  EXPECT_EQ(h.pixels[1], 0xfffde725u);
  EXPECT_EQ(h.pixels[2], 0u);  // NaN: transparent
}

}  // namespace
}  // namespace kvscope::plot
