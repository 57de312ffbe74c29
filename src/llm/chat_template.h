// Chat prompts for instruction-tuned models: the common formats rendered by our own code,
// the format chosen by recognising markers in the model's tokenizer.chat_template text.
//
// The Jinja template in a model file is never executed: it is only searched for the marker
// tokens of a known format (and, for ChatML, a default system message written as a plain
// string literal, which is data). Formats:
//   kChatML  (SmolLM2, Qwen2/2.5, many fine-tunes):
//            <|im_start|>{role}\n{content}<|im_end|>\n ... <|im_start|>assistant\n
//   kLlama3  (Llama 3.x): <|begin_of_text|><|start_header_id|>{role}<|end_header_id|>\n\n
//            {content, trimmed}<|eot_id|> ... ; 3.1+ templates get their "Cutting Knowledge
//            Date" system header
//   kMistral (Mistral/Mixtral [INST]): <s>[INST] {system\n\n}{user} [/INST]{assistant}</s>
//
// Pure functions and values: safe from any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace easel::llm {

enum class ChatFormat { kChatML, kLlama3, kMistral };
const char* ChatFormatName(ChatFormat f);

struct ChatMessage {
  std::string role;  // "system", "user", "assistant" (ChatML also "tool")
  std::string content;
};

struct ChatTemplate {
  ChatFormat format = ChatFormat::kChatML;
  // Inserted as the first message when the conversation has no system message (the
  // template's own default, e.g. SmolLM2's "You are a helpful AI assistant named SmolLM,
  // trained by Hugging Face"); empty for none.
  std::string default_system;
  bool llama31_date_header = false;  // kLlama3: "Cutting Knowledge Date ..." system header
  bool mistral_spaces = true;        // kMistral: "[INST] x [/INST]" (false: "[INST]x[/INST]")
};

// Recognises the format of a tokenizer.chat_template text. kUnsupported (naming the markers
// looked for) when none matches; kNotFound for an empty template.
Result<ChatTemplate> DetectChatTemplate(std::string_view jinja);

// The prompt text: special tokens appear as text (encode with parse_special). Roles other
// than system/user/assistant (and tool, for ChatML) are rejected with kInvalidArgument.
Result<std::string> RenderChat(const ChatTemplate& t, const std::vector<ChatMessage>& messages,
                               bool add_generation_prompt);

}  // namespace easel::llm
