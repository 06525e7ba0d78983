#include "kvscope/io/hub.hpp"

#include <curl/curl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kvscope/atomic_file.hpp"
#include "kvscope/error.hpp"
#include "kvscope/io/json_file.hpp"
#include "kvscope/io/regular_file.hpp"
#include "kvscope/io/sha256.hpp"
#include "kvscope/printable.hpp"

namespace kvscope::io {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

bool env_true(const std::string& v) {
  std::string s = v;
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s == "1" || s == "true" || s == "yes" || s == "on";
}

bool path_exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;  // follows symlinks: a dangling link does not exist
}

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

bool is_commit_sha(const std::string& s) {
  return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
         });
}

// A single path component made only of safe characters: usable as a file name as is.
bool is_plain_name(const std::string& s) {
  return !s.empty() && s.size() <= 255 && s != "." && s != ".." &&
         std::all_of(s.begin(), s.end(), is_name_char);
}

// Branch and tag names may hold '/' ("refs/pr/1"), which becomes sub-folders of refs/.
void check_revision(const std::string& revision) {
  bool ok = !revision.empty() && revision.size() <= 255 && revision.front() != '/' &&
            revision.back() != '/' && revision.find("..") == std::string::npos &&
            revision.find("//") == std::string::npos;
  for (char c : revision) ok = ok && (is_name_char(c) || c == '/');
  if (!ok)
    throw BadInput(
        fmt::format("revision '{}': not a valid branch, tag or commit", printable(revision, 80)));
}

std::string repo_folder(const std::string& repo_id, const HubOptions& o) {
  std::string name = repo_id;
  for (size_t p = name.find('/'); p != std::string::npos; p = name.find('/', p + 2))
    name.replace(p, 1, "--");
  return o.cache_dir + "/models--" + name;
}

bool snapshot_is_usable(const std::string& snapshot) {
  return path_exists(snapshot + "/config.json") &&
         (path_exists(snapshot + "/model.safetensors") ||
          path_exists(snapshot + "/model.safetensors.index.json"));
}

// The answers and refs read whole: a commit id, or the Hub's JSON about a revision.
constexpr int64_t kMaxRefBytes = 4096;
constexpr int64_t kMaxApiAnswerBytes = int64_t{16} << 20;

bool is_hex(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
  });
}

std::string trim(std::string s) {
  const auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

void make_dirs(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw BadInput(fmt::format("{}: cannot create folder: {}", dir, ec.message()));
}

// ---- HTTP ----

void curl_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Response {
  long status = 0;
  std::string linked_etag;      // X-Linked-Etag of any hop (the Hub's content hash for LFS files)
  int64_t linked_size = -1;     // X-Linked-Size of any hop (the LFS file's size), -1 if none
  std::string etag;             // ETag of the last response
  int64_t content_length = -1;  // Content-Length of the last response, -1 if none
};

struct Transfer {
  // Where the body goes: a string, or a file with a running hash.
  std::string* body = nullptr;
  std::FILE* file = nullptr;
  Sha256* hash = nullptr;
  Response* response = nullptr;
  const HubOptions* options = nullptr;
  const std::string* file_name = nullptr;
  bool write_failed = false;
  std::exception_ptr callback_error;  // thrown by the progress callback; rethrown after curl
  int64_t received = 0;               // body bytes of the last response
  int64_t max_body = -1;              // a string body larger than this aborts (-1: no limit)
  bool body_too_large = false;
};

size_t on_body(char* p, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t bytes = size * n;
  t->received += static_cast<int64_t>(bytes);
  if (t->max_body >= 0 && t->received > t->max_body) {
    t->body_too_large = true;
    return 0;  // makes curl abort the transfer
  }
  if (t->body) t->body->append(p, bytes);
  if (t->file) {
    if (std::fwrite(p, 1, bytes, t->file) != bytes) {
      t->write_failed = true;
      return 0;  // makes curl abort the transfer
    }
    if (t->hash) t->hash->update(p, bytes);
  }
  return bytes;
}

std::string normalize_etag(std::string v) {
  v = trim(v);
  if (v.rfind("W/", 0) == 0) v = v.substr(2);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  return v;
}

size_t on_header(char* p, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::string line(p, size * n);
  if (line.rfind("HTTP/", 0) == 0) {  // a new response begins
    t->response->etag.clear();
    t->response->content_length = -1;
    t->received = 0;
  }
  const size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string key = line.substr(0, colon);
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const std::string value = normalize_etag(line.substr(colon + 1));
    if (key == "x-linked-etag" && t->response->linked_etag.empty())
      t->response->linked_etag = value;
    if (key == "etag") t->response->etag = value;
    if (key == "x-linked-size" || key == "content-length") {
      char* end = nullptr;
      errno = 0;
      const long long v = std::strtoll(value.c_str(), &end, 10);
      const int64_t size = (errno == 0 && end != value.c_str() && *end == '\0' && v >= 0) ? v : -1;
      if (key == "content-length") t->response->content_length = size;
      if (key == "x-linked-size" && t->response->linked_size < 0) t->response->linked_size = size;
    }
  }
  return size * n;
}

