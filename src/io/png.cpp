// PNG encode/decode through libpng, and our own bounded text-chunk reader. See png.h.
//
// libpng reports errors by longjmp. Each function that calls setjmp keeps only plain C data
// in its own frame (everything with a destructor lives in the caller), so a longjmp skips no
// destructor; callbacks turn C++ failures into png_error() instead of throwing through C.
#include "io/png.h"

#include <png.h>
#include <zlib.h>

#include <csetjmp>
#include <cstring>
#include <new>

#include "util/files.h"

namespace easel::io {
namespace {

constexpr unsigned char kSignature[8] = {137, 'P', 'N', 'G', '\r', '\n', 26, '\n'};
constexpr uint32_t kMaxSide = 16384;                // decode limit per side
constexpr size_t kMaxChunkText = size_t{16} << 20;  // decompressed bytes per text chunk
constexpr size_t kMaxTotalText = size_t{64} << 20;  // decompressed text bytes per file
constexpr uint64_t kMaxDeflateRatio = 1100;         // above deflate's ~1032:1 limit

// ---- shared helpers ----------------------------------------------------------------

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 1, cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2, cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF.
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

std::string Latin1ToUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out += ch;
    } else {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

bool IsAscii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// Error text shared between libpng callbacks and the caller.
struct PngErrorSink {
  char message[256] = "";
};

void OnPngError(png_structp png, png_const_charp message) {
  auto* sink = static_cast<PngErrorSink*>(png_get_error_ptr(png));
  std::snprintf(sink->message, sizeof(sink->message), "%s", message ? message : "libpng error");
  png_longjmp(png, 1);
}

void OnPngWarning(png_structp, png_const_charp) {}

// ---- encoding ----------------------------------------------------------------------

struct EncodeState {
  PngErrorSink sink;
  std::string out;
  bool out_of_memory = false;
};

void AppendOutput(png_structp png, png_bytep data, png_size_t size) {
  auto* state = static_cast<EncodeState*>(png_get_io_ptr(png));
  try {
    state->out.append(reinterpret_cast<const char*>(data), size);
  } catch (const std::bad_alloc&) {
    state->out_of_memory = true;
  }
  if (state->out_of_memory) png_error(png, "out of memory");
}

void FlushOutput(png_structp) {}

// Only C data in this frame (see the file comment). Returns false with sink set on error.
bool RunEncoder(const uint8_t* pixels, int width, int height, int channels, png_text* texts,
                int num_texts, EncodeState* state) {
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, &state->sink, OnPngError, OnPngWarning);
  if (png == nullptr) return false;
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_write_struct(&png, nullptr);
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_set_write_fn(png, state, AppendOutput, FlushOutput);
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8,
               channels == 4 ? PNG_COLOR_TYPE_RGB_ALPHA : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_compression_level(png, 6);
  if (num_texts > 0) png_set_text(png, info, texts, num_texts);
  png_write_info(png, info);  // IHDR, then the text chunks: before IDAT
  const size_t stride = static_cast<size_t>(width) * static_cast<size_t>(channels);
  for (int y = 0; y < height; ++y) png_write_row(png, pixels + stride * static_cast<size_t>(y));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

// A keyword must be 1-79 Latin-1 characters without leading, trailing or consecutive
// spaces (PNG spec 11.3.4.2); we accept its printable ASCII subset.
Status CheckKeyword(const std::string& key) {
  bool ok = !key.empty() && key.size() <= 79 && key.front() != ' ' && key.back() != ' ' &&
            key.find("  ") == std::string::npos;
  for (char c : key) ok = ok && c >= 0x20 && c <= 0x7E;
  if (!ok) {
    return InvalidArgument("PNG text key '" + key +
                           "' is not 1-79 printable ASCII characters without leading, trailing "
                           "or double spaces");
  }
  return Status::Ok();
}

// ---- text chunk reading --------------------------------------------------------------

uint32_t ReadBe32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

struct ZStream {
  z_stream zs{};
  bool live = false;
  ~ZStream() {
    if (live) inflateEnd(&zs);
  }
};

// Inflates a zlib stream, failing once the output passes `limit` bytes.
Result<std::string> Inflate(std::string_view in, size_t limit, const std::string& where) {
  ZStream z;
  if (inflateInit(&z.zs) != Z_OK) return Internal("zlib inflateInit failed");
  z.live = true;
  z.zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[1 << 15];
  for (;;) {
    z.zs.next_out = reinterpret_cast<Bytef*>(buf);
    z.zs.avail_out = sizeof(buf);
    int rc = inflate(&z.zs, Z_NO_FLUSH);
    out.append(buf, sizeof(buf) - z.zs.avail_out);
    if (out.size() > limit) {
      return Corrupt(where + " decompresses to more than " + std::to_string(limit >> 20) +
                     " MiB of text: refusing it");
    }
    if (rc == Z_STREAM_END) return out;
    if (rc == Z_BUF_ERROR || (rc == Z_OK && z.zs.avail_in == 0 && z.zs.avail_out != 0)) {
      return Corrupt(where + " holds a compressed text that ends early: the file is damaged");
    }
    if (rc != Z_OK) {
      return Corrupt(where + " holds compressed text zlib cannot read (" +
                     (z.zs.msg ? z.zs.msg : "error " + std::to_string(rc)) +
                     "): the file is damaged");
    }
  }
}

// Splits "keyword\0rest" and checks the keyword's length (PNG: 1-79 bytes).
Status SplitKeyword(std::string_view data, const std::string& where, std::string_view* key,
                    std::string_view* rest) {
  size_t nul = data.find('\0');
  if (nul == std::string_view::npos) {
    return Corrupt(where + " has no NUL byte after its keyword: the file is damaged");
  }
  if (nul == 0 || nul > 79) {
    return Corrupt(where + " has a keyword of " + std::to_string(nul) +
                   " bytes, expected 1 to 79: the file is damaged");
  }
  *key = data.substr(0, nul);
  *rest = data.substr(nul + 1);
  return Status::Ok();
}

// Appends the entry of one tEXt, zTXt or iTXt chunk to *out.
Status ParseTextChunk(std::string_view type, std::string_view data, const std::string& where,
                      size_t* total, PngText* out) {
  std::string_view key, rest;
  EASEL_RETURN_IF_ERROR(SplitKeyword(data, where, &key, &rest));
  std::string value;
  if (type == "tEXt") {
    value = Latin1ToUtf8(rest);
    out->emplace_back(Latin1ToUtf8(key), std::move(value));
  } else if (type == "zTXt") {
    if (rest.empty() || rest[0] != 0) {
      return Corrupt(where + " uses an unknown compression method: the file is damaged");
    }
    Result<std::string> text = Inflate(rest.substr(1), kMaxChunkText, where);
    if (!text.ok()) return text.status();
    value = Latin1ToUtf8(*text);
    out->emplace_back(Latin1ToUtf8(key), std::move(value));
  } else {  // iTXt: flag, method, language\0, translated keyword\0, text
    if (rest.size() < 2 || static_cast<unsigned char>(rest[0]) > 1 ||
        (rest[0] == 1 && rest[1] != 0)) {
      return Corrupt(where + " has an invalid compression flag or method: the file is damaged");
    }
    const bool compressed = rest[0] == 1;
    rest.remove_prefix(2);
    for (const char* field : {"language tag", "translated keyword"}) {
      size_t nul = rest.find('\0');
      if (nul == std::string_view::npos) {
        return Corrupt(where + " has no NUL byte after its " + field + ": the file is damaged");
      }
      rest.remove_prefix(nul + 1);
    }
    if (compressed) {
      Result<std::string> text = Inflate(rest, kMaxChunkText, where);
      if (!text.ok()) return text.status();
      value = std::move(*text);
    } else {
      value = std::string(rest);
    }
    if (!IsValidUtf8(value)) {
      return Corrupt(where + " holds text that is not valid UTF-8: the file is damaged");
    }
    out->emplace_back(Latin1ToUtf8(key), std::move(value));
  }
  *total += out->back().second.size();
  if (*total > kMaxTotalText) {
    return Corrupt(where + ": the file's text chunks hold more than " +
                   std::to_string(kMaxTotalText >> 20) + " MiB: refusing them");
  }
  return Status::Ok();
}

// `source` names the file (its path) or "PNG data" in messages.
Result<PngText> ParseTextChunks(std::string_view bytes, const std::string& source) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() < 8 || std::memcmp(p, kSignature, 8) != 0) {
    return InvalidArgument(source + " is not a PNG (it does not start with the PNG signature)");
  }
  PngText out;
  size_t total = 0;
  size_t pos = 8;
  bool first = true;
  for (;;) {
    const size_t left = bytes.size() - pos;
    if (left < 12) {
      return Corrupt(source + ": the file ends at byte " + std::to_string(bytes.size()) +
                     " before its IEND chunk: it is probably truncated");
    }
    const uint32_t len = ReadBe32(p + pos);
    const std::string_view type(bytes.data() + pos + 4, 4);
    bool letters = true;
    for (char c : type) letters = letters && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'));
    const std::string where = source + ": chunk '" + (letters ? std::string(type) : "?") +
                              "' at byte " + std::to_string(pos);
    if (!letters) return Corrupt(where + " has an invalid type: the file is damaged");
    if (len > 0x7FFFFFFFu) {
      return Corrupt(where + " claims " + std::to_string(len) +
                     " bytes, more than PNG allows: the file is damaged");
    }
    if (len > left - 12) {
      return Corrupt(where + " needs bytes up to " + std::to_string(pos + 12 + uint64_t{len}) +
                     " but the file ends at byte " + std::to_string(bytes.size()) +
                     ": it is probably truncated");
    }
    uLong crc = crc32(0L, p + pos + 4, 4);
    crc = crc32(crc, p + pos + 8, len);
    if (crc != ReadBe32(p + pos + 8 + len)) {
      return Corrupt(where + " has a bad CRC: the file is damaged");
    }
    if (first && type != "IHDR") {
      return Corrupt(where + " comes first, but a PNG starts with IHDR: the file is damaged");
    }
    first = false;
    const std::string_view data(bytes.data() + pos + 8, len);
    if (type == "tEXt" || type == "zTXt" || type == "iTXt") {
      EASEL_RETURN_IF_ERROR(ParseTextChunk(type, data, where, &total, &out));
    }
    if (type == "IEND") return out;
    pos += 12 + size_t{len};
  }
}

