// Zero-configuration selection. See selection.h.
#include "library/selection.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

namespace easel::library {
namespace {

// An additive score with its reasons.
struct Score {
  double total = 0;
  std::vector<std::string> parts;
  void Add(double points, const std::string& why) {
    if (points == 0) return;
    total += points;
    char buf[32];
    std::snprintf(buf, sizeof(buf), " (%+.0f)", points);
    parts.push_back(why + buf);
  }
  std::string Reason() const {
    std::string out;
    for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
    return out.empty() ? "no signal either way" : out;
  }
};

std::string Fmt(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, v);
  return buf;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool IsDit(Family f) {
  return f == Family::kSD3 || f == Family::kFlux;
}

// Everything about a model a style or a term may match: name, title, base model, tags.
std::string ModelText(const ModelRecord& r) {
  std::string t = r.name + " " + r.title + " " + r.base_model;
  for (const auto& tag : r.tags) t += " " + tag;
  return Lower(t);
}

std::set<std::string> NameWords(const ModelRecord& r) {
  std::set<std::string> out;
  std::string n = r.name + " " + r.title;
  for (char& c : n)
    if (c == '_' || c == '.') c = ' ';
  for (const auto& w : Words(n)) out.insert(w);
  return out;
}

// Family points per quality level: small models for speed, large ones for quality.
double FamilyPoints(Family f, Quality q) {
  //                       fast balanced high ultra
  static const double kSd1[] = {15, 10, 5, 0};
  static const double kSd2[] = {8, 6, 5, 2};
  static const double kSdxl[] = {5, 15, 15, 15};
  static const double kSd3[] = {0, 8, 12, 14};
  static const double kFlux[] = {0, 12, 18, 20};
  const int i = static_cast<int>(q);
  switch (f) {
    case Family::kSD1: return kSd1[i];
    case Family::kSD2: return kSd2[i];
    case Family::kSDXL: return kSdxl[i];
    case Family::kSD3: return kSd3[i];
    case Family::kFlux: return kFlux[i];
    case Family::kUnknown: break;
  }
  return 0;
}

void AddPopularity(const ModelRecord& r, double cap, Score* s) {
  if (r.downloads > 0) {
    const double p = std::min(cap, 2.0 * std::log10(static_cast<double>(r.downloads) + 1));
    s->Add(std::round(p * 10) / 10, std::to_string(r.downloads) + " downloads");
  }
  if (r.rating > 0)
    s->Add(std::round((r.rating - 3.0) * 20) / 10, "rating " + Fmt("%.1f", r.rating));
}

// Prompt terms found in a model's tags and name.
void AddTermMatches(const PromptAnalysis& a, const ModelRecord& r, double tag_points,
                    double phrase_points, double name_points, double cap, Score* s) {
  const std::set<std::string> tags(r.tags.begin(), r.tags.end());
  const std::set<std::string> names = NameWords(r);
  std::vector<std::string> tag_hits, name_hits;
  double points = 0;
  for (const std::string& t : a.Terms()) {
    if (tags.count(t)) {
      tag_hits.push_back(t);
      points += t.find(' ') != std::string::npos ? phrase_points : tag_points;
    } else if (names.count(t)) {
      name_hits.push_back(t);
      points += name_points;
    }
  }
  if (tag_hits.empty() && name_hits.empty()) return;
  std::string why;
  if (!tag_hits.empty()) {
    why = "tags";
    for (const auto& h : tag_hits) why += " '" + h + "'";
  }
  if (!name_hits.empty()) {
    why += std::string(why.empty() ? "" : ", ") + "name";
    for (const auto& h : name_hits) why += " '" + h + "'";
  }
  s->Add(std::min(points, cap), why);
}

void AddStyle(const std::string& style, const ModelRecord& r, double match, double mismatch,
              Score* s) {
  if (style.empty()) return;
  const std::vector<std::string> styles = StylesOfText(ModelText(r));
  if (std::find(styles.begin(), styles.end(), style) != styles.end())
    s->Add(match, "style " + style + " in its name/tags");
  else if (!styles.empty())
    s->Add(-mismatch, "its name/tags say " + styles.front() + ", not " + style);
}

bool Usable(const ModelRecord& r, bool require_supported) {
  if (!r.error.empty()) return false;
  if (require_supported && (r.subtype == "pickle" || r.subtype == "gguf")) return false;
  return true;
}

bool Better(const Choice& a, const Choice& b) {
  if (a.score != b.score) return a.score > b.score;
  if (a.model.name != b.model.name) return a.model.name < b.model.name;
  return a.model.path < b.model.path;
}

struct Defaults {
  int size;
  int steps;
  double cfg;
};

Defaults FamilyDefaults(Family f) {
  switch (f) {
    case Family::kSD1: return {512, 25, 7.0};
    case Family::kSD2: return {768, 25, 7.0};
    case Family::kSDXL: return {1024, 30, 7.0};
    case Family::kSD3: return {1024, 28, 4.5};
    case Family::kFlux: return {1024, 20, 1.0};
    case Family::kUnknown: break;
  }
  return {512, 25, 7.0};
}

double StepFactor(Quality q) {
  static const double k[] = {0.6, 1.0, 1.3, 1.6};
  return k[static_cast<int>(q)];
}

// The text-encoder slots a diffusion model of `f` needs; the optional ones end with '?'.
std::vector<std::string> EncoderSlots(Family f) {
  switch (f) {
    case Family::kSDXL: return {"clip_l", "clip_g"};
    case Family::kSD3: return {"clip_l", "clip_g", "t5xxl?"};
    case Family::kFlux: return {"clip_l", "t5xxl"};
    default: return {};
  }
}

std::optional<Choice> BestVae(const std::vector<ModelRecord>& lib, Family family, bool need,
                              const SelectOptions& o) {
  std::vector<Choice> c;
  for (const ModelRecord& r : lib) {
    if (r.kind != ModelKind::kVae || !Usable(r, o.require_supported)) continue;
    if (r.latent_channels && (r.latent_channels == 16) != IsDit(family)) continue;
    Score s;
    if (r.family == family)
      s.Add(10, std::string("same family as the base model (") + FamilyName(family) + ")");
    else if (r.family != Family::kUnknown)
      continue;
    else if (!need)
      continue;  // an unlabelled VAE only when one is required
    else
      s.Add(2, "family not known; latent channels fit");
    const std::string n = Lower(r.name);
    if (n.find("fix") != std::string::npos || n.find("ft-mse") != std::string::npos)
      s.Add(2, "a fixed / fine-tuned VAE");
    c.push_back(Choice{r, s.total, 0, "vae", s.Reason()});
  }
  if (c.empty()) return std::nullopt;
  std::sort(c.begin(), c.end(), Better);
  return c.front();
}

std::optional<Choice> BestEncoder(const std::vector<ModelRecord>& lib, const std::string& slot,
                                  const SelectOptions& o) {
  std::vector<Choice> c;
  for (const ModelRecord& r : lib) {
    if (r.kind != ModelKind::kTextEncoder || r.subtype != slot || !Usable(r, o.require_supported))
      continue;
    Score s;
    s.Add(10, "a " + slot + " text encoder");
    const std::string n = Lower(r.name);
    const bool hi = o.quality == Quality::kHigh || o.quality == Quality::kUltra;
    if (hi && (n.find("fp16") != std::string::npos || n.find("fp32") != std::string::npos))
      s.Add(3, "full precision for quality " + std::string(QualityName(o.quality)));
    if (!hi && n.find("fp8") != std::string::npos) s.Add(3, "fp8: smaller and faster");
    c.push_back(Choice{r, s.total, 0, slot, s.Reason()});
  }
  if (c.empty()) return std::nullopt;
  std::sort(c.begin(), c.end(), Better);
  return c.front();
}

std::string DefaultNegative(const std::string& style) {
  if (style == "anime")
    return "lowres, bad anatomy, bad hands, worst quality, low quality, jpeg artifacts, watermark";
  if (style == "realistic")
    return "blurry, lowres, deformed, bad anatomy, cartoon, painting, watermark, text";
  if (style == "3d") return "blurry, lowres, noisy, deformed, watermark, text";
  return "blurry, lowres, worst quality, deformed, watermark, text";
}

std::string Join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string Describe(const ModelRecord& r) {
  return r.name + " (" + FamilyName(r.family) + " " + KindName(r.kind) + ")";
}

}  // namespace

const char* QualityName(Quality q) {
  switch (q) {
    case Quality::kFast: return "fast";
    case Quality::kBalanced: return "balanced";
    case Quality::kHigh: return "high";
    case Quality::kUltra: return "ultra";
  }
  return "balanced";
}

bool ParseQuality(const std::string& name, Quality* out) {
  for (Quality q : {Quality::kFast, Quality::kBalanced, Quality::kHigh, Quality::kUltra})
    if (Lower(name) == QualityName(q)) {
      *out = q;
      return true;
    }
  return false;
}

nlohmann::json Selection::ToJson() const {
  auto choice = [](const Choice& c) {
    nlohmann::json j = {{"path", c.model.path},
                        {"name", c.model.name},
                        {"kind", KindName(c.model.kind)},
                        {"family", FamilyName(c.model.family)},
                        {"score", c.score},
                        {"reason", c.reason}};
    if (c.weight) j["weight"] = c.weight;
    if (!c.slot.empty()) j["slot"] = c.slot;
    return j;
  };
  nlohmann::json loras_j = nlohmann::json::array(), te = nlohmann::json::array(),
                 alts = nlohmann::json::array();
  for (const auto& l : loras) loras_j.push_back(choice(l));
  for (const auto& t : text_encoders) te.push_back(choice(t));
  for (const auto& a : alternatives) alts.push_back(choice(a));
  return {{"style", style},
          {"quality", QualityName(quality)},
          {"keywords", analysis.words},
          {"base", choice(base)},
          {"vae", vae ? choice(*vae) : nlohmann::json(nullptr)},
          {"text_encoders", te},
          {"loras", loras_j},
          {"alternatives", alts},
          {"prompt", prompt},
          {"negative_prompt", negative_prompt},
          {"params",
           {{"width", params.width},
            {"height", params.height},
            {"steps", params.steps},
            {"cfg", params.cfg},
            {"sampler", params.sampler},
            {"scheduler", params.scheduler},
            {"clip_skip", params.clip_skip}}},
          {"explanation", explanation}};
}

Result<Selection> SelectForPrompt(const std::string& prompt, const std::string& negative_prompt,
                                  const std::vector<ModelRecord>& lib, const SelectOptions& o) {
  static const std::set<std::string> kStyles = {"", "anime", "realistic", "artistic", "3d"};
  const std::string style_opt = Lower(o.style);
  if (!kStyles.count(style_opt))
    return InvalidArgument("style '" + o.style + "' is not one of anime, realistic, artistic, 3d");
  Selection sel;
  sel.quality = o.quality;
  sel.analysis = AnalyzePrompt(prompt);
  const PromptAnalysis& a = sel.analysis;
  sel.style = style_opt.empty() ? a.style : style_opt;
  {
    std::string line = "prompt: keywords " + (a.words.empty() ? "(none)" : Join(a.words));
    if (!a.phrases.empty()) line += "; phrases " + Join(a.phrases);
    if (!a.concepts.empty()) line += "; related " + Join(a.concepts);
    sel.explanation.push_back(line);
    sel.explanation.push_back("style: " + (sel.style.empty() ? std::string("none") : sel.style) +
                              (style_opt.empty()
                                   ? (a.style.empty() ? " (nothing in the prompt implies one)"
                                                      : " (" + a.evidence.front() + ")")
                                   : " (from --style)") +
                              "; quality " + QualityName(o.quality) +
                              (a.content.empty() ? "" : "; content " + a.content));
  }

  // ---- base model
  std::vector<Choice> bases;
  int skipped_unsupported = 0;
  for (const ModelRecord& r : lib) {
    if (r.kind != ModelKind::kCheckpoint && r.kind != ModelKind::kDiffusionModel) continue;
    if (!Usable(r, o.require_supported)) continue;
    if (o.require_supported && r.family != Family::kSD1 && r.family != Family::kSD2) {
      ++skipped_unsupported;
      continue;
    }
    Score s;
    AddStyle(sel.style, r, 30, 15, &s);
    AddTermMatches(a, r, 6, 9, 4, 30, &s);
    s.Add(FamilyPoints(r.family, o.quality),
          std::string(FamilyName(r.family)) + " for quality " + QualityName(o.quality));
    AddPopularity(r, 10, &s);
    if (r.family == Family::kUnknown) s.Add(-20, "family unknown");
    if (r.subtype == "inpaint" || r.subtype == "refiner")
      s.Add(-50, r.subtype + " model (for other jobs)");
    if (r.kind == ModelKind::kDiffusionModel) {
      bool complete = BestVae(lib, r.family, true, o).has_value();
      for (const std::string& slot : EncoderSlots(r.family))
        if (slot.back() != '?' && !BestEncoder(lib, slot, o)) complete = false;
      if (!complete) s.Add(-100, "no VAE / text encoders for it in the library");
    }
    bases.push_back(Choice{r, s.total, 0, "", s.Reason()});
  }
  if (bases.empty()) {
    std::string msg = "no usable checkpoint in the model library";
    if (skipped_unsupported)
      msg += " (" + std::to_string(skipped_unsupported) +
             " SDXL/SD3/Flux or unknown models found: Easel generates with SD1.x and SD2.x)";
    return NotFound(msg + ": run `easel models scan DIR` on your models folder, or pass --model");
  }
  std::sort(bases.begin(), bases.end(), Better);
  sel.base = bases.front();
  for (size_t i = 1; i < bases.size() && i < 4; ++i) sel.alternatives.push_back(bases[i]);
  const Family family = sel.base.model.family;
  sel.explanation.push_back("base model: " + Describe(sel.base.model) + " score " +
                            Fmt("%.1f", sel.base.score) + ": " + sel.base.reason);
  for (const Choice& alt : sel.alternatives)
    sel.explanation.push_back("  also considered: " + Describe(alt.model) + " score " +
                              Fmt("%.1f", alt.score) + ": " + alt.reason);
  if (skipped_unsupported)
    sel.explanation.push_back(
        "  skipped " + std::to_string(skipped_unsupported) +
        " SDXL/SD3/Flux/unknown models: Easel generates with SD1.x and SD2.x");

  // ---- VAE and text encoders
  const bool unet_only = sel.base.model.kind == ModelKind::kDiffusionModel;
  sel.vae = BestVae(lib, family, unet_only, o);
  if (sel.vae)
    sel.explanation.push_back("vae: " + sel.vae->model.name + " score " +
                              Fmt("%.1f", sel.vae->score) + ": " + sel.vae->reason);
  else
    sel.explanation.push_back(unet_only
                                  ? "vae: none found (the diffusion model needs one)"
                                  : "vae: the checkpoint's own (no separate " +
                                        std::string(FamilyName(family)) + " VAE in the library)");
  if (unet_only) {
    for (std::string slot : EncoderSlots(family)) {
      const bool optional = slot.back() == '?';
      if (optional) slot.pop_back();
      if (auto e = BestEncoder(lib, slot, o)) {
        sel.text_encoders.push_back(*e);
        sel.explanation.push_back("text encoder " + slot + ": " + e->model.name + " score " +
                                  Fmt("%.1f", e->score) + ": " + e->reason);
      } else if (!optional) {
        sel.explanation.push_back("text encoder " + slot + ": none found");
      }
    }
  } else {
    sel.explanation.push_back("text encoders: the checkpoint's own");
  }

  // ---- LoRAs
  std::vector<Choice> loras;
  for (const ModelRecord& r : lib) {
    if (r.kind != ModelKind::kLora || !Usable(r, o.require_supported)) continue;
    if (r.family != family || family == Family::kUnknown) continue;
    Score s;
    AddTermMatches(a, r, 8, 12, 6, 40, &s);
    // Trigger words: a trigger that shares a word with the prompt.
    for (const std::string& t : r.trigger_words) {
      const std::vector<std::string> tw = Words(t);
      const bool hit = std::any_of(tw.begin(), tw.end(), [&](const std::string& w) {
        return std::find(a.words.begin(), a.words.end(), w) != a.words.end();
      });
      if (hit) {
        s.Add(10, "trigger '" + t + "' matches the prompt");
        break;
      }
    }
    if (s.total < 10) continue;  // no real match: do not apply it
    AddStyle(sel.style, r, 8, 8, &s);
    AddPopularity(r, 6, &s);
    loras.push_back(Choice{r, s.total, 0, "", s.Reason()});
  }
  std::sort(loras.begin(), loras.end(), Better);
  static const int kMaxLoras[] = {1, 2, 3, 4};
  const size_t max_loras =
      static_cast<size_t>(o.max_loras >= 0 ? o.max_loras : kMaxLoras[static_cast<int>(o.quality)]);
  sel.prompt = prompt;
  for (size_t i = 0; i < loras.size() && sel.loras.size() < max_loras; ++i) {
    Choice c = loras[i];
    c.weight = c.model.preferred_weight > 0 ? c.model.preferred_weight : (i == 0 ? 0.8 : 0.7);
    sel.explanation.push_back("lora: " + c.model.name + " weight " + Fmt("%.2f", c.weight) +
                              (c.model.preferred_weight > 0 ? " (its metadata's)" : "") +
                              " score " + Fmt("%.1f", c.score) + ": " + c.reason);
    if (!c.model.trigger_words.empty()) {
      const std::string& t = c.model.trigger_words.front();
      if (Lower(sel.prompt).find(Lower(t)) == std::string::npos) {
        sel.prompt += ", " + t;
        sel.explanation.push_back("  added its trigger word '" + t + "' to the prompt");
      }
    }
    sel.loras.push_back(std::move(c));
  }
  if (sel.loras.empty())
    sel.explanation.push_back("loras: none of the " + std::string(FamilyName(family)) +
                              " LoRAs matches the prompt");

  // ---- parameters
  const Defaults d = FamilyDefaults(family);
  PresetParams& p = sel.params;
  std::vector<std::string> why;
  why.push_back(std::string(FamilyName(family)) + " defaults for quality " +
                QualityName(o.quality));
  p.width = p.height = d.size;
  if (a.content == "character" || a.content == "portrait") {
    p.height = d.size * 3 / 2 / 64 * 64;
    p.width = d.size >= 1024 ? 832 : d.size;
    if (d.size >= 1024) p.height = 1216;
    why.push_back("portrait aspect for a " + a.content);
  } else if (a.content == "landscape" || a.content == "scene") {
    p.width = d.size >= 1024 ? 1216 : d.size * 3 / 2 / 64 * 64;
    p.height = d.size >= 1024 ? 832 : d.size;
    why.push_back("landscape aspect for a " + a.content);
  }
  const nlohmann::json& mp = sel.base.model.params;
  int steps = d.steps;
  p.cfg = d.cfg;
  if (mp.contains("steps") && mp["steps"].is_number()) {
    steps = std::clamp(mp["steps"].get<int>(), 4, 150);
    why.push_back("steps and cfg from the model's metadata");
  }
  if (mp.contains("cfg") && mp["cfg"].is_number()) p.cfg = mp["cfg"].get<double>();
  p.steps = std::max(4, static_cast<int>(std::lround(steps * StepFactor(o.quality))));
  switch (o.quality) {
    case Quality::kFast:
      p.sampler = "euler";
      p.scheduler = "normal";
      break;
    case Quality::kBalanced:
    case Quality::kHigh:
      p.sampler = "dpmpp_2m";
      p.scheduler = "karras";
      break;
    case Quality::kUltra:
      p.sampler = "dpmpp_2m_sde";
      p.scheduler = "karras";
      break;
  }
  if (IsDit(family)) {
    p.sampler = "euler";
    p.scheduler = family == Family::kFlux ? "simple" : "sgm_uniform";
  }
  p.clip_skip = 1;
  if (mp.contains("clip_skip") && mp["clip_skip"].is_number_integer()) {
    p.clip_skip = std::clamp(mp["clip_skip"].get<int>(), 1, 12);
  } else if (sel.style == "anime" && family == Family::kSD1) {
    p.clip_skip = 2;
    why.push_back("clip skip 2 for anime SD1 models");
  }
  sel.explanation.push_back("params: " + std::to_string(p.width) + "x" + std::to_string(p.height) +
                            ", " + std::to_string(p.steps) + " steps, cfg " + Fmt("%.1f", p.cfg) +
                            ", " + p.sampler + " " + p.scheduler + ", clip skip " +
                            std::to_string(p.clip_skip) + ": " + Join(why, "; "));
  sel.negative_prompt = negative_prompt;
  if (sel.negative_prompt.empty()) {
    sel.negative_prompt = DefaultNegative(sel.style);
    sel.explanation.push_back("negative prompt: the default for style " +
                              (sel.style.empty() ? std::string("none") : sel.style));
  }
  return sel;
}

}  // namespace easel::library
