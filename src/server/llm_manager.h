// LlmManager: the server's one language model (the creative assistant, /v1/chat/completions,
// prompt enhancement and analysis), and the memory it holds next to the image workers.
//
// What it serves is chosen once at start (LlmConfig, from `easel serve --llm PATH|URL` or an
// LLM preset): a GGUF file / Hugging Face folder runs in its own `easel worker llm` process
// (WorkerBackend); an http(s) URL is an OpenAI-compatible server, or Ollama's API with
// api = "ollama". The backend is made by a factory (tests pass their own).
//
// Memory (every decision is logged to stderr with its sizes and kept for /api/v1/llm/status):
//   - before an image job is dispatched (BeforeImageJob, called by the orchestrator), the
//     job's need (its model file plus activations for its size and batch) is set against the
//     free memory of the device both share: enough free -> keep; enough once the KV cache is
//     gone -> soft unload; otherwise hard unload (the worker stops; the next chat reloads).
//     On a GPU the server cannot see free memory, so it hard-unloads when the LLM shares the
//     image job's device. Models on other devices, and external servers, are left alone.
//   - after idle_unload_s without a chat the model is hard-unloaded ("idle_unload").
//
// Thread-safety: Use() serialises chats (one at a time; a second waits its turn), and may be
// called from any thread; BeforeImageJob, Status and Unload from any thread at any time
// (they may cancel nothing: a running chat finishes, only its memory goes).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "llm/chat_backend.h"
#include "util/status.h"

namespace easel {
namespace library {
class LibraryApi;
}
}  // namespace easel

namespace easel::server {

struct LlmConfig {
  std::string source;   // a .gguf / HF folder path, or an http(s) URL; "" : none
  std::string api;      // for URLs: "openai" (default) or "ollama"
  std::string model;    // the model name an external server knows ("" : its first)
  std::string api_key;  // for external servers
  std::string device = "cpu";
  int64_t context = 0;       // 0: the model's (capped by the runtime)
  int idle_unload_s = 600;   // 0: never
  std::string easel_binary;  // for `easel worker llm`
  std::string preset;        // the LLM preset it came from ("" : none), for status
};

// "builtin"-side kinds are "worker"; external ones "openai" / "ollama".
std::string LlmKindOf(const LlmConfig& config);

using BackendFactory =
    std::function<Result<std::unique_ptr<llm::ChatBackend>>(const LlmConfig& config)>;
// The factory `easel serve` uses (WorkerBackend / OpenAiBackend / OllamaBackend).
Result<std::unique_ptr<llm::ChatBackend>> OpenConfiguredBackend(const LlmConfig& config);

// One memory decision (see above).
struct MemoryDecision {
  std::string action;  // "keep" | "soft_unload" | "hard_unload" | "load" | "idle_unload"
  std::string reason;
  int64_t bytes = 0;             // freed (unloads), loaded (load) or 0
  int64_t need_bytes = 0;        // the image job's estimate
  int64_t available_bytes = -1;  // free memory on the shared device; -1 unknown
  int64_t at_ms = 0;
};

// The pure decision for an image job (see above). `available` empty: unknown (a GPU).
MemoryDecision DecideForImageJob(const llm::BackendInfo& llm, bool same_device, int64_t need_bytes,
                                 std::optional<int64_t> available_bytes, int64_t safety_bytes);

// An image job's memory estimate from its worker request (model path, width, height, batch).
int64_t EstimateImageJobBytes(const nlohmann::json& worker_request);

class LlmManager;
// What `easel serve` does at start: `preset` (an LLM preset's name, "" none) fills the
// config's source and context from the library; no source at all leaves *out null (no
// language model). kNotFound / kInvalidArgument for a bad preset or source.
// `factory` null: OpenConfiguredBackend.
Status OpenServerLlm(LlmConfig config, const std::string& preset, library::LibraryApi* library,
                     BackendFactory factory, std::unique_ptr<LlmManager>* out);

class LlmManager {
 public:
  // Makes the backend (not loaded until the first chat). kInvalidArgument for a bad config.
  static Result<std::unique_ptr<LlmManager>> Create(LlmConfig config, BackendFactory factory);
  ~LlmManager();  // stops the idle thread; the backend (and its worker) go with it
  LlmManager(const LlmManager&) = delete;
  LlmManager& operator=(const LlmManager&) = delete;

  const LlmConfig& config() const { return config_; }
  // The backend for one piece of work (a chat, a turn of the assistant), exclusively.
  Status Use(const std::function<Status(llm::ChatBackend&)>& work);
  // Asks a running chat to stop (a client went away).
  void CancelRunning();

  // The orchestrator's hook: called on its thread right before an image job goes to a worker.
  void BeforeImageJob(const std::string& job_id, const nlohmann::json& worker_request);
  Status Unload(bool hard, const std::string& reason);

  // /api/v1/llm/status (see llm_api.md).
  nlohmann::json StatusJson() const;
  // The /v1/models entry.
  nlohmann::json ModelJson() const;
  std::string ModelName() const;
  llm::BackendInfo Info() const;

  // Tests: the free memory source (default: MemAvailable from /proc/meminfo on "cpu",
  // unknown on anything else).
  void SetMemoryProbe(std::function<std::optional<int64_t>(const std::string& device)> probe);

 private:
  LlmManager(LlmConfig config, std::unique_ptr<llm::ChatBackend> backend);
  void Record(MemoryDecision d);
  void IdleLoop();

  const LlmConfig config_;
  std::unique_ptr<llm::ChatBackend> backend_;
  std::mutex use_mu_;  // held for a whole Use()

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                                            // guarded by mu_
  bool busy_ = false;                                                // guarded by mu_
  std::chrono::steady_clock::time_point last_use_;                   // guarded by mu_
  std::optional<MemoryDecision> last_decision_;                      // guarded by mu_
  std::function<std::optional<int64_t>(const std::string&)> probe_;  // guarded by mu_
  std::thread idle_thread_;
};

}  // namespace easel::server
