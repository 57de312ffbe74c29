// Renames diffusers weights (unet/ and vae/ diffusion_pytorch_model.safetensors of a
// save_pretrained folder) to the original LDM checkpoint names the UNet and Vae modules use.
//
// The mapping is derived from the component's config.json (number of levels, layers per
// block, which blocks have attention), not guessed from the keys. Tensors are shared, not
// copied, except VAE attention weights, which are reshaped (views) from Linear [C, C] to the
// 1x1-conv [C, C, 1, 1]. Pure functions; thread-safe.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include "engine/nets/unet_config.h"
#include "engine/weights.h"

namespace easel::engine {

// diffusers UNet2DConditionModel names -> LDM names (time_embed.0, input_blocks.4.1.proj_in,
// output_blocks.2.1.conv ...). Throws easel::Error: kCorrupt listing the keys that map to
// nothing (up to 10, then a count), kInvalidArgument when the config lacks what the mapping
// needs or disagrees with itself.
StateDict UnetDiffusersToLdm(const StateDict& diffusers_unet, const nlohmann::json& unet_config);

// diffusers AutoencoderKL names -> LDM names (encoder.down.0.block.1.nin_shortcut,
// decoder.up.3.upsample.conv, *.mid.attn_1.q ...). diffusers numbers the decoder's up blocks
// from the deepest level; LDM numbers decoder.up.{i} by level, so up_blocks.k becomes
// up.{levels-1-k}. Old names (query/key/value/proj_attn) are accepted too. Throws like
// UnetDiffusersToLdm.
StateDict VaeDiffusersToLdm(const StateDict& diffusers_vae, const nlohmann::json& vae_config);

// The head rule a diffusers UNet config describes: `num_attention_heads` when set, else
// `attention_head_dim`, which in SD1/SD2 configs holds the number of heads despite its name
// (an int for every level or a list per level). Throws easel::Error(kInvalidArgument) when
// neither is present or a value is not a positive integer.
HeadRule UnetHeadRuleFromDiffusers(const nlohmann::json& unet_config);

// Key-path helpers shared by the key converters: parts[from..] joined with dots, and a key
// part read as a non-negative decimal index (-1 if it is not one).
std::string JoinKeyParts(const std::vector<std::string>& parts, size_t from);
int64_t KeyIndex(const std::string& part);

}  // namespace easel::engine
