#include "util/status.h"

#include <gtest/gtest.h>

namespace easel {
namespace {

TEST(Status, OkAndErrors) {
  EXPECT_TRUE(Status::Ok().ok());
  Status s = Corrupt("file.safetensors: truncated");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.ToString(), "corrupt: file.safetensors: truncated");
}

TEST(Result, HoldsValueOrStatus) {
  Result<int> r = 3;
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 3);
  Result<int> e = NotFound("x");
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), Code::kNotFound);
  EXPECT_THROW(e.value(), Error);
  // A Result built from an OK status is a bug, reported as such.
  Result<int> bad = Status::Ok();
  EXPECT_EQ(bad.status().code(), Code::kInternal);
}

TEST(Status, CatchAllConvertsExceptions) {
  Status s = CatchAll([] { throw Error(Code::kUnsupported, "no"); });
  EXPECT_EQ(s.code(), Code::kUnsupported);
  s = CatchAll([] { throw std::runtime_error("boom"); });
  EXPECT_EQ(s.code(), Code::kInternal);
  EXPECT_EQ(s.message(), "boom");
}

}  // namespace
}  // namespace easel
