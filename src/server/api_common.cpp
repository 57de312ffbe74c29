// Pieces the API layers share: settings, JSON bodies, stored images, SSE framing (api.h).
#include <cstdint>
#include <filesystem>
#include <fstream>

#include "server/api.h"
#include "server/base64.h"
#include "server/errors.h"
#include "store/ids.h"
#include "util/files.h"

namespace easel::server {
using json = nlohmann::json;

Settings::Settings(std::string path, std::string default_model) : path_(std::move(path)) {
  options_ = json::object();
  auto text = ReadFile(path_, 1 << 20);
  if (text.ok()) {
    json j = json::parse(*text, nullptr, false);
    if (j.is_object()) options_ = j;
  }
  if (!default_model.empty()) options_["sd_model_checkpoint"] = default_model;
}

std::string Settings::default_model() const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = options_.find("sd_model_checkpoint");
  return it != options_.end() && it->is_string() ? it->get<std::string>() : "";
}

json Settings::options() const {
  std::lock_guard<std::mutex> lock(mu_);
  return options_;
}

Status Settings::Update(const json& changes) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [k, v] : changes.items()) options_[k] = v;
  return WriteFileAtomic(path_, options_.dump(2));
}

bool ParseJsonBody(const http::Request& req, ApiStyle style, json* body, http::Response* error) {
  if (req.body.empty()) {
    *error = ErrorResponse(
        style, 400, "invalid_argument",
        "the request has no body: send a JSON object (Content-Type: application/json)");
    return false;
  }
  *body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body->is_discarded()) {
    *error =
        ErrorResponse(style, 400, "invalid_argument",
                      "the body is not valid JSON: send a JSON object (check quotes and commas)");
    return false;
  }
  if (!body->is_object()) {
    *error = ErrorResponse(style, 400, "invalid_argument",
                           std::string("the body must be a JSON object, got ") + body->type_name());
    return false;
  }
  return true;
}

Result<std::string> ReadImageFile(ApiContext& ctx, const std::string& image_id) {
  if (!store::IsValidId(image_id))
    return InvalidArgument("'" + image_id.substr(0, 80) +
                           "' is not an image id (i_ and 16 hex digits)");
  auto rec = ctx.orchestrator->history().Get(image_id);
  if (!rec.ok()) return rec.status();
  if (!store::IsSafeRelativePath(rec->path))
    return Internal("the stored path of " + image_id + " is unsafe");
  return ReadFile(ctx.data_dir + "/" + rec->path);
}

Result<std::vector<std::string>> JobImagesBase64(ApiContext& ctx, const store::Job& job) {
  std::vector<std::string> out;
  json result = json::parse(job.result_json.empty() ? "{}" : job.result_json, nullptr, false);
  if (!result.is_object()) return out;
  for (const json& img : result.value("images", json::array())) {
    auto bytes = ReadImageFile(ctx, img.value("id", ""));
    if (!bytes.ok()) return bytes.status();
    out.push_back(Base64Encode(*bytes));
  }
  return out;
}

std::string SseEvent(const std::string& type, const json& data, uint64_t id) {
  std::string out = "event: " + type + "\n";
  if (id > 0) out += "id: " + std::to_string(id) + "\n";
  out += "data: " + data.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
  return out;
}

int StatusOfJobError(const std::string& error) {
  auto ends = [&](const std::string& s) {
    return error.size() >= s.size() && error.compare(error.size() - s.size(), s.size(), s) == 0;
  };
  if (ends("(invalid_argument)") || ends("(unsupported)") || ends("(corrupt)")) return 400;
  if (ends("(not_found)")) return 404;
  return 500;
}

}  // namespace easel::server
