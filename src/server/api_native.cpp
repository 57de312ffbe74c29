// The native API under /api/v1 (documented in openapi.cpp): jobs, SSE streams, images and
// history search, models, health and stats.
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "server/api.h"
#include "server/base64.h"
#include "server/errors.h"
#include "store/ids.h"
#include "util/files.h"

namespace easel::server {
namespace {

using json = nlohmann::json;
using http::Request;
using http::Response;

constexpr ApiStyle kStyle = ApiStyle::kNative;

Response Error(const Status& st) {
  return ErrorResponse(kStyle, st);
}
Response Error(int status, const std::string& code, const std::string& message) {
  return ErrorResponse(kStyle, status, code, message);
}

// An integer query parameter in [lo, hi]; `def` when absent.
Result<int64_t> QueryInt(const Request& req, const std::string& name, int64_t def, int64_t lo,
                         int64_t hi) {
  auto v = req.Query(name);
  if (!v) return def;
  errno = 0;
  char* end = nullptr;
  const long long x = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0' || errno != 0)
    return InvalidArgument("query parameter '" + name + "' must be an integer, got '" +
                           v->substr(0, 40) + "'");
  if (x < lo || x > hi)
    return InvalidArgument("query parameter '" + name + "' is " + std::to_string(x) + ", outside " +
                           std::to_string(lo) + ".." + std::to_string(hi));
  return static_cast<int64_t>(x);
}

Status CheckJobId(const std::string& id) {
  if (!store::IsValidId(id))
    return InvalidArgument("'" + id.substr(0, 80) +
                           "' is not a job id (ids look like j_3f9a0c1d2e4b5a67)");
  return Status::Ok();
}

json WithProgress(ApiContext& ctx, const store::Job& job) {
  json j = JobToJson(job);
  if (auto p = ctx.orchestrator->ProgressOf(job.id))
    j["progress"] = {
        {"step", p->step}, {"total", p->total}, {"seconds_per_step", p->seconds_per_step}};
  return j;
}

json ImageToJson(const store::ImageRecord& r) {
  auto parse = [](const std::string& s, json def) {
    json j = json::parse(s, nullptr, false);
    return j.is_discarded() ? def : j;
  };
  return {{"id", r.id},
          {"job_id", r.job_id},
          {"url", "/api/v1/images/" + r.id + "/file"},
          {"width", r.width},
          {"height", r.height},
          {"seed", r.seed},
          {"prompt", r.prompt},
          {"negative_prompt", r.negative_prompt},
          {"model", r.model},
          {"sampler", r.sampler},
          {"scheduler", r.scheduler},
          {"steps", r.steps},
          {"cfg_scale", r.cfg},
          {"loras", parse(r.loras, json::array())},
          {"tags", r.tags},
          {"params", parse(r.params_json, json::object())},
          {"timings", parse(r.timings_json, json::object())},
          {"created_ms", r.created_ms}};
}

Response SubmitJob(ApiContext& ctx, const Request& req, const std::string& kind) {
  json body;
  BuildContext build = ctx.Build();
  const std::string type = req.Header("content-type");
  if (type.rfind("multipart/form-data", 0) == 0) {
    // Uploads: a "request" part with the JSON, and "init_image" / "mask" file parts.
    const http::UploadedFile* part = req.File("request");
    body = part ? json::parse(part->content, nullptr, false) : json::object();
    if (body.is_discarded() || !body.is_object())
      return Error(400, "invalid_argument", "the 'request' part must be a JSON object");
    for (const http::UploadedFile& f : req.files) {
      if (f.name == "request") continue;
      if (f.name != "init_image" && f.name != "mask")
        return Error(400, "invalid_argument",
                     "unknown upload '" + f.name.substr(0, 40) +
                         "': send 'request' (JSON), 'init_image' and 'mask'");
      build.uploads[f.name] = f.content;
    }
  } else {
    Response err;
    if (!ParseJsonBody(req, kStyle, &body, &err)) return err;
  }
  if (!kind.empty()) {
    if (body.contains("kind") && body["kind"] != kind)
      return Error(400, "invalid_argument", "'kind' disagrees with the endpoint (" + kind + ")");
    body["kind"] = kind;
  }
  auto built = BuildJob(body, build);
  if (!built.ok()) return Error(built.status());
  auto job = ctx.orchestrator->Submit(*built);
  if (!job.ok()) return Error(job.status());
  json answer = WithProgress(ctx, *job);
  if (!built->library.is_null()) answer["library"] = built->library;  // what was chosen, why
  Response r = Response::Json(202, answer);
  r.headers.emplace_back("Location", "/api/v1/jobs/" + job->id);
  return r;
}

bool IsTerminalType(const std::string& type) {
  return type == "succeeded" || type == "failed" || type == "cancelled";
}

// SSE of one job (job_id non-empty) or of the whole queue.
Response Stream(ApiContext& ctx, const std::string& job_id) {
  Response r;
  r.content_type = "text/event-stream";
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("X-Accel-Buffering", "no");
  ApiContext* c = &ctx;
  r.stream = [c, job_id](const http::StreamWriter& write) {
    EventHub& hub = c->orchestrator->hub();
    uint64_t cursor = hub.last_seq();
    // A job the hub has seen from its start is replayed from the hub (progress included);
    // older ones from their durable history.
    const uint64_t first = job_id.empty() ? 0 : hub.FindFirst(job_id, "queued");
    if (first > 0) {
      cursor = first - 1;
    } else if (!job_id.empty()) {
      auto events = c->orchestrator->Events(job_id);
      if (events.ok())
        for (const store::JobEvent& e : *events) {
          json data = json::parse(e.payload_json, nullptr, false);
          if (!data.is_object()) data = json::object();
          data["job_id"] = job_id;
          data["type"] = e.type;
          data["replayed"] = true;
          if (!write(SseEvent(e.type, data))) return;
        }
      auto job = c->orchestrator->Get(job_id);
      if (job.ok() && store::IsTerminal(job->state)) {
        write(SseEvent("end", {{"job", JobToJson(*job)}}));
        return;
      }
    } else {
      if (!write(SseEvent("hello", {{"last_seq", cursor}}))) return;
    }
    int idle_ms = 0;
    for (;;) {
      auto batch = hub.WaitAfter(cursor, 1000);
      if (hub.closed()) return;
      if (batch.empty()) {
        idle_ms += 1000;
        if (idle_ms >= 15000) {
          idle_ms = 0;
          if (!write(": keepalive\n\n")) return;
        }
        if (!job_id.empty()) {  // an ended job whose last event was lost to a full hub
          auto job = c->orchestrator->Get(job_id);
          if (job.ok() && store::IsTerminal(job->state)) {
            write(SseEvent("end", {{"job", JobToJson(*job)}}));
            return;
          }
        }
        continue;
      }
      for (const HubEvent& e : batch) {
        cursor = e.seq;
        if (!job_id.empty() && e.job_id != job_id) continue;
        if (!write(SseEvent(e.type, e.data, e.seq))) return;
        if (!job_id.empty() && IsTerminalType(e.type)) {
          auto job = c->orchestrator->Get(job_id);
          if (job.ok()) write(SseEvent("end", {{"job", JobToJson(*job)}}));
          return;
        }
      }
    }
  };
  return r;
}

// RSS of this process and the machine's memory, from /proc.
json MemoryJson() {
  json out = json::object();
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) out["server_rss_bytes"] = std::stoll(line.substr(6)) * 1024;
  std::ifstream meminfo("/proc/meminfo");
  while (std::getline(meminfo, line)) {
    if (line.rfind("MemTotal:", 0) == 0)
      out["system_total_bytes"] = std::stoll(line.substr(9)) * 1024;
    if (line.rfind("MemAvailable:", 0) == 0)
      out["system_available_bytes"] = std::stoll(line.substr(13)) * 1024;
  }
  return out;
}

// The resident memory of another process (a worker), 0 when unknown.
int64_t RssOf(int pid) {
  if (pid <= 0) return 0;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  return 0;
}

// "2026-11-25" (a UTC day: its first millisecond; `end` gives the next day's, so that "to"
// includes the day) or milliseconds since the epoch ("1764028800000").
Result<int64_t> DateParam(const std::string& name, const std::string& v, bool end) {
  char* stop = nullptr;
  errno = 0;
  const long long ms = std::strtoll(v.c_str(), &stop, 10);
  if (!v.empty() && *stop == '\0' && errno == 0 && v.size() > 8) return ms;
  int y = 0, m = 0, d = 0;
  char tail = 0;
  if (std::sscanf(v.c_str(), "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 && y >= 1970 && y <= 9999 &&
      m >= 1 && m <= 12 && d >= 1 && d <= 31) {
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d + (end ? 1 : 0);  // timegm normalizes the 32nd
    return static_cast<int64_t>(timegm(&tm)) * 1000;
  }
  return InvalidArgument("query parameter '" + name + "' is '" + v.substr(0, 40) +
                         "': use a UTC date (2026-11-25) or milliseconds since 1970");
}

// The gallery's filters (openapi.cpp documents them): model, job_id, lora, from/to,
// width/height (exact) or size=WxH, min_/max_width/height.
Status GalleryFilters(const Request& req, store::ImageFilters* f) {
  if (auto m = req.Query("model")) f->model = *m;
  if (auto j = req.Query("job_id")) {
    EASEL_RETURN_IF_ERROR(CheckJobId(*j));
    f->job_id = *j;
  }
  if (auto l = req.Query("lora")) {
    if (l->size() > 512) return InvalidArgument("query parameter 'lora' is over 512 bytes");
    f->lora = *l;
  }
  for (auto [name, field] : {std::pair{"min_width", &f->min_width},
                             {"max_width", &f->max_width},
                             {"min_height", &f->min_height},
                             {"max_height", &f->max_height}}) {
    if (!req.Query(name)) continue;
    auto v = QueryInt(req, name, 0, 0, 65536);
    if (!v.ok()) return v.status();
    *field = static_cast<int>(*v);
  }
  // Exact sizes: width=, height=, or size=WxH.
  std::optional<int64_t> width, height;
  if (auto size = req.Query("size")) {
    int w = 0, h = 0;
    char tail = 0;
    if (std::sscanf(size->c_str(), "%dx%d%c", &w, &h, &tail) != 2 || w < 1 || h < 1 || w > 65536 ||
        h > 65536)
      return InvalidArgument("query parameter 'size' is '" + size->substr(0, 40) +
                             "': use WIDTHxHEIGHT, as in 512x768");
    width = w;
    height = h;
  }
  for (auto [name, out] : {std::pair{"width", &width}, {"height", &height}}) {
    if (!req.Query(name)) continue;
    auto v = QueryInt(req, name, 0, 1, 65536);
    if (!v.ok()) return v.status();
    if (*out && **out != *v)
      return InvalidArgument(std::string("query parameters 'size' and '") + name + "' disagree");
    *out = *v;
  }
  if (width) f->min_width = f->max_width = static_cast<int>(*width);
  if (height) f->min_height = f->max_height = static_cast<int>(*height);
  if (auto from = req.Query("from")) {
    auto ms = DateParam("from", *from, false);
    if (!ms.ok()) return ms.status();
    f->created_from_ms = *ms;
  }
  if (auto to = req.Query("to")) {
    auto ms = DateParam("to", *to, true);
    if (!ms.ok()) return ms.status();
    f->created_to_ms = *ms;
  }
  return Status::Ok();
}

}  // namespace

void AddNativeRoutes(http::Router& router, ApiContext& ctx) {
  ApiContext* c = &ctx;
  router.Post("/api/v1/jobs", [c](const Request& req) { return SubmitJob(*c, req, ""); });
  for (const char* kind : {"txt2img", "img2img", "inpaint"}) {
    const std::string k = kind;
    router.Post("/api/v1/" + k, [c, k](const Request& req) { return SubmitJob(*c, req, k); });
  }
  router.Get("/api/v1/jobs", [c](const Request& req) {
    store::JobFilter f;
    if (auto s = req.Query("state")) {
      f.state = store::ParseJobState(*s);
      if (!f.state)
        return Error(400, "invalid_argument",
                     "'state' must be queued, running, succeeded, failed or cancelled");
    }
    auto limit = QueryInt(req, "limit", 50, 1, 1000);
    if (!limit.ok()) return Error(limit.status());
    auto offset = QueryInt(req, "offset", 0, 0, 1'000'000'000);
    if (!offset.ok()) return Error(offset.status());
    f.limit = static_cast<int>(*limit);
    f.offset = static_cast<int>(*offset);
    auto page = c->orchestrator->List(f);
    if (!page.ok()) return Error(page.status());
    json jobs = json::array();
    for (const store::Job& j : page->jobs) jobs.push_back(WithProgress(*c, j));
    return Response::Json(200, {{"jobs", jobs}, {"total", page->total}});
  });
  router.Get("/api/v1/jobs/([^/]+)", [c](const Request& req) {
    const std::string& id = req.params[0];
    if (Status st = CheckJobId(id); !st.ok()) return Error(st);
    auto job = c->orchestrator->Get(id);
    if (!job.ok()) return Error(job.status());
    return Response::Json(200, WithProgress(*c, *job));
  });
  auto cancel = [c](const Request& req) {
    const std::string& id = req.params[0];
    if (Status st = CheckJobId(id); !st.ok()) return Error(st);
    auto job = c->orchestrator->Cancel(id);
    if (!job.ok()) return Error(job.status());
    return Response::Json(200, WithProgress(*c, *job));
  };
  router.Post("/api/v1/jobs/([^/]+)/cancel", cancel);
  router.Delete("/api/v1/jobs/([^/]+)", cancel);
  router.Get("/api/v1/jobs/([^/]+)/events", [c](const Request& req) {
    const std::string& id = req.params[0];
    if (Status st = CheckJobId(id); !st.ok()) return Error(st);
    auto since = QueryInt(req, "since", 0, 0, INT64_MAX);
    if (!since.ok()) return Error(since.status());
    auto job = c->orchestrator->Get(id);
    if (!job.ok()) return Error(job.status());
    auto events = c->orchestrator->Events(id, *since);
    if (!events.ok()) return Error(events.status());
    json out = json::array();
    for (const store::JobEvent& e : *events) {
      json payload = json::parse(e.payload_json, nullptr, false);
      out.push_back({{"seq", e.seq},
                     {"type", e.type},
                     {"created_ms", e.created_ms},
                     {"data", payload.is_discarded() ? json::object() : payload}});
    }
    return Response::Json(200, {{"job_id", id}, {"events", out}});
  });
  router.Get("/api/v1/jobs/([^/]+)/stream", [c](const Request& req) {
    const std::string& id = req.params[0];
    if (Status st = CheckJobId(id); !st.ok()) return Error(st);
    auto job = c->orchestrator->Get(id);
    if (!job.ok()) return Error(job.status());
    return Stream(*c, id);
  });
  router.Get("/api/v1/stream", [c](const Request&) { return Stream(*c, ""); });

  // Images and history.
  router.Get("/api/v1/images", [c](const Request& req) {
    store::ImageFilters f;
    if (Status st = GalleryFilters(req, &f); !st.ok()) return Error(st);
    auto limit = QueryInt(req, "limit", 50, 1, 500);
    if (!limit.ok()) return Error(limit.status());
    auto offset = QueryInt(req, "offset", 0, 0, 1'000'000'000);
    if (!offset.ok()) return Error(offset.status());
    const std::string q = req.Query("q").value_or("");
    if (q.size() > 1000) return Error(400, "invalid_argument", "'q' is over 1000 bytes");
    auto page = c->orchestrator->history().Search(q, f, static_cast<int>(*limit),
                                                  static_cast<int>(*offset));
    if (!page.ok()) return Error(page.status());
    json images = json::array();
    for (const store::ImageRecord& r : page->images) images.push_back(ImageToJson(r));
    return Response::Json(200, {{"images", images}, {"total", page->total}});
  });
  router.Get("/api/v1/images/([^/]+)", [c](const Request& req) {
    const std::string& id = req.params[0];
    if (!store::IsValidId(id))
      return Error(400, "invalid_argument", "'" + id.substr(0, 80) + "' is not an image id");
    auto rec = c->orchestrator->history().Get(id);
    if (!rec.ok()) return Error(rec.status());
    return Response::Json(200, ImageToJson(*rec));
  });
  router.Get("/api/v1/images/([^/]+)/file", [c](const Request& req) {
    auto bytes = ReadImageFile(*c, req.params[0]);
    if (!bytes.ok()) return Error(bytes.status());
    Response r = Response::Bytes(200, "image/png", std::move(*bytes));
    r.headers.emplace_back("Cache-Control", "private, max-age=86400, immutable");
    return r;
  });
  router.Delete("/api/v1/images/([^/]+)", [c](const Request& req) {
    const std::string& id = req.params[0];
    if (!store::IsValidId(id))
      return Error(400, "invalid_argument", "'" + id.substr(0, 80) + "' is not an image id");
    auto path = c->orchestrator->history().Delete(id);
    if (!path.ok()) return Error(path.status());
    if (store::IsSafeRelativePath(*path)) {
      std::error_code ec;
      std::filesystem::remove(c->data_dir + "/" + *path, ec);
      std::string sidecar = *path;
      if (sidecar.size() > 4) sidecar.replace(sidecar.size() - 4, 4, ".json");
      std::filesystem::remove(c->data_dir + "/" + sidecar, ec);
    }
    return Response::Json(200, {{"deleted", id}});
  });

  // Models.
  router.Get("/api/v1/models", [c](const Request&) {
    json models = json::array(), loras = json::array();
    for (const ModelEntry& m : c->catalog->Models()) models.push_back(m.ToJson());
    for (const LoraEntry& l : c->catalog->Loras())
      loras.push_back({{"name", l.name}, {"size", l.size}});
    return Response::Json(
        200,
        {{"models", models}, {"loras", loras}, {"default_model", c->settings->default_model()}});
  });
  router.Post("/api/v1/models/refresh", [c](const Request&) {
    c->catalog->Refresh();
    return Response::Json(
        200, {{"models", c->catalog->Models().size()}, {"loras", c->catalog->Loras().size()}});
  });

  // Health, stats, the API document.
  router.Get("/api/v1/health", [c](const Request&) {
    const bool ready = c->orchestrator->Ready();
    return Response::Json(
        ready ? 200 : 503,
        {{"status", ready ? "ok" : "starting"},
         {"message", ready ? "ready" : "no worker is ready yet: retry in a few seconds"}});
  });
  router.Get("/api/v1/stats", [c](const Request&) {
    json workers = json::array(), loaded = json::array();
    const std::vector<ModelEntry> models = c->catalog->Models();
    for (WorkerInfo w : c->orchestrator->Workers()) {
      for (const ModelEntry& m : models)  // a name, not the server's file layout
        if (m.path == w.loaded_model) w.loaded_model = m.name;
      workers.push_back({{"id", w.id},
                         {"pid", w.pid},
                         {"state", WorkerStateName(w.state)},
                         {"device", w.device},
                         {"dtype", w.dtype},
                         {"job_id", w.job_id.empty() ? json(nullptr) : json(w.job_id)},
                         {"loaded_model", w.loaded_model},
                         {"restarts", w.restarts},
                         {"last_exit", w.last_exit},
                         {"rss_bytes", RssOf(w.pid)}});
      if (!w.loaded_model.empty()) loaded.push_back({{"worker", w.id}, {"model", w.loaded_model}});
    }
    json queue = json::object();
    if (auto s = c->orchestrator->Stats(); s.ok())
      queue = {{"queued", s->queued},
               {"running", s->running},
               {"succeeded", s->succeeded},
               {"failed", s->failed},
               {"cancelled", s->cancelled}};
    const auto rec = c->orchestrator->recovery();
    return Response::Json(
        200,
        {{"version", c->version},
         {"uptime_s", (store::NowMs() - c->started_ms) / 1000.0},
         {"devices", workers},
         {"memory", MemoryJson()},
         {"queue", queue},
         {"loaded_models", loaded},
         {"recovered",
          {{"requeued", rec.requeued}, {"failed", rec.failed}, {"cancelled", rec.cancelled}}}});
  });
  router.Get("/api/v1/openapi.json",
             [c](const Request&) { return Response::Json(200, OpenApiDocument(c->version)); });
}

}  // namespace easel::server
