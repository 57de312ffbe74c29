// JSON-schema constrained decoding: schema parsing, the byte-level recogniser on a table of
// documents, and random walks over the allowed tokens (a synthetic vocabulary, and SmolLM2's
// real one when present): every walk must end in JSON that parses and validates, 100 of 100.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "llm/gguf.h"
#include "llm/json_constraint.h"
#include "llm/json_schema.h"
#include "llm/tokenizer.h"
#include "llm_test_support.h"

namespace easel::llm {
namespace {

using nlohmann::json;

// The shape of a prompt analysis: every supported kind, nesting, optional properties,
// numeric and string enums (1 vs 12 shadowing), limits that keep walks finite.
const char* kAnalysisSchema = R"({
  "type": "object",
  "properties": {
    "style": {"enum": ["photo", "anime", "painting", "3d"]},
    "content_type": {"type": "string", "maxLength": 12},
    "concepts": {"type": "array", "items": {"type": "string", "maxLength": 10}, "maxItems": 4},
    "steps": {"type": "integer"},
    "cfg": {"type": "number"},
    "nsfw": {"type": "boolean"},
    "extra": {"type": "object", "additionalProperties": false,
              "properties": {"a": {"type": "null"}, "b": {"enum": [1, 12, "x", true]}},
              "required": ["b"]}
  },
  "required": ["style", "concepts", "steps"]
})";

std::shared_ptr<const JsonSchema> Schema(const char* text) {
  auto s = ParseJsonSchema(std::string_view(text));
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return *s;
}

