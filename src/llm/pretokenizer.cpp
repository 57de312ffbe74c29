// Hand-written pre-tokenizer splits. See pretokenizer.h for the patterns.
#include "llm/pretokenizer.h"

#include <cstdint>

#include "engine/text/unicode.h"

namespace easel::llm {
namespace {

using text::IsLetter;
using text::IsNumber;
using text::IsWhitespace;

// One code point and where its bytes are.
struct Cp {
  char32_t c;
  size_t begin;
  size_t end;
};

// Decodes UTF-8 keeping byte offsets; a byte that starts no valid sequence is one code
// point of its own, U+FFFD for classification.
std::vector<Cp> Decode(std::string_view s) {
  std::vector<Cp> out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<uint8_t>(s[i]);
    int len = 0;
    char32_t c = 0;
    if (b0 < 0x80) {
      len = 1;
      c = b0;
    } else if ((b0 & 0xE0) == 0xC0) {
      len = 2;
      c = b0 & 0x1F;
    } else if ((b0 & 0xF0) == 0xE0) {
      len = 3;
      c = b0 & 0x0F;
    } else if ((b0 & 0xF8) == 0xF0) {
      len = 4;
      c = b0 & 0x07;
    }
    bool ok = len > 0 && i + len <= s.size();
    for (int k = 1; ok && k < len; ++k) {
      const auto b = static_cast<uint8_t>(s[i + k]);
      if ((b & 0xC0) != 0x80) ok = false;
      c = (c << 6) | (b & 0x3F);
    }
    if (ok) {
      static constexpr char32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
      if (c < kMin[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) ok = false;
    }
    if (!ok) {
      out.push_back({0xFFFD, i, i + 1});
      ++i;
      continue;
    }
    out.push_back({c, i, i + len});
    i += len;
  }
  return out;
}

bool IsOther(char32_t c) {
  return !IsWhitespace(c) && !IsLetter(c) && !IsNumber(c);
}
bool IsNewline(char32_t c) {
  return c == '\r' || c == '\n';
}
char32_t Lower(char32_t c) {
  return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

// The contraction alternatives: returns the length in code points (0 = no match).
size_t Contraction(const std::vector<Cp>& cp, size_t i, bool ignore_case) {
  if (cp[i].c != '\'' || i + 1 >= cp.size()) return 0;
  auto at = [&](size_t k) -> char32_t {
    if (i + k >= cp.size()) return 0;
    return ignore_case ? Lower(cp[i + k].c) : cp[i + k].c;
  };
  const char32_t a = at(1), b = at(2);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

// End (exclusive) of the run of code points from i satisfying pred.
template <class Pred>
size_t RunEnd(const std::vector<Cp>& cp, size_t i, Pred pred) {
  while (i < cp.size() && pred(cp[i].c)) ++i;
  return i;
}

// \s+(?!\S)|\s+ at a whitespace code point i: the run, less its last code point when a
// non-space follows and the run is longer than one.
size_t Whitespace(const std::vector<Cp>& cp, size_t i) {
  const size_t j = RunEnd(cp, i, IsWhitespace);
  if (j < cp.size() && j - i > 1) return j - 1;
  return j;
}

// GPT-2 match at i over cp[i..n): the end of the match.
size_t MatchGpt2(const std::vector<Cp>& cp, size_t i, size_t n) {
  if (size_t k = Contraction(cp, i, false); k > 0 && i + k <= n) return i + k;
  const bool space = cp[i].c == ' ' && i + 1 < n;
  const size_t s = space ? i + 1 : i;
  auto run = [&](size_t from, bool (*pred)(char32_t)) {
    size_t j = from;
    while (j < n && pred(cp[j].c)) ++j;
    return j;
  };
  if (IsLetter(cp[s].c)) return run(s, IsLetter);
  if (IsLetter(cp[i].c)) return run(i, IsLetter);
  if (IsNumber(cp[s].c)) return run(s, IsNumber);
  if (IsNumber(cp[i].c)) return run(i, IsNumber);
  if (IsOther(cp[s].c)) return run(s, IsOther);
  if (IsOther(cp[i].c)) return run(i, IsOther);
  // Whitespace, bounded by n.
  size_t j = run(i, IsWhitespace);
  if (j < n && j - i > 1) --j;
  return j;
}

size_t MatchLlama3(const std::vector<Cp>& cp, size_t i, bool three_digits) {
  const size_t n = cp.size();
  if (size_t k = Contraction(cp, i, true); k > 0) return i + k;
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (i + 1 < n && !IsNewline(cp[i].c) && !IsLetter(cp[i].c) && !IsNumber(cp[i].c) &&
      IsLetter(cp[i + 1].c))
    return RunEnd(cp, i + 1, IsLetter);
  if (IsLetter(cp[i].c)) return RunEnd(cp, i, IsLetter);
  // \p{N}{1,3} or \p{N}
  if (IsNumber(cp[i].c)) {
    size_t j = i + 1;
    while (three_digits && j < n && j - i < 3 && IsNumber(cp[j].c)) ++j;
    return j;
  }
  //  ?[^\s\p{L}\p{N}]+[\r\n]*
  const size_t s = cp[i].c == ' ' && i + 1 < n && IsOther(cp[i + 1].c) ? i + 1 : i;
  if (IsOther(cp[s].c)) return RunEnd(cp, RunEnd(cp, s, IsOther), IsNewline);
  // \s*[\r\n]+ : through the last newline of the whitespace run.
  const size_t j = RunEnd(cp, i, IsWhitespace);
  size_t last_nl = j;
  for (size_t k = i; k < j; ++k) {
    if (IsNewline(cp[k].c)) last_nl = k;
  }
  if (last_nl < j) return last_nl + 1;
  return Whitespace(cp, i);
}

}  // namespace

std::optional<PreTokenizer> PreTokenizerFromName(std::string_view name) {
  // llama.cpp's names (llama-vocab.cpp) for the patterns implemented here.
  if (name == "gpt2" || name == "default" || name == "gpt-2" || name == "olmo" || name == "jais" ||
      name == "phi-2" || name == "stablelm2")
    return PreTokenizer::kGpt2;
  if (name == "llama3" || name == "llama-bpe" || name == "llama-v3" || name == "falcon3" ||
      name == "pixtral")
    return PreTokenizer::kLlama3;
  if (name == "qwen2" || name == "deepseek-r1-qwen" || name == "qwen35")
    return PreTokenizer::kQwen2;
  if (name == "smollm") return PreTokenizer::kSmolLM;
  return std::nullopt;
}

const char* PreTokenizerName(PreTokenizer p) {
  switch (p) {
    case PreTokenizer::kGpt2: return "gpt2";
    case PreTokenizer::kLlama3: return "llama3";
    case PreTokenizer::kQwen2: return "qwen2";
    case PreTokenizer::kSmolLM: return "smollm";
  }
  return "?";
}

std::vector<std::string_view> PreTokenize(PreTokenizer p, std::string_view text) {
  const std::vector<Cp> cp = Decode(text);
  std::vector<std::string_view> out;
  auto emit = [&](size_t a, size_t b) {  // code points [a, b)
    out.push_back(text.substr(cp[a].begin, cp[b - 1].end - cp[a].begin));
  };
  size_t i = 0;
  while (i < cp.size()) {
    size_t j;
    switch (p) {
      case PreTokenizer::kGpt2: j = MatchGpt2(cp, i, cp.size()); break;
      case PreTokenizer::kSmolLM: {
        if (IsNumber(cp[i].c)) {
          j = i + 1;
          break;
        }
        // GPT-2 on the stretch up to the next digit.
        const size_t n = RunEnd(cp, i, [](char32_t c) { return !IsNumber(c); });
        j = MatchGpt2(cp, i, n);
        break;
      }
      case PreTokenizer::kLlama3: j = MatchLlama3(cp, i, true); break;
      case PreTokenizer::kQwen2:
      default: j = MatchLlama3(cp, i, false); break;
    }
    if (j <= i) j = i + 1;  // never stall
    emit(i, j);
    i = j;
  }
  return out;
}

}  // namespace easel::llm
