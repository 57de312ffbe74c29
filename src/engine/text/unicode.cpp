// Unicode helpers for the CLIP tokenizer: see unicode.h for what is and is not covered.
#include "engine/text/unicode.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <vector>

namespace easel::text {
namespace {

struct CodeRange {
  char32_t first;
  char32_t last;
};
struct LowerRun {
  char32_t first;
  char32_t last;
  int stride;
  int delta;
};
struct ComposePair {
  char32_t first;
  char32_t second;
  char32_t composed;
};
struct CombiningRun {
  char32_t first;
  char32_t last;
  int ccc;
};
struct NfcReplacement {
  char32_t from;
  char32_t to[3];  // 0 = unused
};

#include "engine/text/unicode_tables.inc"

constexpr char32_t kReplacement = 0xFFFD;

template <size_t N>
bool InRanges(const CodeRange (&ranges)[N], char32_t cp) {
  // First range whose last >= cp.
  auto it = std::lower_bound(std::begin(ranges), std::end(ranges), cp,
                             [](const CodeRange& r, char32_t c) { return r.last < c; });
  return it != std::end(ranges) && it->first <= cp;
}

// Hangul syllable composition (Unicode 3.12): L + V -> LV, LV + T -> LVT.
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr int kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount;
constexpr int kSCount = kLCount * kNCount;

char32_t ComposeHangul(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount)
    return a + (b - kTBase);
  return 0;
}

char32_t Compose(char32_t a, char32_t b) {
  if (char32_t h = ComposeHangul(a, b)) return h;
  auto it = std::lower_bound(std::begin(kComposePairs), std::end(kComposePairs), a,
                             [](const ComposePair& p, char32_t c) { return p.first < c; });
  for (; it != std::end(kComposePairs) && it->first == a; ++it)
    if (it->second == b) return it->composed;
  return 0;
}

const NfcReplacement* FindReplacement(char32_t cp) {
  auto it = std::lower_bound(std::begin(kNfcReplacements), std::end(kNfcReplacements), cp,
                             [](const NfcReplacement& r, char32_t c) { return r.from < c; });
  return it != std::end(kNfcReplacements) && it->from == cp ? &*it : nullptr;
}

int CombiningClass(char32_t cp) {
  if (cp < 0x300) return 0;
  auto it = std::lower_bound(std::begin(kCombiningRuns), std::end(kCombiningRuns), cp,
                             [](const CombiningRun& r, char32_t c) { return r.last < c; });
  return it != std::end(kCombiningRuns) && it->first <= cp ? it->ccc : 0;
}

// The composition pairs indexed by their composite, for decomposition. Built once; immutable.
const std::vector<const ComposePair*>& PairsByComposite() {
  static const std::vector<const ComposePair*> index = [] {
    std::vector<const ComposePair*> v;
    for (const ComposePair& p : kComposePairs) v.push_back(&p);
    std::sort(v.begin(), v.end(),
              [](const ComposePair* a, const ComposePair* b) { return a->composed < b->composed; });
    return v;
  }();
  return index;
}

// Appends the full canonical decomposition of cp.
void Decompose(char32_t cp, std::u32string* out) {
  if (cp < 0xC0) {  // nothing below U+00C0 decomposes
    out->push_back(cp);
    return;
  }
  if (cp >= kSBase && cp < kSBase + kSCount) {  // Hangul syllable -> L V (T)
    const char32_t s = cp - kSBase;
    out->push_back(kLBase + s / kNCount);
    out->push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out->push_back(kTBase + s % kTCount);
    return;
  }
  if (const NfcReplacement* r = FindReplacement(cp)) {
    for (char32_t to : r->to)
      if (to) Decompose(to, out);
    return;
  }
  const auto& index = PairsByComposite();
  auto it = std::lower_bound(index.begin(), index.end(), cp,
                             [](const ComposePair* p, char32_t c) { return p->composed < c; });
  if (it != index.end() && (*it)->composed == cp) {
    Decompose((*it)->first, out);
    Decompose((*it)->second, out);
    return;
  }
  out->push_back(cp);
}

}  // namespace