int on_progress(void* user, curl_off_t total, curl_off_t done, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (!t->options->progress || !t->file_name) return 0;
  // An exception must not cross libcurl's C frames: abort the transfer and rethrow after.
  try {
    t->options->progress(*t->file_name, static_cast<int64_t>(done), static_cast<int64_t>(total));
  } catch (...) {
    t->callback_error = std::current_exception();
    return 1;
  }
  return 0;
}

std::string percent_encode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
      out.push_back(static_cast<char>(c));
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

// GET url, following redirects. Throws IoError if no HTTP response came back at all.
Response http_get(const std::string& url, const HubOptions& o, Transfer& t,
                  const std::string& repo_id) {
  curl_init_once();
  Response r;
  t.response = &r;
  t.options = &o;
  CURL* curl = curl_easy_init();
  if (!curl) throw IoError("cannot start libcurl");
  curl_slist* headers = nullptr;
  if (!o.token.empty())
    headers = curl_slist_append(headers, ("Authorization: Bearer " + o.token).c_str());
  char err[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, err);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "kvscope");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L);
  // A stalled transfer (under 1 byte/s for a minute) fails instead of hanging forever.
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
  if (headers) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, o.progress ? 0L : 1L);
  const CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (t.callback_error) std::rethrow_exception(t.callback_error);
  if (t.body_too_large)
    throw BadInput(fmt::format("model '{}': the answer to GET {} is larger than {}", repo_id, url,
                               byte_count_text(static_cast<double>(t.max_body))));
  if (t.write_failed)
    throw IoError(fmt::format("model '{}': writing the download of {} failed: {}", repo_id, url,
                              std::strerror(errno)));
  if (rc != CURLE_OK)
    throw IoError(fmt::format("model '{}': GET {} failed: {}", repo_id, url,
                              err[0] ? err : curl_easy_strerror(rc)));
  return r;
}

void check_status(const Response& r, const std::string& url, const std::string& repo_id,
                  const std::string& what) {
  if (r.status == 200) return;
  if (r.status == 401 || r.status == 403)
    throw BadInput(
        fmt::format("model '{}': the Hub refused access to {} (HTTP {}); if the model "
                    "is private or gated, set HF_TOKEN to a token that can read it",
                    repo_id, what, r.status));
  if (r.status == 404) {
    if (what == "the model")
      throw BadInput(fmt::format("model '{}' not found on the Hub", repo_id));
    throw BadInput(fmt::format("model '{}': {} not found on the Hub", repo_id, what));
  }
  throw IoError(fmt::format("model '{}': GET {}: HTTP {}", repo_id, url, r.status));
}

struct CommitInfo {
  std::string sha;
  std::set<std::string> files;
};

CommitInfo fetch_commit_info(const std::string& repo_id, const HubOptions& o) {
  const std::string url =
      fmt::format("{}/api/models/{}/revision/{}", o.endpoint, repo_id, percent_encode(o.revision));
  std::string body;
  Transfer t;
  t.body = &body;
  t.max_body = kMaxApiAnswerBytes;
  const Response r = http_get(url, o, t, repo_id);
  check_status(r, url, repo_id, "the model");
  const std::string where =
      fmt::format("model '{}': Hub answer for revision '{}'", repo_id, o.revision);
  const json info = parse_json(body, where);
  CommitInfo c;
  c.sha = json_string(info, "sha", where);
  if (!is_plain_name(c.sha))
    throw BadInput(
        fmt::format("{}: field 'sha': '{}' is not a commit id", where, printable(c.sha, 80)));
  if (!info.contains("siblings") || !info["siblings"].is_array())
    throw BadInput(fmt::format("{}: field 'siblings': expected a list of files", where));
  for (const json& s : info["siblings"]) {
    if (s.is_object()) {
      if (auto name = json_string_opt(s, "rfilename", where)) c.files.insert(*name);
    }
  }
  return c;
}

