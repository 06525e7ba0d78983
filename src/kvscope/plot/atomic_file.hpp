// Internal to plot/: a file that appears under its final name only when complete. Bytes go
// to a temporary file in the same folder, which commit() renames over the target; without
// commit() the destructor deletes it, so a failed save leaves nothing behind.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>

namespace kvscope::plot::detail {

class AtomicFile {
 public:
  // Throws BadInput naming the path when its folder cannot take a new file.
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // False once any write has failed (the error is reported by commit()).
  bool write(const void* data, size_t n);
  // Flush, close and rename; throws IoError naming the path on failure.
  void commit();

 private:
  std::string path_, temp_;
  std::FILE* file_ = nullptr;
  bool failed_ = false;
  bool committed_ = false;
};

}  // namespace kvscope::plot::detail
