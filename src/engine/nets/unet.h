// The LDM UNet (openaimodel.py's UNetModel as configured by SD1, SD2 and SDXL) as a libtorch
// module whose parameter names are the checkpoint's keys after "model.diffusion_model.":
// time_embed.{0,2}, [label_emb.0.{0,2}], input_blocks.N.{0,1}, middle_block.{0,1,2},
// output_blocks.N.{0,1,2}, out.{0,2}. Load with LoadIntoModule(unet, ldm_dict, ...).
// Its Linear / Conv2d weights start uninitialised (nets/layers.h): load them, or give them
// layers::InitLikeTorch, before running it.
//
// It computes one denoiser evaluation (eps or v, as trained); it knows nothing of sigmas,
// samplers or guidance. Not thread-safe: one forward at a time per instance.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <variant>
#include <vector>

#include "engine/nets/blocks.h"
#include "engine/nets/blocks_transformer.h"
#include "engine/nets/layers.h"
#include "engine/nets/unet_config.h"

namespace easel::engine {

// One entry of input_blocks / middle_block / output_blocks (LDM's TimestepEmbedSequential):
// children "0", "1", "2" run in order, each given what it needs (emb, context, skip size).
class UNetBlockImpl : public torch::nn::Module {
 public:
  using Layer = std::variant<layers::Conv2d, ResBlock, SpatialTransformer, Downsample, Upsample>;
  // Registers `layer` under the next index ("0", "1", ...).
  void Add(Layer layer);
  // x: [N, C, H, W], emb: [N, E], context: [N, M, D]; upsample_size: the [H', W'] an Upsample
  // resizes to (empty: 2x).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& emb,
                        const torch::Tensor& context, torch::IntArrayRef upsample_size = {});

 private:
  std::vector<Layer> layers_;
};
TORCH_MODULE(UNetBlock);

class UNetImpl : public torch::nn::Module {
 public:
  explicit UNetImpl(const UNetConfig& config);

  // x: [N, in_channels, H, W] latent (any H, W: odd sizes resize to the skip connections),
  // timesteps: [N] or [1] float (discrete-time index, 0..999 for SD), context: [N, M, context_dim],
  // y: [N, adm_in_channels] class/size features (only when the config has label_emb).
  // -> [N, out_channels, H, W]. Throws easel::Error(kInvalidArgument) on shape mismatches.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& timesteps,
                        const torch::Tensor& context, const torch::Tensor& y = {});

  const UNetConfig& config() const { return config_; }

 private:
  UNetConfig config_;
  torch::nn::Sequential time_embed_{nullptr};  // 0: Linear, 1: SiLU, 2: Linear
  torch::nn::Sequential label_emb_{nullptr};   // 0: (0: Linear, 1: SiLU, 2: Linear)
  torch::nn::ModuleList input_blocks_{nullptr}, output_blocks_{nullptr};
  std::vector<UNetBlock> inputs_, outputs_;  // the same modules, typed
  UNetBlock middle_block_{nullptr};
  torch::nn::Sequential out_{nullptr};  // 0: GroupNorm, 1: SiLU, 2: conv3x3
};
TORCH_MODULE(UNet);

}  // namespace easel::engine
