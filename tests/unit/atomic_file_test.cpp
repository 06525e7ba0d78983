#include "kvscope/atomic_file.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>

#include "io_test_util.hpp"
#include "kvscope/error.hpp"

namespace kvscope {
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

TEST(AtomicFile, WriteAppendsAndCommitMovesIntoPlace) {
  TempDir dir;
  AtomicFile f(dir / "fig.png");
  EXPECT_TRUE(f.write("PN", 2));
  EXPECT_TRUE(f.write("G", 1));
  EXPECT_FALSE(std::filesystem::exists(dir / "fig.png"));
  f.commit();
  EXPECT_EQ(read_bytes(dir / "fig.png"), "PNG");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"fig.png"});
}

TEST(AtomicFile, TemporaryIsHiddenAndNamesTheFileAndThisProcess) {
  TempDir dir;
  AtomicFile f(dir / "fig.png");
  const std::string name = std::filesystem::path(f.temp_path()).filename().string();
  EXPECT_THAT(name, ::testing::StartsWith(".fig.png.tmp." + std::to_string(::getpid()) + "."));
  const std::optional<TempName> t = parse_temp_name(name);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->final_name, "fig.png");
  EXPECT_EQ(t->pid, static_cast<long>(::getpid()));
}

TEST(AtomicFile, ParseTempNameRejectsOtherNames) {
  EXPECT_FALSE(parse_temp_name("fig.png"));
  EXPECT_FALSE(parse_temp_name("fig.png.tmp.123.4"));   // not hidden
  EXPECT_FALSE(parse_temp_name(".fig.png.tmp.12x.4"));  // pid not a number
  EXPECT_FALSE(parse_temp_name(".fig.png.tmp.123"));    // no counter
  EXPECT_FALSE(parse_temp_name("fig.png.tmp.AbC123"));  // mkstemp style
  ASSERT_TRUE(parse_temp_name(temp_name("a.tmp.b", 77, 3)));
  EXPECT_EQ(parse_temp_name(temp_name("a.tmp.b", 77, 3))->final_name, "a.tmp.b");
}

// A pid that belonged to a process that has ended.
long dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return static_cast<long>(child);
}

TEST(AtomicFile, StaleTemporariesOfTheSameFileAreRemovedOthersKept) {
  TempDir dir;
  const long dead = dead_pid();
  write_bytes(dir / temp_name("fig.png", dead, 0), "stale");
  write_bytes(dir / temp_name("other.png", dead, 0), "stale, another file's");
  write_bytes(dir / temp_name("fig.png", static_cast<long>(::getppid()), 0), "alive");
  AtomicFile f(dir / "fig.png");
  EXPECT_FALSE(std::filesystem::exists(dir / temp_name("fig.png", dead, 0)));
  EXPECT_TRUE(std::filesystem::exists(dir / temp_name("other.png", dead, 0)));
  EXPECT_TRUE(std::filesystem::exists(dir / temp_name("fig.png", ::getppid(), 0)));
  EXPECT_EQ(remove_stale_temporaries(dir.path()), 1);  // other.png's
}

TEST(AtomicFile, TemporaryOfThisPidNotHeldByThisProcessIsStale) {
  TempDir dir;
  // An earlier process that had our pid (pids repeat in containers).
  write_bytes(dir / temp_name("x.bin", ::getpid(), 999999), "old");
  AtomicFile held(dir / "y.bin");
  held.write("y", 1);
  EXPECT_EQ(remove_stale_temporaries(dir.path()), 1);
  held.commit();  // its own temporary was left alone
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"y.bin"});
}

TEST(AtomicFile, FailedWriteIsReportedByCommitAndLeavesNothing) {
  TempDir dir;
  AtomicFile f(dir / "fig.png");
  std::filesystem::remove(dir.path());  // the temporary cannot be created any more
  EXPECT_FALSE(f.write("x", 1));
  try {
    f.commit();
    FAIL() << "no exception";
  } catch (const BadInput& e) {
    EXPECT_THAT(e.what(), HasSubstr(dir / "fig.png: cannot write: No such file or directory"));
  }
}

