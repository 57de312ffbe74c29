// Prompt enhancement over a ChatBackend. See enhance.h.
#include "llm/uses/enhance.h"

#include <nlohmann/json.hpp>

namespace easel::llm {
namespace {

constexpr size_t kMaxStyleNames = 40;

const char* kSchema = R"({"type":"object","properties":{
  "prompt":{"type":"string","minLength":1,"maxLength":600}},"required":["prompt"]})";

std::string Trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t\r\n") - a + 1);
}

}  // namespace

ChatRequest EnhanceRequest(const std::string& prompt, const StyleHints& styles,
                           const EnhanceOptions& options) {
  std::string system =
      "You improve prompts for an image generator (Stable Diffusion). Rewrite the user's short "
      "prompt into one descriptive prompt: keep the subject, add details of the subject, the "
      "setting, lighting, composition and art style as comma-separated phrases. Keep any "
      "(word:1.2) weights and <lora:...> tags as they are. Reply with JSON: "
      "{\"prompt\": \"...\"}.";
  if (!styles.selected.empty()) {
    system += "\nThe chosen style is \"" + styles.selected + "\"";
    if (!styles.selected_prompt.empty()) system += " (" + styles.selected_prompt + ")";
    system += ": make the description fit it.";
  } else if (!styles.names.empty()) {
    system += "\nStyles the user has: ";
    for (size_t i = 0; i < styles.names.size() && i < kMaxStyleNames; ++i) {
      system += (i ? ", " : "") + styles.names[i];
    }
    system += ".";
  }
  ChatRequest r;
  r.messages = {{"system", system, {}, "", ""},
                {"user", "Prompt: a lighthouse", {}, "", ""},
                {"assistant",
                 "{\"prompt\": \"a tall white lighthouse on a rocky cliff at sunset, crashing "
                 "waves, dramatic clouds, golden light, wide angle\"}",
                 {},
                 "",
                 ""},
                {"user", "Prompt: " + prompt, {}, "", ""}};
  r.json_schema = kSchema;
  r.temperature = options.temperature;
  r.seed = options.seed;
  r.max_tokens = options.max_tokens;
  r.repeat_penalty = 1.1f;
  return r;
}

Result<std::string> EnhancePrompt(ChatBackend& backend, const std::string& prompt,
                                  const StyleHints& styles, const EnhanceOptions& options) {
  const std::string p = Trim(prompt);
  if (p.empty()) return InvalidArgument("enhance: the prompt is empty");
  auto r = backend.Chat(EnhanceRequest(p, styles, options), nullptr);
  if (!r.ok()) return r.status();
  const auto j = nlohmann::json::parse(r->content, nullptr, false);
  std::string out;
  if (j.is_object() && j.contains("prompt") && j["prompt"].is_string()) {
    out = Trim(j["prompt"].get<std::string>());
  } else if (!j.is_discarded() || r->content.empty()) {
    out = "";
  } else {
    out = Trim(r->content);  // a backend that ignored the schema: its text as it is
  }
  return out.empty() ? p : out;
}

}  // namespace easel::llm
