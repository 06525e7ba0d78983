// Fuzzes finding a model in the local Hub cache (io/hub.hpp), offline, as kvscope does for a
// Hub id: refs/<revision> -> snapshots/<sha>/ -> links into blobs/. The input builds the
// cache folder of "org/m":
//   revision NUL path NUL content NUL path NUL content ...
// A path is relative to models--org--m/ (components of letters, digits, '.', '-', '_'; no
// ".."; at most 6 deep); a content of "->TARGET" makes a symbolic link instead of a file
// (TARGET relative, or /dev/zero or /dev/null: a ref or a config that is a device must be
// refused, not read forever). At most 16 entries of 4 KiB. Finding may only ever fail with a
// kvscope::Error; a snapshot found must lie inside the repo folder, and reading its config and
// weights may only fail with a kvscope::Error.
#include <unistd.h>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "kvscope/error.hpp"
#include "kvscope/io/hub.hpp"
#include "kvscope/io/json_file.hpp"
#include "kvscope/io/safetensors.hpp"

namespace {

namespace fs = std::filesystem;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

std::string_view take_part(std::string_view& in) {
  const size_t nul = in.find('\0');
  const std::string_view part = in.substr(0, nul);
  in = nul == std::string_view::npos ? std::string_view() : in.substr(nul + 1);
  return part;
}

bool safe_component(std::string_view c) {
  if (c.empty() || c == "." || c == ".." || c.size() > 80) return false;
  for (char ch : c)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' || ch == '_'))
      return false;
  return true;
}

bool safe_path(std::string_view p, int max_depth) {
  int depth = 0;
  size_t start = 0;
  while (start <= p.size()) {
    const size_t slash = p.find('/', start);
    const std::string_view c =
        p.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (!safe_component(c) || ++depth > max_depth) return false;
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return true;
}

bool safe_target(std::string_view t) {
  if (t == "/dev/zero" || t == "/dev/null") return true;
  // Relative, within the cache: "../../blobs/x" style, at most 6 ".." steps.
  std::string rest(t);
  int ups = 0;
  while (rest.rfind("../", 0) == 0) {
    rest = rest.substr(3);
    if (++ups > 4) return false;
  }
  return safe_path(rest, 6);
}

const std::string& root() {
  static const std::string dir = [] {
    std::string tmpl = (fs::temp_directory_path() / "kvscope-hub-fuzz-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) std::abort();
    return tmpl;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvscope;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::string cache = root() + "/hub";
  const std::string repo = cache + "/models--org--m";
  std::error_code ec;
  fs::remove_all(cache, ec);
  fs::create_directories(repo, ec);

  io::HubOptions o;
  o.cache_dir = cache;
  o.offline = true;
  o.revision = std::string(take_part(in));
  for (int entries = 0; !in.empty() && entries < 16; ++entries) {
    const std::string_view path = take_part(in);
    const std::string_view content = take_part(in);
    if (!safe_path(path, 6) || content.size() > 4096) continue;
    const fs::path p = fs::path(repo) / std::string(path);
    fs::create_directories(p.parent_path(), ec);
    if (content.rfind("->", 0) == 0) {
      const std::string_view target = content.substr(2);
      if (safe_target(target)) fs::create_symlink(std::string(target), p, ec);
    } else {
      std::ofstream(p, std::ios::binary)
          .write(content.data(), static_cast<std::streamsize>(content.size()));
    }
  }

  try {
    const std::string snapshot = io::resolve_model("org/m", o);
    check(snapshot.rfind(repo + "/snapshots/", 0) == 0);
    check(snapshot.find("/../") == std::string::npos);
    try {
      (void)io::read_json_file(snapshot + "/config.json");
    } catch (const Error&) {
    }
    const io::SafetensorsSet weights(snapshot);
    (void)weights.tensors();
  } catch (const Error&) {
  }
  return 0;
}
