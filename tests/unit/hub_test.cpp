#include "kvscope/io/hub.hpp"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "io_test_util.hpp"
#include "kvscope/error.hpp"
#include "kvscope/io/safetensors.hpp"
#include "kvscope/io/sha256.hpp"

namespace kvscope::io {
namespace {

namespace fs = std::filesystem;
using kvscope::testing::read_bytes;
using kvscope::testing::TempDir;
using kvscope::testing::write_bytes;
using ::testing::HasSubstr;

// ---- a tiny HTTP/1.1 server on 127.0.0.1, for these tests only ----

struct Route {
  int status = 200;
  std::string body;
  std::vector<std::string> headers;  // "Name: value"
  bool no_length = false;            // no Content-Length: the body ends when the connection does
  int64_t declared_length = -1;      // a Content-Length other than the body's (-1: the body's)
};

struct Request {
  std::string path;
  std::string authorization;
};

// Serves fixed routes, one connection at a time, each closed after its response. It stops
// when told to, and by itself after 30 seconds, so a broken test cannot hang.
class TinyHttpServer {
 public:
  explicit TinyHttpServer(std::map<std::string, Route> routes) : routes_(std::move(routes)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 16) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("test server: cannot listen");
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~TinyHttpServer() { stop(); }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  std::vector<Request> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  void run() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!stop_ && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      serve(c);
      ::close(c);
    }
  }

  void serve(int c) {
    timeval tv{2, 0};
    ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string req;
    char buf[4096];
    while (req.find("\r\n\r\n") == std::string::npos && req.size() < 65536) {
      const ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) return;
      req.append(buf, static_cast<size_t>(n));
    }
    Request r;
    const size_t sp1 = req.find(' ');
    const size_t sp2 = req.find(' ', sp1 + 1);
    if (sp1 == std::string::npos || sp2 == std::string::npos) return;
    r.path = req.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string auth_key = "\r\nAuthorization: ";
    if (const size_t a = req.find(auth_key); a != std::string::npos)
      r.authorization =
          req.substr(a + auth_key.size(), req.find("\r\n", a + 2) - a - auth_key.size());
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(r);
    }
    const auto it = routes_.find(r.path);
    const Route route = it != routes_.end() ? it->second : Route{404, "Not Found", {}};
    std::string out = "HTTP/1.1 " + std::to_string(route.status) + " Status\r\n";
    if (!route.no_length)
      out += "Content-Length: " +
             std::to_string(route.declared_length >= 0 ? static_cast<size_t>(route.declared_length)
                                                       : route.body.size()) +
             "\r\n";
    out += "Connection: close\r\n";
    for (const std::string& h : route.headers) out += h + "\r\n";
    out += "\r\n" + route.body;
    size_t sent = 0;
    while (sent < out.size()) {
      const ssize_t n = ::send(c, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<size_t>(n);
    }
  }

  std::map<std::string, Route> routes_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<Request> requests_;
};

// ---- fixtures ----

const std::string kSha = "0123456789abcdef0123456789abcdef01234567";
const std::string kConfig = R"({"model_type":"gpt2"})";
const std::string kTokenizer = R"({"version":"1.0"})";
// sha256 of kTokenizer, from Python's hashlib.
const std::string kTokenizerSha256 =
    "c2823fb776dfaab48bfa06a33005d02a60492d87762cdb66c9c4155f97fbaa5d";

std::string one_tensor_file(const std::string& name, float value) {
  const std::string header =
      R"({")" + name + R"(":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  std::string out(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  out += header;
  out.append(reinterpret_cast<const char*>(&value), 4);
  return out;
}

// The Hub names an LFS file by the SHA-256 of its content (X-Linked-Etag).
const std::string kLinkedEtag = sha256_hex(one_tensor_file("wte.weight", 2.5f));

std::string api_answer(const std::vector<std::string>& files) {
  std::string s = R"({"id":"x","sha":")" + kSha + R"(","siblings":[)";
  for (size_t i = 0; i < files.size(); ++i) {
    if (i > 0) s += ",";
    s += R"({"rfilename":")" + files[i] + R"("})";
  }
  return s + "]}";
}

std::string resolve(const std::string& repo, const std::string& file) {
  return "/" + repo + "/resolve/" + kSha + "/" + file;
}

