// Error bodies per API style (see errors.h) and the Status -> HTTP status mapping.
#include "server/errors.h"

#include <nlohmann/json.hpp>

#include "server/worker_protocol.h"

namespace easel::server {
namespace http {

int HttpStatusOf(Code code) {
  switch (code) {
    case Code::kOk: return 200;
    case Code::kInvalidArgument:
    case Code::kCorrupt:
    case Code::kUnsupported: return 400;
    case Code::kNotFound: return 404;
    case Code::kCancelled: return 409;
    case Code::kOutOfMemory: return 503;
    case Code::kIo:
    case Code::kInternal: return 500;
  }
  return 500;
}

}  // namespace http

ApiStyle StyleOfPath(const std::string& path) {
  if (path.rfind("/sdapi/", 0) == 0) return ApiStyle::kA1111;
  if (path.rfind("/v1/", 0) == 0) return ApiStyle::kOpenAI;
  return ApiStyle::kNative;
}

namespace {

const char* OpenAiType(int status) {
  if (status == 401) return "authentication_error";
  if (status == 404) return "not_found_error";
  if (status == 429) return "rate_limit_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

}  // namespace

http::Response ErrorResponse(ApiStyle style, int status, const std::string& code,
                             const std::string& message, const std::string& param) {
  nlohmann::json body;
  switch (style) {
    case ApiStyle::kNative:
      body = {{"error", {{"code", code}, {"message", message}, {"status", status}}}};
      if (!param.empty()) body["error"]["param"] = param;
      break;
    case ApiStyle::kA1111:
      body = {{"error", code}, {"detail", message}, {"body", ""}, {"errors", message}};
      break;
    case ApiStyle::kOpenAI:
      body = {{"error",
               {{"message", message},
                {"type", OpenAiType(status)},
                {"param", param.empty() ? nlohmann::json(nullptr) : nlohmann::json(param)},
                {"code", code}}}};
      break;
  }
  http::Response r = http::Response::Json(status, body);
  if (status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"easel\"");
  return r;
}

http::Response ErrorResponse(ApiStyle style, const Status& status, const std::string& param) {
  return ErrorResponse(style, http::HttpStatusOf(status.code()),
                       worker_protocol::CodeId(status.code()), status.message(), param);
}

}  // namespace easel::server
