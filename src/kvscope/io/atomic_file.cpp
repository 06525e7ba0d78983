#include "kvscope/io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "kvscope/error.hpp"

namespace kvscope::io {

namespace {

std::atomic<unsigned> g_temp_counter{0};

std::string folder_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string temp_name_for(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  const std::string prefix = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  return fmt::format("{}.{}.tmp.{}.{}", prefix, base, static_cast<long>(::getpid()),
                     g_temp_counter.fetch_add(1));
}

void check_destination(const std::string& path) {
  if (path.empty() || path.back() == '/')
    throw BadInput(fmt::format("'{}': not a file path", path));
  const std::string dir = folder_of(path);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0)
    throw BadInput(fmt::format("{}: cannot write: folder {}: {}", path, dir, std::strerror(errno)));
  if (!S_ISDIR(st.st_mode))
    throw BadInput(fmt::format("{}: cannot write: {} is not a folder", path, dir));
}

void rename_into_place(const std::string& temp, const std::string& path) {
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(temp.c_str());
    if (e == EISDIR || e == EACCES || e == EPERM || e == ENOTDIR)
      throw BadInput(fmt::format("{}: cannot write: {}", path, std::strerror(e)));
    throw IoError(
        fmt::format("{}: cannot rename temporary file into place: {}", path, std::strerror(e)));
  }
}

}  // namespace

void write_file_atomic(const std::string& path, std::string_view bytes) {
  check_destination(path);
  const std::string temp = temp_name_for(path);
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int e = errno;
    throw BadInput(fmt::format("{}: cannot write: {}", path, std::strerror(e)));
  }
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      ::unlink(temp.c_str());
      throw IoError(fmt::format("{}: write failed: {}", path, std::strerror(e)));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::close(fd) != 0) {
    const int e = errno;
    ::unlink(temp.c_str());
    throw IoError(fmt::format("{}: write failed: {}", path, std::strerror(e)));
  }
  rename_into_place(temp, path);
}

AtomicFile::AtomicFile(std::string final_path) : final_path_(std::move(final_path)) {
  check_destination(final_path_);
  temp_path_ = temp_name_for(final_path_);
}

AtomicFile::~AtomicFile() {
  if (!committed_) ::unlink(temp_path_.c_str());
}

void AtomicFile::commit() {
  if (committed_) return;
  struct stat st {};
  if (::stat(temp_path_.c_str(), &st) != 0)
    throw BadInput(
        fmt::format("{}: nothing was written to the temporary file {}", final_path_, temp_path_));
  committed_ = true;  // the temp name is gone either way once rename_into_place returns or throws
  rename_into_place(temp_path_, final_path_);
}

}  // namespace kvscope::io
