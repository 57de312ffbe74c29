// The LDM AutoencoderKL module and its config detection: see vae.h.
#include "engine/nets/vae.h"

#include <torch/torch.h>

#include <sstream>

#include "engine/nets/blocks.h"
#include "engine/nets/fused_ops.h"

namespace easel::engine {

namespace nn = torch::nn;

namespace {

const torch::Tensor& Need(const StateDict& dict, const std::string& key, int64_t dims) {
  auto it = dict.find(key);
  if (it == dict.end()) {
    throw Error(Code::kCorrupt, "VAE weights have no '" + key +
                                    "', which every SD VAE has. The file may hold another kind "
                                    "of model, or be truncated.");
  }
  if (it->second.dim() != dims) {
    std::ostringstream msg;
    msg << "VAE weight '" << key << "' has shape " << it->second.sizes() << ", expected " << dims
        << " dimensions";
    throw Error(Code::kCorrupt, msg.str());
  }
  return it->second;
}

bool HasPrefix(const StateDict& dict, const std::string& prefix) {
  auto it = dict.lower_bound(prefix);
  return it != dict.end() && it->first.compare(0, prefix.size(), prefix) == 0;
}

int64_t CountIndexed(const StateDict& dict, const std::string& prefix) {
  int64_t n = 0;
  while (HasPrefix(dict, prefix + std::to_string(n) + ".")) ++n;
  return n;
}

layers::Conv2d Conv(int64_t in, int64_t out, int64_t kernel) {
  return layers::Conv2d(nn::Conv2dOptions(in, out, kernel).padding(kernel / 2));
}

bool IsMidAttentionWeight(const std::string& key) {
  static const char* kSuffixes[] = {"mid.attn_1.q.weight", "mid.attn_1.k.weight",
                                    "mid.attn_1.v.weight", "mid.attn_1.proj_out.weight"};
  for (const char* suffix : kSuffixes) {
    const std::string s(suffix);
    if (key.size() >= s.size() && key.compare(key.size() - s.size(), s.size(), s) == 0) {
      return true;
    }
  }
  return false;
}

}  // namespace

VaeConfig VaeConfig::FromWeights(const StateDict& dict) {
  VaeConfig c;
  const torch::Tensor conv_in = Need(dict, "encoder.conv_in.weight", 4);  // [ch, in, 3, 3]
  c.channels = conv_in.size(0);
  c.in_channels = conv_in.size(1);
  c.out_channels = Need(dict, "decoder.conv_out.weight", 4).size(0);
  c.z_channels = Need(dict, "decoder.conv_in.weight", 4).size(1);  // [C, z, 3, 3]
  const int64_t levels = CountIndexed(dict, "encoder.down.");
  if (levels == 0) throw Error(Code::kCorrupt, "VAE weights have no 'encoder.down.0.*'");
  c.num_res_blocks = CountIndexed(dict, "encoder.down.0.block.");
  c.channel_mult.clear();
  for (int64_t i = 0; i < levels; ++i) {
    const std::string p = "encoder.down." + std::to_string(i) + ".";
    if (HasPrefix(dict, p + "attn.")) {
      throw Error(Code::kUnsupported, "VAE with attention inside level " + std::to_string(i) +
                                          " ('" + p + "attn.*') is not supported");
    }
    const int64_t out = Need(dict, p + "block.0.conv1.weight", 4).size(0);
    if (out % c.channels != 0) {
      throw Error(Code::kCorrupt, "VAE level " + std::to_string(i) + " has " + std::to_string(out) +
                                      " channels, not a multiple of " + std::to_string(c.channels));
    }
    c.channel_mult.push_back(out / c.channels);
    if (CountIndexed(dict, p + "block.") != c.num_res_blocks) {
      throw Error(Code::kCorrupt, "VAE encoder levels have different numbers of blocks");
    }
  }
  const int64_t moments = Need(dict, "encoder.conv_out.weight", 4).size(0);
  if (moments != 2 * c.z_channels) {
    throw Error(Code::kCorrupt, "VAE encoder.conv_out gives " + std::to_string(moments) +
                                    " channels but the decoder takes " +
                                    std::to_string(c.z_channels) + " (expected twice that)");
  }
  c.has_quant_conv = dict.count("post_quant_conv.weight") > 0;
  c.embed_dim = c.has_quant_conv ? Need(dict, "post_quant_conv.weight", 4).size(1) : c.z_channels;
  if (CountIndexed(dict, "decoder.up.") != levels) {
    throw Error(Code::kCorrupt, "VAE decoder has " +
                                    std::to_string(CountIndexed(dict, "decoder.up.")) +
                                    " levels but the encoder " + std::to_string(levels));
  }
  return c;
}

VaeMidImpl::VaeMidImpl(int64_t channels) {
  block_1_ = register_module("block_1", VaeResnetBlock(channels, channels));
  attn_1_ = register_module("attn_1", VaeAttnBlock(channels));
  block_2_ = register_module("block_2", VaeResnetBlock(channels, channels));
}

torch::Tensor VaeMidImpl::forward(const torch::Tensor& x) {
  return block_2_->forward(attn_1_->forward(block_1_->forward(x)));
}

VaeLevelImpl::VaeLevelImpl(int64_t in_channels, int64_t out_channels, int64_t blocks,
                           Resample resample) {
  block_ = register_module("block", nn::ModuleList());
  for (int64_t j = 0; j < blocks; ++j) {
    blocks_.emplace_back(j == 0 ? in_channels : out_channels, out_channels);
    block_->push_back(blocks_.back());
  }
  if (resample == Resample::kDown) {
    downsample_ = register_module("downsample", VaeDownsample(out_channels));
  } else if (resample == Resample::kUp) {
    upsample_ = register_module("upsample", VaeUpsample(out_channels));
  }
}

torch::Tensor VaeLevelImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = x;
  for (auto& block : blocks_) h = block->forward(h);
  if (downsample_) h = downsample_->forward(h);
  if (upsample_) h = upsample_->forward(h);
  return h;
}

