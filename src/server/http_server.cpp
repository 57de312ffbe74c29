// HttpServer over cpp-httplib: route registration, auth, CORS, body limits and JSON errors
// (see http_server.h). The only file that includes <httplib.h> (besides tests' clients).
#include "server/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <regex>
#include <thread>
#include <utility>

#include "server/base64.h"
#include "server/errors.h"

namespace easel::server {
namespace http {

std::optional<std::string> Request::Query(const std::string& name) const {
  auto it = query.find(name);
  if (it == query.end()) return std::nullopt;
  return it->second;
}

std::string Request::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

const UploadedFile* Request::File(const std::string& name) const {
  for (const UploadedFile& f : files)
    if (f.name == name) return &f;
  return nullptr;
}

Response Response::Json(int status, const nlohmann::json& body) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  // Invalid UTF-8 in a prompt must not make dump() throw: replace it.
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

Response Response::Bytes(int status, std::string content_type, std::string body) {
  Response r;
  r.status = status;
  r.content_type = std::move(content_type);
  r.body = std::move(body);
  return r;
}

}  // namespace http

namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < b.size(); ++i)
    diff |= static_cast<unsigned char>(b[i] ^ (i < a.size() ? a[i] : 0));
  return diff == 0;
}

http::Request Convert(const httplib::Request& req) {
  http::Request r;
  r.method = req.method;
  r.path = req.path;
  for (size_t i = 1; i < req.matches.size(); ++i) r.params.push_back(req.matches[i].str());
  for (const auto& [k, v] : req.params) r.query.emplace(k, v);
  for (const auto& [k, v] : req.headers) r.headers.emplace(Lower(k), v);
  r.body = req.body;
  for (const auto& [name, f] : req.files)
    r.files.push_back({f.name, f.filename, f.content_type, f.content});
  r.remote_addr = req.remote_addr;
  std::string host = req.get_header_value("Host");
  if (host.empty()) host = req.local_addr + ":" + std::to_string(req.local_port);
  r.scheme_host = "http://" + host;
  return r;
}

void Apply(const http::Response& from, httplib::Response& to) {
  to.status = from.status;
  for (const auto& [k, v] : from.headers) to.set_header(k, v);
  if (from.stream) {
    auto stream = from.stream;
    to.set_chunked_content_provider(from.content_type,
                                    [stream](size_t /*offset*/, httplib::DataSink& sink) {
                                      stream([&sink](std::string_view chunk) {
                                        if (!sink.is_writable()) return false;
                                        return sink.write(chunk.data(), chunk.size());
                                      });
                                      sink.done();
                                      return true;
                                    });
    return;
  }
  to.set_content(from.body, from.content_type.c_str());
}

void SendError(const httplib::Request& req, httplib::Response& res, int status,
               const std::string& code, const std::string& message) {
  Apply(ErrorResponse(StyleOfPath(req.path), status, code, message), res);
}

}  // namespace

bool RequestCarriesKey(const http::Request& request, const std::string& key) {
  const std::string auth = request.Header("authorization");
  if (auth.size() > 7 && Lower(auth.substr(0, 7)) == "bearer ")
    return ConstantTimeEquals(auth.substr(7), key);
  if (auth.size() > 6 && Lower(auth.substr(0, 6)) == "basic ") {
    auto decoded = Base64Decode(auth.substr(6), "basic auth");
    if (decoded.ok()) {
      const size_t colon = decoded->find(':');
      if (colon != std::string::npos) return ConstantTimeEquals(decoded->substr(colon + 1), key);
    }
    return false;
  }
  const std::string header = request.Header("x-api-key");
  return !header.empty() && ConstantTimeEquals(header, key);
}

