// ParseSearchQuery: a hand-written lexer for the small search language in search_query.h.
// Hand-written because the language is a dozen lines of rules and every malformed input
// must have a defined, literal reading.
#include "store/search_query.h"

#include <charconv>
#include <optional>

namespace easel::store {
namespace {

struct FieldInfo {
  const char* name;
  SearchField field;
  const char* example;
};

constexpr FieldInfo kFields[] = {
    {"model", SearchField::kModel, "model:dream*"},
    {"sampler", SearchField::kSampler, "sampler:euler"},
    {"scheduler", SearchField::kScheduler, "scheduler:karras"},
    {"seed", SearchField::kSeed, "seed:42"},
    {"tag", SearchField::kTag, "tag:portrait"},
};

bool IsAsciiLetter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

const FieldInfo* LookupField(std::string_view name) {
  for (const FieldInfo& f : kFields) {
    std::string_view want(f.name);
    if (want.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < name.size() && same; ++i) {
      char c = name[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      same = c == want[i];
    }
    if (same) return &f;
  }
  return nullptr;
}

bool IsBlank(std::string_view s) {
  return s.find_first_not_of(' ') == std::string_view::npos;
}

}  // namespace

const char* SearchFieldName(SearchField field) {
  if (field == SearchField::kText) return "text";
  for (const FieldInfo& f : kFields) {
    if (f.field == field) return f.name;
  }
  return "unknown";
}

Result<SearchQuery> ParseSearchQuery(std::string_view query) {
  if (query.size() > kMaxSearchQueryBytes) {
    return InvalidArgument("the search query has " + std::to_string(query.size()) +
                           " bytes; the most is " + std::to_string(kMaxSearchQueryBytes) +
                           ": shorten it");
  }
  // Control characters (tabs, newlines, NUL ...) separate terms like spaces.
  std::string q(query);
  for (char& c : q) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  const size_t n = q.size();
  SearchQuery out;
  size_t i = 0;
  while (true) {
    while (i < n && q[i] == ' ') ++i;
    if (i >= n) break;
    SearchTerm term;
    // A '-' glued to what follows negates it; a lone '-' is a (wordless) literal.
    if (q[i] == '-' && i + 1 < n && q[i + 1] != ' ') {
      term.negated = true;
      ++i;
    }
    // field:value, for the fields we know; "1girl:1.2" or "http://x" stay literal text.
    const FieldInfo* field = nullptr;
    size_t j = i;
    while (j < n && IsAsciiLetter(q[j])) ++j;
    if (j > i && j < n && q[j] == ':') field = LookupField(std::string_view(q).substr(i, j - i));
    if (field != nullptr) {
      term.field = field->field;
      i = j + 1;
    }
    // The value: a "quoted phrase" (a '*' right after the closing quote makes its last word a
    // prefix) or a bare word running to the next space (trailing '*'s make it a prefix).
    bool quoted = false;
    if (i < n && q[i] == '"') {
      size_t close = q.find('"', i + 1);
      if (close != std::string::npos) {
        quoted = true;
        term.phrase = true;
        term.text = q.substr(i + 1, close - i - 1);
        i = close + 1;
        if (i < n && q[i] == '*') {
          term.prefix = true;
          while (i < n && q[i] == '*') ++i;
        }
      } else {
        ++i;  // an unmatched quote is ignored: what follows are plain words
      }
    }
    if (!quoted) {
      size_t end = q.find(' ', i);
      if (end == std::string::npos) end = n;
      std::string word = q.substr(i, end - i);
      i = end;
      while (!word.empty() && word.back() == '*') {
        word.pop_back();
        term.prefix = true;
      }
      term.text = word;
    }

    if (field == nullptr) {
      if (IsBlank(term.text)) continue;  // "", "*", a lone quote: nothing to look for
    } else if (IsBlank(term.text)) {
      return InvalidArgument(std::string("'") + field->name + ":' needs a value, as in " +
                             field->example);
    } else if (term.field == SearchField::kSeed) {
      const std::string& t = term.text;
      auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), term.seed);
      if (term.prefix || term.phrase || ec != std::errc() || end != t.data() + t.size() ||
          term.seed < 0) {
        return InvalidArgument("seed: takes a whole number from 0 up, as in seed:42 (got '" +
                               t.substr(0, 40) + (term.prefix ? "*" : "") + "')");
      }
    }
    if (out.terms.size() == kMaxSearchTerms) {
      return InvalidArgument("the search query has more than " + std::to_string(kMaxSearchTerms) +
                             " terms: use fewer words");
    }
    out.terms.push_back(std::move(term));
  }
  return out;
}

}  // namespace easel::store
