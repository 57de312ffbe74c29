// Hugging Face folders (llm/torch/hf_model.h) against transformers: tiny random Llama (float32,
// untied, three shards with an index) and Qwen2 (bfloat16, tied, q/k/v biases) written by
// tools/make_llm_goldens.py, with their own byte-level BPE tokenizer.json (GPT-2 and Qwen2
// pre-tokenizers) and a ChatML template in chat_template.jinja.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "llm/torch/builtin_backend.h"
#include "llm/torch/hf_model.h"
#include "test_paths.h"

namespace easel::llm {
namespace {

const std::string kDir = std::string(EASEL_FIXTURES_DIR) + "/llm/";

torch::Tensor Golden(const io::SafetensorsFile& f, const std::string& name) {
  const io::TensorInfo* t = f.Find(name);
  EXPECT_NE(t, nullptr) << name;
  return torch::from_blob(const_cast<uint8_t*>(t->data), t->shape, torch::kFloat32).clone();
}

std::vector<int32_t> Ids(const io::SafetensorsFile& f, const std::string& key) {
  return nlohmann::json::parse(f.metadata().at(key)).get<std::vector<int32_t>>();
}

// Tolerance 1e-4 absolute on logits of magnitude ~5: both sides compute in float32 from the
// same stored values (bfloat16 ones upcast exactly); only float32 op order differs.
TEST(LlmHfModel, TinyLlamaAndQwen2FoldersMatchTransformers) {
  auto golden = io::SafetensorsFile::Open(kDir + "hf_tiny_ref.safetensors");
  ASSERT_TRUE(golden.ok()) << golden.status().ToString();
  const std::string text = (*golden)->metadata().at("text");
  for (const std::string arch : {"llama", "qwen2"}) {
    SCOPED_TRACE(arch);
    BuiltinOptions o;
    o.model_path = kDir + "hf_tiny_" + arch;
    auto llm = LoadLlm(o);
    ASSERT_TRUE(llm.ok()) << llm.status().ToString();
    EXPECT_EQ(llm->chat_template.format, ChatFormat::kChatML);
    EXPECT_EQ(llm->tokenizer->pre_tokenizer(),
              arch == "llama" ? PreTokenizer::kGpt2 : PreTokenizer::kQwen2);
    EXPECT_EQ(llm->model->config().tied_embeddings, arch == "qwen2");
    EXPECT_EQ(llm->model->config().rope_style, RopeStyle::kHalves);
    const auto im_end = llm->tokenizer->Find("<|im_end|>");
    ASSERT_TRUE(im_end.has_value());
    EXPECT_NE(std::find(llm->end_ids.begin(), llm->end_ids.end(), *im_end), llm->end_ids.end());
    const std::vector<int32_t> ids = Ids(**golden, arch + "_ids");
    EXPECT_EQ(llm->tokenizer->Encode(text), ids);
    auto cache = llm->model->NewCache(64);
    ASSERT_TRUE(cache.ok());
    auto logits = llm->model->Forward(ids, &*cache);
    ASSERT_TRUE(logits.ok()) << logits.status().ToString();
    const torch::Tensor want = Golden(**golden, arch + "_prefill");
    const double err = (*logits - want).abs().max().item<double>();
    EXPECT_LE(err, 1e-4) << "max |logit| " << want.abs().max().item<double>();
    torch::Tensor last = (*logits)[-1];
    std::vector<int32_t> got;
    for (int i = 0; i < 8; ++i) {
      got.push_back(static_cast<int32_t>(last.argmax().item<int64_t>()));
      auto next = llm->model->Forward({got.back()}, &*cache);
      ASSERT_TRUE(next.ok());
      last = (*next)[-1];
    }
    EXPECT_EQ(got, Ids(**golden, arch + "_generated"));
    const double err_last = (last - Golden(**golden, arch + "_last")).abs().max().item<double>();
    EXPECT_LE(err_last, 1e-4);
    std::printf("[ figures  ] hf tiny %s: max |logit error| %.2e prefill, %.2e after 8 tokens\n",
                arch.c_str(), err, err_last);
  }
}

TEST(LlmHfModel, BuiltinBackendRunsAFolder) {
  BuiltinOptions o;
  o.model_path = kDir + "hf_tiny_qwen2/";
  auto b = BuiltinBackend::Open(o);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ((*b)->Info().context_length, 128);
  ChatRequest r;
  r.messages = {{"user", "Hello world", {}, "", ""}};
  r.temperature = 0;
  r.max_tokens = 5;
  auto res = (*b)->Chat(r, nullptr);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_LE(res->usage.completion_tokens, 5);
}

TEST(LlmHfModel, ConfigErrorsAndNames) {
  EXPECT_EQ(GgufNameOfHf("model.layers.12.mlp.up_proj.weight"), "blk.12.ffn_up.weight");
  EXPECT_EQ(GgufNameOfHf("model.layers.0.self_attn.k_proj.bias"), "blk.0.attn_k.bias");
  EXPECT_EQ(GgufNameOfHf("lm_head.weight"), "output.weight");
  EXPECT_EQ(GgufNameOfHf("model.layers.x.mlp.up_proj.weight"), "");
  EXPECT_EQ(GgufNameOfHf("model.rotary_emb.inv_freq"), "");
  const std::string base = R"("num_hidden_layers":2,"hidden_size":32,"intermediate_size":64,
      "num_attention_heads":4,"vocab_size":10)";
  EXPECT_TRUE(LlamaConfigFromHfJson("{\"model_type\":\"llama\"," + base + "}", "c").ok());
  EXPECT_EQ(LlamaConfigFromHfJson("{\"model_type\":\"gpt2\"," + base + "}", "c").status().code(),
            Code::kUnsupported);
  EXPECT_EQ(
      LlamaConfigFromHfJson(
          "{\"model_type\":\"llama\",\"rope_scaling\":{\"rope_type\":\"yarn\"}," + base + "}", "c")
          .status()
          .code(),
      Code::kUnsupported);
  EXPECT_EQ(
      LlamaConfigFromHfJson(R"({"model_type":"llama","hidden_size":32})", "c").status().code(),
      Code::kCorrupt);
  EXPECT_EQ(LlamaConfigFromHfJson(
                "{\"model_type\":\"llama\",\"num_key_value_heads\":3," + base + "}", "c")
                .status()
                .code(),
            Code::kCorrupt);
  EXPECT_EQ(LlamaConfigFromHfJson("[1]", "c").status().code(), Code::kCorrupt);
  BuiltinOptions o;
  o.model_path = kDir;  // a folder without config.json
  EXPECT_EQ(LoadLlm(o).status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace easel::llm
