// The A1111-compatible API under /sdapi/v1: the routes and response shapes of
// AUTOMATIC1111's modules/api (api.py, models.py), so that programs written for it work
// unchanged. txt2img/img2img are synchronous there: the job goes through the durable queue
// like any other, and the call waits for its end. Fields Easel has no use for (restore_faces,
// tiling, scripts ...) are accepted and ignored, as A1111's pydantic models ignore unknown
// ones; fields it knows are checked like the native API's.
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <optional>

#include "io/infotext.h"
#include "io/png.h"
#include "library/library_api.h"
#include "server/api.h"
#include "server/base64.h"
#include "server/errors.h"
#include "store/ids.h"

namespace easel::server {
namespace {

using json = nlohmann::json;
using http::Request;
using http::Response;

constexpr ApiStyle kStyle = ApiStyle::kA1111;

Response Error(const Status& st) {
  return ErrorResponse(kStyle, st);
}
Response Error(int status, const std::string& code, const std::string& message) {
  return ErrorResponse(kStyle, status, code, message);
}

bool Present(const json& body, const char* key) {
  return body.contains(key) && !body[key].is_null();
}

// A1111 clients send some booleans as 0/1.
json AsBool(const json& v) {
  if (v.is_number_integer() && (v == 0 || v == 1)) return v == 1;
  return v;
}

// The native job body for an A1111 txt2img/img2img body.
Result<json> Translate(const json& a, bool img2img) {
  json out = json::object();
  for (const char* k :
       {"prompt", "negative_prompt", "steps", "cfg_scale", "seed", "width", "height", "scheduler"})
    if (Present(a, k)) out[k] = a[k];
  // A1111's prompt styles, by name: applied by the library (job_library.h); [] is none.
  if (Present(a, "styles")) {
    if (!a["styles"].is_array()) return InvalidArgument("'styles' must be a list of style names");
    if (!a["styles"].empty()) out["styles"] = a["styles"];
  }
  if (Present(a, "sampler_name"))
    out["sampler_name"] = a["sampler_name"];
  else if (Present(a, "sampler_index"))
    out["sampler_name"] = a["sampler_index"];
  if (out.contains("scheduler") && out["scheduler"] == "Automatic") out.erase("scheduler");
  // batch_size images, n_iter times: one job of batch_size * n_iter images.
  json batch = Present(a, "batch_size") ? a["batch_size"] : json(1);
  json iters = Present(a, "n_iter") ? a["n_iter"] : json(1);
  if (!batch.is_number_integer() || !iters.is_number_integer())
    return InvalidArgument("'batch_size' and 'n_iter' must be integers");
  if (batch.get<int64_t>() < 1 || iters.get<int64_t>() < 1 || batch.get<int64_t>() > 1000 ||
      iters.get<int64_t>() > 1000)
    return InvalidArgument("'batch_size' and 'n_iter' must be 1 or more");
  out["batch_size"] = batch.get<int64_t>() * iters.get<int64_t>();
  if (Present(a, "override_settings")) {
    const json& o = a["override_settings"];
    if (!o.is_object()) return InvalidArgument("'override_settings' must be an object");
    if (Present(o, "sd_model_checkpoint")) out["model"] = o["sd_model_checkpoint"];
    if (Present(o, "CLIP_stop_at_last_layers")) out["clip_skip"] = o["CLIP_stop_at_last_layers"];
  }
  if (Present(a, "refiner_checkpoint") && a["refiner_checkpoint"] != "" &&
      a["refiner_checkpoint"] != "None") {
    out["refiner_checkpoint"] = a["refiner_checkpoint"];
    if (Present(a, "refiner_switch_at")) out["refiner_switch_at"] = a["refiner_switch_at"];
  }
  if (img2img) {
    if (!Present(a, "init_images") || !a["init_images"].is_array() || a["init_images"].empty())
      return InvalidArgument(
          "'init_images' must be a list with one base64 PNG (the image to start from)");
    out["init_image"] = a["init_images"][0];
    for (const char* k : {"denoising_strength", "resize_mode"})
      if (Present(a, k)) out[k] = a[k];
    if (Present(a, "mask")) {
      out["mask"] = a["mask"];
      for (const char* k :
           {"mask_blur", "inpaint_full_res_padding", "inpainting_fill", "inpainting_mask_invert"})
        if (Present(a, k)) out[k] = a[k];
      if (Present(a, "inpaint_full_res")) out["inpaint_full_res"] = AsBool(a["inpaint_full_res"]);
    }
  } else if (Present(a, "enable_hr") && AsBool(a["enable_hr"]) == true) {
    out["enable_hr"] = true;
    if (Present(a, "hr_scale")) out["hr_scale"] = a["hr_scale"];
    if (Present(a, "hr_second_pass_steps")) out["hr_second_pass_steps"] = a["hr_second_pass_steps"];
    if (Present(a, "hr_upscaler")) out["hr_upscaler"] = a["hr_upscaler"];
    if (Present(a, "denoising_strength")) out["hr_denoising_strength"] = a["denoising_strength"];
  }
  return out;
}

std::string Timestamp() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d%H%M%S", &tm);
  return buf;
}

// A1111's Processed.js(): the "info" string of txt2img/img2img answers.
std::string InfoJson(const json& req, const json& result, const std::string& model,
                     const json& styles) {
  json seeds = json::array(), infotexts = json::array(), prompts = json::array(),
       negs = json::array();
  for (const json& img : result.value("images", json::array())) {
    seeds.push_back(img.value("seed", int64_t{0}));
    infotexts.push_back(img.value("parameters", ""));
    prompts.push_back(req.value("prompt", ""));
    negs.push_back(req.value("negative_prompt", ""));
  }
  json subseeds = json::array();
  for (size_t i = 0; i < seeds.size(); ++i) subseeds.push_back(-1);
  const json info = {
      {"prompt", req.value("prompt", "")},
      {"all_prompts", prompts},
      {"negative_prompt", req.value("negative_prompt", "")},
      {"all_negative_prompts", negs},
      {"seed", seeds.empty() ? json(-1) : seeds[0]},
      {"all_seeds", seeds},
      {"subseed", -1},
      {"all_subseeds", subseeds},
      {"subseed_strength", 0},
      {"width", req.value("width", 512)},
      {"height", req.value("height", 512)},
      {"sampler_name", req.value("sampler_name", "Euler")},
      {"cfg_scale", req.value("cfg_scale", 7.0)},
      {"steps", req.value("steps", 20)},
      {"batch_size", req.value("batch_size", 1)},
      {"restore_faces", false},
      {"face_restoration_model", nullptr},
      {"sd_model_name", model},
      {"sd_model_hash", result.value("model", json::object()).value("hash", "")},
      {"sd_vae_name", nullptr},
      {"sd_vae_hash", nullptr},
      {"seed_resize_from_w", -1},
      {"seed_resize_from_h", -1},
      {"denoising_strength", req.value("denoising_strength", 0.0)},
      {"extra_generation_params", json::object()},
      {"index_of_first_image", 0},
      {"infotexts", infotexts},
      {"styles", styles.is_array() ? styles : json::array()},
      {"job_timestamp", Timestamp()},
      {"clip_skip", req.value("clip_skip", 1)},
      {"is_using_inpainting_conditioning", false},
      {"version", "easel"},
  };
  return info.dump(-1, ' ', false, json::error_handler_t::replace);
}

Response Generate(ApiContext& ctx, const Request& req, bool img2img) {
  json body;
  Response err;
  if (!ParseJsonBody(req, kStyle, &body, &err)) return err;
  auto native = Translate(body, img2img);
  if (!native.ok()) return Error(native.status());
  auto built = BuildJob(*native, ctx.Build());
  if (!built.ok()) return Error(built.status());
  auto job = ctx.orchestrator->Submit(*built);
  if (!job.ok()) return Error(job.status());
  auto ended = ctx.orchestrator->WaitForEnd(job->id, ctx.sync_timeout_ms);
  if (!ended.ok()) return Error(ended.status());
  if (ended->state == store::JobState::kFailed)
    return Error(StatusOfJobError(ended->error), "generation_failed",
                 "the job " + job->id + " failed: " + ended->error);
  if (!store::IsTerminal(ended->state))
    return Error(503, "timeout",
                 "the job " + job->id + " is still " + store::JobStateName(ended->state) +
                     ": follow it at /api/v1/jobs/" + job->id);
  const json result =
      json::parse(ended->result_json.empty() ? "{}" : ended->result_json, nullptr, false);
  json images = json::array();
  const bool send = !body.contains("send_images") || body["send_images"] != false;
  if (send && ended->state == store::JobState::kSucceeded) {
    auto b64 = JobImagesBase64(ctx, *ended);
    if (!b64.ok()) return Error(b64.status());
    for (std::string& s : *b64) images.push_back(std::move(s));
  }
  json parameters = body;
  if (img2img && body.value("include_init_images", false) != true) {
    parameters["init_images"] = nullptr;
    parameters["mask"] = nullptr;
  }
  const json stored = built->stored["request"];
  return Response::Json(
      200, {{"images", images},
            {"parameters", parameters},
            {"info", InfoJson(stored, result.is_object() ? result : json::object(),
                              stored.value("model", ""), native->value("styles", json::array()))}});
}

// The library's record of a file the catalog lists, when the library indexed it.
std::optional<library::ModelRecord> LibraryRecordOf(ApiContext& ctx, const std::string& path) {
  if (!ctx.library) return std::nullopt;
  auto r = ctx.library->index().Get(path);
  if (r.ok()) return *r;
  std::error_code ec;
  const std::string real = std::filesystem::weakly_canonical(path, ec).string();
  if (ec || real == path) return std::nullopt;
  r = ctx.library->index().Get(real);
  if (r.ok()) return *r;
  return std::nullopt;
}

}  // namespace

