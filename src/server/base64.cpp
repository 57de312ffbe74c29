// Base64 encode/decode (see base64.h). Written here rather than taken from the engine, whose
// helper lives in the torch library; the server stays torch-free.
#include "server/base64.h"

#include <array>
#include <cstdint>

namespace easel::server {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::array<int8_t, 256> DecodeTable() {
  std::array<int8_t, 256> t{};
  t.fill(-1);
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  t['-'] = 62;  // URL-safe alphabet
  t['_'] = 63;
  return t;
}

}  // namespace

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint32_t(uint8_t(bytes[i])) << 16) |
                       (uint32_t(uint8_t(bytes[i + 1])) << 8) | uint8_t(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    if (i + 1 < bytes.size()) v |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Result<std::string> Base64Decode(std::string_view text, const std::string& what, size_t max_bytes) {
  static const std::array<int8_t, 256> table = DecodeTable();
  size_t start = 0;
  if (text.rfind("data:", 0) == 0) {
    const size_t comma = text.find(',');
    if (comma == std::string_view::npos ||
        text.substr(0, comma).find(";base64") == std::string_view::npos)
      return InvalidArgument(what +
                             " is a data URL without \";base64,\": send the image as base64");
    start = comma + 1;
  }
  if (text.size() - start > (max_bytes / 3 + 2) * 4 + text.size() / 64 + 16)
    return InvalidArgument(what + " is " + std::to_string(text.size()) +
                           " characters of base64, over the limit of " + std::to_string(max_bytes) +
                           " decoded bytes");
  std::string out;
  out.reserve((text.size() - start) / 4 * 3);
  uint32_t acc = 0;
  int bits = 0, pad = 0;
  size_t digits = 0;
  for (size_t i = start; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      ++pad;
      continue;
    }
    const int8_t v = table[c];
    if (v < 0 || pad > 0)
      return InvalidArgument(what + " is not valid base64: unexpected character at offset " +
                             std::to_string(i - start) + " (send the file's bytes base64-encoded)");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    ++digits;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  if (digits % 4 == 1 || pad > 2)
    return InvalidArgument(what + " is not valid base64: its length (" + std::to_string(digits) +
                           " digits) cannot come from any bytes; was it cut short?");
  if (out.empty()) return InvalidArgument(what + " is empty: send the image as base64");
  return out;
}

}  // namespace easel::server
