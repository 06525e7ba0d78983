#include "kvscope/atomic_file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>
#include <system_error>

#include <fmt/format.h>

#include "kvscope/error.hpp"

namespace kvscope {

namespace fs = std::filesystem;

namespace {

std::atomic<unsigned> g_counter{0};

// The temporaries this process has open now; see remove_all_temporaries.
struct Registry {
  std::mutex mutex;
  std::set<std::string> paths;
  bool closing = false;
};
Registry& registry() {
  static Registry r;
  return r;
}
void enlist(const std::string& path) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  if (r.closing) throw IoError(fmt::format("{}: interrupted", path));
  r.paths.insert(path);
}
void delist(const std::string& path) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.paths.erase(path);
}
bool enlisted(const std::string& path) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  return r.paths.count(path) > 0;
}

// The one mapping from an OS error on the user's destination to an exception: the user's
// choice of place (missing, not a folder, not writable, a folder in the way) is BadInput, a
// failing system (disk full, I/O error) is IoError. One message shape for both.
[[noreturn]] void throw_write_error(const std::string& path, int err) {
  const std::string msg = fmt::format("{}: cannot write: {}", path, std::strerror(err));
  switch (err) {
    case EACCES:
    case EPERM:
    case EROFS:
    case ENOENT:
    case ENOTDIR:
    case EISDIR:
    case ENOTEMPTY:
    case EEXIST:
    case ENAMETOOLONG:
    case ELOOP:
      throw BadInput(msg);
    default:
      throw IoError(msg);
  }
}

std::string folder_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string fresh_temp_for(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string prefix = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  return prefix + temp_name(base_of(path), static_cast<long>(::getpid()), g_counter.fetch_add(1));
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

bool process_gone(long pid) {
  if (pid == static_cast<long>(::getpid())) return false;
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

bool all_digits(std::string_view s) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

}  // namespace

std::string temp_name(const std::string& name, long pid, unsigned n) {
  return fmt::format(".{}.tmp.{}.{}", name, pid, n);
}

std::optional<TempName> parse_temp_name(const std::string& file_name) {
  if (file_name.size() < 2 || file_name[0] != '.') return std::nullopt;
  const size_t tmp = file_name.rfind(".tmp.");
  if (tmp == std::string::npos || tmp < 2) return std::nullopt;
  const std::string_view rest = std::string_view(file_name).substr(tmp + 5);
  const size_t dot = rest.find('.');
  if (dot == std::string_view::npos || !all_digits(rest.substr(0, dot)) ||
      !all_digits(rest.substr(dot + 1)))
    return std::nullopt;
  return TempName{file_name.substr(1, tmp - 1), std::stol(std::string(rest.substr(0, dot)))};
}

int remove_stale_temporaries(const std::string& folder, const std::string& final_name) {
  int removed = 0;
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const std::optional<TempName> t = parse_temp_name(name);
    if (!t || (!final_name.empty() && t->final_name != final_name)) continue;
    const std::string path = it->path().string();
    // Our own pid on a name we do not hold: left by an earlier process that had this pid.
    const bool stale =
        t->pid == static_cast<long>(::getpid()) ? !enlisted(path) : process_gone(t->pid);
    std::error_code rm;
    if (stale && fs::remove_all(path, rm) > 0 && !rm) ++removed;
  }
  return removed;
}

void remove_all_temporaries() {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.closing = true;
  for (const std::string& p : r.paths) {
    std::error_code ec;
    fs::remove_all(p, ec);
  }
}

// ---- AtomicFile

void write_file_atomic(const std::string& path, std::string_view bytes) {
  AtomicFile f(path);
  f.write(bytes.data(), bytes.size());
  f.commit();
}

AtomicFile::AtomicFile(std::string final_path) : final_path_(std::move(final_path)) {
  check_destination(final_path_);
  remove_stale_temporaries(folder_of(final_path_), base_of(final_path_));
  temp_path_ = fresh_temp_for(final_path_);
  enlist(temp_path_);
}

