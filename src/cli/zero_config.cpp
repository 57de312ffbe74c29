// Zero-configuration generation. See zero_config.h.
#include "cli/zero_config.h"

#include <CLI/CLI.hpp>
#include <cstdio>

#include "library/model_roots.h"
#include "library/scanner.h"
#include "library/selection.h"
#include "library/styles.h"
#include "util/data_dir.h"

namespace easel::cli {
namespace {

bool Given(const CLI::App& app, const char* name) {
  const CLI::Option* opt = app.get_option_no_throw(name);
  return opt && opt->count() > 0;
}

bool IsStyleHint(const std::string& s) {
  return s == "anime" || s == "realistic" || s == "artistic" || s == "3d";
}

}  // namespace

Result<std::unique_ptr<library::LibraryApi>> OpenLibrary(const std::string& data_dir_flag) {
  auto dir = EnsureDataDir(data_dir_flag);
  if (!dir.ok()) return dir.status();
  return library::LibraryApi::Open(DatabasePath(*dir));
}

std::shared_ptr<ZeroConfigOptions> AddZeroConfigOptions(CLI::App* sub) {
  auto o = std::make_shared<ZeroConfigOptions>();
  sub->add_option("--style", o->style,
                  "With no --model: anime, realistic, artistic or 3d guides the model choice; a "
                  "stored style's name (easel styles list) is applied to the prompt");
  sub->add_option("--quality", o->quality,
                  "With no --model: fast, balanced (default), high or ultra");
  sub->add_option("--preset", o->preset, "Image preset (easel presets list) to generate with");
  sub->add_flag("--explain", o->explain, "Print each zero-config choice with its score and reason");
  if (!sub->get_option_no_throw("--data-dir"))
    sub->add_option("--data-dir", o->data_dir,
                    "Data folder (default $EASEL_DATA_DIR, else ~/.local/share/easel)");
  if (!sub->get_option_no_throw("prompt_text"))
    sub->add_option("prompt_text", o->prompt_words, "The prompt (same as --prompt)");
  return o;
}

Status ApplyZeroConfig(const ZeroConfigOptions& o, const CLI::App& sub,
                       engine::GenerateRequest* req) {
  if (req->prompt.empty()) req->prompt = o.prompt_words;
  const bool need_library =
      req->model_path.empty() || !o.preset.empty() || (!o.style.empty() && !IsStyleHint(o.style));
  if (!need_library) return Status::Ok();  // a model given; --style hints only guide choices
  auto lib_r = OpenLibrary(o.data_dir);
  if (!lib_r.ok()) return lib_r.status();
  library::LibraryApi& lib = **lib_r;

  // A stored style by name: applied to the prompts.
  if (!o.style.empty()) {
    auto style = lib.StyleByName(o.style);
    if (style.ok()) {
      library::ApplyStyle(*style, &req->prompt, &req->negative_prompt);
      if (o.explain) std::fprintf(stderr, "style: applied stored style '%s'\n", o.style.c_str());
    } else if (!IsStyleHint(o.style)) {
      return InvalidArgument("--style '" + o.style +
                             "' is neither anime, realistic, artistic, 3d nor a stored style "
                             "(see `easel styles list`)");
    }
  }

  auto set_params = [&](const library::PresetParams& p) {
    if (p.width && !Given(sub, "--width")) req->width = p.width;
    if (p.height && !Given(sub, "--height")) req->height = p.height;
    if (p.steps && !Given(sub, "--steps")) req->steps = p.steps;
    if (p.cfg && !Given(sub, "--cfg")) req->cfg_scale = p.cfg;
    if (!p.sampler.empty() && !Given(sub, "--sampler")) req->sampler = p.sampler;
    if (!p.scheduler.empty() && !Given(sub, "--scheduler")) req->scheduler = p.scheduler;
    if (p.clip_skip && !Given(sub, "--clip-skip")) req->clip_skip = p.clip_skip;
  };

  if (!o.preset.empty()) {
    auto preset = lib.ImagePresetByName(o.preset);
    if (!preset.ok()) return preset.status();
    if (!preset->diffusion_model.empty())
      return Unsupported("preset '" + o.preset +
                         "' names a diffusion model without its checkpoint: Easel generates "
                         "from single-file SD1.x/SD2.x checkpoints");
    if (req->model_path.empty()) req->model_path = preset->checkpoint;
    if (req->vae_path.empty()) req->vae_path = preset->vae;
    for (const auto& l : preset->loras)
      req->loras.push_back(engine::LoraRequest{l.path, l.weight, l.weight});
    set_params(preset->params);
    if (o.explain)
      std::fprintf(stderr, "preset %s: %s (%s, %lld MB of weights)\n", o.preset.c_str(),
                   preset->checkpoint.c_str(), preset->family.c_str(),
                   static_cast<long long>(preset->vram_weights_mb));
    return Status::Ok();
  }
  if (!req->model_path.empty()) return Status::Ok();

  // No model: choose one. An empty library is filled from the installs found on this
  // machine first.
  auto counts = lib.index().Counts();
  if (!counts.ok()) return counts.status();
  if (counts->at("total") == 0) {
    library::Discovery d = library::DiscoverInstalls(library::DiscoveryEnvFromProcess());
    if (!d.roots.empty()) {
      EASEL_RETURN_IF_ERROR(lib.index().AddRoots(d.roots));
      std::fprintf(
          stderr, "easel: the model library is empty; scanning %zu folders found on this machine\n",
          d.roots.size());
      auto scanned = library::ScanFolders(d.roots, lib.index());
      if (!scanned.ok()) return scanned.status();
    }
  }
  library::SelectOptions so;
  so.style = IsStyleHint(o.style) ? o.style : "";
  if (!o.quality.empty() && !library::ParseQuality(o.quality, &so.quality))
    return InvalidArgument("--quality '" + o.quality +
                           "' is not one of fast, balanced, high, ultra");
  so.require_supported = true;  // the engine generates SD1.x / SD2.x checkpoints
  auto all = lib.index().List();
  if (!all.ok()) return all.status();
  auto sel = library::SelectForPrompt(req->prompt, req->negative_prompt, *all, so);
  if (!sel.ok()) return sel.status();
  req->model_path = sel->base.model.path;
  if (sel->vae && req->vae_path.empty()) req->vae_path = sel->vae->model.path;
  for (const auto& l : sel->loras)
    req->loras.push_back(engine::LoraRequest{l.model.path, l.weight, l.weight});
  req->prompt = sel->prompt;
  req->negative_prompt = sel->negative_prompt;
  set_params(sel->params);
  if (o.explain)
    for (const std::string& line : sel->explanation) std::fprintf(stderr, "%s\n", line.c_str());
  return Status::Ok();
}

}  // namespace easel::cli
