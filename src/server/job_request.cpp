// Job requests: field table, limits, input images, and the stored -> worker request step
// (see job_request.h).
#include "server/job_request.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>

#include "io/png.h"
#include "server/base64.h"
#include "server/job_library.h"
#include "store/ids.h"
#include "util/files.h"

namespace easel::server {
namespace {

using json = nlohmann::json;

enum class Type { kString, kInt, kNumber, kBool, kOutpaint, kLoras, kImage, kVaeTiling };

struct Field {
  const char* name;
  Type type;
  double lo = 0, hi = 0;  // kInt / kNumber; kString: hi = max bytes (0: the prompt limit)
};

// Which hi comes from the limits: steps, sides and batch.
enum Dyn { kNone, kSteps, kSide, kBatch };

struct FieldDef {
  Field f;
  Dyn dyn = kNone;
};

const std::vector<FieldDef>& FieldTable() {
  static const std::vector<FieldDef> table = {
      {{"prompt", Type::kString, 0, 0}},
      {{"negative_prompt", Type::kString, 0, 0}},
      {{"model", Type::kString, 0, 512}},
      {{"sampler_name", Type::kString, 0, 64}},
      {{"scheduler", Type::kString, 0, 64}},
      {{"steps", Type::kInt, 1, 0}, kSteps},
      {{"cfg_scale", Type::kNumber, 0, 100}},
      {{"seed", Type::kInt, -1, 9.2e18}},
      {{"width", Type::kInt, 64, 0}, kSide},
      {{"height", Type::kInt, 64, 0}, kSide},
      {{"batch_size", Type::kInt, 1, 0}, kBatch},
      {{"clip_skip", Type::kInt, 1, 12}},
      {{"text_heads", Type::kInt, 0, 64}},
      {{"init_image", Type::kImage}},
      {{"mask", Type::kImage}},
      {{"denoising_strength", Type::kNumber, 0, 1}},
      {{"resize_mode", Type::kInt, 0, 3}},
      {{"mask_blur", Type::kInt, 0, 64}},
      {{"inpaint_full_res", Type::kBool}},
      {{"inpaint_full_res_padding", Type::kInt, 0, 256}},
      {{"inpainting_fill", Type::kInt, 0, 3}},
      {{"inpainting_mask_invert", Type::kInt, 0, 1}},
      {{"outpaint", Type::kOutpaint}},
      {{"enable_hr", Type::kBool}},
      {{"hr_scale", Type::kNumber, 1, 4}},
      {{"hr_second_pass_steps", Type::kInt, 0, 0}, kSteps},
      {{"hr_upscaler", Type::kString, 0, 64}},
      {{"hr_denoising_strength", Type::kNumber, 0, 1}},
      {{"refiner_checkpoint", Type::kString, 0, 512}},
      {{"refiner_switch_at", Type::kNumber, 0, 1}},
      {{"vae_tiling", Type::kVaeTiling}},
      {{"loras", Type::kLoras}},
  };
  return table;
}

std::string Describe(const json& v) {
  if (v.is_number_float()) return "number " + v.dump();
  if (v.is_number()) return "integer " + v.dump();
  if (v.is_string()) return "string";
  return v.type_name();
}

Status TypeError(const std::string& name, const char* expected, const json& v) {
  return InvalidArgument("'" + name + "' must be " + expected + ", got " + Describe(v));
}

// A JSON integer (or a float without a fraction) in [lo, hi].
Result<int64_t> ReadInt(const std::string& name, const json& v, double lo, double hi) {
  double d = 0;
  if (v.is_number_unsigned()) {
    if (v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return InvalidArgument("'" + name + "' is " + v.dump() + ", over " +
                             std::to_string(int64_t(hi)));
    d = static_cast<double>(v.get<uint64_t>());
    if (d > hi)
      return InvalidArgument("'" + name + "' is " + v.dump() + ", outside " +
                             std::to_string(int64_t(lo)) + ".." + std::to_string(int64_t(hi)));
    return static_cast<int64_t>(v.get<uint64_t>());
  }
  if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if (static_cast<double>(i) < lo || static_cast<double>(i) > hi)
      return InvalidArgument("'" + name + "' is " + std::to_string(i) + ", outside " +
                             std::to_string(int64_t(lo)) + ".." + std::to_string(int64_t(hi)));
    return i;
  }
  if (v.is_number_float()) {
    d = v.get<double>();
    if (!std::isfinite(d) || d != std::floor(d)) return TypeError(name, "an integer", v);
    if (d < lo || d > hi)
      return InvalidArgument("'" + name + "' is " + v.dump() + ", outside " +
                             std::to_string(int64_t(lo)) + ".." + std::to_string(int64_t(hi)));
    return static_cast<int64_t>(d);
  }
  return TypeError(name, "an integer", v);
}

Result<double> ReadNumber(const std::string& name, const json& v, double lo, double hi) {
  if (!v.is_number()) return TypeError(name, "a number", v);
  const double d = v.get<double>();
  if (!std::isfinite(d) || d < lo || d > hi) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%g..%g", lo, hi);
    return InvalidArgument("'" + name + "' is " + v.dump() + ", outside " + buf);
  }
  return d;
}

bool ValidUtf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const int n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    if (n < 0 || i + static_cast<size_t>(n) >= s.size() + (n == 0 ? 1 : 0)) return false;
    for (int k = 1; k <= n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    i += static_cast<size_t>(n) + 1;
  }
  return true;
}

