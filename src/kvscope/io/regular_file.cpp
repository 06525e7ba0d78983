#include "kvscope/io/regular_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "kvscope/error.hpp"

namespace kvscope::io {

namespace {

const char* kind_of(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a plain file";
}

}  // namespace

std::string byte_count_text(double b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB", "PB"};
  int u = 0;
  while (b >= 1000.0 && u < 5) {
    b /= 1000.0;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} B", b) : fmt::format("{:.1f} {}", b, units[u]);
}

RegularFile::RegularFile(const std::string& path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd_ < 0) {
    const int e = errno;
    if (e == ENOENT || e == ENOTDIR) throw BadInput(fmt::format("{}: no such file", path));
    throw BadInput(fmt::format("{}: cannot open: {}", path, std::strerror(e)));
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int e = errno;
    ::close(fd_);
    throw IoError(fmt::format("{}: cannot read its status: {}", path, std::strerror(e)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    if (S_ISDIR(st.st_mode)) throw BadInput(fmt::format("{}: is a folder, not a file", path));
    throw BadInput(fmt::format("{}: not a regular file ({})", path, kind_of(st.st_mode)));
  }
  // Reads of a regular file never block; clear the flag so that they behave as usual.
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
  size_ = static_cast<int64_t>(st.st_size);
}

RegularFile::~RegularFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::string read_regular_file(const std::string& path, int64_t max_bytes, std::string_view what) {
  RegularFile f(path);
  const auto too_big = [&](int64_t size) {
    return BadInput(fmt::format("{}: {} is more than the {} a {} may have", path,
                                byte_count_text(static_cast<double>(size)),
                                byte_count_text(static_cast<double>(max_bytes)), what));
  };
  if (f.size() > max_bytes) throw too_big(f.size());
  std::string out(static_cast<size_t>(f.size()), '\0');
  size_t got = 0;
  while (true) {
    if (got == out.size()) {
      // The file may have grown since fstat: read on, within the limit.
      if (static_cast<int64_t>(out.size()) > max_bytes) throw too_big(static_cast<int64_t>(got));
      out.resize(std::min<size_t>(out.size() + 65536, static_cast<size_t>(max_bytes) + 1));
    }
    const ssize_t n = ::read(f.fd(), out.data() + got, out.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw IoError(fmt::format("{}: read failed: {}", path, std::strerror(errno)));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (static_cast<int64_t>(got) > max_bytes) throw too_big(static_cast<int64_t>(got));
  out.resize(got);
  return out;
}

}  // namespace kvscope::io
