// GenerateRequest <-> JSON through one table of (name, member) pairs (see request_json.h).
#include "engine/pipeline/request_json.h"

#include <cmath>
#include <limits>
#include <string>
#include <variant>

namespace easel::engine {
namespace {

using Member = std::variant<std::string GenerateRequest::*, int GenerateRequest::*,
                            int64_t GenerateRequest::*, double GenerateRequest::*>;

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
  for (const Field& f : kFields) std::visit([&](auto m) { out[f.name] = request.*m; }, f.member);
  return out;
}

}  // namespace easel::engine
