// Preset JSON and validation. See preset.h.
#include "library/preset.h"

#include <sys/stat.h>

#include <cctype>
#include <cstdint>
#include <filesystem>
#include <set>
#include <type_traits>

#include "library/scanner.h"

namespace easel::library {
namespace {

using nlohmann::json;

bool ValidName(const std::string& n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == ' ' || c == '.' || c == '_' ||
          c == '-'))
      return false;
  return n.front() != ' ' && n.back() != ' ';
}

// Reads fields of one JSON object strictly: each Take* consumes a key; Finish() fails on
// keys nobody took.
class Fields {
 public:
  Fields(const json& j, std::string where) : j_(j), where_(std::move(where)) {}
  template <class T>
  void Take(const char* key, T* out) {
    taken_.insert(key);
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null() || !st_.ok()) return;
    try {
      if constexpr (std::is_same_v<T, std::string>) {
        if (!it->is_string()) throw std::runtime_error("");
      } else if constexpr (std::is_same_v<T, int> || std::is_same_v<T, int64_t>) {
        if (!it->is_number_integer()) throw std::runtime_error("");
      } else if constexpr (std::is_same_v<T, double>) {
        if (!it->is_number()) throw std::runtime_error("");
      }
      *out = it->get<T>();
    } catch (const std::exception&) {
      st_ = InvalidArgument(where_ + key + ": expected " + Expected<T>() + ", got " + it->dump());
    }
  }
  const json* TakeRaw(const char* key) {
    taken_.insert(key);
    auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }
  Status Finish() {
    if (!st_.ok()) return st_;
    for (const auto& [k, v] : j_.items())
      if (!taken_.count(k))
        return InvalidArgument(where_ + k + ": unknown field (misspelt? see `easel presets show`)");
    return Status::Ok();
  }
  void Fail(Status s) {
    if (st_.ok()) st_ = std::move(s);
  }

 private:
  template <class T>
  static const char* Expected() {
    if constexpr (std::is_same_v<T, std::string>)
      return "a string";
    else if constexpr (std::is_same_v<T, int> || std::is_same_v<T, int64_t>)
      return "an integer";
    else if constexpr (std::is_same_v<T, double>)
      return "a number";
    else
      return "a list of strings";
  }
  const json& j_;
  std::string where_;
  std::set<std::string> taken_;
  Status st_;
};

int64_t SizeMb(int64_t bytes) {
  return (bytes + (int64_t{1} << 20) - 1) >> 20;
}

bool FileExists(const std::string& p) {
  struct stat st {};
  return !p.empty() && ::stat(p.c_str(), &st) == 0;
}

}  // namespace

json ToJson(const ImagePreset& p) {
  json loras = json::array();
  for (const auto& l : p.loras) loras.push_back({{"path", l.path}, {"weight", l.weight}});
  json params = json::object();
  if (p.params.width) params["width"] = p.params.width;
  if (p.params.height) params["height"] = p.params.height;
  if (p.params.steps) params["steps"] = p.params.steps;
  if (p.params.cfg) params["cfg"] = p.params.cfg;
  if (!p.params.sampler.empty()) params["sampler"] = p.params.sampler;
  if (!p.params.scheduler.empty()) params["scheduler"] = p.params.scheduler;
  if (p.params.clip_skip) params["clip_skip"] = p.params.clip_skip;
  return {{"type", "image"},
          {"name", p.name},
          {"description", p.description},
          {"checkpoint", p.checkpoint},
          {"diffusion_model", p.diffusion_model},
          {"vae", p.vae},
          {"clip_l", p.clip_l},
          {"clip_g", p.clip_g},
          {"t5xxl", p.t5xxl},
          {"loras", loras},
          {"params", params},
          {"family", p.family},
          {"vram_weights_mb", p.vram_weights_mb}};
}

