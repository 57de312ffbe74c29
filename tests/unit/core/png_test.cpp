// PNG: pixel and text round trips, files made by Pillow, hand-built text chunks, and damaged
// or hostile input (truncation, bad CRC, bombs, bad lengths) rejected with kCorrupt.
#include "io/png.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "io_temp_dir.h"
#include "test_paths.h"

namespace easel::io {
namespace {

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::string Be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

// One chunk with a correct CRC.
std::string Chunk(const std::string& type, const std::string& data) {
  std::string body = type + data;
  uLong crc =
      crc32(0L, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()));
  return Be32(static_cast<uint32_t>(data.size())) + body + Be32(static_cast<uint32_t>(crc));
}

std::string Zlib(const std::string& text) {
  uLongf size = compressBound(text.size());
  std::string out(size, '\0');
  compress(reinterpret_cast<Bytef*>(out.data()), &size, reinterpret_cast<const Bytef*>(text.data()),
           text.size());
  out.resize(size);
  return out;
}

// The chunk types of a PNG, in order.
std::vector<std::string> ChunkTypes(const std::string& png) {
  std::vector<std::string> types;
  for (size_t pos = 8; pos + 12 <= png.size();) {
    uint32_t len = (uint32_t{static_cast<uint8_t>(png[pos])} << 24) |
                   (uint32_t{static_cast<uint8_t>(png[pos + 1])} << 16) |
                   (uint32_t{static_cast<uint8_t>(png[pos + 2])} << 8) |
                   uint32_t{static_cast<uint8_t>(png[pos + 3])};
    types.push_back(png.substr(pos + 4, 4));
    pos += 12 + len;
  }
  return types;
}

std::vector<uint8_t> Pattern(int w, int h, int channels) {
  std::vector<uint8_t> p(static_cast<size_t>(w * h * channels));
  for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<uint8_t>(i * 31 + i / 7);
  return p;
}

// A small valid PNG (signature + IHDR is its first 33 bytes) to splice chunks into.
std::string SmallPng() {
  std::vector<uint8_t> px = Pattern(3, 2, 3);
  return EncodePng(px.data(), 3, 2, 3).value();
}

std::string WithChunksAfterIhdr(const std::string& chunks) {
  std::string png = SmallPng();
  return png.substr(0, 33) + chunks + png.substr(33);
}

const PngText kText = {
    {"parameters", "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512"},
    {"unicode", "caf\xc3\xa9 \xe7\x8c\xab \xf0\x9f\x8e\xa8 \xd0\xbf\xd1\x80\xd0\xb8"},
    {"empty", ""},
};

TEST(Png, RoundTripPixelsAndText) {
  for (int channels : {3, 4}) {
    SCOPED_TRACE(channels);
    const int w = 17, h = 9;
    std::vector<uint8_t> px = Pattern(w, h, channels);
    PngText text = kText;
    std::string long_text;
    while (long_text.size() < 300000) long_text += "long prompt, \xe2\x9c\xa8 masterpiece, ";
    text.emplace_back("long", long_text);
    Result<std::string> png = EncodePng(px.data(), w, h, channels, text);
    ASSERT_TRUE(png.ok()) << png.status().ToString();

    Result<Image> image = DecodePng(*png);
    ASSERT_TRUE(image.ok()) << image.status().ToString();
    EXPECT_EQ(image->width, w);
    EXPECT_EQ(image->height, h);
    EXPECT_EQ(image->channels, channels);
    EXPECT_EQ(image->pixels, px);

    Result<PngText> read = ReadPngTextFromBytes(*png);
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    EXPECT_EQ(*read, text);
  }
}

TEST(Png, AsciiTextIsTextUnicodeIsItxtAllBeforeIdat) {
  std::vector<uint8_t> px = Pattern(4, 4, 3);
  std::string png = EncodePng(px.data(), 4, 4, 3, kText).value();
  EXPECT_EQ(ChunkTypes(png),
            (std::vector<std::string>{"IHDR", "tEXt", "iTXt", "tEXt", "IDAT", "IEND"}));
}

TEST(Png, EncodingIsDeterministicAndWritePngWritesTheSameBytes) {
  testing::TempDir dir;
  std::vector<uint8_t> px = Pattern(32, 8, 4);
  std::string a = EncodePng(px.data(), 32, 8, 4, kText).value();
  std::string b = EncodePng(px.data(), 32, 8, 4, kText).value();
  EXPECT_EQ(a, b);
  ASSERT_TRUE(WritePng(dir.File("x.png"), px.data(), 32, 8, 4, kText).ok());
  EXPECT_EQ(dir.Read("x.png"), a);
  Result<PngText> text = ReadPngText(dir.File("x.png"));
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(*text, kText);
  Result<Image> image = ReadPng(dir.File("x.png"));
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  EXPECT_EQ(image->pixels, px);
}

TEST(Png, TextChunksOverLibpngsChunkLimitDoNotBreakDecoding) {
  // libpng refuses ancillary chunks over 8 MB by default; the decoder skips text entirely.
  std::vector<uint8_t> px = Pattern(2, 2, 3);
  std::string png = EncodePng(px.data(), 2, 2, 3, {{"big", std::string(9 << 20, 'a')}}).value();
  Result<Image> image = DecodePng(png);
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  EXPECT_EQ(image->pixels, px);
  EXPECT_EQ(ReadPngTextFromBytes(png)->at(0).second.size(), size_t{9} << 20);
}

// Pillow-made fixtures (tools/make_io_fixtures.py): pixel (x, y, c) = (50x + 20y + 70c) % 256.
int RgbValue(int x, int y, int c) {
  return (x * 50 + y * 20 + c * 70) % 256;
}

TEST(Png, ReadsPillowsTextChunksAndPixels) {
  const std::string path = EASEL_FIXTURES_DIR "/io/pil_text.png";
  Result<PngText> text = ReadPngText(path);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  std::string zipped;
  for (int i = 0; i < 200; ++i) zipped += "long text ";
  zipped += "\xc3\xa9";
  const PngText expected = {{"parameters", "a cat, Steps: 20"},            // tEXt
                            {"latin", "caf\xc3\xa9"},                      // zTXt, Latin-1
                            {"unicode", "\xe7\x8c\xab \xf0\x9f\x8e\xa8"},  // iTXt
                            {"zipped", zipped}};                           // compressed iTXt
  EXPECT_EQ(*text, expected);

  Result<Image> image = ReadPng(path);
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  ASSERT_EQ(image->channels, 3);
  ASSERT_EQ(image->width, 4);
  ASSERT_EQ(image->height, 3);
  for (int y = 0; y < 3; ++y) {
    for (int x = 0; x < 4; ++x) {
      for (int c = 0; c < 3; ++c) {
        EXPECT_EQ(image->pixels[(y * 4 + x) * 3 + c], RgbValue(x, y, c)) << x << "," << y;
      }
    }
  }
}

TEST(Png, DecodesPaletteGrayAlphaAnd16BitToRgbOrRgba) {
  // Palette with tRNS: index (x + y) % 4, palette entry i = RgbValue(i, 0, c), entry 0 clear.
  Result<Image> pal = ReadPng(EASEL_FIXTURES_DIR "/io/palette.png");
  ASSERT_TRUE(pal.ok()) << pal.status().ToString();
  ASSERT_EQ(pal->channels, 4);
  for (int y = 0; y < 3; ++y) {
    for (int x = 0; x < 4; ++x) {
      const int i = (x + y) % 4;
      const uint8_t* p = &pal->pixels[(y * 4 + x) * 4];
      for (int c = 0; c < 3; ++c) EXPECT_EQ(p[c], RgbValue(i, 0, c));
      EXPECT_EQ(p[3], i == 0 ? 0 : 255);
    }
  }
  // 16-bit gray v = (5000x + 3000y) % 65536, scaled to 8 bits. Tolerance 1: libpng rounds
  // (png_set_scale_16) where available, else truncates (png_set_strip_16).
  Result<Image> g16 = ReadPng(EASEL_FIXTURES_DIR "/io/gray16.png");
  ASSERT_TRUE(g16.ok()) << g16.status().ToString();
  ASSERT_EQ(g16->channels, 3);
  for (int y = 0; y < 3; ++y) {
    for (int x = 0; x < 4; ++x) {
      const double v = ((x * 5000 + y * 3000) % 65536) / 257.0;
      for (int c = 0; c < 3; ++c) EXPECT_NEAR(g16->pixels[(y * 4 + x) * 3 + c], v, 1.0);
    }
  }
  // Gray + alpha: gray = 60x + y, alpha = 255 - 100y.
  Result<Image> la = ReadPng(EASEL_FIXTURES_DIR "/io/gray_alpha.png");
  ASSERT_TRUE(la.ok()) << la.status().ToString();
  ASSERT_EQ(la->channels, 4);
  for (int y = 0; y < 3; ++y) {
    for (int x = 0; x < 4; ++x) {
      const uint8_t* p = &la->pixels[(y * 4 + x) * 4];
      EXPECT_EQ(p[0], x * 60 + y);
      EXPECT_EQ(p[1], x * 60 + y);
      EXPECT_EQ(p[2], x * 60 + y);
      EXPECT_EQ(p[3], 255 - y * 100);
    }
  }
}

TEST(Png, ReadsHandBuiltTextZtxtAndItxtChunks) {
  const std::string chunks =
      Chunk("tEXt", std::string("latin\0caf\xe9", 10)) +
      Chunk("zTXt", std::string("zipped\0\0", 8) + Zlib("compressed \xe9")) +
      Chunk("iTXt", std::string("itxt\0\0\0ja\0\xe7\x8c\xab\0", 14) + "\xe7\x8c\xab") +
      Chunk("iTXt", std::string("izip\0\1\0en\0zip\0", 14) + Zlib("deflated \xf0\x9f\x8e\xa8"));
  Result<PngText> text = ReadPngTextFromBytes(WithChunksAfterIhdr(chunks));
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  const PngText expected = {{"latin", "caf\xc3\xa9"},
                            {"zipped", "compressed \xc3\xa9"},
                            {"itxt", "\xe7\x8c\xab"},
                            {"izip", "deflated \xf0\x9f\x8e\xa8"}};
  EXPECT_EQ(*text, expected);
  // Text after IDAT is read too, in file order.
  std::string png = SmallPng();
  png.insert(png.size() - 12, Chunk("tEXt", std::string("late\0x", 6)));
  EXPECT_EQ(ReadPngTextFromBytes(png)->back(), (std::pair<std::string, std::string>{"late", "x"}));
}

TEST(Png, TruncatedFilesAreCorrupt) {
  std::vector<uint8_t> px = Pattern(16, 16, 3);
  const std::string png = EncodePng(px.data(), 16, 16, 3, kText).value();
  for (size_t n = 8; n < png.size(); ++n) {
    Result<PngText> text = ReadPngTextFromBytes(std::string_view(png).substr(0, n));
    ASSERT_EQ(text.status().code(), Code::kCorrupt) << n;
    EXPECT_TRUE(Contains(text.status().message(), "truncated")) << text.status().message();
  }
  Result<Image> image = DecodePng(std::string_view(png).substr(0, png.size() / 2));
  EXPECT_EQ(image.status().code(), Code::kCorrupt);

  testing::TempDir dir;
  const std::string path = dir.Write("cut.png", png.substr(0, 40));
  Result<PngText> from_file = ReadPngText(path);
  EXPECT_EQ(from_file.status().code(), Code::kCorrupt);
  EXPECT_TRUE(Contains(from_file.status().message(), path));
  EXPECT_EQ(ReadPng(path).status().code(), Code::kCorrupt);
}

TEST(Png, TinyFileClaimingAHugeImageIsRefusedBeforeAllocating) {
  const std::string ihdr = Be32(16000) + Be32(16000) + std::string("\x08\x02\0\0\0", 5);
  const std::string png = std::string("\x89PNG\r\n\x1a\n") + Chunk("IHDR", ihdr) +
                          Chunk("IDAT", Zlib(std::string(100, '\0'))) + Chunk("IEND", "");
  Result<Image> image = DecodePng(png);
  EXPECT_EQ(image.status().code(), Code::kCorrupt);
  EXPECT_TRUE(Contains(image.status().message(), "too small")) << image.status().message();
  // Over the 16384-pixel side limit.
  const std::string wide = Be32(20000) + Be32(1) + std::string("\x08\x02\0\0\0", 5);
  EXPECT_EQ(DecodePng(std::string("\x89PNG\r\n\x1a\n") + Chunk("IHDR", wide) +
                      Chunk("IDAT", Zlib(std::string(60001, '\0'))) + Chunk("IEND", ""))
                .status()
                .code(),
            Code::kCorrupt);
}

TEST(Png, BadCrcIsCorrupt) {
  std::vector<uint8_t> px = Pattern(4, 4, 3);
  std::string png = EncodePng(px.data(), 4, 4, 3, {{"k", "value"}}).value();
  png[33 + 8 + 3] ^= 1;  // a byte of the tEXt chunk's data
  Result<PngText> text = ReadPngTextFromBytes(png);
  EXPECT_EQ(text.status().code(), Code::kCorrupt);
  EXPECT_TRUE(Contains(text.status().message(), "tEXt")) << text.status().message();
  EXPECT_TRUE(Contains(text.status().message(), "CRC")) << text.status().message();
}

TEST(Png, NotAPngIsInvalidArgument) {
  for (std::string bytes : {std::string(""), std::string("hello, world"), std::string("\x89PNG")}) {
    Result<PngText> text = ReadPngTextFromBytes(bytes);
    EXPECT_EQ(text.status().code(), Code::kInvalidArgument);
    EXPECT_TRUE(Contains(text.status().message(), "not a PNG"));
    EXPECT_EQ(DecodePng(bytes).status().code(), Code::kInvalidArgument);
  }
  testing::TempDir dir;
  const std::string path = dir.Write("fake.png", "GIF89a...");
  Result<PngText> text = ReadPngText(path);
  EXPECT_EQ(text.status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(Contains(text.status().message(), path));
  EXPECT_EQ(ReadPng(path).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ReadPngText(dir.File("missing.png")).status().code(), Code::kNotFound);
}

TEST(Png, MalformedChunksAreCorrupt) {
  const std::string png = SmallPng();
  struct Case {
    const char* name;
    std::string bytes;
    const char* mentions;
  };
  const std::string bomb = Zlib(std::string(17 << 20, 'a'));  // 17 MiB of text
  const std::vector<Case> cases = {
      {"huge length", png.substr(0, 33) + Be32(0xFFFFFFF0u) + "tEXt" + std::string(8, 'x'),
       "more than PNG allows"},
      {"length past end", png.substr(0, 33) + Be32(1000) + "tEXt" + std::string(8, 'x'),
       "truncated"},
      {"bad type", png.substr(0, 33) + Chunk("t3Xt", "x"), "invalid type"},
      {"not IHDR first", png.substr(0, 8) + Chunk("tEXt", std::string("k\0v", 3)) + png.substr(8),
       "IHDR"},
      {"no NUL after keyword", WithChunksAfterIhdr(Chunk("tEXt", "keyword")), "NUL"},
      {"empty keyword", WithChunksAfterIhdr(Chunk("tEXt", std::string("\0v", 2))), "keyword"},
      {"80-byte keyword",
       WithChunksAfterIhdr(Chunk("tEXt", std::string(80, 'k') + std::string("\0v", 2))), "keyword"},
      {"zTXt bad method", WithChunksAfterIhdr(Chunk("zTXt", std::string("k\0\1", 3) + Zlib("v"))),
       "compression method"},
      {"zTXt garbage", WithChunksAfterIhdr(Chunk("zTXt", std::string("k\0\0garbage", 10))),
       "compressed"},
      {"zTXt cut short",
       WithChunksAfterIhdr(Chunk("zTXt", std::string("k\0\0", 3) + Zlib("some text").substr(0, 5))),
       "ends early"},
      {"zTXt bomb", WithChunksAfterIhdr(Chunk("zTXt", std::string("k\0\0", 3) + bomb)), "16 MiB"},
      {"iTXt bad flag", WithChunksAfterIhdr(Chunk("iTXt", std::string("k\0\2\0\0\0v", 7))),
       "compression flag"},
      {"iTXt no language end", WithChunksAfterIhdr(Chunk("iTXt", std::string("k\0\0\0en", 6))),
       "language tag"},
      {"iTXt not UTF-8", WithChunksAfterIhdr(Chunk("iTXt", std::string("k\0\0\0\0\0\xff", 7))),
       "UTF-8"},
      {"no IEND", png.substr(0, png.size() - 12), "truncated"},
  };
  for (const Case& c : cases) {
    Result<PngText> text = ReadPngTextFromBytes(c.bytes);
    EXPECT_EQ(text.status().code(), Code::kCorrupt) << c.name << ": " << text.status().ToString();
    EXPECT_TRUE(Contains(text.status().message(), c.mentions))
        << c.name << ": " << text.status().message();
  }
}

TEST(Png, UnwritableOutputPathIsIoErrorNamingThePath) {
  std::vector<uint8_t> px = Pattern(2, 2, 3);
  Status no_dir = WritePng("/nonexistent/dir/x.png", px.data(), 2, 2, 3);
  EXPECT_EQ(no_dir.code(), Code::kIo);
  EXPECT_TRUE(Contains(no_dir.message(), "/nonexistent/dir/x.png")) << no_dir.message();
  EXPECT_TRUE(Contains(no_dir.message(), "No such file or directory")) << no_dir.message();

  testing::TempDir dir;
  std::filesystem::create_directory(dir.File("out.png"));
  Status is_dir = WritePng(dir.File("out.png"), px.data(), 2, 2, 3);
  EXPECT_EQ(is_dir.code(), Code::kIo);
  EXPECT_TRUE(Contains(is_dir.message(), dir.File("out.png"))) << is_dir.message();
  EXPECT_TRUE(Contains(is_dir.message(), "directory")) << is_dir.message();
}

TEST(Png, EncodeRejectsBadArguments) {
  std::vector<uint8_t> px = Pattern(2, 2, 4);
  EXPECT_EQ(EncodePng(px.data(), 2, 2, 2).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(EncodePng(px.data(), 0, 2, 3).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(EncodePng(nullptr, 2, 2, 3).status().code(), Code::kInvalidArgument);
  for (const std::string& key :
       {std::string(""), std::string(" lead"), std::string("trail "), std::string("two  spaces"),
        std::string(80, 'k'), std::string("caf\xc3\xa9"), std::string("tab\there")}) {
    EXPECT_EQ(EncodePng(px.data(), 2, 2, 3, {{key, "v"}}).status().code(), Code::kInvalidArgument)
        << key;
  }
  EXPECT_TRUE(EncodePng(px.data(), 2, 2, 3, {{std::string(79, 'k'), "v"}}).ok());
  EXPECT_EQ(EncodePng(px.data(), 2, 2, 3, {{"k", std::string("a\0b", 3)}}).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(EncodePng(px.data(), 2, 2, 3, {{"k", "bad \xff utf8"}}).status().code(),
            Code::kInvalidArgument);
  Status st = WritePng("/tmp/never-written.png", px.data(), 2, 2, 5);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_TRUE(Contains(st.message(), "/tmp/never-written.png")) << st.message();
}

}  // namespace
}  // namespace easel::io
