// Loading the weights and settings of an SD1.x / SD2.x / SDXL model from what users hold: a
// single-file LDM / SGM checkpoint (A1111 / ComfyUI models/checkpoints), a diffusers pipeline
// folder, plus an optional separate VAE (file or diffusers vae folder) that replaces the
// model's own (e.g. the fp16-fixed SDXL VAE).
//
// The result is one normalised form, whatever the source:
//   unet          LDM names without "model.diffusion_model." (UNet / UNetConfig load these)
//   vae           LDM names without "first_stage_model." (Vae loads these)
//   text_encoder  ClipTextModel names (HF CLIPTextModel without "text_model."); SD2's OpenCLIP
//                 weights are converted with their last layer dropped (see OpenClipToHf), so
//                 clip_skip 1 is each family's intended output for both layouts. SDXL: CLIP-L
//                 (SGM conditioner.embedders.0.transformer.*, diffusers text_encoder/);
//                 empty for the SDXL refiner.
//   text_encoder2 SDXL only: OpenCLIP-bigG in ClipTextModel names with every layer and
//                 text_projection.weight (SGM conditioner.embedders.1.model.*, the refiner's
//                 conditioner.embedders.0.model.*, diffusers text_encoder_2/).
// SDXL fine-tunes (Pony, Illustrious, NoobAI ...) are SDXL by their tensors; a `v_pred` key
// (NoobAI v-prediction files) makes them v-prediction.
// Tensors alias the files' memory mappings (zero copy; read-only) until copied into modules.
// Pickled files (.ckpt, .bin ...) are refused by the safetensors reader. Nothing is cached:
// each call reads the files again. Thread-safe (no shared state).
//
// Note on layering: the result carries library::Detection, so this engine file includes
// library/detect.h (both are built into easel_engine).
#pragma once

#include <cstdint>
#include <string>

#include "engine/nets/clip_text.h"
#include "engine/nets/unet_config.h"
#include "engine/weights.h"
#include "library/detect.h"
#include "util/status.h"

namespace easel::engine {

// The noise schedule the model was trained with (diffusers scheduler_config.json names).
struct SchedulerParams {
  double beta_start = 0.00085;
  double beta_end = 0.012;
  std::string beta_schedule = "scaled_linear";  // or "linear"
  int64_t num_train_timesteps = 1000;
  library::Prediction prediction = library::Prediction::kEps;
};

struct ModelFileOptions {
  // Attention heads of the text encoder(s) (both SDXL encoders); 0 = from the folder's
  // text_encoder*/config.json, else the rule of released models (width / 64). Tiny test
  // models need it explicitly.
  int64_t text_heads = 0;
  // Channels per attention head of an SDXL single file's UNet; 0 = the family's 64. Tiny test
  // models need it (diffusers folders say it in unet/config.json).
  int64_t unet_head_dim = 0;
};

struct ModelFiles {
  library::Detection det;
  StateDict unet;
  StateDict vae;
  StateDict text_encoder;
  StateDict text_encoder2;  // SDXL: OpenCLIP-bigG (see the file comment)

  HeadRule unet_heads;      // SD1 files: 8 heads; SD2: 64 channels; folders: config
  int64_t text_heads = 0;   // attention heads of the text encoder
  int64_t text_heads2 = 0;  // of text_encoder2
  ClipActivation clip_activation = ClipActivation::kQuickGelu;  // SD1 quick_gelu, SD2 gelu

  // The folder's tokenizer (tokenizer/vocab.json + merges.txt, or tokenizer_2/ for an SDXL
  // refiner folder); empty for single files and for folders whose tokenizer holds only its
  // configs: then the standard CLIP vocabulary (every SD1/SD2/SDXL tokenizer's) is used.
  std::string vocab_path;
  std::string merges_path;
  // Padding token id: SD1 pads with <|endoftext|> (49407), SD2 with "!" (0); folders say it
  // in tokenizer/special_tokens_map.json or tokenizer_config.json.
  int64_t pad_id = 49407;
  int64_t pad_id2 = 0;  // text_encoder2's tokenizer (SGM / diffusers tokenizer_2: "!")
  // The UNet's label_emb input width (SDXL base 2816, refiner 2560); 0 = none (SD1/SD2).
  int64_t adm_in_channels = 0;

  SchedulerParams scheduler;
  double vae_scaling_factor = 0.18215;  // SDXL 0.13025; the VAE's config.json where there is one

  // For the PNG metadata and logs.
  std::string model_path;
  std::string model_name;  // file stem or folder name: "v1-5-pruned-emaonly"
  std::string vae_path;    // empty: the model's own VAE
  std::string vae_name;    // stem of vae_path; empty with the model's own VAE

  // The CLIP configuration of text_encoder with text_heads and clip_activation.
  Result<ClipTextConfig> TextConfig() const;
  // Of text_encoder2 (gelu, text_heads2).
  Result<ClipTextConfig> TextConfig2() const;
  bool IsSdxl() const { return det.family == library::Family::kSDXL; }
  bool IsSdxlRefiner() const { return IsSdxl() && text_encoder.empty(); }
};

// Loads `model_path` (a .safetensors checkpoint or a diffusers folder) and, when vae_path is
// not empty, the VAE from it (a VAE file with or without "first_stage_model." / "vae."
// prefixes, in LDM or diffusers names; a checkpoint, whose VAE is taken; or a diffusers vae
// folder). Fails with:
//   kNotFound / kCorrupt / kIo     the reader's errors, naming the file;
//   kUnsupported                   pickled files; SD3, Flux ("detected SD3; Easel supports
//                                  SD1.x, SD2.x and SDXL for now");
//   kInvalidArgument               a component missing ("… has no text encoder; …"), a
//                                  UNet-/VAE-/text-encoder-only file given as the model, an
//                                  unknown model (with the detection evidence), a VAE that
//                                  does not fit the model.
Result<ModelFiles> LoadModelFiles(const std::string& model_path, const std::string& vae_path,
                                  const ModelFileOptions& options = {});

}  // namespace easel::engine