TEST(AtomicFile, AWriteTheSystemFailsIsIoErrorAndLeavesNothing) {
  TempDir dir;
  // In a child process limited to 4 KiB files, which fails writes as a full disk would.
  const pid_t child = ::fork();
  if (child == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{4096, 4096};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    int code = 1;
    try {
      AtomicFile f(dir / "big.bin");
      const std::string block(1 << 20, 'x');
      f.write(block.data(), block.size());
      f.commit();
    } catch (const IoError& e) {
      code =
          std::string(e.what()).find("big.bin: cannot write: File too large") != std::string::npos
              ? 0
              : 2;
    } catch (...) {
      code = 3;
    }
    ::_exit(code);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

// ---- AtomicFolder

bool report_name(const std::string& name) {
  return name == "a.txt" || name == "b.txt" || name == "c.txt";
}

TEST(AtomicFolder, CreatesNothingBeforeCreate) {
  TempDir dir;
  AtomicFolder out(dir / "deep/er/out", report_name, "out_dir");
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(AtomicFolder, NewFolderAppearsWholeOnCommit) {
  TempDir dir;
  AtomicFolder out(dir / "deep/out", report_name, "out_dir");
  out.create();
  write_file_atomic(out.path_of("a.txt"), "A");
  EXPECT_FALSE(std::filesystem::exists(dir / "deep/out"));
  out.commit();
  EXPECT_EQ(names_in(dir / "deep/out"), std::vector<std::string>{"a.txt"});
  EXPECT_EQ(names_in(dir / "deep"), std::vector<std::string>{"out"});
}

TEST(AtomicFolder, SecondRunReplacesTheFirstWhole) {
  TempDir dir;
  {
    AtomicFolder out(dir / "out", report_name, "out_dir");
    out.create();
    write_file_atomic(out.path_of("a.txt"), "first");
    write_file_atomic(out.path_of("b.txt"), "first");
    out.commit();
  }
  AtomicFolder out(dir / "out", report_name, "out_dir");
  out.create();
  write_file_atomic(out.path_of("a.txt"), "second");
  out.commit();
  EXPECT_EQ(names_in(dir / "out"), std::vector<std::string>{"a.txt"});  // no b.txt from run 1
  EXPECT_EQ(read_bytes(dir / "out/a.txt"), "second");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"out"});
}

TEST(AtomicFolder, FailureKeepsThePreviousOutputAndLeavesNothingNew) {
  TempDir dir;
  std::filesystem::create_directory(dir / "out");
  write_bytes(dir / "out/a.txt", "previous");
  {
    AtomicFolder out(dir / "sub/out", report_name, "out_dir");
    out.create();
    write_file_atomic(out.path_of("a.txt"), "new");
  }  // never committed, as after an exception
  {
    AtomicFolder out(dir / "out", report_name, "out_dir");
    out.create();
    write_file_atomic(out.path_of("a.txt"), "new");
  }
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"out"});  // sub/ removed again
  EXPECT_EQ(read_bytes(dir / "out/a.txt"), "previous");
}

TEST(AtomicFolder, TwoRunsCommittingInTurnNeverMix) {
  TempDir dir;
  AtomicFolder one(dir / "out", report_name, "out_dir");
  AtomicFolder two(dir / "out", report_name, "out_dir");
  one.create();
  two.create();
  write_file_atomic(one.path_of("a.txt"), "one");
  write_file_atomic(one.path_of("b.txt"), "one");
  write_file_atomic(two.path_of("c.txt"), "two");
  one.commit();
  two.commit();
  EXPECT_EQ(names_in(dir / "out"), std::vector<std::string>{"c.txt"});
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"out"});
}

TEST(AtomicFolder, RefusesAFolderHoldingFilesItDidNotWrite) {
  TempDir dir;
  std::filesystem::create_directory(dir / "out");
  write_bytes(dir / "out/a.txt", "ours");
  write_bytes(dir / "out/thesis.tex", "theirs");
  try {
    AtomicFolder out(dir / "out", report_name, "out_dir");
    FAIL() << "no exception";
  } catch (const BadInput& e) {
    EXPECT_THAT(e.what(), HasSubstr("out_dir " + dir / "out"));
    EXPECT_THAT(e.what(), HasSubstr("'thesis.tex', which kvscope did not write"));
  }
  EXPECT_EQ(read_bytes(dir / "out/thesis.tex"), "theirs");
}

TEST(AtomicFolder, AcceptsDebrisOfEarlierWritersInsideTheOldOutput) {
  TempDir dir;
  std::filesystem::create_directory(dir / "out");
  write_bytes(dir / "out/a.txt.tmp.Xy12Ab", "old plot temporary");
  write_bytes(dir / ("out/" + temp_name("b.txt", dead_pid(), 1)), "old temporary");
  AtomicFolder out(dir / "out", report_name, "out_dir");
  out.create();
  write_file_atomic(out.path_of("a.txt"), "new");
  out.commit();
  EXPECT_EQ(names_in(dir / "out"), std::vector<std::string>{"a.txt"});
}

TEST(AtomicFolder, AFileInTheWayIsBadInput) {
  TempDir dir;
  write_bytes(dir / "out", "x");
  try {
    AtomicFolder out(dir / "out", report_name, "out_dir");
    FAIL() << "no exception";
  } catch (const BadInput& e) {
    EXPECT_THAT(e.what(), HasSubstr("exists and is not a folder"));
  }
}

TEST(AtomicFolder, StaleTemporaryFoldersBesideTheTargetAreRemoved) {
  TempDir dir;
  const std::string stale = dir / temp_name("out", dead_pid(), 4);
  std::filesystem::create_directory(stale);
  write_bytes(stale + "/a.txt", "interrupted run");
  AtomicFolder out(dir / "out", report_name, "out_dir");
  out.create();
  EXPECT_FALSE(std::filesystem::exists(stale));
  out.commit();
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"out"});
}

TEST(RemoveAllTemporaries, RemovesWhatTheProcessHoldsAndRefusesNewOnes) {
  TempDir dir;
  // In a child process: the registry closes for good.
  const pid_t child = ::fork();
  if (child == 0) {
    AtomicFolder out(dir / "out", report_name, "out_dir");
    out.create();
    write_file_atomic(out.path_of("a.txt"), "x");
    AtomicFile f(dir / "f.bin");
    f.write("y", 1);
    remove_all_temporaries();
    bool refused = false;
    try {
      AtomicFile g(dir / "g.bin");
    } catch (const IoError&) {
      refused = true;
    }
    ::_exit(refused && std::filesystem::is_empty(dir.path()) ? 0 : 1);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

}  // namespace
}  // namespace kvscope
