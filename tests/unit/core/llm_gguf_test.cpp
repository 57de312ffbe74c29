// GgufFile and the dequantiser: a file written by the `gguf` Python package (every metadata
// value type, one tensor of each supported ggml type) read back and dequantised against
// gguf.quants.dequantize; and a table of malformed files (the published GGUF vulnerability
// classes), each rejected with the right code and a message naming what was wrong.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "io_temp_dir.h"
#include "llm/dequant.h"
#include "llm/gguf.h"
#include "llm_gguf_builder.h"
#include "test_paths.h"

namespace easel::llm {
namespace {

using testing::GgufBuilder;

const std::string kQuants = std::string(EASEL_FIXTURES_DIR) + "/llm/quants.gguf";
const std::string kQuantsRef = std::string(EASEL_FIXTURES_DIR) + "/llm/quants_ref.safetensors";

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(GgufReader, ReadsEveryValueTypeFromTheReferenceWriter) {
  auto opened = GgufFile::Open(kQuants);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  const GgufFile& f = **opened;
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.data_offset() % 32, 0u);
  EXPECT_EQ(*f.GetString("general.architecture"), "test");
  EXPECT_EQ(*f.GetInt("test.u8"), 200);
  EXPECT_EQ(*f.GetInt("test.i8"), -100);
  EXPECT_EQ(*f.GetInt("test.u16"), 60000);
  EXPECT_EQ(*f.GetInt("test.i16"), -30000);
  EXPECT_EQ(*f.GetInt("test.u32"), 4000000000LL);
  EXPECT_EQ(*f.GetInt("test.i32"), -2000000000LL);
  EXPECT_EQ(*f.GetFloat("test.f32"), 0.25);
  EXPECT_TRUE(*f.GetBool("test.bool"));
  EXPECT_EQ(*f.GetString("test.string"), "h\xc3\xa9llo");
  EXPECT_EQ(*f.GetInt("test.u64"), int64_t{1} << 40);
  EXPECT_EQ(*f.GetInt("test.i64"), -(int64_t{1} << 40));
  EXPECT_EQ(*f.GetFloat("test.f64"), 1e-300);
  const GgufValue* strs = f.Find("test.array_str");
  ASSERT_NE(strs, nullptr);
  ASSERT_NE(strs->AsStringArray(), nullptr);
  EXPECT_EQ(*strs->AsStringArray(), (std::vector<std::string>{"a", "bc", ""}));
  EXPECT_EQ(*f.Find("test.array_i32")->AsIntArray(), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(*f.Find("test.array_f32")->AsFloatArray(), (std::vector<double>{0.5, -1.5}));
  EXPECT_EQ(f.Find("test.array_f32")->Summary(), "[2 float32]");

  // Typed look-ups name the key when absent or of another type.
  auto missing = f.GetInt("no.such.key");
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_TRUE(Contains(missing.status().message(), "no.such.key"));
  auto wrong = f.GetInt("test.string");
  EXPECT_EQ(wrong.status().code(), Code::kCorrupt);
  EXPECT_TRUE(Contains(wrong.status().message(), "expected an integer"));

  ASSERT_EQ(f.tensors().size(), 9u);
  const GgufTensorInfo* q4k = f.FindTensor("Q4_K");
  ASSERT_NE(q4k, nullptr);
  EXPECT_EQ(q4k->type, GgmlType::kQ4_K);
  EXPECT_EQ(q4k->shape, (std::vector<int64_t>{512, 2}));
  EXPECT_EQ(q4k->nbytes, 2u * 2 * 144);
  EXPECT_EQ(q4k->numel(), 1024);
  EXPECT_EQ(f.FindTensor("nope"), nullptr);
}

TEST(GgufReader, FromBytesMatchesOpen) {
  auto opened = GgufFile::Open(kQuants);
  ASSERT_TRUE(opened.ok());
  testing::GgufBuilder unused;
  (void)unused;
  std::string bytes(
      reinterpret_cast<const char*>((*opened)->tensors()[0].data) - (*opened)->tensors()[0].offset,
      (*opened)->file_size());
  auto mem = GgufFile::FromBytes(bytes, "mem.gguf");
  ASSERT_TRUE(mem.ok()) << mem.status().ToString();
  EXPECT_EQ((*mem)->tensors().size(), 9u);
  EXPECT_EQ((*mem)->metadata().size(), (*opened)->metadata().size());
}

// Every type against gguf.quants.dequantize. Tolerance: none. Each element is one or two
// float32 products/sums of the same operands in the same order as numpy's (d * sc first, then
// times q, minus dmin * m), so the results are bit-identical; a difference is a layout bug.
TEST(GgufDequant, MatchesTheGgufPackageForEveryType) {
  auto opened = GgufFile::Open(kQuants);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto ref = io::SafetensorsFile::Open(kQuantsRef);
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  for (const char* name : {"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q5_K", "Q6_K"}) {
    SCOPED_TRACE(name);
    const GgufTensorInfo* t = (*opened)->FindTensor(name);
    ASSERT_NE(t, nullptr);
    EXPECT_TRUE(CanDequantize(t->type));
    auto got = DequantizeTensor(*t);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    const io::TensorInfo* r = (*ref)->Find(name);
    ASSERT_NE(r, nullptr);
    ASSERT_EQ(r->numel(), static_cast<int64_t>(got->size()));
    const auto* want = reinterpret_cast<const float*>(r->data);
    float max_abs = 0, max_err = 0;
    for (size_t i = 0; i < got->size(); ++i) {
      max_abs = std::max(max_abs, std::fabs(want[i]));
      max_err = std::max(max_err, std::fabs(want[i] - (*got)[i]));
    }
    EXPECT_EQ(max_err, 0.0f) << "max |ref| " << max_abs;
    std::printf("[ figures  ] %s: max |error| %.3g (max |value| %.3g)\n", name, max_err, max_abs);
  }
}

TEST(GgufDequant, RefusesWhatItCannotDo) {
  std::vector<uint8_t> src(64);
  std::vector<float> dst(64);
  Status st = Dequantize(GgmlType::kIQ2_XXS, src.data(), src.size(), 256, dst.data());
  EXPECT_EQ(st.code(), Code::kUnsupported);
  EXPECT_TRUE(Contains(st.message(), "IQ2_XXS"));
  st = Dequantize(GgmlType::kQ8_0, src.data(), src.size(), 33, dst.data());
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  st = Dequantize(GgmlType::kQ8_0, src.data(), 33, 32, dst.data());  // one block is 34 bytes
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
}

TEST(GgufDequant, HalfFloats) {
  EXPECT_EQ(HalfToFloat(0x3C00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xC000), -2.0f);
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(HalfToFloat(0x7BFF), 65504.0f);
  EXPECT_TRUE(std::isinf(HalfToFloat(0x7C00)));
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7E00)));
  EXPECT_EQ(Bf16ToFloat(0x3F80), 1.0f);
}