json ToJson(const LlmPreset& p) {
  return {{"type", "llm"},
          {"name", p.name},
          {"description", p.description},
          {"model_path", p.model_path},
          {"mmproj_path", p.mmproj_path},
          {"n_ctx", p.n_ctx},
          {"capabilities", p.capabilities},
          {"role", p.role},
          {"vram_weights_mb", p.vram_weights_mb}};
}

Result<std::string> PresetType(const json& j) {
  if (!j.is_object())
    return InvalidArgument("a preset must be a JSON object, got " + j.dump().substr(0, 60));
  auto it = j.find("type");
  if (it == j.end()) return std::string("image");
  if (it->is_string() && (*it == "image" || *it == "llm")) return it->get<std::string>();
  return InvalidArgument("type: expected \"image\" or \"llm\", got " + it->dump());
}

Result<ImagePreset> ImagePresetFromJson(const json& j) {
  auto type = PresetType(j);
  if (!type.ok()) return type.status();
  if (*type != "image") return InvalidArgument("type: expected \"image\", got \"" + *type + "\"");
  ImagePreset p;
  Fields f(j, "preset: ");
  std::string ignored;
  f.Take("type", &ignored);
  f.Take("name", &p.name);
  f.Take("description", &p.description);
  f.Take("checkpoint", &p.checkpoint);
  f.Take("diffusion_model", &p.diffusion_model);
  f.Take("vae", &p.vae);
  f.Take("clip_l", &p.clip_l);
  f.Take("clip_g", &p.clip_g);
  f.Take("t5xxl", &p.t5xxl);
  f.Take("family", &p.family);
  f.Take("vram_weights_mb", &p.vram_weights_mb);
  if (const json* loras = f.TakeRaw("loras")) {
    if (!loras->is_array())
      f.Fail(InvalidArgument("preset: loras: expected a list of {path, weight}"));
    else
      for (size_t i = 0; i < loras->size(); ++i) {
        const json& l = (*loras)[i];
        const std::string where = "preset: loras[" + std::to_string(i) + "].";
        if (l.is_string()) {
          p.loras.push_back({l.get<std::string>(), 1.0});
          continue;
        }
        if (!l.is_object()) {
          f.Fail(InvalidArgument(where + ": expected {\"path\": ..., \"weight\": ...}"));
          break;
        }
        PresetLora lora;
        Fields lf(l, where);
        lf.Take("path", &lora.path);
        lf.Take("weight", &lora.weight);
        if (Status st = lf.Finish(); !st.ok()) {
          f.Fail(st);
          break;
        }
        p.loras.push_back(lora);
      }
  }
  if (const json* params = f.TakeRaw("params")) {
    if (!params->is_object()) {
      f.Fail(InvalidArgument("preset: params: expected an object"));
    } else {
      Fields pf(*params, "preset: params.");
      pf.Take("width", &p.params.width);
      pf.Take("height", &p.params.height);
      pf.Take("steps", &p.params.steps);
      pf.Take("cfg", &p.params.cfg);
      pf.Take("sampler", &p.params.sampler);
      pf.Take("scheduler", &p.params.scheduler);
      pf.Take("clip_skip", &p.params.clip_skip);
      if (Status st = pf.Finish(); !st.ok()) f.Fail(st);
    }
  }
  EASEL_RETURN_IF_ERROR(f.Finish());
  if (!ValidName(p.name))
    return InvalidArgument("preset: name: '" + p.name +
                           "' must be 1-64 letters, digits, spaces, '.', '_' or '-'");
  return p;
}

