// Chunking of parsed prompts into 77-token windows, following A1111's tokenize_line rules
// with the [bos, tokens, eos, pad...] layout. Uses the real CLIP vocabulary: "a" is 320,
// "b" 321, "," 267, bos 49406, eos 49407.
#include "engine/text/prompt_chunks.h"

#include <gtest/gtest.h>

#include "text_test_support.h"

namespace easel::text {
namespace {

constexpr int kBos = 49406, kEos = 49407, kA = 320, kB = 321, kComma = 267;

std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

// The prompt tokens of a chunk: ids between bos and eos.
std::vector<int> Body(const TokenChunk& c) {
  EXPECT_EQ(c.ids[0], kBos);
  std::vector<int> body;
  for (int i = 1; i < kChunkLength && c.ids[i] != kEos; ++i) body.push_back(c.ids[i]);
  return body;
}

void ExpectLayout(const TokenChunk& c, const std::vector<int>& body, int pad) {
  ASSERT_LE(body.size(), 75u);
  EXPECT_EQ(c.ids[0], kBos);
  for (size_t i = 0; i < body.size(); ++i) EXPECT_EQ(c.ids[i + 1], body[i]) << i;
  EXPECT_EQ(c.ids[body.size() + 1], kEos);
  for (size_t i = body.size() + 2; i < 77; ++i) EXPECT_EQ(c.ids[i], pad) << i;
  EXPECT_EQ(c.weights[0], 1.0f);
  for (size_t i = body.size() + 1; i < 77; ++i) EXPECT_EQ(c.weights[i], 1.0f) << i;
}

std::vector<TokenChunk> Chunk(const ClipTokenizer& tok, const std::string& prompt, int pad = kEos,
                              ChunkOptions options = {}) {
  return ChunkPrompt(ParsePromptAttention(prompt), tok, pad, options);
}

TEST(PromptChunks, EmptyPromptGivesOneChunk) {
  EASEL_CLIP_TOKENIZER_OR_SKIP(tok);
  for (int pad : {kEos, 0}) {
    auto chunks = Chunk(tok, "", pad);
    ASSERT_EQ(chunks.size(), 1u);
    ExpectLayout(chunks[0], {}, pad);
    auto e = EmptyChunk(tok, pad);
    EXPECT_EQ(e.ids, chunks[0].ids);
    EXPECT_EQ(e.weights, chunks[0].weights);
  }
  EXPECT_EQ(Chunk(tok, "   ").size(), 1u);
}

TEST(PromptChunks, ShortPromptLayoutForSd1AndSd2Padding) {
  EASEL_CLIP_TOKENIZER_OR_SKIP(tok);
  auto sd1 = Chunk(tok, "a photo of a cat", kEos);
  ASSERT_EQ(sd1.size(), 1u);
  ExpectLayout(sd1[0], {320, 1125, 539, 320, 2368}, kEos);
  auto sd2 = Chunk(tok, "a photo of a cat", 0);
  ASSERT_EQ(sd2.size(), 1u);
  ExpectLayout(sd2[0], {320, 1125, 539, 320, 2368}, 0);
}

TEST(PromptChunks, WeightsFollowTheirTokens) {
  EASEL_CLIP_TOKENIZER_OR_SKIP(tok);
  auto chunks = Chunk(tok, "(a:1.2) [b] ((a, b))");
  ASSERT_EQ(chunks.size(), 1u);
  ExpectLayout(chunks[0], {kA, kB, kA, kComma, kB}, kEos);
  const float up2 = static_cast<float>(1.0 * 1.1 * 1.1);
  const std::vector<float> want = {1.0f, 1.2f, static_cast<float>(1 / 1.1), up2, up2, up2, 1.0f};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(chunks[0].weights[i], want[i]) << i;
}

TEST(PromptChunks, BreakClosesTheChunk) {
  EASEL_CLIP_TOKENIZER_OR_SKIP(tok);
  auto chunks = Chunk(tok, "a BREAK b");
  ASSERT_EQ(chunks.size(), 2u);
  ExpectLayout(chunks[0], {kA}, kEos);
  ExpectLayout(chunks[1], {kB}, kEos);
  // A leading BREAK closes an empty chunk; a trailing one adds nothing.
  chunks = Chunk(tok, "BREAK a");
  ASSERT_EQ(chunks.size(), 2u);
  ExpectLayout(chunks[0], {}, kEos);
  ExpectLayout(chunks[1], {kA}, kEos);
  EXPECT_EQ(Chunk(tok, "a BREAK").size(), 1u);
  EXPECT_EQ(Chunk(tok, "a BREAK BREAK b").size(), 3u);
}

TEST(PromptChunks, LongPromptOf200Tokens) {
  EASEL_CLIP_TOKENIZER_OR_SKIP(tok);
  auto chunks = Chunk(tok, Repeat("a ", 200));
  ASSERT_EQ(chunks.size(), 3u);
  ExpectLayout(chunks[0], std::vector<int>(75, kA), kEos);
  ExpectLayout(chunks[1], std::vector<int>(75, kA), kEos);
  ExpectLayout(chunks[2], std::vector<int>(50, kA), kEos);
}

TEST(PromptChunks, ExactlyFullChunk) {
  EASEL_CLIP_TOKENIZER_OR_SKIP(tok);
  auto chunks = Chunk(tok, Repeat("a ", 75));
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].ids[76], kEos);
  EXPECT_EQ(Chunk(tok, Repeat("a ", 76)).size(), 2u);
}

