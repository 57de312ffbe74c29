// Prompt analysis over a ChatBackend, with the keyword analyser as the fallback. See analysis.h.
#include "llm/uses/analysis.h"

#include <algorithm>

#include "library/prompt_analysis.h"
#include "llm/json_schema.h"

namespace easel::llm {

const char* const kAnalysisSchema = R"({"type":"object","properties":{
  "style":{"enum":["anime","realistic","artistic","3d","none"]},
  "content_type":{"enum":["character","portrait","landscape","scene","animal","object","other"]},
  "concepts":{"type":"array","items":{"type":"string","minLength":1,"maxLength":32},"maxItems":6},
  "base_family":{"enum":["sd15","sdxl","pony","flux","any"]},
  "lora_tags":{"type":"array","items":{"type":"string","minLength":1,"maxLength":32},"maxItems":4},
  "steps":{"type":"integer"},
  "cfg":{"type":"number"}},
  "required":["style","content_type","concepts","base_family","lora_tags","steps","cfg"]})";

namespace {

template <class T>
T Clamp(T v, T lo, T hi) {
  return std::max(lo, std::min(hi, v));
}

}  // namespace

PromptAnalysisResult KeywordPromptAnalysis(const std::string& prompt) {
  const library::PromptAnalysis a = library::AnalyzePrompt(prompt);
  nlohmann::json concepts = nlohmann::json::array();
  for (const auto* list : {&a.concepts, &a.phrases, &a.words}) {
    for (const std::string& c : *list) {
      if (concepts.size() >= 6) break;
      if (std::find(concepts.begin(), concepts.end(), c) == concepts.end()) concepts.push_back(c);
    }
  }
  nlohmann::json tags = nlohmann::json::array();
  for (const std::string& w : a.words) {
    if (tags.size() >= 4) break;
    tags.push_back(w);
  }
  PromptAnalysisResult r;
  r.analysis = {{"style", a.style.empty() ? "none" : a.style},
                {"content_type", a.content.empty() ? "other" : a.content},
                {"concepts", concepts},
                {"base_family", a.style == "anime" ? "pony" : "any"},
                {"lora_tags", tags},
                {"steps", 25},
                {"cfg", a.style == "anime" ? 6.0 : 7.0}};
  r.source = "keywords";
  return r;
}

Result<PromptAnalysisResult> AnalysePrompt(ChatBackend* backend, const std::string& prompt,
                                           uint64_t seed) {
  if (prompt.find_first_not_of(" \t\r\n") == std::string::npos) {
    return InvalidArgument("analyse: the prompt is empty");
  }
  if (backend == nullptr) return KeywordPromptAnalysis(prompt);
  ChatRequest req;
  req.messages = {
      {"system",
       "You classify prompts for an image generator. Answer with JSON: style (anime, "
       "realistic, artistic, 3d or none), content_type, up to 6 concepts (short visual "
       "terms), base_family (sdxl for detailed photos and art, pony for anime, sd15 for "
       "simple prompts, any if unsure), up to 4 lora_tags (single words a LoRA might be "
       "tagged with), steps (20 to 40) and cfg (4 to 9).",
       {},
       "",
       ""},
      {"user", "Prompt: " + prompt, {}, "", ""}};
  req.json_schema = kAnalysisSchema;
  req.temperature = 0;
  req.seed = seed;
  req.max_tokens = 256;
  auto fallback = [&](const std::string& why) {
    PromptAnalysisResult r = KeywordPromptAnalysis(prompt);
    r.fallback = why;
    return r;
  };
  auto reply = backend->Chat(req, nullptr);
  if (!reply.ok()) return fallback("the language model failed: " + reply.status().ToString());
  auto j = nlohmann::json::parse(reply->content, nullptr, false);
  auto schema = ParseJsonSchema(std::string_view(kAnalysisSchema));
  if (!schema.ok()) return schema.status();
  if (j.is_discarded()) return fallback("the language model's reply is not JSON");
  if (Status st = ValidateJson(**schema, j); !st.ok()) {
    return fallback("the language model's reply does not fit the schema: " + st.message());
  }
  j["steps"] = Clamp<int64_t>(j["steps"].get<int64_t>(), 10, 60);
  j["cfg"] = Clamp<double>(j["cfg"].get<double>(), 1.0, 15.0);
  PromptAnalysisResult r;
  r.analysis = j;
  r.source = "llm";
  return r;
}

}  // namespace easel::llm
