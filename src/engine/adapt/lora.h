// LoRA files (kohya, diffusers/peft, LyCORIS LoHa and LoKr): reading, matching against a
// model's weights, and an exactly reversible application to a module's parameters.
//
//   LoadLora(path)          the file's entries: target name as the file writes it, factors,
//                           alpha, rank. No model needed; checks the factors fit each other.
//   MatchLora(file, ...)    resolves every entry to a parameter of OUR models (LDM UNet
//                           names, HF CLIP text-encoder names), checks shapes, refuses a LoRA
//                           made for another family, lists what matched nothing.
//   LoraPatcher             adds strength * scale * delta to the parameters (in float32, then
//                           cast), remembering the originals; Restore() puts them back bit
//                           for bit (also done by the destructor).
//
// Delta formulas (scale = alpha / rank, or 1 when the file has no alpha):
//   LoRA  up @ down                          (Hu et al. 2021, "LoRA"), conv: flattened
//   LoHa  (w1a @ w1b) * (w2a @ w2b)          (Hyeon-Woo et al. 2022, "FedPara"; LyCORIS)
//         with tucker cores: einsum(t, b, a) per factor
//   LoKr  kron(w1, w2), w = w or w_a @ w_b   (LyCORIS; scale 1 when neither is factored)
// Thread-safety: LoraFile and LoraMatch are immutable values; a LoraPatcher is used by the
// thread that owns the modules it patches, never while they run a forward.
#pragma once

#include <torch/types.h>

#include <map>
#include <string>
#include <vector>

#include "engine/weights.h"
#include "util/status.h"

namespace torch::nn {
class Module;
}

namespace easel::engine {

enum class LoraKind { kLora, kLoha, kLokr };
enum class LoraTarget { kUnet, kTextEncoder, kTextEncoder2 };
const char* LoraKindName(LoraKind kind);        // "LoRA", "LoHa", "LoKr"
const char* LoraTargetName(LoraTarget target);  // "UNet", "text encoder", "text encoder 2"

struct LoraEntry {
  LoraTarget target = LoraTarget::kUnet;
  LoraKind kind = LoraKind::kLora;
  // The target as the file names it, target prefix removed: kohya's underscore form
  // ("input_blocks_1_1_proj_in", "down_blocks_0_attentions_0_proj_in") or a dotted diffusers
  // name ("down_blocks.0.attentions.0.proj_in", "text_model.encoder.layers.0.mlp.fc1").
  std::string source;
  bool underscored = false;  // kohya naming: resolve through the underscore map
  std::string file_prefix;   // the key prefix in the file, for messages ("lora_unet_...")
  // Factors by role, as read (any float dtype): LoRA "up" [out, r(,1,1)], "down"
  // [r, in(,kh,kw)]; LoHa "w1a","w1b","w2a","w2b"[,"t1","t2"]; LoKr "w1" or "w1a","w1b",
  // "w2" or "w2a","w2b"[,"t2"].
  std::map<std::string, torch::Tensor> factors;
  bool has_alpha = false;
  double alpha = 0;
  int64_t rank = 0;  // the dimension alpha is divided by (0: no scaling, scale 1)

