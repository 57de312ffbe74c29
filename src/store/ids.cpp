// NewId, IsValidId and NowMs (see ids.h).
#include "store/ids.h"

#include <chrono>
#include <random>

namespace easel::store {

std::string NewId(std::string_view prefix) {
  // std::random_device reads the kernel's random source (getrandom) on Linux: no shared
  // generator state to guard, and ids from forked processes never repeat each other.
  std::random_device rd;
  uint64_t bits = (static_cast<uint64_t>(rd()) << 32) ^ static_cast<uint64_t>(rd());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(prefix);
  for (int shift = 60; shift >= 0; shift -= 4) id += kHex[(bits >> shift) & 0xf];
  return id;
}

bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace easel::store
