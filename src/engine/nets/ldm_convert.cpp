// diffusers -> LDM weight names for the UNet and the VAE: see ldm_convert.h.
#include "engine/nets/ldm_convert.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "util/status.h"

namespace easel::engine {

namespace {

using json = nlohmann::json;
using Parts = std::vector<std::string>;

Parts Split(const std::string& key) {
  Parts parts;
  std::string::size_type start = 0;
  while (true) {
    auto dot = key.find('.', start);
    parts.push_back(key.substr(start, dot - start));
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

int64_t ConfigInt(const json& config, const char* name, int64_t fallback) {
  auto it = config.find(name);
  if (it == config.end() || it->is_null()) return fallback;
  if (!it->is_number_integer() || it->get<int64_t>() <= 0) {
    throw Error(Code::kInvalidArgument,
                std::string("config.json field '") + name + "' should be a positive integer");
  }
  return it->get<int64_t>();
}

std::vector<std::string> ConfigStrings(const json& config, const char* name) {
  auto it = config.find(name);
  if (it == config.end() || !it->is_array() || it->empty()) {
    throw Error(Code::kInvalidArgument,
                std::string("config.json has no list '") + name + "', needed to map its weights");
  }
  std::vector<std::string> out;
  for (const auto& v : *it) {
    if (!v.is_string()) {
      throw Error(Code::kInvalidArgument,
                  std::string("config.json '") + name + "' holds a non-string");
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

// An int for every level or a list with one entry per level.
std::vector<int64_t> PerLevelInts(const json& config, const char* name, size_t levels,
                                  int64_t fallback) {
  auto it = config.find(name);
  if (it != config.end() && it->is_array()) {
    std::vector<int64_t> out;
    for (const auto& v : *it) {
      if (!v.is_number_integer() || v.get<int64_t>() <= 0) {
        throw Error(Code::kInvalidArgument, std::string("config.json '") + name +
                                                "' holds a non-positive or non-integer value");
      }
      out.push_back(v.get<int64_t>());
    }
    if (out.size() != levels) {
      throw Error(Code::kInvalidArgument, std::string("config.json '") + name + "' lists " +
                                              std::to_string(out.size()) + " values for " +
                                              std::to_string(levels) + " blocks");
    }
    return out;
  }
  return std::vector<int64_t>(levels, ConfigInt(config, name, fallback));
}

// Collects the renamed dict; keys that map to nothing or collide become one error.
class Renamer {
 public:
  explicit Renamer(std::string what) : what_(std::move(what)) {}
  void Put(const std::string& from, const std::optional<std::string>& to,
           const torch::Tensor& tensor) {
    if (!to) {
      unknown_.push_back(from);
    } else if (!out_.emplace(*to, tensor).second) {
      unknown_.push_back(from + " (a second source for " + *to + ")");
    }
  }
  StateDict Finish() {
    if (unknown_.empty()) return std::move(out_);
    std::ostringstream msg;
    msg << what_ << " (diffusers layout) has " << unknown_.size()
        << " weight(s) that match no LDM name: ";
    for (size_t i = 0; i < unknown_.size() && i < 10; ++i) msg << (i ? ", " : "") << unknown_[i];
    if (unknown_.size() > 10) msg << " and " << unknown_.size() - 10 << " more";
    msg << ". The config.json beside the weights may describe another model.";
    throw Error(Code::kCorrupt, msg.str());
  }

 private:
  std::string what_;
  StateDict out_;
  std::vector<std::string> unknown_;
};

// ---- UNet -------------------------------------------------------------------------------

struct UnetLayout {
  std::vector<int64_t> down_resnets;  // per down block
  std::vector<int64_t> up_resnets;    // per up block (diffusers order: deepest first)
  std::vector<bool> up_attention;     // per up block
  bool mid_attention = true;
};

UnetLayout ReadUnetLayout(const json& config) {
  UnetLayout l;
  const auto down_types = ConfigStrings(config, "down_block_types");
  const auto up_types = ConfigStrings(config, "up_block_types");
  if (down_types.size() != up_types.size()) {
    throw Error(Code::kInvalidArgument, "config.json lists " + std::to_string(down_types.size()) +
                                            " down blocks but " + std::to_string(up_types.size()) +
                                            " up blocks");
  }
  l.down_resnets = PerLevelInts(config, "layers_per_block", down_types.size(), 2);
  for (auto it = l.down_resnets.rbegin(); it != l.down_resnets.rend(); ++it) {
    l.up_resnets.push_back(*it + 1);
  }
  for (const auto& type : up_types)
    l.up_attention.push_back(type.find("CrossAttn") != std::string::npos);
  auto mid = config.find("mid_block_type");
  if (mid != config.end()) {
    l.mid_attention =
        mid->is_string() && mid->get<std::string>().find("CrossAttn") != std::string::npos;
  }
  return l;
}

std::optional<std::string> UnetResnetName(const Parts& p, size_t from) {
  if (from >= p.size()) return std::nullopt;
  static const std::map<std::string, std::string> kNames = {
      {"norm1", "in_layers.0"},  {"conv1", "in_layers.2"},  {"time_emb_proj", "emb_layers.1"},
      {"norm2", "out_layers.0"}, {"conv2", "out_layers.3"}, {"conv_shortcut", "skip_connection"}};
  auto it = kNames.find(p[from]);
  if (it == kNames.end()) return std::nullopt;
  return it->second + "." + JoinKeyParts(p, from + 1);
}

std::optional<std::string> UnetKey(const Parts& p, const UnetLayout& l) {
  const std::string& head = p[0];
  auto renamed = [&](const char* to, size_t skip) {
    return std::string(to) + "." + JoinKeyParts(p, skip);
  };
  if (p.size() < 3) {
    if (head == "conv_in") return renamed("input_blocks.0.0", 1);
    if (head == "conv_norm_out") return renamed("out.0", 1);
    if (head == "conv_out") return renamed("out.2", 1);
    return std::nullopt;
  }
  if (head == "time_embedding" && p[1] == "linear_1") return renamed("time_embed.0", 2);
  if (head == "time_embedding" && p[1] == "linear_2") return renamed("time_embed.2", 2);
  if (head == "add_embedding" && p[1] == "linear_1") return renamed("label_emb.0.0", 2);
  if (head == "add_embedding" && p[1] == "linear_2") return renamed("label_emb.0.2", 2);
  if (p.size() < 5) return std::nullopt;
  const int64_t i = KeyIndex(p[1]), j = KeyIndex(p[3]);
  const std::string& kind = p[2];
  if (head == "mid_block") {
    // mid_block.{resnets|attentions}.{j}.*: p[1] is the kind here.
    const int64_t k = KeyIndex(p[2]);
    if (p[1] == "resnets" && (k == 0 || k == 1)) {
      const int64_t slot = k == 0 ? 0 : (l.mid_attention ? 2 : 1);
      auto rest = UnetResnetName(p, 3);
      if (rest) return "middle_block." + std::to_string(slot) + "." + *rest;
    }
    if (p[1] == "attentions" && k == 0 && l.mid_attention)
      return "middle_block.1." + JoinKeyParts(p, 3);
    return std::nullopt;
  }
  if (head == "down_blocks" && i >= 0 && i < static_cast<int64_t>(l.down_resnets.size())) {
    int64_t base = 1;
    for (int64_t level = 0; level < i; ++level) base += l.down_resnets[level] + 1;
    const std::string block = "input_blocks.";
    if (kind == "resnets" && j >= 0 && j < l.down_resnets[i]) {
      auto rest = UnetResnetName(p, 4);
      if (rest) return block + std::to_string(base + j) + ".0." + *rest;
    } else if (kind == "attentions" && j >= 0 && j < l.down_resnets[i]) {
      return block + std::to_string(base + j) + ".1." + JoinKeyParts(p, 4);
    } else if (kind == "downsamplers" && j == 0 && p[4] == "conv" &&
               i + 1 < static_cast<int64_t>(l.down_resnets.size())) {
      return block + std::to_string(base + l.down_resnets[i]) + ".0.op." + JoinKeyParts(p, 5);
    }
    return std::nullopt;
  }
  if (head == "up_blocks" && i >= 0 && i < static_cast<int64_t>(l.up_resnets.size())) {
    int64_t base = 0;
    for (int64_t level = 0; level < i; ++level) base += l.up_resnets[level];
    const std::string block = "output_blocks.";
    if (kind == "resnets" && j >= 0 && j < l.up_resnets[i]) {
      auto rest = UnetResnetName(p, 4);
      if (rest) return block + std::to_string(base + j) + ".0." + *rest;
    } else if (kind == "attentions" && j >= 0 && j < l.up_resnets[i] && l.up_attention[i]) {
      return block + std::to_string(base + j) + ".1." + JoinKeyParts(p, 4);
    } else if (kind == "upsamplers" && j == 0 && p[4] == "conv" &&
               i + 1 < static_cast<int64_t>(l.up_resnets.size())) {
      const int64_t last = base + l.up_resnets[i] - 1;
      return block + std::to_string(last) + (l.up_attention[i] ? ".2.conv." : ".1.conv.") +
             JoinKeyParts(p, 5);
    }
  }
  return std::nullopt;
}

// ---- VAE --------------------------------------------------------------------------------

std::optional<std::string> VaeResnetName(const Parts& p, size_t from) {
  if (from + 1 >= p.size()) return std::nullopt;
  const std::string& name = p[from];
  if (name == "conv_shortcut") return "nin_shortcut." + JoinKeyParts(p, from + 1);
  if (name == "norm1" || name == "conv1" || name == "norm2" || name == "conv2") {
    return JoinKeyParts(p, from);
  }
  return std::nullopt;
}

std::optional<std::string> VaeAttentionName(const Parts& p, size_t from) {
  if (from + 1 >= p.size()) return std::nullopt;
  static const std::map<std::string, std::string> kNames = {
      {"group_norm", "norm"}, {"to_q", "q"}, {"to_k", "k"},  {"to_v", "v"},
      {"query", "q"},         {"key", "k"},  {"value", "v"}, {"proj_attn", "proj_out"}};
  if (p[from] == "to_out" && p[from + 1] == "0" && from + 2 < p.size()) {
    return "proj_out." + JoinKeyParts(p, from + 2);
  }
  auto it = kNames.find(p[from]);
  if (it == kNames.end()) return std::nullopt;
  return it->second + "." + JoinKeyParts(p, from + 1);
}

std::optional<std::string> VaeKey(const Parts& p, int64_t levels, int64_t layers) {
  const std::string& head = p[0];
  if (head == "quant_conv" || head == "post_quant_conv") return JoinKeyParts(p, 0);
  if ((head != "encoder" && head != "decoder") || p.size() < 3) return std::nullopt;
  const bool enc = head == "encoder";
  const std::string& part = p[1];
  if (part == "conv_in" || part == "conv_out") return JoinKeyParts(p, 0);
  if (part == "conv_norm_out") return head + ".norm_out." + JoinKeyParts(p, 2);
  if (p.size() < 5) return std::nullopt;
  const int64_t i = KeyIndex(p[2]), j = KeyIndex(p[4]);
  if (part == "mid_block") {
    const int64_t k = KeyIndex(p[3]);
    if (p[2] == "resnets" && (k == 0 || k == 1)) {
      auto rest = VaeResnetName(p, 4);
      if (rest) return head + (k == 0 ? ".mid.block_1." : ".mid.block_2.") + *rest;
    } else if (p[2] == "attentions" && k == 0) {
      auto rest = VaeAttentionName(p, 4);
      if (rest) return head + ".mid.attn_1." + *rest;
    }
    return std::nullopt;
  }
  if (i < 0 || i >= levels || p.size() < 6) return std::nullopt;
  const std::string& kind = p[3];
  if (enc && part == "down_blocks") {
    const std::string level = "encoder.down." + std::to_string(i) + ".";
    if (kind == "resnets" && j >= 0 && j < layers) {
      auto rest = VaeResnetName(p, 5);
      if (rest) return level + "block." + std::to_string(j) + "." + *rest;
    } else if (kind == "downsamplers" && j == 0 && p[5] == "conv" && i + 1 < levels) {
      return level + "downsample." + JoinKeyParts(p, 5);
    }
  } else if (!enc && part == "up_blocks") {
    // diffusers counts up blocks from the deepest level; LDM's up.{level} by level.
    const std::string level = "decoder.up." + std::to_string(levels - 1 - i) + ".";
    if (kind == "resnets" && j >= 0 && j < layers + 1) {
      auto rest = VaeResnetName(p, 5);
      if (rest) return level + "block." + std::to_string(j) + "." + *rest;
    } else if (kind == "upsamplers" && j == 0 && p[5] == "conv" && i + 1 < levels) {
      return level + "upsample." + JoinKeyParts(p, 5);
    }
  }
  return std::nullopt;
}

}  // namespace

StateDict UnetDiffusersToLdm(const StateDict& diffusers_unet, const json& unet_config) {
  const UnetLayout layout = ReadUnetLayout(unet_config);
  Renamer renamer("UNet");
  for (const auto& [key, tensor] : diffusers_unet) {
    renamer.Put(key, UnetKey(Split(key), layout), tensor);
  }
  return renamer.Finish();
}

StateDict VaeDiffusersToLdm(const StateDict& diffusers_vae, const json& vae_config) {
  auto channels = vae_config.find("block_out_channels");
  if (channels == vae_config.end() || !channels->is_array() || channels->empty()) {
    throw Error(Code::kInvalidArgument,
                "VAE config.json has no list 'block_out_channels', needed to map its weights");
  }
  const auto levels = static_cast<int64_t>(channels->size());
  const int64_t layers = ConfigInt(vae_config, "layers_per_block", 2);
  Renamer renamer("VAE");
  for (const auto& [key, tensor] : diffusers_vae) {
    const Parts parts = Split(key);
    std::optional<std::string> name = VaeKey(parts, levels, layers);
    torch::Tensor value = tensor;
    // Linear-shaped attention projections [C, C] -> 1x1 conv [C, C, 1, 1].
    if (name && name->find(".mid.attn_1.") != std::string::npos && tensor.dim() == 2) {
      value = tensor.reshape({tensor.size(0), tensor.size(1), 1, 1});
    }
    renamer.Put(key, name, value);
  }
  return renamer.Finish();
}

HeadRule UnetHeadRuleFromDiffusers(const json& unet_config) {
  auto heads = unet_config.find("num_attention_heads");
  const char* name = "num_attention_heads";
  if (heads == unet_config.end() || heads->is_null()) {
    heads = unet_config.find("attention_head_dim");
    name = "attention_head_dim";
  }
  if (heads == unet_config.end() || heads->is_null()) {
    throw Error(Code::kInvalidArgument,
                "UNet config.json has neither 'num_attention_heads' nor 'attention_head_dim'");
  }
  if (heads->is_array()) {
    std::vector<int64_t> per_level;
    for (const auto& v : *heads) {
      if (!v.is_number_integer() || v.get<int64_t>() <= 0) {
        throw Error(Code::kInvalidArgument,
                    std::string("UNet config.json '") + name + "' holds a non-positive value");
      }
      per_level.push_back(v.get<int64_t>());
    }
    return HeadRule::PerLevelHeads(std::move(per_level));
  }
  if (!heads->is_number_integer() || heads->get<int64_t>() <= 0) {
    throw Error(Code::kInvalidArgument,
                std::string("UNet config.json '") + name + "' should be a positive integer");
  }
  return HeadRule::Heads(heads->get<int64_t>());
}

std::string JoinKeyParts(const std::vector<std::string>& parts, size_t from) {
  std::string out;
  for (size_t i = from; i < parts.size(); ++i) out += (i > from ? "." : "") + parts[i];
  return out;
}

int64_t KeyIndex(const std::string& s) {
  if (s.empty() || s.size() > 9) return -1;
  int64_t v = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return -1;
    v = v * 10 + (ch - '0');
  }
  return v;
}

}  // namespace easel::engine
