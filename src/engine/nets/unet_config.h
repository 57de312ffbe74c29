// The shape of an LDM UNet (SD1, SD2, SDXL families), read from its weights.
//
// UNetConfig::FromWeights() looks only at key names and tensor shapes of an LDM-named state
// dict (keys without the "model.diffusion_model." prefix; convert diffusers files first with
// UnetDiffusersToLdm). The number of attention heads cannot be read from weights (q/k/v are
// [inner, inner] whatever the split), so the caller supplies a HeadRule from the family.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/weights.h"

namespace easel::engine {

// How a transformer with C channels at a level splits into heads.
//   Heads(8):      8 heads everywhere, head dim C/8 (SD1: LDM config num_heads: 8).
//   HeadDim(64):   head dim 64, C/64 heads (SD2, SDXL: LDM config num_head_channels: 64).
//   PerLevelHeads: an explicit head count per level (diffusers' config.json). Note: diffusers
//     calls this field `attention_head_dim` in SD1/SD2 configs, but it is the NUMBER OF
//     HEADS (SD1: 8; SD2: [5, 10, 20, 20] = C/64); `num_attention_heads` wins when set.
// Down and up blocks of a level share its count; the middle block uses the last level's.
struct HeadRule {
  enum class Kind { kHeads, kHeadDim, kPerLevelHeads };
  Kind kind = Kind::kHeads;
  int64_t value = 8;               // heads (kHeads) or channels per head (kHeadDim)
  std::vector<int64_t> per_level;  // kPerLevelHeads

  static HeadRule Heads(int64_t heads) { return {Kind::kHeads, heads, {}}; }
  static HeadRule HeadDim(int64_t dim) { return {Kind::kHeadDim, dim, {}}; }
  static HeadRule PerLevelHeads(std::vector<int64_t> heads) {
    return {Kind::kPerLevelHeads, 0, std::move(heads)};
  }
  // Heads for a transformer of `channels` channels at `level`. Throws easel::Error
  // (kInvalidArgument) when the channels do not split evenly or the level has no entry.
  int64_t HeadsFor(int64_t channels, size_t level) const;
  std::string ToString() const;  // "8 heads", "64 channels per head", "heads per level [1, 1]"
};

struct UNetConfig {
  int64_t in_channels = 4;
  int64_t out_channels = 4;
  int64_t model_channels = 320;
  int64_t time_embed_dim = 1280;        // 4 * model_channels in every SD model
  std::vector<int64_t> channel_mult;    // per level: channels = model_channels * mult
  std::vector<int64_t> num_res_blocks;  // per level
  // Transformer depth after each ResBlock, 0 = no attention there:
  // input_depth has sum(num_res_blocks) entries (levels in order), output_depth has
  // sum(num_res_blocks + 1) (levels in reverse, as output_blocks are numbered).
  std::vector<int64_t> input_depth;
  std::vector<int64_t> output_depth;
  int64_t middle_depth = 1;      // 0: middle_block is ResBlock, ResBlock
  std::vector<int64_t> heads;    // per level (0 where the level has no attention)
  int64_t context_dim = 768;     // 0 when no transformer at all
  bool use_linear_proj = false;  // proj_in/proj_out Linear (SD2, SDXL) vs 1x1 conv (SD1)
  int64_t adm_in_channels = 0;   // label_emb input features (SDXL: 2816); 0 = none

  size_t levels() const { return channel_mult.size(); }
  int64_t LevelChannels(size_t level) const { return model_channels * channel_mult.at(level); }
  // Total down-sampling factor of the latent (8 for 4 levels).
  int64_t DownFactor() const { return int64_t{1} << (levels() - 1); }

  // Reads the configuration from LDM key names and shapes. Throws easel::Error: kCorrupt
  // when a key the layout needs is missing or a shape contradicts the others, kUnsupported for
  // UNet variants Easel does not implement (resblock up/down sampling, ...).
  static UNetConfig FromWeights(const StateDict& ldm_unet, const HeadRule& rule);

  // One line for logs: "UNet 320x[1,2,4,4], res 2, attention depth [1,1,1,1,1,1,0,0] ...".
  std::string ToString() const;
};

}  // namespace easel::engine
