// Shared by the img2img and inpainting golden tests: run a request built from a golden's
// metadata (tools/make_edit_goldens.py) and compare every stage with the reference.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "engine/pipeline/image_ops.h"
#include "engine/pipeline/sd_pipeline.h"
#include "io/png.h"
#include "io/safetensors.h"
#include "nets_golden_util.h"

namespace easel::engine::testing {

// One loaded pipeline per fixture model path for the test binary.
inline SdPipeline& EditPipeline(const std::string& model) {
  static std::map<std::string, std::unique_ptr<SdPipeline>> cache;
  auto it = cache.find(model);
  if (it == cache.end()) {
    // Single files of the tiny fixtures need their text encoder's head count (2).
    ModelFileOptions options;
    if (model.size() > 12 && model.substr(model.size() - 12) == ".safetensors")
      options.text_heads = 2;
    auto p = SdPipeline::Load(Fixture(model), "", "cpu", "fp32", "", options);
    if (!p.ok()) throw Error(p.status());
    it = cache.emplace(model, std::move(p).ValueOrThrow()).first;
  }
  return *it->second;
}

struct EditGolden {
  StateDict tensors;
  std::map<std::string, std::string> meta;
  GenerateRequest request;
};

inline EditGolden LoadEditGolden(const std::string& name) {
  auto file = io::SafetensorsFile::Open(Fixture("golden/" + name)).ValueOrThrow();
  EditGolden g;
  g.meta = file->metadata();
  g.tensors = LoadSafetensors(file);
  auto at = [&](const char* k) { return g.meta.at(k); };
  GenerateRequest& r = g.request;
  r.model_path = Fixture(at("model"));
  r.prompt = at("prompt");
  r.negative_prompt = at("negative");
  r.steps = std::stoi(at("steps"));
  r.cfg_scale = std::stod(at("cfg"));
  r.seed = std::stoll(at("seed"));
  r.sampler = at("sampler");
  r.scheduler = at("scheduler");
  r.width = std::stoi(at("width"));
  r.height = std::stoi(at("height"));
  r.init_image = Fixture("golden/" + at("init_image"));
  r.denoising_strength = std::stod(at("denoising_strength"));
  if (g.meta.count("mask")) {
    r.mask = Fixture("golden/" + at("mask"));
    r.mask_blur = std::stoi(at("mask_blur"));
    r.inpainting_fill = std::stoi(at("inpainting_fill"));
  }
  return g;
}

// Tolerances (float32 on both sides; the reference is PyTorch 2.x with SDPA, we are
// libtorch 1.13 with explicit attention, so only the order of float operations differs):
//  - init latent (VAE encoder, 64x64): 1e-5 of its scale.
//  - final latent: 1e-4 of the latent scale, as the txt2img goldens: CFG 7 amplifies per-step
//    op-order differences 7x over 4 steps on a random tiny UNet whose latents reach ~25; any
//    real bug (a wrong start sigma, step count, mask or concat) moves them by O(1).
//  - decode of the reference latent: 1e-4 absolute on [-1, 1] pixels (VAE stage alone).
//  - the PNG bytes of the whole Generate() (our latent, decode, paste-back) against the
//    reference image quantised the same way: at most 2 levels of 255 (latent error ~3e-3
//    through the decoder, then truncation to 8 bits can flip one level).
inline void CheckEditGolden(const std::string& name) {
  EditGolden g = LoadEditGolden(name);
  SdPipeline& pipe = EditPipeline(g.meta.at("model"));
  const auto& t = g.tensors;

  if (g.request.inpainting_fill == 1) {  // the golden's init_latent is after the fill
    const io::Image png = io::ReadPng(g.request.init_image).ValueOrThrow();
    const torch::Tensor init = pipe.EncodeImages(ImageToTensor(png)).ValueOrThrow();
    const ErrorStats e = Compare(init, t.at("init_latent"));
    EXPECT_LT(e.max_abs, 1e-5 * std::max(1.0, e.ref_scale))
        << name << ": init latent " << e.max_abs;
  }

  torch::Tensor latent = pipe.SampleLatents(g.request).ValueOrThrow();
  const ErrorStats lat = Compare(latent, t.at("latent"));
  EXPECT_LT(lat.max_abs, 1e-4 * std::max(1.0, lat.ref_scale))
      << name << ": latent max abs error " << lat.max_abs << " at scale " << lat.ref_scale;

  torch::Tensor decoded = pipe.DecodeLatents(t.at("latent")).ValueOrThrow();
  const ErrorStats dec = Compare(decoded, t.at("decoded"));
  EXPECT_LT(dec.max_abs, 1e-4) << name << ": decode max abs error " << dec.max_abs;

  auto images = pipe.Generate(g.request).ValueOrThrow();
  ASSERT_EQ(images.size(), 1u);
  const torch::Tensor ref_bytes = ((t.at("image")[0] + 1.0) / 2.0)
                                      .clamp(0.0, 1.0)
                                      .mul(255.0)
                                      .to(torch::kUInt8)
                                      .permute({1, 2, 0})
                                      .to(torch::kInt32);
  const torch::Tensor got_bytes =
      torch::from_blob(images[0].rgb.data(), {images[0].height, images[0].width, 3}, torch::kUInt8)
          .to(torch::kInt32);
  ASSERT_EQ(got_bytes.sizes(), ref_bytes.sizes());
  const int64_t levels = (got_bytes - ref_bytes).abs().max().item<int64_t>();
  EXPECT_LE(levels, 2) << name << ": PNG bytes differ by " << levels << " levels";
  std::printf("  %s: latent %.2e (scale %.1f), decode %.2e, png levels %lld\n", name.c_str(),
              lat.max_abs, lat.ref_scale, dec.max_abs, static_cast<long long>(levels));
}

}  // namespace easel::engine::testing
