// LoRA target-name resolution: see lora_names.h.
#include "engine/adapt/lora_names.h"

#include <algorithm>
#include <set>

#include "engine/nets/ldm_convert.h"

namespace easel::engine {
namespace {

std::vector<std::string> Split(const std::string& key) {
  std::vector<std::string> parts;
  std::string::size_type start = 0;
  while (true) {
    const auto dot = key.find('.', start);
    parts.push_back(key.substr(start, dot - start));
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

std::string Underscored(std::string name) {
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

// LDM ResBlock child (in_layers.0 ...) -> diffusers resnet child (norm1 ...).
std::optional<std::string> ResnetChild(const std::vector<std::string>& p, size_t from) {
  if (from >= p.size()) return std::nullopt;
  const std::string head = p[from] + (from + 1 < p.size() ? "." + p[from + 1] : "");
  static const std::map<std::string, std::string> kTwo = {{"in_layers.0", "norm1"},
                                                          {"in_layers.2", "conv1"},
                                                          {"emb_layers.1", "time_emb_proj"},
                                                          {"out_layers.0", "norm2"},
                                                          {"out_layers.3", "conv2"}};
  auto it = kTwo.find(head);
  if (it != kTwo.end()) {
    const std::string rest = JoinKeyParts(p, from + 2);
    return it->second + (rest.empty() ? "" : "." + rest);
  }
  if (p[from] == "skip_connection") {
    const std::string rest = JoinKeyParts(p, from + 1);
    return "conv_shortcut" + (rest.empty() ? "" : "." + rest);
  }
  return std::nullopt;
}

std::string With(const std::string& head, const std::string& rest) {
  return rest.empty() ? head : head + "." + rest;
}

}  // namespace

std::vector<int64_t> UnetResBlocksFromKeys(const StateDict& ldm_unet) {
  int64_t last = 0;
  std::set<int64_t> ops;
  const std::string prefix = "input_blocks.";
  for (const auto& [key, tensor] : ldm_unet) {
    if (key.compare(0, prefix.size(), prefix) != 0) continue;
    const auto p = Split(key);
    const int64_t k = KeyIndex(p[1]);
    if (k < 0) continue;
    last = std::max(last, k);
    if (p.size() > 3 && p[2] == "0" && p[3] == "op") ops.insert(k);
  }
  if (last == 0) return {};
  std::vector<int64_t> out;
  int64_t start = 1;
  for (int64_t op : ops) {
    out.push_back(op - start);
    start = op + 1;
  }
  out.push_back(last - start + 1);
  return out;
}

std::optional<std::string> UnetLdmToDiffusersModule(const std::string& ldm_module,
                                                    const std::vector<int64_t>& res_blocks) {
  const auto p = Split(ldm_module);
  const std::string& head = p[0];
  if (head == "time_embed" && p.size() >= 2) {
    if (p[1] == "0") return With("time_embedding.linear_1", JoinKeyParts(p, 2));
    if (p[1] == "2") return With("time_embedding.linear_2", JoinKeyParts(p, 2));
    return std::nullopt;
  }
  if (head == "label_emb" && p.size() >= 3 && p[1] == "0") {
    if (p[2] == "0") return With("add_embedding.linear_1", JoinKeyParts(p, 3));
    if (p[2] == "2") return With("add_embedding.linear_2", JoinKeyParts(p, 3));
    return std::nullopt;
  }
  if (head == "out" && p.size() >= 2) {
    if (p[1] == "0") return With("conv_norm_out", JoinKeyParts(p, 2));
    if (p[1] == "2") return With("conv_out", JoinKeyParts(p, 2));
    return std::nullopt;
  }
  if (head == "middle_block" && p.size() >= 3) {
    if (p[1] == "1") return With("mid_block.attentions.0", JoinKeyParts(p, 2));
    if (p[1] != "0" && p[1] != "2") return std::nullopt;
    auto child = ResnetChild(p, 2);
    if (!child) return std::nullopt;
    return std::string("mid_block.resnets.") + (p[1] == "0" ? "0." : "1.") + *child;
  }
  if (head == "input_blocks" && p.size() >= 3 && p[1] == "0" && p[2] == "0")
    return With("conv_in", JoinKeyParts(p, 3));
  if (p.size() < 4 || res_blocks.empty()) return std::nullopt;
  const int64_t k = KeyIndex(p[1]);
  const std::string& slot = p[2];
  const int64_t levels = static_cast<int64_t>(res_blocks.size());
  if (head == "input_blocks" && k >= 0) {
    if (k == 0)
      return slot == "0" ? std::optional(With("conv_in", JoinKeyParts(p, 3))) : std::nullopt;
    int64_t base = 1;
    for (int64_t level = 0; level < levels; ++level) {
      const int64_t n = res_blocks[level];
      if (k < base + n) {
        const std::string at = "down_blocks." + std::to_string(level);
        const std::string j = std::to_string(k - base);
        if (slot == "1") return With(at + ".attentions." + j, JoinKeyParts(p, 3));
        if (slot != "0") return std::nullopt;
        auto child = ResnetChild(p, 3);
        if (!child) return std::nullopt;
        return at + ".resnets." + j + "." + *child;
      }
      if (k == base + n) {
        if (slot != "0" || p[3] != "op" || level + 1 == levels) return std::nullopt;
        return With("down_blocks." + std::to_string(level) + ".downsamplers.0.conv",
                    JoinKeyParts(p, 4));
      }
      base += n + 1;
    }
    return std::nullopt;
  }
  if (head == "output_blocks" && k >= 0) {
    int64_t base = 0;
    for (int64_t u = 0; u < levels; ++u) {
      const int64_t n = res_blocks[levels - 1 - u] + 1;
      if (k >= base + n) {
        base += n;
        continue;
      }
      const std::string at = "up_blocks." + std::to_string(u);
      const std::string j = std::to_string(k - base);
      if (slot == "0") {
        auto child = ResnetChild(p, 3);
        if (!child) return std::nullopt;
        return at + ".resnets." + j + "." + *child;
      }
      // The Upsample is the last child of a level's last block; its only child is "conv".
      if (p[3] == "conv") {
        if (k != base + n - 1 || u + 1 == levels) return std::nullopt;
        return With(at + ".upsamplers.0.conv", JoinKeyParts(p, 4));
      }
      if (slot == "1") return With(at + ".attentions." + j, JoinKeyParts(p, 3));
      return std::nullopt;
    }
  }
  return std::nullopt;
}

ModuleNameMap::ModuleNameMap(const StateDict& model, const std::string& model_prefix,
                             bool unet_diffusers) {
  const std::vector<int64_t> res_blocks =
      unet_diffusers ? UnetResBlocksFromKeys(model) : std::vector<int64_t>{};
  auto add = [this](const std::string& name, const std::string& module) {
    dotted_.emplace(name, module);
    auto [it, inserted] = underscored_.emplace(Underscored(name), module);
    if (!inserted && it->second != module) it->second.clear();  // ambiguous: never guessed
  };
  const std::string suffix = ".weight";
  for (const auto& [key, tensor] : model) {
    if (key.size() <= suffix.size() ||
        key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    const std::string module = key.substr(0, key.size() - suffix.size());
    add(model_prefix + module, module);
    if (!model_prefix.empty()) add(module, module);
    if (unet_diffusers) {
      if (auto d = UnetLdmToDiffusersModule(module, res_blocks)) add(*d, module);
    }
  }
}

std::optional<std::string> ModuleNameMap::FromDotted(const std::string& name) const {
  auto it = dotted_.find(name);
  if (it == dotted_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> ModuleNameMap::FromUnderscored(const std::string& name) const {
  auto it = underscored_.find(name);
  if (it == underscored_.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

}  // namespace easel::engine
