#include "kvscope/plot/color.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kvscope/error.hpp"

namespace kvscope::plot {
namespace {

// Largest channel difference, in 8-bit steps.
int distance(const Color& a, const Color& b) {
  return static_cast<int>(std::lround(
      255 * std::max({std::fabs(a.r - b.r), std::fabs(a.g - b.g), std::fabs(a.b - b.b)})));
}

TEST(PlotColormap, EndpointsMatchPublishedValues) {
  EXPECT_EQ(Colormap::viridis()(0).to_hex(), "#440154");
  EXPECT_EQ(Colormap::viridis()(1).to_hex(), "#fde725");
  EXPECT_EQ(Colormap::magma()(0).to_hex(), "#000004");
  EXPECT_EQ(Colormap::magma()(1).to_hex(), "#fcfdbf");
  EXPECT_LE(distance(Colormap::coolwarm()(0), Color::hex("#3b4cc0")), 1);
  EXPECT_LE(distance(Colormap::coolwarm()(1), Color::hex("#b40426")), 1);
}

TEST(PlotColormap, CoolwarmCentreIsLightGrey) {
  Color c = Colormap::coolwarm()(0.5);
  EXPECT_LE(distance(c, Color::hex("#dddddd")), 2);
  EXPECT_TRUE(Colormap::coolwarm().diverging());
  EXPECT_FALSE(Colormap::viridis().diverging());
}

TEST(PlotColormap, MidpointsInterpolate) {
  // matplotlib: viridis(0.5) = #21918c, magma(0.5) = #b73779 (sample 128 of 256 is near).
  EXPECT_LE(distance(Colormap::viridis()(0.5), Color::hex("#21918c")), 1);
  EXPECT_LE(distance(Colormap::magma()(0.5), Color::hex("#b73779")), 1);
}

TEST(PlotColormap, ClampsAndMakesNanTransparent) {
  EXPECT_EQ(Colormap::viridis()(-3), Colormap::viridis()(0));
  EXPECT_EQ(Colormap::viridis()(7), Colormap::viridis()(1));
  EXPECT_EQ(Colormap::viridis()(NAN).a, 0);
}

TEST(PlotColormap, ByNameRejectsUnknown) {
  EXPECT_EQ(&Colormap::by_name("magma"), &Colormap::magma());
  try {
    Colormap::by_name("jet");
    FAIL();
  } catch (const BadInput& e) {
    EXPECT_NE(std::string(e.what()).find("jet"), std::string::npos);
  }
}

TEST(PlotColor, HexRoundTripAndRejectsGarbage) {
  Color c = Color::hex("#1f77b4");
  EXPECT_NEAR(c.r, 0x1f / 255.0, 1e-12);
  EXPECT_EQ(c.to_hex(), "#1f77b4");
  EXPECT_NEAR(Color::hex("#ff000080").a, 128 / 255.0, 1e-12);
  EXPECT_THROW(Color::hex("1f77b4"), BadInput);
  EXPECT_THROW(Color::hex("#1f77bz"), BadInput);
}

TEST(PlotPalette, TenDistinctColoursThenWraps) {
  for (int i = 0; i < 10; ++i) {
    for (int j = i + 1; j < 10; ++j) EXPECT_GT(distance(palette(i), palette(j)), 20) << i << j;
  }
  EXPECT_EQ(palette(10), palette(0));
  EXPECT_EQ(palette(0).to_hex(), "#1f77b4");
}

TEST(PlotNorm, LinearAutoRangeFromData) {
  std::vector<float> d = {2, 4, NAN, 6};
  Norm n = Norm::linear().resolve(d);
  EXPECT_EQ(n.vmin, 2);
  EXPECT_EQ(n.vmax, 6);
  EXPECT_DOUBLE_EQ(n(3), 0.25);
  EXPECT_DOUBLE_EQ(n(100), 1.0);
  EXPECT_TRUE(std::isnan(n(NAN)));
}

TEST(PlotNorm, PowerLiftsSmallValues) {
  std::vector<float> d = {0, 1};
  Norm n = Norm::power(0.5).resolve(d);
  EXPECT_DOUBLE_EQ(n(0.25), 0.5);
  EXPECT_DOUBLE_EQ(n.inverse(0.5), 0.25);
  EXPECT_THROW(Norm::power(0).resolve(d), BadInput);
}

TEST(PlotNorm, LogMapsDecadesEvenly) {
  std::vector<float> d = {0, 1, 10, 100};  // zero is ignored for the range
  Norm n = Norm::log().resolve(d);
  EXPECT_EQ(n.vmin, 1);
  EXPECT_EQ(n.vmax, 100);
  EXPECT_NEAR(n(10), 0.5, 1e-12);
  EXPECT_TRUE(std::isnan(n(0)));
  EXPECT_THROW(Norm::log(-1, 10).resolve(d), BadInput);
}

TEST(PlotNorm, SymmetricPutsZeroInTheMiddle) {
  std::vector<float> d = {-1, 3};
  Norm n = Norm::symmetric().resolve(d);
  EXPECT_EQ(n.vmin, -3);
  EXPECT_EQ(n.vmax, 3);
  EXPECT_DOUBLE_EQ(n(0), 0.5);
  EXPECT_DOUBLE_EQ(n(-3), 0.0);
}

TEST(PlotNorm, ConstantDataStillGetsARange) {
  std::vector<float> d = {5, 5, 5};
  Norm n = Norm::linear().resolve(d);
  EXPECT_LT(n.vmin, 5);
  EXPECT_GT(n.vmax, 5);
  EXPECT_DOUBLE_EQ(n(5), 0.5);
}

}  // namespace
}  // namespace kvscope::plot
