// A1111 attention syntax and <kind:...> tags: see prompt_parser.h for the exact rules.
#include "engine/text/prompt_parser.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <optional>

#include "engine/text/unicode.h"

namespace easel::text {
namespace {

constexpr double kRoundFactor = 1.1;
constexpr double kSquareFactor = 1 / 1.1;

bool IsAsciiDigit(char c) {
  return c >= '0' && c <= '9';
}

// Python's \s for ASCII-only decisions plus the Unicode spaces; prompts are UTF-8 so a
// multi-byte space is checked by decoding.
size_t SpaceLen(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)) ? 1 : 0;
  size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
  if (i + len > s.size()) return 0;
  std::u32string cp = DecodeUtf8(s.substr(i, len));
  return cp.size() == 1 && IsWhitespace(cp[0]) ? len : 0;
}

size_t SkipSpaces(std::string_view s, size_t i) {
  while (i < s.size()) {
    size_t n = SpaceLen(s, i);
    if (!n) break;
    i += n;
  }
  return i;
}

// Python's \w on the code point ending at byte `end` (exclusive) or starting at `begin`.
bool IsWordChar(char32_t cp) {
  return cp == U'_' || IsLetter(cp) || IsNumber(cp);
}

bool WordCharBefore(std::string_view s, size_t pos) {
  if (pos == 0) return false;
  size_t b = pos - 1;
  while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
  std::u32string cp = DecodeUtf8(s.substr(b, pos - b));
  return !cp.empty() && IsWordChar(cp.back());
}

bool WordCharAt(std::string_view s, size_t pos) {
  if (pos >= s.size()) return false;
  std::u32string cp = DecodeUtf8(s.substr(pos, 4));
  return !cp.empty() && IsWordChar(cp.front());
}

// A1111's number after ':': [+-]?[.\d]+, then Python's float() of it.
// Returns the end of the match (after ')') and the value; nullopt if there is no match or the
// number does not convert.
std::optional<std::pair<size_t, double>> MatchWeight(std::string_view s, size_t i) {
  // s[i] == ':'
  size_t p = SkipSpaces(s, i + 1);
  const size_t num_begin = p;
  if (p < s.size() && (s[p] == '+' || s[p] == '-')) ++p;
  const size_t digits_begin = p;
  while (p < s.size() && (IsAsciiDigit(s[p]) || s[p] == '.')) ++p;
  if (p == digits_begin) return std::nullopt;
  const size_t num_end = p;
  p = SkipSpaces(s, p);
  if (p >= s.size() || s[p] != ')') return std::nullopt;
  const std::string num(s.substr(num_begin, num_end - num_begin));
  // float() accepts "1.", ".5", "+1.2" but not "1.2.3" or ".".
  int dots = 0, digits = 0;
  for (size_t k = digits_begin - num_begin; k < num.size(); ++k) num[k] == '.' ? ++dots : ++digits;
  if (dots > 1 || digits == 0) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(num.c_str(), &end);
  if (end != num.c_str() + num.size() || errno == ERANGE) return std::nullopt;
  return std::make_pair(p + 1, v);
}

struct Entry {
  std::string text;
  double weight;
  bool is_break;
};

// Appends plain text, split at \s*\bBREAK\b\s* into text / break / text ...
void AppendPlain(std::string_view text, std::vector<Entry>* res) {
  size_t start = 0, search = 0;
  while (true) {
    size_t pos = text.find("BREAK", search);
    if (pos == std::string_view::npos) break;
    const size_t after = pos + 5;
    if (WordCharBefore(text, pos) || WordCharAt(text, after)) {
      search = pos + 1;
      continue;
    }
    // Extend left over the spaces right before BREAK (not past the previous split).
    size_t left = pos;
    while (left > start) {
      size_t b = left - 1;
      while (b > start && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80) --b;
      if (SpaceLen(text, b) != left - b) break;
      left = b;
    }
    res->push_back({std::string(text.substr(start, left - start)), 1.0, false});
    res->push_back({"", 1.0, true});
    start = search = SkipSpaces(text, after);
  }
  res->push_back({std::string(text.substr(start)), 1.0, false});
}

}  // namespace

std::vector<PromptFragment> ParsePromptAttention(std::string_view s) {
  std::vector<Entry> res;
  std::vector<size_t> round, square;
  auto multiply_from = [&](size_t start, double factor) {
    for (size_t k = start; k < res.size(); ++k)
      if (!res[k].is_break) res[k].weight *= factor;
  };

  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '\\') {
      const char n = i + 1 < s.size() ? s[i + 1] : '\0';
      if (n == '(' || n == ')' || n == '[' || n == ']' || n == '\\') {
        res.push_back({std::string(1, n), 1.0, false});
        i += 2;
      } else {
        res.push_back({"", 1.0, false});  // a lone backslash is dropped
        i += 1;
      }
    } else if (c == '(') {
      round.push_back(res.size());
      ++i;
    } else if (c == '[') {
      square.push_back(res.size());
      ++i;
    } else if (c == ':') {
      auto w = MatchWeight(s, i);
      if (w && !round.empty()) {
        multiply_from(round.back(), w->second);
        round.pop_back();
        i = w->first;
      } else if (w) {
        AppendPlain(s.substr(i, w->first - i), &res);  // "text:1.2)" outside brackets
        i = w->first;
      } else {
        res.push_back({":", 1.0, false});
        ++i;
      }
    } else if (c == ')' && !round.empty()) {
      multiply_from(round.back(), kRoundFactor);
      round.pop_back();
      ++i;
    } else if (c == ']' && !square.empty()) {
      multiply_from(square.back(), kSquareFactor);
      square.pop_back();
      ++i;
    } else if (c == ')' || c == ']') {
      res.push_back({std::string(1, c), 1.0, false});
      ++i;
    } else {
      size_t j = i;
      while (j < s.size() && s[j] != '\\' && s[j] != '(' && s[j] != ')' && s[j] != '[' &&
             s[j] != ']' && s[j] != ':')
        ++j;
      AppendPlain(s.substr(i, j - i), &res);
      i = j;
    }
  }
  for (size_t pos : round) multiply_from(pos, kRoundFactor);
  for (size_t pos : square) multiply_from(pos, kSquareFactor);
  if (res.empty()) res.push_back({"", 1.0, false});

  // Merge runs of identical weights (compared as doubles, as A1111 compares Python floats).
  std::vector<PromptFragment> out;
  double last_weight = 0;
  for (Entry& e : res) {
    if (!out.empty() && !e.is_break && !out.back().is_break && e.weight == last_weight) {
      out.back().text += e.text;
      continue;
    }
    out.push_back(
        {std::move(e.text), e.is_break ? 1.0f : static_cast<float>(e.weight), e.is_break});
    last_weight = e.weight;
  }
  return out;
}

