// The small piece of Unicode the CLIP tokenizer needs: UTF-8 decoding and encoding, letter /
// number / whitespace classes, per-code-point lowercasing and NFC composition.
//
// The letter, number, lowercase, combining-class and composition tables are generated from
// Python's unicodedata (Unicode 14.0) by tools/make_unicode_tables.py into
// unicode_tables.inc and cover all of Unicode; `tokenizers` may know a newer Unicode, so only
// characters assigned after 14.0 can be classified differently.
//
// Free functions over immutable tables: safe from any thread.
#pragma once

#include <string>
#include <string_view>

namespace easel::text {

// Decodes UTF-8; each byte of an invalid or truncated sequence, an overlong form, a surrogate
// or a value past U+10FFFF becomes U+FFFD (as Python's errors="replace" does, roughly).
std::u32string DecodeUtf8(std::string_view utf8);
void AppendUtf8(char32_t cp, std::string* out);
std::string EncodeUtf8(std::u32string_view text);

bool IsLetter(char32_t cp);      // \p{L}
bool IsNumber(char32_t cp);      // \p{N}
bool IsWhitespace(char32_t cp);  // Unicode White_Space (what Oniguruma's \s matches)

// Appends the lowercase of cp, code point by code point (no context: capital sigma always
// becomes U+03C3, as in the `tokenizers` Lowercase normalizer). U+0130 becomes "i" U+0307.
void AppendLower(char32_t cp, std::u32string* out);

// Unicode Normalization Form C (decompose, order marks by combining class, compose).
std::u32string ComposeNfc(std::u32string_view text);

}  // namespace easel::text
