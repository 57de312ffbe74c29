// Synthetic model files for detection and loader tests: valid safetensors files whose tensors
// are all zeros and whose data section is a hole (sparse), so real-size shapes (a [49408, 768]
// embedding, a [9216, 3072] Flux projection) cost no disk. Only names and shapes matter to
// detection. Each Make* function returns the names and shapes of one kind of file, with the
// few keys per component that detection looks at.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "io/safetensors.h"

namespace easel::testing {

using TensorShapes = std::vector<std::pair<std::string, std::vector<int64_t>>>;

// A fresh directory under gtest's temp dir, removed first if it exists.
inline std::string FreshTempDir(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / ("easel_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

inline void WriteZeroSafetensors(const std::string& path, const TensorShapes& tensors,
                                 const char* dtype = "F16", size_t elem_size = 2) {
  nlohmann::json header = nlohmann::json::object();
  uint64_t offset = 0;
  for (const auto& [name, shape] : tensors) {
    uint64_t n = elem_size;
    for (int64_t d : shape) n *= static_cast<uint64_t>(d);
    header[name] = {{"dtype", dtype}, {"shape", shape}, {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
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
  std::filesystem::resize_file(path, 8 + text.size() + offset);  // zero-filled hole
}

// ---- the keys detection reads, per kind of file ------------------------------------------

inline void Append(TensorShapes* to, const TensorShapes& more) {
  to->insert(to->end(), more.begin(), more.end());
}

// An LDM UNet (SD1/SD2/SDXL layout) under `prefix`. linear: SD2/SDXL proj_in.
inline TensorShapes LdmUnet(const std::string& prefix, int64_t in_channels, int64_t context,
                            bool linear, int64_t adm = 0) {
  TensorShapes t = {
      {prefix + "input_blocks.0.0.weight", {320, in_channels, 3, 3}},
      {prefix + "input_blocks.1.1.proj_in.weight",
       linear ? std::vector<int64_t>{320, 320} : std::vector<int64_t>{320, 320, 1, 1}},
      {prefix + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", {320, context}},
      {prefix + "out.2.weight", {4, 320, 3, 3}},
  };
  if (adm) t.push_back({prefix + "label_emb.0.0.weight", {1280, adm}});
  return t;
}

inline TensorShapes DiffusersUnet(int64_t context, bool linear) {
  return {{"conv_in.weight", {320, 4, 3, 3}},
          {"time_embedding.linear_1.weight", {1280, 320}},
          {"down_blocks.0.attentions.0.proj_in.weight",
           linear ? std::vector<int64_t>{320, 320} : std::vector<int64_t>{320, 320, 1, 1}},
          {"down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight", {320, context}}};
}

inline TensorShapes LdmVae(const std::string& prefix, int64_t latent = 4) {
  return {{prefix + "encoder.conv_in.weight", {128, 3, 3, 3}},
          {prefix + "decoder.conv_in.weight", {512, latent, 3, 3}},
          {prefix + "quant_conv.weight", {2 * latent, 2 * latent, 1, 1}}};
}

inline TensorShapes HfClip(const std::string& prefix, int64_t width) {
  return {{prefix + "text_model.embeddings.token_embedding.weight", {49408, width}},
          {prefix + "text_model.embeddings.position_embedding.weight", {77, width}},
          {prefix + "text_model.encoder.layers.0.layer_norm1.weight", {width}},
          {prefix + "text_model.final_layer_norm.weight", {width}}};
}

inline TensorShapes OpenClip(const std::string& prefix, int64_t width) {
  return {{prefix + "token_embedding.weight", {49408, width}},
          {prefix + "positional_embedding", {77, width}},
          {prefix + "transformer.resblocks.0.ln_1.weight", {width}},
          {prefix + "transformer.resblocks.0.attn.in_proj_weight", {3 * width, width}},
          {prefix + "ln_final.weight", {width}}};
}

inline TensorShapes Sd1Checkpoint(int64_t in_channels = 4) {
  TensorShapes t = LdmUnet("model.diffusion_model.", in_channels, 768, false);
  Append(&t, LdmVae("first_stage_model."));
  Append(&t, HfClip("cond_stage_model.transformer.", 768));
  return t;
}

inline TensorShapes Sd2Checkpoint(bool v_pred) {
  TensorShapes t = LdmUnet("model.diffusion_model.", 4, 1024, true);
  Append(&t, LdmVae("first_stage_model."));
  Append(&t, OpenClip("cond_stage_model.model.", 1024));
  if (v_pred) t.push_back({"v_pred", {0}});
  return t;
}

inline TensorShapes SdxlCheckpoint(int64_t adm = 2816) {
  TensorShapes t = LdmUnet("model.diffusion_model.", 4, 2048, true, adm);
  Append(&t, LdmVae("first_stage_model."));
  Append(&t, HfClip("conditioner.embedders.0.transformer.", 768));
  Append(&t, OpenClip("conditioner.embedders.1.model.", 1280));
  return t;
}

inline TensorShapes Sd3Checkpoint() {
  TensorShapes t = {{"model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight", {4608, 1536}},
                    {"model.diffusion_model.x_embedder.proj.weight", {1536, 16, 2, 2}}};
  Append(&t, LdmVae("first_stage_model.", 16));
  Append(&t, HfClip("text_encoders.clip_l.transformer.", 768));
  return t;
}

inline TensorShapes FluxUnetOnly() {
  return {{"double_blocks.0.img_attn.qkv.weight", {9216, 3072}},
          {"single_blocks.0.linear1.weight", {21504, 3072}},
          {"img_in.weight", {3072, 64}}};
}

}  // namespace easel::testing
