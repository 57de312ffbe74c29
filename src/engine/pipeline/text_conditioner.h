// TextConditioner: prompts -> Conditioning for the loaded model's family. Owns the tokenizer
// and text encoder(s); parses A1111 prompt syntax (emphasis, BREAK, 75-token chunks; extra
// network tags such as <lora:...> are removed, applying them is the LoRA layer's job).
//
// SD1.x / SD2.x: one CLIP text encoder, context only.
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
  // in `dtype`. Fails with kCorrupt when weights and tokenizer disagree.
  static Result<std::unique_ptr<TextConditioner>> Load(ModelFiles& files, torch::Device device,
                                                       torch::ScalarType dtype);
  ~TextConditioner();

  // The prompt's and the negative prompt's conditioning, their contexts padded to the same
  // number of 77-token chunks. Runs without autograd; tensors on the encoders' device.
  Result<std::pair<Conditioning, Conditioning>> Encode(const std::string& prompt,
                                                       const std::string& negative,
                                                       const ConditionParams& params);

  // The text encoders LoRAs patch: the first (CLIP-L for SD1/SDXL, OpenCLIP-H for SD2) and,
  // for SDXL, the second (OpenCLIP-bigG; nullptr otherwise).
  torch::nn::Module* text_encoder();
  torch::nn::Module* text_encoder2();

 private:
  struct Impl;
  explicit TextConditioner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace easel::engine
