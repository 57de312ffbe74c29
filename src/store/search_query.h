// The image-history search language, parsed into terms. Storage-neutral: SqliteHistory turns
// terms into FTS5 and SQL (sqlite_search.h); user text never reaches a MATCH expression or
// SQL as it was typed.
//
//   castle                 the word, in the prompt, negative prompt, model or tags
//   cast*                  a word starting with "cast"
//   "red castle"           the words next to each other, in this order ("red cast"* too)
//   -blurry  -"low res"    images WITHOUT the word or phrase (-model:sdxl, -tag:nsfw too)
//   model:dream*           model name has a word starting with "dream" (model:"dream shaper")
//   sampler:euler          sampler name is "euler", any case (sampler:euler* : starts with)
//   scheduler:karras       the same for the scheduler
//   seed:42                the seed is 42
//   tag:portrait           the image has the tag "portrait" (tag:port* : a tag starting so)
//
// Terms are joined by AND. Anything else is taken literally: OR, AND, NOT, NEAR(a b), ^x,
// (x), unknown fields like 1girl:1.2 are just words, and characters that are no part of a
// word (punctuation, a lone - or *) are ignored. An unmatched quote is ignored (the words
// after it are plain words). Errors (kInvalidArgument) are kept for what has no literal
// reading: a field with no value ("model:"), a seed that is not a number, a query longer
// than 1000 bytes or with more than 32 terms.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace easel::store {

enum class SearchField { kText, kModel, kSampler, kScheduler, kSeed, kTag };

struct SearchTerm {
  SearchField field = SearchField::kText;
  std::string text;      // the value as typed, without quotes, '-', the field or the '*'
  bool phrase = false;   // it was "quoted"
  bool prefix = false;   // it ended in '*': its last word is a prefix
  bool negated = false;  // it started with '-'
  int64_t seed = 0;      // the number, for SearchField::kSeed
};

struct SearchQuery {
  std::vector<SearchTerm> terms;  // in the order typed; empty for a blank query
};

inline constexpr size_t kMaxSearchQueryBytes = 1000;
inline constexpr size_t kMaxSearchTerms = 32;

Result<SearchQuery> ParseSearchQuery(std::string_view query);

const char* SearchFieldName(SearchField field);  // "text", "model", "sampler" ...

}  // namespace easel::store
