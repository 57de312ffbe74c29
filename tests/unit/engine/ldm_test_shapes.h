// Test helper: state dicts with the key names and SHAPES of real LDM checkpoints (tensors on
// the meta device: no memory), written from the LDM model definitions independently of the
// modules under test, so a detection or naming mistake in the module cannot hide itself.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "engine/weights.h"

namespace easel::engine::testing {

inline void AddMeta(StateDict& d, const std::string& key, std::vector<int64_t> shape) {
  d[key] = torch::empty(shape, torch::TensorOptions().device(torch::kMeta));
}
inline void AddConv(StateDict& d, const std::string& p, int64_t out, int64_t in, int64_t k) {
  AddMeta(d, p + "weight", {out, in, k, k});
  AddMeta(d, p + "bias", {out});
}
inline void AddLinear(StateDict& d, const std::string& p, int64_t out, int64_t in,
                      bool bias = true) {
  AddMeta(d, p + "weight", {out, in});
  if (bias) AddMeta(d, p + "bias", {out});
}
inline void AddNorm(StateDict& d, const std::string& p, int64_t c) {
  AddMeta(d, p + "weight", {c});
  AddMeta(d, p + "bias", {c});
}

// openaimodel.py UNetModel: SD1/SD2 (one attention depth, no label_emb) and, with
// level_depth and adm, SDXL (transformer depth per level; the middle block takes the last
// level's; label_emb for the pooled text + size features).
struct LdmUnetSpec {
  int64_t model_channels = 320;
  std::vector<int64_t> mult = {1, 2, 4, 4};
  int64_t res_blocks = 2;
  std::vector<bool> attention = {true, true, true, false};  // per level
  int64_t depth = 1;
  int64_t context = 768;
  bool linear = false;
  int64_t in = 4, out = 4;
  std::vector<int64_t> level_depth;  // per level; empty: `depth` where attention is on
  int64_t adm = 0;                   // label_emb input features; 0: none
  int64_t DepthAt(size_t level) const {
    if (!level_depth.empty()) return level_depth[level];
    return attention[level] ? depth : 0;
  }
};

inline void AddLdmResBlock(StateDict& d, const std::string& p, int64_t in, int64_t out,
                           int64_t emb) {
  AddNorm(d, p + "in_layers.0.", in);
  AddConv(d, p + "in_layers.2.", out, in, 3);
  AddLinear(d, p + "emb_layers.1.", out, emb);
  AddNorm(d, p + "out_layers.0.", out);
  AddConv(d, p + "out_layers.3.", out, out, 3);
  if (in != out) AddConv(d, p + "skip_connection.", out, in, 1);
}

inline void AddLdmTransformer(StateDict& d, const std::string& p, int64_t c, int64_t context,
                              int64_t depth, bool linear) {
  AddNorm(d, p + "norm.", c);
  if (linear) {
    AddLinear(d, p + "proj_in.", c, c);
    AddLinear(d, p + "proj_out.", c, c);
  } else {
    AddConv(d, p + "proj_in.", c, c, 1);
    AddConv(d, p + "proj_out.", c, c, 1);
  }
  for (int64_t b = 0; b < depth; ++b) {
    const std::string t = p + "transformer_blocks." + std::to_string(b) + ".";
    for (const char* attn : {"attn1.", "attn2."}) {
      const int64_t kv_in = std::string(attn) == "attn1." ? c : context;
      AddLinear(d, t + attn + "to_q.", c, c, false);
      AddLinear(d, t + attn + "to_k.", c, kv_in, false);
      AddLinear(d, t + attn + "to_v.", c, kv_in, false);
      AddLinear(d, t + attn + "to_out.0.", c, c);
    }
    AddNorm(d, t + "norm1.", c);
    AddNorm(d, t + "norm2.", c);
    AddNorm(d, t + "norm3.", c);
    AddLinear(d, t + "ff.net.0.proj.", 8 * c, c);
    AddLinear(d, t + "ff.net.2.", c, 4 * c);
  }
}

inline StateDict LdmUnetShapes(const LdmUnetSpec& s) {
  StateDict d;
  const int64_t mc = s.model_channels, emb = 4 * mc;
  AddLinear(d, "time_embed.0.", emb, mc);
  AddLinear(d, "time_embed.2.", emb, emb);
  if (s.adm > 0) {
    AddLinear(d, "label_emb.0.0.", emb, s.adm);
    AddLinear(d, "label_emb.0.2.", emb, emb);
  }
  AddConv(d, "input_blocks.0.0.", mc, s.in, 3);
  std::vector<int64_t> chans = {mc};
  int64_t ch = mc, idx = 1;
  const size_t levels = s.mult.size();
  for (size_t level = 0; level < levels; ++level) {
    for (int64_t r = 0; r < s.res_blocks; ++r, ++idx) {
      const std::string p = "input_blocks." + std::to_string(idx) + ".";
      AddLdmResBlock(d, p + "0.", ch, s.mult[level] * mc, emb);
      ch = s.mult[level] * mc;
      if (s.DepthAt(level) > 0)
        AddLdmTransformer(d, p + "1.", ch, s.context, s.DepthAt(level), s.linear);
      chans.push_back(ch);
    }
    if (level + 1 < levels) {
      AddConv(d, "input_blocks." + std::to_string(idx++) + ".0.op.", ch, ch, 3);
      chans.push_back(ch);
    }
  }
  AddLdmResBlock(d, "middle_block.0.", ch, ch, emb);
  const int64_t middle = s.level_depth.empty() ? s.depth : s.level_depth.back();
  AddLdmTransformer(d, "middle_block.1.", ch, s.context, middle, s.linear);
  AddLdmResBlock(d, "middle_block.2.", ch, ch, emb);
  idx = 0;
  for (size_t level = levels; level-- > 0;) {
    for (int64_t r = 0; r <= s.res_blocks; ++r, ++idx) {
      const std::string p = "output_blocks." + std::to_string(idx) + ".";
      AddLdmResBlock(d, p + "0.", ch + chans.back(), s.mult[level] * mc, emb);
      chans.pop_back();
      ch = s.mult[level] * mc;
      if (s.DepthAt(level) > 0)
        AddLdmTransformer(d, p + "1.", ch, s.context, s.DepthAt(level), s.linear);
      if (level > 0 && r == s.res_blocks) {
        AddConv(d, p + (s.DepthAt(level) > 0 ? "2" : "1") + ".conv.", ch, ch, 3);
      }
    }
  }
  AddNorm(d, "out.0.", mc);
  AddConv(d, "out.2.", s.out, mc, 3);
  return d;
}

// ldm/modules/diffusionmodules/model.py Encoder + Decoder + quant convs (AutoencoderKL).
struct LdmVaeSpec {
  int64_t ch = 128;
  std::vector<int64_t> mult = {1, 2, 4, 4};
  int64_t res_blocks = 2;
  int64_t z = 4;
  bool linear_attention = false;  // q/k/v/proj_out stored as [C, C]
};

inline void AddVaeResnet(StateDict& d, const std::string& p, int64_t in, int64_t out) {
  AddNorm(d, p + "norm1.", in);
  AddConv(d, p + "conv1.", out, in, 3);
  AddNorm(d, p + "norm2.", out);
  AddConv(d, p + "conv2.", out, out, 3);
  if (in != out) AddConv(d, p + "nin_shortcut.", out, in, 1);
}

inline void AddVaeMid(StateDict& d, const std::string& p, int64_t c, bool linear) {
  AddVaeResnet(d, p + "block_1.", c, c);
  AddNorm(d, p + "attn_1.norm.", c);
  for (const char* n : {"q.", "k.", "v.", "proj_out."}) {
    if (linear) {
      AddLinear(d, p + "attn_1." + n, c, c);
    } else {
      AddConv(d, p + "attn_1." + n, c, c, 1);
    }
  }
  AddVaeResnet(d, p + "block_2.", c, c);
}

inline StateDict LdmVaeShapes(const LdmVaeSpec& s) {
  StateDict d;
  const size_t levels = s.mult.size();
  AddConv(d, "encoder.conv_in.", s.ch, 3, 3);
  int64_t ch = s.ch;
  for (size_t i = 0; i < levels; ++i) {
    const std::string p = "encoder.down." + std::to_string(i) + ".";
    for (int64_t j = 0; j < s.res_blocks; ++j) {
      AddVaeResnet(d, p + "block." + std::to_string(j) + ".", ch, s.ch * s.mult[i]);
      ch = s.ch * s.mult[i];
    }
    if (i + 1 < levels) AddConv(d, p + "downsample.conv.", ch, ch, 3);
  }
  AddVaeMid(d, "encoder.mid.", ch, s.linear_attention);
  AddNorm(d, "encoder.norm_out.", ch);
  AddConv(d, "encoder.conv_out.", 2 * s.z, ch, 3);
  AddConv(d, "quant_conv.", 2 * s.z, 2 * s.z, 1);
  AddConv(d, "post_quant_conv.", s.z, s.z, 1);
  AddConv(d, "decoder.conv_in.", ch, s.z, 3);
  AddVaeMid(d, "decoder.mid.", ch, s.linear_attention);
  for (size_t i = levels; i-- > 0;) {
    const std::string p = "decoder.up." + std::to_string(i) + ".";
    for (int64_t j = 0; j <= s.res_blocks; ++j) {
      AddVaeResnet(d, p + "block." + std::to_string(j) + ".", ch, s.ch * s.mult[i]);
      ch = s.ch * s.mult[i];
    }
    if (i > 0) AddConv(d, p + "upsample.conv.", ch, ch, 3);
  }
  AddNorm(d, "decoder.norm_out.", ch);
  AddConv(d, "decoder.conv_out.", 3, ch, 3);
  return d;
}

// name -> shape of every parameter and buffer of a module, for comparing with a StateDict.
inline std::map<std::string, std::vector<int64_t>> ModuleShapes(const torch::nn::Module& m) {
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& p : m.named_parameters()) out[p.key()] = p.value().sizes().vec();
  for (const auto& b : m.named_buffers()) out[b.key()] = b.value().sizes().vec();
  return out;
}
inline std::map<std::string, std::vector<int64_t>> DictShapes(const StateDict& d) {
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& [k, v] : d) out[k] = v.sizes().vec();
  return out;
}

}  // namespace easel::engine::testing
