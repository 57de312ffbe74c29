// A1111 attention syntax and extra-network tags. Expected weights are computed in double in
// the order A1111 multiplies them, then rounded to float as the parser stores them, so the
// comparisons are exact.
#include "engine/text/prompt_parser.h"

#include <gtest/gtest.h>

#include <ostream>

namespace easel::text {

void PrintTo(const PromptFragment& f, std::ostream* os) {
  if (f.is_break)
    *os << "BREAK";
  else
    *os << "('" << f.text << "', " << f.weight << ")";
}

namespace {

using Frags = std::vector<PromptFragment>;

PromptFragment F(std::string text, double weight) {
  return {std::move(text), static_cast<float>(weight), false};
}
PromptFragment Break() {
  return {"", 1.0f, true};
}

constexpr double kUp = 1.1;
constexpr double kDown = 1 / 1.1;

TEST(PromptParser, PlainText) {
  EXPECT_EQ(ParsePromptAttention("normal text"), (Frags{F("normal text", 1)}));
  EXPECT_EQ(ParsePromptAttention("a:b, c"), (Frags{F("a:b, c", 1)}));
}

TEST(PromptParser, EmptyPromptGivesOneEmptyFragment) {
  EXPECT_EQ(ParsePromptAttention(""), (Frags{F("", 1)}));
}

TEST(PromptParser, RoundAndSquareBrackets) {
  EXPECT_EQ(ParsePromptAttention("an (important) word"),
            (Frags{F("an ", 1), F("important", kUp), F(" word", 1)}));
  EXPECT_EQ(ParsePromptAttention("(a)[b]"), (Frags{F("a", kUp), F("b", kDown)}));
  EXPECT_EQ(ParsePromptAttention("[[a]]"), (Frags{F("a", 1.0 * kDown * kDown)}));
  EXPECT_EQ(ParsePromptAttention("(unnecessary)(parens)"), (Frags{F("unnecessaryparens", kUp)}));
}

TEST(PromptParser, MixedWeightsFromTheBrief) {
  EXPECT_EQ(ParsePromptAttention("(a:1.2) [b] ((c)) \\(d\\) (e:0.5)"),
            (Frags{F("a", 1.2), F(" ", 1), F("b", kDown), F(" ", 1), F("c", 1.0 * kUp * kUp),
                   F(" (d) ", 1), F("e", 0.5)}));
}

// The example of A1111's docstring.
TEST(PromptParser, NestedExampleOfA1111) {
  EXPECT_EQ(ParsePromptAttention("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky)))."),
            (Frags{F("a ", 1), F("house", 1.0 * 1.3 * kUp * kUp), F(" ", kUp),
                   F("on", 1.0 * kDown * kUp), F(" a ", kUp), F("hill", 1.0 * 0.5 * kUp),
                   F(", sun, ", kUp), F("sky", 1.0 * kUp * kUp * kUp * kUp), F(".", kUp)}));
}

TEST(PromptParser, ExplicitWeights) {
  EXPECT_EQ(ParsePromptAttention("( a : 1.5 )"), (Frags{F(" a ", 1.5)}));
  EXPECT_EQ(ParsePromptAttention("((a:1.5) b)"), (Frags{F("a", 1.0 * 1.5 * kUp), F(" b", kUp)}));
  EXPECT_EQ(ParsePromptAttention("(a:-1)"), (Frags{F("a", -1)}));
  EXPECT_EQ(ParsePromptAttention("(a:.5)(b:2.)"), (Frags{F("a", 0.5), F("b", 2)}));
  EXPECT_EQ(ParsePromptAttention("(a:0)"), (Frags{F("a", 0)}));
}

TEST(PromptParser, Escapes) {
  EXPECT_EQ(ParsePromptAttention("\\(literal\\]"), (Frags{F("(literal]", 1)}));
  EXPECT_EQ(ParsePromptAttention("a\\\\b"), (Frags{F("a\\b", 1)}));
  // A backslash before anything else is dropped (A1111 keeps text[1:] of a lone "\").
  EXPECT_EQ(ParsePromptAttention("a\\b"), (Frags{F("ab", 1)}));
  EXPECT_EQ(ParsePromptAttention("(\\(x\\))"), (Frags{F("(x)", kUp)}));
}

TEST(PromptParser, MalformedBrackets) {
  EXPECT_EQ(ParsePromptAttention("(unclosed"), (Frags{F("unclosed", kUp)}));
  EXPECT_EQ(ParsePromptAttention("a [unclosed"), (Frags{F("a ", 1), F("unclosed", kDown)}));
  EXPECT_EQ(ParsePromptAttention("((a) b"), (Frags{F("a", 1.0 * kUp * kUp), F(" b", kUp)}));
  EXPECT_EQ(ParsePromptAttention("a]b)c"), (Frags{F("a]b)c", 1)}));
  EXPECT_EQ(ParsePromptAttention("text:1.2)"), (Frags{F("text:1.2)", 1)}));
  EXPECT_EQ(ParsePromptAttention("(a]"), (Frags{F("a]", kUp)}));
}

TEST(PromptParser, WeightThatDoesNotParse) {
  EXPECT_EQ(ParsePromptAttention("(a:abc)"), (Frags{F("a:abc", kUp)}));
  EXPECT_EQ(ParsePromptAttention("(a:1.2x)"), (Frags{F("a:1.2x", kUp)}));
  // A1111 raises on these; Easel reads them as text.
  EXPECT_EQ(ParsePromptAttention("(a:1.2.3)"), (Frags{F("a:1.2.3", kUp)}));
  EXPECT_EQ(ParsePromptAttention("(a:.)"), (Frags{F("a:.", kUp)}));
}

TEST(PromptParser, Break) {
  EXPECT_EQ(ParsePromptAttention("a BREAK b"), (Frags{F("a", 1), Break(), F("b", 1)}));
  EXPECT_EQ(ParsePromptAttention("a, BREAK, b"), (Frags{F("a,", 1), Break(), F(", b", 1)}));
  EXPECT_EQ(ParsePromptAttention("BREAK a"), (Frags{F("", 1), Break(), F("a", 1)}));
  EXPECT_EQ(ParsePromptAttention("a BREAK BREAK b"),
            (Frags{F("a", 1), Break(), F("", 1), Break(), F("b", 1)}));
  // Only the uppercase whole word.
  EXPECT_EQ(ParsePromptAttention("break BREAKFAST xBREAK BREAK_ Break"),
            (Frags{F("break BREAKFAST xBREAK BREAK_ Break", 1)}));
  EXPECT_EQ(ParsePromptAttention("a\nBREAK\nb"), (Frags{F("a", 1), Break(), F("b", 1)}));
  // Inside brackets still a break (A1111 would pass the word BREAK to the model).
  EXPECT_EQ(ParsePromptAttention("(x BREAK y)"), (Frags{F("x", kUp), Break(), F("y", kUp)}));
}

TEST(PromptParser, MergesOnlyEqualWeights) {
  EXPECT_EQ(ParsePromptAttention("a (b) (c) d"),
            (Frags{F("a ", 1), F("b", kUp), F(" ", 1), F("c", kUp), F(" d", 1)}));
  EXPECT_EQ(ParsePromptAttention("(a)(b:1.1)"), (Frags{F("ab", kUp)}));
}

TEST(PromptParser, Unicode) {
  EXPECT_EQ(ParsePromptAttention("(東京:1.2) café"), (Frags{F("東京", 1.2), F(" café", 1)}));
}

// ---- extra networks ------------------------------------------------------------------------

ExtraNetworkTag Tag(std::string kind, std::string name, std::vector<std::string> args = {},
                    std::vector<std::pair<std::string, std::string>> named = {}) {
  return {std::move(kind), std::move(name), std::move(args), std::move(named)};
}

TEST(ExtraNetworks, RemovesTagsAndKeepsTheRest) {
  ExtractedPrompt r = ExtractExtraNetworks("a cat, <lora:foo_v2:0.8>, <hypernet:h> b");
  EXPECT_EQ(r.prompt, "a cat, ,  b");
  ASSERT_EQ(r.tags.size(), 2u);
  EXPECT_EQ(r.tags[0], Tag("lora", "foo_v2", {"0.8"}));
  EXPECT_EQ(r.tags[1], Tag("hypernet", "h"));
}

TEST(ExtraNetworks, NamedAndPositionalItems) {
  ExtractedPrompt r = ExtractExtraNetworks("<lyco:my net:1:0.5:dyn=16><lora:x:te=0.5:unet=1.2>");
  EXPECT_EQ(r.prompt, "");
  ASSERT_EQ(r.tags.size(), 2u);
  EXPECT_EQ(r.tags[0], Tag("lyco", "my net", {"1", "0.5"}, {{"dyn", "16"}}));
  EXPECT_EQ(r.tags[1], Tag("lora", "x", {}, {{"te", "0.5"}, {"unet", "1.2"}}));
  // Two '=' make an item positional, as in A1111.
  EXPECT_EQ(ExtractExtraNetworks("<lora:a=b=c>").tags[0], Tag("lora", "a=b=c"));
}

TEST(ExtraNetworks, NotTags) {
  for (const char* p :
       {"<notag>", "<:x>", "<lora:>", "a < b > c", "<a b:c>", "<lora:x:1", "1 < 2: and 3 > 2"}) {
    ExtractedPrompt r = ExtractExtraNetworks(p);
    EXPECT_TRUE(r.tags.empty()) << p;
    EXPECT_EQ(r.prompt, p);
  }
  // The tag is found after a '<' that starts no tag.
  ExtractedPrompt r = ExtractExtraNetworks("<<lora:x:1>>");
  EXPECT_EQ(r.prompt, "<>");
  ASSERT_EQ(r.tags.size(), 1u);
  EXPECT_EQ(r.tags[0], Tag("lora", "x", {"1"}));
  // Unicode word characters make a kind too (Python's \w).
  EXPECT_EQ(ExtractExtraNetworks("<лора:x>").tags.size(), 1u);
}

TEST(ExtraNetworks, LoraMultipliers) {
  auto m = [](const char* prompt) {
    return ParseLoraMultipliers(ExtractExtraNetworks(prompt).tags.at(0));
  };
  auto r = m("<lora:x>");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->te, 1.0f);
  EXPECT_EQ(r->unet, 1.0f);
  EXPECT_EQ(r->dyn_dim, -1);
  r = m("<lora:x:0.5>");
  EXPECT_EQ(r->te, 0.5f);
  EXPECT_EQ(r->unet, 0.5f);
  r = m("<lora:x:0.5:0.8:16>");
  EXPECT_EQ(r->te, 0.5f);
  EXPECT_EQ(r->unet, 0.8f);
  EXPECT_EQ(r->dyn_dim, 16);
  r = m("<lora:x:te=0.3>");  // unet defaults to te
  EXPECT_EQ(r->te, 0.3f);
  EXPECT_EQ(r->unet, 0.3f);
  r = m("<lora:x:1:unet=0.2:dyn=8>");
  EXPECT_EQ(r->te, 1.0f);
  EXPECT_EQ(r->unet, 0.2f);
  EXPECT_EQ(r->dyn_dim, 8);
  r = m("<lora:x:-0.5>");
  EXPECT_EQ(r->te, -0.5f);
}

TEST(ExtraNetworks, BadLoraMultiplier) {
  for (const char* p : {"<lora:x:abc>", "<lora:x:1:unet=>", "<lora:x:1:1:1.5>", "<lora:x:inf>"}) {
    auto r = ParseLoraMultipliers(ExtractExtraNetworks(p).tags.at(0));
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << p;
    EXPECT_NE(r.status().message().find("<lora:x"), std::string::npos) << r.status().ToString();
  }
}

}  // namespace
}  // namespace easel::text