// A valid two-tensor file the malformed cases below start from.
std::string ValidFile() {
  GgufBuilder b;
  b.Header(2, 2).KvStr("general.architecture", "llama").KvU32("general.alignment", 32);
  b.Tensor("a", {32, 2}, /*Q8_0*/ 8, 0).Tensor("b", {4}, /*F32*/ 0, 96);
  return b.Data(96 + 16).bytes();
}

struct BadCase {
  const char* what;
  std::string bytes;
  Code code;
  const char* message_part;
};

std::vector<BadCase> BadCases() {
  const uint64_t kHuge = 0x7FFFFFFFFFFFFFFFull;
  std::vector<BadCase> cases;
  auto add = [&](const char* what, const GgufBuilder& b, Code code, const char* part) {
    cases.push_back({what, b.bytes(), code, part});
  };
  add("empty", GgufBuilder(), Code::kCorrupt, "not a GGUF file");
  add("bad magic", GgufBuilder().Raw("GGML").U32(3).U64(0).U64(0), Code::kCorrupt,
      "not a GGUF file");
  add("header cut short", GgufBuilder().Raw("GGUF").U32(3).U64(0), Code::kCorrupt,
      "file ends at byte 16");
  add("version 1", GgufBuilder().Header(0, 0, 1), Code::kUnsupported, "version 1");
  add("big-endian", GgufBuilder().Header(0, 0, 0x03000000u), Code::kUnsupported, "big-endian");
  add("version 7", GgufBuilder().Header(0, 0, 7), Code::kCorrupt, "version 7");
  add("kv count lies", GgufBuilder().Header(0, kHuge).KvU32("x", 1), Code::kCorrupt,
      "metadata entries");
  add("tensor count lies", GgufBuilder().Header(kHuge, 0), Code::kCorrupt, "tensors");
  add("key longer than the file", GgufBuilder().Header(0, 1).U64(1000).Raw("abc").U32(4).U32(1),
      Code::kCorrupt, "bytes remain");
  add("key over the limit",
      GgufBuilder().Header(0, 1).U64(1u << 20).Raw(std::string(1u << 20, 'k')), Code::kCorrupt,
      "the limit is 65536");
  add("string value longer than the file",
      GgufBuilder().Header(0, 1).Str("k").U32(8).U64(kHuge).Raw("short"), Code::kCorrupt,
      "metadata 'k'");
  add("value type out of range", GgufBuilder().Header(0, 1).Str("k").U32(13).U32(0), Code::kCorrupt,
      "value type 13");
  add("array count lies", GgufBuilder().Header(0, 1).Str("k").U32(9).U32(5).U64(kHuge).U32(1),
      Code::kCorrupt, "elements of int32");
  add("string array count lies",
      GgufBuilder().Header(0, 1).Str("tokenizer.ggml.tokens").U32(9).U32(8).U64(1u << 30).Str("a"),
      Code::kCorrupt, "tokenizer.ggml.tokens");
  add("string in an array longer than the file",
      GgufBuilder().Header(0, 1).Str("k").U32(9).U32(8).U64(2).Str("a").U64(1000).Raw("xy"),
      Code::kCorrupt, "'k' element 1");
  add("array of arrays", GgufBuilder().Header(0, 1).Str("k").U32(9).U32(9).U64(0),
      Code::kUnsupported, "array of arrays");
  add("array element type out of range", GgufBuilder().Header(0, 1).Str("k").U32(9).U32(77).U64(0),
      Code::kCorrupt, "value type 77");
  add("truncated scalar", GgufBuilder().Header(0, 1).Str("k").U32(10).U32(1), Code::kCorrupt,
      "metadata 'k'");
  add("duplicate key", GgufBuilder().Header(0, 2).KvU32("k", 1).KvU32("k", 2), Code::kCorrupt,
      "appears twice");
  add("alignment not a power of two", GgufBuilder().Header(0, 1).KvU32("general.alignment", 24),
      Code::kCorrupt, "general.alignment");
  add("alignment zero", GgufBuilder().Header(0, 1).KvU32("general.alignment", 0), Code::kCorrupt,
      "power of two");
  add("alignment of the wrong type", GgufBuilder().Header(0, 1).KvStr("general.alignment", "32"),
      Code::kCorrupt, "general.alignment");
  add("n_dims 5", GgufBuilder().Header(1, 0).Tensor("t", {1, 1, 1, 1, 1}, 0, 0).Data(32),
      Code::kCorrupt, "5 dimensions");
  add("n_dims huge", GgufBuilder().Header(1, 0).Str("t").U32(0xFFFFFFFFu).Data(64), Code::kCorrupt,
      "4294967295 dimensions");
  add("negative dimension", GgufBuilder().Header(1, 0).Tensor("t", {~uint64_t{0}}, 0, 0).Data(32),
      Code::kCorrupt, "negative");
  add("element count overflows",
      GgufBuilder().Header(1, 0).Tensor("t", {1ull << 32, 1ull << 32}, 0, 0).Data(32),
      Code::kCorrupt, "63 bits");
  add("byte size overflows",
      GgufBuilder().Header(1, 0).Tensor("t", {1ull << 31, 1ull << 31}, /*F64*/ 28, 0).Data(32),
      Code::kCorrupt, "overflows 64 bits");
  add("type id out of range", GgufBuilder().Header(1, 0).Tensor("t", {4}, 99, 0).Data(32),
      Code::kCorrupt, "type id 99");
  add("removed type id", GgufBuilder().Header(1, 0).Tensor("t", {32}, 4, 0).Data(32),
      Code::kUnsupported, "removed");
  add("row not a whole number of blocks",
      GgufBuilder().Header(1, 0).Tensor("t", {33}, 8, 0).Data(64), Code::kCorrupt,
      "not a multiple");
  add("tensor past the end of the file",
      GgufBuilder().Header(1, 0).Tensor("t", {64}, 0, 0).Data(100), Code::kCorrupt,
      "tensor 't' (F32) ends at byte");
  add("offset far out of bounds",
      GgufBuilder().Header(1, 0).Tensor("t", {4}, 0, 0xFFFFFFFFFFFFFFE0ull).Data(32),
      Code::kCorrupt, "ends at byte");
  add("offset not aligned", GgufBuilder().Header(1, 0).Tensor("t", {4}, 0, 8).Data(64),
      Code::kCorrupt, "not a multiple of the alignment");
  add("overlapping tensors",
      GgufBuilder().Header(2, 0).Tensor("a", {16}, 0, 0).Tensor("b", {16}, 0, 32).Data(128),
      Code::kCorrupt, "overlap");
  add("duplicate tensor name",
      GgufBuilder().Header(2, 0).Tensor("a", {4}, 0, 0).Tensor("a", {4}, 0, 32).Data(64),
      Code::kCorrupt, "appears twice");
  add("tensor name longer than the file",
      GgufBuilder().Header(1, 0).U64(1ull << 40).Raw(std::string(40, 't')), Code::kCorrupt,
      "tensor info #0");
  add("data section past the end", GgufBuilder().Header(1, 0).Tensor("t", {0}, 0, 0),
      Code::kCorrupt, "data section");
  return cases;
}

