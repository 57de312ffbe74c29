// BuiltinBackend (llm/torch/builtin_backend.h) with SmolLM2-135M-Instruct: greedy replies
// equal the model's own greedy decoding of the rendered prompt, stop strings, max_tokens,
// the context limit, JSON-schema and required-tool decoding, Cancel() from another thread,
// soft and hard unloads. Replies are kept short: the CPU is shared.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "llm/chat_template.h"
#include "llm/gguf.h"
#include "llm/json_schema.h"
#include "llm/tokenizer.h"
#include "llm/torch/builtin_backend.h"
#include "llm/torch/llama_model.h"
#include "unit/core/llm_test_support.h"

namespace easel::llm {
namespace {

class LlmBuiltin : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!testing::HaveSmolLM2()) return;
    torch::set_num_threads(2);
    BuiltinOptions o;
    o.model_path = testing::SmolLM2Path();
    o.context = 1024;
    auto b = BuiltinBackend::Open(o);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    backend_ = std::move(*b);
  }
  static void TearDownTestSuite() { backend_.reset(); }
  static ChatRequest Greedy(const std::string& user, int max_tokens) {
    ChatRequest r;
    r.messages = {{"user", user, {}, "", ""}};
    r.temperature = 0;
    r.max_tokens = max_tokens;
    return r;
  }
  static std::unique_ptr<BuiltinBackend> backend_;
};
std::unique_ptr<BuiltinBackend> LlmBuiltin::backend_;

TEST_F(LlmBuiltin, GreedyReplyEqualsGreedyDecodeAndStreams) {
  EASEL_REQUIRE_SMOLLM2();
  const ChatRequest req = Greedy("What is the capital of France?", 10);
  std::string streamed;
  auto r = backend_->Chat(req, [&](std::string_view d) {
    streamed += d;
    return true;
  });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(streamed, r->content);
  std::printf("[ figures  ] reply: %s (prefill %d tok %.2fs, decode %d tok %.2fs)\n",
              r->content.c_str(), r->usage.prompt_tokens, r->usage.prefill_seconds,
              r->usage.completion_tokens, r->usage.decode_seconds);

  // The same by hand: template, tokenizer, GreedyDecode.
  auto file = GgufFile::Open(testing::SmolLM2Path());
  ASSERT_TRUE(file.ok());
  auto tok = Tokenizer::FromGguf(**file);
  ASSERT_TRUE(tok.ok());
  auto tmpl = DetectChatTemplate(*(*file)->GetString("tokenizer.chat_template"));
  ASSERT_TRUE(tmpl.ok());
  auto prompt = RenderChat(*tmpl, {{"user", "What is the capital of France?"}}, true);
  ASSERT_TRUE(prompt.ok());
  const std::vector<int32_t> ids = tok->Encode(*prompt);
  EXPECT_EQ(r->usage.prompt_tokens, static_cast<int>(ids.size()));
  auto model = LlamaModel::FromGguf(**file);
  ASSERT_TRUE(model.ok());
  auto cache = (*model)->NewCache(128);
  ASSERT_TRUE(cache.ok());
  auto want = GreedyDecode(**model, ids, 10, &*cache);
  ASSERT_TRUE(want.ok());
  // The reply ends at the end-of-turn token (finish "stop") or after 10 tokens ("length").
  const int32_t im_end = *tok->Find("<|im_end|>");
  auto end = std::find(want->begin(), want->end(), im_end);
  const std::vector<int32_t> reply(want->begin(), end);
  EXPECT_EQ(r->content, tok->Decode(reply));
  EXPECT_EQ(r->usage.completion_tokens, static_cast<int>(reply.size()));
  EXPECT_EQ(r->finish_reason, end == want->end() ? "length" : "stop");

  // Again: the KV cache holds the prompt, so only its last token runs; same reply.
  auto again = backend_->Chat(req, nullptr);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->content, r->content);
}

TEST_F(LlmBuiltin, StopStringsLengthAndContextLimit) {
  EASEL_REQUIRE_SMOLLM2();
  ChatRequest req = Greedy("What is the capital of France?", 10);
  auto full = backend_->Chat(req, nullptr);
  ASSERT_TRUE(full.ok());
  ASSERT_GE(full->content.size(), 6u);
  // Stop at the second word of the reply: the text before it comes back, finish "stop".
  const size_t space = full->content.find(' ', 1);
  ASSERT_NE(space, std::string::npos) << full->content;
  req.stop = {full->content.substr(space, 3)};
  auto stopped = backend_->Chat(req, nullptr);
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->content, full->content.substr(0, space));
  EXPECT_EQ(stopped->finish_reason, "stop");

  std::string words;
  for (int i = 0; i < 600; ++i) words += "cat dog ";
  ChatRequest long_req = Greedy(words, 4);
  auto over = backend_->Chat(long_req, nullptr);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), Code::kInvalidArgument);
  EXPECT_NE(over.status().message().find("context limit is 1024 tokens"), std::string::npos)
      << over.status().message();
}

