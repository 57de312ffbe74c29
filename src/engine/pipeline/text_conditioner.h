// TextConditioner: prompts -> Conditioning for the loaded model's family. Owns the tokenizer
// and text encoder(s); parses A1111 prompt syntax (emphasis, BREAK, 75-token chunks; extra
// network tags such as <lora:...> are removed, applying them is the LoRA layer's job) and
// puts textual-inversion embeddings in place (ConditionParams::embeddings_dir).
//
// SD1.x / SD2.x: one CLIP text encoder, context only (clip skip applies).
// SDXL base: context = CLIP-L ++ OpenCLIP-bigG penultimate hidden states (no final norm) ->
//   [1, 77K, 2048]; y = bigG pooled (first chunk, text_projection) ++ sinusoidal embeddings
//   of (height, width) original, (crop_top, crop_left), (height, width) target -> 2816.
// SDXL refiner: context = bigG penultimate [1, 77K, 1280]; y = pooled ++ embeddings of
//   (height, width), (crop_top, crop_left), aesthetic score -> 2560.
// References: sgm GeneralConditioner / ComfyUI comfy/sdxl_clip.py + model_base.py
// (SDXL.encode_adm, SDXLRefiner.encode_adm) / A1111 modules/sd_models_xl.py. Where they
// differ we follow A1111: (1) an empty negative prompt is all zeros, context and pooled
// (force_zero_embeddings; ComfyUI encodes ""), the size part of y stays; (2) clip skip is
// ignored on SDXL, which always uses the penultimate layer (A1111 without its
// sdxl_clip_l_skip option; ComfyUI's default CLIPSetLastLayer -2 is the same); (3) emphasis
// is A1111's "Original", per encoder. The per-value embedding width (256 in real models) is
// (adm_in_channels - pooled width) / 6 (base) or / 5 (refiner).
// Thread-safety: one caller at a time (it owns the encoders' device memory).
#pragma once

#include <torch/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/model_files.h"
#include "engine/pipeline/conditioning.h"
#include "util/status.h"

namespace torch::nn {
class Module;
}

namespace easel::engine {

class TextConditioner {
 public:
  // Builds the encoder(s) from `files` (their text-encoder tensors are released) on `device`
  // in `dtype`. Fails with kCorrupt when weights and tokenizer disagree, kInvalidArgument when
  // an SDXL UNet's label_emb width does not fit the pooled width.
  static Result<std::unique_ptr<TextConditioner>> Load(ModelFiles& files, torch::Device device,
                                                       torch::ScalarType dtype);
  ~TextConditioner();

  // The prompt's and the negative prompt's conditioning, their contexts padded to the same
  // number of 77-token chunks. Runs without autograd; tensors on the encoders' device.
  // Fails with kNotFound for `embedding:name` without such a file (or a missing
  // embeddings_dir), kUnsupported for a pickled embedding, kInvalidArgument for an embedding
  // of another width.
  Result<std::pair<Conditioning, Conditioning>> Encode(const std::string& prompt,
                                                       const std::string& negative,
                                                       const ConditionParams& params);

  // The text encoders LoRAs patch: the first (CLIP-L for SD1/SDXL, OpenCLIP-H for SD2;
  // nullptr for the SDXL refiner) and, for SDXL, the second (OpenCLIP-bigG; nullptr
  // otherwise).
  torch::nn::Module* text_encoder();
  torch::nn::Module* text_encoder2();

  // Replay the encoders' forwards from CUDA graphs (graph_cache.h) when on a CUDA device:
  // a forward is ~340 small kernels, host-bound when run eagerly. Off by default; the
  // pipeline follows its SpeedOptions::cuda_graphs.
  void SetCudaGraphs(bool enabled);

 private:
  struct Impl;
  explicit TextConditioner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// SDXL's size/crop/score embedding: each value -> [cos(v * f_i), sin(v * f_i)], f_i =
// 10000^(-i / (dim / 2)), i < dim / 2 (LDM timestep_embedding, diffusers
// get_timestep_embedding with flip_sin_to_cos), concatenated -> [1, values * dim] float32.
torch::Tensor SdxlSizeEmbedding(const std::vector<double>& values, int64_t dim);

}  // namespace easel::engine
