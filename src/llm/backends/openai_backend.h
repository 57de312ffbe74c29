// OpenAiBackend: a ChatBackend over an OpenAI-compatible chat server (llama.cpp's server,
// LM Studio, vLLM, Easel's own /v1/chat/completions, OpenAI itself): POST
// {base_url}/chat/completions with stream: true, read the Server-Sent Events
// (`data: {chat.completion.chunk}` ... `data: [DONE]`), hand each text delta on, and put the
// tool-call fragments (delta.tool_calls[i] by index: id and name first, arguments in pieces)
// back together. A tool call whose arguments are not a JSON object is an error naming the
// tool (the ChatBackend contract promises parsed arguments).
//
// Errors: kIo naming the URL when the server cannot be reached or the stream breaks; a 4xx
// answer is kInvalidArgument (404: kNotFound, the model is unknown there) with the server's
// own message; kCancelled after Cancel() only when nothing came yet, else the text so far
// with finish_reason "cancelled".
//
// Memory: the server is someone else's; Unload() does nothing and Info() reports no sizes.
// Thread-safety: as ChatBackend (one Chat at a time; Cancel from any thread).
#pragma once

#include <memory>
#include <string>

#include "llm/chat_backend.h"
#include "util/status.h"

namespace easel::llm {

struct OpenAiOptions {
  // Up to and including the API's version folder: "http://127.0.0.1:8080/v1". A URL with no
  // path gets "/v1".
  std::string base_url;
  std::string model;    // sent as "model"; "" : the first model GET {base_url}/models lists
  std::string api_key;  // sent as "Authorization: Bearer KEY" when set
  int connect_timeout_s = 10;
  int read_timeout_s = 300;
  // Send top_k, min_p and repeat_penalty too (llama.cpp, vLLM, LM Studio and Easel read
  // them; OpenAI itself refuses unknown fields).
  bool send_extensions = true;
};

// Checks the URL (kInvalidArgument); does not connect (the first Chat does).
Result<std::unique_ptr<ChatBackend>> OpenOpenAiBackend(const OpenAiOptions& options);

}  // namespace easel::llm
