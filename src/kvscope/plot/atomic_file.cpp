#include "kvscope/plot/atomic_file.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kvscope/error.hpp"

namespace kvscope::plot::detail {

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  std::vector<char> name(path_.begin(), path_.end());
  for (char c : std::string(".tmp.XXXXXX")) name.push_back(c);
  name.push_back('\0');
  int fd = ::mkstemp(name.data());
  if (fd < 0) {
    throw BadInput(path_ + ": cannot write (" + std::strerror(errno) + ")");
  }
  temp_ = name.data();
  ::fchmod(fd, 0644);  // mkstemp's 0600 would hide figures from other users
  file_ = ::fdopen(fd, "wb");
  if (!file_) {
    int err = errno;
    ::close(fd);
    ::unlink(temp_.c_str());
    throw IoError(path_ + ": cannot write (" + std::strerror(err) + ")");
  }
}

AtomicFile::~AtomicFile() {
  if (file_) std::fclose(file_);
  if (!committed_ && !temp_.empty()) ::unlink(temp_.c_str());
}

bool AtomicFile::write(const void* data, size_t n) {
  if (failed_ || !file_) return false;
  if (n > 0 && std::fwrite(data, 1, n, file_) != n) failed_ = true;
  return !failed_;
}

void AtomicFile::commit() {
  int err = 0;
  if (failed_) err = errno ? errno : EIO;
  if (std::fflush(file_) != 0 && !err) err = errno;
  if (std::fclose(file_) != 0 && !err) err = errno;
  file_ = nullptr;
  if (err) throw IoError(path_ + ": write failed (" + std::strerror(err) + ")");
  if (::rename(temp_.c_str(), path_.c_str()) != 0) {
    throw IoError(path_ + ": cannot rename temporary file into place (" + std::strerror(errno) +
                  ")");
  }
  committed_ = true;
}

}  // namespace kvscope::plot::detail
