// Base64 (RFC 4648, standard alphabet) for images in JSON bodies: A1111 and OpenAI clients send
// and expect PNGs as base64 strings, sometimes as data URLs ("data:image/png;base64,....").
// Thread-safe: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "util/status.h"

namespace easel::server {

std::string Base64Encode(std::string_view bytes);

// Decodes standard or URL-safe base64, with or without '=' padding, ignoring whitespace and a
// leading "data:<mime>;base64," prefix. kInvalidArgument naming `what` and the first bad
// character's offset, or an impossible length; decoded output over max_bytes is refused too.
Result<std::string> Base64Decode(std::string_view text, const std::string& what,
                                 size_t max_bytes = 64u << 20);

}  // namespace easel::server
