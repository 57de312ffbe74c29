// Tokenizer and pre-tokenizers: the hand-written splits against the `tokenizers` package's
// regex splits (tests/fixtures/llm/pretokenize.json), SmolLM2's real tokenizer (from its
// GGUF, and from a tokenizer.json built from the same vocabulary) against transformers' ids
// (smollm2_tokens.json), SentencePiece BPE with byte fallback on a small vocabulary, and
// malformed tokenizer metadata (ids out of range, lying arrays) rejected with clear errors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "llm/gguf.h"
#include "llm/pretokenizer.h"
#include "llm/tokenizer.h"
#include "llm_gguf_builder.h"
#include "llm_test_support.h"
#include "test_paths.h"

namespace easel::llm {
namespace {

using nlohmann::json;
using testing::GgufBuilder;

const std::string kFixtures = std::string(EASEL_FIXTURES_DIR) + "/llm/";

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(LlmPreTokenizer, MatchesTheTokenizersPackageForEveryPattern) {
  const json golden = json::parse(testing::ReadText(kFixtures + "pretokenize.json"));
  int checked = 0;
  for (const json& c : golden["cases"]) {
    const std::string text = c["text"];
    for (auto [name, kind] :
         {std::pair{"gpt2", PreTokenizer::kGpt2}, std::pair{"llama3", PreTokenizer::kLlama3},
          std::pair{"qwen2", PreTokenizer::kQwen2}, std::pair{"smollm", PreTokenizer::kSmolLM}}) {
      std::vector<std::string> got;
      for (std::string_view p : PreTokenize(kind, text)) got.emplace_back(p);
      EXPECT_EQ(got, c[name].get<std::vector<std::string>>()) << name << " on '" << text << "'";
      ++checked;
    }
  }
  EXPECT_EQ(checked, 4 * 42);
}

TEST(LlmPreTokenizer, KeepsInvalidUtf8Bytes) {
  const std::string text = "ab\xff\xfe cd\xc3";
  std::string joined;
  for (std::string_view p : PreTokenize(PreTokenizer::kLlama3, text)) joined += p;
  EXPECT_EQ(joined, text);
}

TEST(LlmPreTokenizer, Names) {
  EXPECT_EQ(PreTokenizerFromName("llama-bpe"), PreTokenizer::kLlama3);
  EXPECT_EQ(PreTokenizerFromName("qwen2"), PreTokenizer::kQwen2);
  EXPECT_EQ(PreTokenizerFromName("smollm"), PreTokenizer::kSmolLM);
  EXPECT_EQ(PreTokenizerFromName("default"), PreTokenizer::kGpt2);
  EXPECT_FALSE(PreTokenizerFromName("deepseek-coder").has_value());
}

void ExpectGoldenIds(const Tokenizer& tok) {
  const json golden = json::parse(testing::ReadText(kFixtures + "smollm2_tokens.json"));
  ASSERT_GE(golden["cases"].size(), 30u);
  for (const json& c : golden["cases"]) {
    const std::string text = c["text"];
    const std::vector<int32_t> want = c["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(tok.Encode(text), want) << "'" << text << "'";
    EXPECT_EQ(tok.Decode(want), c["decoded"].get<std::string>()) << "'" << text << "'";
  }
}

TEST(LlmTokenizer, SmolLM2FromGgufMatchesTransformers) {
  EASEL_REQUIRE_SMOLLM2();
  auto file = GgufFile::Open(testing::SmolLM2Path());
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  auto tok = Tokenizer::FromGguf(**file);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ(tok->vocab_size(), 49152);
  EXPECT_EQ(tok->model(), TokenizerModel::kByteBpe);
  EXPECT_EQ(tok->pre_tokenizer(), PreTokenizer::kSmolLM);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_FALSE(tok->add_bos());
  EXPECT_TRUE(tok->IsSpecial(*tok->Find("<|im_start|>")));
  EXPECT_EQ(tok->TokenBytes(*tok->Find("\xC4\xA0world")), " world");  // "Ġworld"
  ExpectGoldenIds(*tok);
  // Without special-token parsing, "<|im_end|>" is plain text.
  const std::vector<int32_t> plain = tok->Encode("<|im_end|>", /*parse_special=*/false);
  EXPECT_GT(plain.size(), 1u);
  EXPECT_EQ(tok->Decode(plain), "<|im_end|>");
  EXPECT_EQ(tok->Decode({1, 28120, 2}, /*skip_special=*/true), "hello");
}

// The same vocabulary through the tokenizer.json reader: a tokenizer.json written from the
// GGUF's tokens and merges, with SmolLM2's real pre-tokenizer (Digits + ByteLevel).
TEST(LlmTokenizer, SmolLM2FromTokenizerJsonMatchesTransformers) {
  EASEL_REQUIRE_SMOLLM2();
  auto file = GgufFile::Open(testing::SmolLM2Path());
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  const auto& tokens = *(*file)->Find("tokenizer.ggml.tokens")->AsStringArray();
  const auto& merges = *(*file)->Find("tokenizer.ggml.merges")->AsStringArray();
  json j;
  j["model"] = {{"type", "BPE"}, {"vocab", json::object()}, {"merges", json::array()}};
  json added = json::array();
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i < 17) {
      added.push_back({{"id", i}, {"content", tokens[i]}, {"special", true}});
    } else {
      j["model"]["vocab"][tokens[i]] = i;
    }
  }
  for (size_t i = 0; i < merges.size(); ++i) {
    const size_t sp = merges[i].find(' ');
    // Half as "a b" strings, half as ["a", "b"] pairs: both spellings exist in the wild.
    if (i % 2 == 0) {
      j["model"]["merges"].push_back(merges[i]);
    } else {
      j["model"]["merges"].push_back({merges[i].substr(0, sp), merges[i].substr(sp + 1)});
    }
  }
  j["added_tokens"] = added;
  j["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Digits"}, {"individual_digits", true}},
        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}}}};
  auto tok = Tokenizer::FromTokenizerJson(j.dump(), "tokenizer.json");
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ(tok->pre_tokenizer(), PreTokenizer::kSmolLM);
  EXPECT_EQ(tok->eos_id(), 0);  // "<|endoftext|>": tokenizer.json names no eos
  ExpectGoldenIds(*tok);
}

