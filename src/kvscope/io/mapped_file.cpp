#include "kvscope/io/mapped_file.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "kvscope/error.hpp"
#include "kvscope/io/regular_file.hpp"

namespace kvscope::io {

MappedFile::MappedFile(const std::string& path) : path_(path) {
  // Opened without blocking and checked with fstat on the same descriptor, so a FIFO or a
  // device named as a model is refused instead of hanging the open or the map.
  const RegularFile file(path);
  size_ = file.size();
  if (size_ > 0) {
    void* p = ::mmap(nullptr, static_cast<size_t>(size_), PROT_READ, MAP_PRIVATE, file.fd(), 0);
    if (p == MAP_FAILED)
      throw IoError(fmt::format("{}: cannot map: {}", path, std::strerror(errno)));
    data_ = static_cast<const std::byte*>(p);
  }
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<std::byte*>(data_), static_cast<size_t>(size_));
}

MappedFile::MappedFile(MappedFile&& o) noexcept
    : path_(std::move(o.path_)),
      data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    if (data_) ::munmap(const_cast<std::byte*>(data_), static_cast<size_t>(size_));
    path_ = std::move(o.path_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

}  // namespace kvscope::io
