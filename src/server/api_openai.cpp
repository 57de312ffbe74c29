// The OpenAI-compatible images API: POST /v1/images/generations and GET /v1/models, with
// OpenAI-shaped answers and errors, so that OpenAI SDKs pointed at base_url=<server>/v1 work.
// A model id that is not one of ours but one of OpenAI's image models (dall-e-2, dall-e-3,
// gpt-image-1) means "the default model", so unchanged clients work too.
#include <cstdint>
#include <ctime>

#include "server/api.h"
#include "server/errors.h"
#include "server/llm_manager.h"
#include "store/ids.h"

namespace easel::server {
namespace {

using json = nlohmann::json;
using http::Request;
using http::Response;

constexpr ApiStyle kStyle = ApiStyle::kOpenAI;

Response Error(int status, const std::string& code, const std::string& message,
               const std::string& param = "") {
  return ErrorResponse(kStyle, status, code, message, param);
}
Response Error(const Status& st, const std::string& param = "") {
  return ErrorResponse(kStyle, st, param);
}

Response Generations(ApiContext& ctx, const Request& req) {
  json body;
  Response err;
  if (!ParseJsonBody(req, kStyle, &body, &err)) return err;
  json native = json::object();
  std::string format = "url";
  for (const auto& [key, v] : body.items()) {
    if (key == "prompt") {
      if (!v.is_string() || v.get<std::string>().empty())
        return Error(400, "invalid_value", "'prompt' must be a non-empty string", "prompt");
      native["prompt"] = v;
    } else if (key == "model") {
      if (!v.is_string()) return Error(400, "invalid_type", "'model' must be a string", "model");
      const std::string m = v.get<std::string>();
      if (m != "dall-e-2" && m != "dall-e-3" && m != "gpt-image-1" && !m.empty())
        native["model"] = m;
    } else if (key == "n") {
      native["batch_size"] = v;
    } else if (key == "size") {
      if (!v.is_string())
        return Error(400, "invalid_type", "'size' must be a string like \"512x512\"", "size");
      const std::string s = v.get<std::string>();
      const size_t x = s.find('x');
      int w = 0, h = 0;
      char tail = 0;
      if (x == std::string::npos || std::sscanf(s.c_str(), "%dx%d%c", &w, &h, &tail) != 2)
        return Error(400, "invalid_value",
                     "'size' is '" + s.substr(0, 40) + "': use WIDTHxHEIGHT, e.g. \"512x512\"",
                     "size");
      native["width"] = w;
      native["height"] = h;
    } else if (key == "response_format") {
      if (!v.is_string() || (v != "url" && v != "b64_json"))
        return Error(400, "invalid_value", "'response_format' must be \"url\" or \"b64_json\"",
                     "response_format");
      format = v.get<std::string>();
    } else if (key == "quality" || key == "style" || key == "user" || key == "output_format" ||
               key == "background" || key == "moderation") {
      // Accepted for compatibility; they do not apply to Stable Diffusion.
    } else if (key == "negative_prompt" || key == "seed" || key == "steps" || key == "cfg_scale" ||
               key == "sampler_name" || key == "scheduler") {
      native[key] = v;  // Easel extensions
    } else {
      return Error(400, "unknown_parameter",
                   "Unrecognized request argument supplied: " + key.substr(0, 64), key);
    }
  }
  if (!native.contains("prompt"))
    return Error(400, "missing_required_parameter", "'prompt' is required", "prompt");
  if (!native.contains("width")) {
    native["width"] = 512;
    native["height"] = 512;
  }
  auto built = BuildJob(native, ctx.Build());
  if (!built.ok()) {
    std::string param;
    const std::string& m = built.status().message();
    if (m.rfind("'batch_size'", 0) == 0) param = "n";
    if (m.rfind("'width'", 0) == 0 || m.rfind("'height'", 0) == 0) param = "size";
    if (built.status().code() == Code::kNotFound) return Error(404, "model_not_found", m, "model");
    return Error(built.status(), param);
  }
  auto job = ctx.orchestrator->Submit(*built);
  if (!job.ok()) return Error(job.status());
  auto ended = ctx.orchestrator->WaitForEnd(job->id, ctx.sync_timeout_ms);
  if (!ended.ok()) return Error(ended.status());
  if (ended->state != store::JobState::kSucceeded)
    return Error(ended->state == store::JobState::kFailed ? StatusOfJobError(ended->error) : 503,
                 "generation_failed",
                 "the job " + job->id + " is " + store::JobStateName(ended->state) +
                     (ended->error.empty() ? "" : ": " + ended->error));
  json data = json::array();
  const std::string prompt = native["prompt"];
  if (format == "b64_json") {
    auto b64 = JobImagesBase64(ctx, *ended);
    if (!b64.ok()) return Error(b64.status());
    for (std::string& s : *b64)
      data.push_back({{"b64_json", std::move(s)}, {"revised_prompt", prompt}});
  } else {
    const json result = json::parse(ended->result_json, nullptr, false);
    for (const json& img : result.value("images", json::array()))
      data.push_back({{"url", req.scheme_host + img.value("url", "")}, {"revised_prompt", prompt}});
  }
  return Response::Json(200,
                        {{"created", static_cast<int64_t>(std::time(nullptr))}, {"data", data}});
}

json ModelJson(const ModelEntry& m) {
  return {{"id", m.name}, {"object", "model"}, {"created", m.mtime}, {"owned_by", "easel"}};
}

}  // namespace

void AddOpenAiRoutes(http::Router& router, ApiContext& ctx) {
  ApiContext* c = &ctx;
  router.Post("/v1/images/generations", [c](const Request& req) { return Generations(*c, req); });
  router.Get("/v1/models", [c](const Request&) {
    json data = json::array();
    for (const ModelEntry& m : c->catalog->Models()) data.push_back(ModelJson(m));
    if (c->llm != nullptr) data.push_back(c->llm->ModelJson());  // the language model, last
    return Response::Json(200, {{"object", "list"}, {"data", data}});
  });
  router.Get("/v1/models/(.+)", [c](const Request& req) {
    if (c->llm != nullptr && req.params[0] == c->llm->ModelName())
      return Response::Json(200, c->llm->ModelJson());
    auto m = c->catalog->Resolve(req.params[0]);
    if (!m.ok())
      return Error(m.status().code() == Code::kNotFound ? 404 : 400, "model_not_found",
                   m.status().message(), "model");
    return Response::Json(200, ModelJson(*m));
  });
}

}  // namespace easel::server