AtomicFile::~AtomicFile() {
  if (file_) std::fclose(file_);
  if (!committed_) ::unlink(temp_path_.c_str());
  delist(temp_path_);
}

bool AtomicFile::write(const void* data, size_t n) {
  if (write_errno_ != 0 || committed_) return false;
  if (!file_) {
    const int fd = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || !(file_ = ::fdopen(fd, "wb"))) {
      write_errno_ = errno ? errno : EIO;
      if (fd >= 0) ::close(fd);
      return false;
    }
  }
  if (n > 0 && std::fwrite(data, 1, n, file_) != n) {
    write_errno_ = errno ? errno : EIO;
    return false;
  }
  return true;
}

void AtomicFile::commit() {
  if (committed_) return;
  if (!file_ && write_errno_ == 0) {
    // Filled through temp_path() (or not at all).
    struct stat st {};
    if (::stat(temp_path_.c_str(), &st) != 0)
      throw BadInput(
          fmt::format("{}: nothing was written to the temporary file {}", final_path_, temp_path_));
  }
  if (file_) {
    if (std::fflush(file_) != 0 && write_errno_ == 0) write_errno_ = errno ? errno : EIO;
    if (std::fclose(file_) != 0 && write_errno_ == 0) write_errno_ = errno ? errno : EIO;
    file_ = nullptr;
  }
  if (write_errno_ != 0) {
    ::unlink(temp_path_.c_str());
    throw_write_error(final_path_, write_errno_);
  }
  if (::rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
    const int e = errno;
    ::unlink(temp_path_.c_str());
    throw_write_error(final_path_, e);
  }
  committed_ = true;
}

// ---- AtomicFolder

AtomicFolder::AtomicFolder(std::string final_path, Replaceable replaceable, std::string what)
    : final_path_(std::move(final_path)),
      what_(std::move(what)),
      replaceable_(std::move(replaceable)) {
  while (final_path_.size() > 1 && final_path_.back() == '/') final_path_.pop_back();
  if (final_path_.empty()) throw BadInput(fmt::format("{}: empty folder name", what_));
  std::error_code ec;
  // A link to a folder: the folder it names is the one replaced, the link stays.
  if (fs::is_symlink(final_path_, ec) && fs::is_directory(final_path_, ec))
    final_path_ = fs::canonical(final_path_, ec).string();
  check_target();
}

void AtomicFolder::check_target() const {
  const std::string& p = final_path_;
  std::error_code ec;
  const fs::file_status st = fs::status(p, ec);
  if (fs::exists(st)) {
    if (!fs::is_directory(st))
      throw BadInput(fmt::format("{} {}: exists and is not a folder", what_, p));
    if (fs::equivalent(p, ".", ec) || fs::equivalent(p, "/", ec))
      throw BadInput(fmt::format(
          "{} {}: is the current or the root folder, which kvscope does not replace; name a "
          "folder for this run's files",
          what_, p));
    for (fs::directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (parse_temp_name(name)) continue;
      // Names a writer of the old scheme left behind: "<file>.tmp.XXXXXX".
      const size_t tmp = name.rfind(".tmp.");
      const bool old_temp =
          tmp != std::string::npos && name.size() == tmp + 11 && replaceable_(name.substr(0, tmp));
      std::error_code e2;
      if (old_temp || (replaceable_(name) && it->is_regular_file(e2))) continue;
      throw BadInput(fmt::format(
          "{} {}: the folder holds '{}', which kvscope did not write; it replaces only a "
          "folder of its own output: name a new or empty folder",
          what_, p, name));
    }
    if (ec)
      throw BadInput(fmt::format("{} {}: cannot read the folder: {}", what_, p, ec.message()));
  }
  // The folder that will hold the temporary: the parent, or its nearest existing ancestor.
  fs::path parent = fs::path(p).parent_path();
  if (parent.empty()) parent = ".";
  while (!fs::exists(parent, ec) && parent.has_parent_path() && parent != parent.parent_path())
    parent = parent.parent_path();
  if (!fs::is_directory(parent, ec))
    throw BadInput(fmt::format("{} {}: {} is not a folder", what_, p, parent.string()));
  if (::access(parent.c_str(), W_OK | X_OK) != 0)
    throw BadInput(fmt::format("{} {}: cannot create a folder in {}: {}", what_, p, parent.string(),
                               std::strerror(errno)));
}

