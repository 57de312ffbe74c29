// Dequantisation of ggml tensor blocks to float32: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K,
// Q5_K and Q6_K (the types of the Llama-family GGUF files people download).
//
// Block layouts follow ggml's ggml-common.h; each function was checked against the `gguf`
// Python package's gguf.quants.dequantize (tools/make_llm_goldens.py, tests in
// llm_gguf_test.cpp). Every computation is float32 as in ggml's reference C code.
//
// Pure functions: safe from any thread.
#pragma once

#include <cstdint>
#include <vector>

#include "llm/ggml_types.h"
#include "llm/gguf.h"
#include "util/status.h"

namespace easel::llm {

// True when Dequantize handles `type`.
bool CanDequantize(GgmlType type);

// Converts `n` elements (a multiple of the type's block size) starting at `src` into
// dst[0..n). `src_bytes` is how many bytes `src` holds: it must be at least
// n / block_size * block_bytes. Fails with kUnsupported (type) or kInvalidArgument (sizes).
Status Dequantize(GgmlType type, const uint8_t* src, uint64_t src_bytes, int64_t n, float* dst);

// The whole tensor, in ggml order (element i of the file is element i of the vector).
Result<std::vector<float>> DequantizeTensor(const GgufTensorInfo& tensor);

// IEEE half and bfloat16 bits to float.
float HalfToFloat(uint16_t h);
float Bf16ToFloat(uint16_t b);

}  // namespace easel::llm
