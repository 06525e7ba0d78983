#include "kvscope/io/sha256.hpp"

#include <gtest/gtest.h>

namespace kvscope::io {
namespace {

// Digests from Python's hashlib.
TEST(Sha256, MatchesKnownDigests) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(std::string(200, 'x')),
            "aa20c23e3201834050679e1d88941b9a6fed0557c9a705cb2c315e2e63fd486d");
}

TEST(Sha256, PiecewiseUpdatesEqualOneUpdate) {
  Sha256 h;
  const std::string chunk(1001, 'a');
  for (int i = 0; i < 1000; ++i) h.update(chunk.data(), i % 2 ? 999 : 1001);
  EXPECT_EQ(h.hex_digest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// SHA-1 digests from FIPS 180-4's examples (as Python's hashlib gives them), across block
// boundaries and in pieces of odd sizes.
TEST(Sha1, MatchesKnownDigests) {
  EXPECT_EQ(sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(sha1_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  Sha1 h;
  const std::string chunk(1001, 'a');
  for (int i = 0; i < 1000; ++i) h.update(chunk.data(), i % 2 ? 999 : 1001);
  EXPECT_EQ(h.hex_digest(), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

// The ids `git hash-object` prints, which the Hub sends as ETags of files not in LFS.
TEST(Sha1, GitBlobIdsEqualGitHashObject) {
  EXPECT_EQ(git_blob_sha1(""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
  EXPECT_EQ(git_blob_sha1("hello world\n"), "3b18e512dba79e4c8300dd08aeb37f8e728b8dad");
}

}  // namespace
}  // namespace kvscope::io
