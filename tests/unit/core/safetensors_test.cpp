// SafetensorsFile: round trip of every dtype through WriteSafetensors, a file made by the
// reference writer, and a table of malformed files, each rejected with the right code and a
// message naming the file (and the tensor where there is one).
#include "io/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "io_temp_dir.h"
#include "test_paths.h"

namespace easel::io {
namespace {

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::string Le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}

// A file with this header text and `data_bytes` zero bytes of data.
std::string Raw(const std::string& header, size_t data_bytes) {
  return Le64(header.size()) + header + std::string(data_bytes, '\0');
}

TEST(Safetensors, DTypeNamesAndSizes) {
  DType d;
  ASSERT_TRUE(ParseDType("BF16", &d));
  EXPECT_EQ(d, DType::kBF16);
  EXPECT_STREQ(DTypeName(DType::kF8E4M3), "F8_E4M3");
  EXPECT_EQ(DTypeSize(DType::kF64), 8u);
  EXPECT_EQ(DTypeSize(DType::kBool), 1u);
  EXPECT_FALSE(ParseDType("f16", &d));
  EXPECT_FALSE(ParseDType("F12", &d));
}

TEST(Safetensors, RoundTripEveryDType) {
  testing::TempDir dir;
  const std::vector<DType> dtypes = {DType::kBool, DType::kU8,     DType::kI8,    DType::kI16,
                                     DType::kU16,  DType::kI32,    DType::kU32,   DType::kI64,
                                     DType::kU64,  DType::kF16,    DType::kBF16,  DType::kF32,
                                     DType::kF64,  DType::kF8E4M3, DType::kF8E5M2};
  std::vector<std::string> storage;
  std::vector<TensorBytes> tensors;
  storage.reserve(dtypes.size() + 3);
  for (size_t k = 0; k < dtypes.size(); ++k) {
    // Odd sizes so the tensors are not all 8-byte aligned in the data section.
    std::vector<int64_t> shape = {static_cast<int64_t>(k % 3 + 1), 3};
    std::string bytes(static_cast<size_t>(shape[0] * 3) * DTypeSize(dtypes[k]), '\0');
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 37 + k);
    storage.push_back(std::move(bytes));
    tensors.push_back({std::string("t.") + DTypeName(dtypes[k]), dtypes[k], shape, storage.back()});
  }
  storage.push_back(std::string("\x00\x00\x80\x3f", 4));
  tensors.push_back({"x.scalar", DType::kF32, {}, storage.back()});
  tensors.push_back({"y.empty", DType::kF16, {0, 5}, ""});  // zero-size tensors last
  tensors.push_back({"z.empty", DType::kBF16, {3, 0}, ""});
  const std::map<std::string, std::string> metadata = {{"format", "pt"},
                                                       {"note", "caf\xc3\xa9 \xe7\x8c\xab"}};
  const std::string path = dir.File("round trip.safetensors");
  Status st = WriteSafetensors(path, tensors, metadata);
  ASSERT_TRUE(st.ok()) << st.ToString();

  for (bool header_only : {false, true}) {
    SCOPED_TRACE(header_only ? "OpenHeaderOnly" : "Open");
    auto opened = header_only ? SafetensorsFile::OpenHeaderOnly(path) : SafetensorsFile::Open(path);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    std::shared_ptr<const SafetensorsFile> file = *opened;
    EXPECT_EQ(file->path(), path);
    EXPECT_EQ(file->metadata(), metadata);
    ASSERT_EQ(file->tensors().size(), tensors.size());
    const uint64_t data_start = file->tensors()[0].offset;
    EXPECT_EQ(data_start % 8, 0u) << "header padded to 8 bytes";
    uint64_t end = data_start;
    for (size_t i = 0; i < tensors.size(); ++i) {
      const TensorInfo& t = file->tensors()[i];
      SCOPED_TRACE(t.name);
      EXPECT_EQ(t.name, tensors[i].name) << "laid out in the order given";
      EXPECT_EQ(t.dtype, tensors[i].dtype);
      EXPECT_EQ(t.shape, tensors[i].shape);
      EXPECT_EQ(t.nbytes, tensors[i].bytes.size());
      EXPECT_EQ(t.offset, end);
      EXPECT_EQ(static_cast<uint64_t>(t.numel()) * DTypeSize(t.dtype), t.nbytes);
      end += t.nbytes;
      if (header_only) {
        EXPECT_EQ(t.data, nullptr);
      } else {
        ASSERT_NE(t.data, nullptr);
        EXPECT_EQ(std::string(reinterpret_cast<const char*>(t.data), t.nbytes), tensors[i].bytes);
      }
      EXPECT_EQ(file->Find(t.name), &t);
    }
    EXPECT_EQ(end, file->file_size());
    EXPECT_EQ(file->Find("absent"), nullptr);
    EXPECT_EQ(file->tensors()[tensors.size() - 3].numel(), 1);  // the scalar
  }
}

