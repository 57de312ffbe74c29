// Chat template recognition and rendering. See chat_template.h.
#include "llm/chat_template.h"

namespace easel::llm {

namespace {

bool Has(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}

// Jinja string-literal escapes as the templates use them (\n, \', \", \\).
std::string Unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      const char c = s[++i];
      out.push_back(c == 'n' ? '\n' : c == 't' ? '\t' : c);
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// A ChatML default system message: a string literal "<|im_start|>system\n...<|im_end|>"
// whose text contains no template code, in a template that inserts it when messages[0] is
// not a system message.
std::string ChatMLDefaultSystem(std::string_view t) {
  if (!Has(t, "!= 'system'") && !Has(t, "!= \"system\"")) return "";
  for (std::string_view head : {"<|im_start|>system\n", "<|im_start|>system\\n"}) {
    size_t at = 0;
    while ((at = t.find(head, at)) != std::string_view::npos) {
      const size_t begin = at + head.size();
      const size_t end = t.find("<|im_end|>", begin);
      if (end == std::string_view::npos) break;
      const std::string_view text = t.substr(begin, end - begin);
      at = begin;
      if (text.empty() || Has(text, "{") || Has(text, "}") || Has(text, "'") || Has(text, "\"") ||
          Has(text, "+"))
        continue;
      return Unescape(text);
    }
  }
  return "";
}

std::string Trim(std::string_view s) {
  const char* ws = " \t\n\r";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return "";
  const size_t e = s.find_last_not_of(ws);
  return std::string(s.substr(b, e - b + 1));
}

}  // namespace

const char* ChatFormatName(ChatFormat f) {
  switch (f) {
    case ChatFormat::kChatML: return "chatml";
    case ChatFormat::kLlama3: return "llama3";
    case ChatFormat::kMistral: return "mistral";
  }
  return "?";
}

Result<ChatTemplate> DetectChatTemplate(std::string_view jinja) {
  if (jinja.empty()) return NotFound("the model has no chat template (tokenizer.chat_template)");
  ChatTemplate t;
  if (Has(jinja, "<|im_start|>")) {
    t.format = ChatFormat::kChatML;
    t.default_system = ChatMLDefaultSystem(jinja);
    return t;
  }
  if (Has(jinja, "<|start_header_id|>") && Has(jinja, "<|eot_id|>")) {
    t.format = ChatFormat::kLlama3;
    t.llama31_date_header = Has(jinja, "Cutting Knowledge Date");
    return t;
  }
  if (Has(jinja, "[INST]") && Has(jinja, "[/INST]")) {
    t.format = ChatFormat::kMistral;
    t.mistral_spaces = Has(jinja, "'[INST] '") || Has(jinja, "\"[INST] \"") ||
                       Has(jinja, "' [/INST]'") || Has(jinja, "\" [/INST]\"");
    return t;
  }
  return Unsupported(
      "the model's chat template is not one Easel recognises (it looks for <|im_start|> "
      "(ChatML), <|start_header_id|> (Llama 3) or [INST] (Mistral)); Easel never runs the "
      "template itself");
}

Result<std::string> RenderChat(const ChatTemplate& t, const std::vector<ChatMessage>& messages,
                               bool add_generation_prompt) {
  for (const ChatMessage& m : messages) {
    const bool ok = m.role == "system" || m.role == "user" || m.role == "assistant" ||
                    (m.role == "tool" && t.format == ChatFormat::kChatML);
    if (!ok) {
      return InvalidArgument("chat message role '" + m.role + "' is not one the " +
                             ChatFormatName(t.format) + " format has");
    }
  }
  const bool has_system = !messages.empty() && messages[0].role == "system";
  std::string out;
  switch (t.format) {
    case ChatFormat::kChatML: {
      if (!has_system && !t.default_system.empty() && !messages.empty()) {
        out += "<|im_start|>system\n" + t.default_system + "<|im_end|>\n";
      }
      for (const ChatMessage& m : messages) {
        out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
      }
      if (add_generation_prompt) out += "<|im_start|>assistant\n";
      break;
    }
    case ChatFormat::kLlama3: {
      out += "<|begin_of_text|>";
      auto header = [&](const std::string& role) {
        out += "<|start_header_id|>" + role + "<|end_header_id|>\n\n";
      };
      size_t first = 0;
      if (t.llama31_date_header) {
        header("system");
        out += "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n";
        if (has_system) {
          out += Trim(messages[0].content);
          first = 1;
        }
        out += "<|eot_id|>";
      }
      for (size_t i = first; i < messages.size(); ++i) {
        header(messages[i].role);
        out += Trim(messages[i].content) + "<|eot_id|>";
      }
      if (add_generation_prompt) header("assistant");
      break;
    }
    case ChatFormat::kMistral: {
      out += "<s>";
      std::string system = has_system ? messages[0].content : "";
      const char* open = t.mistral_spaces ? "[INST] " : "[INST]";
      const char* close = t.mistral_spaces ? " [/INST]" : "[/INST]";
      for (size_t i = has_system ? 1 : 0; i < messages.size(); ++i) {
        const ChatMessage& m = messages[i];
        if (m.role == "user") {
          std::string content = m.content;
          if (!system.empty()) {
            content = system + "\n\n" + content;
            system.clear();
          }
          out += open + content + close;
        } else if (m.role == "assistant") {
          out += m.content + "</s>";
        } else {
          return InvalidArgument("the mistral format has a system message only first");
        }
      }
      (void)add_generation_prompt;  // the [/INST] already asks for the answer
      break;
    }
  }
  return out;
}

}  // namespace easel::llm
