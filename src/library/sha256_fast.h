// A streaming SHA-256 for hashing multi-GB model files: the x86 SHA extensions (SHA-NI, in
// every x86 server CPU since ~2017 and desktop since ~2019) when the CPU has them, about ten
// times the portable code's ~160 MB/s on this code's test VM; else util/sha256.h's Sha256.
// Same digests as Sha256 (tests/unit/core/library_model_hash_test.cpp compares them).
//
// Thread-safety: a FastSha256 object is single-threaded; objects share no state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "util/sha256.h"

namespace easel::library {

class FastSha256 {
 public:
  FastSha256();
  void Update(const void* data, size_t size);
  // Finishes the hash: 64 lowercase hex digits. The object is then spent.
  std::string FinalHex();
  // Whether this CPU hashes with SHA-NI.
  static bool Accelerated();

 private:
  const bool accelerated_;
  Sha256 portable_;  // used when !accelerated_
  uint32_t state_[8];
  uint8_t buffer_[64];
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

}  // namespace easel::library