Result<LlmPreset> LlmPresetFromJson(const json& j) {
  auto type = PresetType(j);
  if (!type.ok()) return type.status();
  if (*type != "llm") return InvalidArgument("type: expected \"llm\", got \"" + *type + "\"");
  LlmPreset p;
  Fields f(j, "preset: ");
  std::string ignored;
  f.Take("type", &ignored);
  f.Take("name", &p.name);
  f.Take("description", &p.description);
  f.Take("model_path", &p.model_path);
  f.Take("mmproj_path", &p.mmproj_path);
  f.Take("n_ctx", &p.n_ctx);
  f.Take("role", &p.role);
  f.Take("vram_weights_mb", &p.vram_weights_mb);
  if (const json* caps = f.TakeRaw("capabilities")) {
    if (!caps->is_array())
      f.Fail(InvalidArgument("preset: capabilities: expected a list of strings"));
    else
      for (const auto& c : *caps) {
        if (!c.is_string()) {
          f.Fail(InvalidArgument("preset: capabilities: expected strings, got " + c.dump()));
          break;
        }
        p.capabilities.push_back(c.get<std::string>());
      }
  }
  EASEL_RETURN_IF_ERROR(f.Finish());
  if (!ValidName(p.name))
    return InvalidArgument("preset: name: '" + p.name +
                           "' must be 1-64 letters, digits, spaces, '.', '_' or '-'");
  return p;
}

ModelLookup DiskLookup() {
  return [](const std::string& path) -> std::optional<ModelRecord> {
    if (!FileExists(path)) return std::nullopt;
    return ReadModelFile(path, std::filesystem::path(path).parent_path().string());
  };
}

std::vector<PresetProblem> Validate(ImagePreset* p, const ModelLookup& lookup) {
  std::vector<PresetProblem> problems;
  auto problem = [&](const std::string& field, const std::string& msg) {
    problems.push_back({field, msg});
  };
  if (p->checkpoint.empty() == p->diffusion_model.empty())
    problem(
        "checkpoint",
        "name exactly one of checkpoint (a full model) or diffusion_model (the denoiser alone)");
  Family family = Family::kUnknown;
  std::string family_from;
  int64_t bytes = 0;
  struct Slot {
    std::string field;
    std::string path;
    ModelKind kind;
    std::string subtype;  // text encoders: the role the slot wants
  };
  std::vector<Slot> slots = {
      {"checkpoint", p->checkpoint, ModelKind::kCheckpoint, ""},
      {"diffusion_model", p->diffusion_model, ModelKind::kDiffusionModel, ""},
      {"vae", p->vae, ModelKind::kVae, ""},
      {"clip_l", p->clip_l, ModelKind::kTextEncoder, "clip_l"},
      {"clip_g", p->clip_g, ModelKind::kTextEncoder, "clip_g"},
      {"t5xxl", p->t5xxl, ModelKind::kTextEncoder, "t5xxl"}};
  for (size_t i = 0; i < p->loras.size(); ++i)
    slots.push_back({"loras[" + std::to_string(i) + "]", p->loras[i].path, ModelKind::kLora, ""});
  int64_t vae_latent = 0;
  for (const Slot& s : slots) {
    if (s.path.empty()) continue;
    std::optional<ModelRecord> r = lookup(s.path);
    if (!r) {
      problem(s.field, s.path + " does not exist: fix the path or rescan (`easel models scan`)");
      continue;
    }
    bytes += r->size;
    if (!r->error.empty()) {
      problem(s.field, s.path + " cannot be read: " + r->error);
      continue;
    }
    const bool kind_ok =
        r->kind == s.kind || r->kind == ModelKind::kUnknown ||
        (s.kind == ModelKind::kDiffusionModel && r->kind == ModelKind::kCheckpoint);
    if (!kind_ok) {
      problem(s.field, s.path + " holds a " + KindName(r->kind) + ", not a " + KindName(s.kind));
      continue;
    }
    if (!s.subtype.empty() && !r->subtype.empty() && r->subtype != s.subtype)
      problem(s.field, s.path + " is a " + r->subtype + " text encoder, not " + s.subtype);
    if (s.kind == ModelKind::kVae) vae_latent = r->latent_channels;
    if (r->family == Family::kUnknown) continue;
    if (family == Family::kUnknown) {
      family = r->family;
      family_from = s.field;
    } else if (r->family != family) {
      problem(s.field, s.path + " is " + FamilyName(r->family) + " but " + family_from + " is " +
                           FamilyName(family) + ": every component must belong to one family");
    }
  }
  const bool dit = family == Family::kSD3 || family == Family::kFlux;
  if (vae_latent && family != Family::kUnknown && (vae_latent == 16) != dit)
    problem("vae", p->vae + " has " + std::to_string(vae_latent) + " latent channels; " +
                       FamilyName(family) + " needs " + (dit ? "16" : "4"));
  if (!p->diffusion_model.empty()) {
    if (p->vae.empty()) problem("vae", "a diffusion_model preset needs a VAE");
    auto need = [&](const char* field, const std::string& v) {
      if (v.empty())
        problem(field, std::string(FamilyName(family)) + " needs a " + field + " text encoder");
    };
    if (family == Family::kSDXL || family == Family::kSD3) {
      need("clip_l", p->clip_l);
      need("clip_g", p->clip_g);
    }
    if (family == Family::kFlux) {
      need("clip_l", p->clip_l);
      need("t5xxl", p->t5xxl);
    }
  }
  if (p->params.width < 0 || p->params.width > 4096 || p->params.width % 8)
    problem("params.width", "must be 64..4096 and a multiple of 8");
  if (p->params.height < 0 || p->params.height > 4096 || p->params.height % 8)
    problem("params.height", "must be 64..4096 and a multiple of 8");
  if (p->params.steps < 0 || p->params.steps > 500) problem("params.steps", "must be 1..500");
  if (p->params.cfg < 0 || p->params.cfg > 100) problem("params.cfg", "must be 0..100");
  if (p->params.clip_skip < 0 || p->params.clip_skip > 12)
    problem("params.clip_skip", "must be 1..12");
  p->family = FamilyName(family);
  p->vram_weights_mb = SizeMb(bytes);
  return problems;
}