bool IsLoopbackHost(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

// httplib listens with a backlog of 5 (CPPHTTPLIB_LISTEN_BACKLOG, fixed when Debian built the
// library): 32 clients connecting at once overflow it and some connections are reset. Calling
// listen() again on the bound socket raises the backlog; the socket is only reachable from a
// subclass.
class BacklogServer : public httplib::Server {
 public:
  void RaiseBacklog(int backlog) { ::listen(svr_sock_, backlog); }
};

struct HttpServer::Impl {
  HttpServerOptions options;
  BacklogServer server;
  std::thread thread;
  int port = 0;
  bool stopped = false;

  bool OriginAllowed(const std::string& origin) const {
    for (const std::string& o : options.cors_origins)
      if (o == "*" || o == origin) return true;
    return false;
  }

  void AddCors(const httplib::Request& req, httplib::Response& res) const {
    const std::string origin = req.get_header_value("Origin");
    if (origin.empty() || !OriginAllowed(origin)) return;
    res.set_header("Access-Control-Allow-Origin", origin);
    res.set_header("Vary", "Origin");
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() {
  Stop();
}

int HttpServer::port() const {
  return impl_->port;
}

void HttpServer::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

// Paths served without the API key: the health probe, and the web UI's static files (every
// GET outside the API prefixes is a file of web/dist: public code, no user data), so that a
// browser can load the page and then ask for the key.
static bool PublicPath(const std::string& method, const std::string& path) {
  if (method != "GET" && method != "HEAD") return false;
  if (path == "/api/v1/health") return true;
  for (const char* prefix : {"/api", "/sdapi", "/v1"}) {
    const std::string p(prefix);
    if (path.compare(0, p.size(), p) == 0 && (path.size() == p.size() || path[p.size()] == '/'))
      return false;
  }
  return true;
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options,
                                                      http::Router router) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  Impl* self = impl.get();
  httplib::Server& svr = impl->server;
  const int threads = std::max(4, self->options.threads);
  // httplib's API takes an owning raw pointer here; it deletes the pool itself.
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  svr.set_payload_max_length(self->options.max_body_bytes);
  svr.set_read_timeout(self->options.read_timeout_s);
  svr.set_write_timeout(self->options.write_timeout_s);
  svr.set_keep_alive_timeout(5);
  // httplib's default also sets SO_REUSEPORT, which would let a second server bind our port
  // and silently take half the connections: keep only SO_REUSEADDR (fast restarts).
  svr.set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });

  svr.set_pre_routing_handler([self](const httplib::Request& req, httplib::Response& res) {
    self->AddCors(req, res);
    if (req.method == "OPTIONS") {  // CORS preflight (or a plain OPTIONS): no auth needed
      if (!self->options.cors_origins.empty() &&
          self->OriginAllowed(req.get_header_value("Origin"))) {
        res.set_header("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
        res.set_header("Access-Control-Allow-Headers",
                       "Authorization, Content-Type, X-API-Key, Last-Event-ID");
        res.set_header("Access-Control-Max-Age", "600");
      }
      res.status = 204;
      return httplib::Server::HandlerResponse::Handled;
    }
    if (!self->options.api_key.empty() && !PublicPath(req.method, req.path)) {
      http::Request r;
      for (const auto& [k, v] : req.headers) r.headers.emplace(Lower(k), v);
      if (!RequestCarriesKey(r, self->options.api_key)) {
        SendError(req, res, 401, "unauthorized",
                  "this server needs its API key: send \"Authorization: Bearer KEY\" (or "
                  "\"X-API-Key: KEY\", or HTTP Basic auth with KEY as the password)");
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  // Route paths by method, to tell 404 (no such path) from 405 (wrong method).
  auto patterns = std::make_shared<std::vector<std::pair<std::string, std::regex>>>();
  for (const http::Route& route : router.routes()) {
    patterns->emplace_back(route.method, std::regex(route.pattern));
    http::Handler handler = route.handler;
    auto adapted = [self, handler](const httplib::Request& req, httplib::Response& res) {
      http::Response out;
      Status st = CatchAll([&] { out = handler(Convert(req)); });
      if (!st.ok())
        out = ErrorResponse(
            StyleOfPath(req.path), 500, "internal",
            "the server failed on this request (a bug; please report it): " + st.message());
      Apply(out, res);
      self->AddCors(req, res);
    };
    if (route.method == "GET")
      svr.Get(route.pattern, adapted);
    else if (route.method == "POST")
      svr.Post(route.pattern, adapted);
    else if (route.method == "DELETE")
      svr.Delete(route.pattern, adapted);
  }

  svr.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        SendError(req, res, 500, "internal", "the server failed on this request: " + what);
      });

  svr.set_error_handler(httplib::Server::HandlerWithResponse(
      [self, patterns](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // ours already
        self->AddCors(req, res);
        switch (res.status) {
          case 404: {
            bool path_known = false;
            for (const auto& [method, re] : *patterns)
              if (std::regex_match(req.path, re)) path_known = true;
            if (path_known) {
              res.status = 405;
              SendError(req, res, 405, "method_not_allowed",
                        req.method + " is not allowed on " + req.path +
                            ": see /api/v1/openapi.json for the methods each path takes");
            } else {
              SendError(req, res, 404, "not_found",
                        "no endpoint at " + req.path +
                            ": see /api/v1/openapi.json for the native API, /sdapi/v1/... for "
                            "A1111's and /v1/images/generations for OpenAI's");
            }
            break;
          }
          case 413:
            SendError(req, res, 413, "payload_too_large",
                      "the request body is over the server's limit of " +
                          std::to_string(self->options.max_body_bytes >> 20) +
                          " MiB: send smaller images (or start the server with a larger "
                          "--max-body-mb)");
            break;
          case 400:
            SendError(req, res, 400, "bad_request",
                      "the HTTP request is malformed (bad header, bad chunked encoding or a "
                      "multipart body that does not parse)");
            break;
          default:
            SendError(req, res, res.status, "http_" + std::to_string(res.status),
                      "the request failed with HTTP status " + std::to_string(res.status));
        }
        return httplib::Server::HandlerResponse::Handled;
      }));

  if (!self->options.web_dir.empty() && !svr.set_mount_point("/", self->options.web_dir))
    return NotFound("the web UI folder " + self->options.web_dir +
                    " does not exist (build it with "
                    "`cd web && npm ci && npm run build`, or leave out --web-dir)");

  const std::string& host = self->options.host;
  if (self->options.port == 0) {
    self->port = svr.bind_to_any_port(host);
    if (self->port < 0)
      return IoError("cannot listen on " + host + ": no free port, or a bad address");
  } else {
    if (!svr.bind_to_port(host, self->options.port))
      return IoError("cannot listen on " + host + ":" + std::to_string(self->options.port) +
                     ": the port is in use or the address is not this machine's (pick another "
                     "--port or --host)");
    self->port = self->options.port;
  }
  self->server.RaiseBacklog(1024);
  self->thread = std::thread([self] { self->server.listen_after_bind(); });
  // httplib's stop() does nothing until listen has begun: wait for it, so that a Stop()
  // right after Start() cannot leave the thread blocked in accept().
  while (!svr.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

}  // namespace easel::server
