// MappedFile: a read-only memory map of a whole file (RAII). Model files are mapped, never
// read into memory whole.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace kvscope::io {

class MappedFile {
 public:
  MappedFile() = default;
  // Throws BadInput if the path does not exist or is not a regular file (io/regular_file.hpp),
  // IoError if it cannot be mapped.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return data_; }
  int64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const std::byte* data_ = nullptr;
  int64_t size_ = 0;
};

}  // namespace kvscope::io
