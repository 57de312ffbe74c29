// ggml block dequantisation. See dequant.h.
#include "llm/dequant.h"

#include <cstdint>
#include <cstring>
#include <string>

namespace easel::llm {

namespace {

uint16_t Le16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] | (p[1] << 8));
}
float F16At(const uint8_t* p) {
  return HalfToFloat(Le16(p));
}

// Q8_0: f16 d, int8 q[32]; x = d * q.
void Q8_0(const uint8_t* b, float* y) {
  const float d = F16At(b);
  for (int i = 0; i < 32; ++i) y[i] = d * static_cast<float>(static_cast<int8_t>(b[2 + i]));
}

// Q4_0: f16 d, 16 bytes of nibbles; low nibbles are elements 0-15, high ones 16-31;
// x = d * (q - 8).
void Q4_0(const uint8_t* b, float* y) {
  const float d = F16At(b);
  const uint8_t* q = b + 2;
  for (int i = 0; i < 16; ++i) {
    y[i] = static_cast<float>((q[i] & 0xF) - 8) * d;
    y[i + 16] = static_cast<float>((q[i] >> 4) - 8) * d;
  }
}

// Q4_1: f16 d, f16 m, 16 bytes of nibbles (as Q4_0); x = d * q + m.
void Q4_1(const uint8_t* b, float* y) {
  const float d = F16At(b);
  const float m = F16At(b + 2);
  const uint8_t* q = b + 4;
  for (int i = 0; i < 16; ++i) {
    y[i] = static_cast<float>(q[i] & 0xF) * d + m;
    y[i + 16] = static_cast<float>(q[i] >> 4) * d + m;
  }
}

// The 6-bit scale and min of sub-block j (0-7) from the 12 packed bytes of Q4_K / Q5_K:
// bytes 0-3 hold scales 0-3 (low 6 bits), bytes 4-7 mins 0-3, bytes 8-11 the low nibbles
// of scales/mins 4-7 whose top 2 bits sit in the top bits of bytes 0-7.
void ScaleMinK4(int j, const uint8_t* s, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

// Q4_K (256 elements): f16 d, f16 dmin, scales[12], qs[128]. Eight sub-blocks of 32; each
// 64 elements use 32 bytes of qs, low nibbles first; x = d*sc*q - dmin*m.
void Q4_K(const uint8_t* b, float* y) {
  const float d = F16At(b);
  const float dmin = F16At(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* q = b + 16;
  for (int j = 0, is = 0; j < 256; j += 64, is += 2, q += 32) {
    uint8_t sc, m;
    ScaleMinK4(is, scales, &sc, &m);
    const float d1 = d * sc, m1 = dmin * m;
    ScaleMinK4(is + 1, scales, &sc, &m);
    const float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
  }
}

// Q5_K (256 elements): f16 d, f16 dmin, scales[12], qh[32], qs[128]. As Q4_K with a fifth
// bit per element from qh: bit 2k for the low nibbles of the k-th 64, bit 2k+1 for the high.
void Q5_K(const uint8_t* b, float* y) {
  const float d = F16At(b);
  const float dmin = F16At(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* ql = b + 48;
  uint8_t u1 = 1, u2 = 2;
  for (int j = 0, is = 0; j < 256; j += 64, is += 2, ql += 32) {
    uint8_t sc, m;
    ScaleMinK4(is, scales, &sc, &m);
    const float d1 = d * sc, m1 = dmin * m;
    ScaleMinK4(is + 1, scales, &sc, &m);
    const float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; ++l)
      *y++ = d1 * static_cast<float>((ql[l] & 0xF) + ((qh[l] & u1) ? 16 : 0)) - m1;
    for (int l = 0; l < 32; ++l)
      *y++ = d2 * static_cast<float>((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
    u1 = static_cast<uint8_t>(u1 << 2);
    u2 = static_cast<uint8_t>(u2 << 2);
  }
}

// Q6_K (256 elements): ql[128] (low 4 bits), qh[64] (high 2 bits), int8 scales[16], f16 d.
// Two halves of 128; in each, element l + 32k takes its low bits from ql (nibble k/2 of
// byte l + 32(k%2)) and its high bits from bits 2k..2k+1 of qh[l]; x = d * sc * (q - 32)
// with one scale per 16 elements.
void Q6_K(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = F16At(b + 208);
  for (int n = 0; n < 256; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * static_cast<float>(sc[is + 0]) * static_cast<float>(q1);
      y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
      y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
      y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
    }
  }
}

}  // namespace

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1F;
  uint32_t mant = h & 0x3FF;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400) == 0);
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mant & 0x3FF) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7F800000u | mant << 13;  // inf / nan
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float Bf16ToFloat(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

bool CanDequantize(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16:
    case GgmlType::kQ8_0:
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K: return true;
    default: return false;
  }
}

Status Dequantize(GgmlType type, const uint8_t* src, uint64_t src_bytes, int64_t n, float* dst) {
  const GgmlTypeInfo* info = FindGgmlType(static_cast<uint32_t>(type));
  if (info == nullptr || !CanDequantize(type)) {
    return Unsupported("Easel cannot dequantise " + GgmlTypeName(type) +
                       " tensors yet (it reads F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K and "
                       "Q6_K); pick a GGUF file with one of those quantisations");
  }
  if (n < 0 || n % info->block_size != 0) {
    return InvalidArgument("cannot dequantise " + std::to_string(n) + " " + info->name +
                           " elements: not a multiple of its block size " +
                           std::to_string(info->block_size));
  }
  const uint64_t blocks = static_cast<uint64_t>(n) / info->block_size;
  if (blocks > src_bytes / info->block_bytes) {
    return InvalidArgument("cannot dequantise " + std::to_string(n) + " " + info->name +
                           " elements from " + std::to_string(src_bytes) + " bytes (" +
                           std::to_string(blocks * info->block_bytes) + " needed)");
  }
  const int64_t bs = info->block_size;
  for (uint64_t i = 0; i < blocks; ++i) {
    const uint8_t* b = src + i * info->block_bytes;
    float* y = dst + static_cast<int64_t>(i) * bs;
    switch (type) {
      case GgmlType::kF32: std::memcpy(y, b, 4); break;
      case GgmlType::kF16: *y = HalfToFloat(Le16(b)); break;
      case GgmlType::kBF16: *y = Bf16ToFloat(Le16(b)); break;
      case GgmlType::kQ8_0: Q8_0(b, y); break;
      case GgmlType::kQ4_0: Q4_0(b, y); break;
      case GgmlType::kQ4_1: Q4_1(b, y); break;
      case GgmlType::kQ4_K: Q4_K(b, y); break;
      case GgmlType::kQ5_K: Q5_K(b, y); break;
      case GgmlType::kQ6_K: Q6_K(b, y); break;
      default: break;
    }
  }
  return Status::Ok();
}

Result<std::vector<float>> DequantizeTensor(const GgufTensorInfo& tensor) {
  if (tensor.data == nullptr) return InvalidArgument("tensor '" + tensor.name + "' has no data");
  std::vector<float> out(static_cast<size_t>(tensor.numel()));
  Status st = Dequantize(tensor.type, tensor.data, tensor.nbytes, tensor.numel(), out.data());
  if (!st.ok()) return Status(st.code(), "tensor '" + tensor.name + "': " + st.message());
  return out;
}

}  // namespace easel::llm
