// Classification of model files by tensors and folders. See classify.h.
#include "library/classify.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <set>

namespace easel::library {
namespace {

namespace fs = std::filesystem;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
bool Has(const std::string& s, const char* part) {
  return s.find(part) != std::string::npos;
}
bool StartsWith(const std::string& s, const char* p) {
  return s.rfind(p, 0) == 0;
}
bool EndsWith(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

Family FamilyOfFolderName(const std::string& n) {
  if (n == "sd-1" || n == "sd1" || n == "sd15" || n == "sd1.5") return Family::kSD1;
  if (n == "sd-2" || n == "sd2") return Family::kSD2;
  if (n == "sdxl" || n == "sdxl-refiner" || n == "xl" || n == "pony" || n == "illustrious")
    return Family::kSDXL;
  if (n == "sd-3" || n == "sd3") return Family::kSD3;
  if (n == "flux") return Family::kFlux;
  return Family::kUnknown;
}

// Cross-attention input width of a UNet or of a LoRA's attn2.to_k down matrix: the
// [out, in] (or LoRA [rank, in]) matrix's second dimension; 0 when there is none.
int64_t CrossAttentionWidth(const io::SafetensorsFile& f, bool lora) {
  for (const auto& t : f.tensors()) {
    const std::string& n = t.name;
    if (t.shape.size() != 2) continue;
    const bool to_k = Has(n, "attn2.to_k") || Has(n, "attn2_to_k");
    if (!to_k) continue;
    if (!lora && EndsWith(n, "to_k.weight")) return t.shape[1];
    if (lora && (Has(n, "lora_down") || Has(n, "lora_A") || Has(n, "lora.down") ||
                 Has(n, "hada_w1_b") || Has(n, "hada_w2_b")))
      return t.shape[1];
  }
  return 0;
}

Family FamilyFromContextWidth(int64_t w) {
  if (w == 768) return Family::kSD1;
  if (w == 1024) return Family::kSD2;
  if (w == 2048) return Family::kSDXL;
  return Family::kUnknown;
}

std::string WidthText(int64_t w) {
  return "cross-attention width " + std::to_string(w);
}

// The LoRA flavour of a file, or "" when it holds no LoRA weights.
std::string LoraSubtype(const io::SafetensorsFile& f) {
  bool lora = false, peft = false;
  for (const auto& t : f.tensors()) {
    const std::string& n = t.name;
    if (Has(n, "hada_w1_a") || Has(n, "hada_w2_a")) return "loha";
    if (Has(n, "lokr_w1") || Has(n, "lokr_w2")) return "lokr";
    if (Has(n, ".lora_down.") || Has(n, ".lora_up.") || Has(n, ".lora.down.") ||
        Has(n, ".lora.up."))
      lora = true;
    if (Has(n, ".lora_A.") || Has(n, ".lora_B.")) peft = true;
  }
  if (lora) return "lora";
  if (peft) return "peft";
  return "";
}

bool AnyName(const io::SafetensorsFile& f, const char* part) {
  for (const auto& t : f.tensors())
    if (Has(t.name, part)) return true;
  return false;
}

Family LoraFamily(const io::SafetensorsFile& f, std::vector<std::string>* ev) {
  if (int64_t w = CrossAttentionWidth(f, /*lora=*/true);
      FamilyFromContextWidth(w) != Family::kUnknown) {
    const Family fam = FamilyFromContextWidth(w);
    ev->push_back("LoRA attn2.to_k input " + WidthText(w) + ": " + FamilyName(fam));
    return fam;
  }
  if (AnyName(f, "lora_te2_") || AnyName(f, "text_encoder_2.") || AnyName(f, "te2.")) {
    ev->push_back("LoRA for a second text encoder (lora_te2_ / text_encoder_2): SDXL");
    return Family::kSDXL;
  }
  if (AnyName(f, "double_blocks") || AnyName(f, "single_blocks") ||
      AnyName(f, "single_transformer_blocks")) {
    ev->push_back("LoRA on double/single transformer blocks: Flux");
    return Family::kFlux;
  }
  if (AnyName(f, "joint_blocks") || AnyName(f, "context_block")) {
    ev->push_back("LoRA on MMDiT joint blocks: SD3");
    return Family::kSD3;
  }
  for (const char* key : {"ss_base_model_version", "modelspec.architecture", "ss_sd_model_name"}) {
    auto it = f.metadata().find(key);
    if (it == f.metadata().end()) continue;
    if (Family fam = FamilyFromLabel(it->second); fam != Family::kUnknown) {
      ev->push_back(std::string("metadata ") + key + " '" + it->second + "': " + FamilyName(fam));
      return fam;
    }
  }
  return Family::kUnknown;
}

// Textual inversion: a handful of tensors named emb_params / clip_l / clip_g /
// string_to_param.*.
bool ClassifyEmbedding(const io::SafetensorsFile& f, Classification* c) {
  if (f.tensors().empty() || f.tensors().size() > 4) return false;
  const io::TensorInfo* emb = nullptr;
  bool clip_l = false, clip_g = false;
  for (const auto& t : f.tensors()) {
    if (t.name == "clip_l")
      clip_l = true;
    else if (t.name == "clip_g")
      clip_g = true;
    else if (t.name == "emb_params" || StartsWith(t.name, "string_to_param."))
      emb = &t;
    else
      return false;
  }
  c->kind = ModelKind::kEmbedding;
  if (clip_l && clip_g) {
    c->family = Family::kSDXL;
    c->evidence.push_back("embedding with clip_l and clip_g vectors: SDXL");
  } else if (emb && emb->shape.size() == 2) {
    const int64_t w = emb->shape[1];
    c->family = w == 768 ? Family::kSD1 : w == 1024 ? Family::kSD2 : Family::kUnknown;
    c->evidence.push_back("embedding vectors of width " + std::to_string(w) +
                          (c->family == Family::kUnknown
                               ? std::string()
                               : std::string(": ") + FamilyName(c->family)));
  } else {
    c->evidence.push_back("embedding (" + f.tensors().front().name + ")");
  }
  return true;
}

bool ClassifyControlNet(const io::SafetensorsFile& f, Classification* c) {
  if (!(AnyName(f, "control_model.") || AnyName(f, "input_hint_block.") ||
        AnyName(f, "controlnet_cond_embedding.") || AnyName(f, "controlnet_down_blocks.") ||
        AnyName(f, "controlnet_blocks.") || AnyName(f, "zero_convs.")))
    return false;
  c->kind = ModelKind::kControlNet;
  c->evidence.push_back("ControlNet keys (control_model / input_hint_block / controlnet_*)");
  if (AnyName(f, "label_emb.") || AnyName(f, "add_embedding.")) {
    c->family = Family::kSDXL;
    c->evidence.push_back("class embedding (label_emb / add_embedding): SDXL");
  } else if (AnyName(f, "double_blocks") || AnyName(f, "single_transformer_blocks") ||
             AnyName(f, "controlnet_x_embedder")) {
    c->family = Family::kFlux;
    c->evidence.push_back("transformer ControlNet: Flux");
  } else if (int64_t w = CrossAttentionWidth(f, false); w) {
    c->family = FamilyFromContextWidth(w);
    c->evidence.push_back(WidthText(w) + ": " + FamilyName(c->family));
  }
  return true;
}

bool ClassifyUpscaler(const io::SafetensorsFile& f, Classification* c) {
  const bool rrdb =
      (f.Find("conv_first.weight") && (AnyName(f, "body.") || f.Find("conv_last.weight"))) ||
      (f.Find("model.0.weight") && AnyName(f, "model.1.sub."));
  if (!rrdb) return false;
  c->kind = ModelKind::kUpscaler;
  c->subtype = "esrgan";
  c->evidence.push_back("ESRGAN-style super-resolution network (conv_first/body or model.N.sub)");
  return true;
}

int64_t VaeLatentChannels(const io::SafetensorsFile& f) {
  for (const char* p : {"", "first_stage_model.", "vae."}) {
    const auto* t = f.Find(std::string(p) + "decoder.conv_in.weight");
    if (t && t->shape.size() == 4) return t->shape[1];
  }
  return 0;
}

// Text-encoder role from the token embedding width.
std::string EncoderRole(const io::SafetensorsFile& f, const Detection& d) {
  if (d.text_encoder_layout == "t5") return "t5xxl";
  for (const char* name : {"text_model.embeddings.token_embedding.weight",
                           "embeddings.token_embedding.weight", "token_embedding.weight"}) {
    const auto* t = f.Find(name);
    if (!t || t->shape.size() != 2) continue;
    const int64_t w = t->shape[1];
    if (w == 768) return "clip_l";
    if (w == 1280) return "clip_g";
    if (w == 1024) return "clip_h";
    return "clip_w" + std::to_string(w);
  }
  return "";
}

}  // namespace

ModelKind KindOfFolderName(const std::string& folder_name) {
  const std::string n = Lower(folder_name);
  static const std::pair<const char*, ModelKind> kFolders[] = {
      {"checkpoints", ModelKind::kCheckpoint},
      {"stable-diffusion", ModelKind::kCheckpoint},
      {"main", ModelKind::kCheckpoint},
      {"checkpoint", ModelKind::kCheckpoint},
      {"diffusion_models", ModelKind::kDiffusionModel},
      {"unet", ModelKind::kDiffusionModel},
      {"vae", ModelKind::kVae},
      {"clip", ModelKind::kTextEncoder},
      {"text_encoders", ModelKind::kTextEncoder},
      {"text_encoder", ModelKind::kTextEncoder},
      {"clip_embed", ModelKind::kTextEncoder},
      {"t5_encoder", ModelKind::kTextEncoder},
      {"loras", ModelKind::kLora},
      {"lora", ModelKind::kLora},
      {"lycoris", ModelKind::kLora},
      {"embeddings", ModelKind::kEmbedding},
      {"embedding", ModelKind::kEmbedding},
      {"textual_inversion", ModelKind::kEmbedding},
      {"upscale_models", ModelKind::kUpscaler},
      {"esrgan", ModelKind::kUpscaler},
      {"realesrgan", ModelKind::kUpscaler},
      {"swinir", ModelKind::kUpscaler},
      {"controlnet", ModelKind::kControlNet},
      {"t2i_adapter", ModelKind::kControlNet}};
  for (const auto& [name, kind] : kFolders)
    if (n == name) return kind;
  return ModelKind::kUnknown;
}

FolderHint FolderHintFor(const std::string& path, const std::string& root) {
  FolderHint hint;
  const fs::path stop = fs::path(root).lexically_normal().parent_path();
  fs::path dir = fs::path(path).lexically_normal().parent_path();
  for (int depth = 0; depth < 64 && !dir.empty() && dir != stop && dir != dir.root_path();
       ++depth, dir = dir.parent_path()) {
    const std::string name = dir.filename().string();
    if (hint.kind == ModelKind::kUnknown) {
      if (ModelKind k = KindOfFolderName(name); k != ModelKind::kUnknown) {
        hint.kind = k;
        hint.folder = name;
      }
    }
    if (hint.family == Family::kUnknown) hint.family = FamilyOfFolderName(Lower(name));
  }
  return hint;
}

Family FamilyFromName(const std::string& file_name) {
  const std::string n = Lower(fs::path(file_name).stem().string());
  if (n == "ae" || Has(n, "flux")) return Family::kFlux;
  if (Has(n, "sd3")) return Family::kSD3;
  if (Has(n, "sdxl") || StartsWith(n, "xl_") || StartsWith(n, "xl-") || Has(n, "_xl") ||
      Has(n, "-xl") || Has(n, "pony"))
    return Family::kSDXL;
  if (Has(n, "sd21") || Has(n, "sd2") || Has(n, "v2-1") || Has(n, "sd-v2")) return Family::kSD2;
  for (const char* p : {"sd15", "sd1.5", "sd_1.5", "sd-1.5", "v1-5", "ft-mse", "ft-ema", "840000",
                        "560000", "sd-v1", "kl-f8-anime", "orangemix", "sd1"})
    if (Has(n, p)) return Family::kSD1;
  return Family::kUnknown;
}

bool IsModelFileName(const std::string& file_name) {
  const std::string n = Lower(file_name);
  for (const char* ext : {".safetensors", ".sft", ".ckpt", ".pt", ".pth", ".bin", ".gguf"})
    if (EndsWith(n, ext)) return true;
  return false;
}

Classification ClassifyTensors(const std::shared_ptr<const io::SafetensorsFile>& file,
                               const FolderHint& hint) {
  const io::SafetensorsFile& f = *file;
  Classification c;
  if (std::string sub = LoraSubtype(f); !sub.empty()) {
    c.kind = ModelKind::kLora;
    c.subtype = sub;
    c.evidence.push_back(sub == "loha"   ? "LyCORIS LoHa weights (hada_w1_a/hada_w2_a)"
                         : sub == "lokr" ? "LyCORIS LoKr weights (lokr_w1/lokr_w2)"
                         : sub == "peft" ? "PEFT / diffusers LoRA weights (lora_A/lora_B)"
                                         : "LoRA weights (lora_down/lora_up)");
    c.family = LoraFamily(f, &c.evidence);
  } else if (ClassifyEmbedding(f, &c) || ClassifyControlNet(f, &c) || ClassifyUpscaler(f, &c)) {
    // filled in
  } else {
    Detection d = DetectSafetensors(file);
    c.family = d.family;
    switch (d.layout) {
      case Layout::kCheckpoint: c.kind = ModelKind::kCheckpoint; break;
      case Layout::kUnetOnly: c.kind = ModelKind::kDiffusionModel; break;
      case Layout::kVaeOnly: c.kind = ModelKind::kVae; break;
      case Layout::kTextEncoderOnly: c.kind = ModelKind::kTextEncoder; break;
      default: break;
    }
    if (c.kind == ModelKind::kCheckpoint || c.kind == ModelKind::kDiffusionModel)
      if (d.variant == "refiner" || d.variant == "inpaint") c.subtype = d.variant;
    if (c.kind == ModelKind::kVae) c.latent_channels = VaeLatentChannels(f);
    if (c.kind == ModelKind::kTextEncoder) c.subtype = EncoderRole(f, d);
    c.evidence.insert(c.evidence.end(), d.evidence.begin(), d.evidence.end());
  }
  // Components whose tensors are shared across families: the name, then the folder.
  if (c.family == Family::kUnknown &&
      (c.kind == ModelKind::kVae || c.kind == ModelKind::kLora || c.kind == ModelKind::kEmbedding ||
       c.kind == ModelKind::kControlNet)) {
    if (Family fam = FamilyFromName(f.path()); fam != Family::kUnknown) {
      const bool fits = c.kind != ModelKind::kVae || c.latent_channels == 0 ||
                        (c.latent_channels == 16) == (fam == Family::kSD3 || fam == Family::kFlux);
      if (fits) {
        c.family = fam;
        c.evidence.push_back(std::string("family from the file name: ") + FamilyName(fam));
      }
    }
    if (c.family == Family::kUnknown && hint.family != Family::kUnknown) {
      c.family = hint.family;
      c.evidence.push_back(std::string("family from the folder: ") + FamilyName(hint.family));
    }
  }
  if (c.kind == ModelKind::kUnknown && hint.kind != ModelKind::kUnknown) {
    c.kind = hint.kind;
    c.evidence.push_back(std::string("tensors match no known kind; the folder '") + hint.folder +
                         "' says " + KindName(hint.kind));
  } else if (hint.kind != ModelKind::kUnknown && hint.kind != c.kind &&
             !(hint.kind == ModelKind::kCheckpoint && c.kind == ModelKind::kDiffusionModel) &&
             !(hint.kind == ModelKind::kDiffusionModel && c.kind == ModelKind::kCheckpoint)) {
    c.evidence.push_back(std::string("in a '") + hint.folder + "' folder, but the tensors hold a " +
                         KindName(c.kind) + ": listed as " + KindName(c.kind));
  }
  return c;
}

}  // namespace easel::library
