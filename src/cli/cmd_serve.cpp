// easel serve: the long-running local service (HTTP APIs, durable job queue, worker
// processes, history). Flags map onto server::ServerOptions; server/server.h does the rest.
//
//   easel serve --data-dir ~/easel-data --models-dir ~/models [--host 127.0.0.1] [--port 7860]
#include <CLI/CLI.hpp>
#include <memory>

#include "cli/commands.h"
#include "server/server.h"

namespace easel::cli {

Command AddServe(CLI::App& app) {
  auto o = std::make_shared<server::ServerOptions>();
  auto devices = std::make_shared<std::vector<std::string>>();
  auto dtype = std::make_shared<std::string>("fp32");
  auto max_body_mb = std::make_shared<int>(64);
  CLI::App* sub = app.add_subcommand(
      "serve", "Serve the HTTP APIs (native, A1111, OpenAI) with a durable job queue");
  sub->add_option("--host", o->host, "Address to bind; anything but loopback needs --api-key")
      ->capture_default_str();
  sub->add_option("--port", o->port, "Port (0: any free port, see --port-file)")
      ->capture_default_str();
  sub->add_option("--port-file", o->port_file, "Write the bound port to this file once listening");
  sub->add_option("--data-dir", o->data_dir, "Folder for the database, images and inputs")
      ->required();
  sub->add_option("--models-dir", o->models_dir,
                  "Folder of models (*.safetensors, diffusers folders)");
  sub->add_option("--loras-dir", o->loras_dir, "Folder of LoRAs (default: <models-dir>/Lora)");
  sub->add_option("--embeddings-dir", o->embeddings_dir, "Folder of textual-inversion embeddings");
  sub->add_option("--model", o->default_model,
                  "Default model name (as GET /api/v1/models lists it)");
  sub->add_option("--api-key", o->api_key, "Key clients must send (Authorization: Bearer KEY)");
  sub->add_option("--api-key-file", o->api_key_file, "Read the key from this file's first line");
  sub->add_option("--cors-origin", o->cors_origins,
                  "Allow browser calls from this origin (repeatable; * = any)");
  sub->add_option("--web-dir", o->web_dir,
                  "Web UI files served at / (default: ../web/dist beside the binary)");
  sub->add_option("--device", *devices,
                  "One worker per device: cpu, cuda, cuda:N (repeatable; default cpu)");
  sub->add_option("--dtype", *dtype, "Workers' dtype: fp32, fp16 or bf16")->capture_default_str();
  sub->add_option("--max-side", o->limits.max_side, "Largest width/height of a generated image")
      ->capture_default_str();
  sub->add_option("--max-steps", o->limits.max_steps, "Most denoising steps a job may ask for")
      ->capture_default_str();
  sub->add_option("--max-batch", o->limits.max_batch, "Most images per job")->capture_default_str();
  sub->add_option("--max-prompt-chars", o->limits.max_prompt_chars, "Longest prompt in bytes")
      ->capture_default_str();
  sub->add_option("--max-body-mb", *max_body_mb, "Largest request body in MiB")
      ->capture_default_str();
  sub->add_option("--threads", o->threads, "HTTP threads (each open event stream holds one)")
      ->capture_default_str();
  sub->add_option("--sync-timeout", o->sync_timeout_s,
                  "Seconds A1111/OpenAI calls wait for their job")
      ->capture_default_str();
  // The language model (assistant, /v1/chat/completions): server/llm_manager.h.
  sub->add_option("--llm", o->llm.source,
                  "Language model: a .gguf file / HF folder (run in `easel worker llm`), or the "
                  "URL of an OpenAI-compatible server (http://host:port/v1)");
  sub->add_option("--llm-preset", o->llm_preset, "Language model from this LLM preset");
  sub->add_option("--llm-api", o->llm.api, "For --llm URLs: openai (default) or ollama");
  sub->add_option("--llm-model", o->llm.model, "For --llm URLs: the model name the server knows");
  sub->add_option("--llm-api-key", o->llm.api_key, "For --llm URLs: the server's API key");
  sub->add_option("--llm-device", o->llm.device, "Device of the language model (cpu, cuda:N)")
      ->capture_default_str();
  sub->add_option("--llm-context", o->llm.context, "Context length (0: the model's, capped)");
  sub->add_option("--llm-idle-unload", o->llm.idle_unload_s,
                  "Stop the language model after this many idle seconds (0: never)")
      ->capture_default_str();
  sub->add_option("--assistant-max-tool-calls", o->assistant_max_tool_calls,
                  "Tool calls the assistant may make per turn")
      ->capture_default_str();
  return [o, devices, dtype, max_body_mb]() -> Status {
    o->workers.clear();
    if (devices->empty()) devices->push_back("cpu");
    for (const std::string& d : *devices) o->workers.push_back({d, *dtype});
    if (*max_body_mb < 1 || *max_body_mb > 4096)
      return InvalidArgument("--max-body-mb must be 1..4096");
    o->max_body_bytes = static_cast<size_t>(*max_body_mb) << 20;
    o->limits.max_input_bytes = o->max_body_bytes;
    return server::RunServer(*o);
  };
}

}  // namespace easel::cli
