// Name maps that resolve a LoRA's target names (kohya's underscore form, diffusers/peft dotted
// names) to the module names of OUR models: LDM names for the UNet (input_blocks.1.1.proj_in),
// HF CLIP names without "text_model." for the text encoder (encoder.layers.0.self_attn.q_proj).
//
// Kohya writes a module path with every '.' turned into '_', which cannot be split back
// reliably (to_out_0, layer_norm1, proj_in). So nothing is split: the underscore form of every
// module of the target model is built and the LoRA's name is looked up in it. Pure functions;
// thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/weights.h"

namespace easel::engine {

// The per-level ResBlock counts of an LDM UNet, read from its key names alone
// (input_blocks.K.0.op marks the end of a level). Empty when the dict has no input_blocks.
std::vector<int64_t> UnetResBlocksFromKeys(const StateDict& ldm_unet);

// LDM module path -> diffusers module path for a UNet with `res_blocks` ResBlocks per level
// (input_blocks.4.1.proj_in -> down_blocks.1.attentions.0.proj_in,
// output_blocks.2.1.conv -> up_blocks.0.upsamplers.0.conv). The inverse of
// UnetDiffusersToLdm (ldm_convert.h) for module paths; nullopt for paths with no diffusers
// counterpart.
std::optional<std::string> UnetLdmToDiffusersModule(const std::string& ldm_module,
                                                    const std::vector<int64_t>& res_blocks);

// Looks up a LoRA's target name among the modules of one model.
class ModuleNameMap {
 public:
  // Every key "<module>.weight" of `model` names a module. `model_prefix` is prepended to
  // build the names files use ("text_model." for HF CLIP). With `unet_diffusers`, the
  // diffusers name of every UNet module is added too.
  ModuleNameMap(const StateDict& model, const std::string& model_prefix, bool unet_diffusers);

  // Our module name for a dotted (diffusers/peft or LDM) name, or nullopt.
  std::optional<std::string> FromDotted(const std::string& name) const;
  // Our module name for kohya's underscore form, or nullopt (also when two modules share the
  // underscore form: ambiguous names are never guessed).
  std::optional<std::string> FromUnderscored(const std::string& name) const;

 private:
  std::map<std::string, std::string> dotted_;
  std::map<std::string, std::string> underscored_;  // "" marks an ambiguous form
};

}  // namespace easel::engine
