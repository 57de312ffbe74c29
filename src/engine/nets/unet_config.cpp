// Reads an LDM UNet's configuration from key names and shapes: see unet_config.h.
#include "engine/nets/unet_config.h"

#include <numeric>
#include <sstream>

#include "util/status.h"

namespace easel::engine {

namespace {

std::string Join(const std::vector<int64_t>& v) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < v.size(); ++i) out << (i ? "," : "") << v[i];
  out << "]";
  return out.str();
}

std::string ShapeString(const torch::Tensor& t) {
  std::ostringstream out;
  out << t.sizes();
  return out.str();
}

bool HasPrefix(const StateDict& dict, const std::string& prefix) {
  auto it = dict.lower_bound(prefix);
  return it != dict.end() && it->first.compare(0, prefix.size(), prefix) == 0;
}

// dict[key], which must exist and have `dims` dimensions (any when dims < 0).
const torch::Tensor& Need(const StateDict& dict, const std::string& key, int64_t dims) {
  auto it = dict.find(key);
  if (it == dict.end()) {
    throw Error(Code::kCorrupt, "UNet weights have no '" + key +
                                    "', which every LDM UNet has. The file may hold another kind "
                                    "of model, or be truncated or pruned.");
  }
  if (dims >= 0 && it->second.dim() != dims) {
    throw Error(Code::kCorrupt, "UNet weight '" + key + "' has shape " + ShapeString(it->second) +
                                    ", expected " + std::to_string(dims) + " dimensions.");
  }
  return it->second;
}

// Number of consecutive "<prefix><i>." groups starting at i = 0.
int64_t CountIndexed(const StateDict& dict, const std::string& prefix) {
  int64_t n = 0;
  while (HasPrefix(dict, prefix + std::to_string(n) + ".")) ++n;
  return n;
}

// What sits at "<block>.1." of an input/output/middle block: the transformer depth (0 when
// there is none). Also records the context width and the projection kind.
struct TransformerSeen {
  int64_t context_dim = 0;
  int64_t linear = -1;  // -1 unknown, 0 conv, 1 linear
};

int64_t ReadTransformer(const StateDict& dict, const std::string& prefix, TransformerSeen* seen) {
  const int64_t depth = CountIndexed(dict, prefix + "transformer_blocks.");
  if (depth == 0) return 0;
  const torch::Tensor to_k = Need(dict, prefix + "transformer_blocks.0.attn2.to_k.weight", 2);
  const torch::Tensor proj_in = Need(dict, prefix + "proj_in.weight", /*dims=*/-1);
  const int64_t linear = proj_in.dim() == 2 ? 1 : 0;
  if (seen->linear == -1) {
    seen->linear = linear;
    seen->context_dim = to_k.size(1);
  } else if (seen->linear != linear || seen->context_dim != to_k.size(1)) {
    throw Error(Code::kCorrupt, "UNet transformer '" + prefix +
                                    "' differs from the first one in its projection kind or "
                                    "context width (to_k " +
                                    ShapeString(to_k) + ").");
  }
  return depth;
}

bool IsResBlock(const StateDict& dict, const std::string& prefix) {
  return dict.count(prefix + "in_layers.2.weight") > 0;
}

}  // namespace

int64_t HeadRule::HeadsFor(int64_t channels, size_t level) const {
  int64_t heads = 0;
  switch (kind) {
    case Kind::kHeads: heads = value; break;
    case Kind::kHeadDim: heads = value > 0 && channels % value == 0 ? channels / value : 0; break;
    case Kind::kPerLevelHeads:
      if (level >= per_level.size()) {
        throw Error(Code::kInvalidArgument,
                    "the head rule lists " + std::to_string(per_level.size()) +
                        " levels but the UNet has attention at level " + std::to_string(level));
      }
      heads = per_level[level];
      break;
  }
  if (heads <= 0 || channels % heads != 0) {
    throw Error(Code::kInvalidArgument, "attention with " + std::to_string(channels) +
                                            " channels at level " + std::to_string(level) +
                                            " cannot be split by the rule '" + ToString() + "'");
  }
  return heads;
}

std::string HeadRule::ToString() const {
  switch (kind) {
    case Kind::kHeads: return std::to_string(value) + " heads";
    case Kind::kHeadDim: return std::to_string(value) + " channels per head";
    case Kind::kPerLevelHeads: return "heads per level " + Join(per_level);
  }
  return "?";
}