TEST(GgufReader, ValidBaseFileOpens) {
  auto f = GgufFile::FromBytes(ValidFile(), "valid.gguf");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)->tensors().size(), 2u);
  EXPECT_EQ((*f)->FindTensor("b")->offset, (*f)->data_offset() + 96);
}

TEST(GgufReader, MalformedFilesGiveClearErrors) {
  for (const BadCase& c : BadCases()) {
    SCOPED_TRACE(c.what);
    auto f = GgufFile::FromBytes(c.bytes, "bad.gguf");
    ASSERT_FALSE(f.ok());
    EXPECT_EQ(f.status().code(), c.code) << f.status().ToString();
    EXPECT_TRUE(Contains(f.status().message(), c.message_part)) << f.status().ToString();
    EXPECT_TRUE(Contains(f.status().message(), "bad.gguf")) << f.status().ToString();
  }
}

TEST(GgufReader, MalformedFilesGiveTheSameErrorsThroughOpen) {
  easel::testing::TempDir dir;
  for (const BadCase& c : BadCases()) {
    SCOPED_TRACE(c.what);
    const std::string path = dir.Write("bad.gguf", c.bytes);
    auto f = GgufFile::Open(path);
    ASSERT_FALSE(f.ok());
    EXPECT_EQ(f.status().code(), c.code) << f.status().ToString();
  }
  auto missing = GgufFile::Open(dir.File("missing.gguf"));
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  auto directory = GgufFile::Open(dir.path());
  EXPECT_EQ(directory.status().code(), Code::kIo);
}

// Cutting the reference file anywhere before its last tensor's end must fail cleanly.
TEST(GgufReader, EveryTruncationIsRejected) {
  auto full = GgufFile::Open(kQuants);
  ASSERT_TRUE(full.ok());
  const std::string bytes(
      reinterpret_cast<const char*>((*full)->tensors()[0].data) - (*full)->tensors()[0].offset,
      (*full)->file_size());
  uint64_t end = 0;
  for (const GgufTensorInfo& t : (*full)->tensors()) end = std::max(end, t.offset + t.nbytes);
  for (uint64_t n = 0; n < end; n += (n < (*full)->data_offset() ? 1 : 97)) {
    auto f = GgufFile::FromBytes(bytes.substr(0, n), "cut.gguf");
    ASSERT_FALSE(f.ok()) << "accepted the first " << n << " bytes";
    EXPECT_EQ(f.status().code(), Code::kCorrupt) << n << ": " << f.status().ToString();
  }
}

}  // namespace
}  // namespace easel::llm
