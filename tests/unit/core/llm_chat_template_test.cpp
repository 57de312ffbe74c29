// Chat templates: the format recognised from template text, and our rendering equal to
// transformers' apply_chat_template (Jinja) for SmolLM2's own template and for Llama 3 and
// Mistral templates (tests/fixtures/llm/smollm2_chat.json, tools/make_llm_goldens.py).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "llm/chat_template.h"
#include "llm_test_support.h"
#include "test_paths.h"

namespace easel::llm {
namespace {

using nlohmann::json;

TEST(LlmChatTemplate, RendersLikeTransformers) {
  const json golden =
      json::parse(testing::ReadText(std::string(EASEL_FIXTURES_DIR) + "/llm/smollm2_chat.json"));
  const std::pair<const char*, ChatFormat> kinds[] = {{"smollm2", ChatFormat::kChatML},
                                                      {"llama3", ChatFormat::kLlama3},
                                                      {"mistral", ChatFormat::kMistral}};
  int checked = 0;
  for (auto [name, format] : kinds) {
    SCOPED_TRACE(name);
    auto t = DetectChatTemplate(golden["templates"][name].get<std::string>());
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    EXPECT_EQ(t->format, format);
    for (const json& c : golden["cases"]) {
      std::vector<ChatMessage> messages;
      for (const json& m : c["messages"]) messages.push_back({m["role"], m["content"]});
      auto text = RenderChat(*t, messages, c["add_generation_prompt"].get<bool>());
      ASSERT_TRUE(text.ok()) << text.status().ToString();
      EXPECT_EQ(*text, c["text"][name].get<std::string>());
      ++checked;
    }
  }
  EXPECT_EQ(checked, 12);
}

TEST(LlmChatTemplate, SmolLM2DefaultSystemMessageIsReadAsData) {
  const json golden =
      json::parse(testing::ReadText(std::string(EASEL_FIXTURES_DIR) + "/llm/smollm2_chat.json"));
  auto t = DetectChatTemplate(golden["templates"]["smollm2"].get<std::string>());
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->default_system,
            "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
}

TEST(LlmChatTemplate, EscapedDefaultSystemAndOtherMarkers) {
  // A Qwen2.5-style template: the default system message is a literal with \n escapes.
  auto qwen = DetectChatTemplate(
      "{%- if messages[0]['role'] != 'system' %}{{- '<|im_start|>system\\nYou are Qwen, a "
      "helpful assistant.<|im_end|>\\n' }}{%- endif %}{{ '<|im_start|>' + m.role }}");
  ASSERT_TRUE(qwen.ok());
  EXPECT_EQ(qwen->default_system, "You are Qwen, a helpful assistant.");
  // ChatML without a default: nothing is inserted.
  auto plain = DetectChatTemplate("{{ '<|im_start|>' + message['role'] + '\\n' }}");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->default_system, "");
  auto r = RenderChat(*plain, {{"user", "x"}}, true);
  EXPECT_EQ(*r, "<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n");
  // Llama 3.1's knowledge-date header.
  auto l31 = DetectChatTemplate("Cutting Knowledge Date: ... <|start_header_id|> <|eot_id|>");
  ASSERT_TRUE(l31.ok());
  EXPECT_TRUE(l31->llama31_date_header);
  auto text = RenderChat(*l31, {{"system", "Be brief."}, {"user", "hi"}}, true);
  EXPECT_EQ(*text,
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge "
            "Date: December 2023\nToday Date: 26 Jul 2024\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  // Mistral v3 (tekken) without spaces.
  auto tight = DetectChatTemplate("{{ '[INST]' + m['content'] + '[/INST]' }}");
  ASSERT_TRUE(tight.ok());
  EXPECT_FALSE(tight->mistral_spaces);
  EXPECT_EQ(*RenderChat(*tight, {{"user", "a"}, {"assistant", "b"}, {"user", "c"}}, true),
            "<s>[INST]a[/INST]b</s>[INST]c[/INST]");
}

TEST(LlmChatTemplate, UnknownTemplatesAndRolesAreRefused) {
  EXPECT_EQ(DetectChatTemplate("").status().code(), Code::kNotFound);
  auto unknown = DetectChatTemplate("{% for m in messages %}<start_of_turn>{% endfor %}");
  EXPECT_EQ(unknown.status().code(), Code::kUnsupported);
  EXPECT_NE(unknown.status().message().find("never runs"), std::string::npos);
  ChatTemplate t;
  EXPECT_EQ(RenderChat(t, {{"wizard", "x"}}, true).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace easel::llm
