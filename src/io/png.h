// PNG images with text chunks: encoding generated images with their parameters, reading the
// parameters back (A1111's "parameters" key) and decoding init images.
//
// Writing: 8-bit RGB or RGBA through libpng; each (key, value) becomes one text chunk before
// IDAT, in the order given: a tEXt chunk when key and value are pure ASCII (readable by every
// tool), otherwise an uncompressed iTXt chunk (UTF-8, empty language tag), so any Unicode
// prompt survives. No zTXt and no compressed iTXt are written; no tIME chunk either: the same
// pixels and text give the same bytes.
//
// Reading text: our own chunk walker, not libpng; it checks the signature, every chunk's
// length and CRC, and returns tEXt/zTXt/iTXt (compressed or not) entries in file order, keys
// and values as UTF-8 (Latin-1 tEXt/zTXt converted). Decompressed text is bounded (16 MiB
// per chunk, 64 MiB per file).
//
// Decoding: libpng, converting palette, gray, 1/2/4/16-bit and tRNS to 8-bit RGB or RGBA.
// No colour management (gAMA, iCCP are ignored). At most 16384 pixels per side.
//
// Errors: a file not starting with the PNG signature is kInvalidArgument ("not a PNG"); a
// damaged one is kCorrupt naming the chunk and byte offset; a refused read or write is kIo
// naming the path and the reason. All functions are thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/status.h"

namespace easel::io {

// (keyword, text) pairs in file order, both UTF-8.
using PngText = std::vector<std::pair<std::string, std::string>>;

struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;             // 3 (RGB) or 4 (RGBA)
  std::vector<uint8_t> pixels;  // [height, width, channels], rows top to bottom, no padding
};

// Encodes `pixels` ([height, width, channels] bytes, channels 3 or 4) and `text` as PNG bytes.
// kInvalidArgument for a bad size or channel count, a keyword that is not 1-79 printable ASCII
// characters without leading, trailing or double spaces, or a value with a NUL byte or
// invalid UTF-8.
Result<std::string> EncodePng(const uint8_t* pixels, int width, int height, int channels,
                              const PngText& text = {});

// EncodePng, then an atomic write (temp file + fsync + rename) to `path`.
Status WritePng(const std::string& path, const uint8_t* pixels, int width, int height, int channels,
                const PngText& text = {});

// The text chunks of a PNG file / of PNG bytes, without decoding the image.
Result<PngText> ReadPngText(const std::string& path);
Result<PngText> ReadPngTextFromBytes(std::string_view bytes);

// Decodes a PNG file / PNG bytes to 8-bit RGB or RGBA (RGBA when the image has alpha or tRNS).
Result<Image> ReadPng(const std::string& path);
Result<Image> DecodePng(std::string_view bytes);

}  // namespace easel::io
