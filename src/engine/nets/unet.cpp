// The LDM UNet module: see unet.h.
#include "engine/nets/unet.h"

#include <torch/torch.h>

#include <sstream>

#include "engine/nets/fused_ops.h"
#include "util/status.h"

namespace easel::engine {

namespace nn = torch::nn;

void UNetBlockImpl::Add(Layer layer) {
  const std::string name = std::to_string(layers_.size());
  std::visit([&](auto& m) { register_module(name, m); }, layer);
  layers_.push_back(std::move(layer));
}

torch::Tensor UNetBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& emb,
                                     const torch::Tensor& context,
                                     torch::IntArrayRef upsample_size) {
  torch::Tensor h = x;
  for (auto& layer : layers_) {
    if (auto* conv = std::get_if<layers::Conv2d>(&layer)) {
      h = (*conv)->forward(h);
    } else if (auto* res = std::get_if<ResBlock>(&layer)) {
      h = (*res)->forward(h, emb);
    } else if (auto* st = std::get_if<SpatialTransformer>(&layer)) {
      h = (*st)->forward(h, context);
    } else if (auto* down = std::get_if<Downsample>(&layer)) {
      h = (*down)->forward(h);
    } else if (auto* up = std::get_if<Upsample>(&layer)) {
      h = (*up)->forward(h, upsample_size);
    }
  }
  return h;
}

UNetImpl::UNetImpl(const UNetConfig& config) : config_(config) {
  const UNetConfig& c = config_;
  const int64_t mc = c.model_channels, emb = c.time_embed_dim;
  time_embed_ = register_module(
      "time_embed", nn::Sequential(layers::Linear(mc, emb), nn::SiLU(), layers::Linear(emb, emb)));
  if (c.adm_in_channels > 0) {
    // label_emb.0.{0,2}: a plain module as name space holding the Sequential under "0".
    // (Sequential(Sequential(...)) would be the copy constructor: the inner module itself,
    // named label_emb.{0,2}.)
    auto outer = register_module("label_emb", std::make_shared<nn::Module>());
    label_emb_ = outer->register_module("0", nn::Sequential(layers::Linear(c.adm_in_channels, emb),
                                                            nn::SiLU(), layers::Linear(emb, emb)));
  }
  auto transformer = [&](int64_t ch, size_t level, int64_t depth) {
    const int64_t heads = c.heads.at(level);
    return SpatialTransformer(ch, heads, ch / heads, depth, c.context_dim, c.use_linear_proj);
  };

  input_blocks_ = register_module("input_blocks", nn::ModuleList());
  auto add_input = [&](UNetBlock block) {
    inputs_.push_back(block);
    input_blocks_->push_back(block);
  };
  UNetBlock conv_in;
  conv_in->Add(layers::Conv2d(nn::Conv2dOptions(c.in_channels, mc, 3).padding(1)));
  add_input(conv_in);
  std::vector<int64_t> skip_channels = {mc};  // channels of each input block's output
  int64_t ch = mc;
  size_t in_index = 0;
  for (size_t level = 0; level < c.levels(); ++level) {
    const int64_t out_ch = c.LevelChannels(level);
    for (int64_t r = 0; r < c.num_res_blocks[level]; ++r) {
      UNetBlock block;
      block->Add(ResBlock(ch, emb, out_ch));
      ch = out_ch;
      const int64_t depth = c.input_depth.at(in_index++);
      if (depth > 0) block->Add(transformer(ch, level, depth));
      add_input(block);
      skip_channels.push_back(ch);
    }
    if (level + 1 < c.levels()) {
      UNetBlock block;
      block->Add(Downsample(ch));
      add_input(block);
      skip_channels.push_back(ch);
    }
  }

  middle_block_ = register_module("middle_block", UNetBlock());
  middle_block_->Add(ResBlock(ch, emb, ch));
  if (c.middle_depth > 0) middle_block_->Add(transformer(ch, c.levels() - 1, c.middle_depth));
  middle_block_->Add(ResBlock(ch, emb, ch));

  output_blocks_ = register_module("output_blocks", nn::ModuleList());
  size_t out_index = 0;
  for (size_t level = c.levels(); level-- > 0;) {
    const int64_t out_ch = c.LevelChannels(level);
    for (int64_t r = 0; r <= c.num_res_blocks[level]; ++r) {
      UNetBlock block;
      block->Add(ResBlock(ch + skip_channels.back(), emb, out_ch));
      skip_channels.pop_back();
      ch = out_ch;
      const int64_t depth = c.output_depth.at(out_index++);
      if (depth > 0) block->Add(transformer(ch, level, depth));
      if (level > 0 && r == c.num_res_blocks[level]) block->Add(Upsample(ch));
      outputs_.push_back(block);
      output_blocks_->push_back(block);
    }
  }

  out_ = register_module(
      "out", nn::Sequential(GroupNorm32(ch, 1e-5), nn::SiLU(),
                            layers::Conv2d(nn::Conv2dOptions(ch, c.out_channels, 3).padding(1))));
}