VaeEncoderImpl::VaeEncoderImpl(const VaeConfig& c) {
  conv_in_ = register_module("conv_in", Conv(c.in_channels, c.channels, 3));
  down_ = register_module("down", nn::ModuleList());
  int64_t ch = c.channels;
  for (size_t i = 0; i < c.levels(); ++i) {
    const int64_t out = c.channels * c.channel_mult[i];
    const auto resample =
        i + 1 < c.levels() ? VaeLevelImpl::Resample::kDown : VaeLevelImpl::Resample::kNone;
    levels_.emplace_back(ch, out, c.num_res_blocks, resample);
    down_->push_back(levels_.back());
    ch = out;
  }
  mid_ = register_module("mid", VaeMid(ch));
  norm_out_ = register_module("norm_out", GroupNorm32(ch, 1e-6));
  conv_out_ = register_module("conv_out", Conv(ch, 2 * c.z_channels, 3));
}

torch::Tensor VaeEncoderImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = conv_in_->forward(x);
  for (auto& level : levels_) h = level->forward(h);
  h = mid_->forward(h);
  return conv_out_->forward(GroupNormAct(h, *norm_out_, /*silu=*/true));
}

VaeDecoderImpl::VaeDecoderImpl(const VaeConfig& c) {
  int64_t ch = c.channels * c.channel_mult.back();
  conv_in_ = register_module("conv_in", Conv(c.z_channels, ch, 3));
  mid_ = register_module("mid", VaeMid(ch));
  // Built from the last level down (the order they run in), registered as up.0, up.1, ...
  std::vector<VaeLevel> reversed;
  for (size_t i = c.levels(); i-- > 0;) {
    const int64_t out = c.channels * c.channel_mult[i];
    const auto resample = i > 0 ? VaeLevelImpl::Resample::kUp : VaeLevelImpl::Resample::kNone;
    reversed.emplace_back(ch, out, c.num_res_blocks + 1, resample);
    ch = out;
  }
  levels_.assign(reversed.rbegin(), reversed.rend());
  up_ = register_module("up", nn::ModuleList());
  for (auto& level : levels_) up_->push_back(level);
  norm_out_ = register_module("norm_out", GroupNorm32(ch, 1e-6));
  conv_out_ = register_module("conv_out", Conv(ch, c.out_channels, 3));
}

torch::Tensor VaeDecoderImpl::forward(const torch::Tensor& z) {
  torch::Tensor h = mid_->forward(conv_in_->forward(z));
  for (auto it = levels_.rbegin(); it != levels_.rend(); ++it) h = (*it)->forward(h);
  return conv_out_->forward(GroupNormAct(h, *norm_out_, /*silu=*/true));
}

VaeImpl::VaeImpl(const VaeConfig& config) : config_(config) {
  encoder_ = register_module("encoder", VaeEncoder(config_));
  decoder_ = register_module("decoder", VaeDecoder(config_));
  if (config_.has_quant_conv) {
    quant_conv_ =
        register_module("quant_conv", Conv(2 * config_.z_channels, 2 * config_.embed_dim, 1));
    post_quant_conv_ =
        register_module("post_quant_conv", Conv(config_.embed_dim, config_.z_channels, 1));
  }
}

VaePosterior VaeImpl::EncodeParams(const torch::Tensor& image) {
  const int64_t f = config_.DownFactor();
  if (image.dim() != 4 || image.size(1) != config_.in_channels || image.size(2) % f != 0 ||
      image.size(3) % f != 0) {
    std::ostringstream msg;
    msg << "VAE encode input has shape " << image.sizes() << ", expected [N, "
        << config_.in_channels << ", H, W] with H and W multiples of " << f;
    throw Error(Code::kInvalidArgument, msg.str());
  }
  torch::Tensor moments = encoder_->forward(image);  // [N, 2 z, H/f, W/f]
  if (quant_conv_) moments = quant_conv_->forward(moments);
  std::vector<torch::Tensor> parts = moments.chunk(2, /*dim=*/1);
  return {parts[0], parts[1].clamp(-30.0, 20.0)};
}

torch::Tensor VaeImpl::Encode(const torch::Tensor& image) {
  return EncodeParams(image).mean;
}

torch::Tensor VaeImpl::Decode(const torch::Tensor& latent) {
  if (latent.dim() != 4 || latent.size(1) != config_.embed_dim) {
    std::ostringstream msg;
    msg << "VAE decode input has shape " << latent.sizes() << ", expected [N, " << config_.embed_dim
        << ", h, w]";
    throw Error(Code::kInvalidArgument, msg.str());
  }
  torch::Tensor z = post_quant_conv_ ? post_quant_conv_->forward(latent) : latent;
  return decoder_->forward(z);
}

StateDict NormalizeVaeAttention(const StateDict& ldm_vae) {
  StateDict out = ldm_vae;
  for (auto& [key, tensor] : out) {
    if (tensor.dim() == 2 && IsMidAttentionWeight(key)) {
      tensor = tensor.reshape({tensor.size(0), tensor.size(1), 1, 1});
    }
  }
  return out;
}

Status LoadVaeWeights(VaeImpl& vae, const StateDict& ldm_vae, const std::string& what,
                      const WeightPlacement& placement) {
  return LoadIntoModule(vae, NormalizeVaeAttention(ldm_vae), what, {}, placement);
}

}  // namespace easel::engine