std::map<std::string, Route> hub_routes() {
  std::map<std::string, Route> r;
  r["/api/models/org/tiny/revision/main"] = {
      200,
      api_answer({".gitattributes", "README.md", "config.json", "tokenizer.json",
                  "model.safetensors", "pytorch_model.bin"}),
      {"Content-Type: application/json"}};
  r[resolve("org/tiny", "config.json")] = {200, kConfig, {"ETag: \"cfg-etag-1\""}};
  r[resolve("org/tiny", "tokenizer.json")] = {302, "", {"Location: /cdn/tok"}};
  r["/cdn/tok"] = {200, kTokenizer, {"ETag: \"weird/etag with spaces\""}};
  r[resolve("org/tiny", "model.safetensors")] = {
      302, "", {"Location: /cdn/weights", "X-Linked-Etag: \"" + kLinkedEtag + "\""}};
  r["/cdn/weights"] = {200, one_tensor_file("wte.weight", 2.5f), {"ETag: \"cdn\""}};

  r["/api/models/org/sharded/revision/main"] = {
      200,
      api_answer({"config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors",
                  "model-00002-of-00002.safetensors"}),
      {}};
  // As the Hub sends files kept in git: the ETag is the content's git blob id.
  r[resolve("org/sharded", "config.json")] = {
      200, kConfig, {"ETag: \"" + git_blob_sha1(kConfig) + "\""}};
  r[resolve("org/sharded", "model.safetensors.index.json")] = {
      200,
      R"({"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}})",
      {}};
  r[resolve("org/sharded", "model-00001-of-00002.safetensors")] = {
      200, one_tensor_file("a", 1.0f), {}};
  r[resolve("org/sharded", "model-00002-of-00002.safetensors")] = {
      200, one_tensor_file("b", 2.0f), {}};

  r["/api/models/org/evil/revision/main"] = {
      200, api_answer({"config.json", "model.safetensors.index.json"}), {}};
  r[resolve("org/evil", "config.json")] = {200, kConfig, {}};
  r[resolve("org/evil", "model.safetensors.index.json")] = {
      200, R"({"weight_map":{"a":"../../../escape.safetensors"}})", {}};

  r["/api/models/org/private/revision/main"] = {401, R"({"error":"Invalid credentials"})", {}};
  r["/api/models/org/gated/revision/main"] = {403, R"({"error":"gated"})", {}};
  r["/api/models/org/broken/revision/main"] = {
      200, api_answer({"config.json", "model.safetensors"}), {}};
  r[resolve("org/broken", "config.json")] = {200, kConfig, {}};
  r["/api/models/org/binonly/revision/main"] = {
      200, api_answer({"config.json", "pytorch_model.bin"}), {}};
  r["/api/models/org/teapot/revision/main"] = {500, "oops", {}};
  return r;
}

HubOptions options_for(const TempDir& dir, const std::string& endpoint) {
  HubOptions o;
  o.endpoint = endpoint;
  o.cache_dir = dir / "hub";
  return o;
}

std::string bad_input_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const BadInput& e) {
    return e.what();
  }
  return "";
}

// ---- download ----

