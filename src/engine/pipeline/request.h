// GenerateRequest: everything one text-to-image job needs, validated once into typed values.
//
// The CLI (and later the server) fills a request from its flags or JSON; Validate() is the
// one place limits live, and its messages name the field, the value and the accepted range.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/status.h"

namespace easel::engine {

// A LoRA to apply for one request: a file path, or a name looked up in loras_dir.
struct LoraRequest {
  std::string name_or_path;
  double unet_weight = 1.0;
  double text_encoder_weight = 1.0;
};

struct GenerateRequest {
  std::string model_path;  // single-file checkpoint or diffusers folder
  std::string vae_path;    // optional VAE overriding the checkpoint's
  std::string prompt;
  std::string negative_prompt;
  int steps = 20;
  double cfg_scale = 7.0;
  std::string sampler = "euler";     // ComfyUI or A1111 name
  std::string scheduler = "normal";  // ComfyUI or A1111 name
  int64_t seed = -1;                 // -1: pick a random seed (recorded in the output)
  int width = 512;
  int height = 512;
  int batch = 1;               // images; image i uses seed + i
  int clip_skip = 1;           // 1 = last text-encoder layer
  std::string device = "cpu";  // cpu | cuda | cuda:N
  std::string dtype = "fp32";  // fp32 | fp16 | bf16
  std::string prediction;      // "" (detect) | eps | v
  int text_heads = 0;          // 0: the released models' rule (64 channels per head)
  // LoRAs from flags; `<lora:name:weight>` tags in the prompt add to these. Names resolve to
  // <loras_dir>/<name>.safetensors.
  std::vector<LoraRequest> loras;
  std::string loras_dir;
};

// Parses "NAME_OR_PATH[:WEIGHT]" or A1111's order "NAME_OR_PATH:TE_WEIGHT:UNET_WEIGHT".
Result<LoraRequest> ParseLoraFlag(const std::string& flag);

// Limits: sizes 64..4096 in steps of 8, width*height <= 4096*4096, steps 1..500, batch 1..64,
// cfg 0..100, clip skip 1..12, seed -1 or 0..2^63-1. Names of samplers and schedulers are
// checked by the sampling layer.
Status Validate(const GenerateRequest& request);

}  // namespace easel::engine
