#include "io/infotext.h"

#include <gtest/gtest.h>

namespace easel::io {
namespace {

TEST(Infotext, FormatsLikeA1111) {
  Infotext info;
  info.prompt = "a castle, (sunset:1.2)";
  info.negative_prompt = "blurry";
  info.params = {{"Steps", "20"}, {"Sampler", "Euler a"}, {"CFG scale", "7"},
                 {"Seed", "42"},  {"Size", "512x768"},    {"Model", "dream: v2"}};
  EXPECT_EQ(FormatInfotext(info),
            "a castle, (sunset:1.2)\nNegative prompt: blurry\n"
            "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x768, "
            "Model: \"dream: v2\"");
}

TEST(Infotext, RoundTrips) {
  Infotext info;
  info.prompt = "line one\nline two, with comma";
  info.negative_prompt = "bad\nworse";
  info.params = {
      {"Steps", "4"}, {"Sampler", "DPM++ 2M"}, {"Note", "a, \"quoted\"\nvalue"}, {"Seed", "1"}};
  Infotext back = ParseInfotext(FormatInfotext(info));
  EXPECT_EQ(back.prompt, info.prompt);
  EXPECT_EQ(back.negative_prompt, info.negative_prompt);
  EXPECT_EQ(back.params, info.params);
}

TEST(Infotext, ReadsA1111Text) {
  const std::string text =
      "masterpiece, 1girl\nNegative prompt: lowres, bad anatomy\n"
      "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 3829, "
      "Size: 832x1216, Model hash: 6ce0161689, Model: model_v1, Lora hashes: \"x: 1a2b, y: 3c4d\", "
      "Version: v1.10.1";
  Infotext info = ParseInfotext(text);
  EXPECT_EQ(info.prompt, "masterpiece, 1girl");
  EXPECT_EQ(info.negative_prompt, "lowres, bad anatomy");
  ASSERT_NE(info.Find("Lora hashes"), nullptr);
  EXPECT_EQ(*info.Find("Lora hashes"), "x: 1a2b, y: 3c4d");
  EXPECT_EQ(*info.Find("Schedule type"), "Karras");
  EXPECT_EQ(info.Find("Missing"), nullptr);
}

TEST(Infotext, TextWithoutSettingsIsAllPrompt) {
  Infotext info = ParseInfotext("just a prompt: with colon");
  EXPECT_EQ(info.prompt, "just a prompt: with colon");
  EXPECT_TRUE(info.params.empty());
  EXPECT_TRUE(ParseInfotext("").prompt.empty());
  // An unterminated quote is not a settings line: nothing is lost.
  info = ParseInfotext("p\nSteps: 1, Sampler: \"Euler, CFG scale: 7");
  EXPECT_EQ(info.prompt, "p\nSteps: 1, Sampler: \"Euler, CFG scale: 7");
}

}  // namespace
}  // namespace easel::io
