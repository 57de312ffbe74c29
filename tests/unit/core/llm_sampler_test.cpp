// Sampler (greedy, filters, penalty, allowed set, seeded draws against the softmax) and
// TokenStream (UTF-8 split across tokens, stop strings, special tokens).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "llm/sampler.h"
#include "llm/token_stream.h"
#include "llm/tokenizer.h"

namespace easel::llm {
namespace {

SamplingParams Greedy() {
  SamplingParams p;
  p.temperature = 0;
  return p;
}

TEST(LlmSampler, GreedyTakesTheHighestLogitLowestIdOnTies) {
  Sampler s(Greedy());
  EXPECT_EQ(s.Sample({0.1f, 3.0f, -1.0f, 3.0f}, {}), 1);
  SamplingParams k1;
  k1.top_k = 1;
  EXPECT_EQ(Sampler(k1).Sample({0.1f, 2.0f, 5.0f}, {}), 2);
}

TEST(LlmSampler, AllowedSetAndPenalty) {
  Sampler s(Greedy());
  const std::vector<int32_t> allowed = {0, 2};
  EXPECT_EQ(s.Sample({1.0f, 9.0f, 2.0f}, {}, &allowed), 2);
  const std::vector<int32_t> none;
  EXPECT_EQ(s.Sample({1.0f}, {}, &none), -1);
  SamplingParams pen = Greedy();
  pen.repeat_penalty = 2.0f;
  // Token 1 (logit 3) was just said: 3 / 2 = 1.5 < 2.
  EXPECT_EQ(Sampler(pen).Sample({0.0f, 3.0f, 2.0f}, {1}), 2);
  pen.repeat_last_n = 1;  // only the last token counts
  EXPECT_EQ(Sampler(pen).Sample({0.0f, 3.0f, 2.0f}, {1, 0}), 1);
}

TEST(LlmSampler, SeededDrawsFollowTheSoftmax) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = 42;
  const std::vector<float> logits = {0.0f, 1.0f, 2.0f, -1.0f};
  Sampler a(p), b(p);
  std::map<int32_t, int> counts;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const int32_t x = a.Sample(logits, {});
    EXPECT_EQ(x, b.Sample(logits, {}));  // same seed, same draws
    ++counts[x];
  }
  double z = 0;
  for (float l : logits) z += std::exp(l);
  for (int32_t id = 0; id < 4; ++id) {
    const double want = std::exp(logits[static_cast<size_t>(id)]) / z;
    // 5 standard deviations of a binomial proportion: fails by chance ~1e-6.
    const double sd = std::sqrt(want * (1 - want) / n);
    EXPECT_NEAR(counts[id] / static_cast<double>(n), want, 5 * sd) << id;
  }
}

TEST(LlmSampler, TopPAndMinPCut) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 0.5f;  // the top token alone has p > 0.5
  p.min_p = 0.0f;
  Sampler s(p);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(s.Sample({5.0f, 1.0f, 1.0f, 0.0f}, {}), 0);
  p.top_p = 1.0f;
  p.min_p = 0.5f;  // exp(-1) = 0.37 of the top: cut
  Sampler m(p);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(m.Sample({2.0f, 1.0f, 0.0f}, {}), 0);
}

// A byte-level tokenizer: one token per byte plus "<|im_end|>".
Tokenizer ByteTokenizer() {
  nlohmann::json j;
  j["model"] = {
      {"type", "BPE"}, {"vocab", nlohmann::json::object()}, {"merges", nlohmann::json::array()}};
  for (int b = 0; b < 256; ++b) j["model"]["vocab"][ByteLevelChar(static_cast<uint8_t>(b))] = b;
  j["added_tokens"] = {{{"id", 256}, {"content", "<|im_end|>"}, {"special", true}}};
  j["pre_tokenizer"] = {{"type", "ByteLevel"}};
  auto tok = Tokenizer::FromTokenizerJson(j.dump(), "bytes.json");
  EXPECT_TRUE(tok.ok()) << tok.status().ToString();
  return std::move(tok).ValueOrThrow();
}

TEST(LlmTokenStream, HoldsSplitCharactersAndStopStrings) {
  const Tokenizer tok = ByteTokenizer();
  TokenStream s(tok, {"###", "\nUser:"});
  std::string shown;
  for (int32_t id : tok.Encode("caf\xC3\xA9 ok\nUse")) {
    const std::string part = s.Push(id);
    // Never half a character.
    if (!part.empty()) {
      EXPECT_NE(static_cast<uint8_t>(part.back()), 0xC3);
    }
    shown += part;
  }
  EXPECT_EQ(shown, "caf\xC3\xA9 ok");  // "\nUse" may begin "\nUser:"
  for (int32_t id : tok.Encode("ful##")) shown += s.Push(id);
  EXPECT_EQ(shown, "caf\xC3\xA9 ok\nUseful");
  EXPECT_FALSE(s.stopped());
  for (int32_t id : tok.Encode("# rest")) shown += s.Push(id);
  EXPECT_TRUE(s.stopped());
  EXPECT_EQ(shown, "caf\xC3\xA9 ok\nUseful");
  EXPECT_EQ(s.Push(65), "");

  TokenStream plain(tok, {});
  EXPECT_EQ(plain.Push(256), "");  // special tokens are not text
  EXPECT_EQ(plain.Push(0xE6), "");
  EXPECT_EQ(plain.Flush(), "\xE6");
}

}  // namespace
}  // namespace easel::llm