std::atomic<unsigned> g_download_counter{0};

// Temporary files are named ".<file>.incomplete.<pid>.<n>" (blobs/) and ".<file>.link.<pid>.<n>"
// (snapshots/<sha>/). A run that was killed leaves its own behind; a later run removes those
// whose process no longer exists.
void remove_stale_temporaries(const std::string& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] != '.') continue;
    size_t tag = name.rfind(".incomplete.");
    size_t tag_len = 12;
    if (tag == std::string::npos) {
      tag = name.rfind(".link.");
      tag_len = 6;
    }
    if (tag == std::string::npos) continue;
    const std::string rest = name.substr(tag + tag_len);  // "<pid>.<n>"
    const size_t dot = rest.find('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == rest.size() ||
        !std::all_of(rest.begin(), rest.end(), [](char c) {
          return c == '.' || std::isdigit(static_cast<unsigned char>(c));
        }))
      continue;
    const long pid = std::strtol(rest.substr(0, dot).c_str(), nullptr, 10);
    if (pid <= 0 || pid == static_cast<long>(::getpid())) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // still running
    ::unlink(it->path().c_str());
  }
}

// The git blob id of a downloaded file: the SHA-1 of "blob <size>\0" and the content, read
// back from disk (the size is only sure once the transfer has ended).
std::string git_blob_sha1_of_file(const std::string& path, int64_t size) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw IoError(fmt::format("{}: cannot read back: {}", path, std::strerror(errno)));
  Sha1 hash;
  const std::string header = "blob " + std::to_string(size);
  hash.update(header.data(), header.size() + 1);  // with its terminating NUL
  std::vector<char> buf(1 << 16);
  int64_t total = 0;
  for (size_t got; (got = std::fread(buf.data(), 1, buf.size(), f)) > 0;) {
    hash.update(buf.data(), got);
    total += static_cast<int64_t>(got);
  }
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed || total != size)
    throw IoError(fmt::format("{}: read back {} of its {} bytes", path, total, size));
  return hash.hex_digest();
}