// ---- decoding ------------------------------------------------------------------------

struct DecodeState {
  PngErrorSink sink;
  std::string_view bytes;
  size_t pos = 0;
  Image image;
  std::vector<png_bytep> rows;
  bool out_of_memory = false;
};

void ReadInput(png_structp png, png_bytep out, png_size_t size) {
  auto* state = static_cast<DecodeState*>(png_get_io_ptr(png));
  if (size > state->bytes.size() - state->pos) png_error(png, "the file ends early (truncated)");
  std::memcpy(out, state->bytes.data() + state->pos, size);
  state->pos += size;
}

// Sizes the image and its row pointers; false if memory ran out.
bool AllocateImage(DecodeState* state, uint32_t width, uint32_t height, int channels) {
  try {
    state->image.width = static_cast<int>(width);
    state->image.height = static_cast<int>(height);
    state->image.channels = channels;
    const size_t stride = size_t{width} * static_cast<size_t>(channels);
    state->image.pixels.assign(stride * height, 0);
    state->rows.resize(height);
    for (uint32_t y = 0; y < height; ++y) state->rows[y] = state->image.pixels.data() + stride * y;
    return true;
  } catch (const std::bad_alloc&) {
    return false;
  }
}

// Only C data in this frame (see the file comment). Returns false with sink set on error.
bool RunDecoder(DecodeState* state) {
  png_structp png =
      png_create_read_struct(PNG_LIBPNG_VER_STRING, &state->sink, OnPngError, OnPngWarning);
  if (png == nullptr) return false;
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, state, ReadInput);
  png_set_user_limits(png, kMaxSide, kMaxSide);
  // Text is read by ParseTextChunks; skipping it here avoids libpng's chunk size limits.
  static const png_byte kTextChunks[] = "tEXt\0zTXt\0iTXt";
  png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, kTextChunks, 3);
  png_read_info(png, info);
  const int color = png_get_color_type(png, info);
  const int depth = png_get_bit_depth(png, info);
  {
    // Deflate expands at most ~1032:1, so data much smaller than the image needs is damaged;
    // refusing it here saves allocating a huge image for a tiny hostile file.
    const uint64_t row_bits = uint64_t{png_get_image_width(png, info)} *
                              png_get_channels(png, info) * static_cast<uint64_t>(depth);
    const uint64_t raw_bytes = uint64_t{png_get_image_height(png, info)} * (1 + (row_bits + 7) / 8);
    if (raw_bytes / kMaxDeflateRatio > state->bytes.size()) {
      png_error(png, "the file is far too small for the image size in its header (truncated)");
    }
  }
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
#ifdef PNG_READ_SCALE_16_TO_8_SUPPORTED
  if (depth == 16) png_set_scale_16(png);  // rounds; strip_16 would truncate