  double Scale() const { return has_alpha && rank > 0 ? alpha / static_cast<double>(rank) : 1.0; }
  // The full delta as float32 [out, in(, kh, kw)] on `device`, unscaled (strength and Scale()
  // not applied). Throws easel::Error(kCorrupt) when the factors do not multiply.
  torch::Tensor Delta(const torch::Device& device) const;
};

struct LoraFile {
  std::string path;
  std::string format;  // "kohya LoRA", "diffusers/peft LoRA", "LyCORIS LoHa", "LyCORIS LoKr"
                       // (joined with " + " when a file mixes kinds)
  std::vector<LoraEntry> entries;
  std::vector<std::string> unknown_keys;  // keys that are no part of any entry
};

// Reads and validates a LoRA file. Fails with the safetensors errors (kNotFound, kIo,
// kCorrupt), kCorrupt when an entry lacks a factor or its factors do not fit together
// (naming the key and the shapes), kInvalidArgument when no key looks like a LoRA (a
// checkpoint passed by mistake), kUnsupported for DoRA files (dora_scale,
// lora_magnitude_vector). The tensors view the file's mapping (read-only).
Result<LoraFile> LoadLora(const std::string& path);

// One entry resolved to a parameter of our model.
struct LoraApplied {
  LoraEntry entry;
  std::string param;  // "input_blocks.1.1.proj_in.weight", "encoder.layers.0.mlp.fc1.weight"
};

struct LoraMatch {
  std::vector<LoraApplied> applied;
  // File keys (entry prefixes) that name no module of the given models, with the reason
  // for shape mismatches, and the file's keys that are no part of any entry
  // (LoraFile::unknown_keys): reported to the user, never silently dropped.
  std::vector<std::string> unmatched_keys;
  std::string family_guess;  // the LoRA's family: "SD1", "SD2", "SD1.x/SD2.x", "SDXL", ...
};

// Resolves `file` against the weights (or named parameters) of a UNet with LDM names and of
// the text encoder(s) with HF CLIP names (no "text_model." prefix); an empty dict stands for
// a model that is not there. Fails with kInvalidArgument naming both families when the
// LoRA's shapes disagree with the model on most of the entries whose names resolve, or on
// any cross-attention key/value input width (the context dim: 768 SD1, 1024 SD2, 2048
// SDXL) — a LoRA for another family; also when nothing at all matches, and whenever one
// side is SDXL and the other SD1/SD2 (told by a second text encoder, label_emb, the context
// width, or for tiny models the projection kind): CLIP-L and some UNet shapes are shared,
// so such a LoRA would otherwise apply in part. Entries whose shapes
// disagree on a LoRA that is otherwise accepted are listed in unmatched_keys with both shapes.
Result<LoraMatch> MatchLora(const LoraFile& file, const StateDict& unet,
                            const StateDict& text_encoder, const StateDict& text_encoder2 = {});

// The model family a cross-attention context dim points to: 768 "SD1", 1024 "SD2",
// 2048 "SDXL", anything else "an unknown family (cross-attention dim N)".
std::string FamilyFromContextDim(int64_t context_dim);

// Every parameter of `module` by its dotted name (shares storage).
StateDict NamedParameters(const torch::nn::Module& module);

// One LoRA of a stack, with its strengths.
struct LoraUse {
  const LoraMatch* match = nullptr;  // must outlive the Apply() call
  double unet_strength = 1.0;
  double text_encoder_strength = 1.0;
};

// Applies a stack of LoRAs to modules in place and undoes it exactly. Owns the saved
// originals (CPU copies in the parameter's dtype). Not copyable.
class LoraPatcher {
 public:
  LoraPatcher() = default;
  ~LoraPatcher();  // Restore()s
  LoraPatcher(const LoraPatcher&) = delete;
  LoraPatcher& operator=(const LoraPatcher&) = delete;

  // Adds every LoRA of `stack` to the parameters of `unet` / `text_encoder` /
  // `text_encoder2` (null: that model is absent and its entries are skipped). For each
  // parameter: p = cast(float32(p) + sum_i strength_i * scale_i * delta_i). A parameter
  // already patched by this patcher is patched again on top (its first original is kept).
  // Fails with kInvalidArgument when a named parameter is missing or a delta does not fit
  // its shape; then nothing of this call stays applied.
  Status Apply(const std::vector<LoraUse>& stack, torch::nn::Module* unet,
               torch::nn::Module* text_encoder, torch::nn::Module* text_encoder2 = nullptr);

  // Puts every patched parameter back bit for bit and forgets them. Idempotent.
  void Restore();

  size_t patched_count() const { return saved_.size(); }

 private:
  struct Saved {
    torch::Tensor param;     // the module's parameter (shares storage)
    torch::Tensor original;  // CPU copy, same dtype
  };
  std::map<std::string, Saved> saved_;  // key: "<target>/<param name>"
};

}  // namespace easel::engine
