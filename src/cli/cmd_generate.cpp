// easel generate: text-to-image, img2img, inpainting, outpainting and the hires fix
// in-process, no server. Writes OUT.png (A1111 "parameters"
// chunk) and OUT.json (the full request, the resolved seed and timings) per image; a batch
// writes OUT-1.png, OUT-2.png ... for images after the first. On a terminal a progress line
// shows "step i/N, s/step"; elsewhere it prints only the written paths.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "cli/zero_config.h"
#include "engine/pipeline/output.h"
#include "engine/pipeline/request.h"
#include "engine/pipeline/sd_pipeline.h"
#include "library/model_hash.h"

namespace easel::cli {
namespace {
namespace fs = std::filesystem;

std::string OutputPath(const std::string& out, int index) {
  if (index == 0) return out;
  fs::path p(out);
  return (p.parent_path() /
          (p.stem().string() + "-" + std::to_string(index) + p.extension().string()))
      .string();
}

// Fails early, before minutes of work, if the output folder cannot take files.
Status CheckOutputPath(const std::string& out) {
  fs::path p(out);
  if (p.extension() != ".png") return InvalidArgument("output '" + out + "' must end in .png");
  fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return IoError("cannot write " + out + ": folder " + dir.string() + " does not exist");
  if (fs::is_directory(p, ec)) return IoError("cannot write " + out + ": it is a folder");
  if (::access(dir.c_str(), W_OK) != 0)
    return IoError("cannot write " + out + ": folder " + dir.string() + " is not writable");
  return Status::Ok();
}

// "LEFT,RIGHT,TOP,BOTTOM" pixels.
Status ParseOutpaint(const std::string& text, std::array<int, 4>* out) {
  const Status bad = InvalidArgument("--outpaint '" + text +
                                     "': expected LEFT,RIGHT,TOP,BOTTOM pixels, e.g. 128,128,0,0");
  size_t pos = 0;
  for (size_t i = 0; i < 4; ++i) {
    const size_t comma = text.find(',', pos);
    if ((i < 3) != (comma != std::string::npos)) return bad;
    const std::string field = text.substr(pos, i < 3 ? comma - pos : std::string::npos);
    if (field.empty() || field.size() > 6 ||
        field.find_first_not_of("0123456789") != std::string::npos)
      return bad;
    (*out)[i] = std::stoi(field);
    pos = comma + 1;
  }
  return Status::Ok();
}

// A1111's masked-content names (or their numbers 0..3).
Status ParseFill(const std::string& text, int* out) {
  static const char* kNames[] = {"fill", "original", "latent-noise", "latent-nothing"};
  for (int i = 0; i < 4; ++i) {
    if (text == kNames[i] || text == std::to_string(i)) {
      *out = i;
      return Status::Ok();
    }
  }
  return InvalidArgument("--inpaint-fill '" + text +
                         "' is unknown: use original, fill, latent-noise or latent-nothing");
}

Status CheckInputFile(const char* flag, const std::string& path) {
  std::error_code ec;
  if (!path.empty() && !fs::exists(path, ec))
    return NotFound(std::string(flag) + " " + path + ": no such file");
  return Status::Ok();
}

}  // namespace

Command AddGenerate(CLI::App& app) {
  struct Opts {
    engine::GenerateRequest req;
    std::vector<std::string> loras;
    std::string outpaint, fill;
    bool mask_invert = false;
    std::string out = "easel.png";
    bool quiet = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("generate", "Generate images from a text prompt");
  auto& r = o->req;
  sub->add_option("--model,-m", r.model_path,
                  "Checkpoint (.safetensors) or diffusers folder (default: chosen from the model "
                  "library for the prompt, see --style/--quality/--explain)");
  sub->add_option("--vae", r.vae_path, "VAE file or folder overriding the checkpoint's");
  sub->add_option("--prompt,-p", r.prompt, "Prompt (A1111 syntax: (word:1.2), [word], BREAK)");
  sub->add_option("--negative,-n", r.negative_prompt, "Negative prompt");
  sub->add_option("--steps", r.steps, "Sampling steps")->capture_default_str();
  sub->add_option("--cfg", r.cfg_scale, "Classifier-free guidance scale")->capture_default_str();
  sub->add_option("--sampler", r.sampler,
                  "euler, euler_ancestral (Euler a), heun, dpmpp_2m, "
                  "dpmpp_2m_sde, dpmpp_sde, ddim, lcm")
      ->capture_default_str();
  sub->add_option("--scheduler", r.scheduler, "normal, karras, exponential, sgm_uniform, simple")
      ->capture_default_str();
  sub->add_option("--seed", r.seed, "Seed (-1: random)")->capture_default_str();
  sub->add_option("-W,--width", r.width, "Width in pixels (multiple of 8)")->capture_default_str();
  sub->add_option("-H,--height", r.height, "Height in pixels (multiple of 8)")
      ->capture_default_str();
  sub->add_option("--batch", r.batch, "Images; image i uses seed+i")->capture_default_str();
  sub->add_option("--clip-skip", r.clip_skip, "Text-encoder layers to skip from the end (1 = none)")
      ->capture_default_str();
  sub->add_option("--device", r.device, "cpu, cuda or cuda:N")->capture_default_str();
  sub->add_option("--dtype", r.dtype, "fp32, fp16 or bf16")->capture_default_str();
  sub->add_option("--prediction", r.prediction, "Override the detected prediction: eps or v");
  sub->add_option("--text-heads", r.text_heads,
                  "Attention heads of a single-file checkpoint's text encoder whose width is not "
                  "a multiple of 64 (tiny test models); 0: automatic");
  sub->add_option("--lora", o->loras,
                  "LoRA file or name (in --loras-dir) with weight: NAME[:W] or NAME:TE_W:UNET_W; "
                  "repeatable. <lora:name:w> in the prompt works too");
  sub->add_option("--loras-dir", r.loras_dir, "Folder of LoRA files named in --lora or prompts");
  sub->add_option("--embeddings-dir", r.embeddings_dir,
                  "Folder of textual-inversion embeddings named in prompts");
  // img2img, inpainting, outpainting
  sub->add_option("--init-image", r.init_image,
                  "img2img: start from this PNG, resized to -W x -H (see --resize-mode)");
  sub->add_option("--strength", r.denoising_strength,
                  "img2img denoising strength 0..1: runs int(strength*steps)+1 of the steps")
      ->capture_default_str();
  sub->add_option("--resize-mode", r.resize_mode,
                  "Init image to -W x -H: 0 just resize, 1 crop and resize, 2 resize and fill, "
                  "3 latent upscale")
      ->capture_default_str();
  sub->add_option("--mask", r.mask,
                  "Inpainting mask PNG of the init image's size: white (or opaque) = repaint");
  sub->add_option("--mask-blur", r.mask_blur, "Mask blur, pixels (Gaussian sigma)")
      ->capture_default_str();
  sub->add_flag("--inpaint-only-masked", r.inpaint_full_res,
                "Inpaint only the masked region, cropped and sampled at -W x -H");
  sub->add_option("--inpaint-padding", r.inpaint_full_res_padding,
                  "Pixels around the mask kept as context with --inpaint-only-masked")
      ->capture_default_str();
  sub->add_option("--inpaint-fill", o->fill,
                  "Masked content: original (default), fill, latent-noise, latent-nothing");
  sub->add_flag("--mask-invert", o->mask_invert, "Repaint the black part of the mask instead");
  sub->add_option("--outpaint", o->outpaint,
                  "LEFT,RIGHT,TOP,BOTTOM pixels to add around the init image and paint");
  // Hires fix
  sub->add_option("--hires-scale", r.hr_scale,
                  "Hires fix: upscale the first pass by this factor (1..4) and refine it");
  sub->add_option("--hires-steps", r.hr_second_pass_steps,
                  "Hires fix: second-pass steps (0: --steps)");
  sub->add_option("--hires-strength", r.hr_denoising_strength,
                  "Hires fix: second-pass denoising strength 0..1")
      ->capture_default_str();
  sub->add_option("--hires-upscaler", r.hr_upscaler,
                  "Hires fix: Latent, 'Latent (nearest-exact)', Lanczos, Bicubic or Nearest")
      ->capture_default_str();
  // Refiner and VAE
  sub->add_option("--refiner", r.refiner_checkpoint,
                  "Refiner checkpoint that finishes the sampling (see --refiner-switch-at)");
  sub->add_option("--refiner-switch-at", r.refiner_switch_at,
                  "Fraction of the steps after which the refiner takes over (0..1]")
      ->capture_default_str();
  sub->add_option("--vae-tiling", r.vae_tiling,
                  "Tiled VAE: auto (when the image would not fit in memory), on or off")
      ->capture_default_str();
  sub->add_option("--output,-o", o->out, "Output PNG")->capture_default_str();
  sub->add_flag("--quiet,-q", o->quiet, "No progress line");
  auto zero_config = AddZeroConfigOptions(sub);  // --style --quality --preset --explain

  return [o, zero_config, sub]() -> Status {
    engine::GenerateRequest req = o->req;
    for (const std::string& flag : o->loras) {
      auto lora = engine::ParseLoraFlag(flag);
      if (!lora.ok()) return lora.status();
      req.loras.push_back(*lora);
    }
    if (!o->outpaint.empty()) EASEL_RETURN_IF_ERROR(ParseOutpaint(o->outpaint, &req.outpaint));
    if (!o->fill.empty()) EASEL_RETURN_IF_ERROR(ParseFill(o->fill, &req.inpainting_fill));
    if (o->mask_invert) req.inpainting_mask_invert = 1;
    req.enable_hr = sub->count("--hires-scale") + sub->count("--hires-steps") +
                        sub->count("--hires-strength") + sub->count("--hires-upscaler") >
                    0;
    EASEL_RETURN_IF_ERROR(ApplyZeroConfig(*zero_config, *sub, &req));  // no --model: choose
    EASEL_RETURN_IF_ERROR(engine::Validate(req));
    EASEL_RETURN_IF_ERROR(CheckOutputPath(o->out));
    EASEL_RETURN_IF_ERROR(CheckInputFile("--init-image", req.init_image));
    EASEL_RETURN_IF_ERROR(CheckInputFile("--mask", req.mask));
    EASEL_RETURN_IF_ERROR(CheckInputFile("--refiner", req.refiner_checkpoint));
    if (req.seed < 0) req.seed = engine::RandomSeed();
    const bool tty = !o->quiet && ::isatty(STDERR_FILENO);
    auto t0 = std::chrono::steady_clock::now();
    engine::ModelFileOptions files;
    files.text_heads = req.text_heads;
    auto pipe = engine::SdPipeline::Load(req.model_path, req.vae_path, req.device, req.dtype,
                                         req.prediction, files);
    if (!pipe.ok()) return pipe.status();
    const double load_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (tty) std::fprintf(stderr, "loaded %s in %.1f s\n", (*pipe)->info().name.c_str(), load_s);
    // The model hash (for the infotext) is computed while the image is sampled, not before it.
    library::ModelHashJob model_hash(req.model_path,
                                     library::DefaultHashSources(zero_config->data_dir));

    engine::ProgressFn progress = nullptr;
    if (tty) {
      progress = [](const engine::Progress& p) {
        std::fprintf(stderr, "\rstep %d/%d  %.2f s/step ", p.step, p.total, p.seconds_per_step);
        if (p.step == p.total) std::fputc('\n', stderr);
        return true;
      };
    }
    auto t1 = std::chrono::steady_clock::now();
    auto images = (*pipe)->Generate(req, progress);
    if (!images.ok()) return images.status();
    for (const std::string& w : (*pipe)->warnings())
      std::fprintf(stderr, "easel: warning: %s\n", w.c_str());
    const double gen_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();

    // Usually ready by now; else the image waits for the rest: a correct "Model hash" is how an
    // A1111 user finds the model of an image again.
    if (tty && !model_hash.WaitFor(0)) std::fprintf(stderr, "hashing the model for the infotext\n");
    const std::string hash = engine::AutoV2Of(model_hash);
    const nlohmann::json timings = {{"load_s", load_s}, {"generate_s", gen_s}};
    for (size_t i = 0; i < images->size(); ++i) {
      auto saved = engine::SaveImage(OutputPath(o->out, static_cast<int>(i)), (*images)[i], req,
                                     (*pipe)->info(), hash, timings);
      if (!saved.ok()) return saved.status();
      std::printf("%s\n", saved->path.c_str());
    }
    return Status::Ok();
  };
}

}  // namespace easel::cli
