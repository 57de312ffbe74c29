// The libtorch Llama forward against transformers (tools/make_llm_goldens.py): SmolLM2-135M
// from its Q4_1 GGUF, both sides computing in float32 from the same dequantised weights.
// Greedy decoding must equal the reference token for token for 32 tokens on three prompts,
// and the logits after the prompt and after the 32nd token must agree within tolerance.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "llm/chat_template.h"
#include "llm/gguf.h"
#include "llm/json_constraint.h"
#include "llm/llama_config.h"
#include "llm/sampler.h"
#include "llm/token_stream.h"
#include "llm/tokenizer.h"
#include "llm/torch/llama_model.h"
#include "test_paths.h"
#include "unit/core/llm_test_support.h"

namespace easel::llm {
namespace {

const std::string kGolden = std::string(EASEL_FIXTURES_DIR) + "/llm/smollm2_greedy.safetensors";

torch::Tensor GoldenTensor(const io::SafetensorsFile& f, const std::string& name) {
  const io::TensorInfo* t = f.Find(name);
  EXPECT_NE(t, nullptr) << name;
  return torch::from_blob(const_cast<uint8_t*>(t->data), {t->numel()}, torch::kFloat32).clone();
}

std::vector<int32_t> Ids(const io::SafetensorsFile& f, const std::string& key) {
  return nlohmann::json::parse(f.metadata().at(key)).get<std::vector<int32_t>>();
}

// Tiny random Llama (separate output, permuted Q/K, GQA) and Qwen2 (tied output, q/k/v
// biases, half-split RoPE) models with F32, F16, BF16, Q8_0, Q4_0 and Q4_1 tensors, against
// transformers holding the same dequantised weights. Tolerance 1e-4 absolute on logits of
// magnitude ~3: float32 op-order differences only (measured ~1.5e-6); tokens must be equal.
TEST(LlmLlama, TinyLlamaAndQwen2MatchTransformers) {
  auto golden =
      io::SafetensorsFile::Open(std::string(EASEL_FIXTURES_DIR) + "/llm/tiny_ref.safetensors");
  ASSERT_TRUE(golden.ok()) << golden.status().ToString();
  const std::vector<int32_t> ids = Ids(**golden, "ids");
  for (const std::string arch : {"llama", "qwen2"}) {
    SCOPED_TRACE(arch);
    auto file = GgufFile::Open(std::string(EASEL_FIXTURES_DIR) + "/llm/tiny_" + arch + ".gguf");
    ASSERT_TRUE(file.ok()) << file.status().ToString();
    auto model = LlamaModel::FromGguf(**file);
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    EXPECT_EQ((*model)->config().rope_style,
              arch == "llama" ? RopeStyle::kAdjacentPairs : RopeStyle::kHalves);
    EXPECT_EQ((*model)->config().tied_embeddings, arch == "qwen2");
    auto cache = (*model)->NewCache(32);
    ASSERT_TRUE(cache.ok());
    auto logits = (*model)->Forward(ids, &*cache);
    ASSERT_TRUE(logits.ok()) << logits.status().ToString();
    const torch::Tensor want = GoldenTensor(**golden, arch + "_prefill").view({10, 96});
    const double err = (*logits - want).abs().max().item<double>();
    EXPECT_LE(err, 1e-4) << "max |logit| " << want.abs().max().item<double>();
    std::vector<int32_t> got;
    torch::Tensor last = (*logits)[-1];
    for (int step = 0; step < 6; ++step) {
      got.push_back(static_cast<int32_t>(last.argmax().item<int64_t>()));
      auto next = (*model)->Forward({got.back()}, &*cache);
      ASSERT_TRUE(next.ok());
      last = (*next)[-1];
    }
    EXPECT_EQ(got, Ids(**golden, arch + "_generated"));
    const double err_last =
        (last - GoldenTensor(**golden, arch + "_last")).abs().max().item<double>();
    EXPECT_LE(err_last, 1e-4);
    std::printf("[ figures  ] tiny %s: max |logit error| %.2e prefill, %.2e after 6 tokens\n",
                arch.c_str(), err, err_last);
  }
}

TEST(LlmLlama, SmolLM2ConfigFromGguf) {
  EASEL_REQUIRE_SMOLLM2();
  auto file = GgufFile::Open(testing::SmolLM2Path());
  ASSERT_TRUE(file.ok());
  auto c = LlamaConfigFromGguf(**file);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->n_layers, 30);
  EXPECT_EQ(c->d_model, 576);
  EXPECT_EQ(c->n_heads, 9);
  EXPECT_EQ(c->n_kv_heads, 3);
  EXPECT_EQ(c->head_dim, 64);
  EXPECT_EQ(c->vocab_size, 49152);
  EXPECT_EQ(c->rope_theta, 100000.0);
  EXPECT_TRUE(c->tied_embeddings);
  EXPECT_EQ(c->rope_style, RopeStyle::kAdjacentPairs);
}

// Tolerance: 1e-3 absolute on logits whose range is about +-30 (the reference's are float32
// too; what differs is the order of float32 sums in matmuls and softmax over 30 layers,
// measured at ~1e-4). The greedy tokens must be identical.
TEST(LlmLlama, SmolLM2GreedyMatchesTransformers) {
  EASEL_REQUIRE_SMOLLM2();
  torch::set_num_threads(2);
  auto file = GgufFile::Open(testing::SmolLM2Path());
  ASSERT_TRUE(file.ok());
  auto model = LlamaModel::FromGguf(**file);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto golden = io::SafetensorsFile::Open(kGolden);
  ASSERT_TRUE(golden.ok()) << golden.status().ToString();
  double prefill_tokens = 0, prefill_s = 0, decode_tokens = 0, decode_s = 0;
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE("prompt " + std::to_string(i));
    const std::vector<int32_t> prompt = Ids(**golden, "prompt_" + std::to_string(i));
    const std::vector<int32_t> want = Ids(**golden, "generated_" + std::to_string(i));
    auto cache = (*model)->NewCache(256);
    ASSERT_TRUE(cache.ok());
    auto t0 = std::chrono::steady_clock::now();
    auto logits = (*model)->Forward(prompt, &*cache);
    prefill_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    prefill_tokens += static_cast<double>(prompt.size());
    ASSERT_TRUE(logits.ok()) << logits.status().ToString();
    const torch::Tensor first = GoldenTensor(**golden, "logits_" + std::to_string(i));
    const double err0 = ((*logits)[-1] - first).abs().max().item<double>();
    EXPECT_LE(err0, 1e-3) << "max |logit| " << first.abs().max().item<double>();
    std::vector<int32_t> got;
    torch::Tensor last = (*logits)[-1];
    t0 = std::chrono::steady_clock::now();
    for (int step = 0; step < 32; ++step) {
      const auto next = static_cast<int32_t>(last.argmax().item<int64_t>());
      got.push_back(next);
      auto step_logits = (*model)->Forward({next}, &*cache);
      ASSERT_TRUE(step_logits.ok());
      last = (*step_logits)[-1];
    }
    decode_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    decode_tokens += 32;
    EXPECT_EQ(got, want);
    const double err1 = (last - GoldenTensor(**golden, "last_logits_" + std::to_string(i)))
                            .abs()
                            .max()
                            .item<double>();
    EXPECT_LE(err1, 1e-3);
    std::printf(
        "[ figures  ] prompt %d: %zu prompt tokens, max |logit error| %.2e after the "
        "prompt, %.2e after 32 tokens\n",
        i, prompt.size(), err0, err1);
  }
  std::printf("[ figures  ] SmolLM2 f32 CPU (2 threads): prefill %.0f tok/s, decode %.1f tok/s\n",
              prefill_tokens / prefill_s, decode_tokens / decode_s);
  // The context limit is a clear error.
  auto small = (*model)->NewCache(4);
  ASSERT_TRUE(small.ok());
  auto over = (*model)->Forward({1, 2, 3, 4, 5}, &*small);
  EXPECT_EQ(over.status().code(), Code::kInvalidArgument);
  EXPECT_EQ((*model)->NewCache(100000).status().code(), Code::kInvalidArgument);
}

