// cpp-httplib transport for CivitAI lookups. See civitai_http.h.
#include "library/civitai_http.h"

#include <httplib.h>

#include <cstdlib>
#include <filesystem>

namespace easel::library {
namespace {

class HttplibTransport : public HttpTransport {
 public:
  HttplibTransport(std::string origin, HttpTransportOptions o)
      : origin_(std::move(origin)), client_(origin_) {
    client_.set_connection_timeout(o.connect_timeout_s, 0);
    client_.set_read_timeout(o.read_timeout_s, 0);
    client_.set_follow_location(true);
    client_.set_default_headers({{"User-Agent", o.user_agent}, {"Accept", "application/json"}});
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
    client_.enable_server_certificate_verification(true);
    for (const char* bundle : {"/etc/ssl/certs/ca-certificates.crt",
                               "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"}) {
      std::error_code ec;
      if (std::filesystem::exists(bundle, ec)) {
        client_.set_ca_cert_path(bundle);
        break;
      }
    }
#endif
  }

  Result<HttpReply> Get(const std::string& url) override {
    if (url.rfind(origin_, 0) != 0)
      return InvalidArgument("the URL " + url + " is not under " + origin_);
    std::string path = url.substr(origin_.size());
    if (path.empty()) path = "/";
    auto res = client_.Get(path.c_str());
    if (!res) {
      std::string why = httplib::to_string(res.error());
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
      if (res.error() == httplib::Error::SSLServerVerification)
        why += " (the certificate was not accepted: check the system's CA certificates)";
#endif
      return IoError(origin_ + ": " + why);
    }
    return HttpReply{res->status, res->body};
  }

 private:
  std::string origin_;
  httplib::Client client_;
};

}  // namespace

Result<std::unique_ptr<HttpTransport>> MakeHttpTransport(const std::string& origin_in,
                                                         HttpTransportOptions options) {
  std::string origin = origin_in;
  while (!origin.empty() && origin.back() == '/') origin.pop_back();
  const bool https = origin.rfind("https://", 0) == 0, http = origin.rfind("http://", 0) == 0;
  const size_t host_at = https ? 8 : 7;
  if ((!https && !http) || origin.size() <= host_at ||
      origin.find('/', host_at) != std::string::npos)
    return InvalidArgument("'" + origin_in +
                           "' is not an origin: use https://host or http://host:port, no path");
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
  if (https)
    return Unsupported(
        "this build of Easel has no TLS (cpp-httplib without OpenSSL): cannot "
        "reach " +
        origin);
#endif
  return std::unique_ptr<HttpTransport>(new HttplibTransport(origin, std::move(options)));
}

std::string CivitaiOriginFromEnv() {
  const char* env = std::getenv("EASEL_CIVITAI_URL");
  return env && *env ? std::string(env) : std::string("https://civitai.com");
}

}  // namespace easel::library
