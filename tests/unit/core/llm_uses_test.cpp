// The LLM uses (llm/uses/*.h) over a scripted ChatBackend: what they send, how they read the
// reply, the keyword fallback of the analysis and the English check of the translation.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "llm/json_schema.h"
#include "llm/uses/analysis.h"
#include "llm/uses/enhance.h"
#include "llm/uses/translate.h"

namespace easel::llm {
namespace {

// Answers every Chat() with `reply` (or `error`), recording the requests.
class ScriptedBackend : public ChatBackend {
 public:
  std::string reply;
  Status error;
  std::vector<ChatRequest> seen;
  Result<ChatResult> Chat(const ChatRequest& r, const DeltaFn&) override {
    seen.push_back(r);
    if (!error.ok()) return error;
    ChatResult out;
    out.content = reply;
    out.finish_reason = "stop";
    return out;
  }
  void Cancel() override {}
  Status Unload(bool) override { return Status::Ok(); }
  BackendInfo Info() const override { return {}; }
};

TEST(LlmUses, EnhanceAsksForJsonAndKnowsTheStyle) {
  ScriptedBackend b;
  b.reply = R"({"prompt": "a red fox in a snowy forest, golden hour"})";
  StyleHints hints;
  hints.names = {"anime", "cinematic"};
  auto r = EnhancePrompt(b, "  a fox ", hints);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "a red fox in a snowy forest, golden hour");
  ASSERT_EQ(b.seen.size(), 1u);
  ASSERT_TRUE(b.seen[0].json_schema.has_value());
  EXPECT_TRUE(ParseJsonSchema(std::string_view(*b.seen[0].json_schema)).ok());
  EXPECT_NE(b.seen[0].messages[0].content.find("anime, cinematic"), std::string::npos);
  EXPECT_EQ(b.seen[0].messages.back().content, "Prompt: a fox");

  hints.selected = "cinematic";
  hints.selected_prompt = "{prompt}, film still, anamorphic";
  b.reply = R"({"prompt": "   "})";  // an empty rewrite keeps the original
  r = EnhancePrompt(b, "a fox", hints);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "a fox");
  EXPECT_NE(b.seen[1].messages[0].content.find("\"cinematic\" ({prompt}, film still"),
            std::string::npos);
  EXPECT_EQ(EnhancePrompt(b, "  ", hints).status().code(), Code::kInvalidArgument);
  b.error = IoError("unreachable");
  EXPECT_EQ(EnhancePrompt(b, "a fox", hints).status().code(), Code::kIo);
}

TEST(LlmUses, AnalysisIsSchemaCheckedWithKeywordFallback) {
  auto schema = ParseJsonSchema(std::string_view(kAnalysisSchema));
  ASSERT_TRUE(schema.ok()) << schema.status().ToString();
  // No backend: the keyword analyser, in the same shape.
  auto kw = AnalysePrompt(nullptr, "anime girl with pink hair, cherry blossoms");
  ASSERT_TRUE(kw.ok());
  EXPECT_EQ(kw->source, "keywords");
  EXPECT_EQ(kw->analysis["style"], "anime");
  EXPECT_TRUE(ValidateJson(**schema, kw->analysis).ok()) << kw->analysis.dump();

  ScriptedBackend b;
  b.reply = R"({"style":"realistic","content_type":"portrait","concepts":["bokeh"],
      "base_family":"sdxl","lora_tags":["portrait"],"steps":500,"cfg":0.2})";
  auto r = AnalysePrompt(b, "a portrait photo");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->source, "llm");
  EXPECT_EQ(r->analysis["steps"], 60);  // clamped
  EXPECT_DOUBLE_EQ(r->analysis["cfg"].get<double>(), 1.0);
  EXPECT_EQ(b.seen[0].temperature, 0.0f);

  b.reply = R"({"style":"watercolor"})";  // outside the schema: keywords answer
  r = AnalysePrompt(b, "a portrait photo");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->source, "keywords");
  EXPECT_NE(r->fallback.find("schema"), std::string::npos) << r->fallback;
  b.error = IoError("down");
  r = AnalysePrompt(b, "a portrait photo");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->source, "keywords");
  EXPECT_EQ(AnalysePrompt(nullptr, " ").status().code(), Code::kInvalidArgument);
}

TEST(LlmUses, TranslationLeavesEnglishAlone) {
  for (const char* en : {"a cat on a sofa", "1girl, masterpiece, best quality, (pink hair:1.2)",
                         "portrait of a woman with a red hat", "café at night, neon"}) {
    EXPECT_TRUE(LooksEnglish(en)) << en;
  }
  for (const char* other :
       {"un chat noir sur le canapé", "una casa en la playa con palmeras",
        "ein Hund mit einem Ball im Park", "猫がソファの上に座っている", "кошка на диване"}) {
    EXPECT_FALSE(LooksEnglish(other)) << other;
  }
  ScriptedBackend b;
  b.reply = R"({"english": "a black cat on the sofa"})";
  auto same = TranslateToEnglish(b, "a cat on a sofa");
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(*same, "a cat on a sofa");
  EXPECT_TRUE(b.seen.empty());  // English never reaches the model
  auto fr = TranslateToEnglish(b, "un chat noir sur le canapé");
  ASSERT_TRUE(fr.ok());
  EXPECT_EQ(*fr, "a black cat on the sofa");
  ASSERT_EQ(b.seen.size(), 1u);
  EXPECT_TRUE(b.seen[0].json_schema.has_value());
}

}  // namespace
}  // namespace easel::llm
