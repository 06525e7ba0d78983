// Opening input files safely: only regular files are opened (a FIFO, a device or a socket
// named as a model, a config or a prompt would hang or never end), without blocking, and
// files read whole into memory have a size limit that the error names.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kvscope::io {

// Size limits of the files kvscope reads whole, far above any real one.
inline constexpr int64_t kMaxSmallJsonBytes = int64_t{16} << 20;   // config.json, index files
inline constexpr int64_t kMaxTokenizerBytes = int64_t{256} << 20;  // tokenizer.json, vocab, merges
inline constexpr int64_t kMaxPromptBytes = int64_t{64} << 20;      // --prompt-file

// An open read-only file descriptor of a regular file, closed on destruction.
class RegularFile {
 public:
  // Opens path with O_NONBLOCK (so a FIFO cannot block the open) and checks with fstat that
  // it is a regular file. BadInput: "PATH: no such file", "PATH: is a folder, not a file",
  // "PATH: not a regular file (a FIFO)", "PATH: cannot open: <reason>".
  explicit RegularFile(const std::string& path);
  ~RegularFile();
  RegularFile(const RegularFile&) = delete;
  RegularFile& operator=(const RegularFile&) = delete;

  int fd() const { return fd_; }
  int64_t size() const { return size_; }

 private:
  int fd_ = -1;
  int64_t size_ = 0;
};

// The whole content of a regular file of at most max_bytes. BadInput as RegularFile, and
// "PATH: 300.0 MB is more than the 256.0 MB a <what> may have" for a larger one (also when
// the file grows past the limit while it is read); IoError if reading fails.
std::string read_regular_file(const std::string& path, int64_t max_bytes, std::string_view what);

// "73.7 KB", "1.2 GB": a byte count for messages.
std::string byte_count_text(double bytes);

}  // namespace kvscope::io
