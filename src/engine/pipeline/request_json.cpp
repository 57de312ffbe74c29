// GenerateRequest <-> JSON through one table of (name, member) pairs (see request_json.h).
#include "engine/pipeline/request_json.h"

#include <array>
#include <cmath>
#include <limits>
#include <string>
#include <variant>
#include <vector>

namespace easel::engine {
namespace {

using Outpaint = std::array<int, 4>;
using Loras = std::vector<LoraRequest>;
using Member =
    std::variant<std::string GenerateRequest::*, int GenerateRequest::*, int64_t GenerateRequest::*,
                 double GenerateRequest::*, bool GenerateRequest::*, Outpaint GenerateRequest::*,
                 Loras GenerateRequest::*>;

struct Field {
  const char* name;
  Member member;
};

// The declaration: JSON name -> request member. Its order is RequestToJson's key order
// (nlohmann sorts object keys anyway).
const Field kFields[] = {
    {"prompt", &GenerateRequest::prompt},
    {"negative_prompt", &GenerateRequest::negative_prompt},
    {"steps", &GenerateRequest::steps},
    {"cfg_scale", &GenerateRequest::cfg_scale},
    {"sampler_name", &GenerateRequest::sampler},
    {"scheduler", &GenerateRequest::scheduler},
    {"seed", &GenerateRequest::seed},
    {"width", &GenerateRequest::width},
    {"height", &GenerateRequest::height},
    {"batch_size", &GenerateRequest::batch},
    {"clip_skip", &GenerateRequest::clip_skip},
    {"model", &GenerateRequest::model_path},
    {"vae", &GenerateRequest::vae_path},
    {"device", &GenerateRequest::device},
    {"dtype", &GenerateRequest::dtype},
    {"prediction", &GenerateRequest::prediction},
    {"text_heads", &GenerateRequest::text_heads},
    {"loras", &GenerateRequest::loras},
    {"loras_dir", &GenerateRequest::loras_dir},
    {"embeddings_dir", &GenerateRequest::embeddings_dir},
    {"init_image", &GenerateRequest::init_image},
    {"denoising_strength", &GenerateRequest::denoising_strength},
    {"resize_mode", &GenerateRequest::resize_mode},
    {"mask", &GenerateRequest::mask},
    {"mask_blur", &GenerateRequest::mask_blur},
    {"inpaint_full_res", &GenerateRequest::inpaint_full_res},
    {"inpaint_full_res_padding", &GenerateRequest::inpaint_full_res_padding},
    {"inpainting_fill", &GenerateRequest::inpainting_fill},
    {"inpainting_mask_invert", &GenerateRequest::inpainting_mask_invert},
    {"outpaint", &GenerateRequest::outpaint},
    {"enable_hr", &GenerateRequest::enable_hr},
    {"hr_scale", &GenerateRequest::hr_scale},
    {"hr_second_pass_steps", &GenerateRequest::hr_second_pass_steps},
    {"hr_upscaler", &GenerateRequest::hr_upscaler},
    {"hr_denoising_strength", &GenerateRequest::hr_denoising_strength},
    {"refiner_checkpoint", &GenerateRequest::refiner_checkpoint},
    {"refiner_switch_at", &GenerateRequest::refiner_switch_at},
    {"vae_tiling", &GenerateRequest::vae_tiling},
};

std::string KnownFields() {
  std::string out;
  for (const Field& f : kFields) out += (out.empty() ? "" : ", ") + std::string(f.name);
  return out;
}

// "string", "number 2.5", "boolean" ...: what the client sent, for messages.
std::string Describe(const nlohmann::json& v) {
  if (v.is_number_float()) return "number " + v.dump();
  if (v.is_number()) return "integer " + v.dump();
  return v.type_name();
}

Status TypeError(const char* name, const char* expected, const nlohmann::json& v) {
  return InvalidArgument(std::string("'") + name + "' must be " + expected + ", got " +
                         Describe(v));
}

// An integer in [lo, hi]: JSON integers, or floats with no fractional part (20.0), which
// some clients send for every number.
Status ReadInteger(const char* name, const nlohmann::json& v, int64_t lo, int64_t hi,
                   int64_t* out) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(hi))
      return InvalidArgument(std::string("'") + name + "' is " + v.dump() + ", over " +
                             std::to_string(hi));
    *out = static_cast<int64_t>(u);
    return Status::Ok();
  }
  int64_t i = 0;
  if (v.is_number_integer()) {
    i = v.get<int64_t>();
  } else if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!(d == std::floor(d)) || d < -9.2e18 || d > 9.2e18) return TypeError(name, "an integer", v);
    i = static_cast<int64_t>(d);
  } else {
    return TypeError(name, "an integer", v);
  }
  if (i < lo || i > hi)
    return InvalidArgument(std::string("'") + name + "' is " + std::to_string(i) + ", outside " +
                           std::to_string(lo) + ".." + std::to_string(hi));
  *out = i;
  return Status::Ok();
}

