// The real network transport for CivitAI lookups (civitai.h): cpp-httplib's client, HTTPS
// through OpenSSL (Debian's libcpp-httplib is built with it; pkg-config's cflags define
// CPPHTTPLIB_OPENSSL_SUPPORT), plain HTTP for local mirrors and tests. Anonymous: no key,
// no cookies, a plain User-Agent; certificates are verified against the system's CA store.
// This file and server/http_server.cpp are the only ones that include httplib.h.
//
// Thread-safety: Get may be called from one thread at a time (CivitaiClient serializes).
#pragma once

#include <memory>
#include <string>

#include "library/civitai.h"

namespace easel::library {

struct HttpTransportOptions {
  int connect_timeout_s = 5;
  int read_timeout_s = 20;
  std::string user_agent = "easel/0.1 (model metadata lookup)";
};

// A transport for URLs under one origin ("https://civitai.com", "http://127.0.0.1:8080").
// kInvalidArgument for an origin that is not http(s)://host[:port]; kUnsupported for https
// when this build has no TLS. Get() fails with kIo for DNS, refused, timeouts and TLS errors
// (the message names the origin and the cause).
Result<std::unique_ptr<HttpTransport>> MakeHttpTransport(const std::string& origin,
                                                         HttpTransportOptions options = {});

// The CivitAI origin to use: $EASEL_CIVITAI_URL when set (a mirror, or a test server), else
// https://civitai.com.
std::string CivitaiOriginFromEnv();

}  // namespace easel::library
