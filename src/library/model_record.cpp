// ModelRecord JSON and the kind / family names. See model_record.h.
#include "library/model_record.h"

#include <algorithm>
#include <cctype>

namespace easel::library {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool Contains(const std::string& s, const char* part) {
  return s.find(part) != std::string::npos;
}

template <class T>
void Get(const nlohmann::json& j, const char* key, T* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  try {
    *out = it->get<T>();
  } catch (const std::exception&) {
  }
}

}  // namespace

const char* KindName(ModelKind kind) {
  switch (kind) {
    case ModelKind::kCheckpoint: return "checkpoint";
    case ModelKind::kDiffusionModel: return "diffusion_model";
    case ModelKind::kVae: return "vae";
    case ModelKind::kTextEncoder: return "text_encoder";
    case ModelKind::kLora: return "lora";
    case ModelKind::kEmbedding: return "embedding";
    case ModelKind::kControlNet: return "controlnet";
    case ModelKind::kUpscaler: return "upscaler";
    case ModelKind::kUnknown: break;
  }
  return "unknown";
}

bool ParseKind(const std::string& name_in, ModelKind* out) {
  const std::string name = Lower(name_in);
  static const std::pair<const char*, ModelKind> kNames[] = {
      {"checkpoint", ModelKind::kCheckpoint},
      {"checkpoints", ModelKind::kCheckpoint},
      {"diffusion_model", ModelKind::kDiffusionModel},
      {"unet", ModelKind::kDiffusionModel},
      {"vae", ModelKind::kVae},
      {"text_encoder", ModelKind::kTextEncoder},
      {"clip", ModelKind::kTextEncoder},
      {"lora", ModelKind::kLora},
      {"loras", ModelKind::kLora},
      {"lycoris", ModelKind::kLora},
      {"embedding", ModelKind::kEmbedding},
      {"embeddings", ModelKind::kEmbedding},
      {"controlnet", ModelKind::kControlNet},
      {"upscaler", ModelKind::kUpscaler},
      {"upscale", ModelKind::kUpscaler},
      {"unknown", ModelKind::kUnknown}};
  for (const auto& [n, k] : kNames)
    if (name == n) {
      *out = k;
      return true;
    }
  return false;
}

bool ParseFamily(const std::string& name, Family* out) {
  const std::string n = Lower(name);
  for (Family f :
       {Family::kSD1, Family::kSD2, Family::kSDXL, Family::kSD3, Family::kFlux, Family::kUnknown})
    if (n == Lower(FamilyName(f))) {
      *out = f;
      return true;
    }
  return false;
}

Family FamilyFromLabel(const std::string& label_in) {
  const std::string s = Lower(label_in);
  if (s.empty()) return Family::kUnknown;
  if (Contains(s, "flux")) return Family::kFlux;
  if (Contains(s, "sdxl") || Contains(s, "stable-diffusion-xl") || Contains(s, "pony") ||
      Contains(s, "illustrious") || Contains(s, "noobai") || Contains(s, "sd_xl"))
    return Family::kSDXL;
  if (Contains(s, "sd 3") || Contains(s, "sd3") || Contains(s, "stable-diffusion-v3") ||
      Contains(s, "stable-diffusion-3"))
    return Family::kSD3;
  if (Contains(s, "sd 2") || Contains(s, "sd_v2") || Contains(s, "sd2") ||
      Contains(s, "stable-diffusion-v2"))
    return Family::kSD2;
  if (Contains(s, "sd 1") || Contains(s, "sd_v1") || Contains(s, "sd1") ||
      Contains(s, "stable-diffusion-v1"))
    return Family::kSD1;
  return Family::kUnknown;
}

nlohmann::json ModelRecord::ToJson() const {
  return {{"path", path},
          {"root", root},
          {"name", name},
          {"kind", KindName(kind)},
          {"family", FamilyName(family)},
          {"subtype", subtype},
          {"latent_channels", latent_channels},
          {"size", size},
          {"mtime_ns", mtime_ns},
          {"sidecar_sig", sidecar_sig},
          {"sha256", sha256},
          {"autov2", autov2},
          {"error", error},
          {"base_model", base_model},
          {"title", title},
          {"description", description},
          {"tags", tags},
          {"trigger_words", trigger_words},
          {"preview", preview},
          {"downloads", downloads},
          {"rating", rating},
          {"preferred_weight", preferred_weight},
          {"params", params},
          {"metadata", metadata},
          {"sources", sources},
          {"evidence", evidence},
          {"scanned_ms", scanned_ms}};
}

ModelRecord ModelRecord::FromJson(const nlohmann::json& j) {
  ModelRecord r;
  if (!j.is_object()) return r;
  Get(j, "path", &r.path);
  Get(j, "root", &r.root);
  Get(j, "name", &r.name);
  std::string s;
  Get(j, "kind", &s);
  ParseKind(s, &r.kind);
  s.clear();
  Get(j, "family", &s);
  ParseFamily(s, &r.family);
  Get(j, "subtype", &r.subtype);
  Get(j, "latent_channels", &r.latent_channels);
  Get(j, "size", &r.size);
  Get(j, "mtime_ns", &r.mtime_ns);
  Get(j, "sidecar_sig", &r.sidecar_sig);
  Get(j, "sha256", &r.sha256);
  Get(j, "autov2", &r.autov2);
  Get(j, "error", &r.error);
  Get(j, "base_model", &r.base_model);
  Get(j, "title", &r.title);
  Get(j, "description", &r.description);
  Get(j, "tags", &r.tags);
  Get(j, "trigger_words", &r.trigger_words);
  Get(j, "preview", &r.preview);
  Get(j, "downloads", &r.downloads);
  Get(j, "rating", &r.rating);
  Get(j, "preferred_weight", &r.preferred_weight);
  if (auto it = j.find("params"); it != j.end() && it->is_object()) r.params = *it;
  if (auto it = j.find("metadata"); it != j.end() && it->is_object()) r.metadata = *it;
  Get(j, "sources", &r.sources);
  Get(j, "evidence", &r.evidence);
  Get(j, "scanned_ms", &r.scanned_ms);
  return r;
}

}  // namespace easel::library