TEST(HubDownload, LandsFilesInTheCacheLayoutAndResolvesOfflineAfterwards) {
  TempDir dir;
  TinyHttpServer server(hub_routes());
  HubOptions o = options_for(dir, server.url());
  o.token = "secret-token";
  std::map<std::string, std::pair<int64_t, int64_t>> last_progress;
  o.progress = [&](const std::string& f, int64_t done, int64_t total) {
    last_progress[f] = {done, total};
  };

  const std::string snapshot = download_model("org/tiny", o);
  const std::string repo = dir / "hub/models--org--tiny";
  EXPECT_EQ(snapshot, repo + "/snapshots/" + kSha);
  EXPECT_EQ(read_bytes(repo + "/refs/main"), kSha);

  // Blob names: the Hub's ETag, the X-Linked-Etag across a redirect, and our own sha256
  // when the ETag is unusable as a file name.
  EXPECT_EQ(fs::read_symlink(snapshot + "/config.json").string(), "../../blobs/cfg-etag-1");
  EXPECT_EQ(fs::read_symlink(snapshot + "/model.safetensors").string(),
            "../../blobs/" + kLinkedEtag);
  EXPECT_EQ(fs::read_symlink(snapshot + "/tokenizer.json").string(),
            "../../blobs/" + kTokenizerSha256);
  EXPECT_EQ(read_bytes(snapshot + "/config.json"), kConfig);
  EXPECT_EQ(read_bytes(snapshot + "/tokenizer.json"), kTokenizer);
  EXPECT_FALSE(fs::exists(snapshot + "/README.md"));
  EXPECT_FALSE(fs::exists(snapshot + "/pytorch_model.bin"));
  EXPECT_EQ(fs::directory_entry(repo + "/blobs").exists(), true);
  EXPECT_EQ(std::distance(fs::directory_iterator(repo + "/blobs"), fs::directory_iterator()), 3);

  const SafetensorsSet weights(snapshot);
  ASSERT_NE(weights.find("wte.weight"), nullptr);
  EXPECT_EQ(to_f32(*weights.find("wte.weight"))[0], 2.5f);

  const int64_t weights_size = static_cast<int64_t>(one_tensor_file("wte.weight", 2.5f).size());
  EXPECT_EQ(last_progress["model.safetensors"], std::make_pair(weights_size, weights_size));

  const std::vector<Request> seen = server.requests();
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen[0].path, "/api/models/org/tiny/revision/main");
  EXPECT_EQ(seen[0].authorization, "Bearer secret-token");

  server.stop();
  EXPECT_EQ(resolve_model("org/tiny", o), snapshot);
  o.offline = true;
  EXPECT_EQ(resolve_model("org/tiny", o), snapshot);
}

TEST(HubDownload, FetchesEveryShardOfAnIndex) {
  TempDir dir;
  TinyHttpServer server(hub_routes());
  const std::string snapshot = resolve_model("org/sharded", options_for(dir, server.url()));
  const SafetensorsSet weights(snapshot);
  EXPECT_EQ(to_f32(*weights.find("a"))[0], 1.0f);
  EXPECT_EQ(to_f32(*weights.find("b"))[0], 2.0f);
  EXPECT_EQ(weights.files().size(), 2u);
  // config.json's git blob id was checked and names its blob.
  EXPECT_EQ(fs::read_symlink(snapshot + "/config.json").string(),
            "../../blobs/" + git_blob_sha1(kConfig));
}

TEST(HubDownload, ShardNameOutsideTheSnapshotIsBadInput) {
  TempDir dir;
  TinyHttpServer server(hub_routes());
  EXPECT_THAT(
      bad_input_message([&] { download_model("org/evil", options_for(dir, server.url())); }),
      HasSubstr("must be a plain file name"));
  EXPECT_FALSE(fs::exists(dir / "escape.safetensors"));
  EXPECT_FALSE(fs::exists(dir / "hub/models--org--evil/refs/main"));
}

TEST(HubDownload, ExceptionFromProgressCallbackAbortsAndLeavesNoPartialFiles) {
  TempDir dir;
  TinyHttpServer server(hub_routes());
  HubOptions o = options_for(dir, server.url());
  o.progress = [](const std::string& file, int64_t, int64_t) {
    if (file == "model.safetensors") throw std::runtime_error("cancelled");
  };
  EXPECT_THROW(download_model("org/tiny", o), std::runtime_error);
  const std::string repo = dir / "hub/models--org--tiny";
  EXPECT_FALSE(fs::exists(repo + "/refs/main"));
  EXPECT_FALSE(fs::exists(repo + "/snapshots/" + kSha + "/model.safetensors"));
  for (const auto& e : fs::directory_iterator(repo + "/blobs"))
    EXPECT_EQ(e.path().filename().string().find(".model.safetensors.incomplete"),
              std::string::npos);
}

TEST(HubDownload, UnknownModelIsBadInput) {
  TempDir dir;
  TinyHttpServer server(hub_routes());
  EXPECT_EQ(
      bad_input_message([&] { download_model("org/missing", options_for(dir, server.url())); }),
      "model 'org/missing' not found on the Hub");
}

TEST(HubDownload, RefusedAccessMentionsHfToken) {
  TempDir dir;
  TinyHttpServer server(hub_routes());
  for (const char* repo : {"org/private", "org/gated"}) {
    const std::string msg =
        bad_input_message([&] { download_model(repo, options_for(dir, server.url())); });
    EXPECT_THAT(msg, HasSubstr(std::string("model '") + repo + "'"));
    EXPECT_THAT(msg, HasSubstr("HF_TOKEN"));
  }
}

