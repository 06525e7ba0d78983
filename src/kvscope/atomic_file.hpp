// Atomic files and folders: the bytes go to a temporary beside the destination, which is
// renamed over it only once complete. A reader sees either the old file (folder) or the whole
// new one, and a failed or interrupted write leaves no half file behind.
//
// Every temporary is named ".<name>.tmp.<pid>.<n>" beside <name>: hidden, recognisable, and
// carrying the process that owns it, so that a later run can tell a stale one (its process
// is gone) from one being written now and remove only the first (remove_stale_temporaries).
// Temporaries of this process are listed in a registry, so that a signal handler can remove
// them all (remove_all_temporaries).
//
// Errors: BadInput when the user's destination cannot take the file (missing folder, not a
// folder, no permission, a folder in the way), IoError when the system fails the write
// (disk full, I/O error).
#pragma once

#include <cstddef>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kvscope {

// Writes `bytes` to `path` atomically.
void write_file_atomic(const std::string& path, std::string_view bytes);

// A file that appears under its final name only when commit() is reached; the destructor
// removes the temporary otherwise. Two ways to fill it:
//   AtomicFile f(path); f.write(bytes, n); ...; f.commit();        // FILE*-style
//   AtomicFile f(path); library_writes_to(f.temp_path()); f.commit();  // a path of its own
class AtomicFile {
 public:
  // Chooses a fresh temporary name in the folder of final_path and removes that folder's
  // stale temporaries of final_path. Throws BadInput if the folder is missing or not a folder.
  explicit AtomicFile(std::string final_path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  const std::string& temp_path() const { return temp_path_; }
  const std::string& final_path() const { return final_path_; }

  // Appends to the temporary file (created on the first call). Returns false once a write has
  // failed; the error is reported by commit(). Never throws, so it may be called from C
  // callbacks.
  bool write(const void* data, size_t n);

  // Closes and renames the temporary onto the final path. Throws BadInput if nothing was
  // written, IoError if a write failed, and as the header says for the rename.
  void commit();

 private:
  std::string final_path_;
  std::string temp_path_;
  std::FILE* file_ = nullptr;
  int write_errno_ = 0;
  bool committed_ = false;
};

// A folder whose whole content appears at once: files are written into a fresh temporary
// folder beside the target, and commit() swaps it with the target (or renames it into place
// when there is none) in one step, then removes the previous content. Two runs into one
// folder therefore never mix: the last commit wins whole.
//
// A folder is only ever replaced when it is empty or holds nothing but names that
// `replaceable` accepts (and temporaries of this scheme), so a mistyped target can never cost
// the user files that kvscope did not write.
class AtomicFolder {
 public:
  using Replaceable = std::function<bool(const std::string& name)>;
  // Checks the target and creates nothing. `what` names the target in messages (an option
  // field, e.g. "out_dir"). Throws BadInput naming the target when it is a file, holds a
  // name `replaceable` rejects, or when no folder can be made there.
  AtomicFolder(std::string final_path, Replaceable replaceable, std::string what);
  ~AtomicFolder();
  AtomicFolder(const AtomicFolder&) = delete;
  AtomicFolder& operator=(const AtomicFolder&) = delete;

  // Creates missing parent folders and the temporary folder, after removing stale
  // temporaries of the target beside it. Call it once the run's inputs are checked.
  void create();
  // The temporary folder (valid after create()) and a file in it.
  const std::string& temp_path() const { return temp_path_; }
  std::string path_of(const std::string& file) const;
  const std::string& final_path() const { return final_path_; }

  // Swaps the temporary folder in and removes the previous content.
  void commit();

  // `message` with the temporary folder's path said as the final one, for errors about files
  // written into it.
  std::string as_final(std::string message) const;

 private:
  void check_target() const;
  std::string final_path_;
  std::string temp_path_;
  std::string what_;
  Replaceable replaceable_;
  std::vector<std::string> created_parents_;  // deepest first, removed again on failure
  bool committed_ = false;
};

// The temporary name this scheme gives `name` for process `pid`, n-th of that process.
std::string temp_name(const std::string& name, long pid, unsigned n);
// If `file_name` (no folder) is a temporary of this scheme: the final name and the owner's pid.
struct TempName {
  std::string final_name;
  long pid = 0;
};
std::optional<TempName> parse_temp_name(const std::string& file_name);

// Removes, from `folder`, the temporaries of this scheme for `final_name` (all names if
// empty) whose process is no longer running. Returns how many it removed. Never throws.
int remove_stale_temporaries(const std::string& folder, const std::string& final_name = "");

// Removes every temporary file and folder this process has open now, and makes any later
// AtomicFile or AtomicFolder throw IoError ("interrupted"). For a signal-handling thread
// (not a signal handler: it takes a lock and allocates) just before the process ends.
void remove_all_temporaries();

}  // namespace kvscope
