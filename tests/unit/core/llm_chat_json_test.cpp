// ChatRequest / ChatResult <-> OpenAI-shaped JSON (llm/chat_json.h): round trips, the
// OpenAI variants a client may send, and malformed input naming the path at fault.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "llm/chat_json.h"

namespace easel::llm {
namespace {

using nlohmann::json;

TEST(LlmChatJson, RequestRoundTrip) {
  ChatRequest r;
  r.messages = {{"system", "be brief", {}, "", ""},
                {"user", "hi", {}, "", ""},
                {"assistant", "", {{"call_1", "get_styles", R"({"q":"x"})"}}, "", ""},
                {"tool", "[\"anime\"]", {}, "call_1", "get_styles"}};
  r.tools = {
      {"get_styles", "lists styles", R"({"type":"object","properties":{"q":{"type":"string"}}})"}};
  r.tool_choice = ToolChoice::kRequired;
  r.json_schema = R"({"type":"object","properties":{"a":{"type":"integer"}}})";
  r.temperature = 0.25f;
  r.top_k = 7;
  r.top_p = 0.5f;
  r.min_p = 0.125f;
  r.repeat_penalty = 1.5f;
  r.seed = 0xFFFFFFFFFFFFFFFFull;
  r.max_tokens = 33;
  r.stop = {"\n\n", "END"};
  const json j = ToJson(r);
  EXPECT_EQ(j["tools"][0]["type"], "function");
  EXPECT_EQ(j["messages"][2]["tool_calls"][0]["function"]["arguments"], R"({"q":"x"})");
  auto back = ChatRequestFromJson(j);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->messages.size(), 4u);
  EXPECT_EQ(back->messages[2].tool_calls.at(0).name, "get_styles");
  EXPECT_EQ(back->messages[2].tool_calls.at(0).id, "call_1");
  EXPECT_EQ(json::parse(back->messages[2].tool_calls.at(0).arguments_json),
            json::parse(R"({"q":"x"})"));
  EXPECT_EQ(back->messages[3].tool_call_id, "call_1");
  EXPECT_EQ(back->messages[3].name, "get_styles");
  ASSERT_EQ(back->tools.size(), 1u);
  EXPECT_EQ(back->tools[0].description, "lists styles");
  EXPECT_EQ(json::parse(back->tools[0].parameters_schema_json),
            json::parse(r.tools[0].parameters_schema_json));
  EXPECT_EQ(back->tool_choice, ToolChoice::kRequired);
  ASSERT_TRUE(back->json_schema.has_value());
  EXPECT_EQ(json::parse(*back->json_schema), json::parse(*r.json_schema));
  EXPECT_FLOAT_EQ(back->temperature, 0.25f);
  EXPECT_EQ(back->top_k, 7);
  EXPECT_FLOAT_EQ(back->top_p, 0.5f);
  EXPECT_FLOAT_EQ(back->min_p, 0.125f);
  EXPECT_FLOAT_EQ(back->repeat_penalty, 1.5f);
  EXPECT_EQ(back->seed, 0xFFFFFFFFFFFFFFFFull);
  EXPECT_EQ(back->max_tokens, 33);
  EXPECT_EQ(back->stop, r.stop);
}

TEST(LlmChatJson, OpenAiVariants) {
  auto r = ChatRequestFromJsonText(R"({
    "model": "x", "stream": true,
    "messages": [{"role": "developer", "content": [{"type": "text", "text": "a"},
                                                 {"type": "text", "text": "b"}]},
                 {"role": "assistant", "content": null,
                  "tool_calls": [{"id": "c", "type": "function",
                                  "function": {"name": "f", "arguments": {"x": 1}}}]},
                 {"role": "user", "content": "go"}],
    "tools": [{"type": "function", "function": {"name": "f", "parameters":
               {"type": "object", "properties": {"z": {"type": "string"}, "a": {"type": "string"}}}}},
              {"type": "function", "function": {"name": "g"}}],
    "tool_choice": {"type": "function", "function": {"name": "g"}},
    "stop": "END", "max_completion_tokens": 9, "repetition_penalty": 1.1, "seed": -1})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->messages[0].role, "system");
  EXPECT_EQ(r->messages[0].content, "ab");
  EXPECT_EQ(r->messages[1].content, "");
  EXPECT_EQ(r->messages[1].tool_calls.at(0).arguments_json, R"({"x":1})");
  // Naming one function keeps only it and makes the call required.
  ASSERT_EQ(r->tools.size(), 1u);
  EXPECT_EQ(r->tools[0].name, "g");
  EXPECT_EQ(r->tool_choice, ToolChoice::kRequired);
  EXPECT_EQ(r->stop, std::vector<std::string>{"END"});
  EXPECT_EQ(r->max_tokens, 9);
  EXPECT_NEAR(r->repeat_penalty, 1.1f, 1e-6);
  EXPECT_EQ(r->seed, 0xFFFFFFFFFFFFFFFFull);

  // The text form keeps schema property order (generation order); "z" stays first.
  auto kept = ChatRequestFromJsonText(R"({"messages":[{"role":"user","content":"x"}],
      "tools":[{"type":"function","function":{"name":"f","parameters":
      {"type":"object","properties":{"z":{"type":"string"},"a":{"type":"string"}}}}}]})");
  ASSERT_TRUE(kept.ok());
  EXPECT_LT(kept->tools[0].parameters_schema_json.find("\"z\""),
            kept->tools[0].parameters_schema_json.find("\"a\""));
  EXPECT_EQ(kept->tool_choice, ToolChoice::kAuto);
  auto no_tools = ChatRequestFromJsonText(R"({"messages":[{"role":"user","content":"x"}]})");
  ASSERT_TRUE(no_tools.ok());
  EXPECT_EQ(no_tools->tool_choice, ToolChoice::kNone);
  EXPECT_EQ(no_tools->max_tokens, ChatRequest{}.max_tokens);
}

