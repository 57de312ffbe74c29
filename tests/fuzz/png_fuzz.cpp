// libFuzzer target: arbitrary bytes through ReadPngTextFromBytes and DecodePng.
// Any crash or sanitizer report is a bug; so is a decoded image whose size disagrees with
// its width, height and channels. Each input also runs with every chunk CRC recomputed, so
// mutations reach the chunk parsers instead of stopping at the CRC check.
// Build: configure with clang and -DEASEL_FUZZ=ON; run: build/png_fuzz corpus/
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "io/png.h"

namespace {

uint32_t Be32(const std::string& s, size_t pos) {
  return (uint32_t{static_cast<uint8_t>(s[pos])} << 24) |
         (uint32_t{static_cast<uint8_t>(s[pos + 1])} << 16) |
         (uint32_t{static_cast<uint8_t>(s[pos + 2])} << 8) |
         uint32_t{static_cast<uint8_t>(s[pos + 3])};
}

// The input with the CRC of every complete chunk set right.
std::string WithFixedCrcs(std::string png) {
  for (size_t pos = 8; pos + 12 <= png.size();) {
    const uint32_t len = Be32(png, pos);
    if (len > png.size() - pos - 12) break;
    const uLong crc =
        crc32(0L, reinterpret_cast<const Bytef*>(png.data() + pos + 4), static_cast<uInt>(len + 4));
    for (int i = 0; i < 4; ++i) png[pos + 8 + len + i] = static_cast<char>(crc >> (24 - 8 * i));
    pos += 12 + size_t{len};
  }
  return png;
}

void Check(std::string_view bytes) {
  auto text = easel::io::ReadPngTextFromBytes(bytes);
  if (text.ok()) {
    for (const auto& [key, value] : *text) {
      if (key.empty() || key.size() > 2 * 79) std::abort();  // Latin-1 -> UTF-8 at most doubles
    }
  }
  auto image = easel::io::DecodePng(bytes);
  if (image.ok()) {
    const auto& im = *image;
    if ((im.channels != 3 && im.channels != 4) ||
        im.pixels.size() != static_cast<size_t>(im.width) * im.height * im.channels) {
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  Check(bytes);
  Check(WithFixedCrcs(bytes));
  return 0;
}