torch::Tensor UNetImpl::forward(const torch::Tensor& x, const torch::Tensor& timesteps,
                                const torch::Tensor& context, const torch::Tensor& y) {
  const UNetConfig& c = config_;
  auto bad = [](const std::string& what, const torch::Tensor& t, const std::string& expected) {
    std::ostringstream msg;
    msg << "UNet input " << what << " has shape " << t.sizes() << ", expected " << expected;
    throw Error(Code::kInvalidArgument, msg.str());
  };
  if (x.dim() != 4 || x.size(1) != c.in_channels) {
    bad("x", x, "[N, " + std::to_string(c.in_channels) + ", H, W]");
  }
  const int64_t n = x.size(0);
  if (timesteps.dim() != 1 || (timesteps.size(0) != n && timesteps.size(0) != 1)) {
    bad("timesteps", timesteps, "[N] or [1]");
  }
  const torch::Tensor t = timesteps.expand({n});  // one timestep for the whole batch is fine
  if (c.context_dim > 0 &&
      (context.dim() != 3 || context.size(0) != n || context.size(2) != c.context_dim)) {
    bad("context", context, "[N, tokens, " + std::to_string(c.context_dim) + "]");
  }

  // emb: [N, time_embed_dim]
  torch::Tensor emb = time_embed_->forward(TimestepEmbedding(t, c.model_channels).to(x.dtype()));
  if (label_emb_) {
    if (!y.defined() || y.dim() != 2 || y.size(0) != n || y.size(1) != c.adm_in_channels) {
      if (!y.defined()) throw Error(Code::kInvalidArgument, "this UNet needs label features y");
      bad("y", y, "[N, " + std::to_string(c.adm_in_channels) + "]");
    }
    emb = emb + label_emb_->forward(y.to(x.dtype()));
  }

  std::vector<torch::Tensor> skips;  // each input block's output, consumed in reverse
  skips.reserve(inputs_.size());
  torch::Tensor h = x;
  for (auto& block : inputs_) {
    h = block->forward(h, emb, context);
    skips.push_back(h);
  }
  h = middle_block_->forward(h, emb, context);
  for (auto& block : outputs_) {
    h = torch::cat({h, skips.back()}, /*dim=*/1);
    skips.pop_back();
    // An Upsample in this block resizes to the next skip it will be concatenated with.
    std::vector<int64_t> size;
    if (!skips.empty()) size = {skips.back().size(2), skips.back().size(3)};
    h = block->forward(h, emb, context, size);
  }
  // out: 0 GroupNorm, 1 SiLU, 2 conv; norm and SiLU fused (fused_ops.h).
  return out_->begin()[2].forward(
      GroupNormAct(h, *out_->ptr<torch::nn::GroupNormImpl>(0), /*silu=*/true));
}

}  // namespace easel::engine
