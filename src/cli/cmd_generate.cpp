// easel generate: text-to-image in-process, no server. Writes OUT.png (A1111 "parameters"
// chunk) and OUT.json (the full request, the resolved seed and timings) per image; a batch
// writes OUT-1.png, OUT-2.png ... for images after the first. On a terminal a progress line
// shows "step i/N, s/step"; elsewhere it prints only the written paths.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "engine/pipeline/output.h"
#include "engine/pipeline/request.h"
#include "engine/pipeline/sd_pipeline.h"

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

}  // namespace

Command AddGenerate(CLI::App& app) {
  struct Opts {
    engine::GenerateRequest req;
    std::vector<std::string> loras;
    std::string out = "easel.png";
    bool quiet = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("generate", "Generate images from a text prompt");
  auto& r = o->req;
  sub->add_option("--model,-m", r.model_path, "Checkpoint (.safetensors) or diffusers folder")
      ->required();
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
  sub->add_option("--output,-o", o->out, "Output PNG")->capture_default_str();
  sub->add_flag("--quiet,-q", o->quiet, "No progress line");

  return [o]() -> Status {
    engine::GenerateRequest req = o->req;
    for (const std::string& flag : o->loras) {
      auto lora = engine::ParseLoraFlag(flag);
      if (!lora.ok()) return lora.status();
      req.loras.push_back(*lora);
    }
    EASEL_RETURN_IF_ERROR(engine::Validate(req));
    EASEL_RETURN_IF_ERROR(CheckOutputPath(o->out));
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

    engine::ProgressFn progress = nullptr;
    if (tty) {
      progress = [](const engine::Progress& p) {
        std::fprintf(stderr, "\rstep %d/%d  %.2f s/step ", p.step, p.total, p.seconds_per_step);
        if (p.step == p.total) std::fputc('\n', stderr);
        return true;
      };
    }
    auto t1 = std::chrono::steady_clock::now();
    auto images = (*pipe)->Txt2Img(req, progress);
    if (!images.ok()) return images.status();
    for (const std::string& w : (*pipe)->warnings())
      std::fprintf(stderr, "easel: warning: %s\n", w.c_str());
    const double gen_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();

    const std::string hash = engine::ModelHash(req.model_path);
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
