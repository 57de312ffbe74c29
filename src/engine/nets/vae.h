// The SD autoencoder (LDM's AutoencoderKL: SD1, SD2 and SDXL VAEs, vae-ft-mse and friends) as
// a libtorch module named after the checkpoint keys after "first_stage_model." (or of a
// stand-alone VAE file): encoder.*, decoder.*, quant_conv.*, post_quant_conv.*.
// Its conv weights start uninitialised (nets/layers.h): load them (LoadVaeWeights), or give
// them layers::InitLikeTorch, before running it.
//
// Encode/Decode work in the VAE's own latent units: the pipeline applies the scaling factor
// (0.18215 for SD1/SD2). Not thread-safe: one call at a time per instance.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <string>
#include <vector>

#include "engine/nets/layers.h"
#include "engine/nets/vae_blocks.h"
#include "engine/weights.h"
#include "util/status.h"

namespace easel::engine {

struct VaeConfig {
  int64_t in_channels = 3;                           // image channels in
  int64_t out_channels = 3;                          // image channels out
  int64_t channels = 128;                            // "ch": conv_in width
  std::vector<int64_t> channel_mult = {1, 2, 4, 4};  // per level
  int64_t num_res_blocks = 2;                        // per encoder level (the decoder has one more)
  int64_t z_channels = 4;      // encoder output (x2: mean and logvar) / decoder input
  int64_t embed_dim = 4;       // latent channels after quant_conv
  bool has_quant_conv = true;  // quant_conv / post_quant_conv present

  size_t levels() const { return channel_mult.size(); }
  int64_t DownFactor() const { return int64_t{1} << (levels() - 1); }  // 8 for SD

  // Reads the configuration from LDM key names and shapes (attention weights may be 2-D or
  // 4-D). Throws easel::Error(kCorrupt) when a needed key is missing or shapes disagree,
  // kUnsupported for attention inside the levels (no SD VAE has it).
  static VaeConfig FromWeights(const StateDict& ldm_vae);
};

// The mid section: block_1, attn_1, block_2. x: [N, C, H, W] -> same
class VaeMidImpl : public torch::nn::Module {
 public:
  explicit VaeMidImpl(int64_t channels);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  VaeResnetBlock block_1_{nullptr}, block_2_{nullptr};
  VaeAttnBlock attn_1_{nullptr};
};
TORCH_MODULE(VaeMid);

// One resolution level: block.{j} ResnetBlocks, then "downsample" (encoder) or "upsample"
// (decoder) unless it is the level's edge.
class VaeLevelImpl : public torch::nn::Module {
 public:
  enum class Resample { kNone, kDown, kUp };
  VaeLevelImpl(int64_t in_channels, int64_t out_channels, int64_t blocks, Resample resample);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::ModuleList block_{nullptr};
  std::vector<VaeResnetBlock> blocks_;  // the same modules, typed
  VaeDownsample downsample_{nullptr};
  VaeUpsample upsample_{nullptr};
};
TORCH_MODULE(VaeLevel);

// image [N, in, H, W] -> moments [N, 2 z, H/f, W/f]
class VaeEncoderImpl : public torch::nn::Module {
 public:
  explicit VaeEncoderImpl(const VaeConfig& config);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  layers::Conv2d conv_in_{nullptr}, conv_out_{nullptr};
  torch::nn::ModuleList down_{nullptr};
  std::vector<VaeLevel> levels_;
  VaeMid mid_{nullptr};
  torch::nn::GroupNorm norm_out_{nullptr};
};
TORCH_MODULE(VaeEncoder);

// z [N, z, h, w] -> image [N, out, h f, w f]. up.{i} is level i; they run from the last.
class VaeDecoderImpl : public torch::nn::Module {
 public:
  explicit VaeDecoderImpl(const VaeConfig& config);
  torch::Tensor forward(const torch::Tensor& z);

 private:
  layers::Conv2d conv_in_{nullptr}, conv_out_{nullptr};
  VaeMid mid_{nullptr};
  torch::nn::ModuleList up_{nullptr};
  std::vector<VaeLevel> levels_;
  torch::nn::GroupNorm norm_out_{nullptr};
};
TORCH_MODULE(VaeDecoder);

// The posterior N(mean, exp(logvar)) of an image. Both [N, embed_dim, H/f, W/f].
struct VaePosterior {
  torch::Tensor mean;
  torch::Tensor logvar;  // clamped to [-30, 20] as LDM does
};

class VaeImpl : public torch::nn::Module {
 public:
  explicit VaeImpl(const VaeConfig& config);

  // image: [N, in_channels, H, W] in [-1, 1], H and W multiples of DownFactor() ->
  // posterior mean [N, embed_dim, H/f, W/f] (unscaled). Throws easel::Error(kInvalidArgument)
  // on a wrong shape.
  torch::Tensor Encode(const torch::Tensor& image);
  VaePosterior EncodeParams(const torch::Tensor& image);
  // latent: [N, embed_dim, h, w] (unscaled) -> [N, out_channels, h f, w f], not clamped.
  torch::Tensor Decode(const torch::Tensor& latent);

  const VaeConfig& config() const { return config_; }

 private:
  VaeConfig config_;
  VaeEncoder encoder_{nullptr};
  VaeDecoder decoder_{nullptr};
  layers::Conv2d quant_conv_{nullptr}, post_quant_conv_{nullptr};
};
TORCH_MODULE(Vae);

// The dict with every 2-D mid-attention weight (q, k, v, proj_out: [C, C], as some converted
// files hold them) reshaped to the 1x1-conv shape [C, C, 1, 1]. Other tensors pass through
// (shared, not copied).
StateDict NormalizeVaeAttention(const StateDict& ldm_vae);

// NormalizeVaeAttention + LoadIntoModule: the way to load LDM-named VAE weights.
Status LoadVaeWeights(VaeImpl& vae, const StateDict& ldm_vae, const std::string& what,
                      const WeightPlacement& placement = {});

}  // namespace easel::engine
