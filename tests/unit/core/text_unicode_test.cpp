// Unicode helpers of the tokenizer: UTF-8, classes, lowercase, NFC.
#include <gtest/gtest.h>

#include "engine/text/unicode.h"

namespace easel::text {
namespace {

std::u32string Lower(std::u32string_view s) {
  std::u32string out;
  for (char32_t c : s) AppendLower(c, &out);
  return out;
}

TEST(TextUnicode, Utf8RoundTrip) {
  const std::string s = "a é Ω Ж 東 😀";
  EXPECT_EQ(DecodeUtf8(s), U"a é Ω Ж 東 😀");
  EXPECT_EQ(EncodeUtf8(DecodeUtf8(s)), s);
}

TEST(TextUnicode, InvalidUtf8BecomesReplacement) {
  EXPECT_EQ(DecodeUtf8("a\xff"
                       "b"),
            U"a\uFFFDb");
  EXPECT_EQ(DecodeUtf8("\xC3"), U"\uFFFD");                      // truncated
  EXPECT_EQ(DecodeUtf8("\xC0\xAF"), U"\uFFFD\uFFFD");            // overlong '/'
  EXPECT_EQ(DecodeUtf8("\xED\xA0\x80"), U"\uFFFD\uFFFD\uFFFD");  // surrogate
  EXPECT_EQ(DecodeUtf8("\xF4\x90\x80\x80").size(), 4u);          // past U+10FFFF
  EXPECT_EQ(DecodeUtf8("\xE6\x9D"), U"\uFFFD\uFFFD");
}

TEST(TextUnicode, LettersAndNumbers) {
  for (char32_t c : U"aZéßΩжЖ東ひカ한ب\u05d0\u0928ก\u02b0") EXPECT_TRUE(c == 0 || IsLetter(c)) << c;
  for (char32_t c : U"09٣०²½Ⅻ①１") EXPECT_TRUE(c == 0 || IsNumber(c)) << c;
  for (char32_t c : U" ,.!'😀\u0301\u3099\u0e31$€") {
    EXPECT_FALSE(c != 0 && IsLetter(c)) << c;
    EXPECT_FALSE(c != 0 && IsNumber(c)) << c;
  }
  EXPECT_TRUE(IsLetter(0x20000));  // CJK extension B
  EXPECT_FALSE(IsLetter(0x10FFFF));
}

TEST(TextUnicode, Whitespace) {
  for (char32_t c : {0x09, 0x0A, 0x0D, 0x20, 0x85, 0xA0, 0x2003, 0x3000})
    EXPECT_TRUE(IsWhitespace(c)) << c;
  // Not White_Space, so `tokenizers` keeps them as "other" characters.
  for (char32_t c : {0x1C, 0x00, 0x200B, 0x180E, 0xFEFF}) EXPECT_FALSE(IsWhitespace(c)) << c;
}

TEST(TextUnicode, LowercasePerCodePoint) {
  EXPECT_EQ(Lower(U"ABC xyz ÀÉÎ ÆØÅ"), U"abc xyz àéî æøå");
  EXPECT_EQ(Lower(U"ΟΔΟΣ"), U"οδοσ");  // no final sigma, as in `tokenizers`
  EXPECT_EQ(Lower(U"МОСКВА Ёж"), U"москва ёж");
  EXPECT_EQ(Lower(U"İ"), U"i\u0307");
  EXPECT_EQ(Lower(U"ẞ Ǆ Ａ Ⴀ"), U"ß ǆ ａ ⴀ");
  EXPECT_EQ(Lower(U"東京 123 ß"), U"東京 123 ß");
}

TEST(TextUnicode, Nfc) {
  EXPECT_EQ(ComposeNfc(U"cafe\u0301"), U"café");
  EXPECT_EQ(ComposeNfc(U"\u212b"), U"\u00c5");              // ANGSTROM SIGN
  EXPECT_EQ(ComposeNfc(U"\u095b"), U"\u091c\u093c");        // composition exclusion
  EXPECT_EQ(ComposeNfc(U"\u304b\u3099"), U"\u304c");        // か + dakuten
  EXPECT_EQ(ComposeNfc(U"\u1100\u1161\u11a8"), U"\uac01");  // Hangul L V T
  // Marks out of canonical order: e + circumflex + dot below -> ệ.
  EXPECT_EQ(ComposeNfc(U"e\u0302\u0323"), U"\u1ec7");
  EXPECT_EQ(ComposeNfc(U"\u00ea\u0323"), U"\u1ec7");
  // A blocked mark stays: a + acute + acute.
  EXPECT_EQ(ComposeNfc(U"a\u0301\u0301"), U"á\u0301");
  EXPECT_EQ(ComposeNfc(U"plain ascii"), U"plain ascii");
  EXPECT_EQ(ComposeNfc(U"\u0301leading mark"), U"\u0301leading mark");
}

}  // namespace
}  // namespace easel::text
