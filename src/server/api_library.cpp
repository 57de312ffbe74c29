// Library routes: see api_library.h.
#include "server/api_library.h"

#include "server/errors.h"

namespace easel::server {
namespace {

using nlohmann::json;

http::Response Reply(const Result<json>& r, int ok_status = 200) {
  if (!r.ok()) return ErrorResponse(ApiStyle::kNative, r.status());
  return http::Response::Json(ok_status, r.value());
}

library::Query QueryOf(const http::Request& req) {
  library::Query q;
  for (const auto& [k, v] : req.query) q.emplace(k, v);  // first value wins
  return q;
}

// The body as JSON (an empty body is {}), or the error response.
bool Body(const http::Request& req, json* out, http::Response* error) {
  if (req.body.empty()) {
    *out = json::object();
    return true;
  }
  *out = json::parse(req.body, nullptr, false);
  if (out->is_discarded()) {
    *error =
        ErrorResponse(ApiStyle::kNative, 400, "invalid_argument", "the body is not valid JSON");
    return false;
  }
  return true;
}

using JsonFn = std::function<Result<json>(const http::Request&, const json&)>;

http::Handler WithBody(JsonFn fn, int ok_status = 200) {
  return [fn, ok_status](const http::Request& req) {
    json body;
    http::Response err;
    if (!Body(req, &body, &err)) return err;
    return Reply(fn(req, body), ok_status);
  };
}

}  // namespace

void AddLibraryRoutes(http::Router& router, library::LibraryApi& api) {
  library::LibraryApi* a = &api;
  const std::string v1 = "/api/v1";
  // Models. Specific paths before the ones with captures: the first match wins.
  router.Get(v1 + "/library/models",
             [a](const http::Request& r) { return Reply(a->ListModels(QueryOf(r))); });
  router.Get(v1 + "/library/models/info",
             [a](const http::Request& r) { return Reply(a->GetModel(QueryOf(r))); });
  router.Get(v1 + "/library/models/roots", [a](const http::Request&) { return Reply(a->Roots()); });
  router.Get(v1 + "/library/stats", [a](const http::Request&) { return Reply(a->Stats()); });
  router.Get(v1 + "/library/models/([^/]+)/preview", [a](const http::Request& r) {
    auto p = a->Preview(r.params.at(0));
    if (!p.ok()) return ErrorResponse(ApiStyle::kNative, p.status());
    http::Response resp = http::Response::Bytes(200, p->content_type, std::move(p->bytes));
    resp.headers.emplace_back("Cache-Control", "private, max-age=3600");
    return resp;
  });
  router.Post(v1 + "/library/models/rescan",
              WithBody([a](const http::Request&, const json& b) { return a->Rescan(b); }));
  router.Post(v1 + "/library/models/select",
              WithBody([a](const http::Request&, const json& b) { return a->Select(b); }));
  // Presets.
  router.Get(v1 + "/presets",
             [a](const http::Request& r) { return Reply(a->ListPresets(QueryOf(r))); });
  router.Get(v1 + "/presets/export",
             [a](const http::Request&) { return Reply(a->ExportPresets()); });
  router.Post(v1 + "/presets/validate",
              WithBody([a](const http::Request&, const json& b) { return a->ValidatePreset(b); }));
  router.Post(v1 + "/presets/import",
              WithBody([a](const http::Request&, const json& b) { return a->ImportPresets(b); }));
  router.Post(
      v1 + "/presets",
      WithBody([a](const http::Request&, const json& b) { return a->CreatePreset(b); }, 201));
  router.Get(v1 + "/presets/([^/]+)",
             [a](const http::Request& r) { return Reply(a->GetPreset(r.params.at(0))); });
  router.Post(v1 + "/presets/([^/]+)", WithBody([a](const http::Request& r, const json& b) {
                return a->UpdatePreset(r.params.at(0), b);
              }));
  router.Delete(v1 + "/presets/([^/]+)",
                [a](const http::Request& r) { return Reply(a->DeletePreset(r.params.at(0))); });
  // Styles.
  router.Get(v1 + "/styles", [a](const http::Request&) { return Reply(a->ListStyles()); });
  router.Post(v1 + "/styles/import", [a](const http::Request& r) {
    return Reply(a->ImportStylesCsv(r.body, r.Query("source").value_or("styles.csv")));
  });
  router.Post(v1 + "/styles/apply",
              WithBody([a](const http::Request&, const json& b) { return a->ApplyStyle(b); }));
  router.Get(v1 + "/styles/([^/]+)",
             [a](const http::Request& r) { return Reply(a->GetStyle(r.params.at(0))); });
  router.Post(v1 + "/styles/([^/]+)", WithBody([a](const http::Request& r, const json& b) {
                return a->PutStyle(r.params.at(0), b);
              }));
  router.Delete(v1 + "/styles/([^/]+)",
                [a](const http::Request& r) { return Reply(a->DeleteStyle(r.params.at(0))); });
}

}  // namespace easel::server