TEST(Safetensors, EmptyHeaderIsValid) {
  testing::TempDir dir;
  auto file = SafetensorsFile::Open(dir.Write("e.safetensors", Raw("{}      ", 0)));
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_TRUE((*file)->tensors().empty());
  EXPECT_TRUE((*file)->metadata().empty());
}

TEST(Safetensors, ZeroDimensionMakesAnEmptyTensorWhateverTheOthers) {
  testing::TempDir dir;
  const std::string header =
      R"({"w":{"dtype":"F32","shape":[4611686018427387904,4,0],"data_offsets":[0,0]}})";
  auto file = SafetensorsFile::Open(dir.Write("z.safetensors", Raw(header, 0)));
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ((*file)->tensors().at(0).numel(), 0);
  EXPECT_EQ((*file)->tensors().at(0).nbytes, 0u);
}

TEST(Safetensors, WriterRejectsBadInput) {
  testing::TempDir dir;
  const std::string four(4, '\0');
  auto write = [&](std::vector<TensorBytes> t) { return WriteSafetensors(dir.File("w"), t); };
  Status size = write({{"w", DType::kF32, {2}, four}});
  EXPECT_EQ(size.code(), Code::kInvalidArgument);
  EXPECT_TRUE(Contains(size.message(), "'w'")) << size.message();
  EXPECT_EQ(write({{"w", DType::kF32, {1}, four}, {"w", DType::kF32, {1}, four}}).code(),
            Code::kInvalidArgument);
  EXPECT_EQ(write({{"__metadata__", DType::kF32, {1}, four}}).code(), Code::kInvalidArgument);
  EXPECT_EQ(write({{"w", DType::kF32, {-1}, ""}}).code(), Code::kInvalidArgument);
  Status io = WriteSafetensors("/nonexistent/dir/x.safetensors", {});
  EXPECT_EQ(io.code(), Code::kIo);
  EXPECT_TRUE(Contains(io.message(), "/nonexistent/dir/x.safetensors")) << io.message();
}

// Written by the safetensors package (tools/make_io_fixtures.py): values i * 0.5 - 1 for the
// float tensors, i * 1000 for the I64 one. Exact: every value is representable in each dtype.
TEST(Safetensors, ReadsTheReferenceWritersFile) {
  auto opened = SafetensorsFile::Open(EASEL_FIXTURES_DIR "/io/reference.safetensors");
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  const SafetensorsFile& file = **opened;
  EXPECT_EQ(file.metadata(), (std::map<std::string, std::string>{{"format", "pt"}}));
  std::vector<std::string> names;
  for (const TensorInfo& t : file.tensors()) names.push_back(t.name);
  // File order: the reference writer sorts by alignment, then by name.
  EXPECT_EQ(names, (std::vector<std::string>{"d.i64", "a.f32", "c.bf16", "b.f16"}));

  const TensorInfo* a = file.Find("a.f32");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  for (int i = 0; i < 6; ++i) {
    float v;
    std::memcpy(&v, a->data + 4 * i, 4);
    EXPECT_EQ(v, i * 0.5f - 1) << i;
  }
  const TensorInfo* b = file.Find("b.f16");
  ASSERT_NE(b, nullptr);
  const uint16_t f16_bits[] = {0xBC00, 0xB800, 0x0000, 0x3800};  // -1, -0.5, 0, 0.5
  for (int i = 0; i < 4; ++i) {
    uint16_t bits;
    std::memcpy(&bits, b->data + 2 * i, 2);
    EXPECT_EQ(bits, f16_bits[i]) << i;
  }
  const TensorInfo* c = file.Find("c.bf16");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->shape, (std::vector<int64_t>{2, 2, 2}));
  for (int i = 0; i < 8; ++i) {
    uint16_t bits;
    std::memcpy(&bits, c->data + 2 * i, 2);
    uint32_t f32_bits = uint32_t{bits} << 16;
    float v;
    std::memcpy(&v, &f32_bits, 4);
    EXPECT_EQ(v, i * 0.5f - 1) << i;
  }
  const TensorInfo* d = file.Find("d.i64");
  ASSERT_NE(d, nullptr);
  for (int i = 0; i < 3; ++i) {
    int64_t v;
    std::memcpy(&v, d->data + 8 * i, 8);
    EXPECT_EQ(v, i * 1000) << i;
  }
}