// A small SentencePiece vocabulary: merges by score, "▁" for spaces, byte fallback.
GgufBuilder SpmFile(const std::vector<std::string>& tokens, const std::vector<float>& scores,
                    const std::vector<int32_t>& types, uint32_t bos = 1) {
  GgufBuilder b;
  b.Header(0, 6)
      .KvStr("tokenizer.ggml.model", "llama")
      .KvStrArray("tokenizer.ggml.tokens", tokens)
      .KvF32Array("tokenizer.ggml.scores", scores)
      .KvI32Array("tokenizer.ggml.token_type", types)
      .KvU32("tokenizer.ggml.bos_token_id", bos)
      .KvU32("tokenizer.ggml.eos_token_id", 2);
  return b;
}

TEST(LlmTokenizer, SentencePieceMergesByScoreWithByteFallback) {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<int32_t> types = {2, 3, 3};
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "<0x%02X>", b);
    tokens.push_back(hex);
    types.push_back(6);
  }
  const size_t base = tokens.size();  // 259
  for (const char* t :
       {"\xE2\x96\x81", "h", "e", "l", "o", "w", "r", "d", "he", "ll", "llo", "hello",
        "\xE2\x96\x81hello", "\xE2\x96\x81w", "or", "\xE2\x96\x81wor", "ld", "\xE2\x96\x81world"}) {
    tokens.push_back(t);
    types.push_back(1);
  }
  std::vector<float> scores(tokens.size(), 0.0f);
  for (size_t i = base; i < tokens.size(); ++i) scores[i] = -static_cast<float>(i - base);
  auto file = GgufFile::FromBytes(SpmFile(tokens, scores, types).bytes(), "spm.gguf");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  auto tok = Tokenizer::FromGguf(**file);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ(tok->model(), TokenizerModel::kSentencePiece);
  EXPECT_TRUE(tok->add_bos());
  auto id = [&](const std::string& t) { return *tok->Find(t); };
  const std::vector<int32_t> ids = tok->Encode("hello world!");
  // "▁hello" "▁world" and "!" (not in the vocabulary) as its byte 0x21.
  EXPECT_EQ(ids,
            (std::vector<int32_t>{id("\xE2\x96\x81hello"), id("\xE2\x96\x81world"), id("<0x21>")}));
  EXPECT_EQ(tok->Decode(ids), "hello world!");
  // Multi-byte characters outside the vocabulary fall back to their UTF-8 bytes.
  const std::vector<int32_t> e = tok->Encode("\xC3\xA9");
  EXPECT_EQ(e, (std::vector<int32_t>{id("\xE2\x96\x81"), id("<0xC3>"), id("<0xA9>")}));
  EXPECT_EQ(tok->Decode(e), "\xC3\xA9");
  // Special tokens in the text.
  EXPECT_EQ(tok->Encode("<s>hello"), (std::vector<int32_t>{1, id("hello")}));
}

struct BadTokenizer {
  const char* what;
  std::string bytes;
  Code code;
  const char* part;
};