// Decodes, checks and writes one input image; returns its path relative to the data dir.
Result<std::string> SaveInput(const std::string& field, const std::string& bytes,
                              const std::string& input_id, const BuildContext& ctx) {
  if (bytes.size() > ctx.limits->max_input_bytes)
    return InvalidArgument("'" + field + "' is " + std::to_string(bytes.size()) +
                           " bytes, over the limit of " +
                           std::to_string(ctx.limits->max_input_bytes));
  if (bytes.size() >= 3 && static_cast<unsigned char>(bytes[0]) == 0xFF &&
      static_cast<unsigned char>(bytes[1]) == 0xD8)
    return InvalidArgument("'" + field + "' is a JPEG: send the image as a PNG");
  auto image = io::DecodePng(bytes);
  if (!image.ok())
    return InvalidArgument("'" + field + "' is not a readable PNG image (" +
                           image.status().message() + "): send a PNG, base64-encoded");
  const int side = ctx.limits->max_input_side;
  if (image->width > side || image->height > side)
    return InvalidArgument("'" + field + "' is " + std::to_string(image->width) + "x" +
                           std::to_string(image->height) + ", over the limit of " +
                           std::to_string(side) + " pixels a side");
  const std::string rel = "inputs/" + input_id + "/" + (field == "mask" ? "mask" : "init") + ".png";
  std::error_code ec;
  std::filesystem::create_directories(ctx.data_dir + "/inputs/" + input_id, ec);
  if (ec) return IoError("cannot create the folder for input images: " + ec.message());
  EASEL_RETURN_IF_ERROR(WriteFileAtomic(ctx.data_dir + "/" + rel, bytes));
  return rel;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  // Collapse whitespace runs as the engine does.
  std::string out;
  bool space = false;
  for (char c : s) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

bool Matches(const SamplerName& s, const std::string& key) {
  if (key == Lower(s.name) || key == Lower(s.a1111)) return true;
  for (const char* a : s.aliases)
    if (key == Lower(a)) return true;
  return false;
}

}  // namespace

const std::vector<SamplerName>& Samplers() {
  static const std::vector<SamplerName> list = {
      {"euler", "Euler", {}},
      {"euler_ancestral", "Euler a", {}},
      {"heun", "Heun", {}},
      {"dpmpp_2m", "DPM++ 2M", {}},
      {"dpmpp_2m_sde", "DPM++ 2M SDE", {}},
      {"dpmpp_sde", "DPM++ SDE", {}},
      {"ddim", "DDIM", {}},
      {"lcm", "LCM", {}},
  };
  return list;
}

const std::vector<SamplerName>& Schedulers() {
  static const std::vector<SamplerName> list = {
      {"normal", "Normal", {"automatic"}},
      {"karras", "Karras", {}},
      {"exponential", "Exponential", {}},
      {"sgm_uniform", "SGM Uniform", {}},
      {"simple", "Simple", {}},
      {"ddim_uniform", "DDIM", {}},
      {"beta", "Beta", {}},
  };
  return list;
}

bool IsKnownScheduler(const std::string& name) {
  const std::string key = Lower(name);
  for (const SamplerName& s : Schedulers())
    if (Matches(s, key)) return true;
  return false;
}

