// SHA-256 against the FIPS 180-2 example vectors, streaming in odd pieces, and file hashing.
#include "util/sha256.h"

#include <gtest/gtest.h>

#include <string>

#include "io_temp_dir.h"

namespace easel {
namespace {

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, PaddingBoundaries) {
  // Lengths around the 56- and 64-byte block boundaries, hashed whole and byte by byte.
  for (size_t n : {55, 56, 57, 63, 64, 65, 119, 120, 128}) {
    std::string msg(n, 'x');
    Sha256 bytewise;
    for (char c : msg) bytewise.Update(&c, 1);
    EXPECT_EQ(bytewise.FinalHex(), Sha256Hex(msg)) << n;
  }
  // Known: 64 'a's.
  EXPECT_EQ(Sha256Hex(std::string(64, 'a')),
            "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

TEST(Sha256, StreamingInOddPiecesMatchesOneShot) {
  std::string msg;
  for (int i = 0; i < 5000; ++i) msg += static_cast<char>(i * 7 + 3);
  Sha256 sha;
  size_t pos = 0;
  for (size_t piece = 1; pos < msg.size(); piece = piece * 3 % 97 + 1) {
    size_t take = std::min(piece, msg.size() - pos);
    sha.Update(msg.data() + pos, take);
    pos += take;
  }
  EXPECT_EQ(sha.FinalHex(), Sha256Hex(msg));
  // Final() resets: the object hashes a new message.
  sha.Update("abc");
  EXPECT_EQ(sha.FinalHex(), Sha256Hex("abc"));
}

TEST(Sha256, FileAndAutoV2Hash) {
  testing::TempDir dir;
  // Larger than the 1 MiB read block, not a multiple of it.
  std::string content(3 * (1 << 20) + 12345, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i % 251);
  std::string path = dir.Write("model.safetensors", content);
  Result<std::string> hex = Sha256File(path);
  ASSERT_TRUE(hex.ok()) << hex.status().ToString();
  EXPECT_EQ(*hex, Sha256Hex(content));
  EXPECT_EQ(AutoV2Hash(*hex), hex->substr(0, 10));
  EXPECT_EQ(AutoV2Hash("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            "e3b0c44298");

  Result<std::string> missing = Sha256File(dir.File("nope.safetensors"));
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(missing.status().message().find("nope.safetensors"), std::string::npos);
  EXPECT_EQ(Sha256File(dir.path()).status().code(), Code::kIo);
}

}  // namespace
}  // namespace easel
