// Textual-inversion placement in prompt chunks (engine/text/prompt_chunks.h with an
// EmbeddingVocabulary): A1111 name matching inside text, ComfyUI's `embedding:name`, the
// move to the next chunk when the vectors do not fit, the comma rule carrying fixes along,
// and the errors.
#include <gtest/gtest.h>

#include <string>

#include "engine/text/clip_tokenizer.h"
#include "engine/text/embedding_vocab.h"
#include "engine/text/prompt_chunks.h"
#include "engine/text/prompt_parser.h"
#include "util/status.h"

namespace easel::text {
namespace {

const ClipTokenizer& Tok() {
  static const ClipTokenizer tok = ClipTokenizer::FindDefault().ValueOrThrow();
  return tok;
}

EmbeddingVocabulary Vocab(int vectors) {
  EmbeddingVocabulary v;
  v.Add("xlstyle", Tok().Encode("xlstyle"));
  v.Add("bad-hands", Tok().Encode("bad-hands"));
  v.vector_count = [vectors](int) { return vectors; };
  return v;
}

std::vector<TokenChunk> Chunk(const std::string& prompt, const EmbeddingVocabulary& v) {
  return ChunkPrompt(ParsePromptAttention(prompt), Tok(), 49407, {}, &v);
}

TEST(EmbeddingChunks, NameInsideTextBecomesPlaceholders) {
  const EmbeddingVocabulary v = Vocab(3);
  auto chunks = Chunk("a (photo of xlstyle:1.2) dog", v);
  ASSERT_EQ(chunks.size(), 1u);
  ASSERT_EQ(chunks[0].fixes.size(), 1u);
  const EmbeddingFix f = chunks[0].fixes[0];
  EXPECT_EQ(f.embedding, 0);
  EXPECT_EQ(f.count, 3);
  const int first = 1 + f.offset;
  for (int i = first; i < first + 3; ++i) {
    EXPECT_EQ(chunks[0].ids[i], kEmbeddingPlaceholderId);
    EXPECT_FLOAT_EQ(chunks[0].weights[i], 1.2f);
  }
  EXPECT_EQ(chunks[0].ids[first + 3], Tok().Encode("dog")[0]);
  // ComfyUI's form, and a name with punctuation, match the same way.
  auto comfy = Chunk("a (photo of embedding:xlstyle:1.2) dog", v);
  EXPECT_EQ(comfy[0].ids, chunks[0].ids);
  auto dashed = Chunk("bad-hands, cat", v);
  ASSERT_EQ(dashed[0].fixes.size(), 1u);
  EXPECT_EQ(dashed[0].fixes[0].embedding, 1);
  // Without a vocabulary the word is text.
  EXPECT_TRUE(ChunkPrompt(ParsePromptAttention("xlstyle"), Tok(), 49407)[0].fixes.empty());
}

TEST(EmbeddingChunks, VectorsThatDoNotFitStartTheNextChunk) {
  const EmbeddingVocabulary v = Vocab(3);
  std::string prompt;
  for (int i = 0; i < 73; ++i) prompt += "lake ";
  auto chunks = Chunk(prompt + "xlstyle", v);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_TRUE(chunks[0].fixes.empty());
  EXPECT_EQ(chunks[0].ids[74], Tok().eos_id());  // 73 tokens, eos, pad
  ASSERT_EQ(chunks[1].fixes.size(), 1u);
  EXPECT_EQ(chunks[1].fixes[0].offset, 0);
  // Two vectors still fit (73 + 2 = 75).
  EXPECT_EQ(Chunk(prompt + "xlstyle", Vocab(2)).size(), 1u);
}

TEST(EmbeddingChunks, CommaRuleMovesFixesWithTheirTokens) {
  const EmbeddingVocabulary v = Vocab(2);
  std::string prompt;
  for (int i = 0; i < 70; ++i) prompt += "lake ";
  prompt += ", xlstyle sky sky sky";  // comma at 70; 71-72 the embedding; 73..75 sky
  auto chunks = Chunk(prompt, v);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_TRUE(chunks[0].fixes.empty());
  ASSERT_EQ(chunks[1].fixes.size(), 1u);
  EXPECT_EQ(chunks[1].fixes[0].offset, 0);
  EXPECT_EQ(chunks[1].ids[1], kEmbeddingPlaceholderId);
}

TEST(EmbeddingChunks, Errors) {
  const EmbeddingVocabulary v = Vocab(3);
  try {
    Chunk("a embedding:nosuch cat", v);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.status().code(), Code::kNotFound);
    EXPECT_NE(e.status().message().find("nosuch"), std::string::npos);
  }
  EXPECT_THROW(Chunk("xlstyle", Vocab(76)), Error);
  EXPECT_EQ(v.FindName("XLStyle"), 0);
  EXPECT_EQ(v.FindName("xlstyle.safetensors"), -1);
}

}  // namespace
}  // namespace easel::text
