// diffusers -> LDM renaming on hand-checked keys (the golden tests convert whole folders).
#include "engine/nets/ldm_convert.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

namespace easel::engine {
namespace {

using json = nlohmann::json;

// The fixture sd1 UNet: two levels, attention only at level 0, two ResBlocks per level.
json TinyUnetConfig() {
  return json::parse(R"({
    "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "layers_per_block": 2, "block_out_channels": [32, 64], "attention_head_dim": 8})");
}

StateDict Keys(std::initializer_list<const char*> names) {
  StateDict d;
  for (const char* n : names) d[n] = torch::zeros({1});
  return d;
}

std::vector<std::string> Names(const StateDict& d) {
  std::vector<std::string> out;
  for (const auto& [k, v] : d) out.push_back(k);
  return out;
}

TEST(UnetDiffusersToLdm, MapsEveryKind) {
  const StateDict in =
      Keys({"conv_in.weight",                                // input_blocks.0.0
            "time_embedding.linear_2.bias",                  // time_embed.2
            "down_blocks.0.resnets.1.time_emb_proj.weight",  // input_blocks.2.0.emb_layers.1
            "down_blocks.0.attentions.1.proj_in.weight",     // input_blocks.2.1
            "down_blocks.0.downsamplers.0.conv.weight",      // input_blocks.3.0.op
            "down_blocks.1.resnets.0.conv_shortcut.bias",    // input_blocks.4.0.skip_connection
            "mid_block.resnets.1.norm2.weight",              // middle_block.2.out_layers.0
            "mid_block.attentions.0.transformer_blocks.0.ff.net.2.weight",
            "up_blocks.0.resnets.2.conv2.weight",  // output_blocks.2.0.out_layers.3
            "up_blocks.0.upsamplers.0.conv.bias",  // output_blocks.2.1.conv (no attn)
            "up_blocks.1.attentions.2.transformer_blocks.0.attn2.to_out.0.bias",
            "conv_norm_out.weight", "conv_out.bias"});
  const StateDict out = UnetDiffusersToLdm(in, TinyUnetConfig());
  EXPECT_EQ(Names(out), std::vector<std::string>({
                            "input_blocks.0.0.weight",
                            "input_blocks.2.0.emb_layers.1.weight",
                            "input_blocks.2.1.proj_in.weight",
                            "input_blocks.3.0.op.weight",
                            "input_blocks.4.0.skip_connection.bias",
                            "middle_block.1.transformer_blocks.0.ff.net.2.weight",
                            "middle_block.2.out_layers.0.weight",
                            "out.0.weight",
                            "out.2.bias",
                            "output_blocks.2.0.out_layers.3.weight",
                            "output_blocks.2.1.conv.bias",
                            "output_blocks.5.1.transformer_blocks.0.attn2.to_out.0.bias",
                            "time_embed.2.bias",
                        }));
}

TEST(UnetDiffusersToLdm, UnknownKeysAreListed) {
  const StateDict in = Keys({"conv_in.weight", "down_blocks.2.resnets.0.conv1.weight",
                             "up_blocks.0.attentions.0.norm.weight", "mystery.weight"});
  try {
    (void)UnetDiffusersToLdm(in, TinyUnetConfig());
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string& m = e.status().message();
    EXPECT_EQ(e.status().code(), Code::kCorrupt);
    EXPECT_NE(m.find("down_blocks.2.resnets.0.conv1.weight"), std::string::npos) << m;
    // up block 0 is an UpBlock2D: it has no attentions.
    EXPECT_NE(m.find("up_blocks.0.attentions.0.norm.weight"), std::string::npos) << m;
    EXPECT_NE(m.find("mystery.weight"), std::string::npos) << m;
    EXPECT_EQ(m.find("conv_in"), std::string::npos) << m;
  }
  EXPECT_THROW((void)UnetDiffusersToLdm(in, json::object()), Error);
}

TEST(UnetHeadRuleFromDiffusers, AttentionHeadDimIsTheHeadCount) {
  EXPECT_EQ(UnetHeadRuleFromDiffusers(TinyUnetConfig()).HeadsFor(64, 1), 8);
  json sd2 = json::parse(R"({"attention_head_dim": [5, 10, 20, 20]})");
  EXPECT_EQ(UnetHeadRuleFromDiffusers(sd2).HeadsFor(640, 1), 10);
  json both = json::parse(R"({"attention_head_dim": 64, "num_attention_heads": 4})");
  EXPECT_EQ(UnetHeadRuleFromDiffusers(both).HeadsFor(64, 0), 4);
  EXPECT_THROW(UnetHeadRuleFromDiffusers(json::object()), Error);
}

TEST(VaeDiffusersToLdm, ReversesUpBlocksAndReshapesAttention) {
  const json config = json::parse(R"({"block_out_channels": [32, 32, 64, 64],
                                      "layers_per_block": 1})");
  StateDict in = Keys(
      {"encoder.down_blocks.2.resnets.0.conv_shortcut.weight",
       "encoder.down_blocks.0.downsamplers.0.conv.bias", "encoder.conv_norm_out.bias",
       "decoder.up_blocks.0.upsamplers.0.conv.weight", "decoder.up_blocks.3.resnets.1.norm1.weight",
       "decoder.mid_block.resnets.1.conv2.bias", "encoder.mid_block.attentions.0.group_norm.weight",
       "decoder.mid_block.attentions.0.to_out.0.bias", "quant_conv.weight"});
  in["encoder.mid_block.attentions.0.to_q.weight"] = torch::ones({64, 64});
  const StateDict out = VaeDiffusersToLdm(in, config);
  EXPECT_EQ(Names(out), std::vector<std::string>({
                            "decoder.mid.attn_1.proj_out.bias",
                            "decoder.mid.block_2.conv2.bias",
                            "decoder.up.0.block.1.norm1.weight",
                            "decoder.up.3.upsample.conv.weight",
                            "encoder.down.0.downsample.conv.bias",
                            "encoder.down.2.block.0.nin_shortcut.weight",
                            "encoder.mid.attn_1.norm.weight",
                            "encoder.mid.attn_1.q.weight",
                            "encoder.norm_out.bias",
                            "quant_conv.weight",
                        }));
  EXPECT_EQ(out.at("encoder.mid.attn_1.q.weight").sizes(), torch::IntArrayRef({64, 64, 1, 1}));
  // The last decoder level has no upsampler; the encoder has 1 ResBlock per level.
  EXPECT_THROW(
      (void)VaeDiffusersToLdm(Keys({"decoder.up_blocks.3.upsamplers.0.conv.weight"}), config),
      Error);
  EXPECT_THROW(
      (void)VaeDiffusersToLdm(Keys({"encoder.down_blocks.0.resnets.1.conv1.weight"}), config),
      Error);
}

}  // namespace
}  // namespace easel::engine