bool IsKnownSampler(const std::string& name) {
  const std::string key = Lower(name);
  for (const SamplerName& s : Samplers())
    if (Matches(s, key)) return true;
  // A1111's "<sampler> <scheduler>" ("DPM++ 2M Karras").
  for (size_t sp = key.find(' '); sp != std::string::npos; sp = key.find(' ', sp + 1)) {
    const std::string head = key.substr(0, sp), tail = key.substr(sp + 1);
    for (const SamplerName& s : Samplers())
      if (Matches(s, head) && IsKnownScheduler(tail)) return true;
  }
  return false;
}

Result<JobSubmission> BuildJob(const json& body_in, const BuildContext& ctx) {
  if (!body_in.is_object())
    return InvalidArgument("the request body must be a JSON object, got " + Describe(body_in));
  // Presets, styles and "model": "auto" fill in fields first (job_library.h); a copy only
  // when they are used (bodies may carry megabytes of base64 images).
  LibraryChoices choices;
  json edited;
  if (UsesLibrary(body_in)) {
    edited = body_in;
    auto c = ApplyLibraryFields(&edited, ctx.library);
    if (!c.ok()) return c.status();
    choices = std::move(*c);
  }
  const json& body = choices.used ? edited : body_in;
  const Limits& lim = *ctx.limits;
  JobSubmission job;
  json req = json::object();
  json tags = json::array();
  std::string kind;
  std::map<std::string, std::string> images = ctx.uploads;  // field -> bytes
  for (const auto& [key, value] : body.items()) {
    if (key == "kind") {
      if (!value.is_string())
        return TypeError(key, "a string (txt2img, img2img or inpaint)", value);
      kind = value.get<std::string>();
      if (kind != "txt2img" && kind != "img2img" && kind != "inpaint")
        return InvalidArgument("'kind' is '" + kind.substr(0, 40) +
                               "': use txt2img, img2img or inpaint");
      continue;
    }
    if (key == "priority") {
      auto p = ReadInt(key, value, -100, 100);
      if (!p.ok()) return p.status();
      job.priority = static_cast<int>(*p);
      continue;
    }
    if (key == "tags") {
      if (!value.is_array() || value.size() > 32)
        return TypeError(key, "an array of at most 32 strings", value);
      for (const json& t : value) {
        if (!t.is_string() || t.get<std::string>().empty() || t.get<std::string>().size() > 64)
          return InvalidArgument("'tags' must hold strings of 1 to 64 bytes");
        tags.push_back(t);
      }
      continue;
    }
    if (key == "preset" || key == "styles" || key == "style" || key == "quality")
      continue;  // null or empty: not used (ApplyLibraryFields took the others out)
    const FieldDef* def = nullptr;
    for (const FieldDef& d : FieldTable())
      if (key == d.f.name) def = &d;
    if (def == nullptr) {
      std::string known;
      for (const FieldDef& d : FieldTable())
        known += (known.empty() ? "" : ", ") + std::string(d.f.name);
      return InvalidArgument("unknown field '" + key.substr(0, 64) + "': a job takes " + known +
                             ", kind, priority, tags, preset, styles, style and quality");
    }
    if (value.is_null()) continue;
    const std::string name = key;
    double hi = def->f.hi;
    if (def->dyn == kSteps) hi = lim.max_steps;
    if (def->dyn == kSide) hi = lim.max_side;
    if (def->dyn == kBatch) hi = lim.max_batch;
    switch (def->f.type) {
      case Type::kString: {
        if (!value.is_string()) return TypeError(name, "a string", value);
        const std::string s = value.get<std::string>();
        const size_t max = hi > 0 ? static_cast<size_t>(hi) : lim.max_prompt_chars;
        if (s.size() > max)
          return InvalidArgument("'" + name + "' is " + std::to_string(s.size()) +
                                 " bytes, over the limit of " + std::to_string(max));
        if (!ValidUtf8(s)) return InvalidArgument("'" + name + "' is not valid UTF-8 text");
        req[name] = s;
        break;
      }
      case Type::kInt: {
        auto i = ReadInt(name, value, def->f.lo, hi);
        if (!i.ok()) return i.status();
        if (def->dyn == kSide && *i % 8 != 0)
          return InvalidArgument("'" + name + "' is " + std::to_string(*i) +
                                 ": sizes must be multiples of 8 (try " +
                                 std::to_string(*i / 8 * 8) + ")");
        req[name] = *i;
        break;
      }
      case Type::kNumber: {
        auto d = ReadNumber(name, value, def->f.lo, hi);
        if (!d.ok()) return d.status();
        req[name] = *d;
        break;
      }
      case Type::kBool:
        if (!value.is_boolean()) return TypeError(name, "true or false", value);
        req[name] = value;
        break;
      case Type::kVaeTiling:
        if (!value.is_string() || (value != "auto" && value != "on" && value != "off"))
          return InvalidArgument("'vae_tiling' must be \"auto\", \"on\" or \"off\"");
        req[name] = value;
        break;
      case Type::kOutpaint: {
        if (!value.is_array() || value.size() != 4)
          return TypeError(name, "an array of 4 integers [left, right, top, bottom]", value);
        json out = json::array();
        for (const json& v : value) {
          auto i = ReadInt(name, v, 0, lim.max_side);
          if (!i.ok()) return i.status();
          out.push_back(*i);
        }
        req[name] = out;
        break;
      }
      case Type::kLoras: {
        if (!value.is_array() || value.size() > 16)
          return TypeError(name, "an array of at most 16 {name, weight, te_weight} objects", value);
        json out = json::array();
        for (const json& l : value) {
          if (!l.is_object() || !l.contains("name") || !l["name"].is_string())
            return InvalidArgument("each of 'loras' must be an object with a string 'name'");
          json entry = json::object();
          for (const auto& [lk, lv] : l.items()) {
            if (lk == "name") {
              EASEL_RETURN_IF_ERROR(ModelCatalog::CheckLoraName(lv.get<std::string>()));
              entry["name"] = lv;
            } else if (lk == "weight" || lk == "te_weight") {
              auto w = ReadNumber("loras." + lk, lv, -10, 10);
              if (!w.ok()) return w.status();
              entry[lk] = *w;
            } else {
              return InvalidArgument("unknown field 'loras." + lk.substr(0, 40) +
                                     "': a LoRA has name, weight and te_weight");
            }
          }
          out.push_back(entry);
        }
        req[name] = out;
        break;
      }
      case Type::kImage: {
        if (!value.is_string()) return TypeError(name, "a string (the PNG, base64-encoded)", value);
        auto bytes = Base64Decode(value.get<std::string>(), "'" + name + "'", lim.max_input_bytes);
        if (!bytes.ok()) return bytes.status();
        images[name] = std::move(*bytes);
        break;
      }
    }
  }
  // Cross-field checks.
  if (req.contains("sampler_name") && !IsKnownSampler(req["sampler_name"]))
    return InvalidArgument("unknown sampler '" + req["sampler_name"].get<std::string>() +
                           "': GET /sdapi/v1/samplers lists them (Euler, Euler a, DPM++ 2M ...)");
  if (req.contains("scheduler") && !IsKnownScheduler(req["scheduler"]))
    return InvalidArgument(
        "unknown scheduler '" + req["scheduler"].get<std::string>() +
        "': use normal, karras, exponential, sgm_uniform, simple, ddim_uniform or beta");
  if (req.value("enable_hr", false)) {
    const double scale = req.value("hr_scale", 2.0);
    const int w = req.value("width", 512), h = req.value("height", 512);
    if (w * scale > lim.max_side || h * scale > lim.max_side)
      return InvalidArgument("hires fix would make a " + std::to_string(int(w * scale)) + "x" +
                             std::to_string(int(h * scale)) + " image, over the limit of " +
                             std::to_string(lim.max_side) + " a side: lower hr_scale or the size");
  }
  // Files the library chose (a preset, "model": "auto"): names in the request, paths beside.
  json paths = json::object();
  if (!choices.model_path.empty() && !req.contains("model")) {
    if (auto listed = ctx.catalog->FindByPath(choices.model_path)) {
      req["model"] = listed->name;  // under the models folder: its usual name
    } else {
      req["model"] = std::filesystem::path(choices.model_path).stem().string();
      paths["model"] = choices.model_path;
    }
    if (!choices.vae_path.empty()) paths["vae"] = choices.vae_path;  // with its model only
  }
  if (!choices.loras.empty() && !req.contains("loras")) {
    json loras = json::array(), by_name = json::object();
    for (const LibraryLora& l : choices.loras) {
      loras.push_back({{"name", l.name}, {"weight", l.weight}});
      by_name[l.name] = l.path;
    }
    req["loras"] = loras;
    paths["loras"] = by_name;
  }
  // The model: by name, checked now so that an unknown one is a 404 and not a failed job.
  std::string model = req.contains("model") ? req["model"].get<std::string>() : ctx.default_model;
  if (model.empty()) {
    auto models = ctx.catalog->Models();
    for (const ModelEntry& m : models)
      if (m.supported) {
        model = m.name;
        break;
      }
    if (model.empty())
      return NotFound(
          "no model to generate with: the models folder holds no supported model "
          "(SD1.x or SD2.x); add one, or name one with 'model'");
  }
  if (!paths.contains("model")) {
    auto entry = ctx.catalog->Resolve(model);
    if (!entry.ok()) return entry.status();
    req["model"] = entry->name;
  }
  if (req.contains("refiner_checkpoint") && !req["refiner_checkpoint"].get<std::string>().empty()) {
    auto refiner = ctx.catalog->Resolve(req["refiner_checkpoint"]);
    if (!refiner.ok()) return refiner.status();
    req["refiner_checkpoint"] = refiner->name;
  }
  const bool has_init = images.count("init_image") > 0, has_mask = images.count("mask") > 0;
  if (has_mask && !has_init) return InvalidArgument("a 'mask' needs an 'init_image' to paint into");
  const std::string inferred = has_mask ? "inpaint" : has_init ? "img2img" : "txt2img";
  if (kind.empty()) kind = inferred;
  if (kind != inferred)
    return InvalidArgument("'kind' is " + kind + " but the request is " + inferred +
                           (kind == "txt2img"   ? " (drop init_image/mask)"
                            : kind == "img2img" ? " (send an init_image)"
                                                : " (send an init_image and a mask)"));
  if (!images.empty()) {
    const std::string input_id = store::NewId("in_");
    for (const auto& [field, bytes] : images) {
      if (field != "init_image" && field != "mask") continue;
      auto rel = SaveInput(field, bytes, input_id, ctx);
      if (!rel.ok()) return rel.status();
      req[field] = *rel;
    }
  }
  job.kind = kind;
  job.stored = {{"request", req}, {"tags", tags}};
  if (!paths.empty()) job.stored["paths"] = paths;
  if (choices.used) job.library = choices.explanation;
  return job;
}