// The whole path a schema-checked analysis takes: chat template, tokenizer, model, JSON
// token mask, sampler (greedy and seeded), token stream. The output must parse and validate.
TEST(LlmLlama, SmolLM2ConstrainedJsonParsesAndValidates) {
  EASEL_REQUIRE_SMOLLM2();
  torch::set_num_threads(2);
  auto file = GgufFile::Open(testing::SmolLM2Path());
  ASSERT_TRUE(file.ok());
  auto model = LlamaModel::FromGguf(**file);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto tok = Tokenizer::FromGguf(**file);
  ASSERT_TRUE(tok.ok());
  auto tmpl = DetectChatTemplate(*(*file)->GetString("tokenizer.chat_template"));
  ASSERT_TRUE(tmpl.ok());
  auto prompt = RenderChat(*tmpl,
                           {{"user",
                             "Classify the image prompt 'a neon city at night, anime "
                             "style' as JSON with style and steps."}},
                           /*add_generation_prompt=*/true);
  ASSERT_TRUE(prompt.ok());
  auto schema = ParseJsonSchema(std::string_view(R"({"type": "object", "properties": {
      "style": {"enum": ["photo", "anime", "painting"]},
      "tags": {"type": "array", "items": {"type": "string", "maxLength": 12}, "maxItems": 3},
      "steps": {"type": "integer"}}, "required": ["style", "tags", "steps"]})"));
  ASSERT_TRUE(schema.ok()) << schema.status().ToString();
  const JsonTokenMask mask(*tok);
  const std::vector<int32_t> prompt_ids = tok->Encode(*prompt);
  for (uint64_t seed : {0, 1}) {
    SamplingParams params;
    params.temperature = seed == 0 ? 0.0f : 0.7f;  // greedy, then a seeded sample
    params.seed = seed;
    Sampler sampler(params);
    JsonConstraint constraint(*schema);
    TokenStream stream(*tok, {});
    auto cache = (*model)->NewCache(512);
    ASSERT_TRUE(cache.ok());
    auto logits = (*model)->Forward(prompt_ids, &*cache);
    std::vector<int32_t> history = prompt_ids;
    std::string text;
    bool ended = false;
    for (int step = 0; step < 80 && !ended; ++step) {
      ASSERT_TRUE(logits.ok()) << logits.status().ToString();
      const torch::Tensor last = (*logits)[-1].contiguous();
      const std::vector<float> row(last.data_ptr<float>(), last.data_ptr<float>() + last.numel());
      const std::vector<int32_t> allowed = mask.Allowed(constraint);
      const int32_t id = sampler.Sample(row, history, &allowed);
      ASSERT_GE(id, 0);
      if (id == mask.eos()) {
        ended = true;
        break;
      }
      ASSERT_TRUE(mask.Accept(&constraint, id));
      history.push_back(id);
      text += stream.Push(id);
      logits = (*model)->Forward({id}, &*cache);
    }
    text += stream.Flush();
    std::printf("[ figures  ] seed %d: %s\n", static_cast<int>(seed), text.c_str());
    ASSERT_TRUE(ended || constraint.CanEnd()) << text;
    const nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << text;
    EXPECT_TRUE(ValidateJson(**schema, doc).ok()) << text;
  }
}

}  // namespace
}  // namespace easel::llm
