// Conditioning: what the UNet is conditioned on for one prompt, whatever the family.
//   context  [1, L, D] cross-attention tokens (L a multiple of 77; D 768 SD1, 1024 SD2,
//            2048 SDXL base = CLIP-L ++ OpenCLIP-bigG, 1280 SDXL refiner)
//   y        [1, adm_in_channels] the UNet's label_emb input (SDXL: pooled text embedding ++
//            embedded size/crop/target or aesthetic score); undefined for SD1/SD2.
#pragma once

#include <torch/types.h>

#include <string>

namespace easel::engine {

struct Conditioning {
  torch::Tensor context;
  torch::Tensor y;
};

// What a prompt's encoding depends on besides its text (SDXL's micro-conditioning).
struct ConditionParams {
  int clip_skip = 1;  // 1 = last layer
  // SDXL base: original size and target size (pixels) and crop offset; A1111 and ComfyUI use
  // the image's own size for both and crop 0, 0.
  int width = 1024;
  int height = 1024;
  int crop_top = 0;
  int crop_left = 0;
  // SDXL refiner: the aesthetic score of the prompt and of the negative prompt.
  double aesthetic_score = 6.0;
  double negative_aesthetic_score = 2.5;
  // Textual-inversion embeddings: a word of the prompt that is the stem of a file in this
  // folder (name.safetensors) is replaced by that embedding's vectors. Empty: none.
  std::string embeddings_dir;
};

}  // namespace easel::engine
