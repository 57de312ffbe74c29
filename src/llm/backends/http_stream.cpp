// HTTP client pieces of the external backends (see http_stream.h).
#include "llm/backends/http_stream.h"

#include <httplib.h>

#include <memory>

namespace easel::llm {
namespace {

std::unique_ptr<httplib::Client> MakeClient(const HttpEndpoint& endpoint, const HttpCall& call) {
  auto client = std::make_unique<httplib::Client>(endpoint.origin);
  client->set_connection_timeout(call.connect_timeout_s, 0);
  client->set_read_timeout(call.read_timeout_s, 0);
  client->set_write_timeout(30, 0);
  client->set_keep_alive(false);
  return client;
}

httplib::Headers HeadersOf(const HttpCall& call) {
  httplib::Headers h;
  for (const auto& [k, v] : call.headers) h.emplace(k, v);
  return h;
}

Status Unreachable(const HttpEndpoint& endpoint, const std::string& path, httplib::Error error) {
  return IoError("cannot reach the language-model server at " + endpoint.origin + path + " (" +
                 httplib::to_string(error) +
                 "): is it running, and is the URL right (--llm / the LLM preset)?");
}

}  // namespace

Result<HttpEndpoint> ParseHttpEndpoint(const std::string& url) {
  auto bad = [&](const std::string& why) {
    return InvalidArgument("'" + url.substr(0, 200) + "' is not a usable server URL (" + why +
                           "): give one like http://127.0.0.1:8080/v1 or https://host/v1");
  };
  std::string scheme;
  if (url.rfind("http://", 0) == 0) {
    scheme = "http://";
  } else if (url.rfind("https://", 0) == 0) {
    scheme = "https://";
  } else {
    return bad("it must start with http:// or https://");
  }
  const std::string rest = url.substr(scheme.size());
  const size_t slash = rest.find('/');
  const std::string host_port = rest.substr(0, slash);
  if (host_port.empty()) return bad("no host");
  for (char ch : host_port)
    if (ch == '@' || ch == ' ' || ch == '?' || ch == '#') return bad("a bad character in the host");
  HttpEndpoint e;
  e.origin = scheme + host_port;
  e.base_path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!e.base_path.empty() && e.base_path.back() == '/') e.base_path.pop_back();
  if (e.base_path.find_first_of("?# ") != std::string::npos) return bad("a query in the path");
  return e;
}

Result<HttpAnswer> PostJsonStreaming(const HttpEndpoint& endpoint, const std::string& path,
                                     const std::string& body, const HttpCall& call,
                                     const std::function<bool(std::string_view)>& on_bytes) {
  auto client = MakeClient(endpoint, call);
  HttpAnswer answer;
  bool stopped_by_us = false;
  httplib::Request req;
  req.method = "POST";
  req.path = endpoint.base_path + path;
  req.headers = HeadersOf(call);
  req.headers.emplace("Accept", "text/event-stream, application/x-ndjson, application/json");
  req.set_header("Content-Type", "application/json");
  req.body = body;
  req.response_handler = [&](const httplib::Response& res) {
    answer.status = res.status;
    return true;
  };
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    if (call.cancel != nullptr && call.cancel->load()) {
      stopped_by_us = true;
      return false;
    }
    if (answer.status < 200 || answer.status >= 300) {
      if (answer.body.size() < (1u << 20)) answer.body.append(data, n);
      return true;
    }
    if (!on_bytes(std::string_view(data, n))) {
      stopped_by_us = true;
      return false;
    }
    return true;
  };
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  const bool ok = client->send(req, res, error);
  if (call.cancel != nullptr && call.cancel->load())
    return Status(Code::kCancelled,
                  "the request to " + endpoint.origin + req.path + " was cancelled");
  if (!ok && !stopped_by_us) {
    if (error == httplib::Error::Canceled) return answer;  // on_bytes said stop
    return Unreachable(endpoint, req.path, error);
  }
  if (answer.status == 0) answer.status = res.status;
  return answer;
}

Result<HttpAnswer> GetText(const HttpEndpoint& endpoint, const std::string& path,
                           const HttpCall& call) {
  auto client = MakeClient(endpoint, call);
  auto res = client->Get(endpoint.base_path + path, HeadersOf(call));
  if (!res) return Unreachable(endpoint, endpoint.base_path + path, res.error());
  HttpAnswer answer;
  answer.status = res->status;
  answer.body = res->body;
  return answer;
}

bool LineSplitter::Feed(std::string_view bytes,
                        const std::function<bool(const std::string&)>& on_line) {
  pending_.append(bytes.data(), bytes.size());
  size_t start = 0;
  for (;;) {
    const size_t nl = pending_.find('\n', start);
    if (nl == std::string::npos) break;
    std::string line = pending_.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    start = nl + 1;
    if (!on_line(line)) {
      pending_.erase(0, start);
      return false;
    }
  }
  pending_.erase(0, start);
  return true;
}

std::string LineSplitter::Rest() {
  std::string rest = std::move(pending_);
  pending_.clear();
  if (!rest.empty() && rest.back() == '\r') rest.pop_back();
  return rest;
}

}  // namespace easel::llm
