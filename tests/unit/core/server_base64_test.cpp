// server/base64.h: round trips, data URLs, URL-safe input, and malformed text refused with a
// message.
#include <gtest/gtest.h>

#include <string>

#include "server/base64.h"

namespace easel::server {
namespace {

TEST(ServerBase64, RoundTripsEveryLength) {
  std::string bytes;
  for (int i = 0; i < 300; ++i) {
    const std::string enc = Base64Encode(bytes);
    EXPECT_EQ(enc.size() % 4, 0u);
    auto dec = Base64Decode(enc, "x");
    if (bytes.empty()) {
      EXPECT_FALSE(dec.ok());  // empty is refused: an image cannot be empty
    } else {
      ASSERT_TRUE(dec.ok()) << dec.status().ToString();
      EXPECT_EQ(*dec, bytes);
    }
    bytes.push_back(static_cast<char>(i * 37));
  }
}

TEST(ServerBase64, KnownVectors) {
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(*Base64Decode("Zm9vYg", "x"), "foob");            // no padding
  EXPECT_EQ(*Base64Decode("Zm9v\nYmFy\r\n", "x"), "foobar");  // line breaks
  EXPECT_EQ(*Base64Decode("data:image/png;base64,Zm9v", "x"), "foo");
  EXPECT_EQ(*Base64Decode("-_8=", "x"), *Base64Decode("+/8=", "x"));  // URL-safe alphabet
}

TEST(ServerBase64, RefusesMalformedText) {
  for (const char* bad : {"Zm9v!", "Z", "Zm9vY", "Zm=9v", "data:image/png,Zm9v", "", "===="}) {
    auto r = Base64Decode(bad, "'init_image'");
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("'init_image'"), std::string::npos) << r.status().message();
  }
}

TEST(ServerBase64, RefusesOverTheLimit) {
  const std::string big = Base64Encode(std::string(4000, 'a'));
  EXPECT_TRUE(Base64Decode(big, "x", 4000).ok());
  EXPECT_FALSE(Base64Decode(big, "x", 1000).ok());
}

}  // namespace
}  // namespace easel::server
