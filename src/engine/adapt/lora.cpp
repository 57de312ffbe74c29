// LoRA reading, matching and reversible application: see lora.h.
#include "engine/adapt/lora.h"

#include <torch/torch.h>

#include <array>
#include <cstring>
#include <set>
#include <sstream>

#include "engine/adapt/lora_names.h"

namespace easel::engine {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

struct Suffix {
  const char* text;
  LoraKind kind;
  const char* role;  // "alpha" is shared by every kind
};
// Every key suffix an entry can have. peft writes lora_A (down) / lora_B (up); older diffusers
// files lora.down / lora.up.
constexpr std::array<Suffix, 21> kSuffixes = {{
    {".lora_down.weight", LoraKind::kLora, "down"},
    {".lora_up.weight", LoraKind::kLora, "up"},
    {".lora_A.weight", LoraKind::kLora, "down"},
    {".lora_B.weight", LoraKind::kLora, "up"},
    {".lora.down.weight", LoraKind::kLora, "down"},
    {".lora.up.weight", LoraKind::kLora, "up"},
    {".lora_mid.weight", LoraKind::kLora, "mid"},
    {".hada_w1_a", LoraKind::kLoha, "w1a"},
    {".hada_w1_b", LoraKind::kLoha, "w1b"},
    {".hada_w2_a", LoraKind::kLoha, "w2a"},
    {".hada_w2_b", LoraKind::kLoha, "w2b"},
    {".hada_t1", LoraKind::kLoha, "t1"},
    {".hada_t2", LoraKind::kLoha, "t2"},
    {".lokr_w1", LoraKind::kLokr, "w1"},
    {".lokr_w1_a", LoraKind::kLokr, "w1a"},
    {".lokr_w1_b", LoraKind::kLokr, "w1b"},
    {".lokr_w2", LoraKind::kLokr, "w2"},
    {".lokr_w2_a", LoraKind::kLokr, "w2a"},
    {".lokr_w2_b", LoraKind::kLokr, "w2b"},
    {".lokr_t2", LoraKind::kLokr, "t2"},
    {".alpha", LoraKind::kLora, "alpha"},
}};

struct Prefix {
  const char* text;
  LoraTarget target;
  bool underscored;
  const char* strip;  // what to remove from the front ("" keeps the text: bare diffusers)
};
constexpr std::array<Prefix, 11> kPrefixes = {{
    {"lora_unet_", LoraTarget::kUnet, true, "lora_unet_"},
    {"lora_te1_", LoraTarget::kTextEncoder, true, "lora_te1_"},
    {"lora_te2_", LoraTarget::kTextEncoder2, true, "lora_te2_"},
    {"lora_te_", LoraTarget::kTextEncoder, true, "lora_te_"},
    {"unet.", LoraTarget::kUnet, false, "unet."},
    {"text_encoder_2.", LoraTarget::kTextEncoder2, false, "text_encoder_2."},
    {"text_encoder.", LoraTarget::kTextEncoder, false, "text_encoder."},
    // peft files saved from a bare UNet carry no component prefix.
    {"down_blocks.", LoraTarget::kUnet, false, ""},
    {"mid_block.", LoraTarget::kUnet, false, ""},
    {"up_blocks.", LoraTarget::kUnet, false, ""},
    {"conv_in.", LoraTarget::kUnet, false, ""},
}};

// Factor lookup that names the entry when a role is missing.
const torch::Tensor* Find(const LoraEntry& e, const char* role) {
  auto it = e.factors.find(role);
  return it == e.factors.end() ? nullptr : &it->second;
}

[[noreturn]] void Bad(const LoraEntry& e, const std::string& what) {
  throw Error(Code::kCorrupt, "LoRA entry '" + e.file_prefix + "' (" + LoraKindName(e.kind) +
                                  "): " + what +
                                  ". The file is damaged or written by a tool "
                                  "Easel does not know.");
}

const torch::Tensor& Need(const LoraEntry& e, const char* role) {
  const torch::Tensor* t = Find(e, role);
  if (!t) Bad(e, std::string("factor '") + role + "' is missing");
  return *t;
}

void NeedDims(const LoraEntry& e, const char* role, const torch::Tensor& t,
              std::initializer_list<int64_t> dims) {
  for (int64_t d : dims)
    if (t.dim() == d) return;
  Bad(e, std::string("factor '") + role + "' has shape " + ShapeText(t.sizes()) +
             ", of an unexpected rank");
}

// Shape of a tucker product einsum("i j k l, j r, i p -> p r k l", t, b, a): [p, r, k, l].
std::vector<int64_t> TuckerShape(const LoraEntry& e, const torch::Tensor& t, const torch::Tensor& b,
                                 const torch::Tensor& a) {
  if (t.dim() != 4 || b.dim() != 2 || a.dim() != 2 || t.size(0) != a.size(0) ||
      t.size(1) != b.size(0)) {
    Bad(e, "tucker factors " + ShapeText(t.sizes()) + ", " + ShapeText(b.sizes()) + ", " +
               ShapeText(a.sizes()) + " do not fit together");
  }
  return {a.size(1), b.size(1), t.size(2), t.size(3)};
}

// [out, in] of a @ b.flatten(1) with a check.
std::vector<int64_t> ProductShape(const LoraEntry& e, const torch::Tensor& a,
                                  const torch::Tensor& b) {
  if (a.dim() != 2 || b.dim() < 2 || a.size(1) != b.size(0)) {
    Bad(e, "factors " + ShapeText(a.sizes()) + " and " + ShapeText(b.sizes()) + " do not multiply");
  }
  return {a.size(0), b.numel() / b.size(0)};
}

// The delta's shape: [out, in] (flattened kernel) or [out, in, kh, kw]; validates the factors.
std::vector<int64_t> DeltaShape(const LoraEntry& e) {
  switch (e.kind) {
    case LoraKind::kLora: {
      const torch::Tensor& up = Need(e, "up");
      const torch::Tensor& down = Need(e, "down");
      NeedDims(e, "up", up, {2, 4});
      NeedDims(e, "down", down, {2, 4});
      if (Find(e, "mid")) Bad(e, "a lora_mid (LoCon tucker) factor is not supported");
      if (up.dim() == 4 && (up.size(2) != 1 || up.size(3) != 1))
        Bad(e, "up factor " + ShapeText(up.sizes()) + " should have a 1x1 kernel");
      if (up.size(1) != down.size(0)) {
        Bad(e, "up " + ShapeText(up.sizes()) + " and down " + ShapeText(down.sizes()) +
                   " disagree on the rank");
      }
      if (down.dim() == 4) return {up.size(0), down.size(1), down.size(2), down.size(3)};
      return {up.size(0), down.size(1)};
    }
    case LoraKind::kLoha: {
      const torch::Tensor &w1a = Need(e, "w1a"), &w1b = Need(e, "w1b");
      const torch::Tensor &w2a = Need(e, "w2a"), &w2b = Need(e, "w2b");
      const torch::Tensor *t1 = Find(e, "t1"), *t2 = Find(e, "t2");
      if ((t1 == nullptr) != (t2 == nullptr)) Bad(e, "has one tucker core (hada_t1/t2) of two");
      const auto s1 = t1 ? TuckerShape(e, *t1, w1b, w1a) : ProductShape(e, w1a, w1b);
      const auto s2 = t2 ? TuckerShape(e, *t2, w2b, w2a) : ProductShape(e, w2a, w2b);
      if (s1 != s2)
        Bad(e, "its two products have shapes " + ShapeText(s1) + " and " + ShapeText(s2));
      return s1;
    }
    case LoraKind::kLokr: {
      auto side = [&](const char* full, const char* a, const char* b, const char* t) {
        if (const torch::Tensor* w = Find(e, full)) {
          NeedDims(e, full, *w, {2, 4});
          return w->sizes().vec();
        }
        const torch::Tensor &wa = Need(e, a), &wb = Need(e, b);
        if (const torch::Tensor* core = Find(e, t)) return TuckerShape(e, *core, wb, wa);
        return ProductShape(e, wa, wb);
      };
      auto s1 = side("w1", "w1a", "w1b", "t1");
      auto s2 = side("w2", "w2a", "w2b", "t2");
      if (s1.size() != s2.size()) {
        if (s1.size() == 2)
          s1.insert(s1.end(), {1, 1});  // kron of [a,b] with a kernel
        else
          Bad(e, "w1 " + ShapeText(s1) + " has a kernel but w2 " + ShapeText(s2) + " has not");
      }
      std::vector<int64_t> out(s1.size());
      for (size_t i = 0; i < s1.size(); ++i) out[i] = s1[i] * s2[i];
      return out;
    }
  }
  return {};
}

torch::Tensor F32(const torch::Tensor& t, const torch::Device& device) {
  return t.to(device, torch::kFloat32);
}

torch::Tensor Tucker(const torch::Tensor& t, const torch::Tensor& b, const torch::Tensor& a,
                     const torch::Device& device) {
  // t: [r, r, kh, kw], b: [r, in], a: [r, out] -> [out, in, kh, kw]
  return torch::einsum("ijkl,jr,ip->prkl", {F32(t, device), F32(b, device), F32(a, device)});
}

int64_t NumelOf(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// Whether a delta of `delta` shape can be added to a parameter of `param` shape: the same
// output rows and element count (a linear LoRA on a 1x1 conv and back are both fine).
bool Fits(const std::vector<int64_t>& delta, c10::IntArrayRef param) {
  if (param.empty() || delta.empty() || delta[0] != param[0]) return false;
  int64_t n = 1;
  for (int64_t d : param) n *= d;
  if (n != NumelOf(delta)) return false;
  // Kernels must agree when both have one.
  if (delta.size() == 4 && param.size() == 4) return delta[2] == param[2] && delta[3] == param[3];
  return true;
}

// The in-features of an entry targeting a cross-attention key/value projection, or 0.
int64_t CrossAttentionDim(const LoraEntry& e) {
  const std::string& s = e.source;
  const bool cross =
      s.find("attn2") != std::string::npos && (EndsWith(s, "to_k") || EndsWith(s, "to_v"));
  if (e.target != LoraTarget::kUnet || !cross) return 0;
  const auto shape = DeltaShape(e);
  return shape.size() == 2 ? shape[1] : 0;
}

bool KnownFamily(const std::string& family) {
  return family.rfind("an unknown family", 0) != 0;
}

// The family a LoRA was made for, from what it names and its shapes: a second text encoder
// (kohya lora_te1_/lora_te2_, diffusers text_encoder_2) or the UNet's label_emb means SDXL;
// else the cross-attention context width (768 / 1024 / 2048); else the text encoder's width;
// else a file with one text encoder is SD1.x/SD2.x.
std::string FamilyOfLora(const LoraFile& file) {
  for (const LoraEntry& e : file.entries) {
    if (e.target == LoraTarget::kTextEncoder2 || e.file_prefix.rfind("lora_te1_", 0) == 0)
      return "SDXL";
    if (e.target == LoraTarget::kUnet && (e.source.find("label_emb") != std::string::npos ||
                                          e.source.find("add_embedding") != std::string::npos))
      return "SDXL";
  }
  std::string unknown_dim;
  for (const LoraEntry& e : file.entries) {
    if (int64_t dim = CrossAttentionDim(e)) {
      const std::string family = FamilyFromContextDim(dim);
      if (KnownFamily(family)) return family;
      unknown_dim = family;
    }
  }
  // No cross-attention entry: the text encoder's width (CLIP-L 768: SD1, OpenCLIP-H 1024: SD2).
  bool text_encoder = false;
  for (const LoraEntry& e : file.entries) {
    if (e.target != LoraTarget::kTextEncoder) continue;
    text_encoder = true;
    if (EndsWith(e.source, "q_proj")) {
      const auto shape = DeltaShape(e);
      if (shape.size() == 2 && shape[1] == 768) return "SD1";
      if (shape.size() == 2 && shape[1] == 1024) return "SD2";
    }
  }
  if (text_encoder) return "SD1.x/SD2.x";  // one text encoder, not SDXL's two
  return unknown_dim.empty() ? "an unknown family" : unknown_dim;
}

// The model's family from its weights: label_emb or a second text encoder = SDXL; else the
// cross-attention width; else (tiny or unusual widths) the projection kind, conv proj_in for
// SD1 and linear for SD2.
std::string FamilyOfModel(const StateDict& unet, const StateDict& text_encoder2) {
  if (!text_encoder2.empty() || unet.count("label_emb.0.0.weight")) return "SDXL";
  for (const auto& [key, tensor] : unet) {
    if (EndsWith(key, "attn2.to_k.weight") && tensor.dim() == 2) {
      const std::string family = FamilyFromContextDim(tensor.size(1));
      if (KnownFamily(family)) return family;
      for (const auto& [k, t] : unet)
        if (EndsWith(k, ".proj_in.weight")) return t.dim() == 4 ? "SD1" : "SD2";
      return family;
    }
  }
  return "an unknown family";
}

}  // namespace

const char* LoraKindName(LoraKind kind) {
  switch (kind) {
    case LoraKind::kLora: return "LoRA";
    case LoraKind::kLoha: return "LoHa";
    case LoraKind::kLokr: return "LoKr";
  }
  return "?";
}

const char* LoraTargetName(LoraTarget target) {
  switch (target) {
    case LoraTarget::kUnet: return "UNet";
    case LoraTarget::kTextEncoder: return "text encoder";
    case LoraTarget::kTextEncoder2: return "text encoder 2";
  }
  return "?";
}

std::string FamilyFromContextDim(int64_t context_dim) {
  if (context_dim == 768) return "SD1";
  if (context_dim == 1024) return "SD2";
  if (context_dim == 2048) return "SDXL";
  return "an unknown family (cross-attention dim " + std::to_string(context_dim) + ")";
}

torch::Tensor LoraEntry::Delta(const torch::Device& device) const {
  const std::vector<int64_t> shape = DeltaShape(*this);  // validates
  torch::NoGradGuard no_grad;
  switch (kind) {
    case LoraKind::kLora: {
      // up: [out, r(,1,1)], down: [r, in(,kh,kw)] -> [out, in*kh*kw]
      const torch::Tensor up = F32(factors.at("up"), device).flatten(1);
      const torch::Tensor down = F32(factors.at("down"), device).flatten(1);
      return up.mm(down).reshape(shape);
    }
    case LoraKind::kLoha: {
      auto product = [&](const char* a, const char* b, const char* t) {
        if (const torch::Tensor* core = Find(*this, t))
          return Tucker(*core, factors.at(b), factors.at(a), device);
        return F32(factors.at(a), device).mm(F32(factors.at(b), device).flatten(1));
      };
      return (product("w1a", "w1b", "t1") * product("w2a", "w2b", "t2")).reshape(shape);
    }
    case LoraKind::kLokr: {
      auto side = [&](const char* full, const char* a, const char* b, const char* t) {
        if (const torch::Tensor* w = Find(*this, full)) return F32(*w, device);
        if (const torch::Tensor* core = Find(*this, t))
          return Tucker(*core, factors.at(b), factors.at(a), device);
        return F32(factors.at(a), device).mm(F32(factors.at(b), device).flatten(1));
      };
      torch::Tensor w1 = side("w1", "w1a", "w1b", "t1");
      torch::Tensor w2 = side("w2", "w2a", "w2b", "t2");
      if (w1.dim() == 2 && w2.dim() == 4) w1 = w1.unsqueeze(2).unsqueeze(3);
      return torch::kron(w1.contiguous(), w2.contiguous()).reshape(shape);
    }
  }
  return {};
}

Result<LoraFile> LoadLora(const std::string& path) {
  auto opened = io::SafetensorsFile::Open(path);
  if (!opened.ok()) {
    const Status& st = opened.status();
    return Status(st.code(), "cannot read LoRA file: " + st.message());
  }
  LoraFile out;
  out.path = path;
  const Status st = CatchAll([&] {
    const auto& file = opened.value();
    std::map<std::string, LoraEntry> by_prefix;  // file prefix -> entry
    std::map<std::string, std::set<LoraKind>> kinds;
    for (const io::TensorInfo& info : file->tensors()) {
      const Suffix* suffix = nullptr;
      for (const Suffix& s : kSuffixes)
        if (EndsWith(info.name, s.text)) suffix = &s;
      const Prefix* prefix = nullptr;
      for (const Prefix& p : kPrefixes) {
        if (StartsWith(info.name, p.text)) {
          prefix = &p;
          break;
        }
      }
      if (EndsWith(info.name, ".dora_scale") ||
          info.name.find("lora_magnitude_vector") != std::string::npos) {
        // Applying such an entry as a plain LoRA would be silently wrong.
        throw Error(Code::kUnsupported, "key '" + info.name +
                                            "' belongs to a DoRA (weight-decomposed LoRA), which "
                                            "Easel cannot apply yet: use a plain LoRA");
      }
      if (!suffix || !prefix) {
        out.unknown_keys.push_back(info.name);
        continue;
      }
      const std::string key = info.name.substr(0, info.name.size() - std::strlen(suffix->text));
      LoraEntry& e = by_prefix[key];
      e.file_prefix = key;
      e.target = prefix->target;
      e.underscored = prefix->underscored;
      e.source = key.substr(std::strlen(prefix->strip));
      torch::Tensor t = TensorFromInfo(file, info);
      if (std::string(suffix->role) == "alpha") {
        if (t.numel() != 1) {
          throw Error(Code::kCorrupt, "LoRA key '" + info.name + "' should hold one number, not " +
                                          ShapeText(t.sizes()));
        }
        e.has_alpha = true;
        e.alpha = t.to(torch::kFloat64).reshape({}).item<double>();
        continue;
      }
      if (!t.is_floating_point()) {
        throw Error(Code::kCorrupt,
                    "LoRA key '" + info.name + "' holds integers; factors must be floats");
      }
      kinds[key].insert(suffix->kind);
      e.factors[suffix->role] = t;
    }
    std::set<std::string> formats;
    for (auto& [key, e] : by_prefix) {
      const auto& k = kinds[key];
      if (k.empty()) {  // an alpha with no factors
        out.unknown_keys.push_back(key + ".alpha");
        continue;
      }
      if (k.size() > 1) {
        throw Error(Code::kCorrupt,
                    "LoRA entry '" + key + "' mixes factors of different kinds (LoRA, LoHa, LoKr)");
      }
      e.kind = *k.begin();
      DeltaShape(e);  // validates the factors
      switch (e.kind) {
        case LoraKind::kLora: e.rank = e.factors.at("down").size(0); break;
        case LoraKind::kLoha: e.rank = e.factors.at("w1b").size(0); break;
        case LoraKind::kLokr:
          // LyCORIS divides by the rank of a factored side; with both sides full, scale 1.
          if (e.factors.count("w1b"))
            e.rank = e.factors.at("w1b").size(0);
          else if (e.factors.count("w2b"))
            e.rank = e.factors.at("w2b").size(0);
          break;
      }
      if (e.kind == LoraKind::kLoha)
        formats.insert("LyCORIS LoHa");
      else if (e.kind == LoraKind::kLokr)
        formats.insert("LyCORIS LoKr");
      else
        formats.insert(e.underscored ? "kohya LoRA" : "diffusers/peft LoRA");
      out.entries.push_back(std::move(e));
    }
    if (out.entries.empty()) {
      throw Error(Code::kInvalidArgument,
                  "no key of the file looks like a LoRA (lora_down/lora_up, lora_A/lora_B, "
                  "hada_*, lokr_* under lora_unet_, lora_te_, unet., text_encoder.); first "
                  "keys: " +
                      NameList(out.unknown_keys, 5) +
                      ". Is it a checkpoint or an embedding rather than a LoRA?");
    }
    for (const std::string& f : formats) out.format += (out.format.empty() ? "" : " + ") + f;
  });
  if (!st.ok()) return Status(st.code(), path + ": " + st.message());
  return out;
}

Result<LoraMatch> MatchLora(const LoraFile& file, const StateDict& unet,
                            const StateDict& text_encoder, const StateDict& text_encoder2) {
  LoraMatch match;
  const Status st = CatchAll([&] {
    match.family_guess = FamilyOfLora(file);
    const ModuleNameMap unet_names(unet, "", /*unet_diffusers=*/true);
    const ModuleNameMap te_names(text_encoder, "text_model.", false);
    const ModuleNameMap te2_names(text_encoder2, "text_model.", false);
    int64_t resolved = 0, mismatched = 0;
    bool cross_attention_differs = false;
    std::vector<std::string> mismatches;
    for (const LoraEntry& e : file.entries) {
      const StateDict* model = &unet;
      const ModuleNameMap* names = &unet_names;
      if (e.target == LoraTarget::kTextEncoder) model = &text_encoder, names = &te_names;
      if (e.target == LoraTarget::kTextEncoder2) model = &text_encoder2, names = &te2_names;
      if (model->empty()) {
        match.unmatched_keys.push_back(e.file_prefix + " (this model has no " +
                                       LoraTargetName(e.target) + ")");
        continue;
      }
      const auto module =
          e.underscored ? names->FromUnderscored(e.source) : names->FromDotted(e.source);
      if (!module) {
        match.unmatched_keys.push_back(e.file_prefix);
        continue;
      }
      ++resolved;
      const std::string param = *module + ".weight";
      const torch::Tensor& weight = model->at(param);
      const auto shape = DeltaShape(e);
      if (!Fits(shape, weight.sizes())) {
        ++mismatched;
        // The context dim is the family's signature: one cross-attention key/value whose
        // input width differs from the model's decides it (SD2 vs SD1 differ almost only there).
        if (CrossAttentionDim(e) != 0 && weight.dim() == 2 && shape[1] != weight.size(1))
          cross_attention_differs = true;
        const std::string why = e.file_prefix + " (delta " + ShapeText(shape) + " vs " + param +
                                " " + ShapeText(weight.sizes()) + ")";
        mismatches.push_back(why);
        match.unmatched_keys.push_back(why);
        continue;
      }
      match.applied.push_back({e, param});
    }
    for (const std::string& key : file.unknown_keys)
      match.unmatched_keys.push_back(key + " (not a LoRA factor Easel knows)");
    const std::string model_family = FamilyOfModel(unet, text_encoder2);
    const std::string lora_family = match.family_guess;
    // SDXL and SD1/SD2 share CLIP-L and some UNet shapes, so a LoRA of the other kind can fit
    // in part: when both families are known and only one is SDXL, it is refused outright.
    const bool sdxl_mismatch = KnownFamily(lora_family) && KnownFamily(model_family) &&
                               (lora_family == "SDXL") != (model_family == "SDXL");
    if ((mismatched * 2 > resolved && resolved > 0) || cross_attention_differs || sdxl_mismatch) {
      throw Error(Code::kInvalidArgument,
                  file.path + ": this LoRA was made for " + lora_family + " but the model is " +
                      model_family + ": " + std::to_string(mismatched) + " of " +
                      std::to_string(resolved) + " entries have other shapes than the model" +
                      (mismatches.empty() ? "" : " (" + NameList(mismatches, 3) + ")") +
                      ". Pick a LoRA made for " + model_family + ".");
    }
    if (match.applied.empty()) {
      const bool families_differ = lora_family != model_family && KnownFamily(lora_family);
      throw Error(Code::kInvalidArgument,
                  file.path + ": none of its " + std::to_string(file.entries.size()) +
                      " entries names a module of this model" +
                      (families_differ ? " (this LoRA was made for " + lora_family +
                                             " but the model is " + model_family + ")"
                                       : "") +
                      "; first: " + NameList(match.unmatched_keys, 5) +
                      ". Is the LoRA for another kind of model?");
    }
  });
  if (!st.ok()) return st;
  return match;
}

StateDict NamedParameters(const torch::nn::Module& module) {
  StateDict out;
  for (const auto& item : module.named_parameters(/*recurse=*/true))
    out.emplace(item.key(), item.value());
  return out;
}

LoraPatcher::~LoraPatcher() {
  Restore();
}

Status LoraPatcher::Apply(const std::vector<LoraUse>& stack, torch::nn::Module* unet,
                          torch::nn::Module* text_encoder, torch::nn::Module* text_encoder2) {
  return CatchAll([&] {
    torch::NoGradGuard no_grad;
    const std::map<LoraTarget, torch::nn::Module*> modules = {
        {LoraTarget::kUnet, unet},
        {LoraTarget::kTextEncoder, text_encoder},
        {LoraTarget::kTextEncoder2, text_encoder2}};
    std::map<LoraTarget, StateDict> params;
    for (const auto& [target, module] : modules)
      if (module) params[target] = NamedParameters(*module);

    // First every delta (all failures happen here), then the writes: a failed call leaves
    // nothing applied.
    struct Pending {
      torch::Tensor param;
      torch::Tensor delta;  // float32, the parameter's shape, strengths and scales applied
    };
    std::map<std::string, Pending> pending;
    for (const LoraUse& use : stack) {
      if (!use.match) throw Error(Code::kInternal, "LoraUse without a match");
      for (const LoraApplied& a : use.match->applied) {
        const double strength =
            a.entry.target == LoraTarget::kUnet ? use.unet_strength : use.text_encoder_strength;
        auto module = params.find(a.entry.target);
        if (strength == 0.0 || module == params.end()) continue;
        auto p = module->second.find(a.param);
        if (p == module->second.end()) {
          throw Error(Code::kInvalidArgument, std::string("the ") + LoraTargetName(a.entry.target) +
                                                  " has no parameter '" + a.param +
                                                  "' that the LoRA entry " + a.entry.file_prefix +
                                                  " was matched to: match against this model");
        }
        const torch::Tensor& param = p->second;
        torch::Tensor delta = a.entry.Delta(param.device());
        if (delta.numel() != param.numel()) {
          throw Error(Code::kInvalidArgument, "LoRA entry " + a.entry.file_prefix + " gives " +
                                                  ShapeText(delta.sizes()) + " for " + a.param +
                                                  " " + ShapeText(param.sizes()));
        }
        delta = delta.reshape(param.sizes()) * (strength * a.entry.Scale());
        const std::string key = std::string(LoraTargetName(a.entry.target)) + "/" + a.param;
        auto it = pending.find(key);
        if (it == pending.end())
          pending.emplace(key, Pending{param, delta});
        else
          it->second.delta = it->second.delta + delta;
      }
    }
    for (auto& [key, pend] : pending) {
      if (!saved_.count(key)) {
        saved_.emplace(
            key, Saved{pend.param, pend.param.detach().to(torch::kCPU, pend.param.scalar_type(),
                                                          /*non_blocking=*/false,
                                                          /*copy=*/true)});
      }
      // Sum in float32, one rounding to the parameter's dtype.
      const torch::Tensor merged = pend.param.detach().to(torch::kFloat32) + pend.delta;
      pend.param.detach().copy_(merged.to(pend.param.scalar_type()));
    }
  });
}

void LoraPatcher::Restore() {
  torch::NoGradGuard no_grad;
  for (auto& [key, saved] : saved_) saved.param.detach().copy_(saved.original);
  saved_.clear();
}

}  // namespace easel::engine