void AddA1111Routes(http::Router& router, ApiContext& ctx) {
  ApiContext* c = &ctx;
  router.Post("/sdapi/v1/txt2img", [c](const Request& req) { return Generate(*c, req, false); });
  router.Post("/sdapi/v1/img2img", [c](const Request& req) { return Generate(*c, req, true); });

  router.Get("/sdapi/v1/progress", [c](const Request& req) {
    const bool skip_image = req.Query("skip_current_image").value_or("false") == "true";
    auto stats = c->orchestrator->Stats();
    const int64_t pending = stats.ok() ? stats->queued + stats->running : 0;
    const auto running = c->orchestrator->Running();
    json state = {{"skipped", false}, {"interrupted", false}, {"stopping_generation", false},
                  {"job", ""},        {"job_count", pending}, {"job_timestamp", "0"},
                  {"job_no", 0},      {"sampling_step", 0},   {"sampling_steps", 0}};
    if (running.empty())
      return Response::Json(200, {{"progress", 0.0},
                                  {"eta_relative", 0.0},
                                  {"state", state},
                                  {"current_image", nullptr},
                                  {"textinfo", nullptr}});
    const LiveProgress* p = &running[0];
    for (const LiveProgress& r : running)
      if (r.started_ms > 0 && (p->started_ms == 0 || r.started_ms < p->started_ms)) p = &r;
    state["job"] = p->job_id;
    state["sampling_step"] = p->step;
    state["sampling_steps"] = p->total;
    double progress = p->total > 0 ? 0.01 + static_cast<double>(p->step) / p->total : 0.01;
    progress = std::min(progress, 1.0);
    const double elapsed = p->started_ms > 0 ? (store::NowMs() - p->started_ms) / 1000.0 : 0.0;
    const double eta = p->seconds_per_step > 0 ? p->seconds_per_step * (p->total - p->step)
                                               : elapsed / progress - elapsed;
    json image = nullptr;
    if (!skip_image && p->preview.is_object() && p->preview.contains("data"))
      image = p->preview["data"];
    return Response::Json(200, {{"progress", progress},
                                {"eta_relative", std::max(0.0, eta)},
                                {"state", state},
                                {"current_image", image},
                                {"textinfo", nullptr}});
  });
  router.Post("/sdapi/v1/interrupt", [c](const Request&) {
    c->orchestrator->CancelRunning();
    return Response::Json(200, json::object());
  });
  router.Post("/sdapi/v1/skip", [c](const Request&) {
    c->orchestrator->CancelRunning();
    return Response::Json(200, json::object());
  });

  router.Get("/sdapi/v1/options", [c](const Request&) {
    json o = c->settings->options();
    std::string model = c->settings->default_model();
    if (model.empty())
      for (const ModelEntry& m : c->catalog->Models())
        if (m.supported) {
          model = m.name;
          break;
        }
    if (auto e = c->catalog->Resolve(model); e.ok()) model = e->title;
    o["sd_model_checkpoint"] = model;
    if (!o.contains("CLIP_stop_at_last_layers")) o["CLIP_stop_at_last_layers"] = 1;
    if (!o.contains("samples_format")) o["samples_format"] = "png";
    if (!o.contains("sd_vae")) o["sd_vae"] = "Automatic";
    return Response::Json(200, o);
  });
  router.Post("/sdapi/v1/options", [c](const Request& req) {
    json body;
    Response err;
    if (!ParseJsonBody(req, kStyle, &body, &err)) return err;
    if (body.contains("sd_model_checkpoint")) {
      if (!body["sd_model_checkpoint"].is_string())
        return Error(400, "invalid_argument",
                     "'sd_model_checkpoint' must be a string (a title from /sdapi/v1/sd-models)");
      auto m = c->catalog->Resolve(body["sd_model_checkpoint"]);
      if (!m.ok()) return Error(m.status());
      body["sd_model_checkpoint"] = m->name;
    }
    Status st = c->settings->Update(body);
    if (!st.ok()) return Error(st);
    return Response::Json(200, nullptr);
  });
  router.Get("/sdapi/v1/sd-models", [c](const Request&) {
    json out = json::array();
    for (const ModelEntry& m : c->catalog->Models()) {
      // The hashes when the library has hashed the file (easel models hash, or a rescan).
      json autov2 = nullptr, sha256 = nullptr;
      if (auto rec = LibraryRecordOf(*c, m.path)) {
        if (!rec->autov2.empty()) autov2 = rec->autov2;
        if (!rec->sha256.empty()) sha256 = rec->sha256;
      }
      out.push_back(
          {{"title", autov2.is_null() ? m.title : m.title + " [" + autov2.get<std::string>() + "]"},
           {"model_name", m.name},
           {"hash", autov2},
           {"sha256", sha256},
           {"filename", m.title},
           {"config", nullptr}});
    }
    return Response::Json(200, out);
  });
  router.Post("/sdapi/v1/refresh-checkpoints", [c](const Request&) {
    c->catalog->Refresh();
    return Response::Json(200, nullptr);
  });
  router.Post("/sdapi/v1/refresh-loras", [c](const Request&) {
    c->catalog->Refresh();
    return Response::Json(200, nullptr);
  });
  router.Get("/sdapi/v1/samplers", [](const Request&) {
    json out = json::array();
    for (const SamplerName& s : Samplers())
      out.push_back(
          {{"name", s.a1111}, {"aliases", json::array({s.name})}, {"options", json::object()}});
    return Response::Json(200, out);
  });
  router.Get("/sdapi/v1/schedulers", [](const Request&) {
    json out = json::array();
    for (const SamplerName& s : Schedulers()) {
      json aliases = json::array();
      for (const char* a : s.aliases) aliases.push_back(a);
      out.push_back({{"name", s.name},
                     {"label", s.a1111},
                     {"aliases", aliases},
                     {"default_rho", s.name == std::string("karras") ? json(7.0) : json(nullptr)},
                     {"need_inner_model", false}});
    }
    return Response::Json(200, out);
  });
  router.Get("/sdapi/v1/loras", [c](const Request&) {
    json out = json::array();
    for (const LoraEntry& l : c->catalog->Loras())
      out.push_back({{"name", l.name},
                     {"alias", l.name},
                     {"path", l.name + ".safetensors"},
                     {"metadata", json::object()}});
    return Response::Json(200, out);
  });
  router.Get("/sdapi/v1/prompt-styles", [c](const Request&) {
    json out = json::array();
    if (c->library) {
      auto styles = c->library->presets().ListStyles();
      if (!styles.ok()) return Error(styles.status());
      for (const library::Style& s : *styles)
        out.push_back(
            {{"name", s.name}, {"prompt", s.prompt}, {"negative_prompt", s.negative_prompt}});
    }
    return Response::Json(200, out);
  });
  router.Get("/sdapi/v1/sd-vae", [c](const Request&) {
    // The VAEs of the model library (A1111 lists its models/VAE folder).
    json out = json::array();
    if (c->library) {
      store::ModelFilter f;
      f.kind = "vae";
      auto vaes = c->library->index().List(f);
      if (!vaes.ok()) return Error(vaes.status());
      for (const library::ModelRecord& r : *vaes)
        if (r.error.empty())
          out.push_back({{"model_name", std::filesystem::path(r.path).filename().string()},
                         {"filename", r.path}});
    }
    return Response::Json(200, out);
  });
  router.Post("/sdapi/v1/png-info", [](const Request& req) {
    json body;
    Response err;
    if (!ParseJsonBody(req, kStyle, &body, &err)) return err;
    if (!body.contains("image") || !body["image"].is_string())
      return Error(400, "invalid_argument", "'image' must be a string: the PNG, base64-encoded");
    auto bytes = Base64Decode(body["image"].get<std::string>(), "'image'");
    if (!bytes.ok()) return Error(bytes.status());
    auto text = io::ReadPngTextFromBytes(*bytes);
    if (!text.ok())
      return Error(400, "invalid_argument",
                   "'image' is not a readable PNG: " + text.status().message());
    std::string info;
    json items = json::object();
    for (const auto& [k, v] : *text) {
      if (k == "parameters")
        info = v;
      else
        items[k] = v;
    }
    json params = json::object();
    if (!info.empty()) {
      const io::Infotext parsed = io::ParseInfotext(info);
      params["Prompt"] = parsed.prompt;
      params["Negative prompt"] = parsed.negative_prompt;
      for (const auto& [k, v] : parsed.params) {
        params[k] = v;
        if (k == "Size") {
          const size_t x = v.find('x');
          if (x != std::string::npos) {
            params["Size-1"] = v.substr(0, x);
            params["Size-2"] = v.substr(x + 1);
          }
        }
      }
    }
    return Response::Json(200, {{"info", info}, {"items", items}, {"parameters", params}});
  });
}

}  // namespace easel::server