std::vector<PresetProblem> Validate(LlmPreset* p) {
  std::vector<PresetProblem> problems;
  int64_t bytes = 0;
  struct stat st {};
  if (p->model_path.empty())
    problems.push_back({"model_path", "an LLM preset needs a model (.gguf)"});
  else if (::stat(p->model_path.c_str(), &st) != 0)
    problems.push_back({"model_path", p->model_path + " does not exist"});
  else
    bytes += st.st_size;
  if (!p->mmproj_path.empty()) {
    if (::stat(p->mmproj_path.c_str(), &st) != 0)
      problems.push_back({"mmproj_path", p->mmproj_path + " does not exist"});
    else
      bytes += st.st_size;
  }
  if (p->n_ctx < 256 || p->n_ctx > (1 << 20)) problems.push_back({"n_ctx", "must be 256..1048576"});
  static const std::set<std::string> kCaps = {"chat", "tagging", "vision", "tool_use", "embedding"};
  for (const std::string& c : p->capabilities)
    if (!kCaps.count(c))
      problems.push_back(
          {"capabilities", "'" + c + "' is not one of chat, tagging, vision, tool_use, embedding"});
  for (const std::string& c : p->capabilities)
    if (c == "vision" && p->mmproj_path.empty())
      problems.push_back(
          {"mmproj_path", "the vision capability needs a vision projector (mmproj)"});
  p->vram_weights_mb = SizeMb(bytes);
  return problems;
}

Result<std::vector<json>> PresetsInFile(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return InvalidArgument("the preset file is not valid JSON");
  std::vector<json> out;
  if (j.is_object() && j.contains("presets")) j = j["presets"];
  if (j.is_object())
    out.push_back(j);
  else if (j.is_array())
    for (const auto& p : j) out.push_back(p);
  else
    return InvalidArgument(
        "the preset file must hold a preset object, a list, or {\"presets\": [...]}");
  return out;
}

json ExportDocument(const std::vector<json>& presets) {
  return {{"easel_presets", 1}, {"presets", presets}};
}

std::string ProblemsText(const std::vector<PresetProblem>& problems) {
  std::string out;
  for (const auto& p : problems) out += (out.empty() ? "" : "\n") + p.field + ": " + p.message;
  return out;
}

}  // namespace easel::library
