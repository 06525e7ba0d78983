// Figures saved from several threads at once (each Figure on one thread, as the report does)
// come out byte for byte as when saved one after another.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "kvscope/plot/figure.hpp"

namespace kvscope::plot {
namespace {

namespace fs = std::filesystem;

// Text (titles, token labels with CJK and emoji, ticks), a heatmap with a colour bar, lines
// and a scatter: everything that goes through Pango, Cairo and the PNG encoder.
Figure busy_figure(int seed) {
  Figure fig(900, 600);
  fig.suptitle("Figure " + std::to_string(seed) + ": 注意 🙂 attention").grid(1, 2);
  const int n = 40 + seed;
  std::vector<float> m(static_cast<size_t>(n) * n);
  for (size_t i = 0; i < m.size(); ++i) m[i] = static_cast<float>((i * (seed + 7)) % 97) / 97;
  HeatmapStyle hs;
  hs.colorbar_label = "weight";
  for (int i = 0; i < n; ++i) hs.x_labels.push_back("tok" + std::to_string(i) + "_é");
  fig.axes(0, 0).heatmap(m, n, n, hs).title("heads").y_label("query");
  std::vector<double> x, y;
  for (int i = 0; i < 200; ++i) {
    x.push_back(i);
    y.push_back((i * (seed + 3)) % 23);
  }
  ScatterStyle ss;
  ss.values = x;
  fig.axes(0, 1).line(y).scatter(x, y, ss).title("values").x_label("position");
  return fig;
}

std::string read(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

TEST(PlotThreads, FiguresSavedConcurrentlyEqualThoseSavedOneByOne) {
  const fs::path dir =
      fs::temp_directory_path() / ("kvscope_plot_threads_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  constexpr int kThreads = 4, kPerThread = 3;
  for (int i = 0; i < kThreads * kPerThread; ++i)
    busy_figure(i).save((dir / ("serial" + std::to_string(i) + ".png")).string());

  prepare_fonts();
  std::vector<std::thread> pool;
  std::vector<std::string> errors(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    pool.emplace_back([&, t] {
      try {
        for (int k = 0; k < kPerThread; ++k) {
          const int i = t * kPerThread + k;
          busy_figure(i).save((dir / ("parallel" + std::to_string(i) + ".png")).string());
          busy_figure(i).save((dir / ("parallel" + std::to_string(i) + ".svg")).string());
        }
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(t)] = e.what();
      }
    });
  }
  for (auto& t : pool) t.join();
  for (const std::string& e : errors) EXPECT_EQ(e, "");
  for (int i = 0; i < kThreads * kPerThread; ++i) {
    const std::string serial = read(dir / ("serial" + std::to_string(i) + ".png"));
    ASSERT_GT(serial.size(), 1000u);
    EXPECT_EQ(read(dir / ("parallel" + std::to_string(i) + ".png")), serial) << "figure " << i;
    EXPECT_NE(read(dir / ("parallel" + std::to_string(i) + ".svg")).find("<svg"),
              std::string::npos);
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kvscope::plot