TEST(LlmChatJson, MalformedRequestsNameThePath) {
  struct Case {
    const char* body;
    const char* want;  // a piece of the message
    Code code = Code::kInvalidArgument;
  };
  const Case cases[] = {
      {R"([1,2])", "expected a JSON object"},
      {R"({})", "messages: missing"},
      {R"({"messages": []})", "messages: is empty"},
      {R"({"messages": "hi"})", "messages: missing (expected an array)"},
      {R"({"messages": [3]})", "messages[0]: expected an object"},
      {R"({"messages": [{"content": "x"}]})", "messages[0].role: missing"},
      {R"({"messages": [{"role": "bot", "content": "x"}]})", "messages[0].role: expected"},
      {R"({"messages": [{"role": "user", "content": 5}]})", "messages[0].content"},
      {R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})",
       "messages[0].content[0].type"},
      {R"({"messages": [{"role": "user", "content": "x", "tool_calls": [{}]}]})",
       "only assistant messages"},
      {R"({"messages": [{"role": "assistant", "tool_calls": [{"type": "function"}]}]})",
       "messages[0].tool_calls[0].function: missing"},
      {R"({"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": 3}}]}]})",
       "messages[0].tool_calls[0].function.arguments"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tools": {}})",
       "tools: expected an array"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function", "function": {"name": "f", "parameters": "x"}}]})",
       "tools[0].function.parameters"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"function": {"name": "f"}}, {"function": {"name": "f"}}]})",
       "listed twice"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tool_choice": "maybe"})",
       "tool_choice: expected"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tool_choice": "required"})",
       "needs at least one tool"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tool_choice": {"type": "function", "function": {"name": "nope"}}})",
       "not one of the request's tools"},
      {R"({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"})",
       "$.temperature: expected a number"},
      {R"({"messages": [{"role": "user", "content": "x"}], "top_p": 2})",
       "$.top_p: expected a number from"},
      {R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0})", "$.max_tokens"},
      {R"({"messages": [{"role": "user", "content": "x"}], "seed": 1.5})",
       "seed: expected an integer"},
      {R"({"messages": [{"role": "user", "content": "x"}], "stop": [1]})",
       "stop[0]: expected a string"},
      {R"({"messages": [{"role": "user", "content": "x"}], "stop": [""]})",
       "stop: a stop string is empty"},
      {R"({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_schema"}})",
       "response_format.json_schema: missing"},
      {R"({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "xml"}})",
       "response_format.type"},
      {R"({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}})",
       "json_object", Code::kUnsupported},
      {R"({"messages": [)", "not valid JSON"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    auto r = ChatRequestFromJsonText(c.body);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), c.code);
    EXPECT_NE(r.status().message().find(c.want), std::string::npos) << r.status().message();
    // The nlohmann::json entry point says the same for parseable bodies.
    auto j = json::parse(c.body, nullptr, false);
    if (!j.is_discarded()) {
      auto r2 = ChatRequestFromJson(j);
      ASSERT_FALSE(r2.ok());
      EXPECT_EQ(r2.status().code(), c.code);
    }
  }
}

TEST(LlmChatJson, ResultRoundTripAndMalformed) {
  ChatResult r;
  r.content = "hello";
  r.tool_calls = {{"call_0", "apply_style", R"({"name":"anime"})"}};
  r.finish_reason = "tool_calls";
  r.usage = {12, 5, 0.5, 1.25};
  auto back = ChatResultFromJson(ToJson(r));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->content, "hello");
  ASSERT_EQ(back->tool_calls.size(), 1u);
  EXPECT_EQ(back->tool_calls[0].arguments_json, R"({"name":"anime"})");
  EXPECT_EQ(back->finish_reason, "tool_calls");
  EXPECT_EQ(back->usage.prompt_tokens, 12);
  EXPECT_EQ(back->usage.completion_tokens, 5);
  EXPECT_DOUBLE_EQ(back->usage.decode_seconds, 1.25);

  EXPECT_FALSE(ChatResultFromJson(json::array()).ok());
  EXPECT_FALSE(ChatResultFromJson(json{{"tool_calls", 3}}).ok());
  EXPECT_FALSE(ChatResultFromJson(json{{"usage", {{"prompt_tokens", -1}}}}).ok());
  auto minimal = ChatResultFromJson(json{{"content", "x"}});
  ASSERT_TRUE(minimal.ok());
  EXPECT_EQ(minimal->finish_reason, "stop");

  auto m = MessageFromJson(json{{"role", "tool"}, {"content", "{}"}, {"tool_call_id", "c"}});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->tool_call_id, "c");
  EXPECT_EQ(ToJson(*m)["tool_call_id"], "c");
  EXPECT_FALSE(ToolCallFromJson(json{{"function", {{"name", ""}}}}).ok());
}

}  // namespace
}  // namespace easel::llm