struct Reader {
  const char* name;
  const nlohmann::json& v;
  GenerateRequest& r;

  Status operator()(std::string GenerateRequest::*m) const {
    if (!v.is_string()) return TypeError(name, "a string", v);
    r.*m = v.get<std::string>();
    return Status::Ok();
  }
  Status operator()(int GenerateRequest::*m) const {
    int64_t i = 0;
    EASEL_RETURN_IF_ERROR(
        ReadInteger(name, v, std::numeric_limits<int>::min(), std::numeric_limits<int>::max(), &i));
    r.*m = static_cast<int>(i);
    return Status::Ok();
  }
  Status operator()(int64_t GenerateRequest::*m) const {
    return ReadInteger(name, v, std::numeric_limits<int64_t>::min(),
                       std::numeric_limits<int64_t>::max(), &(r.*m));
  }
  Status operator()(double GenerateRequest::*m) const {
    if (!v.is_number()) return TypeError(name, "a number", v);
    r.*m = v.get<double>();
    return Status::Ok();
  }
  // true/false, or 0/1 as A1111 clients often send.
  Status operator()(bool GenerateRequest::*m) const {
    if (v.is_boolean()) {
      r.*m = v.get<bool>();
      return Status::Ok();
    }
    int64_t i = 0;
    if (!v.is_number() || !ReadInteger(name, v, 0, 1, &i).ok())
      return TypeError(name, "true or false", v);
    r.*m = i != 0;
    return Status::Ok();
  }
  // [left, right, top, bottom] pixels.
  Status operator()(Outpaint GenerateRequest::*m) const {
    if (!v.is_array() || v.size() != 4)
      return TypeError(name, "an array of 4 integers [left, right, top, bottom]", v);
    for (size_t i = 0; i < 4; ++i) {
      int64_t x = 0;
      EASEL_RETURN_IF_ERROR(ReadInteger(name, v[i], 0, 1 << 20, &x));
      (r.*m)[i] = static_cast<int>(x);
    }
    return Status::Ok();
  }
  // [{"name": "x", "weight": 0.8, "te_weight": 0.5}, ...]; te_weight defaults to weight.
  Status operator()(Loras GenerateRequest::*m) const {
    if (!v.is_array()) return TypeError(name, "an array of {name, weight, te_weight}", v);
    Loras out;
    for (const nlohmann::json& e : v) {
      if (!e.is_object()) return TypeError(name, "an array of {name, weight, te_weight}", e);
      LoraRequest l;
      bool te_given = false;
      for (const auto& [key, value] : e.items()) {
        if (key == "name") {
          if (!value.is_string()) return TypeError("loras[].name", "a string", value);
          l.name_or_path = value.get<std::string>();
        } else if (key == "weight" || key == "te_weight") {
          if (!value.is_number()) return TypeError("loras[].weight", "a number", value);
          (key == "weight" ? l.unet_weight : l.text_encoder_weight) = value.get<double>();
          te_given = te_given || key == "te_weight";
        } else {
          return InvalidArgument("unknown field '" + key +
                                 "' in 'loras': a LoRA has name, weight, te_weight");
        }
      }
      if (!te_given) l.text_encoder_weight = l.unet_weight;
      out.push_back(l);
    }
    r.*m = std::move(out);
    return Status::Ok();
  }
};

struct Writer {
  const char* name;
  const GenerateRequest& r;
  nlohmann::json& out;

  template <typename T>
  void operator()(T GenerateRequest::*m) const {
    out[name] = r.*m;
  }
  void operator()(Loras GenerateRequest::*m) const {
    nlohmann::json list = nlohmann::json::array();
    for (const LoraRequest& l : r.*m)
      list.push_back({{"name", l.name_or_path},
                      {"weight", l.unet_weight},
                      {"te_weight", l.text_encoder_weight}});
    out[name] = list;
  }
};

}  // namespace

Result<GenerateRequest> RequestFromJson(const nlohmann::json& json) {
  if (!json.is_object())
    return InvalidArgument("a request must be a JSON object, got " + Describe(json));
  GenerateRequest r;
  for (const auto& [key, value] : json.items()) {
    const Field* field = nullptr;
    for (const Field& f : kFields)
      if (key == f.name) field = &f;
    if (field == nullptr)
      return InvalidArgument("unknown field '" + key + "': a request has " + KnownFields());
    if (value.is_null()) continue;
    EASEL_RETURN_IF_ERROR(std::visit(Reader{field->name, value, r}, field->member));
  }
  EASEL_RETURN_IF_ERROR(Validate(r));
  return r;
}

nlohmann::json RequestToJson(const GenerateRequest& request) {
  nlohmann::json out = nlohmann::json::object();
  for (const Field& f : kFields) std::visit(Writer{f.name, request, out}, f.member);
  return out;
}

}  // namespace easel::engine