TEST(HubDownload, MissingFileLeavesNoRefAndNoPartialBlob) {
  TempDir dir;
  TinyHttpServer server(hub_routes());
  EXPECT_THAT(
      bad_input_message([&] { download_model("org/broken", options_for(dir, server.url())); }),
      HasSubstr("model 'org/broken': file model.safetensors not found on the Hub"));
  const std::string repo = dir / "hub/models--org--broken";
  EXPECT_FALSE(fs::exists(repo + "/refs/main"));
  // Only config.json's blob; the failed download's temporary file is gone.
  EXPECT_EQ(std::distance(fs::directory_iterator(repo + "/blobs"), fs::directory_iterator()), 1);
  EXPECT_EQ(find_in_hub_cache("org/broken", options_for(dir, server.url())), std::nullopt);
}

TEST(HubDownload, RepoWithoutSafetensorsIsUnsupported) {
  TempDir dir;
  TinyHttpServer server(hub_routes());
  EXPECT_THROW(download_model("org/binonly", options_for(dir, server.url())), Unsupported);
}

TEST(HubDownload, ServerErrorIsIoError) {
  TempDir dir;
  TinyHttpServer server(hub_routes());
  EXPECT_THROW(download_model("org/teapot", options_for(dir, server.url())), IoError);
}

