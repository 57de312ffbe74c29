// Random ids ("j_3f9a0c1d2e4b5a67") and wall-clock milliseconds for the stores.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace easel::store {

// `prefix` + 16 lowercase hex digits from the operating system's random source (64 bits:
// a collision among a billion ids has odds of about 1 in 40 million; the stores' UNIQUE
// constraints catch one anyway). Thread-safe.
std::string NewId(std::string_view prefix);

// True for ids a store accepts from callers: 1..64 of [A-Za-z0-9_-]. Ids travel in URLs
// and file names, so nothing else is allowed.
bool IsValidId(std::string_view id);

// Milliseconds since the Unix epoch (system clock).
int64_t NowMs();

}  // namespace easel::store
