// Model detection from tensor names and shapes. See detect.h; the family rules follow
// ComfyUI's comfy/model_detection.py in spirit (keys and shapes, a registry of families).
#include "library/detect.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>

#include "io/safetensors.h"
#include "util/files.h"

namespace easel::library {
namespace {

namespace fs = std::filesystem;
using Shape = std::vector<int64_t>;

constexpr const char* kUnetPrefix = "model.diffusion_model.";
// The tensor ComfyUI's SD2 v-prediction heuristic reads (relative to the UNet prefix).
constexpr const char* kVHeuristicKey = "output_blocks.11.1.transformer_blocks.0.norm1.bias";
constexpr double kVHeuristicStd = 0.09;

// One element of a float tensor as a double (F16, BF16, F32, F64; little-endian).
double ElementAsDouble(const io::TensorInfo& t, int64_t i) {
  const uint8_t* p = t.data + i * static_cast<int64_t>(io::DTypeSize(t.dtype));
  switch (t.dtype) {
    case io::DType::kF32: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    case io::DType::kF64: {
      double d;
      std::memcpy(&d, p, 8);
      return d;
    }
    case io::DType::kBF16: {
      uint32_t bits = static_cast<uint32_t>(p[0] | (p[1] << 8)) << 16;
      float f;
      std::memcpy(&f, &bits, 4);
      return f;
    }
    default: {  // kF16
      const uint16_t h = static_cast<uint16_t>(p[0] | (p[1] << 8));
      const int exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
      const double sign = (h & 0x8000) ? -1.0 : 1.0;
      if (exp == 0) return sign * std::ldexp(mant, -24);
      if (exp == 31) return mant ? NAN : sign * INFINITY;
      return sign * std::ldexp(1024 + mant, exp - 25);
    }
  }
}

// The population standard deviation of a float tensor, computed in double.
Status PopulationStd(const io::TensorInfo& t, double* out) {
  if (t.dtype != io::DType::kF16 && t.dtype != io::DType::kBF16 && t.dtype != io::DType::kF32 &&
      t.dtype != io::DType::kF64)
    return Status(Code::kUnsupported, std::string("tensor ") + t.name + " has dtype " +
                                          io::DTypeName(t.dtype) + ", not a float type");
  const int64_t n = t.numel();
  if (n == 0) return Status(Code::kCorrupt, "tensor " + t.name + " is empty");
  double sum = 0, sum_sq = 0;
  for (int64_t i = 0; i < n; ++i) sum += ElementAsDouble(t, i);
  const double mean = sum / static_cast<double>(n);
  for (int64_t i = 0; i < n; ++i) {
    const double d = ElementAsDouble(t, i) - mean;
    sum_sq += d * d;
  }
  *out = std::sqrt(sum_sq / static_cast<double>(n));
  return Status();
}

bool StartsWith(const std::string& s, const std::string& p) {
  return s.compare(0, p.size(), p) == 0;
}
bool EndsWith(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

const Shape* ShapeOf(const io::SafetensorsFile& f, const std::string& name) {
  const io::TensorInfo* t = f.Find(name);
  return t ? &t->shape : nullptr;
}

bool HasPrefix(const io::SafetensorsFile& f, const std::string& prefix) {
  for (const auto& t : f.tensors())
    if (StartsWith(t.name, prefix)) return true;
  return false;
}

// First tensor (in name order) under `prefix` whose name ends with `suffix`.
const io::TensorInfo* FindSuffix(const io::SafetensorsFile& f, const std::string& prefix,
                                 const std::string& suffix) {
  const io::TensorInfo* best = nullptr;
  for (const auto& t : f.tensors())
    if (StartsWith(t.name, prefix) && EndsWith(t.name, suffix) && (!best || t.name < best->name))
      best = &t;
  return best;
}

// ---- the denoiser ------------------------------------------------------------------

// A UNet of the SD family (SD1/SD2/SDXL), in LDM names (input_blocks ...) or diffusers names
// (down_blocks ...), at the top level or under model.diffusion_model.
struct UnetInfo {
  bool found = false;
  std::string prefix;
  std::string layout;  // "ldm" | "diffusers"
  int64_t in_channels = 0;
  int64_t context_dim = 0;   // 0: no cross-attention found
  int64_t adm_channels = 0;  // label_emb / add_embedding input width; 0: none
  int proj_in_dims = 0;      // 4: conv proj_in (SD1), 2: linear (SD2, SDXL); 0: unknown
};

UnetInfo ReadUnet(const io::SafetensorsFile& f) {
  UnetInfo u;
  for (const char* p : {kUnetPrefix, ""}) {
    const std::string prefix = p;
    if (const Shape* s = ShapeOf(f, prefix + "input_blocks.0.0.weight")) {
      u.found = true;
      u.prefix = prefix;
      u.layout = "ldm";
      if (s->size() == 4) u.in_channels = (*s)[1];
      if (const Shape* l = ShapeOf(f, prefix + "label_emb.0.0.weight"); l && l->size() == 2)
        u.adm_channels = (*l)[1];
      break;
    }
    if (ShapeOf(f, prefix + "time_embedding.linear_1.weight") &&
        HasPrefix(f, prefix + "down_blocks.")) {
      u.found = true;
      u.prefix = prefix;
      u.layout = "diffusers";
      if (const Shape* s = ShapeOf(f, prefix + "conv_in.weight"); s && s->size() == 4)
        u.in_channels = (*s)[1];
      if (const Shape* l = ShapeOf(f, prefix + "add_embedding.linear_1.weight");
          l && l->size() == 2)
        u.adm_channels = (*l)[1];
      break;
    }
  }
  if (!u.found) return u;
  if (const auto* k = FindSuffix(f, u.prefix, ".transformer_blocks.0.attn2.to_k.weight");
      k && k->shape.size() == 2)
    u.context_dim = k->shape[1];
  if (const auto* p = FindSuffix(f, u.prefix, ".proj_in.weight"))
    u.proj_in_dims = static_cast<int>(p->shape.size());
  return u;
}

// Where a DiT-style denoiser (SD3's MMDiT, Flux) keeps its blocks, if it has them.
bool HasBlocks(const io::SafetensorsFile& f, const std::string& block) {
  return HasPrefix(f, std::string(kUnetPrefix) + block) || HasPrefix(f, block);
}

// ---- text encoders -----------------------------------------------------------------

// The layout of the text encoder a single-file checkpoint carries: "hf_clip" (SD1's
// cond_stage_model.transformer.*), "openclip" (SD2's cond_stage_model.model.*), or "".
std::string CheckpointTextLayout(const io::SafetensorsFile& f) {
  if (HasPrefix(f, "cond_stage_model.transformer.")) return "hf_clip";
  if (HasPrefix(f, "cond_stage_model.model.")) return "openclip";
  return "";
}

// ---- family rules ------------------------------------------------------------------

bool IsSdxlUnet(const UnetInfo& u) {
  return u.adm_channels == 2816 || u.adm_channels == 2560;
}

// SD1 vs SD2 for a UNet without class embedding: 1 = SD1, 2 = SD2, 0 = neither.
int Sd12(const io::SafetensorsFile& f, const UnetInfo& u, std::vector<std::string>* ev) {
  if (!u.found || u.context_dim == 0 || u.adm_channels != 0) return 0;
  if (HasPrefix(f, "conditioner.embedders.")) return 0;
  if (u.context_dim == 768) {
    ev->push_back("UNet cross-attention width 768 (attn2.to_k): CLIP-L context, SD1.x");
    return 1;
  }
  if (u.context_dim == 1024) {
    ev->push_back("UNet cross-attention width 1024 (attn2.to_k): OpenCLIP-H context, SD2.x");
    return 2;
  }
  const std::string width = "UNet cross-attention width " + std::to_string(u.context_dim) +
                            " is neither 768 (SD1) nor 1024 (SD2): deciding by structure: ";
  const std::string te = CheckpointTextLayout(f);
  if (te == "hf_clip") {
    ev->push_back(width + "HF CLIP text encoder under cond_stage_model.transformer (SD1 layout)");
    return 1;
  }
  if (te == "openclip") {
    ev->push_back(width + "OpenCLIP text encoder under cond_stage_model.model (SD2 layout)");
    return 2;
  }
  if (u.proj_in_dims == 4) {
    ev->push_back(width + "convolutional transformer proj_in (SD1 layout)");
    return 1;
  }
  if (u.proj_in_dims == 2) {
    ev->push_back(width + "linear transformer proj_in (SD2 layout)");
    return 2;
  }
  return 0;
}

bool ClaimsSd1(const io::SafetensorsFile& f, std::vector<std::string>* ev) {
  std::vector<std::string> mine;
  if (Sd12(f, ReadUnet(f), &mine) != 1) return false;
  ev->insert(ev->end(), mine.begin(), mine.end());
  return true;
}

bool ClaimsSd2(const io::SafetensorsFile& f, std::vector<std::string>* ev) {
  std::vector<std::string> mine;
  if (Sd12(f, ReadUnet(f), &mine) != 2) return false;
  ev->insert(ev->end(), mine.begin(), mine.end());
  return true;
}

bool ClaimsSdxl(const io::SafetensorsFile& f, std::vector<std::string>* ev) {
  const UnetInfo u = ReadUnet(f);
  if (u.found && IsSdxlUnet(u)) {
    ev->push_back("UNet class embedding (label_emb / add_embedding) of width " +
                  std::to_string(u.adm_channels) +
                  (u.adm_channels == 2816 ? ": SDXL base" : ": SDXL refiner"));
    return true;
  }
  if (u.found && HasPrefix(f, "conditioner.embedders.")) {
    // Tiny or unusual widths: a UNet with SGM text encoders (SD1/SD2 files use
    // cond_stage_model) is SDXL by structure.
    ev->push_back("SGM text encoders under conditioner.embedders" +
                  (u.adm_channels
                       ? " and a UNet class embedding of width " + std::to_string(u.adm_channels)
                       : std::string()) +
                  ": SDXL");
    return true;
  }
  return false;
}

bool ClaimsSd3(const io::SafetensorsFile& f, std::vector<std::string>* ev) {
  if (HasBlocks(f, "joint_blocks.0.")) {
    ev->push_back("MMDiT joint_blocks: SD3");
    return true;
  }
  // diffusers SD3Transformer2DModel: dual-stream blocks only (Flux has single blocks too).
  if (ShapeOf(f, "transformer_blocks.0.attn.add_q_proj.weight") &&
      ShapeOf(f, "pos_embed.proj.weight") && !HasPrefix(f, "single_transformer_blocks.")) {
    ev->push_back("diffusers SD3 transformer (transformer_blocks with add_q_proj, pos_embed)");
    return true;
  }
  return false;
}

bool ClaimsFlux(const io::SafetensorsFile& f, std::vector<std::string>* ev) {
  if (HasBlocks(f, "double_blocks.0.")) {
    ev->push_back("double_blocks / single_blocks transformer: Flux");
    return true;
  }
  if (HasPrefix(f, "single_transformer_blocks.0.") && HasPrefix(f, "transformer_blocks.0.")) {
    ev->push_back("diffusers Flux transformer (transformer_blocks + single_transformer_blocks)");
    return true;
  }
  return false;
}

// ---- components --------------------------------------------------------------------

std::string ComponentOf(const std::string& name, Family family) {
  const bool dit = family == Family::kSD3 || family == Family::kFlux;
  if (StartsWith(name, kUnetPrefix)) return dit ? "transformer" : "unet";
  if (StartsWith(name, "first_stage_model.") || StartsWith(name, "vae.")) return "vae";
  // The SDXL refiner's only encoder (conditioner.embedders.0.model.*) is OpenCLIP-bigG, which
  // diffusers calls text_encoder_2.
  if (StartsWith(name, "conditioner.embedders.0.model.")) return "text_encoder_2";
  if (StartsWith(name, "cond_stage_model.") || StartsWith(name, "conditioner.embedders.0.") ||
      StartsWith(name, "text_encoders.clip_l."))
    return "text_encoder";
  if (StartsWith(name, "conditioner.embedders.1.") || StartsWith(name, "text_encoders.clip_g."))
    return "text_encoder_2";
  if (StartsWith(name, "text_encoders.t5xxl.")) return "text_encoder_3";
  return "other";
}

void AddStats(std::vector<ComponentStats>* comps, const std::string& component,
              const io::TensorInfo& t) {
  auto it = std::find_if(comps->begin(), comps->end(),
                         [&](const ComponentStats& c) { return c.name == component; });
  if (it == comps->end()) {
    comps->push_back(ComponentStats{component, 0, 0, {}});
    it = comps->end() - 1;
  }
  it->tensors += 1;
  it->parameters += t.numel();
  it->dtypes[io::DTypeName(t.dtype)] += t.numel();
}

// A VAE at the top level or under a known prefix; returns the prefix or nullptr.
const char* VaePrefix(const io::SafetensorsFile& f) {
  for (const char* p : {"", "first_stage_model.", "vae."}) {
    const std::string s = p;
    if (ShapeOf(f, s + "encoder.conv_in.weight") && ShapeOf(f, s + "decoder.conv_in.weight"))
      return p;
  }
  return nullptr;
}

// Text-encoder-only files: the layout and a description, or "" when it is none.
std::string TextEncoderOnly(const io::SafetensorsFile& f, std::string* what) {
  for (const char* text_prefix : {"text_model.", ""}) {
    const std::string p = text_prefix;
    if (const Shape* s = ShapeOf(f, p + "embeddings.token_embedding.weight");
        s && s->size() == 2 && ShapeOf(f, p + "encoder.layers.0.layer_norm1.weight")) {
      int layers = 0;
      while (ShapeOf(f, p + "encoder.layers." + std::to_string(layers) + ".layer_norm1.weight"))
        ++layers;
      const int64_t w = (*s)[1];
      *what = "HF CLIP text encoder, width " + std::to_string(w) + ", " + std::to_string(layers) +
              " layers" +
              (w == 768    ? " (CLIP-L: SD1.x's encoder; SDXL, SD3 and Flux use one too)"
               : w == 1024 ? " (OpenCLIP-H: SD2.x's encoder)"
               : w == 1280 ? " (OpenCLIP-G: SDXL's second encoder)"
                           : "");
      return "hf_clip";
    }
  }
  if (const Shape* s = ShapeOf(f, "token_embedding.weight");
      s && s->size() == 2 && HasPrefix(f, "transformer.resblocks.")) {
    *what = "OpenCLIP text tower, width " + std::to_string((*s)[1]);
    return "openclip";
  }
  if (HasPrefix(f, "encoder.block.0.layer.0.SelfAttention.")) {
    *what = "T5 encoder (SD3 / Flux text encoder)";
    return "t5";
  }
  return "";
}

// SD2 v-prediction: the `v_pred` marker, else ComfyUI's norm1.bias heuristic when data exists.
Prediction UnetPrediction(const std::shared_ptr<const io::SafetensorsFile>& file, const UnetInfo& u,
                          Family family, std::vector<std::string>* ev) {
  if (file->Find("v_pred")) {
    ev->push_back("'v_pred' marker key: v-prediction");
    return Prediction::kV;
  }
  if (family != Family::kSD2) {
    ev->push_back("no 'v_pred' marker key: eps-prediction");
    return Prediction::kEps;
  }
  if (u.in_channels != 4 || u.layout != "ldm") {
    ev->push_back("no 'v_pred' marker key: eps-prediction (SD2 inpainting models predict eps)");
    return Prediction::kEps;
  }
  const io::TensorInfo* t = file->Find(u.prefix + kVHeuristicKey);
  if (!t) {
    ev->push_back(std::string("no 'v_pred' marker key and no ") + kVHeuristicKey +
                  " for the v heuristic: assuming eps-prediction");
    return Prediction::kEps;
  }
  if (!t->data) {
    ev->push_back(
        "no 'v_pred' marker key; v heuristic not run (header read only): assuming "
        "eps-prediction");
    return Prediction::kEps;
  }
  double std_dev = 0;
  Status st = PopulationStd(*t, &std_dev);
  if (!st.ok()) {
    ev->push_back("v heuristic failed (" + st.message() + "): assuming eps-prediction");
    return Prediction::kEps;
  }
  std::ostringstream os;
  os << "std of " << kVHeuristicKey << " = " << std_dev
     << (std_dev > kVHeuristicStd ? " > " : " <= ") << kVHeuristicStd
     << " (ComfyUI's SD2 heuristic): "
     << (std_dev > kVHeuristicStd ? "v-prediction" : "eps-prediction");
  ev->push_back(os.str());
  return std_dev > kVHeuristicStd ? Prediction::kV : Prediction::kEps;
}

// The SDXL refiner: label_emb 2560 (1280 pooled + 5 x 256), or by structure its SGM file
// holds OpenCLIP-bigG as the only embedder (conditioner.embedders.0.model.*).
bool IsSdxlRefiner(const io::SafetensorsFile& f, const UnetInfo& u) {
  if (u.adm_channels == 2560) return true;
  if (u.adm_channels == 2816) return false;
  return HasPrefix(f, "conditioner.embedders.0.model.") &&
         !HasPrefix(f, "conditioner.embedders.1.");
}

std::string VariantFor(Family family, const UnetInfo& u, const io::SafetensorsFile& f) {
  if (family == Family::kSDXL && IsSdxlRefiner(f, u)) return "refiner";
  if (u.in_channels == 4) return "base";
  if (u.in_channels == 9) return "inpaint";
  return "in_channels=" + std::to_string(u.in_channels);
}

Result<nlohmann::json> ReadJson(const std::string& path) {
  Result<std::string> text = ReadFile(path, uint64_t{16} << 20);
  if (!text.ok()) return text.status();
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return Corrupt(path + " is not a valid JSON object: re-download the model's config files");
  return j;
}

template <class T>
T JsonGet(const nlohmann::json& j, const char* key, T fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const std::exception&) {
    return fallback;
  }
}

}  // namespace

const char* FamilyName(Family family) {
  switch (family) {
    case Family::kSD1: return "SD1";
    case Family::kSD2: return "SD2";
    case Family::kSDXL: return "SDXL";
    case Family::kSD3: return "SD3";
    case Family::kFlux: return "Flux";
    case Family::kUnknown: break;
  }
  return "unknown";
}

const char* PredictionName(Prediction p) {
  switch (p) {
    case Prediction::kEps: return "eps";
    case Prediction::kV: return "v";
    case Prediction::kFlow: return "flow";
    case Prediction::kUnknown: break;
  }
  return "unknown";
}

const char* LayoutName(Layout layout) {
  switch (layout) {
    case Layout::kCheckpoint: return "checkpoint";
    case Layout::kDiffusers: return "diffusers";
    case Layout::kUnetOnly: return "unet_only";
    case Layout::kVaeOnly: return "vae_only";
    case Layout::kTextEncoderOnly: return "text_encoder_only";
    case Layout::kUnknown: break;
  }
  return "unknown";
}

bool Detection::Has(const std::string& component) const {
  return Component(component) != nullptr;
}

const ComponentStats* Detection::Component(const std::string& name) const {
  for (const auto& c : components)
    if (c.name == name) return &c;
  return nullptr;
}

nlohmann::json Detection::ToJson() const {
  nlohmann::json comps = nlohmann::json::array();
  for (const auto& c : components)
    comps.push_back({{"name", c.name},
                     {"tensors", c.tensors},
                     {"parameters", c.parameters},
                     {"dtypes", c.dtypes}});
  return {{"path", path},
          {"family", FamilyName(family)},
          {"variant", variant},
          {"prediction", PredictionName(prediction)},
          {"layout", LayoutName(layout)},
          {"unet_layout", unet_layout},
          {"text_encoder_layout", text_encoder_layout},
          {"context_dim", context_dim},
          {"in_channels", in_channels},
          {"supported", Supported()},
          {"components", comps},
          {"file_size", file_size},
          {"evidence", evidence}};
}

const std::vector<FamilyRule>& FamilyRules() {
  static const std::vector<FamilyRule> kRules = {{Family::kSD1, &ClaimsSd1},
                                                 {Family::kSD2, &ClaimsSd2},
                                                 {Family::kSDXL, &ClaimsSdxl},
                                                 {Family::kSD3, &ClaimsSd3},
                                                 {Family::kFlux, &ClaimsFlux}};
  return kRules;
}

std::vector<Family> FamiliesClaiming(const io::SafetensorsFile& file) {
  std::vector<Family> out;
  std::vector<std::string> ignored;
  for (const FamilyRule& rule : FamilyRules())
    if (rule.claims(file, &ignored)) out.push_back(rule.family);
  return out;
}

Detection DetectSafetensors(const std::shared_ptr<const io::SafetensorsFile>& file) {
  Detection d;
  const io::SafetensorsFile& f = *file;
  d.path = f.path();
  d.file_size = f.file_size();

  std::vector<std::string> claims;
  for (const FamilyRule& rule : FamilyRules()) {
    std::vector<std::string> ev;
    if (rule.claims(f, &ev)) {
      if (d.family != Family::kUnknown) {
        // Two rules on one file is a bug in the rules; report it rather than guess.
        d.evidence.push_back(std::string("ambiguous: both ") + FamilyName(d.family) + " and " +
                             FamilyName(rule.family) + " claim these weights");
        d.family = Family::kUnknown;
        break;
      }
      d.family = rule.family;
      d.evidence.insert(d.evidence.end(), ev.begin(), ev.end());
    }
  }

  const UnetInfo u = ReadUnet(f);
  const bool dit = d.family == Family::kSD3 || d.family == Family::kFlux;
  const bool checkpoint = HasPrefix(f, kUnetPrefix);
  if (u.found) {
    d.unet_layout = u.layout;
    d.context_dim = u.context_dim;
    d.in_channels = u.in_channels;
    d.evidence.push_back(std::string("UNet in ") + (u.layout == "ldm" ? "LDM" : "diffusers") +
                         " names" +
                         (u.prefix.empty() ? " at the top level" : " under " + u.prefix) + ", " +
                         std::to_string(u.in_channels) + " input channels");
  }

  std::string te_what;
  if (checkpoint) {
    d.layout = Layout::kCheckpoint;
    d.text_encoder_layout = CheckpointTextLayout(f);
    if (d.text_encoder_layout.empty() && HasPrefix(f, "conditioner.embedders."))
      d.text_encoder_layout = "sgm";
  } else if (u.found || dit) {
    d.layout = Layout::kUnetOnly;
  } else if (const char* vp = VaePrefix(f)) {
    d.layout = Layout::kVaeOnly;
    const Shape* z = ShapeOf(f, std::string(vp) + "decoder.conv_in.weight");
    d.evidence.push_back("VAE (encoder.* + decoder.*" +
                         (std::string(vp).empty() ? std::string() : std::string(" under ") + vp) +
                         ") with " + (z && z->size() == 4 ? std::to_string((*z)[1]) : "?") +
                         " latent channels" +
                         (z && z->size() == 4 && (*z)[1] == 4 ? " (SD1.x/SD2.x/SDXL VAE)" : ""));
  } else if (std::string te = TextEncoderOnly(f, &te_what); !te.empty()) {
    d.layout = Layout::kTextEncoderOnly;
    d.text_encoder_layout = te;
    d.evidence.push_back(te_what);
  }

  for (const auto& t : f.tensors()) {
    std::string comp;
    switch (d.layout) {
      case Layout::kUnetOnly:
        comp = t.name == "v_pred" ? "other" : (dit ? "transformer" : "unet");
        break;
      case Layout::kVaeOnly: comp = "vae"; break;
      case Layout::kTextEncoderOnly: comp = "text_encoder"; break;
      default: comp = ComponentOf(t.name, d.family); break;
    }
    AddStats(&d.components, comp, t);
  }

  if (d.family == Family::kUnknown) {
    if (d.layout == Layout::kUnknown)
      d.evidence.push_back(
          "no known layout: no UNet (input_blocks / down_blocks), DiT blocks, "
          "VAE (encoder/decoder) or text encoder keys");
    else if (u.found)
      d.evidence.push_back("UNet matches no known family (cross-attention width " +
                           std::to_string(u.context_dim) + ", class embedding width " +
                           std::to_string(u.adm_channels) + ")");
    return d;
  }
  if (dit) {
    d.prediction = Prediction::kFlow;
    d.evidence.push_back(std::string(FamilyName(d.family)) + " is a flow-matching model");
  } else {
    d.variant = VariantFor(d.family, u, f);
    d.prediction = UnetPrediction(file, u, d.family, &d.evidence);
  }
  return d;
}

Result<Detection> DetectFile(const std::string& path, bool read_data) {
  auto header = io::SafetensorsFile::OpenHeaderOnly(path);
  if (!header.ok()) return header.status();
  Detection d = DetectSafetensors(*header);
  // The SD2 v heuristic needs one tensor's values: map the file (pages load on demand).
  const bool heuristic = d.family == Family::kSD2 && d.variant == "base" &&
                         !(*header)->Find("v_pred") && d.unet_layout == "ldm";
  if (read_data && heuristic) {
    const UnetInfo u = ReadUnet(**header);
    if ((*header)->Find(u.prefix + kVHeuristicKey)) {
      auto full = io::SafetensorsFile::Open(path);
      if (!full.ok()) return full.status();
      d = DetectSafetensors(*full);
    }
  }
  return d;
}

Result<std::vector<std::string>> DiffusersWeightFiles(const std::string& component_dir) {
  const fs::path dir(component_dir);
  for (const char* base : {"diffusion_pytorch_model", "model"}) {
    for (const char* variant : {"", ".fp16"}) {
      const fs::path single = dir / (std::string(base) + variant + ".safetensors");
      std::error_code ec;
      if (fs::is_regular_file(single, ec)) return std::vector<std::string>{single.string()};
      const fs::path index = dir / (std::string(base) + variant + ".safetensors.index.json");
      if (!fs::is_regular_file(index, ec)) continue;
      Result<nlohmann::json> j = ReadJson(index.string());
      if (!j.ok()) return j.status();
      auto map = j->find("weight_map");
      if (map == j->end() || !map->is_object() || map->empty())
        return Corrupt(index.string() + " has no weight_map: re-download the model");
      std::set<std::string> shards;
      for (const auto& [name, shard] : map->items()) {
        if (!shard.is_string() || shard.get<std::string>().find('/') != std::string::npos)
          return Corrupt(index.string() + ": weight '" + name +
                         "' names no shard file in this folder");
        shards.insert(shard.get<std::string>());
      }
      std::vector<std::string> out;
      for (const auto& s : shards) out.push_back((dir / s).string());
      return out;
    }
  }
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (EndsWith(name, ".bin") || EndsWith(name, ".ckpt"))
      return Unsupported(component_dir + " holds only pickled weights (" + name +
                         "), which Easel does not load because loading them can run code: "
                         "convert them to safetensors (diffusers: save_pretrained(..., "
                         "safe_serialization=True))");
  }
  return NotFound("no safetensors weights in " + component_dir +
                  " (expected diffusion_pytorch_model.safetensors or model.safetensors)");
}