UNetConfig UNetConfig::FromWeights(const StateDict& dict, const HeadRule& rule) {
  UNetConfig c;
  const torch::Tensor conv_in = Need(dict, "input_blocks.0.0.weight", 4);  // [mc, in, 3, 3]
  c.model_channels = conv_in.size(0);
  c.in_channels = conv_in.size(1);
  c.time_embed_dim = Need(dict, "time_embed.0.weight", 2).size(0);  // [E, mc]
  c.out_channels = Need(dict, "out.2.weight", 4).size(0);           // [out, mc, 3, 3]
  if (dict.count("label_emb.0.0.weight")) {
    c.adm_in_channels = Need(dict, "label_emb.0.0.weight", 2).size(1);
  }

  // Input blocks: ResBlocks (+ optional transformer) per level, a Downsample between levels.
  TransformerSeen seen;
  c.channel_mult.push_back(0);
  c.num_res_blocks.push_back(0);
  const int64_t n_input = CountIndexed(dict, "input_blocks.");
  for (int64_t i = 1; i < n_input; ++i) {
    const std::string p = "input_blocks." + std::to_string(i) + ".";
    if (dict.count(p + "0.op.weight")) {
      if (c.num_res_blocks.back() == 0) {
        throw Error(Code::kCorrupt, "UNet block '" + p + "' downsamples a level with no ResBlock");
      }
      c.channel_mult.push_back(0);
      c.num_res_blocks.push_back(0);
      continue;
    }
    if (!IsResBlock(dict, p + "0.")) {
      throw Error(Code::kUnsupported, "UNet block '" + p +
                                          "' is neither a ResBlock nor a Downsample conv: this "
                                          "UNet variant is not supported");
    }
    const int64_t ch = Need(dict, p + "0.in_layers.2.weight", 4).size(0);
    if (ch % c.model_channels != 0) {
      throw Error(Code::kCorrupt, "UNet block '" + p + "' has " + std::to_string(ch) +
                                      " channels, not a multiple of " +
                                      std::to_string(c.model_channels));
    }
    if (c.num_res_blocks.back() == 0) {
      c.channel_mult.back() = ch / c.model_channels;
    } else if (ch != c.LevelChannels(c.levels() - 1)) {
      throw Error(Code::kCorrupt, "UNet block '" + p + "' changes channels inside a level");
    }
    ++c.num_res_blocks.back();
    c.input_depth.push_back(ReadTransformer(dict, p + "1.", &seen));
  }
  if (c.num_res_blocks.back() == 0) {
    throw Error(Code::kCorrupt, "UNet input blocks end with a Downsample or are missing");
  }

  // Middle block: ResBlock, [SpatialTransformer,] ResBlock.
  if (!IsResBlock(dict, "middle_block.0.")) {
    throw Error(Code::kCorrupt, "UNet weights have no ResBlock at 'middle_block.0.'");
  }
  c.middle_depth = ReadTransformer(dict, "middle_block.1.", &seen);
  const std::string last_mid = c.middle_depth > 0 ? "middle_block.2." : "middle_block.1.";
  if (!IsResBlock(dict, last_mid)) {
    throw Error(Code::kCorrupt, "UNet weights have no ResBlock at '" + last_mid + "'");
  }

  // Output blocks: num_res_blocks + 1 per level, levels in reverse; an Upsample ends each
  // level but the first, after the transformer if there is one.
  const int64_t expected_out =
      std::accumulate(c.num_res_blocks.begin(), c.num_res_blocks.end(), int64_t{0}) +
      static_cast<int64_t>(c.levels());
  const int64_t n_output = CountIndexed(dict, "output_blocks.");
  if (n_output != expected_out) {
    throw Error(Code::kCorrupt, "UNet has " + std::to_string(n_output) +
                                    " output blocks but its input blocks imply " +
                                    std::to_string(expected_out));
  }
  int64_t j = 0;
  for (size_t level = c.levels(); level-- > 0;) {
    for (int64_t r = 0; r <= c.num_res_blocks[level]; ++r, ++j) {
      const std::string p = "output_blocks." + std::to_string(j) + ".";
      if (!IsResBlock(dict, p + "0.")) {
        throw Error(Code::kCorrupt, "UNet weights have no ResBlock at '" + p + "0.'");
      }
      const int64_t depth = ReadTransformer(dict, p + "1.", &seen);
      c.output_depth.push_back(depth);
      const bool up_expected = level > 0 && r == c.num_res_blocks[level];
      const std::string up_key = p + (depth > 0 ? "2" : "1") + ".conv.weight";
      if (up_expected != (dict.count(up_key) > 0)) {
        throw Error(Code::kCorrupt, "UNet block '" + p + "' should " + (up_expected ? "" : "not ") +
                                        "end with an Upsample ('" + up_key + "')");
      }
    }
  }

  c.context_dim = seen.context_dim;
  c.use_linear_proj = seen.linear == 1;

  // Heads per level, where the level has attention.
  c.heads.assign(c.levels(), 0);
  int64_t in_index = 0;
  int64_t out_index = static_cast<int64_t>(c.output_depth.size());
  for (size_t level = 0; level < c.levels(); ++level) {
    bool attention = false;
    for (int64_t r = 0; r < c.num_res_blocks[level]; ++r)
      attention |= c.input_depth[in_index++] > 0;
    out_index -= c.num_res_blocks[level] + 1;
    for (int64_t r = 0; r <= c.num_res_blocks[level]; ++r) {
      attention |= c.output_depth[out_index + r] > 0;
    }
    if (level + 1 == c.levels()) attention |= c.middle_depth > 0;
    if (attention) c.heads[level] = rule.HeadsFor(c.LevelChannels(level), level);
  }
  return c;
}

std::string UNetConfig::ToString() const {
  std::ostringstream out;
  out << "UNet " << model_channels << "x" << Join(channel_mult) << ", res blocks "
      << Join(num_res_blocks) << ", attention depth in " << Join(input_depth) << " mid "
      << middle_depth << " out " << Join(output_depth) << ", heads " << Join(heads) << ", context "
      << context_dim << (use_linear_proj ? ", linear proj" : ", conv proj") << ", in/out "
      << in_channels << "/" << out_channels;
  if (adm_in_channels) out << ", label_emb " << adm_in_channels;
  return out.str();
}

}  // namespace easel::engine
