// The server's routes: what each API layer needs (ApiContext) and the functions that add
// their routes to a Router. Routes parse JSON into typed requests (job_request.h), call the
// Orchestrator, and serialize results; no route touches SQLite, sockets or files beyond
// reading a stored image.
//
//   native  /api/v1/...        api_native.cpp   (documented in openapi.cpp)
//   A1111   /sdapi/v1/...      api_a1111.cpp
//   OpenAI  /v1/...            api_openai.cpp
#pragma once

#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "server/errors.h"
#include "server/http.h"
#include "server/job_request.h"
#include "server/model_catalog.h"
#include "server/orchestrator.h"
#include "store/history.h"

namespace easel::server {

// Server-wide settings a client may change (A1111's /sdapi/v1/options): the default model and
// any other option, kept in <data>/options.json. Thread-safe.
class Settings {
 public:
  // Reads `path` when it exists (a bad file is ignored: the defaults apply).
  explicit Settings(std::string path, std::string default_model);
  std::string default_model() const;
  nlohmann::json options() const;  // every option, sd_model_checkpoint included
  // Merges `changes` and writes the file. The caller has validated sd_model_checkpoint.
  Status Update(const nlohmann::json& changes);

 private:
  std::string path_;
  mutable std::mutex mu_;
  nlohmann::json options_;  // guarded by mu_
};

class LlmManager;  // server/llm_manager.h

struct ApiContext {
  Orchestrator* orchestrator = nullptr;
  LlmManager* llm = nullptr;  // the language model (listed by /v1/models); null: none
  ModelCatalog* catalog = nullptr;
  library::LibraryApi* library = nullptr;  // presets, styles, "model": "auto"; may be null
  Settings* settings = nullptr;
  Limits limits;
  std::string data_dir;
  int sync_timeout_ms = 600000;  // A1111 / OpenAI calls wait this long for their job
  int64_t started_ms = 0;
  std::string version = "0.1.0";

  BuildContext Build() const {
    BuildContext b;
    b.limits = &limits;
    b.catalog = catalog;
    b.data_dir = data_dir;
    b.default_model = settings->default_model();
    b.library = library;
    return b;
  }
};

void AddNativeRoutes(http::Router& router, ApiContext& ctx);
void AddA1111Routes(http::Router& router, ApiContext& ctx);
void AddOpenAiRoutes(http::Router& router, ApiContext& ctx);
// The OpenAPI 3 document of the native API (/api/v1/openapi.json).
nlohmann::json OpenApiDocument(const std::string& version);

// Shared by the layers: -----------------------------------------------------------------

// The body as a JSON object, or the error response to send (in `style`).
bool ParseJsonBody(const http::Request& req, ApiStyle style, nlohmann::json* body,
                   http::Response* error);
// The bytes of a stored image file (PNG), by image id; kNotFound / kInvalidArgument.
Result<std::string> ReadImageFile(ApiContext& ctx, const std::string& image_id);
// A job's stored images' PNG bytes, base64-encoded, in order.
Result<std::vector<std::string>> JobImagesBase64(ApiContext& ctx, const store::Job& job);
// One Server-Sent Event: "event: TYPE\nid: SEQ\ndata: JSON\n\n".
std::string SseEvent(const std::string& type, const nlohmann::json& data, uint64_t id = 0);
// The HTTP status for a failed job's error text (engine codes in parentheses at its end):
// 400 for a request the engine refused, 404 for a missing file, 500 otherwise.
int StatusOfJobError(const std::string& error);

}  // namespace easel::server