#else
  if (depth == 16) png_set_strip_16(png);
#endif
  if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) {
    png_set_gray_to_rgb(png);
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const int channels = png_get_channels(png, info);
  const png_uint_32 width = png_get_image_width(png, info);
  const png_uint_32 height = png_get_image_height(png, info);
  if ((channels != 3 && channels != 4) || png_get_bit_depth(png, info) != 8 ||
      png_get_rowbytes(png, info) != size_t{width} * static_cast<size_t>(channels)) {
    png_error(png, "unexpected pixel layout after conversion");
  }
  if (!AllocateImage(state, width, height, channels)) {
    state->out_of_memory = true;
    png_error(png, "out of memory");
  }
  png_read_image(png, state->rows.data());
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

Result<Image> Decode(std::string_view bytes, const std::string& source) {
  if (bytes.size() < 8 || std::memcmp(bytes.data(), kSignature, 8) != 0) {
    return InvalidArgument(source + " is not a PNG (it does not start with the PNG signature)");
  }
  DecodeState state;
  state.bytes = bytes;
  if (!RunDecoder(&state)) {
    if (state.out_of_memory) {
      return Status(Code::kOutOfMemory, source + ": not enough memory to decode the image");
    }
    return Corrupt(source + ": cannot decode the image (" + state.sink.message +
                   "): the file is damaged or truncated");
  }
  return std::move(state.image);
}

}  // namespace

