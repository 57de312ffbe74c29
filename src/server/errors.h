// Error responses in the shape each API's clients expect. Every error the server sends is
// JSON with a message a user can act on:
//   native  /api/v1/...  {"error": {"code": "invalid_argument", "message": "...", "status": 400}}
//   A1111   /sdapi/v1/.. {"error": "invalid_argument", "detail": "...", "body": "", "errors":
//   "..."}
//                        (A1111's own handler answers {error, detail, body, errors})
//   OpenAI  /v1/...      {"error": {"message": "...", "type": "invalid_request_error",
//                                   "param": null, "code": null}}
// Thread-safe: pure functions.
#pragma once

#include <string>

#include "server/http.h"
#include "util/status.h"

namespace easel::server {

enum class ApiStyle { kNative, kA1111, kOpenAI };

// By path prefix: /sdapi/ -> A1111, /v1/ -> OpenAI, anything else native.
ApiStyle StyleOfPath(const std::string& path);

// `code` is a short machine word ("invalid_argument", "not_found", "unauthorized",
// "payload_too_large" ...); `param` names the offending field where one is known ("" if not).
http::Response ErrorResponse(ApiStyle style, int status, const std::string& code,
                             const std::string& message, const std::string& param = "");
// From a Status: the HTTP status by HttpStatusOf, the code by its CodeName.
http::Response ErrorResponse(ApiStyle style, const Status& status, const std::string& param = "");

}  // namespace easel::server
