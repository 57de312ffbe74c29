// ParseSearchQuery: the terms each form of the search language becomes, and the literal
// reading (or the clear error) of malformed input.
#include <gtest/gtest.h>

#include <string>

#include "store/search_query.h"

namespace easel::store {
namespace {

SearchQuery MustParse(const std::string& q) {
  Result<SearchQuery> r = ParseSearchQuery(q);
  EXPECT_TRUE(r.ok()) << q << ": " << r.status().ToString();
  return r.ok() ? *r : SearchQuery{};
}

// One term as a compact string: [-]field:text[*]["] for easy table comparisons.
std::string Show(const SearchTerm& t) {
  std::string s = t.negated ? "-" : "";
  s += SearchFieldName(t.field);
  s += ":" + t.text;
  if (t.prefix) s += "*";
  if (t.phrase) s += "(phrase)";
  return s;
}

std::string ShowAll(const std::string& q) {
  std::string s;
  for (const SearchTerm& t : MustParse(q).terms) s += (s.empty() ? "" : " | ") + Show(t);
  return s;
}

TEST(StoreSearchQuery, EachFormBecomesATerm) {
  EXPECT_EQ(ShowAll(""), "");
  EXPECT_EQ(ShowAll("   "), "");
  EXPECT_EQ(ShowAll("castle"), "text:castle");
  EXPECT_EQ(ShowAll("cast*"), "text:cast*");
  EXPECT_EQ(ShowAll("\"red castle\""), "text:red castle(phrase)");
  EXPECT_EQ(ShowAll("\"red cast\"*"), "text:red cast*(phrase)");
  EXPECT_EQ(ShowAll("-blurry"), "-text:blurry");
  EXPECT_EQ(ShowAll("-\"low res\""), "-text:low res(phrase)");
  EXPECT_EQ(ShowAll("model:dream*"), "model:dream*");
  EXPECT_EQ(ShowAll("Model:\"dream shaper\""), "model:dream shaper(phrase)");
  EXPECT_EQ(ShowAll("sampler:euler scheduler:karras"), "sampler:euler | scheduler:karras");
  EXPECT_EQ(ShowAll("tag:portrait -tag:nsfw"), "tag:portrait | -tag:nsfw");
  EXPECT_EQ(ShowAll("castle  model:sdxl\t-night"), "text:castle | model:sdxl | -text:night");
  SearchQuery seed = MustParse("seed:42");
  ASSERT_EQ(seed.terms.size(), 1u);
  EXPECT_EQ(seed.terms[0].field, SearchField::kSeed);
  EXPECT_EQ(seed.terms[0].seed, 42);
  EXPECT_EQ(MustParse("seed:9223372036854775807").terms[0].seed, INT64_MAX);
}

TEST(StoreSearchQuery, MalformedInputIsReadLiterally) {
  // Unknown fields, FTS5 operators and syntax characters stay literal text.
  EXPECT_EQ(ShowAll("1girl:1.2"), "text:1girl:1.2");
  EXPECT_EQ(ShowAll("prompt:castle"), "text:prompt:castle");
  EXPECT_EQ(ShowAll("NEAR(castle hill)"), "text:NEAR(castle | text:hill)");
  EXPECT_EQ(ShowAll("castle OR hill"), "text:castle | text:OR | text:hill");
  EXPECT_EQ(ShowAll("^castle"), "text:^castle");
  EXPECT_EQ(ShowAll("ca*st"), "text:ca*st");
  EXPECT_EQ(ShowAll("{prompt}:x"), "text:{prompt}:x");
  // An unmatched quote is ignored; a lone '-' or '*' and empty quotes leave nothing.
  EXPECT_EQ(ShowAll("\"unbalanced phrase"), "text:unbalanced | text:phrase");
  EXPECT_EQ(ShowAll("castle \""), "text:castle");
  EXPECT_EQ(ShowAll("\"\""), "");
  EXPECT_EQ(ShowAll("*"), "");
  EXPECT_EQ(ShowAll("- castle"), "text:- | text:castle");  // '-' has no word: dropped later
  EXPECT_EQ(ShowAll("-\""), "");
  EXPECT_EQ(ShowAll("--castle"), "-text:-castle");
  // Control characters separate terms.
  EXPECT_EQ(ShowAll(std::string("a\0b", 3)), "text:a | text:b");
  EXPECT_EQ(ShowAll("a\nb"), "text:a | text:b");
}

TEST(StoreSearchQuery, WhatHasNoLiteralReadingIsAnError) {
  struct Case {
    std::string query;
    std::string message_part;
  };
  const Case cases[] = {
      {"model:", "'model:' needs a value, as in model:dream*"},
      {"castle model:", "needs a value"},
      {"model:\"\"", "needs a value"},
      {"model:*", "needs a value"},
      {"-tag:", "'tag:' needs a value"},
      {"sampler: euler", "'sampler:' needs a value"},
      {"seed:abc", "seed: takes a whole number"},
      {"seed:-5", "whole number"},
      {"seed:4*", "whole number"},
      {"seed:\"42\"", "whole number"},
      {"seed:99999999999999999999", "whole number"},
      {std::string(1001, 'a'), "1001 bytes; the most is 1000"},
  };
  for (const Case& c : cases) {
    Result<SearchQuery> r = ParseSearchQuery(c.query);
    ASSERT_FALSE(r.ok()) << c.query;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << c.query;
    EXPECT_NE(r.status().message().find(c.message_part), std::string::npos)
        << c.query << " -> " << r.status().message();
  }
  std::string many;
  for (int i = 0; i < 33; ++i) many += "w" + std::to_string(i) + " ";
  Result<SearchQuery> r = ParseSearchQuery(many);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("more than 32 terms"), std::string::npos);
  EXPECT_TRUE(ParseSearchQuery(std::string(1000, 'a')).ok());
}

}  // namespace
}  // namespace easel::store