ExtractedPrompt ExtractExtraNetworks(std::string_view s) {
  ExtractedPrompt r;
  size_t copied = 0, i = 0;
  while ((i = s.find('<', i)) != std::string_view::npos) {
    // <(\w+):([^>]+)>
    size_t p = i + 1;
    while (p < s.size()) {
      if (static_cast<unsigned char>(s[p]) < 0x80) {
        if (!IsWordChar(static_cast<unsigned char>(s[p]))) break;
        ++p;
      } else {
        size_t b = p + 1;
        while (b < s.size() && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) ++b;
        std::u32string cp = DecodeUtf8(s.substr(p, b - p));
        if (cp.size() != 1 || !IsWordChar(cp[0])) break;
        p = b;
      }
    }
    const size_t kind_end = p;
    size_t close = p < s.size() && s[p] == ':' ? s.find('>', p + 1) : std::string_view::npos;
    if (kind_end == i + 1 || close == std::string_view::npos || close == p + 1) {
      ++i;
      continue;
    }
    ExtraNetworkTag tag;
    tag.kind = std::string(s.substr(i + 1, kind_end - i - 1));
    std::string_view args = s.substr(p + 1, close - p - 1);
    std::vector<std::string> positional;
    size_t a = 0;
    while (true) {
      size_t colon = args.find(':', a);
      std::string_view item = args.substr(a, colon == std::string_view::npos ? colon : colon - a);
      size_t eq = item.find('=');
      if (eq != std::string_view::npos && item.find('=', eq + 1) == std::string_view::npos)
        tag.named.emplace_back(std::string(item.substr(0, eq)), std::string(item.substr(eq + 1)));
      else
        positional.emplace_back(item);
      if (colon == std::string_view::npos) break;
      a = colon + 1;
    }
    if (!positional.empty()) {
      tag.name = positional.front();
      tag.args.assign(positional.begin() + 1, positional.end());
    }
    r.tags.push_back(std::move(tag));
    r.prompt.append(s.substr(copied, i - copied));
    copied = i = close + 1;
  }
  r.prompt.append(s.substr(copied));
  return r;
}

namespace {

Result<double> ParseNumber(const std::string& text, const ExtraNetworkTag& tag, bool integer) {
  // Python's float()/int() allow surrounding whitespace.
  size_t b = text.find_first_not_of(" \t"), e = text.find_last_not_of(" \t");
  std::string t = b == std::string::npos ? "" : text.substr(b, e - b + 1);
  char* end = nullptr;
  errno = 0;
  double v = integer ? static_cast<double>(std::strtol(t.c_str(), &end, 10))
                     : std::strtod(t.c_str(), &end);
  if (t.empty() || end != t.c_str() + t.size() || errno == ERANGE || !std::isfinite(v))
    return InvalidArgument("<" + tag.kind + ":" + tag.name + "...>: '" + text + "' is not " +
                           (integer ? "an integer" : "a number") +
                           "; write it like <lora:name:0.8> or <lora:name:te=0.8:unet=1>");
  return v;
}

}  // namespace

Result<LoraMultipliers> ParseLoraMultipliers(const ExtraNetworkTag& tag) {
  LoraMultipliers m;
  auto named = [&](const char* key) -> const std::string* {
    const std::string* found = nullptr;
    for (const auto& [k, v] : tag.named)
      if (k == key) found = &v;  // the last one wins, like a Python dict
    return found;
  };
  auto number = [&](const std::string& text, bool integer, double* out) -> Status {
    Result<double> v = ParseNumber(text, tag, integer);
    if (!v.ok()) return v.status();
    *out = *v;
    return Status::Ok();
  };
  double te = 1.0, unet, dyn = -1;
  if (tag.args.size() > 0) EASEL_RETURN_IF_ERROR(number(tag.args[0], false, &te));
  if (const std::string* v = named("te")) EASEL_RETURN_IF_ERROR(number(*v, false, &te));
  unet = te;
  if (tag.args.size() > 1) EASEL_RETURN_IF_ERROR(number(tag.args[1], false, &unet));
  if (const std::string* v = named("unet")) EASEL_RETURN_IF_ERROR(number(*v, false, &unet));
  if (tag.args.size() > 2) EASEL_RETURN_IF_ERROR(number(tag.args[2], true, &dyn));
  if (const std::string* v = named("dyn")) EASEL_RETURN_IF_ERROR(number(*v, true, &dyn));
  m.te = static_cast<float>(te);
  m.unet = static_cast<float>(unet);
  m.dyn_dim = static_cast<int>(dyn);
  return m;
}

}  // namespace easel::text
