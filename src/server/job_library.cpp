// Jobs naming a preset, styles or "model": "auto" (see job_library.h).
#include "server/job_library.h"

#include <filesystem>

#include "library/selection.h"
#include "library/styles.h"

namespace easel::server {
namespace {

using json = nlohmann::json;

bool IsStyleHint(const std::string& s) {
  return s == "anime" || s == "realistic" || s == "artistic" || s == "3d";
}

// "a, b, c" of the first few names, or "none stored".
std::string FewNames(const std::vector<std::string>& names, const std::string& none) {
  if (names.empty()) return none;
  std::string out;
  for (size_t i = 0; i < names.size() && i < 8; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > 8) out += " ... (" + std::to_string(names.size()) + " in all)";
  return out;
}

Status UnknownPreset(library::LibraryApi& lib, const std::string& name) {
  std::vector<std::string> names;
  if (auto all = lib.presets().ListPresets("image"); all.ok())
    for (const auto& p : *all) names.push_back(p.name);
  return InvalidArgument("unknown preset '" + name.substr(0, 80) + "': known image presets are " +
                         FewNames(names, "none (create one: POST /api/v1/presets)"));
}

Status UnknownStyle(library::LibraryApi& lib, const std::string& name, bool hint_too) {
  std::vector<std::string> names;
  if (auto all = lib.presets().ListStyles(); all.ok())
    for (const auto& s : *all) names.push_back(s.name);
  return InvalidArgument(
      "unknown style '" + name.substr(0, 80) + "': " +
      (hint_too ? std::string("not anime, realistic, artistic or 3d, and not a stored style; ")
                : std::string()) +
      "stored styles are " +
      FewNames(names, "none (add one: POST /api/v1/styles/NAME or /api/v1/styles/import)"));
}

std::string StringField(const json& body, const char* key) {
  auto it = body.find(key);
  return it != body.end() && it->is_string() ? it->get<std::string>() : "";
}

// Fills the parameters the body does not set.
void FillParams(const library::PresetParams& p, json* body) {
  auto fill = [body](const char* key, const json& value) {
    if (!body->contains(key) || (*body)[key].is_null()) (*body)[key] = value;
  };
  if (p.width) fill("width", p.width);
  if (p.height) fill("height", p.height);
  if (p.steps) fill("steps", p.steps);
  if (p.cfg > 0) fill("cfg_scale", p.cfg);
  if (!p.sampler.empty()) fill("sampler_name", p.sampler);
  if (!p.scheduler.empty()) fill("scheduler", p.scheduler);
  if (p.clip_skip) fill("clip_skip", p.clip_skip);
}

std::string Stem(const std::string& path) {
  return std::filesystem::path(path).stem().string();
}

}  // namespace

bool UsesLibrary(const json& body) {
  if (!body.is_object()) return false;
  for (const char* k : {"preset", "styles", "style", "quality"})
    if (body.contains(k) && !body[k].is_null()) return true;
  return StringField(body, "model") == "auto";
}

Result<LibraryChoices> ApplyLibraryFields(json* body, library::LibraryApi* lib) {
  LibraryChoices out;
  if (!UsesLibrary(*body)) {
    for (const char* k : {"preset", "styles", "style", "quality"}) body->erase(k);
    return out;
  }
  out.used = true;
  // Types first, so a malformed body is a 400 whatever the library holds.
  for (const char* k : {"preset", "style", "quality"})
    if (body->contains(k) && !(*body)[k].is_null() && !(*body)[k].is_string())
      return InvalidArgument("'" + std::string(k) + "' must be a string");
  std::vector<std::string> style_names;
  if (auto it = body->find("styles"); it != body->end() && !it->is_null()) {
    if (!it->is_array() || it->size() > 32)
      return InvalidArgument("'styles' must be an array of at most 32 style names");
    for (const json& s : *it) {
      if (!s.is_string() || s.get<std::string>().empty() || s.get<std::string>().size() > 128)
        return InvalidArgument("'styles' must hold style names (strings of 1 to 128 bytes)");
      style_names.push_back(s);
    }
  }
  const std::string preset_name = StringField(*body, "preset");
  const std::string style = StringField(*body, "style");
  const std::string quality = StringField(*body, "quality");
  const bool auto_model = StringField(*body, "model") == "auto";
  for (const char* k : {"preset", "styles", "style", "quality"}) body->erase(k);
  if (auto_model) body->erase("model");
  if (lib == nullptr)
    return Unsupported(
        "this server has no model library: presets, styles and \"model\": "
        "\"auto\" are unavailable");
  library::Quality q = library::Quality::kBalanced;
  if (!quality.empty() && !library::ParseQuality(quality, &q))
    return InvalidArgument("'quality' is '" + quality.substr(0, 40) +
                           "': use fast, balanced, high or ultra");
  if (!preset_name.empty() && auto_model)
    return InvalidArgument("give either 'preset' or \"model\": \"auto\", not both");

  // Styles: the named ones in order, then 'style' when it names a stored style.
  std::string prompt = StringField(*body, "prompt");
  std::string negative = StringField(*body, "negative_prompt");
  json applied = json::array();
  for (const std::string& name : style_names) {
    auto s = lib->StyleByName(name);
    if (!s.ok()) {
      if (s.status().code() == Code::kNotFound) return UnknownStyle(*lib, name, false);
      return s.status();
    }
    library::ApplyStyle(*s, &prompt, &negative);
    applied.push_back(name);
  }
  std::string hint;
  if (!style.empty()) {
    auto s = lib->StyleByName(style);
    if (s.ok()) {
      library::ApplyStyle(*s, &prompt, &negative);
      applied.push_back(style);
    } else if (s.status().code() != Code::kNotFound) {
      return s.status();
    } else if (!IsStyleHint(style)) {
      return UnknownStyle(*lib, style, true);
    }
    if (IsStyleHint(style)) hint = style;
  }
  if (!applied.empty()) {
    (*body)["prompt"] = prompt;
    if (!negative.empty()) (*body)["negative_prompt"] = negative;
    out.explanation["styles"] = applied;
  }

  if (!preset_name.empty()) {
    auto p = lib->ImagePresetByName(preset_name);
    if (!p.ok()) {
      if (p.status().code() == Code::kNotFound) return UnknownPreset(*lib, preset_name);
      return p.status();
    }
    if (p->checkpoint.empty())
      return Unsupported("preset '" + preset_name +
                         "' names a diffusion model without its checkpoint: Easel generates "
                         "from single-file checkpoints and diffusers folders");
    if (!body->contains("model")) {
      out.model_path = p->checkpoint;
      out.vae_path = p->vae;
    }
    for (const auto& l : p->loras) out.loras.push_back({Stem(l.path), l.path, l.weight});
    FillParams(p->params, body);
    out.explanation["preset"] = {{"name", p->name},
                                 {"checkpoint", Stem(p->checkpoint)},
                                 {"family", p->family},
                                 {"vram_weights_mb", p->vram_weights_mb}};
  }

  if (auto_model) {
    library::SelectOptions so;
    so.style = hint;
    so.quality = q;
    so.require_supported = true;  // what the engine generates with
    auto all = lib->index().List();
    if (!all.ok()) return all.status();
    auto sel = library::SelectForPrompt(prompt, negative, *all, so);
    if (!sel.ok()) {
      if (sel.status().code() == Code::kNotFound)
        return NotFound(sel.status().message() +
                        " (the server's library: POST /api/v1/library/models/rescan with "
                        "{\"paths\": [...]} or {\"discover\": true})");
      return sel.status();
    }
    out.model_path = sel->base.model.path;
    if (sel->vae) out.vae_path = sel->vae->model.path;
    for (const auto& l : sel->loras) out.loras.push_back({l.model.name, l.model.path, l.weight});
    // The trigger words of the chosen LoRAs belong with them only.
    if (!body->contains("loras")) (*body)["prompt"] = sel->prompt;
    if (!sel->negative_prompt.empty()) (*body)["negative_prompt"] = sel->negative_prompt;
    FillParams(sel->params, body);
    json s = sel->ToJson();
    s.erase("alternatives");
    out.explanation["selection"] = s;
  }
  return out;
}

}  // namespace easel::server
