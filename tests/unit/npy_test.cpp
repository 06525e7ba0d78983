#include "kvscope/io/npy.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "io_test_util.hpp"
#include "kvscope/error.hpp"

namespace kvscope::io {
namespace {

using kvscope::testing::read_bytes;
using kvscope::testing::TempDir;

std::string fixture(const std::string& name) {
  return read_bytes(std::string(KVSCOPE_FIXTURES_DIR) + "/io/" + name);
}

// The fixtures were written by numpy.save (tests/fixtures/io/make_fixtures.py).
TEST(Npy, MatrixBytesEqualNumpySave) {
  Tensor t({2, 3});
  for (int i = 0; i < 6; ++i) t.data[i] = 0.5f * static_cast<float>(i) - 1.0f;
  const std::string want = fixture("npy_2x3.npy");
  ASSERT_EQ(want.size(), 128u + 24u);
  EXPECT_EQ(npy_bytes(t), want);
}

TEST(Npy, VectorBytesEqualNumpySaveWithTrailingComma) {
  Tensor t({5});
  t.data = {1.5f, -2.0f, 3.25f, 0.0f, 1e-3f};
  const std::string bytes = npy_bytes(t);
  EXPECT_NE(bytes.find("'shape': (5,), }"), std::string::npos);
  EXPECT_EQ(bytes, fixture("npy_vec5.npy"));
}

TEST(Npy, ScalarBytesEqualNumpySave) {
  Tensor t(std::vector<int64_t>{});
  t.data = {7.0f};
  EXPECT_EQ(npy_bytes(t), fixture("npy_scalar.npy"));
}

TEST(Npy, HeaderIsPaddedTo64BytesForLongShapes) {
  Tensor t({1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2});
  const std::string bytes = npy_bytes(t);
  const size_t header_len = static_cast<unsigned char>(bytes[8]) |
                            (static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8);
  EXPECT_EQ((10 + header_len) % 64, 0u);
  EXPECT_EQ(bytes[10 + header_len - 1], '\n');
  EXPECT_EQ(bytes.size(), 10 + header_len + 2 * 4);
}

TEST(Npy, RejectsDataThatDisagreesWithShape) {
  Tensor t({2, 2});
  t.data.resize(3);
  EXPECT_THROW(npy_bytes(t), BadInput);
}

TEST(Npy, WriteNpyWritesTheBytesAndLeavesNoTemporary) {
  TempDir dir;
  Tensor t({2, 3});
  for (int i = 0; i < 6; ++i) t.data[i] = 0.5f * static_cast<float>(i) - 1.0f;
  write_npy(dir / "k.npy", t);
  EXPECT_EQ(read_bytes(dir / "k.npy"), fixture("npy_2x3.npy"));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                          std::filesystem::directory_iterator()),
            1);
}

}  // namespace
}  // namespace kvscope::io
