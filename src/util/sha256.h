// SHA-256 (FIPS 180-4), streaming, plus file hashing and A1111's short model hash.
//
// Used to identify model files (the "Model hash" written into PNG parameters) and to check
// downloads. Not constant-time; not for secrets. A Sha256 object is single-threaded; the free
// functions share no state.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "util/status.h"

namespace easel {

class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t size);
  void Update(std::string_view bytes) { Update(bytes.data(), bytes.size()); }
  // Finishes the hash; the object is then reset and may hash a new message.
  std::array<uint8_t, 32> Final();
  std::string FinalHex();  // 64 lowercase hex digits

 private:
  void Reset();
  void Block(const uint8_t* block);  // one 64-byte block
  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_;
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

// Lowercase hex SHA-256 of `bytes`.
std::string Sha256Hex(std::string_view bytes);

// Lowercase hex SHA-256 of a file, read in 1 MiB blocks. Fails with kNotFound or kIo.
Result<std::string> Sha256File(const std::string& path);

// A1111's "AutoV2" model hash: the first 10 hex digits of the file's SHA-256.
std::string AutoV2Hash(const std::string& sha256_hex);

}  // namespace easel
