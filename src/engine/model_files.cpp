// Model loading from single files and diffusers folders. See model_files.h.
#include "engine/model_files.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "engine/nets/ldm_convert.h"
#include "util/files.h"

namespace easel::engine {
namespace {

namespace fs = std::filesystem;
using library::Detection;
using library::Family;
using library::Layout;

constexpr const char* kUnetPrefix = "model.diffusion_model.";
constexpr const char* kVaePrefix = "first_stage_model.";
constexpr const char* kSd1TextPrefix = "cond_stage_model.transformer.";
constexpr const char* kSd2TextPrefix = "cond_stage_model.model.";
// SGM (SDXL): base = CLIP-L (HF names) + OpenCLIP-bigG; refiner = OpenCLIP-bigG alone.
constexpr const char* kSgmClipL = "conditioner.embedders.0.transformer.";
constexpr const char* kSgmBigG = "conditioner.embedders.1.model.";
constexpr const char* kSgmRefinerBigG = "conditioner.embedders.0.model.";
constexpr double kSdxlVaeScale = 0.13025;  // sgm configs: scale_factor 0.13025
// SD2 conditions on the penultimate OpenCLIP layer: single-file conversion drops the last.
constexpr int kSd2DroppedLayers = 1;

bool StartsWith(const std::string& s, const std::string& p) {
  return s.compare(0, p.size(), p) == 0;
}

std::string NameOf(const std::string& path) {
  fs::path p(path);
  if (!p.has_filename()) p = p.parent_path();  // "dir/" -> "dir"
  return fs::is_directory(p) ? p.filename().string() : p.stem().string();
}

nlohmann::json ReadJsonOrThrow(const fs::path& path) {
  std::string text = ReadFile(path.string(), uint64_t{16} << 20).ValueOrThrow();
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    throw Error(Code::kCorrupt, path.string() + " is not a valid JSON object: re-download it");
  return j;
}

// The config's value at `key`, or `fallback` when absent/null; a wrong type is an error.
template <class T>
T Get(const nlohmann::json& j, const char* key, T fallback, const fs::path& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const std::exception&) {
    throw Error(Code::kCorrupt, where.string() + ": field '" + key + "' has the wrong type");
  }
}

// All tensors of a diffusers component folder (one file or shards), one dict.
StateDict LoadComponent(const fs::path& dir) {
  std::vector<std::string> files = library::DiffusersWeightFiles(dir.string()).ValueOrThrow();
  StateDict out;
  for (const auto& path : files) {
    auto file = io::SafetensorsFile::Open(path).ValueOrThrow();
    for (auto& [k, v] : LoadSafetensors(file)) out.emplace(k, v);
  }
  return out;
}

// A diffusers-named VAE without its config.json: the two fields the key conversion needs,
// read from the encoder's blocks.
nlohmann::json VaeConfigFromKeys(const StateDict& vae) {
  nlohmann::json channels = nlohmann::json::array();
  for (int i = 0;; ++i) {
    auto it = vae.find("encoder.down_blocks." + std::to_string(i) + ".resnets.0.conv1.weight");
    if (it == vae.end()) break;
    channels.push_back(it->second.size(0));
  }
  int layers = 0;
  while (vae.count("encoder.down_blocks.0.resnets." + std::to_string(layers) + ".conv1.weight"))
    ++layers;
  return {{"block_out_channels", channels}, {"layers_per_block", layers}};
}

// Keeps the LDM VAE groups of a stand-alone VAE file (drops e.g. LPIPS "loss.*" weights).
StateDict LdmVaeGroups(const StateDict& dict) {
  StateDict out;
  for (const auto& [k, v] : dict)
    if (StartsWith(k, "encoder.") || StartsWith(k, "decoder.") || StartsWith(k, "quant_conv.") ||
        StartsWith(k, "post_quant_conv."))
      out.emplace(k, v);
  return out;
}

// Reads a separate VAE into files->vae.
void LoadVaeOverride(const std::string& vae_path, ModelFiles* files) {
  std::error_code ec;
  files->vae_path = vae_path;
  files->vae_name = NameOf(vae_path);
  if (fs::is_directory(vae_path, ec)) {
    // A diffusers vae/ folder (or a pipeline folder: take its vae/).
    fs::path dir(vae_path);
    if (!fs::is_regular_file(dir / "config.json", ec) && fs::is_directory(dir / "vae", ec))
      dir /= "vae";
    const nlohmann::json config = ReadJsonOrThrow(dir / "config.json");
    files->vae = VaeDiffusersToLdm(LoadComponent(dir), config);
    files->vae_scaling_factor =
        Get<double>(config, "scaling_factor", files->vae_scaling_factor, dir / "config.json");
    return;
  }
  auto file = io::SafetensorsFile::Open(vae_path).ValueOrThrow();
  StateDict all = LoadSafetensors(file);
  StateDict vae;
  for (const char* prefix : {kVaePrefix, "vae.", ""}) {
    if (all.count(std::string(prefix) + "decoder.conv_in.weight")) {
      vae = LdmVaeGroups(*prefix ? SubDict(all, prefix) : all);
      break;
    }
  }
  if (vae.empty())
    throw Error(Code::kInvalidArgument,
                vae_path +
                    " is not a VAE: it has no decoder.conv_in.weight (at the top level or "
                    "under first_stage_model. / vae.)");
  if (vae.count("encoder.down_blocks.0.resnets.0.conv1.weight"))  // diffusers names
    vae = VaeDiffusersToLdm(vae, VaeConfigFromKeys(vae));
  files->vae = std::move(vae);
}

void CheckVaeFits(const ModelFiles& files, const std::string& vae_source) {
  auto it = files.vae.find("decoder.conv_in.weight");
  if (it == files.vae.end() || it->second.dim() != 4)
    throw Error(Code::kInvalidArgument, vae_source + ": the VAE has no 4-D decoder.conv_in.weight");
  if (it->second.size(1) != 4)
    throw Error(Code::kInvalidArgument,
                vae_source + " is a VAE with " + std::to_string(it->second.size(1)) +
                    " latent channels; SD1.x/SD2.x models need a 4-channel VAE (SD3 and Flux "
                    "VAEs have 16)");
}

// Refuses what the SD1/SD2 pipeline cannot run, with the reason.
void CheckLoadable(const Detection& det, const std::string& path) {
  switch (det.layout) {
    case Layout::kUnetOnly:
      throw Error(Code::kInvalidArgument,
                  path +
                      " holds only a diffusion model (a ComfyUI models/unet file): it has no "
                      "text encoder and no VAE; give a full checkpoint or a diffusers folder "
                      "as the model");
    case Layout::kVaeOnly:
      throw Error(Code::kInvalidArgument,
                  path +
                      " is a VAE file, not a model: give it as the VAE and a checkpoint or "
                      "diffusers folder as the model");
    case Layout::kTextEncoderOnly:
      throw Error(Code::kInvalidArgument,
                  path +
                      " holds only a text encoder (a ComfyUI models/text_encoders file); give "
                      "a full checkpoint or a diffusers folder as the model");
    default: break;
  }
  if (det.family == Family::kUnknown) {
    std::string why;
    for (const auto& e : det.evidence) why += (why.empty() ? "" : "; ") + e;
    throw Error(Code::kInvalidArgument,
                "could not tell which model " + path + " is (" + why +
                    "); Easel loads SD1.x, SD2.x and SDXL checkpoints and diffusers folders");
  }
  if (!det.Supported())
    throw Error(Code::kUnsupported, path + ": detected " + library::FamilyName(det.family) +
                                        "; Easel supports SD1.x, SD2.x and SDXL for now");
}

void RequireComponents(const ModelFiles& f, bool have_vae_override) {
  const std::string& path = f.model_path;
  if (f.unet.empty())
    throw Error(
        Code::kInvalidArgument,
        path + " has no UNet (model.diffusion_model.* or unet/); it is not a complete model");
  if (f.IsSdxl()) {
    const bool refiner = f.det.variant == "refiner";
    if (f.text_encoder2.empty() || (!refiner && f.text_encoder.empty()))
      throw Error(Code::kInvalidArgument,
                  path + " lacks " +
                      (f.text_encoder2.empty() ? "SDXL's OpenCLIP-bigG text encoder"
                                               : "SDXL's CLIP-L text encoder") +
                      " (SGM conditioner.embedders.* or diffusers text_encoder/ + "
                      "text_encoder_2/); give a full checkpoint");
  } else if (f.text_encoder.empty()) {
    throw Error(Code::kInvalidArgument,
                path +
                    " has no text encoder (cond_stage_model.* or text_encoder/); give a full "
                    "checkpoint or a diffusers folder with text_encoder/");
  }
  if (f.vae.empty() && !have_vae_override)
    throw Error(Code::kInvalidArgument,
                path + " has no VAE (first_stage_model.* or vae/): give a separate VAE file");
}

// SDXL's OpenCLIP-bigG under `prefix`: the OpenCLIP layout (SGM files), or HF names
// (text_model.* + text_projection.weight, some converted files).
StateDict LoadBigG(const std::shared_ptr<const io::SafetensorsFile>& file,
                   const std::string& prefix) {
  StateDict raw = LoadSafetensors(file, prefix);
  if (raw.empty()) return raw;
  if (raw.count("text_model.embeddings.token_embedding.weight"))
    return NormalizeHfClipText(raw, /*keep_projection=*/true);
  return OpenClipToHfWithProjection(raw);
}

void LoadSingleFile(const std::string& path, const ModelFileOptions& options, ModelFiles* f) {
  auto file = io::SafetensorsFile::Open(path).ValueOrThrow();
  f->det = library::DetectSafetensors(file);
  CheckLoadable(f->det, path);

  f->unet = LoadSafetensors(file, kUnetPrefix);
  f->vae = LoadSafetensors(file, kVaePrefix);
  f->scheduler.prediction = f->det.prediction;
  if (f->IsSdxl()) {
    // sgm/configs/inference/sd_xl_{base,refiner}.yaml: num_head_channels 64; CLIP-L pads
    // with <|endoftext|>, OpenCLIP with 0.
    f->unet_heads = HeadRule::HeadDim(options.unet_head_dim > 0 ? options.unet_head_dim : 64);
    f->clip_activation = ClipActivation::kQuickGelu;
    f->pad_id = 49407;
    f->pad_id2 = 0;
    f->vae_scaling_factor = kSdxlVaeScale;
    if (f->det.variant == "refiner") {
      f->text_encoder2 = LoadBigG(file, kSgmRefinerBigG);
    } else {
      f->text_encoder = NormalizeHfClipText(LoadSafetensors(file, kSgmClipL));
      f->text_encoder2 = LoadBigG(file, kSgmBigG);
    }
    return;
  }
  const bool sd2 = f->det.family == Family::kSD2;
  if (f->det.text_encoder_layout == "hf_clip") {
    f->text_encoder = NormalizeHfClipText(LoadSafetensors(file, kSd1TextPrefix));
  } else if (f->det.text_encoder_layout == "openclip") {
    f->text_encoder = OpenClipToHf(LoadSafetensors(file, kSd2TextPrefix), kSd2DroppedLayers);
  }
  // The families' own settings (LDM configs v1-inference.yaml / v2-inference(-v).yaml).
  f->unet_heads = sd2 ? HeadRule::HeadDim(64) : HeadRule::Heads(8);
  f->clip_activation = sd2 ? ClipActivation::kGelu : ClipActivation::kQuickGelu;
  f->pad_id = sd2 ? 0 : 49407;
}

// The pad token's id: special_tokens_map.json (or tokenizer_config.json) names the token,
// vocab.json gives its id.
void ReadTokenizer(const fs::path& dir, std::string* vocab_path, std::string* merges_path,
                   int64_t* pad_id) {
  std::error_code ec;
  const bool has_vocab =
      fs::is_regular_file(dir / "vocab.json", ec) && fs::is_regular_file(dir / "merges.txt", ec);
  if (has_vocab && vocab_path) {
    *vocab_path = (dir / "vocab.json").string();
    *merges_path = (dir / "merges.txt").string();
  }
  std::string pad;
  for (const char* name : {"special_tokens_map.json", "tokenizer_config.json"}) {
    if (!fs::is_regular_file(dir / name, ec)) continue;
    const nlohmann::json j = ReadJsonOrThrow(dir / name);
    auto it = j.find("pad_token");
    if (it == j.end()) continue;
    if (it->is_string())
      pad = it->get<std::string>();
    else if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
      pad = (*it)["content"].get<std::string>();
    if (!pad.empty()) break;
  }
  if (pad.empty()) return;
  if (!has_vocab) {
    // No vocabulary beside the configs: the standard CLIP vocabulary is used, whose ids for
    // the two pad tokens SD models use are fixed.
    if (pad == "!") *pad_id = 0;
    if (pad == "<|endoftext|>") *pad_id = 49407;
    return;
  }
  const nlohmann::json vocab = ReadJsonOrThrow(dir / "vocab.json");
  auto id = vocab.find(pad);
  if (id == vocab.end() || !id->is_number_integer())
    throw Error(Code::kCorrupt, (dir / "vocab.json").string() + " has no id for the pad token '" +
                                    pad + "' its tokenizer config names");
  *pad_id = id->get<int64_t>();
}

// A diffusers text_encoder*/ folder: weights (HF names) and its config's activation and heads.
void LoadTextFolder(const fs::path& dir, bool keep_projection, StateDict* weights,
                    ClipActivation* activation, int64_t* heads) {
  const fs::path cfg_path = dir / "config.json";
  const nlohmann::json config = ReadJsonOrThrow(cfg_path);
  *weights = NormalizeHfClipText(LoadComponent(dir), keep_projection);
  const std::string act = Get<std::string>(config, "hidden_act", "", cfg_path);
  if (!act.empty() && activation && !ParseClipActivation(act, activation))
    throw Error(Code::kUnsupported, cfg_path.string() + ": hidden_act '" + act +
                                        "' is not one CLIP uses (quick_gelu, gelu)");
  *heads = Get<int64_t>(config, "num_attention_heads", 0, cfg_path);
}

void LoadFolder(const std::string& path, ModelFiles* f) {
  const fs::path dir(path);
  f->det = library::DetectDiffusersFolder(path).ValueOrThrow();
  CheckLoadable(f->det, path);
  const bool sd2 = f->det.family == Family::kSD2;
  std::error_code ec;

  if (fs::is_directory(dir / "unet", ec)) {
    const nlohmann::json config = ReadJsonOrThrow(dir / "unet" / "config.json");
    f->unet = UnetDiffusersToLdm(LoadComponent(dir / "unet"), config);
    f->unet_heads = UnetHeadRuleFromDiffusers(config);
  }
  if (f->IsSdxl()) f->vae_scaling_factor = kSdxlVaeScale;  // unless vae/config.json says
  if (fs::is_directory(dir / "vae", ec)) {
    const fs::path cfg_path = dir / "vae" / "config.json";
    const nlohmann::json config = ReadJsonOrThrow(cfg_path);
    f->vae = VaeDiffusersToLdm(LoadComponent(dir / "vae"), config);
    f->vae_scaling_factor = Get<double>(config, "scaling_factor", f->vae_scaling_factor, cfg_path);
  }
  f->clip_activation = sd2 ? ClipActivation::kGelu : ClipActivation::kQuickGelu;
  if (fs::is_directory(dir / "text_encoder", ec))
    LoadTextFolder(dir / "text_encoder", false, &f->text_encoder, &f->clip_activation,
                   &f->text_heads);
  f->pad_id = sd2 ? 0 : 49407;
  ReadTokenizer(dir / "tokenizer", &f->vocab_path, &f->merges_path, &f->pad_id);
  if (f->IsSdxl()) {
    if (fs::is_directory(dir / "text_encoder_2", ec)) {
      ClipActivation act2 = ClipActivation::kGelu;
      LoadTextFolder(dir / "text_encoder_2", true, &f->text_encoder2, &act2, &f->text_heads2);
      if (act2 != ClipActivation::kGelu)
        throw Error(Code::kUnsupported, path + ": text_encoder_2 should use gelu (OpenCLIP)");
    }
    f->pad_id2 = 0;
    // The refiner has only tokenizer_2; then its vocabulary is the one used.
    std::string* vocab = f->vocab_path.empty() ? &f->vocab_path : nullptr;
    ReadTokenizer(dir / "tokenizer_2", vocab, vocab ? &f->merges_path : nullptr, &f->pad_id2);
  }

  const fs::path sched_path = dir / "scheduler" / "scheduler_config.json";
  if (fs::is_regular_file(sched_path, ec)) {
    const nlohmann::json s = ReadJsonOrThrow(sched_path);
    SchedulerParams& p = f->scheduler;
    p.beta_start = Get<double>(s, "beta_start", p.beta_start, sched_path);
    p.beta_end = Get<double>(s, "beta_end", p.beta_end, sched_path);
    p.beta_schedule = Get<std::string>(s, "beta_schedule", p.beta_schedule, sched_path);
    p.num_train_timesteps =
        Get<int64_t>(s, "num_train_timesteps", p.num_train_timesteps, sched_path);
    if (p.beta_schedule != "scaled_linear" && p.beta_schedule != "linear")
      throw Error(Code::kUnsupported, sched_path.string() + ": beta_schedule '" + p.beta_schedule +
                                          "' is not supported (scaled_linear, linear)");
    if (p.num_train_timesteps <= 0 || !(p.beta_start > 0) || !(p.beta_end > p.beta_start) ||
        !(p.beta_end < 1))
      throw Error(Code::kCorrupt, sched_path.string() + ": betas or timesteps out of range");
  }
  f->scheduler.prediction = f->det.prediction;
}

}  // namespace

