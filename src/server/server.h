// `easel serve` as a library call: options in, a running server out (RunServer blocks until
// SIGINT/SIGTERM). Wires the ModelCatalog, the Orchestrator (queue, workers, history), the
// API routes and the HTTP server together. cli/cmd_serve.cpp only maps flags to ServerOptions.
#pragma once

#include <string>
#include <vector>

#include "server/job_request.h"
#include "server/llm_manager.h"
#include "server/supervisor.h"
#include "util/status.h"

namespace easel::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 7860;         // 0: any free port (written to port_file)
  std::string port_file;   // written with the bound port once listening ("" : none)
  std::string data_dir;    // required
  std::string models_dir;  // "" : no models
  std::string loras_dir;   // "" : <models_dir>/Lora when that exists
  std::string embeddings_dir;
  std::string default_model;  // a model name ("" : options.json's, else the first supported)
  std::string api_key;        // required for a non-loopback host
  std::string api_key_file;   // the key's first line, if api_key is empty
  std::vector<std::string> cors_origins;
  std::vector<WorkerSpec> workers = {WorkerSpec{}};
  std::string easel_binary;  // "" : this executable
  std::string web_dir;       // "" : <this executable's folder>/../web/dist when it exists
  Limits limits;
  size_t max_body_bytes = 64u << 20;
  int threads = 64;
  int sync_timeout_s = 600;
  int max_attempts = 2;
  // The language model (assistant, /v1/chat/completions): llm.source from --llm, or the
  // LLM preset named llm_preset (its model and context). Neither: no language model.
  LlmConfig llm;
  std::string llm_preset;
  int assistant_max_tool_calls = 4;
  BackendFactory llm_factory;  // null: OpenConfiguredBackend (cli/cmd_serve.cpp sets its own)
};

// Checks the options (a non-loopback host needs a key ...), starts everything and serves
// until SIGINT or SIGTERM, then stops in order (no new jobs, workers stopped, running jobs
// left to re-queue at the next start). kInvalidArgument for bad options, kIo for a port in
// use or an unusable data dir.
Status RunServer(ServerOptions options);

}  // namespace easel::server
