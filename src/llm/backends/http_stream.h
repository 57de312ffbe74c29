// The HTTP client side of the external language-model backends (openai_backend, ollama_backend):
// a base URL split into origin and path, a JSON POST whose 2xx body is handed over as it
// arrives (for SSE and NDJSON streams), and a splitter that turns those bytes into lines.
// Over cpp-httplib's client (http:// and https://, Debian builds it with OpenSSL).
//
// Errors: a server that cannot be reached is kIo naming the URL and what to check; a non-2xx
// answer is returned as its status and body for the caller to word.
//
// Thread-safety: plain functions; a LineSplitter belongs to one caller.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/status.h"

namespace easel::llm {

struct HttpEndpoint {
  std::string origin;     // "http://127.0.0.1:8080" (scheme, host and port)
  std::string base_path;  // "/v1" or "" (no trailing slash)
  std::string url() const { return origin + base_path; }
};

// "http://host:port/path", "https://host/path". kInvalidArgument for anything else (saying
// what a valid one looks like).
Result<HttpEndpoint> ParseHttpEndpoint(const std::string& url);

struct HttpCall {
  int connect_timeout_s = 10;
  int read_timeout_s = 300;  // between two reads: a slow model's first token counts
  std::vector<std::pair<std::string, std::string>> headers;
  // Checked between chunks: when it becomes true the transfer stops (kCancelled).
  const std::atomic<bool>* cancel = nullptr;
};

struct HttpAnswer {
  int status = 0;
  std::string body;  // a non-2xx answer's body (a 2xx body went to on_bytes)
};

// POSTs `body` (JSON) to origin + path. A 2xx body goes to on_bytes as it arrives (return
// false to stop: the answer is then kept as is); any other body is collected in the answer.
// kIo when the server cannot be reached or the connection breaks; kCancelled when `cancel`
// became true.
Result<HttpAnswer> PostJsonStreaming(const HttpEndpoint& endpoint, const std::string& path,
                                     const std::string& body, const HttpCall& call,
                                     const std::function<bool(std::string_view)>& on_bytes);

// GET origin + path, the whole body (for model listings). kIo as above.
Result<HttpAnswer> GetText(const HttpEndpoint& endpoint, const std::string& path,
                           const HttpCall& call);

// Bytes in, complete lines out ("\n" or "\r\n" ends a line; the ending is dropped).
class LineSplitter {
 public:
  // Calls on_line for each completed line; stops early (false) when on_line does.
  bool Feed(std::string_view bytes, const std::function<bool(const std::string&)>& on_line);
  // The last line when the stream ended without a newline ("" if none).
  std::string Rest();

 private:
  std::string pending_;
};

}  // namespace easel::llm
