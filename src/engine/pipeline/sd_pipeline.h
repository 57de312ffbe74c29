// SdPipeline: a loaded SD1.x/SD2.x model (tokenizer, text encoder, UNet, VAE, noise
// schedule) and generation with it.
//
// Load() reads a checkpoint (single file or diffusers folder, optional VAE override), detects
// the family from the weights, and places the modules on the requested device and dtype.
// Generate() (= Txt2Img()) runs one request: prompt parsing (A1111 syntax), CFG sampling with
// the chosen sampler/scheduler from ComfyUI-seeded noise, VAE decode. Image i of a batch uses
// seed+i and equals the single image generated with that seed. With an init image it is
// img2img / inpainting / outpainting (edit_input.h, img2img.h): the init image is encoded to
// the VAE's posterior MEAN (deterministic, ComfyUI's choice; SD VAEs' posterior std is ~1e-3
// of the latent scale, so A1111's sample differs by little more than noise), noised to the
// strength's sigma with the request's seed, and masked requests keep the unmasked latent at
// every step (MaskedDenoiser); 9-channel inpainting UNets also get mask ++ masked-image latent.
// The hires fix adds an upscale and a second img2img pass; a refiner checkpoint
// (request.refiner_checkpoint, loaded on first use and kept) takes over the first pass at
// step round(switch_at * steps) with its own conditioning, the noise sampler continuing.
// VAE calls tile (vae_tiled.h) when request.vae_tiling says so or, for "auto", when the
// untiled decode would not fit in the device's free memory.
//
// Thread-safety: one caller at a time per pipeline (it owns the modules' device memory).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/model_files.h"
#include "engine/pipeline/conditioning.h"
#include "engine/pipeline/request.h"
#include "io/infotext.h"
#include "util/status.h"

namespace easel::engine {

struct EditInput;  // edit_input.h

struct GeneratedImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // height * width * 3, row-major
  int64_t seed = 0;
};

struct Progress {
  int step = 0;  // 1-based, steps completed
  int total = 0;
  double seconds_per_step = 0;  // mean so far
  torch::Tensor denoised;       // the step's x0 prediction [N, 4, h, w] (for previews)
};
// Return false to cancel: Txt2Img then fails with kCancelled.
using ProgressFn = std::function<bool(const Progress&)>;

struct ModelInfo {
  std::string family;      // "SD1.x", "SD2.x"
  std::string prediction;  // "eps" | "v"
  std::string name;        // file stem or folder name, as A1111's "Model:"
  std::string path;
  std::string vae_name;  // empty when the checkpoint's own VAE is used
  std::string vae_path;
};

// GPU speed switches (ignored on the CPU). Defaults are the fastest measured setting on an
// H100 (docs/gpu.md); EASEL_CUDA_GRAPHS=0 in the environment turns graphs off at Load.
struct SpeedOptions {
  bool cuda_graphs = true;    // replay a captured CUDA graph per UNet step (unet_runner.h)
  bool channels_last = true;  // UNet convolution weights in NHWC (cuDNN's fast layout)
  // cuDNN picks convolution algorithms by timing them on first use of each shape (a process-
  // wide LibTorch setting: it stays on for every model once one pipeline sets it).
  bool cudnn_benchmark = false;
};

class SdPipeline {
 public:
  // device: "cpu", "cuda", "cuda:N"; dtype: fp32 | fp16 | bf16; prediction: "" (detect), eps, v.
  static Result<std::unique_ptr<SdPipeline>> Load(const std::string& model_path,
                                                  const std::string& vae_path,
                                                  const std::string& device,
                                                  const std::string& dtype,
                                                  const std::string& prediction = "",
                                                  const ModelFileOptions& options = {});
  ~SdPipeline();

  const ModelInfo& info() const;
  // Applies GPU speed switches to the loaded modules (and to a refiner loaded later).
  void SetSpeedOptions(const SpeedOptions& options);
  const SpeedOptions& speed_options() const;
  // Things the last Txt2Img/SampleLatents call wants the user to know that did not stop it
  // (LoRA keys that match nothing in this model, ...). One line each.
  const std::vector<std::string>& warnings() const;

  // `request.seed` must be resolved (>= 0). Model, VAE, device and dtype fields are ignored:
  // they were fixed by Load().
  Result<std::vector<GeneratedImage>> Generate(const GenerateRequest& request,
                                               const ProgressFn& progress = nullptr);
  // The same call (its historical name).
  Result<std::vector<GeneratedImage>> Txt2Img(const GenerateRequest& request,
                                              const ProgressFn& progress = nullptr);

  // The stages of Txt2Img, for tests and callers that want latents:
  // the conditioning of a prompt and its negative (contexts [1, 77k, D] padded to the same
  // chunk count; extra network tags such as <lora:...> are removed first: applying them is
  // SampleLatents' job) ...
  Result<std::pair<Conditioning, Conditioning>> EncodePrompts(const std::string& prompt,
                                                              const std::string& negative,
                                                              const ConditionParams& params);
  // ... the sampled latents [batch, 4, H/8, W/8] (in the UNet's scaled units, float32, on
  // the CPU; H, W the sampling size: hires and outpainting included, "only masked" the crop),
  // with the request's LoRAs (flags and prompt tags) applied for this call and removed
  // after it ...
  Result<torch::Tensor> SampleLatents(const GenerateRequest& request,
                                      const ProgressFn& progress = nullptr);
  // ... and their decode [N, 3, H, W] in [-1, 1] (clamped, float32, on the CPU);
  // vae_tiling: auto | on | off.
  Result<torch::Tensor> DecodeLatents(const torch::Tensor& latents,
                                      const std::string& vae_tiling = "auto");
  // images [N, 3, H, W] in [-1, 1] (H, W multiples of 8) -> posterior means times the
  // scaling factor [N, 4, H/8, W/8] (float32, CPU): the latents SampleLatents works in.
  Result<torch::Tensor> EncodeImages(const torch::Tensor& images,
                                     const std::string& vae_tiling = "auto");

 private:
  struct Impl;
  explicit SdPipeline(std::unique_ptr<Impl> impl);
  // The sampling of Generate/SampleLatents; `edit` is the prepared init image (null for
  // text-to-image). Throws easel::Error.
  torch::Tensor SampleWith(const GenerateRequest& request, const EditInput* edit,
                           const ProgressFn& progress);
  std::unique_ptr<Impl> impl_;
};

// A1111's infotext for image `seed` of `request` (model hash given as AutoV2, may be empty).
io::Infotext MakeInfotext(const GenerateRequest& request, const ModelInfo& model,
                          const std::string& model_hash, int64_t seed);

}  // namespace easel::engine