Result<std::string> EncodePng(const uint8_t* pixels, int width, int height, int channels,
                              const PngText& text) {
  if (channels != 3 && channels != 4) {
    return InvalidArgument("a PNG is written with 3 (RGB) or 4 (RGBA) channels, not " +
                           std::to_string(channels));
  }
  if (width < 1 || height < 1 || width > 65535 || height > 65535 || pixels == nullptr) {
    return InvalidArgument("cannot write a " + std::to_string(width) + "x" +
                           std::to_string(height) + " PNG: each side must be 1 to 65535 pixels");
  }
  // Storage for libpng's non-const char pointers; png_set_text copies what it keeps.
  std::vector<std::string> keys, values;
  std::vector<char> empty(1, '\0');
  for (const auto& [key, value] : text) {
    EASEL_RETURN_IF_ERROR(CheckKeyword(key));
    if (value.find('\0') != std::string::npos) {
      return InvalidArgument("PNG text '" + key + "' contains a NUL byte, which PNG forbids");
    }
    if (!IsValidUtf8(value)) {
      return InvalidArgument("PNG text '" + key + "' is not valid UTF-8");
    }
    keys.push_back(key);
    values.push_back(value);
  }
  std::vector<png_text> texts(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    png_text& t = texts[i];
    std::memset(&t, 0, sizeof(t));
    t.compression = IsAscii(values[i]) ? PNG_TEXT_COMPRESSION_NONE : PNG_ITXT_COMPRESSION_NONE;
    t.key = keys[i].data();
    t.text = values[i].data();
    if (t.compression == PNG_TEXT_COMPRESSION_NONE) {
      t.text_length = values[i].size();
    } else {
      t.itxt_length = values[i].size();
      t.lang = empty.data();
      t.lang_key = empty.data();
    }
  }
  EncodeState state;
  if (!RunEncoder(pixels, width, height, channels, texts.data(), static_cast<int>(texts.size()),
                  &state)) {
    if (state.out_of_memory) {
      return Status(Code::kOutOfMemory, "not enough memory to encode the PNG");
    }
    return Internal(std::string("libpng failed to encode the image: ") + state.sink.message);
  }
  return std::move(state.out);
}

Status WritePng(const std::string& path, const uint8_t* pixels, int width, int height, int channels,
                const PngText& text) {
  Result<std::string> bytes = EncodePng(pixels, width, height, channels, text);
  if (!bytes.ok()) {
    return Status(bytes.status().code(),
                  "cannot write '" + path + "': " + bytes.status().message());
  }
  return WriteFileAtomic(path, *bytes);
}

Result<PngText> ReadPngText(const std::string& path) {
  Result<std::string> bytes = ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  return ParseTextChunks(*bytes, "'" + path + "'");
}

Result<PngText> ReadPngTextFromBytes(std::string_view bytes) {
  return ParseTextChunks(bytes, "the PNG data");
}

Result<Image> ReadPng(const std::string& path) {
  Result<std::string> bytes = ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  return Decode(*bytes, "'" + path + "'");
}

Result<Image> DecodePng(std::string_view bytes) {
  return Decode(bytes, "the PNG data");
}

}  // namespace easel::io