Result<json> WorkerRequest(const json& stored, const WorkerContext& ctx) {
  if (!stored.is_object() || !stored.contains("request") || !stored["request"].is_object())
    return Corrupt("the stored job has no request object");
  json req = stored["request"];
  const json paths = stored.value("paths", json::object());
  if (paths.contains("model") && paths["model"].is_string()) {
    // Chosen from the library when the job was built (never a client's path).
    const std::string path = paths["model"];
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
      return NotFound("the model file " + path +
                      " chosen for this job has gone: rescan the library and submit again");
    req["model"] = path;
  } else {
    auto model = ctx.catalog->Resolve(req.value("model", ""));
    if (!model.ok()) return model.status();
    req["model"] = model->path;
  }
  if (paths.contains("vae") && paths["vae"].is_string()) req["vae"] = paths["vae"];
  if (paths.contains("loras") && paths["loras"].is_object() && req.contains("loras") &&
      req["loras"].is_array())
    for (json& l : req["loras"])
      if (l.is_object() && l.contains("name") && l["name"].is_string() &&
          paths["loras"].contains(l["name"].get<std::string>()))
        l["name"] = paths["loras"][l["name"].get<std::string>()];
  if (req.contains("refiner_checkpoint") && req["refiner_checkpoint"].is_string() &&
      !req["refiner_checkpoint"].get<std::string>().empty()) {
    auto refiner = ctx.catalog->Resolve(req["refiner_checkpoint"]);
    if (!refiner.ok()) return refiner.status();
    req["refiner_checkpoint"] = refiner->path;
  }
  for (const char* f : {"init_image", "mask"})
    if (req.contains(f) && req[f].is_string())
      req[f] = ctx.data_dir + "/" + req[f].get<std::string>();
  const bool lora_tags = req.value("prompt", "").find("<lora:") != std::string::npos;
  if (!ctx.loras_dir.empty() && (req.contains("loras") || lora_tags))
    req["loras_dir"] = ctx.loras_dir;
  if (!ctx.embeddings_dir.empty()) req["embeddings_dir"] = ctx.embeddings_dir;
  return req;
}

}  // namespace easel::server
