// SHA-256 with the x86 SHA extensions (see sha256_fast.h). FIPS 180-4: the same padding and
// constants as util/sha256.cpp; the 64 rounds and the message schedule of each 64-byte block
// run on SHA256RNDS2 (two rounds), SHA256MSG1 and SHA256MSG2, which keep the state as the
// register pair ABEF / CDGH.
#include "library/sha256_fast.h"

#include <algorithm>
#include <cstring>

#include "util/sha256.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define EASEL_SHA_NI 1
#endif

namespace easel::library {
namespace {

constexpr const uint32_t* kK = kSha256Round;  // util/sha256.h

#ifdef EASEL_SHA_NI
bool CpuHasShaNi() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sha") && __builtin_cpu_supports("sse4.1");
}

// Hashes `blocks` 64-byte blocks at `p` into `state` (a, b, ..., h).
__attribute__((target("sha,sse4.1,ssse3"))) void CompressShaNi(uint32_t state[8], const uint8_t* p,
                                                               size_t blocks) {
  // Big-endian words: reverse the bytes of each 32-bit lane.
  const __m128i swap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
  // Registers hold lanes low to high; SHA256RNDS2 wants {F, E, B, A} and {H, G, D, C}.
  __m128i abcd = _mm_loadu_si128(reinterpret_cast<const __m128i*>(state));      // a b c d
  __m128i efgh = _mm_loadu_si128(reinterpret_cast<const __m128i*>(state + 4));  // e f g h
  __m128i badc = _mm_shuffle_epi32(abcd, 0xB1);                                 // b a d c
  __m128i hgfe = _mm_shuffle_epi32(efgh, 0x1B);                                 // h g f e
  __m128i abef = _mm_alignr_epi8(badc, hgfe, 8);                                // f e b a
  __m128i cdgh = _mm_blend_epi16(hgfe, badc, 0xF0);                             // h g d c
  for (; blocks > 0; --blocks, p += 64) {
    const __m128i abef_in = abef, cdgh_in = cdgh;
    __m128i w[4];  // the last 16 message words, four a register
    for (int i = 0; i < 4; ++i)
      w[i] = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * i)), swap);
    for (int g = 0; g < 16; ++g) {  // four rounds a group
      __m128i& cur = w[g & 3];
      if (g >= 4) {
        // W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16], for t = 4g .. 4g+3; `cur` holds
        // W[t-16..t-13] until it is overwritten.
        const __m128i& m12 = w[(g + 1) & 3];  // W[t-12..t-9]
        const __m128i& m8 = w[(g + 2) & 3];   // W[t-8..t-5]
        const __m128i& m4 = w[(g + 3) & 3];   // W[t-4..t-1]
        __m128i t = _mm_sha256msg1_epu32(cur, m12);
        t = _mm_add_epi32(t, _mm_alignr_epi8(m4, m8, 4));
        cur = _mm_sha256msg2_epu32(t, m4);
      }
      __m128i wk = _mm_add_epi32(cur, _mm_load_si128(reinterpret_cast<const __m128i*>(kK + 4 * g)));
      cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
      wk = _mm_shuffle_epi32(wk, 0x0E);
      abef = _mm_sha256rnds2_epu32(abef, cdgh, wk);
    }
    abef = _mm_add_epi32(abef, abef_in);
    cdgh = _mm_add_epi32(cdgh, cdgh_in);
  }
  // Back to a b c d / e f g h.
  __m128i feba = _mm_shuffle_epi32(abef, 0x1B);  // a b e f
  __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);  // g h c d
  abcd = _mm_blend_epi16(feba, dchg, 0xF0);      // a b c d
  efgh = _mm_alignr_epi8(dchg, feba, 8);         // e f g h
  _mm_storeu_si128(reinterpret_cast<__m128i*>(state), abcd);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(state + 4), efgh);
}
#endif

}  // namespace

bool FastSha256::Accelerated() {
#ifdef EASEL_SHA_NI
  static const bool has = CpuHasShaNi();  // a fact of the machine, computed once
  return has;
#else
  return false;
#endif
}

FastSha256::FastSha256()
    : accelerated_(Accelerated()),
      state_{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
             0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19},
      buffer_{} {}

void FastSha256::Update(const void* data, size_t size) {
  if (!accelerated_) {
    portable_.Update(data, size);
    return;
  }
#ifdef EASEL_SHA_NI
  const uint8_t* p = static_cast<const uint8_t*>(data);
  total_bytes_ += size;
  if (buffered_ > 0) {
    const size_t take = std::min(size, sizeof(buffer_) - buffered_);
    std::memcpy(buffer_ + buffered_, p, take);
    buffered_ += take;
    p += take;
    size -= take;
    if (buffered_ < sizeof(buffer_)) return;
    CompressShaNi(state_, buffer_, 1);
    buffered_ = 0;
  }
  CompressShaNi(state_, p, size / 64);
  p += size / 64 * 64;
  size %= 64;
  std::memcpy(buffer_, p, size);
  buffered_ = size;
#endif
}

std::string FastSha256::FinalHex() {
  if (!accelerated_) return portable_.FinalHex();
#ifdef EASEL_SHA_NI
  // Padding: 0x80, zeros to 56 mod 64, then the message length in bits, big-endian.
  const uint64_t bits = total_bytes_ * 8;
  uint8_t tail[128] = {};
  std::memcpy(tail, buffer_, buffered_);
  tail[buffered_] = 0x80;
  const size_t len = buffered_ + 1 + 8 <= 64 ? 64 : 128;
  for (int i = 0; i < 8; ++i) tail[len - 1 - i] = static_cast<uint8_t>(bits >> (8 * i));
  CompressShaNi(state_, tail, len / 64);
  buffered_ = 0;
#endif
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint32_t word : state_)
    for (int shift = 28; shift >= 0; shift -= 4) out.push_back(kHex[(word >> shift) & 0xF]);
  return out;
}

}  // namespace easel::library
