// SDXL LoRAs on the tiny fixtures: another family's LoRA is refused naming both families
// (an SD1 LoRA on SDXL and an SDXL LoRA on SD1, although CLIP-L and some UNet shapes are
// shared), and a corrupt SDXL LoRA file gives a clear error.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <iterator>
#include <string>

#include "engine/adapt/lora.h"
#include "engine/model_files.h"
#include "test_paths.h"

namespace easel::engine {
namespace {

std::string Fixture(const std::string& rel) {
  return EASEL_FIXTURES_DIR "/" + rel;
}

Status Match(const std::string& lora, const std::string& model) {
  ModelFiles f = LoadModelFiles(Fixture(model), "").ValueOrThrow();
  LoraFile file = LoadLora(Fixture(lora)).ValueOrThrow();
  return MatchLora(file, f.unet, f.text_encoder, f.text_encoder2).status();
}

TEST(LoraSdxl, AnSd1LoraOnSdxlIsRefusedNamingBoth) {
  for (const char* lora : {"lora/kohya.safetensors", "lora/diffusers.safetensors"}) {
    Status st = Match(lora, "sdxl");
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << lora;
    EXPECT_NE(st.message().find("made for SD1"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("the model is SDXL"), std::string::npos) << st.message();
  }
}

TEST(LoraSdxl, AnSdxlLoraOnSd1IsRefusedNamingBoth) {
  for (const char* lora : {"sdxl_lora/kohya.safetensors", "sdxl_lora/peft.safetensors"}) {
    Status st = Match(lora, "sd1");
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << lora;
    EXPECT_NE(st.message().find("made for SDXL"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("the model is SD1"), std::string::npos) << st.message();
  }
}

TEST(LoraSdxl, MatchesEveryEntryOfItsOwnFamily) {
  for (const char* model : {"sdxl", "sdxl.safetensors"}) {
    ModelFileOptions o;
    o.text_heads = 2;
    o.unet_head_dim = 16;
    ModelFiles f = LoadModelFiles(Fixture(model), "", o).ValueOrThrow();
    for (const char* lora : {"sdxl_lora/kohya.safetensors", "sdxl_lora/peft.safetensors"}) {
      LoraFile file = LoadLora(Fixture(lora)).ValueOrThrow();
      LoraMatch m = MatchLora(file, f.unet, f.text_encoder, f.text_encoder2).ValueOrThrow();
      EXPECT_EQ(m.applied.size(), 12u) << lora << " on " << model;
      EXPECT_TRUE(m.unmatched_keys.empty()) << lora << ": " << m.unmatched_keys.front();
      EXPECT_EQ(m.family_guess, "SDXL");
    }
  }
}

TEST(LoraSdxl, CorruptFileGivesAClearError) {
  std::ifstream in(Fixture("sdxl_lora/kohya.safetensors"), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  const std::string path = ::testing::TempDir() + "/easel_sdxl_lora_truncated.safetensors";
  {
    std::ofstream out(path, std::ios::binary);
    out << bytes.substr(0, bytes.size() / 2);
  }
  auto r = LoadLora(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorrupt) << r.status().ToString();
  EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace easel::engine