// Fetches one file of the snapshot into blobs/ and links it from snapshots/<sha>/.
void fetch_file(const std::string& repo_id, const HubOptions& o, const std::string& repo_dir,
                const std::string& sha, const std::string& file) {
  if (!is_plain_name(file))
    throw BadInput(fmt::format("model '{}': file name '{}' must be a plain file name", repo_id,
                               printable(file, 80)));
  const std::string snapshot = repo_dir + "/snapshots/" + sha;
  const std::string link = snapshot + "/" + file;
  if (path_exists(link)) return;

  const std::string blobs = repo_dir + "/blobs";
  make_dirs(blobs);
  make_dirs(snapshot);
  const std::string temp = fmt::format("{}/.{}.incomplete.{}.{}", blobs, file,
                                       static_cast<long>(::getpid()), g_download_counter++);
  std::FILE* f = std::fopen(temp.c_str(), "wb");
  if (!f) throw BadInput(fmt::format("{}: cannot write: {}", temp, std::strerror(errno)));
  const std::string url = fmt::format("{}/{}/resolve/{}/{}", o.endpoint, repo_id, sha, file);
  Sha256 hash;
  Transfer t;
  t.file = f;
  t.hash = &hash;
  t.file_name = &file;
  Response r;
  try {
    r = http_get(url, o, t, repo_id);
  } catch (...) {
    std::fclose(f);
    ::unlink(temp.c_str());
    throw;
  }
  const bool closed = std::fclose(f) == 0;
  const std::string content_hash = hash.hex_digest();
  try {
    check_status(r, url, repo_id, "file " + file);
    if (!closed) throw IoError(fmt::format("{}: write failed: {}", temp, std::strerror(errno)));
    // A transfer can end early and still end cleanly (a proxy, a dropped connection without
    // a Content-Length): the size the Hub announced and, for LFS files, the SHA-256 it names
    // the content by (X-Linked-Etag) must match, or nothing goes into the cache.
    const int64_t announced = r.linked_size >= 0 ? r.linked_size : r.content_length;
    if (announced >= 0 && t.received != announced)
      throw IoError(fmt::format(
          "model '{}': the download of {} ended after {} of the {} bytes announced; nothing was "
          "kept, run again to retry",
          repo_id, file, t.received, announced));
    if (r.linked_etag.size() == 64 && is_hex(r.linked_etag) && r.linked_etag != content_hash)
      throw IoError(fmt::format(
          "model '{}': the download of {} has SHA-256 {}, the Hub announced {}; nothing was kept, "
          "run again to retry",
          repo_id, file, content_hash, r.linked_etag));
    // A file kept in git rather than LFS has its git blob id (a SHA-1) as its ETag.
    if (r.linked_etag.empty() && r.etag.size() == 40 && is_hex(r.etag)) {
      const std::string blob_id = git_blob_sha1_of_file(temp, t.received);
      if (blob_id != r.etag)
        throw IoError(fmt::format(
            "model '{}': the download of {} has git blob id {}, the Hub announced {}; nothing "
            "was kept, run again to retry",
            repo_id, file, blob_id, r.etag));
    }
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }

  // The Hub's ETag is the content hash it names blobs by; an ETag that is not a plain name
  // (a CDN's, with odd characters) is replaced by our own hash of the content.
  std::string blob = !r.linked_etag.empty() ? r.linked_etag : r.etag;
  if (!is_plain_name(blob) || blob.size() > 128) blob = content_hash;
  const std::string blob_path = blobs + "/" + blob;
  if (::rename(temp.c_str(), blob_path.c_str()) != 0) {
    const int e = errno;
    ::unlink(temp.c_str());
    throw IoError(
        fmt::format("{}: cannot move download into place: {}", blob_path, std::strerror(e)));
  }
  if (o.progress) {
    struct stat st {};
    const int64_t size = ::stat(blob_path.c_str(), &st) == 0 ? st.st_size : 0;
    o.progress(file, size, size);
  }

  // Link under a temporary name, then rename over the final one, so a reader never sees a
  // half-made link.
  const std::string temp_link = fmt::format("{}/.{}.link.{}.{}", snapshot, file,
                                            static_cast<long>(::getpid()), g_download_counter++);
  if (::symlink(("../../blobs/" + blob).c_str(), temp_link.c_str()) != 0 ||
      ::rename(temp_link.c_str(), link.c_str()) != 0) {
    const int e = errno;
    ::unlink(temp_link.c_str());
    throw IoError(fmt::format("{}: cannot link to blob {}: {}", link, blob, std::strerror(e)));
  }
}

std::vector<std::string> shard_names(const std::string& index_path, const std::string& repo_id) {
  const json index = read_json_file(index_path);
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
    throw BadInput(
        fmt::format("{}: weight_map: expected an object of tensor name -> shard file", index_path));
  std::set<std::string> names;
  for (const auto& [tensor, shard] : index["weight_map"].items()) {
    if (!shard.is_string() || !is_plain_name(shard.get<std::string>()))
      throw BadInput(
          fmt::format("{}: weight_map: tensor '{}': shard {} must be a plain file name "
                      "(model '{}')",
                      index_path, tensor, json_excerpt(shard), repo_id));
    names.insert(shard.get<std::string>());
  }
  return {names.begin(), names.end()};
}

[[noreturn]] void offline_miss(const std::string& repo_id) {
  throw BadInput(
      fmt::format("model '{}' is not in the local Hub cache (HF_HUB_OFFLINE=1)", repo_id));
}

}  // namespace

HubOptions hub_options_from_env() {
  HubOptions o;
  if (const std::string e = env("HF_ENDPOINT"); !e.empty()) o.endpoint = e;
  while (o.endpoint.size() > 1 && o.endpoint.back() == '/') o.endpoint.pop_back();
  if (const std::string c = env("HF_HUB_CACHE"); !c.empty()) {
    o.cache_dir = c;
  } else if (const std::string h = env("HF_HOME"); !h.empty()) {
    o.cache_dir = h + "/hub";
  } else if (const std::string x = env("XDG_CACHE_HOME"); !x.empty()) {
    o.cache_dir = x + "/huggingface/hub";
  } else {
    o.cache_dir = env("HOME") + "/.cache/huggingface/hub";
  }
  o.offline = env_true(env("HF_HUB_OFFLINE"));
  o.token = env("HF_TOKEN");
  return o;
}