TEST(HubDownload, ConnectionFailureIsIoErrorWithCurlMessage) {
  // A port that was just free: nothing listens there.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::close(fd);
  TempDir dir;
  const HubOptions o = options_for(dir, "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)));
  try {
    download_model("org/tiny", o);
    FAIL() << "no exception";
  } catch (const IoError& e) {
    EXPECT_THAT(e.what(), HasSubstr("model 'org/tiny': GET http://127.0.0.1:"));
    EXPECT_THAT(e.what(),
                HasSubstr("onnect"));  // curl's "Failed to connect ..." / "Couldn't connect"
  }
}

TEST(HubDownload, OfflineAndNotCachedIsBadInput) {
  TempDir dir;
  HubOptions o = options_for(dir, "http://127.0.0.1:9");
  o.offline = true;
  const std::string want = "model 'org/tiny' is not in the local Hub cache (HF_HUB_OFFLINE=1)";
  EXPECT_EQ(bad_input_message([&] { resolve_model("org/tiny", o); }), want);
  EXPECT_EQ(bad_input_message([&] { download_model("org/tiny", o); }), want);
}

// ---- downloads that end early or differ from what the Hub announced (issue 14) ----

// org/<name>: config.json, then model.safetensors served by `weights`.
std::map<std::string, Route> routes_with_weights(const std::string& name, Route weights) {
  std::map<std::string, Route> r;
  r["/api/models/org/" + name + "/revision/main"] = {
      200, api_answer({"config.json", "model.safetensors"}), {}};
  r[resolve("org/" + name, "config.json")] = {200, kConfig, {}};
  r[resolve("org/" + name, "model.safetensors")] = std::move(weights);
  return r;
}

// Nothing of a failed download is in the cache: no ref, no link, no blob but config.json's.
void expect_nothing_kept(const TempDir& dir, const std::string& name) {
  const std::string repo = dir / ("hub/models--org--" + name);
  EXPECT_FALSE(fs::exists(repo + "/refs/main"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(repo + "/snapshots/" + kSha + "/model.safetensors")));
  std::vector<std::string> blobs;
  for (const auto& e : fs::directory_iterator(repo + "/blobs"))
    blobs.push_back(e.path().filename().string());
  EXPECT_EQ(blobs.size(), 1u) << "left behind: " << ::testing::PrintToString(blobs);
}

TEST(HubDownload, TransferShorterThanTheAnnouncedLfsSizeIsNotCached) {
  // The connection ends cleanly after half the file: no Content-Length, but the Hub announced
  // the LFS file's size.
  const std::string weights = one_tensor_file("wte.weight", 2.5f);
  Route r{200,
          weights.substr(0, weights.size() / 2),
          {"X-Linked-Size: " + std::to_string(weights.size())},
          /*no_length=*/true};
  TempDir dir;
  TinyHttpServer server(routes_with_weights("short", r));
  try {
    download_model("org/short", options_for(dir, server.url()));
    FAIL() << "no exception";
  } catch (const IoError& e) {
    EXPECT_THAT(e.what(), HasSubstr(fmt::format(
                              "model 'org/short': the download of model.safetensors ended after "
                              "{} of the {} bytes announced; nothing was kept",
                              weights.size() / 2, weights.size())));
  }
  expect_nothing_kept(dir, "short");
  // A later run with a good server downloads the file; nothing stale is in the way.
  TinyHttpServer good(
      routes_with_weights("short", {200, weights, {"X-Linked-Etag: \"" + kLinkedEtag + "\""}}));
  const std::string snapshot = download_model("org/short", options_for(dir, good.url()));
  EXPECT_EQ(read_bytes(snapshot + "/model.safetensors"), weights);
}

TEST(HubDownload, ConnectionClosedBeforeContentLengthIsNotCached) {
  const std::string weights = one_tensor_file("wte.weight", 2.5f);
  Route r{200, weights.substr(0, 10), {}};
  r.declared_length = static_cast<int64_t>(weights.size());
  TempDir dir;
  TinyHttpServer server(routes_with_weights("cut", r));
  EXPECT_THROW(download_model("org/cut", options_for(dir, server.url())), IoError);
  expect_nothing_kept(dir, "cut");
}

TEST(HubDownload, ContentWhoseSha256DiffersFromTheLinkedEtagIsNotCached) {
  const std::string weights = one_tensor_file("wte.weight", 2.5f);
  std::string corrupt = weights;
  corrupt.back() ^= 1;
  Route r{200, corrupt, {"X-Linked-Etag: \"" + kLinkedEtag + "\""}};
  TempDir dir;
  TinyHttpServer server(routes_with_weights("flip", r));
  try {
    download_model("org/flip", options_for(dir, server.url()));
    FAIL() << "no exception";
  } catch (const IoError& e) {
    EXPECT_THAT(e.what(), HasSubstr("model 'org/flip': the download of model.safetensors has "
                                    "SHA-256 " +
                                    sha256_hex(corrupt) + ", the Hub announced " + kLinkedEtag));
  }
  expect_nothing_kept(dir, "flip");
}

// A file kept in git whose content is not the blob its ETag names (a flipped byte, a proxy's
// error page of the same length) is not cached, and a later good download is.
TEST(HubDownload, ContentWhoseGitBlobIdDiffersFromTheEtagIsNotCached) {
  std::string corrupt = kConfig;
  corrupt[corrupt.size() / 2] ^= 1;
  const std::string etag = "ETag: \"" + git_blob_sha1(kConfig) + "\"";
  auto routes = [&](const std::string& config) {
    std::map<std::string, Route> r = routes_with_weights(
        "gitflip",
        {200, one_tensor_file("wte.weight", 2.5f), {"X-Linked-Etag: \"" + kLinkedEtag + "\""}});
    r[resolve("org/gitflip", "config.json")] = {200, config, {etag}};
    return r;
  };
  TempDir dir;
  {
    TinyHttpServer server(routes(corrupt));
    try {
      download_model("org/gitflip", options_for(dir, server.url()));
      FAIL() << "no exception";
    } catch (const IoError& e) {
      EXPECT_THAT(e.what(), HasSubstr("model 'org/gitflip': the download of config.json has git "
                                      "blob id " +
                                      git_blob_sha1(corrupt) + ", the Hub announced " +
                                      git_blob_sha1(kConfig) + "; nothing was kept"));
    }
    const std::string repo = dir / "hub/models--org--gitflip";
    EXPECT_FALSE(fs::exists(fs::symlink_status(repo + "/snapshots/" + kSha + "/config.json")));
    EXPECT_TRUE(fs::is_empty(repo + "/blobs"));
  }
  TinyHttpServer good(routes(kConfig));
  const std::string snapshot = download_model("org/gitflip", options_for(dir, good.url()));
  EXPECT_EQ(read_bytes(snapshot + "/config.json"), kConfig);
}

TEST(HubDownload, StaleTemporariesOfAKilledRunAreRemoved) {
  TempDir dir;
  const std::string repo = dir / "hub/models--org--tiny";
  fs::create_directories(repo + "/blobs");
  fs::create_directories(repo + "/snapshots/" + kSha);
  // pid 0x7ffffff0 is beyond any pid_max: no such process.
  const std::string stale = repo + "/blobs/.model.safetensors.incomplete.2147483632.0";
  const std::string stale_link = repo + "/snapshots/" + kSha + "/.config.json.link.2147483632.3";
  const std::string live = repo + "/blobs/.model.safetensors.incomplete.1.0";  // init lives
  const std::string other = repo + "/blobs/.notes";
  for (const std::string& f : {stale, stale_link, live, other}) write_bytes(f, "partial");
  TinyHttpServer server(hub_routes());
  download_model("org/tiny", options_for(dir, server.url()));
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_FALSE(fs::exists(stale_link));
  EXPECT_TRUE(fs::exists(live));
  EXPECT_TRUE(fs::exists(other));
}

// ---- cache resolution without network ----

// models--org--name/{refs/main, snapshots/<sha>/{config.json, model.safetensors}}
std::string make_cached_model(const std::string& cache, const std::string& folder,
                              const std::string& sha, bool with_weights = true) {
  const std::string repo = cache + "/" + folder;
  fs::create_directories(repo + "/refs");
  fs::create_directories(repo + "/snapshots/" + sha);
  write_bytes(repo + "/refs/main", sha + "\n");
  write_bytes(repo + "/snapshots/" + sha + "/config.json", kConfig);
  if (with_weights) write_bytes(repo + "/snapshots/" + sha + "/model.safetensors", "x");
  return repo + "/snapshots/" + sha;
}

TEST(HubCache, FindsSnapshotThroughRefsMain) {
  TempDir dir;
  const std::string snap = make_cached_model(dir / "hub", "models--openai-community--gpt2", kSha);
  HubOptions o;
  o.cache_dir = dir / "hub";
  EXPECT_EQ(find_in_hub_cache("openai-community/gpt2", o), snap);
  EXPECT_EQ(find_in_hub_cache("openai-community/gpt3", o), std::nullopt);
  o.revision = kSha;  // a commit needs no ref
  EXPECT_EQ(find_in_hub_cache("openai-community/gpt2", o), snap);
  o.revision = "v2";  // a branch without a ref is not cached
  EXPECT_EQ(find_in_hub_cache("openai-community/gpt2", o), std::nullopt);
}

TEST(HubCache, FindsModelWithoutOrganisation) {
  TempDir dir;
  const std::string snap = make_cached_model(dir / "hub", "models--gpt2", kSha);
  HubOptions o;
  o.cache_dir = dir / "hub";
  EXPECT_EQ(find_in_hub_cache("gpt2", o), snap);
}

TEST(HubCache, MissingSnapshotOrIncompleteSnapshotIsNotCached) {
  TempDir dir;
  HubOptions o;
  o.cache_dir = dir / "hub";
  const std::string snap = make_cached_model(dir / "hub", "models--org--a", kSha);
  fs::remove_all(snap);
  EXPECT_EQ(find_in_hub_cache("org/a", o), std::nullopt);
  make_cached_model(dir / "hub", "models--org--b", kSha, /*with_weights=*/false);
  EXPECT_EQ(find_in_hub_cache("org/b", o), std::nullopt);
}

TEST(HubCache, RefHoldingAPathIsBadInput) {
  TempDir dir;
  HubOptions o;
  o.cache_dir = dir / "hub";
  make_cached_model(dir / "hub", "models--org--a", kSha);
  write_bytes(dir / "hub/models--org--a/refs/main", "../../../etc");
  EXPECT_THROW(find_in_hub_cache("org/a", o), BadInput);
}

TEST(HubCache, RefThatIsAFifoIsRefused) {
  TempDir dir;
  HubOptions o;
  o.cache_dir = dir / "hub";
  make_cached_model(dir / "hub", "models--org--a", kSha);
  fs::remove(dir / "hub/models--org--a/refs/main");
  ASSERT_EQ(::mkfifo((dir / "hub/models--org--a/refs/main").c_str(), 0600), 0);
  EXPECT_THAT(bad_input_message([&] { find_in_hub_cache("org/a", o); }),
              HasSubstr("refs/main: not a regular file (a FIFO)"));
}

TEST(ResolveModel, ExistingPathIsReturnedAsIs) {
  TempDir dir;
  HubOptions o;
  o.cache_dir = dir / "hub";
  o.offline = true;
  EXPECT_EQ(resolve_model(dir.path(), o), dir.path());
}

TEST(ResolveModel, NeitherPathNorHubIdIsBadInput) {
  HubOptions o;
  o.offline = true;
  EXPECT_EQ(bad_input_message([&] { resolve_model("./no/such/dir", o); }),
            "model './no/such/dir': no such file or folder, and not a Hub id");
}

TEST(LooksLikeHubId, AcceptsIdsAndRejectsPaths) {
  EXPECT_TRUE(looks_like_hub_id("gpt2"));
  EXPECT_TRUE(looks_like_hub_id("openai-community/gpt2"));
  EXPECT_TRUE(looks_like_hub_id("HuggingFaceTB/SmolLM2-135M-Instruct"));
  EXPECT_TRUE(looks_like_hub_id("Qwen/Qwen2.5-0.5B"));
  EXPECT_FALSE(looks_like_hub_id(""));
  EXPECT_FALSE(looks_like_hub_id("/models/gpt2"));
  EXPECT_FALSE(looks_like_hub_id("./gpt2"));
  EXPECT_FALSE(looks_like_hub_id(".hidden"));
  EXPECT_FALSE(looks_like_hub_id("org/../gpt2"));
  EXPECT_FALSE(looks_like_hub_id("a/b/c"));
  EXPECT_FALSE(looks_like_hub_id("org/"));
  EXPECT_FALSE(looks_like_hub_id("my model"));
  EXPECT_FALSE(looks_like_hub_id("org--name"));
}

// ---- environment ----

class ScopedEnv {
 public:
  ScopedEnv() {
    for (const char* k : kKeys)
      if (const char* v = std::getenv(k)) saved_[k] = v;
    for (const char* k : kKeys) ::unsetenv(k);
  }
  ~ScopedEnv() {
    for (const char* k : kKeys) ::unsetenv(k);
    for (const auto& [k, v] : saved_) ::setenv(k.c_str(), v.c_str(), 1);
  }
  void set(const char* k, const char* v) { ::setenv(k, v, 1); }

 private:
  static constexpr const char* kKeys[] = {"HF_ENDPOINT",    "HF_HUB_CACHE", "HF_HOME",
                                          "XDG_CACHE_HOME", "HOME",         "HF_HUB_OFFLINE",
                                          "HF_TOKEN"};
  std::map<std::string, std::string> saved_;
};

TEST(HubOptionsFromEnv, DefaultsWhenNothingIsSet) {
  ScopedEnv env;
  env.set("HOME", "/home/u");
  const HubOptions o = hub_options_from_env();
  EXPECT_EQ(o.endpoint, "https://huggingface.co");
  EXPECT_EQ(o.cache_dir, "/home/u/.cache/huggingface/hub");
  EXPECT_FALSE(o.offline);
  EXPECT_EQ(o.token, "");
  EXPECT_EQ(o.revision, "main");
}

TEST(HubOptionsFromEnv, CacheFolderPrecedence) {
  ScopedEnv env;
  env.set("HOME", "/home/u");
  env.set("XDG_CACHE_HOME", "/xdg");
  EXPECT_EQ(hub_options_from_env().cache_dir, "/xdg/huggingface/hub");
  env.set("HF_HOME", "/hf");
  EXPECT_EQ(hub_options_from_env().cache_dir, "/hf/hub");
  env.set("HF_HUB_CACHE", "/cache");
  EXPECT_EQ(hub_options_from_env().cache_dir, "/cache");
}

TEST(HubOptionsFromEnv, EndpointOfflineAndToken) {
  ScopedEnv env;
  env.set("HF_ENDPOINT", "http://mirror.local:8080/");
  env.set("HF_HUB_OFFLINE", "1");
  env.set("HF_TOKEN", "hf_abc");
  HubOptions o = hub_options_from_env();
  EXPECT_EQ(o.endpoint, "http://mirror.local:8080");
  EXPECT_TRUE(o.offline);
  EXPECT_EQ(o.token, "hf_abc");
  env.set("HF_HUB_OFFLINE", "0");
  EXPECT_FALSE(hub_options_from_env().offline);
  env.set("HF_HUB_OFFLINE", "TRUE");
  EXPECT_TRUE(hub_options_from_env().offline);
}

}  // namespace
}  // namespace kvscope::io
