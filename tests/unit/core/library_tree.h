// Generated model trees for the library tests: real safetensors headers of every family and
// kind (zero-filled sparse data, so real shapes cost no disk), laid out as ComfyUI and A1111
// installs, with sidecars of each format and corrupt files.
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "unit/engine/detect_synthetic.h"

namespace easel::testing {

inline void WriteText(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// A safetensors file with names/shapes and optional __metadata__ (written by hand so the
// metadata goes in too; data is a zero-filled hole).
inline void WriteModel(const std::string& path, const TensorShapes& tensors,
                       const std::map<std::string, std::string>& metadata = {}) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  nlohmann::json header = nlohmann::json::object();
  uint64_t offset = 0;
  for (const auto& [name, shape] : tensors) {
    uint64_t n = 2;
    for (int64_t d : shape) n *= static_cast<uint64_t>(d);
    header[name] = {{"dtype", "F16"}, {"shape", shape}, {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string text = header.dump();
  while (text.size() % 8) text += ' ';
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    uint64_t len = text.size();
    char le[8];
    for (int i = 0; i < 8; ++i) le[i] = static_cast<char>((len >> (8 * i)) & 0xFF);
    out.write(le, 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
  }
  std::filesystem::resize_file(path, 8 + text.size() + offset);
}

// ---- kinds beyond detect_synthetic.h --------------------------------------------------

// kohya LoRA: attn2.to_k down matrix [rank, context] decides the family.
inline TensorShapes KohyaLora(int64_t context, bool te2 = false, int64_t rank = 4) {
  const std::string k = "lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k";
  TensorShapes t = {{k + ".lora_down.weight", {rank, context}},
                    {k + ".lora_up.weight", {640, rank}},
                    {k + ".alpha", {}},
                    {"lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", {rank, 768}}};
  if (te2)
    t.push_back({"lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", {rank, 1280}});
  return t;
}
inline TensorShapes LohaLora(int64_t context) {
  const std::string k = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k";
  return {{k + ".hada_w1_a", {320, 4}},
          {k + ".hada_w1_b", {4, context}},
          {k + ".hada_w2_a", {320, 4}},
          {k + ".hada_w2_b", {4, context}}};
}
inline TensorShapes FluxLora() {
  return {{"lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight", {16, 3072}},
          {"lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight", {9216, 16}}};
}
inline TensorShapes PeftLora(int64_t context) {
  return {
      {"unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.lora_A.weight",
       {4, context}},
      {"unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.lora_B.weight", {320, 4}}};
}
inline TensorShapes Embedding(int64_t width) {
  return {{"emb_params", {2, width}}};
}
inline TensorShapes SdxlEmbedding() {
  return {{"clip_l", {2, 768}}, {"clip_g", {2, 1280}}};
}
inline TensorShapes ControlNet(int64_t context) {
  return {
      {"control_model.input_hint_block.0.weight", {16, 3, 3, 3}},
      {"control_model.zero_convs.0.0.weight", {320, 320, 1, 1}},
      {"control_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", {320, context}}};
}
inline TensorShapes Esrgan() {
  return {{"conv_first.weight", {64, 3, 3, 3}},
          {"body.0.rdb1.conv1.weight", {32, 64, 3, 3}},
          {"conv_last.weight", {3, 64, 3, 3}}};
}
inline TensorShapes T5Encoder() {
  return {{"encoder.block.0.layer.0.SelfAttention.q.weight", {4096, 4096}},
          {"shared.weight", {32128, 4096}}};
}

// kohya training metadata with a tag frequency table.
inline std::map<std::string, std::string> KohyaMetadata(const std::string& base,
                                                        const nlohmann::json& tag_freq) {
  return {{"ss_base_model_version", base},
          {"ss_network_module", "networks.lora"},
          {"ss_output_name", "trained_output"},
          {"ss_tag_frequency", tag_freq.dump()}};
}

}  // namespace easel::testing
