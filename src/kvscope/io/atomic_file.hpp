// Atomic file writes: the bytes go to a temporary file in the destination's folder, which is
// renamed over the destination only once complete. A reader therefore sees either the old
// file or the whole new one, and an interrupted or failed write leaves no half file behind.
#pragma once

#include <string>
#include <string_view>

namespace kvscope::io {

// Writes `bytes` to `path` atomically. Throws BadInput naming the path and the OS error if
// the folder is missing or not writable, IoError if writing itself fails (e.g. disk full).
void write_file_atomic(const std::string& path, std::string_view bytes);

// For writers that need a path of their own to write to (Cairo surfaces, other libraries):
//   AtomicFile f(out_path);
//   library_write_to(f.temp_path());
//   f.commit();  // now out_path exists
// If commit() is never reached (an exception), the destructor removes the temporary file.
class AtomicFile {
 public:
  // Chooses a fresh temporary name ".<name>.tmp.<pid>.<n>" in the folder of final_path.
  // Throws BadInput if that folder does not exist or is not a folder.
  explicit AtomicFile(std::string final_path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  const std::string& temp_path() const { return temp_path_; }
  const std::string& final_path() const { return final_path_; }

  // Renames the temporary file to the final path. Throws BadInput if the temporary file was
  // never written, IoError if the rename fails.
  void commit();

 private:
  std::string final_path_;
  std::string temp_path_;
  bool committed_ = false;
};

}  // namespace kvscope::io
