// Read-only GGUF files (the llama.cpp model format), memory-mapped and validated before any
// tensor is touched.
//
// Layout (ggml docs/gguf.md, versions 2 and 3, little-endian): "GGUF", u32 version, u64
// tensor count, u64 metadata count; the metadata as (string key, u32 value type, value);
// the tensor infos as (string name, u32 n_dims, u64 dims[n_dims], u32 ggml type, u64 offset);
// padding to `general.alignment` (default 32); the data section. Strings are u64 length +
// bytes; arrays are u32 element type + u64 count + elements.
//
// Every count, length and offset is checked against the bytes that remain before it is
// used, which covers the published GGUF vulnerability classes: counts and sizes that lie,
// strings longer than the file, n_dims > 4, element counts that overflow, type ids out of
// range, tensor data outside the file or overlapping. Each violation is a kCorrupt Status
// naming the file, the key or tensor and the byte offset; valid-but-unsupported files
// (big-endian, version 1, nested arrays, removed ggml types) get kUnsupported.
//
// Thread-safety: a GgufFile is immutable after Open(); share it freely. The mapping lives
// as long as the last shared_ptr to the file; TensorInfo::data points into it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llm/ggml_types.h"
#include "util/status.h"

namespace easel::llm {

enum class GgufValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};
const char* GgufValueTypeName(GgufValueType t);  // "uint32", "array"

// One metadata value: a scalar, a string or a flat array of one scalar/string type.
class GgufValue {
 public:
  GgufValueType type() const { return type_; }
  GgufValueType array_type() const { return array_type_; }  // meaningful for kArray
  bool is_array() const { return type_ == GgufValueType::kArray; }
  size_t array_size() const;

  // nullopt when the value is not of a fitting type: AsInt takes any integer type (a uint64
  // above INT64_MAX does not fit), AsFloat any float or integer, AsBool only bool.
  std::optional<int64_t> AsInt() const;
  std::optional<double> AsFloat() const;
  std::optional<bool> AsBool() const;
  const std::string* AsString() const;  // nullptr unless kString
  // Arrays: nullptr unless an array of that kind (ints: any integer or bool element type).
  const std::vector<std::string>* AsStringArray() const;
  const std::vector<int64_t>* AsIntArray() const;
  const std::vector<double>* AsFloatArray() const;
  // A short rendering for `easel inspect` and messages: `"llama"`, `30`, `[49152 strings]`.
  std::string Summary() const;

 private:
  friend class GgufParser;
  GgufValueType type_ = GgufValueType::kUint8;
  GgufValueType array_type_ = GgufValueType::kUint8;
  int64_t i_ = 0;         // integers and bool (uint64 values above INT64_MAX: u_ only)
  uint64_t u_ = 0;        // unsigned integers
  bool big_u64_ = false;  // a uint64 too large for i_
  double f_ = 0;
  std::string s_;
  std::vector<std::string> strings_;
  std::vector<int64_t> ints_;
  std::vector<double> floats_;
};

struct GgufTensorInfo {
  std::string name;
  GgmlType type = GgmlType::kF32;
  // ggml order: shape[0] is the contiguous (innermost) dimension, the reverse of PyTorch's.
  std::vector<int64_t> shape;
  uint64_t offset = 0;  // from the start of the file
  uint64_t nbytes = 0;
  const uint8_t* data = nullptr;  // into the mapping; valid while the file lives
  int64_t numel() const;
};

class GgufFile {
 public:
  // Maps and validates the file. Fails with kNotFound, kIo, kCorrupt or kUnsupported.
  static Result<std::shared_ptr<const GgufFile>> Open(const std::string& path);
  // Validates a file image held in memory (copied): for tests and the fuzz target. `name`
  // stands for the path in messages.
  static Result<std::shared_ptr<const GgufFile>> FromBytes(std::string bytes,
                                                           const std::string& name);

  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  uint64_t file_size() const { return file_size_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // start of the data section

  // Metadata in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  const GgufValue* Find(std::string_view key) const;  // nullptr if absent
  // Typed look-ups: kNotFound when absent, kCorrupt when of another type; both name the key.
  Result<std::string> GetString(std::string_view key) const;
  Result<int64_t> GetInt(std::string_view key) const;
  Result<double> GetFloat(std::string_view key) const;
  Result<bool> GetBool(std::string_view key) const;

  // Tensors in file order.
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* FindTensor(std::string_view name) const;  // nullptr if absent

 private:
  GgufFile() = default;
  static Result<std::shared_ptr<const GgufFile>> Parse(std::shared_ptr<GgufFile> file);

  std::string path_;
  uint64_t file_size_ = 0;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::map<std::string, size_t, std::less<>> meta_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
  const uint8_t* bytes_ = nullptr;
  void* map_ = nullptr;  // mmap'd (Open) ...
  size_t map_size_ = 0;
  std::string owned_;  // ... or owned (FromBytes)
};

}  // namespace easel::llm
