// Prompt translation over a ChatBackend. See translate.h.
#include "llm/uses/translate.h"

#include <cctype>
#include <nlohmann/json.hpp>
#include <set>

namespace easel::llm {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

bool LooksEnglish(const std::string& text) {
  // Letters outside ASCII (accents, other scripts): count lead bytes of multi-byte characters.
  size_t ascii_letters = 0, other = 0;
  for (unsigned char c : text) {
    if (std::isalpha(c)) ++ascii_letters;
    if (c >= 0xC0) ++other;
  }
  if (other > 0 && other * 5 > ascii_letters) return false;  // mostly non-Latin script
  static const std::set<std::string> kEnglish = {"the", "a",  "an", "of",  "with", "in", "on",
                                                 "and", "at", "by", "for", "from", "is", "wearing"};
  static const std::set<std::string> kOther = {
      // French
      "le", "la", "les", "des", "un", "une", "de", "avec", "dans", "sur", "et", "du", "au", "aux",
      "est",
      // Spanish / Portuguese
      "el", "los", "las", "con", "y", "una", "en", "del", "um", "uma", "com", "em", "os",
      // German
      "der", "die", "das", "mit", "ein", "eine", "und", "im", "auf", "dem", "den",
      // Italian
      "il", "della", "nel", "sul", "gli", "di"};
  size_t en = 0, foreign = 0;
  std::string word;
  auto flush = [&] {
    if (word.empty()) return;
    const std::string w = Lower(word);
    if (kEnglish.count(w)) ++en;
    if (kOther.count(w)) ++foreign;
    word.clear();
  };
  for (char c : text) {
    if (std::isalpha(static_cast<unsigned char>(c)) || static_cast<unsigned char>(c) >= 0x80) {
      word += c;
    } else {
      flush();
    }
  }
  flush();
  if (foreign > en) return false;
  if (other > 0 && foreign > 0) return false;  // accented letters and a foreign function word
  return true;
}

Result<std::string> TranslateToEnglish(ChatBackend& backend, const std::string& text) {
  if (LooksEnglish(text)) return text;
  ChatRequest req;
  req.messages = {{"system",
                   "Translate the user's image-generation prompt into English. Keep names, "
                   "(word:1.2) weights and <lora:...> tags unchanged. Reply with JSON: "
                   "{\"english\": \"...\"}.",
                   {},
                   "",
                   ""},
                  {"user", text, {}, "", ""}};
  req.json_schema = R"({"type":"object","properties":{
      "english":{"type":"string","minLength":1,"maxLength":800}},"required":["english"]})";
  req.temperature = 0;
  req.max_tokens = 300;
  auto r = backend.Chat(req, nullptr);
  if (!r.ok()) return r.status();
  const auto j = nlohmann::json::parse(r->content, nullptr, false);
  if (j.is_object() && j.contains("english") && j["english"].is_string() &&
      !j["english"].get<std::string>().empty()) {
    return j["english"].get<std::string>();
  }
  return text;
}

}  // namespace easel::llm
