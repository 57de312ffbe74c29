// Builds GGUF file images byte by byte for tests: valid ones, and ones that lie on purpose
// (each field is written as given, never checked).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace easel::llm::testing {

class GgufBuilder {
 public:
  // Raw writers.
  GgufBuilder& U8(uint8_t v) { return Le(v, 1); }
  GgufBuilder& U32(uint32_t v) { return Le(v, 4); }
  GgufBuilder& U64(uint64_t v) { return Le(v, 8); }
  GgufBuilder& F32(float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    return U32(bits);
  }
  GgufBuilder& Str(const std::string& s) {
    U64(s.size());
    bytes_ += s;
    return *this;
  }
  GgufBuilder& Raw(const std::string& s) {
    bytes_ += s;
    return *this;
  }
  GgufBuilder& Header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    bytes_ += "GGUF";
    U32(version);
    U64(n_tensors);
    return U64(n_kv);
  }
  // Metadata entries (value types: 4 uint32, 5 int32, 6 float32, 7 bool, 8 string, 9 array).
  GgufBuilder& KvU32(const std::string& k, uint32_t v) { return Str(k).U32(4).U32(v); }
  GgufBuilder& KvI32(const std::string& k, int32_t v) {
    return Str(k).U32(5).U32(static_cast<uint32_t>(v));
  }
  GgufBuilder& KvF32(const std::string& k, float v) { return Str(k).U32(6).F32(v); }
  GgufBuilder& KvBool(const std::string& k, bool v) { return Str(k).U32(7).U8(v ? 1 : 0); }
  GgufBuilder& KvStr(const std::string& k, const std::string& v) { return Str(k).U32(8).Str(v); }
  GgufBuilder& KvStrArray(const std::string& k, const std::vector<std::string>& v) {
    Str(k).U32(9).U32(8).U64(v.size());
    for (const std::string& s : v) Str(s);
    return *this;
  }
  GgufBuilder& KvI32Array(const std::string& k, const std::vector<int32_t>& v) {
    Str(k).U32(9).U32(5).U64(v.size());
    for (int32_t x : v) U32(static_cast<uint32_t>(x));
    return *this;
  }
  GgufBuilder& KvF32Array(const std::string& k, const std::vector<float>& v) {
    Str(k).U32(9).U32(6).U64(v.size());
    for (float x : v) F32(x);
    return *this;
  }
  // A tensor info: name, dims (ggml order), ggml type id, offset in the data section.
  GgufBuilder& Tensor(const std::string& name, const std::vector<uint64_t>& dims, uint32_t type,
                      uint64_t offset) {
    Str(name).U32(static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) U64(d);
    return U32(type).U64(offset);
  }
  // Zero padding up to a multiple of `alignment`, then `data_bytes` bytes of `fill`.
  GgufBuilder& Data(uint64_t data_bytes, uint64_t alignment = 32, char fill = 0) {
    while (bytes_.size() % alignment != 0) bytes_.push_back('\0');
    bytes_.append(data_bytes, fill);
    return *this;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  GgufBuilder& Le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) bytes_.push_back(static_cast<char>(v >> (8 * i)));
    return *this;
  }
  std::string bytes_;
};

}  // namespace easel::llm::testing
