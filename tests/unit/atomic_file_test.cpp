#include "kvscope/io/atomic_file.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "io_test_util.hpp"
#include "kvscope/error.hpp"

namespace kvscope::io {
namespace {

using kvscope::testing::read_bytes;
using kvscope::testing::TempDir;
using kvscope::testing::write_bytes;
using ::testing::HasSubstr;

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(WriteFileAtomic, WritesBytesAndLeavesNoTemporary) {
  TempDir dir;
  const std::string bytes("a\0b\nc", 5);
  write_file_atomic(dir / "out.bin", bytes);
  EXPECT_EQ(read_bytes(dir / "out.bin"), bytes);
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"out.bin"});
}

TEST(WriteFileAtomic, ReplacesAnExistingFileWhole) {
  TempDir dir;
  write_bytes(dir / "out.txt", "a much longer old content");
  write_file_atomic(dir / "out.txt", "new");
  EXPECT_EQ(read_bytes(dir / "out.txt"), "new");
}

TEST(WriteFileAtomic, MissingFolderIsBadInputNamingPathAndOsError) {
  TempDir dir;
  const std::string path = dir / "no/such/out.txt";
  try {
    write_file_atomic(path, "x");
    FAIL() << "no exception";
  } catch (const BadInput& e) {
    EXPECT_THAT(e.what(), HasSubstr(path));
    EXPECT_THAT(e.what(), HasSubstr("No such file or directory"));
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(WriteFileAtomic, FailedRenameOntoAFolderLeavesNoTemporary) {
  TempDir dir;
  std::filesystem::create_directory(dir / "taken");
  std::filesystem::create_directory(dir / "taken/inside");  // non-empty: rename must fail
  EXPECT_THROW(write_file_atomic(dir / "taken", "x"), Error);
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"taken"});
}

TEST(WriteFileAtomic, ParentThatIsAFileIsBadInput) {
  TempDir dir;
  write_bytes(dir / "plain.txt", "x");
  try {
    write_file_atomic(dir / "plain.txt/out.txt", "y");
    FAIL() << "no exception";
  } catch (const BadInput& e) {
    EXPECT_THAT(e.what(), HasSubstr(dir / "plain.txt/out.txt"));
    EXPECT_THAT(e.what(), HasSubstr("plain.txt is not a folder"));
  }
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"plain.txt"});
}

TEST(WriteFileAtomic, UnwritableFolderIsBadInput) {
  if (::geteuid() == 0) GTEST_SKIP() << "root can write anywhere";
  TempDir dir;
  std::filesystem::create_directory(dir / "ro");
  std::filesystem::permissions(
      dir / "ro", std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  EXPECT_THROW(write_file_atomic(dir / "ro/out.txt", "x"), BadInput);
  EXPECT_TRUE(std::filesystem::is_empty(dir / "ro"));
  std::filesystem::permissions(dir / "ro", std::filesystem::perms::owner_all);
}

TEST(AtomicFile, CommitMovesTemporaryIntoPlace) {
  TempDir dir;
  AtomicFile f(dir / "fig.png");
  EXPECT_EQ(std::filesystem::path(f.temp_path()).parent_path(), std::filesystem::path(dir.path()));
  EXPECT_NE(f.temp_path(), dir / "fig.png");
  write_bytes(f.temp_path(), "PNG");
  EXPECT_FALSE(std::filesystem::exists(dir / "fig.png"));
  f.commit();
  EXPECT_EQ(read_bytes(dir / "fig.png"), "PNG");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"fig.png"});
}

TEST(AtomicFile, UncommittedWriteLeavesNoFileBehind) {
  TempDir dir;
  {
    AtomicFile f(dir / "fig.png");
    write_bytes(f.temp_path(), "half a PNG");
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(AtomicFile, TwoWritersGetDifferentTemporaries) {
  TempDir dir;
  AtomicFile a(dir / "x");
  AtomicFile b(dir / "x");
  EXPECT_NE(a.temp_path(), b.temp_path());
}

TEST(AtomicFile, CommitWithNothingWrittenIsBadInput) {
  TempDir dir;
  AtomicFile f(dir / "fig.png");
  EXPECT_THROW(f.commit(), BadInput);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(AtomicFile, MissingFolderIsBadInput) {
  TempDir dir;
  EXPECT_THROW(AtomicFile(dir / "missing/fig.png"), BadInput);
}

}  // namespace
}  // namespace kvscope::io