TEST(Safetensors, HeaderLengthStartingLikeAPickleIsNotAPickle) {
  // A header of 0x280 bytes: the file starts 0x80 0x02, the pickle protocol-2 magic.
  testing::TempDir dir;
  std::string header = R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})";
  header.resize(0x280, ' ');
  auto file = SafetensorsFile::Open(dir.Write("odd.safetensors", Raw(header, 1)));
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ((*file)->tensors().size(), 1u);
}

TEST(Safetensors, MissingFileAndDirectory) {
  testing::TempDir dir;
  auto missing = SafetensorsFile::Open(dir.File("nope.safetensors"));
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_TRUE(Contains(missing.status().message(), "nope.safetensors"));
  EXPECT_EQ(SafetensorsFile::OpenHeaderOnly(dir.File("nope.safetensors")).status().code(),
            Code::kNotFound);
  EXPECT_EQ(SafetensorsFile::Open(dir.path()).status().code(), Code::kIo);
}

struct BadCase {
  const char* name;  // also the file's stem
  std::string bytes;
  Code code;
  std::vector<std::string> mentions;  // besides the path
  const char* extension = ".safetensors";
};

std::string Entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  const std::string& offsets) {
  return "\"" + name + "\":{\"dtype\":" + dtype + ",\"shape\":" + shape +
         ",\"data_offsets\":" + offsets + "}";
}

