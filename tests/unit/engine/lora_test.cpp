// LoRA reading and matching: corrupt and wrong files, another family's LoRA, unmatched keys,
// strength 0, and the LDM -> diffusers name inverse used to resolve kohya names.
#include "engine/adapt/lora.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/adapt/lora_names.h"
#include "engine/nets/ldm_convert.h"
#include "engine/nets/unet.h"
#include "io/safetensors.h"
#include "test_paths.h"

namespace easel::engine {
namespace {

std::string Fixture(const std::string& rel) {
  return EASEL_FIXTURES_DIR "/" + rel;
}

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "/easel_lora_" + name;
}

// Writes float32 tensors as a safetensors file.
std::string WriteTensors(const std::string& name, const StateDict& tensors) {
  std::vector<io::TensorBytes> out;
  std::vector<torch::Tensor> keep;
  for (const auto& [key, t] : tensors) {
    keep.push_back(t.to(torch::kFloat32).contiguous());
    const torch::Tensor& c = keep.back();
    out.push_back({key, io::DType::kF32, c.sizes().vec(),
                   std::string_view(static_cast<const char*>(c.data_ptr()), c.nbytes())});
  }
  const std::string path = TempPath(name);
  EXPECT_TRUE(io::WriteSafetensors(path, out).ok());
  return path;
}

StateDict Sd1Unet() {
  auto file = io::SafetensorsFile::Open(Fixture("sd1.safetensors")).ValueOrThrow();
  return LoadSafetensors(file, "model.diffusion_model.");
}

StateDict Sd1TextEncoder() {
  auto file =
      io::SafetensorsFile::Open(Fixture("sd1/text_encoder/model.safetensors")).ValueOrThrow();
  return LoadSafetensors(file, "text_model.");
}

TEST(Lora, CorruptFileGivesAClearError) {
  const std::string garbage = TempPath("garbage.safetensors");
  {
    std::ofstream out(garbage, std::ios::binary);
    out << "this is not a safetensors file at all";
  }
  auto r = LoadLora(garbage);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorrupt);
  EXPECT_NE(r.status().message().find("cannot read LoRA file"), std::string::npos)
      << r.status().message();