TEST_F(LlmBuiltin, JsonSchemaAndRequiredToolCalls) {
  EASEL_REQUIRE_SMOLLM2();
  ChatRequest req = Greedy("Describe a cat as JSON with its name and age.", 40);
  const std::string schema_text = R"({"type":"object","properties":{
      "name":{"type":"string","maxLength":12},"age":{"type":"integer"}},"required":["name","age"]})";
  req.json_schema = schema_text;
  auto r = backend_->Chat(req, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto schema = ParseJsonSchema(std::string_view(schema_text));
  ASSERT_TRUE(schema.ok());
  const auto doc = nlohmann::json::parse(r->content, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << r->content;
  EXPECT_TRUE(ValidateJson(**schema, doc).ok()) << r->content;
  std::printf("[ figures  ] json: %s\n", r->content.c_str());

  ChatRequest tools = Greedy("Make the picture look like an anime.", 40);
  tools.tools = {
      {"get_styles", "Lists the style names", R"({"type":"object","properties":{}})"},
      {"apply_style", "Applies a style by name",
       R"({"type":"object","properties":{"name":{"type":"string","maxLength":20}},"required":["name"]})"}};
  tools.tool_choice = ToolChoice::kRequired;
  auto call = backend_->Chat(tools, nullptr);
  ASSERT_TRUE(call.ok()) << call.status().ToString();
  ASSERT_EQ(call->tool_calls.size(), 1u) << call->content;
  EXPECT_EQ(call->finish_reason, "tool_calls");
  const ToolCall& c = call->tool_calls[0];
  EXPECT_TRUE(c.name == "get_styles" || c.name == "apply_style") << c.name;
  const auto args = nlohmann::json::parse(c.arguments_json, nullptr, false);
  ASSERT_TRUE(args.is_object()) << c.arguments_json;
  std::printf("[ figures  ] tool call: %s %s\n", c.name.c_str(), c.arguments_json.c_str());
}

TEST_F(LlmBuiltin, CancelFromAnotherThreadAndUnloads) {
  EASEL_REQUIRE_SMOLLM2();
  ChatRequest req = Greedy("Write a long story about a dragon.", 200);
  std::atomic<int> deltas{0};
  std::thread canceller;
  auto r = backend_->Chat(req, [&](std::string_view) {
    if (++deltas == 2) canceller = std::thread([&] { backend_->Cancel(); });
    return true;
  });
  if (canceller.joinable()) canceller.join();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->finish_reason, "cancelled");
  EXPECT_LT(r->usage.completion_tokens, 20);

  const ChatRequest small = Greedy("Say hi.", 3);
  auto before = backend_->Chat(small, nullptr);
  ASSERT_TRUE(before.ok());
  EXPECT_GT(backend_->Info().kv_cache_bytes, 0);
  ASSERT_TRUE(backend_->Unload(false).ok());
  EXPECT_EQ(backend_->Info().kv_cache_bytes, 0);
  EXPECT_TRUE(backend_->Info().loaded);
  auto soft = backend_->Chat(small, nullptr);
  ASSERT_TRUE(soft.ok());
  EXPECT_EQ(soft->content, before->content);
  ASSERT_TRUE(backend_->Unload(true).ok());
  EXPECT_FALSE(backend_->Info().loaded);
  EXPECT_EQ(backend_->Info().weights_bytes, 0);
  auto hard = backend_->Chat(small, nullptr);  // loads again
  ASSERT_TRUE(hard.ok()) << hard.status().ToString();
  EXPECT_EQ(hard->content, before->content);
  EXPECT_TRUE(backend_->Info().loaded);
  EXPECT_GT(backend_->Info().weights_bytes, 100'000'000);
}

TEST(LlmBuiltinOpen, BadPathsAndOptions) {
  BuiltinOptions o;
  o.model_path = "/nonexistent/model.gguf";
  auto r = OpenBuiltinBackend(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  o.model_path = testing::SmolLM2Path();
  o.device = "tpu";
  EXPECT_EQ(OpenBuiltinBackend(o).status().code(), Code::kInvalidArgument);
  o.device = "cpu";
  o.dtype = "float8";
  EXPECT_EQ(OpenBuiltinBackend(o).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace easel::llm
