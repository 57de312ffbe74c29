// Read-only, memory-mapped safetensors files, validated before any tensor is touched.
//
// Format (huggingface/safetensors): u64 little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F16", "shape": [..], "data_offsets": [begin, end]}, "__metadata__":
// {str: str}}, then the data section. Open() checks every rule a reader must: header length
// within the file and <= 100 MB, valid JSON object, known dtype, shape product x dtype size ==
// end - begin, every range inside the data section, ranges not overlapping (and, as the
// format demands, covering the data section without holes). Each violation is a kCorrupt
// Status naming the file and the tensor, with a hint (usually: the download is truncated).
//
// Thread-safety: a SafetensorsFile is immutable after Open(); share it freely. The mapping
// lives as long as the last shared_ptr to the file.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace easel::io {

// Every dtype the safetensors spec names. Readers accept them all; the engine converts the
// float ones it computes with (F32/F16/BF16, F64 and I64 for odd keys such as position_ids).
enum class DType { kBool, kU8, kI8, kI16, kU16, kI32, kU32, kI64, kU64, kF16, kBF16, kF32, kF64,
                   kF8E4M3, kF8E5M2 };

const char* DTypeName(DType dtype);           // "F16"
size_t DTypeSize(DType dtype);                // bytes per element
bool ParseDType(std::string_view name, DType* out);

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t offset = 0;  // from the start of the file
  uint64_t nbytes = 0;
  const uint8_t* data = nullptr;  // points into the mapping; valid while the file lives
  int64_t numel() const;
};

class SafetensorsFile {
 public:
  // Maps and validates the file. Fails with kNotFound, kIo or kCorrupt.
  static Result<std::shared_ptr<const SafetensorsFile>> Open(const std::string& path);
  // Parses and validates only the header (reads 8 + N bytes, no mapping): for detection and
  // `easel inspect` of large files. TensorInfo::data is null.
  static Result<std::shared_ptr<const SafetensorsFile>> OpenHeaderOnly(const std::string& path);

  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  uint64_t file_size() const { return file_size_; }
  // Tensors in file order (sorted by offset).
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* Find(std::string_view name) const;  // nullptr if absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  std::string path_;
  uint64_t file_size_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
};

// One tensor to write: raw little-endian bytes.
struct TensorBytes {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::string_view bytes;
};

// Writes a valid safetensors file atomically (temp file + rename): for tests and tools.
Status WriteSafetensors(const std::string& path, const std::vector<TensorBytes>& tensors,
                        const std::map<std::string, std::string>& metadata = {});

}  // namespace easel::io
