// SHA-256 and SHA-1 (FIPS 180-4), used to check downloaded Hub files against the hashes the
// Hub names them by: SHA-256 for LFS files (X-Linked-Etag), the git blob SHA-1 for the rest
// (ETag), and to name blobs by their content when the server gives no ETag.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kvscope::io {

// What SHA-1 and SHA-256 share: 64-byte blocks, and the message padded with 0x80, zeros and
// its length in bits (big-endian) before the last block.
class BlockHash {
 public:
  virtual ~BlockHash() = default;
  void update(const void* data, size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }

 protected:
  virtual void block(const uint8_t* p) = 0;  // one 64-byte block into the state
  // Pads the message and returns the state's words as lowercase hex. Call once; the object is
  // spent afterwards.
  std::string finish(const uint32_t* state, size_t words);

 private:
  std::array<uint8_t, 64> buf_{};
  size_t buf_len_ = 0;
  uint64_t total_bytes_ = 0;
};

class Sha256 final : public BlockHash {
 public:
  Sha256();
  std::string hex_digest() { return finish(state_.data(), state_.size()); }  // 64 hex digits

 private:
  void block(const uint8_t* p) override;
  std::array<uint32_t, 8> state_;
};

class Sha1 final : public BlockHash {
 public:
  Sha1();
  std::string hex_digest() { return finish(state_.data(), state_.size()); }  // 40 hex digits

 private:
  void block(const uint8_t* p) override;
  std::array<uint32_t, 5> state_;
};

std::string sha256_hex(std::string_view bytes);
std::string sha1_hex(std::string_view bytes);

// The id git gives a file's content, which the Hub sends as the ETag of files not kept in
// LFS: the SHA-1 of "blob <size>\0" followed by the content.
std::string git_blob_sha1(std::string_view bytes);

}  // namespace kvscope::io