std::u32string DecodeUtf8(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
      out.push_back(b0);
      ++i;
      continue;
    }
    int len = 0;
    char32_t cp = 0, min = 0;
    if ((b0 & 0xE0) == 0xC0) {
      len = 2, cp = b0 & 0x1F, min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
      len = 3, cp = b0 & 0x0F, min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
      len = 4, cp = b0 & 0x07, min = 0x10000;
    }
    bool ok = len > 0 && i + len <= s.size();
    for (int k = 1; ok && k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      ok = (b & 0xC0) == 0x80;
      cp = (cp << 6) | (b & 0x3F);
    }
    ok = ok && cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    if (ok) {
      out.push_back(cp);
      i += len;
    } else {
      out.push_back(kReplacement);
      ++i;
    }
  }
  return out;
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = kReplacement;
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string EncodeUtf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t cp : text) AppendUtf8(cp, &out);
  return out;
}

bool IsLetter(char32_t cp) {
  if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
  return InRanges(kLetterRanges, cp);
}

bool IsNumber(char32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  return InRanges(kNumberRanges, cp);
}

bool IsWhitespace(char32_t cp) {
  switch (cp) {
    case 0x09:
    case 0x0A:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x20:
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000: return true;
    default: return cp >= 0x2000 && cp <= 0x200A;
  }
}

void AppendLower(char32_t cp, std::u32string* out) {
  if (cp < 0x80) {
    out->push_back(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
    return;
  }
  if (cp == 0x130) {  // LATIN CAPITAL LETTER I WITH DOT ABOVE
    out->push_back(U'i');
    out->push_back(0x307);
    return;
  }
  auto it = std::lower_bound(std::begin(kLowerRuns), std::end(kLowerRuns), cp,
                             [](const LowerRun& r, char32_t c) { return r.last < c; });
  if (it != std::end(kLowerRuns) && it->first <= cp && (cp - it->first) % it->stride == 0) {
    out->push_back(static_cast<char32_t>(static_cast<int64_t>(cp) + it->delta));
    return;
  }
  out->push_back(cp);
}

std::u32string ComposeNfc(std::u32string_view text) {
  // UAX #15: canonical decomposition, canonical ordering, canonical composition.
  std::u32string d;
  d.reserve(text.size() + 8);
  for (char32_t cp : text) Decompose(cp, &d);

  std::vector<int> ccc(d.size());
  for (size_t i = 0; i < d.size(); ++i) ccc[i] = CombiningClass(d[i]);
  // Stable sort of each run of non-starters by combining class (runs are short: insertion).
  for (size_t i = 1; i < d.size(); ++i) {
    for (size_t j = i; j > 0 && ccc[j] != 0 && ccc[j - 1] > ccc[j]; --j) {
      std::swap(d[j], d[j - 1]);
      std::swap(ccc[j], ccc[j - 1]);
    }
  }

  std::u32string out;
  out.reserve(d.size());
  int last_ccc = 0;   // class of out.back() when it is not the starter
  long starter = -1;  // index in out of the last starter
  for (size_t i = 0; i < d.size(); ++i) {
    const char32_t cp = d[i];
    const int cc = ccc[i];
    if (starter >= 0) {
      const bool adjacent = static_cast<long>(out.size()) - 1 == starter;
      const bool blocked = !adjacent && (last_ccc == 0 || last_ccc >= cc);
      if (!blocked) {
        if (char32_t c = Compose(out[static_cast<size_t>(starter)], cp)) {
          out[static_cast<size_t>(starter)] = c;
          continue;
        }
      }
    }
    if (cc == 0) starter = static_cast<long>(out.size());
    last_ccc = cc;
    out.push_back(cp);
  }
  return out;
}

}  // namespace easel::text
