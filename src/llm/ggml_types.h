// ggml tensor types as GGUF files name them: id, name, block size and bytes per block.
//
// The table covers every type id the `gguf` Python package (0.19) knows, so the reader can
// size and bounds-check any tensor in a valid file; which of them Easel can dequantise is
// a separate question (llm/dequant.h). Ids 4, 5, 31-33 and 36-38 were removed from ggml
// and are refused with a message that says so.
//
// Free functions over a constant table: safe from any thread.
#pragma once

#include <cstdint>
#include <string>

namespace easel::llm {

enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kIQ1_M = 29,
  kBF16 = 30,
  kTQ1_0 = 34,
  kTQ2_0 = 35,
  kMXFP4 = 39,
  kNVFP4 = 40,
  kQ1_0 = 41,
};

struct GgmlTypeInfo {
  GgmlType type;
  const char* name;      // "Q4_K"
  uint32_t block_size;   // elements per block (1 for plain types)
  uint32_t block_bytes;  // bytes per block
};

// The entry for a raw id, or nullptr when the id names no current ggml type.
const GgmlTypeInfo* FindGgmlType(uint32_t id);
// True for the ids ggml used once and removed (4, 5, 31-33, 36-38).
bool IsRemovedGgmlType(uint32_t id);
// "Q4_K", or "type 99" for an unknown id.
std::string GgmlTypeName(uint32_t id);
inline std::string GgmlTypeName(GgmlType t) {
  return GgmlTypeName(static_cast<uint32_t>(t));
}

}  // namespace easel::llm