TEST(LlmTokenizer, MalformedMetadataGivesClearErrors) {
  const std::vector<std::string> toks = {"a", "b", "ab"};
  std::vector<BadTokenizer> cases;
  auto bpe = [&](uint32_t n_kv) {
    GgufBuilder b;
    b.Header(0, n_kv)
        .KvStr("tokenizer.ggml.model", "gpt2")
        .KvStrArray("tokenizer.ggml.tokens", toks);
    return b;
  };
  cases.push_back({"no tokenizer", GgufBuilder().Header(0, 0).bytes(), Code::kNotFound,
                   "tokenizer.ggml.model"});
  cases.push_back({"unknown model",
                   GgufBuilder().Header(0, 1).KvStr("tokenizer.ggml.model", "rwkv").bytes(),
                   Code::kUnsupported, "'rwkv'"});
  cases.push_back({"no merges", bpe(2).bytes(), Code::kCorrupt, "tokenizer.ggml.merges"});
  cases.push_back({"merge of unknown tokens",
                   bpe(3).KvStrArray("tokenizer.ggml.merges", {"a c"}).bytes(), Code::kCorrupt,
                   "merge #0"});
  cases.push_back({"merge without a space",
                   bpe(3).KvStrArray("tokenizer.ggml.merges", {"ab"}).bytes(), Code::kCorrupt,
                   "two tokens"});
  cases.push_back({"bos id out of range",
                   bpe(4)
                       .KvStrArray("tokenizer.ggml.merges", {"a b"})
                       .KvU32("tokenizer.ggml.bos_token_id", 3)
                       .bytes(),
                   Code::kCorrupt, "bos_token_id is 3"});
  cases.push_back({"eos id far out of range",
                   bpe(4)
                       .KvStrArray("tokenizer.ggml.merges", {"a b"})
                       .KvU32("tokenizer.ggml.eos_token_id", 0xFFFFFFFFu)
                       .bytes(),
                   Code::kCorrupt, "eos_token_id is 4294967295"});
  cases.push_back({"negative padding id",
                   bpe(4)
                       .KvStrArray("tokenizer.ggml.merges", {"a b"})
                       .KvI32("tokenizer.ggml.padding_token_id", -5)
                       .bytes(),
                   Code::kCorrupt, "padding_token_id is -5"});
  cases.push_back({"token_type shorter than tokens",
                   bpe(4)
                       .KvStrArray("tokenizer.ggml.merges", {"a b"})
                       .KvI32Array("tokenizer.ggml.token_type", {1, 1})
                       .bytes(),
                   Code::kCorrupt, "2 entries for 3 tokens"});
  cases.push_back({"token type out of range",
                   bpe(4)
                       .KvStrArray("tokenizer.ggml.merges", {"a b"})
                       .KvI32Array("tokenizer.ggml.token_type", {1, 1, 42})
                       .bytes(),
                   Code::kCorrupt, "type 42"});
  cases.push_back({"unknown pre-tokenizer",
                   bpe(4)
                       .KvStrArray("tokenizer.ggml.merges", {"a b"})
                       .KvStr("tokenizer.ggml.pre", "mystery")
                       .bytes(),
                   Code::kUnsupported, "'mystery'"});
  cases.push_back({"tokens not strings",
                   GgufBuilder()
                       .Header(0, 2)
                       .KvStr("tokenizer.ggml.model", "gpt2")
                       .KvI32Array("tokenizer.ggml.tokens", {1, 2})
                       .bytes(),
                   Code::kCorrupt, "tokenizer.ggml.tokens"});
  cases.push_back({"scores shorter than tokens",
                   SpmFile({"<unk>", "<s>", "</s>"}, {0.0f}, {2, 3, 3}).bytes(), Code::kCorrupt,
                   "tokenizer.ggml.scores"});
  for (const BadTokenizer& c : cases) {
    SCOPED_TRACE(c.what);
    auto file = GgufFile::FromBytes(c.bytes, "tok.gguf");
    ASSERT_TRUE(file.ok()) << file.status().ToString();
    auto tok = Tokenizer::FromGguf(**file);
    ASSERT_FALSE(tok.ok());
    EXPECT_EQ(tok.status().code(), c.code) << tok.status().ToString();
    EXPECT_TRUE(Contains(tok.status().message(), c.part)) << tok.status().ToString();
  }
}

TEST(LlmTokenizer, MalformedTokenizerJson) {
  EXPECT_EQ(Tokenizer::FromTokenizerJson("[1]", "t.json").status().code(), Code::kCorrupt);
  EXPECT_EQ(Tokenizer::FromTokenizerJson(R"({"model": {"type": "Unigram", "vocab": []}})", "t.json")
                .status()
                .code(),
            Code::kUnsupported);
  // A hole in the ids.
  auto hole = Tokenizer::FromTokenizerJson(
      R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 2}, "merges": []},
          "pre_tokenizer": {"type": "ByteLevel"}})",
      "t.json");
  EXPECT_EQ(hole.status().code(), Code::kCorrupt);
  EXPECT_TRUE(Contains(hole.status().message(), "no token has id 1"));
  auto regex = Tokenizer::FromTokenizerJson(
      R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
          "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "\\w+"}, "behavior": "Isolated"},
            {"type": "ByteLevel", "use_regex": false}]}})",
      "t.json");
  EXPECT_EQ(regex.status().code(), Code::kUnsupported);
  EXPECT_TRUE(Contains(regex.status().message(), "\\w+"));
}

}  // namespace
}  // namespace easel::llm
