// HttpServer: the Router's routes served over HTTP/1.1 by cpp-httplib (the only file that
// includes the library is http_server.cpp). It adds, around every route:
//   - authentication: with an api_key, every request but CORS preflights and
//     GET /api/v1/health must carry it as "Authorization: Bearer KEY", "X-API-Key: KEY" or
//     HTTP Basic auth with KEY as the password (what A1111 clients send); else 401;
//   - CORS: off unless origins are listed ("*" allows any); preflights are answered;
//   - limits: a body over max_body_bytes is 413; unknown paths 404, wrong methods 405;
//   - errors: every error is JSON in the path's API style (errors.h); a handler that throws
//     gives 500 with the message, and the server keeps serving.
//
// Threads: a pool of `threads` serves connections (SSE streams hold one each while open);
// Start returns once the socket listens; Stop ends listening and waits for the pool.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "server/http.h"
#include "util/status.h"

namespace easel::server {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 7860;                        // 0: any free port (see HttpServer::port)
  std::string api_key;                    // "" : no authentication
  std::vector<std::string> cors_origins;  // empty: no CORS headers at all
  size_t max_body_bytes = 64u << 20;
  int threads = 64;
  int read_timeout_s = 30;
  int write_timeout_s = 30;
  std::string web_dir;  // static files served at "/" (the web UI's build); "" : none
};

class HttpServer {
 public:
  // Binds and starts serving on a thread of its own. kIo when the address cannot be bound
  // ("127.0.0.1:7860 is in use ...").
  static Result<std::unique_ptr<HttpServer>> Start(HttpServerOptions options, http::Router router);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;  // the bound port
  void Stop();       // idempotent; returns when the listening thread has ended

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// True when `key` matches one of the request's credentials (see above). Constant time in the
// key's length.
bool RequestCarriesKey(const http::Request& request, const std::string& key);

// True for a host that only this machine can reach: "127.x.x.x", "::1", "localhost".
bool IsLoopbackHost(const std::string& host);

}  // namespace easel::server