void AtomicFolder::create() {
  if (!temp_path_.empty()) return;
  fs::path parent = fs::path(final_path_).parent_path();
  if (parent.empty()) parent = ".";
  std::vector<fs::path> missing;
  std::error_code ec;
  for (fs::path q = parent; !q.empty() && !fs::exists(q, ec) && q != q.parent_path();
       q = q.parent_path())
    missing.push_back(q);
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0755) != 0 && errno != EEXIST)
      throw_write_error(fmt::format("{} {}", what_, it->string()), errno);
    created_parents_.insert(created_parents_.begin(), it->string());
  }
  remove_stale_temporaries(parent.string(), base_of(final_path_));
  const std::string temp = fresh_temp_for(final_path_);
  enlist(temp);
  if (::mkdir(temp.c_str(), 0755) != 0) {
    const int e = errno;
    delist(temp);
    throw_write_error(fmt::format("{} {}", what_, final_path_), e);
  }
  temp_path_ = temp;
}

std::string AtomicFolder::path_of(const std::string& file) const {
  return (fs::path(temp_path_) / file).string();
}

void AtomicFolder::commit() {
  if (committed_) return;
  if (temp_path_.empty()) create();
  check_target();  // someone may have put files there since
  const std::string& tmp = temp_path_;
  for (int attempt = 0;; ++attempt) {
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, final_path_.c_str(), RENAME_NOREPLACE) == 0)
      break;
    int e = errno;
    if (e == EEXIST || e == ENOTEMPTY) {
      // Swap whole folders: a reader sees the old output or the new one, never a mix. The old
      // content is then under our temporary name, removed below.
      if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, final_path_.c_str(), RENAME_EXCHANGE) == 0) {
        std::error_code ec;
        fs::remove_all(tmp, ec);
        break;
      }
      e = errno;
      if (e == ENOENT && attempt < 8) continue;  // the target went away meanwhile: rename
    }
    if (e == EINVAL || e == ENOSYS) {
      // A file system without renameat2's flags: move the old folder aside first. Between the
      // two renames the target is missing, but never mixed.
      const std::string aside = fresh_temp_for(final_path_);
      enlist(aside);
      const bool moved = ::rename(final_path_.c_str(), aside.c_str()) == 0 || errno == ENOENT;
      const int e2 = errno;
      if (moved && ::rename(tmp.c_str(), final_path_.c_str()) == 0) {
        std::error_code ec;
        fs::remove_all(aside, ec);
        delist(aside);
        break;
      }
      delist(aside);
      throw_write_error(fmt::format("{} {}", what_, final_path_), moved ? errno : e2);
    }
    throw_write_error(fmt::format("{} {}", what_, final_path_), e);
  }
  committed_ = true;
  delist(tmp);
}

std::string AtomicFolder::as_final(std::string message) const {
  if (temp_path_.empty()) return message;
  for (size_t at = 0; (at = message.find(temp_path_, at)) != std::string::npos;
       at += final_path_.size())
    message.replace(at, temp_path_.size(), final_path_);
  return message;
}

AtomicFolder::~AtomicFolder() {
  if (committed_ || temp_path_.empty()) return;
  std::error_code ec;
  fs::remove_all(temp_path_, ec);
  delist(temp_path_);
  for (const std::string& p : created_parents_) ::rmdir(p.c_str());  // only if still empty
}

}  // namespace kvscope
