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

}  // namespace
}  // namespace kvscope::io
