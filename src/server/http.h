// The server's HTTP surface as plain structs: a request, a response (JSON, bytes or a stream
// of Server-Sent Events), and a router of (method, path regex) -> handler. The API layers
// (api_native, api_a1111, api_openai) are written against these only; http_server.cpp is
// the one file that includes the HTTP library (cpp-httplib) and adapts it. Keeping the
// library behind this seam also lets unit tests call handlers without a socket.
//
// Thread-safety: handlers run on the HTTP server's worker threads, many at once; they must
// only touch thread-safe state (the Orchestrator, ModelCatalog ... are).
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/status.h"

namespace easel::server::http {

struct UploadedFile {
  std::string name;  // the form field
  std::string filename;
  std::string content_type;
  std::string content;
};

struct Request {
  std::string method;               // "GET", "POST" ...
  std::string path;                 // without the query string
  std::vector<std::string> params;  // the route pattern's capture groups, in order
  std::multimap<std::string, std::string> query;
  std::multimap<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::vector<UploadedFile> files;  // multipart/form-data parts (text fields included)
  std::string remote_addr;
  std::string scheme_host;  // "http://127.0.0.1:7860" as the client addressed us (Host header)

  // The first value, or nullopt.
  std::optional<std::string> Query(const std::string& name) const;
  std::string Header(const std::string& lower_name) const;  // "" if absent
  const UploadedFile* File(const std::string& name) const;  // nullptr if absent
};

// Writes one chunk to the client; false once the client has gone (stop streaming then).
using StreamWriter = std::function<bool(std::string_view chunk)>;

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // When set, the body is streamed: called once on the request's thread with a writer; the
  // response ends when it returns.
  std::function<void(const StreamWriter&)> stream;

  static Response Json(int status, const nlohmann::json& body);
  static Response Bytes(int status, std::string content_type, std::string body);
};

using Handler = std::function<Response(const Request&)>;

struct Route {
  std::string method;   // "GET", "POST", "DELETE"
  std::string pattern;  // ECMAScript regex matched against the whole path
  Handler handler;
};

class Router {
 public:
  void Get(std::string pattern, Handler h) { Add("GET", std::move(pattern), std::move(h)); }
  void Post(std::string pattern, Handler h) { Add("POST", std::move(pattern), std::move(h)); }
  void Delete(std::string pattern, Handler h) { Add("DELETE", std::move(pattern), std::move(h)); }
  void Add(std::string method, std::string pattern, Handler h) {
    routes_.push_back({std::move(method), std::move(pattern), std::move(h)});
  }
  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

// The HTTP status for a Status code: invalid argument/corrupt/unsupported 400, not found 404,
// cancelled 409, out of memory 503, i/o and internal 500.
int HttpStatusOf(Code code);

}  // namespace easel::server::http