bool looks_like_hub_id(const std::string& spec) {
  if (spec.empty() || spec.size() > 200) return false;
  if (spec.find("..") != std::string::npos || spec.find("--") != std::string::npos) return false;
  const size_t slash = spec.find('/');
  if (slash != std::string::npos && spec.find('/', slash + 1) != std::string::npos) return false;
  const auto part_ok = [](std::string_view p) {
    return !p.empty() && p.front() != '.' && p.front() != '-' && p.back() != '.' &&
           std::all_of(p.begin(), p.end(), is_name_char);
  };
  if (slash == std::string::npos) return part_ok(spec);
  return part_ok(std::string_view(spec).substr(0, slash)) &&
         part_ok(std::string_view(spec).substr(slash + 1));
}

std::optional<std::string> find_in_hub_cache(const std::string& repo_id, const HubOptions& o) {
  if (!looks_like_hub_id(repo_id) || o.cache_dir.empty()) return std::nullopt;
  check_revision(o.revision);
  const std::string repo_dir = repo_folder(repo_id, o);
  std::string sha;
  const std::string ref = repo_dir + "/refs/" + o.revision;
  if (path_exists(ref)) {
    sha = trim(read_regular_file(ref, kMaxRefBytes, "Hub ref file"));
    if (!is_plain_name(sha))
      throw BadInput(fmt::format("{}: '{}' is not a commit id", ref, printable(sha, 80)));
  } else if (is_commit_sha(o.revision)) {
    sha = o.revision;
  } else {
    return std::nullopt;
  }
  const std::string snapshot = repo_dir + "/snapshots/" + sha;
  if (!snapshot_is_usable(snapshot)) return std::nullopt;
  return snapshot;
}

std::string download_model(const std::string& repo_id, const HubOptions& o) {
  if (!looks_like_hub_id(repo_id))
    throw BadInput(fmt::format("model '{}': not a Hub id (like 'openai-community/gpt2')", repo_id));
  check_revision(o.revision);
  if (o.offline) offline_miss(repo_id);
  if (o.cache_dir.empty())
    throw BadInput(fmt::format("model '{}': no Hub cache folder set", repo_id));

  const CommitInfo commit = fetch_commit_info(repo_id, o);
  if (!commit.files.count("config.json"))
    throw Unsupported(fmt::format("model '{}' has no config.json on the Hub", repo_id));
  const bool single = commit.files.count("model.safetensors") > 0;
  const bool sharded = commit.files.count("model.safetensors.index.json") > 0;
  if (!single && !sharded)
    throw Unsupported(
        fmt::format("model '{}' has no safetensors weights on the Hub "
                    "(model.safetensors or model.safetensors.index.json)",
                    repo_id));

  const std::string repo_dir = repo_folder(repo_id, o);
  make_dirs(repo_dir);
  remove_stale_temporaries(repo_dir + "/blobs");
  remove_stale_temporaries(repo_dir + "/snapshots/" + commit.sha);
  std::vector<std::string> files = {"config.json"};
  for (const char* optional : {"generation_config.json", "tokenizer.json", "tokenizer_config.json",
                               "vocab.json", "merges.txt", "special_tokens_map.json"})
    if (commit.files.count(optional)) files.push_back(optional);
  files.push_back(single ? "model.safetensors" : "model.safetensors.index.json");
  for (const std::string& f : files) fetch_file(repo_id, o, repo_dir, commit.sha, f);

  const std::string snapshot = repo_dir + "/snapshots/" + commit.sha;
  if (!single)
    for (const std::string& shard :
         shard_names(snapshot + "/model.safetensors.index.json", repo_id))
      fetch_file(repo_id, o, repo_dir, commit.sha, shard);

  // Only once every file is in place does the ref point at the snapshot.
  if (o.revision != commit.sha) {
    const std::string ref = repo_dir + "/refs/" + o.revision;
    make_dirs(fs::path(ref).parent_path().string());
    write_file_atomic(ref, commit.sha);
  }
  return snapshot;
}

std::string resolve_model(const std::string& spec, const HubOptions& o) {
  if (!spec.empty() && path_exists(spec)) return spec;
  if (!looks_like_hub_id(spec))
    throw BadInput(fmt::format("model '{}': no such file or folder, and not a Hub id", spec));
  if (auto cached = find_in_hub_cache(spec, o)) return *cached;
  if (o.offline) offline_miss(spec);
  return download_model(spec, o);
}

}  // namespace kvscope::io
