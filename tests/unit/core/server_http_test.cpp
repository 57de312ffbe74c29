// server/http_server.h over a real loopback socket (cpp-httplib's client): JSON errors for
// unknown paths and methods, body limits, authentication, CORS, a throwing handler (500, and
// the server keeps serving), query/path parameters and a streamed (SSE) response.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include "server/base64.h"
#include "server/http_server.h"

namespace easel::server {
namespace {

using json = nlohmann::json;

http::Router TestRouter() {
  http::Router r;
  r.Get("/api/v1/echo/([^/]+)", [](const http::Request& req) {
    return http::Response::Json(200, {{"id", req.params[0]}, {"q", req.Query("q").value_or("")}});
  });
  r.Post("/api/v1/body", [](const http::Request& req) {
    return http::Response::Json(200, {{"size", req.body.size()}});
  });
  r.Get("/api/v1/throw",
        [](const http::Request&) -> http::Response { throw std::runtime_error("boom"); });
  r.Get("/api/v1/health", [](const http::Request&) {
    return http::Response::Json(200, {{"status", "ok"}});
  });
  r.Get("/api/v1/stream", [](const http::Request&) {
    http::Response res;
    res.content_type = "text/event-stream";
    res.stream = [](const http::StreamWriter& write) {
      for (int i = 0; i < 3; ++i)
        if (!write("data: " + std::to_string(i) + "\n\n")) return;
    };
    return res;
  });
  return r;
}

std::unique_ptr<HttpServer> Start(HttpServerOptions o) {
  o.host = "127.0.0.1";
  o.port = 0;
  o.threads = 4;
  auto s = HttpServer::Start(o, TestRouter());
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(*s) : nullptr;
}

json Body(const httplib::Result& r) {
  return json::parse(r->body, nullptr, false);
}

TEST(ServerHttp, RoutesAndJsonErrors) {
  auto s = Start({});
  ASSERT_TRUE(s);
  httplib::Client c("127.0.0.1", s->port());
  auto r = c.Get("/api/v1/echo/abc?q=castle%20model%3Adream*");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(Body(r)["id"], "abc");
  EXPECT_EQ(Body(r)["q"], "castle model:dream*");

  r = c.Get("/nope");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(Body(r)["error"]["code"], "not_found");
  r = c.Delete("/api/v1/echo/abc");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  // Each API's error shape.
  r = c.Get("/sdapi/v1/nope");
  EXPECT_EQ(Body(r)["detail"].is_string(), true);
  r = c.Get("/v1/nope");
  EXPECT_EQ(Body(r)["error"]["type"], "not_found_error");

  r = c.Get("/api/v1/throw");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_NE(Body(r)["error"]["message"].get<std::string>().find("boom"), std::string::npos);
  r = c.Get("/api/v1/echo/still-serving");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(ServerHttp, LimitsTheBody) {
  HttpServerOptions o;
  o.max_body_bytes = 1000;
  auto s = Start(o);
  ASSERT_TRUE(s);
  httplib::Client c("127.0.0.1", s->port());
  auto ok = c.Post("/api/v1/body", std::string(900, 'a'), "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  auto big = c.Post("/api/v1/body", std::string(5000, 'a'), "application/json");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  EXPECT_EQ(Body(big)["error"]["code"], "payload_too_large");
}

TEST(ServerHttp, RequiresTheKeyWhenSet) {
  HttpServerOptions o;
  o.api_key = "s3cret-key";
  auto s = Start(o);
  ASSERT_TRUE(s);
  httplib::Client c("127.0.0.1", s->port());
  auto r = c.Get("/api/v1/echo/x");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(Body(r)["error"]["code"], "unauthorized");
  EXPECT_EQ(c.Get("/api/v1/echo/x", {{"Authorization", "Bearer wrong"}})->status, 401);
  EXPECT_EQ(c.Get("/api/v1/echo/x", {{"Authorization", "Bearer s3cret-key"}})->status, 200);
  EXPECT_EQ(c.Get("/api/v1/echo/x", {{"X-API-Key", "s3cret-key"}})->status, 200);
  const std::string basic = "Basic " + Base64Encode("user:s3cret-key");
  EXPECT_EQ(c.Get("/api/v1/echo/x", {{"Authorization", basic}})->status, 200);
  EXPECT_EQ(c.Get("/api/v1/health")->status, 200);  // health needs no key
  // The web UI's files (any GET outside /api, /sdapi, /v1) need no key, so a browser can load
  // the page and then ask for it; every API prefix, and writes anywhere, still do.
  EXPECT_NE(c.Get("/")->status, 401);
  EXPECT_NE(c.Get("/assets/index.js")->status, 401);
  EXPECT_NE(c.Get("/apiary.html")->status, 401);  // only whole path segments are API prefixes
  for (const char* path : {"/api", "/api/v2/x", "/sdapi/v1/options", "/v1", "/v1/models"})
    EXPECT_EQ(c.Get(path)->status, 401) << path;
  EXPECT_EQ(c.Post("/index.html", "{}", "application/json")->status, 401);
}

TEST(ServerHttp, CorsOnlyForListedOrigins) {
  HttpServerOptions o;
  o.cors_origins = {"http://ok.example"};
  auto s = Start(o);
  ASSERT_TRUE(s);
  httplib::Client c("127.0.0.1", s->port());
  auto r = c.Get("/api/v1/echo/x", {{"Origin", "http://ok.example"}});
  EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), "http://ok.example");
  r = c.Get("/api/v1/echo/x", {{"Origin", "http://evil.example"}});
  EXPECT_FALSE(r->has_header("Access-Control-Allow-Origin"));
  r = c.Options("/api/v1/echo/x",
                {{"Origin", "http://ok.example"}, {"Access-Control-Request-Method", "GET"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204);
  EXPECT_NE(r->get_header_value("Access-Control-Allow-Methods").find("POST"), std::string::npos);
}

TEST(ServerHttp, StreamsChunks) {
  auto s = Start({});
  ASSERT_TRUE(s);
  httplib::Client c("127.0.0.1", s->port());
  auto r = c.Get("/api/v1/stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "data: 0\n\ndata: 1\n\ndata: 2\n\n");
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
}

TEST(ServerHttp, RefusesAPortInUse) {
  auto a = Start({});
  ASSERT_TRUE(a);
  HttpServerOptions o;
  o.port = a->port();
  auto b = HttpServer::Start(o, TestRouter());
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), Code::kIo);
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_FALSE(IsLoopbackHost("0.0.0.0"));
}

}  // namespace
}  // namespace easel::server