Result<Detection> DetectDiffusersFolder(const std::string& dir_in) {
  const fs::path dir(dir_in);
  Result<nlohmann::json> index = ReadJson((dir / "model_index.json").string());
  if (!index.ok()) return index.status();
  Detection d;
  d.path = dir_in;
  d.layout = Layout::kDiffusers;
  const std::string cls = JsonGet<std::string>(*index, "_class_name", "");
  d.evidence.push_back("diffusers folder: model_index.json _class_name '" + cls + "'");

  // Components: every model_index entry naming a [library, class] pair with a folder.
  for (const auto& [name, value] : index->items()) {
    if (!value.is_array() || value.size() != 2 || value[0].is_null()) continue;
    if (name == "tokenizer" || name == "tokenizer_2" || name == "scheduler" ||
        name == "feature_extractor" || name == "safety_checker" || name == "image_encoder")
      continue;
    Result<std::vector<std::string>> files = DiffusersWeightFiles((dir / name).string());
    if (!files.ok()) {
      d.evidence.push_back(name + ": " + files.status().message());
      continue;
    }
    for (const auto& path : *files) {
      auto header = io::SafetensorsFile::OpenHeaderOnly(path);
      if (!header.ok()) return header.status();
      d.file_size += (*header)->file_size();
      for (const auto& t : (*header)->tensors()) AddStats(&d.components, name, t);
    }
  }

  nlohmann::json unet_cfg = nlohmann::json::object();
  if (auto r = ReadJson((dir / "unet" / "config.json").string()); r.ok()) unet_cfg = *r;
  nlohmann::json te_cfg = nlohmann::json::object();
  if (auto r = ReadJson((dir / "text_encoder" / "config.json").string()); r.ok()) te_cfg = *r;
  if (d.Has("unet")) d.unet_layout = "diffusers";
  if (d.Has("text_encoder")) d.text_encoder_layout = "hf_clip";
  d.in_channels = JsonGet<int64_t>(unet_cfg, "in_channels", 0);
  d.context_dim = JsonGet<int64_t>(unet_cfg, "cross_attention_dim", 0);

  if (cls.find("StableDiffusionXL") != std::string::npos) {
    d.family = Family::kSDXL;
    d.evidence.push_back("SDXL pipeline class");
  } else if (cls.find("StableDiffusion3") != std::string::npos) {
    d.family = Family::kSD3;
    d.evidence.push_back("SD3 pipeline class");
  } else if (cls.find("Flux") != std::string::npos) {
    d.family = Family::kFlux;
    d.evidence.push_back("Flux pipeline class");
  } else if (cls.rfind("StableDiffusion", 0) == 0) {
    const std::string act = JsonGet<std::string>(te_cfg, "hidden_act", "");
    const std::string width =
        "unet/config.json cross_attention_dim " + std::to_string(d.context_dim);
    if (d.context_dim == 768) {
      d.family = Family::kSD1;
      d.evidence.push_back(width + ": CLIP-L context, SD1.x");
    } else if (d.context_dim == 1024) {
      d.family = Family::kSD2;
      d.evidence.push_back(width + ": OpenCLIP-H context, SD2.x");
    } else if (act == "quick_gelu" || act == "gelu") {
      d.family = act == "quick_gelu" ? Family::kSD1 : Family::kSD2;
      d.evidence.push_back(width +
                           " is neither 768 (SD1) nor 1024 (SD2): deciding by structure: "
                           "text_encoder hidden_act " +
                           act +
                           (act == "quick_gelu" ? " (OpenAI CLIP, SD1)" : " (OpenCLIP, SD2)"));
    } else if (unet_cfg.contains("use_linear_projection")) {
      const bool linear = JsonGet<bool>(unet_cfg, "use_linear_projection", false);
      d.family = linear ? Family::kSD2 : Family::kSD1;
      d.evidence.push_back(width +
                           " is neither 768 (SD1) nor 1024 (SD2): deciding by structure: "
                           "use_linear_projection " +
                           (linear ? "true (SD2)" : "false (SD1)"));
    } else {
      d.evidence.push_back(width + ": not SD1 (768) or SD2 (1024), and no structural hint");
    }
  } else {
    d.evidence.push_back("pipeline class '" + cls + "' is not one Easel knows");
  }

  if (d.family == Family::kSD3 || d.family == Family::kFlux) {
    d.prediction = Prediction::kFlow;
    return d;
  }
  if (d.family == Family::kUnknown) return d;
  if (d.in_channels == 4)
    d.variant = "base";
  else if (d.in_channels == 9)
    d.variant = "inpaint";
  else if (d.in_channels)
    d.variant = "in_channels=" + std::to_string(d.in_channels);
  if (d.family == Family::kSDXL && !d.Has("text_encoder") && d.Has("text_encoder_2"))
    d.variant = "refiner";

  d.prediction = Prediction::kEps;
  auto sched = ReadJson((dir / "scheduler" / "scheduler_config.json").string());
  if (sched.ok()) {
    const std::string p = JsonGet<std::string>(*sched, "prediction_type", "epsilon");
    if (p == "v_prediction") d.prediction = Prediction::kV;
    d.evidence.push_back("scheduler prediction_type '" + p + "'");
  } else {
    d.evidence.push_back("no scheduler/scheduler_config.json: assuming eps-prediction");
  }
  return d;
}

Result<Detection> DetectPath(const std::string& path, bool read_data) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    if (!fs::is_regular_file(fs::path(path) / "model_index.json", ec))
      return NotFound(path +
                      " is a folder without model_index.json: give a .safetensors file "
                      "or a diffusers pipeline folder");
    return DetectDiffusersFolder(path);
  }
  return DetectFile(path, read_data);
}

}  // namespace easel::library