TEST(PromptChunks, CommaBacktrackMovesTheTailToTheNextChunk) {
  EASEL_CLIP_TOKENIZER_OR_SKIP(tok);
  // 70 x a, a comma at index 70, 10 x b: when b #5 arrives the chunk is full and the comma is
  // 5 tokens back (<= 20), so the 4 b's after it move to the next chunk.
  const std::string prompt = Repeat("a ", 70) + ", " + Repeat("b ", 10);
  auto chunks = Chunk(tok, prompt);
  ASSERT_EQ(chunks.size(), 2u);
  std::vector<int> first(70, kA);
  first.push_back(kComma);
  ExpectLayout(chunks[0], first, kEos);
  ExpectLayout(chunks[1], std::vector<int>(10, kB), kEos);

  // Turned off: a plain 75-token cut.
  chunks = Chunk(tok, prompt, kEos, ChunkOptions{0});
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(Body(chunks[0]).size(), 75u);
  EXPECT_EQ(Body(chunks[1]), std::vector<int>(6, kB));
}

TEST(PromptChunks, CommaTooFarBackIsIgnored) {
  EASEL_CLIP_TOKENIZER_OR_SKIP(tok);
  // Comma at index 10: 75 - 10 = 65 > 20, so the chunk is cut at 75 tokens.
  auto chunks = Chunk(tok, Repeat("a ", 10) + ", " + Repeat("b ", 70));
  ASSERT_EQ(chunks.size(), 2u);
  std::vector<int> first(10, kA);
  first.push_back(kComma);
  first.insert(first.end(), 64, kB);
  ExpectLayout(chunks[0], first, kEos);
  ExpectLayout(chunks[1], std::vector<int>(6, kB), kEos);
}

TEST(PromptChunks, CommaAsTheLastTokenOfAFullChunk) {
  EASEL_CLIP_TOKENIZER_OR_SKIP(tok);
  auto chunks = Chunk(tok, Repeat("a ", 74) + ", b");
  ASSERT_EQ(chunks.size(), 2u);
  std::vector<int> first(74, kA);
  first.push_back(kComma);
  ExpectLayout(chunks[0], first, kEos);
  ExpectLayout(chunks[1], {kB}, kEos);
}

TEST(PromptChunks, WeightsMoveWithBacktrackedTokens) {
  EASEL_CLIP_TOKENIZER_OR_SKIP(tok);
  auto chunks = Chunk(tok, Repeat("a ", 70) + ", (b b b b b:1.5)");
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(Body(chunks[1]), std::vector<int>(5, kB));
  for (int i = 1; i <= 5; ++i) EXPECT_EQ(chunks[1].weights[i], 1.5f) << i;
  EXPECT_EQ(chunks[1].weights[6], 1.0f);
}

TEST(PromptChunks, PadCondAndUncondToTheSameCount) {
  EASEL_CLIP_TOKENIZER_OR_SKIP(tok);
  auto cond = Chunk(tok, Repeat("a ", 160), 0);
  auto uncond = Chunk(tok, "b", 0);
  ASSERT_EQ(cond.size(), 3u);
  PadToSameChunkCount(&cond, &uncond, tok, 0);
  ASSERT_EQ(cond.size(), 3u);
  ASSERT_EQ(uncond.size(), 3u);
  ExpectLayout(uncond[0], {kB}, 0);
  ExpectLayout(uncond[1], {}, 0);
  ExpectLayout(uncond[2], {}, 0);
  PadToSameChunkCount(&uncond, &cond, tok, 0);  // already equal: unchanged
  EXPECT_EQ(cond.size(), 3u);
}

}  // namespace
}  // namespace easel::text