TEST(LlmJsonSchema, ParsesTheSubsetAndRefusesTheRest) {
  EXPECT_TRUE(ParseJsonSchema(std::string_view(kAnalysisSchema)).ok());
  auto one_of = ParseJsonSchema(std::string_view(R"({"oneOf": [{"type": "string"}]})"));
  EXPECT_EQ(one_of.status().code(), Code::kUnsupported);
  EXPECT_NE(one_of.status().message().find("oneOf"), std::string::npos);
  auto nested = ParseJsonSchema(std::string_view(
      R"({"type": "object", "properties": {"x": {"type": "string", "pattern": "a+"}}})"));
  EXPECT_EQ(nested.status().code(), Code::kUnsupported);
  EXPECT_NE(nested.status().message().find("$.x"), std::string::npos);
  EXPECT_EQ(
      ParseJsonSchema(std::string_view(R"({"type": "object", "required": ["x"]})")).status().code(),
      Code::kInvalidArgument);
  EXPECT_EQ(ParseJsonSchema(std::string_view(R"({"properties": {}})")).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(ParseJsonSchema(std::string_view(R"({"type": "array"})")).status().code(),
            Code::kInvalidArgument);
}

TEST(LlmJsonSchema, Validates) {
  auto s = Schema(kAnalysisSchema);
  EXPECT_TRUE(
      ValidateJson(*s, json::parse(R"({"style": "anime", "concepts": [], "steps": 3})")).ok());
  Status missing = ValidateJson(*s, json::parse(R"({"style": "anime", "concepts": []})"));
  EXPECT_NE(missing.message().find("'steps'"), std::string::npos);
  Status bad = ValidateJson(*s, json::parse(R"({"style": "x", "concepts": [], "steps": 3})"));
  EXPECT_NE(bad.message().find("$.style"), std::string::npos);
  Status deep = ValidateJson(*s, json::parse(R"({"style": "3d", "concepts": [1], "steps": 3})"));
  EXPECT_NE(deep.message().find("$.concepts[0]"), std::string::npos);
}

struct DocCase {
  const char* text;
  bool accepted;  // the bytes are a valid prefix
  bool complete;  // ... and a whole document
};

TEST(LlmJsonConstraint, RecognisesDocuments) {
  auto s = Schema(kAnalysisSchema);
  const DocCase cases[] = {
      {R"({"style":"anime","concepts":[],"steps":20})", true, true},
      {R"({"style": "photo", "concepts": ["a", "b"], "steps": -3, "nsfw": false})", true, true},
      {R"({"style":"3d","content_type":"scene","concepts":["x"],"steps":0,"cfg":7.5e-1})", true,
       true},
      {R"({"style":"3d","concepts":[],"steps":1,"extra":{"b":12}})", true, true},
      {R"({"style":"3d","concepts":[],"steps":1,"extra":{"a":null,"b":1}})", true, true},
      {R"({"style":"3d","concepts":[],"steps":1,"extra":{"b":true}})", true, true},
      {R"({"style":"anime","concepts":[],"steps":20)", true, false},
      {R"({"style":"ani)", true, false},
      {R"({"style":"cartoon")", false, false},                          // not in the enum
      {R"({"concepts":[],"style":"anime")", false, false},              // order is declared order
      {R"({"style":"anime","steps":1)", false, false},                  // skips required "concepts"
      {R"({"style":"anime","concepts":[],"steps":1.5)", false, false},  // integer
      {R"({"style":"anime","concepts":[],"steps":01)", false, false},   // leading zero
      {R"({"style":"anime","concepts":["a","b","c","d","e"])", false, false},  // maxItems
      {R"({"style":"anime","content_type":"0123456789abc")", false, false},    // maxLength
      {R"({"style":"anime","content_type":"tab	")", false, false},            // raw control
      {"{\"style\":\"anime\",\"content_type\":\"\xC3\xA9\\u00e9\\n\"", true, false},
      {"{\"style\":\"anime\",\"content_type\":\"\xC3\x28", false, false},  // bad UTF-8
      {"{\"style\":\"anime\",\"content_type\":\"\\ud800", false, false},   // lone surrogate
      {R"({"style":"anime",  "concepts")", false, false},                  // two spaces
      {R"({"style":"anime","concepts":[],"steps":1,"nsfw":true} )", false, false},  // trailing
      {R"({"style":"anime","concepts":[],"steps":1,"extra":{}})", false, false},    // b required
  };
  for (const DocCase& c : cases) {
    SCOPED_TRACE(c.text);
    JsonConstraint k(s);
    EXPECT_EQ(k.Accept(c.text), c.accepted);
    if (c.accepted) {
      EXPECT_EQ(k.CanEnd(), c.complete);
    }
    if (c.complete) {
      EXPECT_TRUE(ValidateJson(*s, json::parse(c.text)).ok());
    }
  }
  // Top-level scalars end by end of generation only.
  JsonConstraint num(Schema(R"({"type": "number"})"));
  EXPECT_TRUE(num.Accept("-12.5"));
  EXPECT_TRUE(num.CanEnd());
  EXPECT_FALSE(num.CanAccept(","));
  JsonConstraint e(Schema(R"({"enum": [1, 12]})"));
  EXPECT_TRUE(e.Accept("1"));
  EXPECT_TRUE(e.CanEnd());
  EXPECT_TRUE(e.Accept("2"));
  EXPECT_TRUE(e.Done());
}

// Walks `n` documents choosing uniformly among allowed tokens; each must parse and validate.
void RandomWalks(const JsonTokenMask& mask, const std::vector<std::string>& bytes,
                 const std::shared_ptr<const JsonSchema>& schema, int n, uint32_t seed) {
  std::mt19937 rng(seed);
  int valid = 0;
  for (int walk = 0; walk < n; ++walk) {
    JsonConstraint c(schema);
    std::string text;
    bool ended = false;
    for (int step = 0; step < 4000 && !ended; ++step) {
      const std::vector<int32_t> allowed = mask.Allowed(c);
      ASSERT_FALSE(allowed.empty()) << "dead end after '" << text << "'";
      const int32_t id = allowed[std::uniform_int_distribution<size_t>(0, allowed.size() - 1)(rng)];
      if (id == mask.eos()) {
        ended = true;
        break;
      }
      ASSERT_TRUE(mask.Accept(&c, id));
      text += bytes[static_cast<size_t>(id)];
    }
    ASSERT_TRUE(ended) << "no end after 4000 tokens: '" << text << "'";
    json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(doc.is_discarded()) << "does not parse: '" << text << "'";
    Status st = ValidateJson(*schema, doc);
    ASSERT_TRUE(st.ok()) << st.ToString() << " in '" << text << "'";
    ++valid;
  }
  EXPECT_EQ(valid, n);
}

TEST(LlmJsonConstraint, RandomWalksOverASyntheticVocabularyAlwaysValidate) {
  std::vector<std::string> bytes;
  for (int b = 0; b < 256; ++b) bytes.emplace_back(1, static_cast<char>(b));
  for (const char* t : {"{\"",
                        "\":",
                        "\": ",
                        "\",",
                        "\", \"",
                        "\"}",
                        "true",
                        "false",
                        "null",
                        "12",
                        "0.",
                        "e+",
                        "anime",
                        "\"anime\"",
                        "\xC3\xA9",
                        "\xE6\x97\xA5",
                        "\xF0\x9F\x8E\xA8",
                        "\\u00",
                        "\\n",
                        "]}",
                        "}}",
                        "[\"",
                        "style",
                        " \""})
    bytes.emplace_back(t);
  const int32_t eos = static_cast<int32_t>(bytes.size());
  bytes.emplace_back();  // the end token has no bytes
  JsonTokenMask mask(bytes, eos);
  RandomWalks(mask, bytes, Schema(kAnalysisSchema), 100, 1);
  RandomWalks(mask, bytes,
              Schema(R"({"type": "array", "items": {"enum": [1, 12, 123]}, "maxItems": 5})"), 100,
              2);
}

TEST(LlmJsonConstraint, RandomWalksOverSmolLM2VocabularyAlwaysValidate) {
  EASEL_REQUIRE_SMOLLM2();
  auto file = GgufFile::Open(testing::SmolLM2Path());
  ASSERT_TRUE(file.ok());
  auto tok = Tokenizer::FromGguf(**file);
  ASSERT_TRUE(tok.ok());
  JsonTokenMask mask(*tok);
  std::vector<std::string> bytes;
  for (int32_t id = 0; id < tok->vocab_size(); ++id) bytes.push_back(tok->TokenBytes(id));
  // Allowed() at the start: only tokens that begin with '{'.
  JsonConstraint start(Schema(kAnalysisSchema));
  for (int32_t id : mask.Allowed(start)) EXPECT_EQ(bytes[static_cast<size_t>(id)][0], '{');
  const auto t0 = std::chrono::steady_clock::now();
  RandomWalks(mask, bytes, Schema(kAnalysisSchema), 100, 3);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[ figures  ] 100 constrained walks over SmolLM2's vocabulary: %.2f s\n", s);
}

}  // namespace
}  // namespace easel::llm