std::vector<BadCase> BadCases() {
  const std::string deep = std::string(40, '[') + std::string(40, ']');
  return {
      {"empty_file", "", Code::kCorrupt, {"0 bytes", "download it again"}},
      {"seven_bytes", std::string(7, '\0'), Code::kCorrupt, {"7 bytes", "truncated"}},
      {"header_past_end", Le64(1000) + "{}", Code::kCorrupt, {"1008", "truncated"}},
      {"header_over_100mb", Le64(200'000'000) + "{}", Code::kCorrupt, {"100000000"}},
      {"header_too_short", Le64(1) + "{", Code::kCorrupt, {"too short"}},
      {"not_json", Raw("{\"w\": nope}", 0), Code::kCorrupt, {"not valid JSON"}},
      {"json_array", Raw("[1, 2]", 0), Code::kCorrupt, {"array", "expected an object"}},
      {"not_utf8", Raw("{\"w\xff\": 1}", 0), Code::kCorrupt, {"not valid JSON"}},
      {"too_deep", Raw("{\"__metadata__\":" + deep + "}", 0), Code::kCorrupt, {"deep"}},
      {"duplicate_key",
       Raw("{" + Entry("w", "\"U8\"", "[1]", "[0,1]") + "," + Entry("w", "\"U8\"", "[1]", "[1,2]") +
               "}",
           2),
       Code::kCorrupt,
       {"'w'", "twice"}},
      {"entry_not_object", Raw(R"({"w": 3})", 0), Code::kCorrupt, {"'w'", "number"}},
      {"missing_dtype",
       Raw(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4),
       Code::kCorrupt,
       {"'w'", "dtype"}},
      {"dtype_not_string",
       Raw("{" + Entry("w", "5", "[1]", "[0,4]") + "}", 4),
       Code::kCorrupt,
       {"'w'", "dtype"}},
      {"unknown_dtype",
       Raw("{" + Entry("w", "\"F12\"", "[1]", "[0,4]") + "}", 4),
       Code::kCorrupt,
       {"'w'", "F12"}},
      {"newer_dtype",
       Raw("{" + Entry("w", "\"F8_E8M0\"", "[1]", "[0,1]") + "}", 1),
       Code::kUnsupported,
       {"'w'", "F8_E8M0"}},
      {"missing_shape",
       Raw(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", 4),
       Code::kCorrupt,
       {"'w'", "shape"}},
      {"shape_not_array",
       Raw("{" + Entry("w", "\"F32\"", "4", "[0,4]") + "}", 4),
       Code::kCorrupt,
       {"'w'", "shape"}},
      {"dim_not_integer",
       Raw("{" + Entry("w", "\"F32\"", "[1.5]", "[0,4]") + "}", 4),
       Code::kCorrupt,
       {"'w'", "1.5"}},
      {"negative_dim",
       Raw("{" + Entry("w", "\"F32\"", "[2,-3]", "[0,4]") + "}", 4),
       Code::kCorrupt,
       {"'w'", "negative"}},
      {"shape_overflow",
       Raw("{" + Entry("w", "\"F32\"", "[4294967296,4294967296,4]", "[0,4]") + "}", 4),
       Code::kCorrupt,
       {"'w'", "overflows"}},
      {"bytes_overflow",
       Raw("{" + Entry("w", "\"F64\"", "[4611686018427387904]", "[0,4]") + "}", 4),
       Code::kCorrupt,
       {"'w'", "overflows"}},
      {"shape_times_dtype_not_range",
       Raw("{" + Entry("w", "\"F32\"", "[2]", "[0,4]") + "}", 4),
       Code::kCorrupt,
       {"'w'", "8 bytes", "span 4 bytes"}},
      {"missing_offsets",
       Raw(R"({"w":{"dtype":"F32","shape":[1]}})", 4),
       Code::kCorrupt,
       {"'w'", "data_offsets"}},
      {"offsets_wrong_arity",
       Raw("{" + Entry("w", "\"F32\"", "[1]", "[0]") + "}", 4),
       Code::kCorrupt,
       {"'w'", "data_offsets"}},
      {"offsets_negative",
       Raw("{" + Entry("w", "\"F32\"", "[1]", "[-4,0]") + "}", 4),
       Code::kCorrupt,
       {"'w'", "data_offsets"}},
      {"offsets_past_end",
       Raw("{" + Entry("w", "\"F32\"", "[2]", "[0,8]") + "}", 4),
       Code::kCorrupt,
       {"'w'", "the file ends at", "download it again"}},
      {"offsets_past_2_64",
       Raw("{" + Entry("w", "\"U8\"", "[2]", "[18446744073709551614,18446744073709551616]") + "}",
           4),
       Code::kCorrupt,
       {"'w'", "data_offsets"}},
      {"begin_after_end",
       Raw("{" + Entry("w", "\"F32\"", "[1]", "[8,4]") + "}", 8),
       Code::kCorrupt,
       {"'w'", "begin is after its end"}},
      {"overlapping_ranges",
       Raw("{" + Entry("a", "\"F32\"", "[2]", "[0,8]") + "," +
               Entry("b", "\"F32\"", "[2]", "[4,12]") + "}",
           12),
       Code::kCorrupt,
       {"'a'", "'b'", "overlap"}},
      {"hole_between_ranges",
       Raw("{" + Entry("a", "\"F32\"", "[1]", "[0,4]") + "," +
               Entry("b", "\"F32\"", "[1]", "[8,12]") + "}",
           12),
       Code::kCorrupt,
       {"'b'", "belong to no tensor"}},
      {"hole_at_start",
       Raw("{" + Entry("w", "\"F32\"", "[1]", "[4,8]") + "}", 8),
       Code::kCorrupt,
       {"'w'", "belong to no tensor"}},
      {"bytes_after_last_tensor",
       Raw("{" + Entry("w", "\"F32\"", "[1]", "[0,4]") + "}", 8),
       Code::kCorrupt,
       {"4 bytes after the last tensor"}},
      {"metadata_non_string",
       Raw(R"({"__metadata__":{"k":1}})", 0),
       Code::kCorrupt,
       {"__metadata__", "'k'", "number"}},
      {"metadata_not_object",
       Raw(R"({"__metadata__":"x"})", 0),
       Code::kCorrupt,
       {"__metadata__", "string"}},
      {"pickle_zip",
       std::string("PK\x03\x04\x14\x00\x00\x00", 8) + std::string(100, 'z'),
       Code::kUnsupported,
       {"pickle", ".safetensors"},
       ".ckpt"},
      {"pickle_magic",
       std::string("\x80\x02}q\x00(X\x03\x00\x00\x00", 12),
       Code::kUnsupported,
       {"pickle", ".safetensors"}},
      {"pickle_extension", std::string(64, 'x'), Code::kUnsupported, {"pickle"}, ".pt"},
  };
}

TEST(Safetensors, MalformedFilesAreRejectedWithActionableMessages) {
  testing::TempDir dir;
  for (const BadCase& c : BadCases()) {
    SCOPED_TRACE(c.name);
    const std::string path = dir.Write(std::string(c.name) + c.extension, c.bytes);
    for (bool header_only : {false, true}) {
      auto opened =
          header_only ? SafetensorsFile::OpenHeaderOnly(path) : SafetensorsFile::Open(path);
      ASSERT_FALSE(opened.ok()) << (header_only ? "OpenHeaderOnly" : "Open") << " accepted it";
      const Status& st = opened.status();
      EXPECT_EQ(st.code(), c.code) << st.ToString();
      EXPECT_TRUE(Contains(st.message(), path)) << st.message();
      for (const std::string& m : c.mentions) {
        EXPECT_TRUE(Contains(st.message(), m)) << "expected '" << m << "' in: " << st.message();
      }
    }
  }
}

}  // namespace
}  // namespace easel::io