  // A truncated copy of a real LoRA.
  std::ifstream in(Fixture("lora/kohya.safetensors"), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  const std::string cut = TempPath("cut.safetensors");
  {
    std::ofstream out(cut, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  }
  r = LoadLora(cut);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorrupt) << r.status().ToString();
  EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << r.status().message();

  EXPECT_EQ(LoadLora(TempPath("missing.safetensors")).status().code(), Code::kNotFound);
}

TEST(Lora, FactorsThatDoNotMultiplyAreCorrupt) {
  const std::string path = WriteTensors(
      "badrank.safetensors", {{"lora_unet_time_embed_0.lora_down.weight", torch::ones({4, 32})},
                              {"lora_unet_time_embed_0.lora_up.weight", torch::ones({128, 3})}});
  auto r = LoadLora(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorrupt);
  EXPECT_NE(r.status().message().find("lora_unet_time_embed_0"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("[128, 3]"), std::string::npos) << r.status().message();

  const std::string half = WriteTensors(
      "half.safetensors", {{"lora_unet_time_embed_0.lora_down.weight", torch::ones({4, 32})}});
  r = LoadLora(half);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'up' is missing"), std::string::npos)
      << r.status().message();
}

// A DoRA applied as a plain LoRA would be silently wrong: refused.
TEST(Lora, DoraIsRefused) {
  const std::string path = WriteTensors(
      "dora.safetensors", {{"lora_unet_time_embed_0.lora_down.weight", torch::ones({4, 32})},
                           {"lora_unet_time_embed_0.lora_up.weight", torch::ones({128, 4})},
                           {"lora_unet_time_embed_0.dora_scale", torch::ones({128, 1})}});
  auto r = LoadLora(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnsupported);
  EXPECT_NE(r.status().message().find("DoRA"), std::string::npos) << r.status().message();
}

TEST(Lora, ACheckpointIsNotALora) {
  const std::string path =
      WriteTensors("ckpt.safetensors", {{"model.diffusion_model.out.2.weight", torch::ones({4})}});
  auto r = LoadLora(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("checkpoint"), std::string::npos) << r.status().message();
}

TEST(Lora, DetectsEachFormat) {
  for (const auto& [file, format] : {std::pair{"kohya", "kohya LoRA"},
                                     {"diffusers", "diffusers/peft LoRA"},
                                     {"loha", "LyCORIS LoHa"},
                                     {"lokr", "LyCORIS LoKr"}}) {
    const LoraFile lora =
        LoadLora(Fixture(std::string("lora/") + file + ".safetensors")).ValueOrThrow();
    EXPECT_EQ(lora.format, format);
    EXPECT_EQ(lora.entries.size(), 12u) << file;
    EXPECT_TRUE(lora.unknown_keys.empty()) << file;
  }
}

// An SDXL LoRA (cross-attention from 2048 features, 1280 channels) on an SD1-shaped model
// (768, 320): refused, naming both.
TEST(Lora, AnotherFamilysLoraIsRefusedNamingBoth) {
  const std::string block = "input_blocks.1.1.transformer_blocks.0.";
  const StateDict sd1 = {{block + "attn2.to_k.weight", torch::zeros({320, 768})},
                         {block + "attn2.to_v.weight", torch::zeros({320, 768})},
                         {block + "attn1.to_q.weight", torch::zeros({320, 320})}};
  const std::string k = "lora_unet_input_blocks_1_1_transformer_blocks_0_";
  const std::string path =
      WriteTensors("sdxl.safetensors", {{k + "attn2_to_k.lora_down.weight", torch::ones({4, 2048})},
                                        {k + "attn2_to_k.lora_up.weight", torch::ones({1280, 4})},
                                        {k + "attn2_to_v.lora_down.weight", torch::ones({4, 2048})},
                                        {k + "attn2_to_v.lora_up.weight", torch::ones({1280, 4})},
                                        {k + "attn1_to_q.lora_down.weight", torch::ones({4, 1280})},
                                        {k + "attn1_to_q.lora_up.weight", torch::ones({1280, 4})}});
  const LoraFile lora = LoadLora(path).ValueOrThrow();
  auto r = MatchLora(lora, sd1, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  const std::string& msg = r.status().message();
  EXPECT_NE(msg.find("made for SDXL"), std::string::npos) << msg;
  EXPECT_NE(msg.find("the model is SD1"), std::string::npos) << msg;
}

// SD2 and SD1 share channel widths; only the context dim (1024 vs 768) tells them apart.
// One cross-attention key projection of another width is enough to refuse.
TEST(Lora, AnSd2LoraOnAnSd1ModelIsRefused) {
  const std::string block = "input_blocks.1.1.transformer_blocks.0.";
  StateDict sd1 = {{block + "attn2.to_k.weight", torch::zeros({320, 768})}};
  const std::string k = "lora_unet_input_blocks_1_1_transformer_blocks_0_";
  StateDict lora_tensors = {{k + "attn2_to_k.lora_down.weight", torch::ones({4, 1024})},
                            {k + "attn2_to_k.lora_up.weight", torch::ones({320, 4})}};
  for (const char* name : {"attn1.to_q", "attn1.to_k", "attn1.to_v", "attn2.to_q"}) {
    std::string under = name;
    under[under.find('.')] = '_';
    sd1[block + name + ".weight"] = torch::zeros({320, 320});
    lora_tensors[k + under + ".lora_down.weight"] = torch::ones({4, 320});
    lora_tensors[k + under + ".lora_up.weight"] = torch::ones({320, 4});
  }
  const LoraFile lora = LoadLora(WriteTensors("sd2.safetensors", lora_tensors)).ValueOrThrow();
  auto r = MatchLora(lora, sd1, {});
  ASSERT_FALSE(r.ok());
  const std::string& msg = r.status().message();
  EXPECT_NE(msg.find("made for SD2 but the model is SD1"), std::string::npos) << msg;
}

TEST(Lora, UnmatchedKeysAreReported) {
  const LoraFile good = LoadLora(Fixture("lora/kohya.safetensors")).ValueOrThrow();
  LoraFile lora = good;
  LoraEntry extra = good.entries.front();
  extra.source = "input_blocks_99_1_proj_in";
  extra.file_prefix = "lora_unet_input_blocks_99_1_proj_in";
  lora.entries.push_back(extra);
  const LoraMatch match = MatchLora(lora, Sd1Unet(), Sd1TextEncoder()).ValueOrThrow();
  EXPECT_EQ(match.applied.size(), 12u);
  ASSERT_EQ(match.unmatched_keys.size(), 1u);
  EXPECT_EQ(match.unmatched_keys[0], "lora_unet_input_blocks_99_1_proj_in");

  // Keys of the file that are no part of any entry are reported too.
  LoraFile with_unknown = good;
  with_unknown.unknown_keys.push_back("lora_unet_time_embed_0.diff_b");
  const LoraMatch m2 = MatchLora(with_unknown, Sd1Unet(), Sd1TextEncoder()).ValueOrThrow();
  ASSERT_EQ(m2.unmatched_keys.size(), 1u);
  EXPECT_NE(m2.unmatched_keys[0].find("lora_unet_time_embed_0.diff_b"), std::string::npos);

  // Without a text encoder its entries are reported, not dropped.
  const LoraMatch no_te = MatchLora(good, Sd1Unet(), {}).ValueOrThrow();
  EXPECT_EQ(no_te.applied.size(), 9u);
  ASSERT_EQ(no_te.unmatched_keys.size(), 3u);
  EXPECT_NE(no_te.unmatched_keys[0].find("has no text encoder"), std::string::npos);

  // Nothing at all matching is an error listing the keys.
  auto none = MatchLora(good, {{"foo.weight", torch::zeros({2, 2})}}, {});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("lora_unet_"), std::string::npos);
}

TEST(Lora, StrengthZeroChangesNothing) {
  UNet unet(UNetConfig::FromWeights(Sd1Unet(), HeadRule::Heads(8)));
  ASSERT_TRUE(LoadIntoModule(*unet, Sd1Unet(), "sd1").ok());
  StateDict before;
  for (const auto& [k, v] : NamedParameters(*unet)) before[k] = v.detach().clone();
  const LoraFile lora = LoadLora(Fixture("lora/lokr.safetensors")).ValueOrThrow();
  const LoraMatch match = MatchLora(lora, NamedParameters(*unet), {}).ValueOrThrow();
  LoraPatcher patcher;
  ASSERT_TRUE(patcher.Apply({{&match, 0.0, 0.0}}, unet.ptr().get(), nullptr).ok());
  EXPECT_EQ(patcher.patched_count(), 0u);
  for (const auto& [k, v] : NamedParameters(*unet)) EXPECT_TRUE(torch::equal(v, before.at(k))) << k;
}

// UnetLdmToDiffusersModule inverts ldm_convert's UnetDiffusersToLdm on every weight of the
// fixture UNets (conv and linear projections, with and without attention per level).
TEST(Lora, LdmToDiffusersNamesInvertTheConverter) {
  for (const std::string model : {"sd1", "sd2v"}) {
    auto file =
        io::SafetensorsFile::Open(Fixture(model + "/unet/diffusion_pytorch_model.safetensors"))
            .ValueOrThrow();
    const StateDict diffusers = LoadSafetensors(file);
    std::ifstream cfg(Fixture(model + "/unet/config.json"));
    const StateDict ldm = UnetDiffusersToLdm(diffusers, nlohmann::json::parse(cfg));
    const std::vector<int64_t> res = UnetResBlocksFromKeys(ldm);
    ASSERT_FALSE(res.empty());
    // Every LDM key comes from one diffusers key; re-derive it.
    std::set<std::string> want, got;
    for (const auto& [k, v] : diffusers) want.insert(k);
    for (const auto& [k, v] : ldm) {
      const auto dot = k.rfind('.');
      const auto name = UnetLdmToDiffusersModule(k.substr(0, dot), res);
      ASSERT_TRUE(name) << model << ": " << k;
      got.insert(*name + k.substr(dot));
    }
    EXPECT_EQ(got, want) << model;
  }
}

}  // namespace
}  // namespace easel::engine