Result<ClipTextConfig> ModelFiles::TextConfig() const {
  return ClipTextConfig::FromWeights(text_encoder, clip_activation, text_heads);
}

Result<ClipTextConfig> ModelFiles::TextConfig2() const {
  return ClipTextConfig::FromWeights(text_encoder2, ClipActivation::kGelu, text_heads2);
}

Result<ModelFiles> LoadModelFiles(const std::string& model_path, const std::string& vae_path,
                                  const ModelFileOptions& options) {
  ModelFiles f;
  Status st = CatchAll([&] {
    std::error_code ec;
    f.model_path = model_path;
    f.model_name = NameOf(model_path);
    if (fs::is_directory(model_path, ec)) {
      if (!fs::is_regular_file(fs::path(model_path) / "model_index.json", ec))
        throw Error(Code::kInvalidArgument,
                    model_path +
                        " is a folder without model_index.json: give a .safetensors "
                        "checkpoint or a diffusers pipeline folder");
      LoadFolder(model_path, &f);
    } else {
      LoadSingleFile(model_path, options, &f);
    }
    RequireComponents(f, !vae_path.empty());
    if (!vae_path.empty()) LoadVaeOverride(vae_path, &f);
    CheckVaeFits(f, vae_path.empty() ? model_path : vae_path);

    if (options.text_heads > 0) f.text_heads = f.text_heads2 = options.text_heads;
    // Validates the text encoder(s) now (and applies the width/64 rule when no config said).
    if (!f.text_encoder.empty()) {
      Result<ClipTextConfig> tc = f.TextConfig();
      if (!tc.ok())
        throw Error(tc.status().code(), model_path + ": text encoder: " + tc.status().message());
      f.text_heads = tc->heads;
    }
    if (!f.text_encoder2.empty()) {
      Result<ClipTextConfig> tc = f.TextConfig2();
      if (!tc.ok())
        throw Error(tc.status().code(), model_path + ": text encoder 2: " + tc.status().message());
      if (tc->projection_dim == 0)
        throw Error(Code::kInvalidArgument,
                    model_path + ": SDXL's second text encoder has no text_projection");
      f.text_heads2 = tc->heads;
    }
    if (auto it = f.unet.find("label_emb.0.0.weight"); it != f.unet.end() && it->second.dim() == 2)
      f.adm_in_channels = it->second.size(1);
  });
  if (!st.ok()) return st;
  return f;
}

}  // namespace easel::engine
