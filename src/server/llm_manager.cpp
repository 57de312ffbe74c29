// LlmManager: the server's language model and its memory decisions (see llm_manager.h).
#include "server/llm_manager.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "library/library_api.h"
#include "library/preset.h"
#include "llm/backends/ollama_backend.h"
#include "llm/backends/openai_backend.h"
#include "llm/worker_backend.h"
#include "store/ids.h"

namespace easel::server {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

bool IsUrl(const std::string& s) {
  return s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0;
}

std::string Gib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1 << 30));
  return buf;
}

std::optional<int64_t> MemAvailable(const std::string& device) {
  if (device != "cpu") return std::nullopt;
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  while (std::getline(meminfo, line))
    if (line.rfind("MemAvailable:", 0) == 0) return std::stoll(line.substr(13)) * 1024;
  return std::nullopt;
}

int64_t PathBytes(const std::string& path) {
  std::error_code ec;
  if (path.empty()) return 0;
  if (fs::is_regular_file(path, ec)) return static_cast<int64_t>(fs::file_size(path, ec));
  int64_t total = 0;
  if (fs::is_directory(path, ec))
    for (const auto& e : fs::recursive_directory_iterator(path, ec))
      if (e.is_regular_file(ec) && e.path().extension() == ".safetensors")
        total += static_cast<int64_t>(e.file_size(ec));
  return total;
}

// "cuda" and "cuda:0" are one device.
std::string NormalDevice(std::string d) {
  if (d == "cuda") d = "cuda:0";
  return d;
}

}  // namespace

std::string LlmKindOf(const LlmConfig& c) {
  if (c.source.empty()) return "";
  if (IsUrl(c.source)) return c.api == "ollama" ? "ollama" : "openai";
  return "worker";
}

Result<std::unique_ptr<llm::ChatBackend>> OpenConfiguredBackend(const LlmConfig& c) {
  const std::string kind = LlmKindOf(c);
  if (kind == "openai") {
    llm::OpenAiOptions o;
    o.base_url = c.source;
    o.model = c.model;
    o.api_key = c.api_key;
    return llm::OpenOpenAiBackend(o);
  }
  if (kind == "ollama") {
    llm::OllamaOptions o;
    o.base_url = c.source;
    o.model = c.model;
    o.num_ctx = c.context;
    return llm::OpenOllamaBackend(o);
  }
  // A model file: the built-in runtime in its own `easel worker llm` process.
  llm::WorkerBackendOptions o;
  o.builtin.model_path = c.source;
  o.builtin.device = c.device;
  o.builtin.context = c.context;
  o.easel_binary = c.easel_binary;
  auto worker = llm::WorkerBackend::Start(o);
  if (!worker.ok()) return worker.status();
  return std::unique_ptr<llm::ChatBackend>(std::move(*worker));
}

MemoryDecision DecideForImageJob(const llm::BackendInfo& llm, bool same_device, int64_t need,
                                 std::optional<int64_t> available, int64_t safety) {
  MemoryDecision d;
  d.need_bytes = need;
  d.available_bytes = available.value_or(-1);
  d.action = "keep";
  if (!llm.loaded) {
    d.reason = "the language model is not loaded";
  } else if (llm.kind == "openai") {
    d.reason = "the language model runs on an external server (its memory is not ours)";
  } else if (!same_device) {
    d.reason = "the language model is on another device";
  } else if (!available) {
    d.action = "hard_unload";
    d.bytes = llm.weights_bytes + llm.kv_cache_bytes;
    d.reason = "the server cannot see the device's free memory: the image job gets all of it";
  } else if (need + safety <= *available) {
    d.reason = "the image job fits in free memory";
  } else if (llm.kv_cache_bytes > 0 && need + safety <= *available + llm.kv_cache_bytes) {
    d.action = "soft_unload";
    d.bytes = llm.kv_cache_bytes;
    d.reason = "the image job fits once the KV cache is dropped";
  } else {
    d.action = "hard_unload";
    d.bytes = llm.weights_bytes + llm.kv_cache_bytes;
    d.reason = "the image job does not fit beside the language model";
  }
  return d;
}

int64_t EstimateImageJobBytes(const json& req) {
  const int64_t w = req.value("width", 512), h = req.value("height", 512);
  const int64_t batch = std::max<int64_t>(1, req.value("batch_size", 1));
  // Weights as stored, plus activations: about 2.5 KB per output pixel per image (UNet
  // attention and VAE decode peaks of SD-class models in fp32; rough, and on the safe side).
  const std::string model = req.contains("model") && req["model"].is_string()
                                ? req["model"].get<std::string>()
                                : std::string();
  return PathBytes(model) + w * h * batch * 2560;
}

Status OpenServerLlm(LlmConfig config, const std::string& preset, library::LibraryApi* library,
                     BackendFactory factory, std::unique_ptr<LlmManager>* out) {
  out->reset();
  if (!preset.empty()) {
    if (library == nullptr)
      return NotFound("no library to read the LLM preset '" + preset + "' from");
    auto stored = library->presets().GetPreset(preset);
    if (!stored.ok()) return stored.status();
    if (stored->type != "llm")
      return InvalidArgument("the preset '" + preset + "' is an " + stored->type +
                             " preset: --llm-preset takes an LLM preset");
    auto p = library::LlmPresetFromJson(stored->preset);
    if (!p.ok()) return p.status();
    if (config.source.empty()) config.source = p->model_path;
    if (config.context == 0) config.context = p->n_ctx;
    config.preset = preset;
  }
  if (config.source.empty()) return Status::Ok();
  auto m = LlmManager::Create(std::move(config), std::move(factory));
  if (!m.ok()) return m.status();
  *out = std::move(*m);
  const llm::BackendInfo info = (*out)->Info();
  std::fprintf(stderr, "easel serve: language model %s (%s, %s)\n", (*out)->ModelName().c_str(),
               info.kind.c_str(), info.loaded ? "loaded" : "loaded on first use");
  return Status::Ok();
}

Result<std::unique_ptr<LlmManager>> LlmManager::Create(LlmConfig config, BackendFactory factory) {
  if (config.source.empty()) return InvalidArgument("no language model configured (--llm)");
  if (config.idle_unload_s < 0)
    return InvalidArgument("--llm-idle-unload must be 0 (never) or a number of seconds");
  if (!IsUrl(config.source)) {
    std::error_code ec;
    if (!fs::exists(config.source, ec))
      return NotFound("the language model " + config.source +
                      " does not exist: give a .gguf file, a Hugging Face folder or an http(s) "
                      "URL to --llm");
  } else if (config.api != "openai" && config.api != "ollama" && !config.api.empty()) {
    return InvalidArgument("--llm-api must be openai or ollama, got '" + config.api + "'");
  }
  auto backend = factory ? factory(config) : OpenConfiguredBackend(config);
  if (!backend.ok()) return backend.status();
  return std::unique_ptr<LlmManager>(new LlmManager(std::move(config), std::move(*backend)));
}

LlmManager::LlmManager(LlmConfig config, std::unique_ptr<llm::ChatBackend> backend)
    : config_(std::move(config)), backend_(std::move(backend)) {
  last_use_ = std::chrono::steady_clock::now();
  probe_ = MemAvailable;
  idle_thread_ = std::thread([this] { IdleLoop(); });
}

LlmManager::~LlmManager() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (idle_thread_.joinable()) idle_thread_.join();
  backend_->Cancel();
  std::lock_guard<std::mutex> use(use_mu_);  // a running chat ends before the backend goes
  backend_.reset();
}

void LlmManager::SetMemoryProbe(std::function<std::optional<int64_t>(const std::string&)> probe) {
  std::lock_guard<std::mutex> lock(mu_);
  probe_ = std::move(probe);
}

void LlmManager::Record(MemoryDecision d) {
  d.at_ms = store::NowMs();
  std::string line = "easel serve: llm: " + d.action + " (" + d.reason;
  if (d.need_bytes > 0) line += "; image job needs ~" + Gib(d.need_bytes);
  if (d.available_bytes >= 0) line += ", " + Gib(d.available_bytes) + " free";
  if (d.bytes > 0) line += "; " + Gib(d.bytes) + (d.action == "load" ? " loaded" : " freed");
  line += ")";
  std::fprintf(stderr, "%s\n", line.c_str());
  std::lock_guard<std::mutex> lock(mu_);
  last_decision_ = std::move(d);
}

Status LlmManager::Use(const std::function<Status(llm::ChatBackend&)>& work) {
  std::lock_guard<std::mutex> use(use_mu_);
  const bool was_loaded = backend_->Info().loaded;
  {
    std::lock_guard<std::mutex> lock(mu_);
    busy_ = true;
  }
  Status st = CatchAll([&] {
    Status s = work(*backend_);
    if (!s.ok()) throw Error(s);
  });
  const llm::BackendInfo after = backend_->Info();
  {
    std::lock_guard<std::mutex> lock(mu_);
    busy_ = false;
    last_use_ = std::chrono::steady_clock::now();
  }
  if (!was_loaded && after.loaded && after.kind != "openai") {
    MemoryDecision d;
    d.action = "load";
    d.reason = "a chat needed the model " + after.model;
    d.bytes = after.weights_bytes;
    Record(d);
  }
  return st;
}

void LlmManager::CancelRunning() {
  backend_->Cancel();
}

void LlmManager::BeforeImageJob(const std::string& job_id, const json& worker_request) {
  const llm::BackendInfo info = backend_->Info();
  if (!info.loaded) return;  // nothing to decide (and nothing worth a log line per job)
  std::string job_device = worker_request.value("device", std::string());
  std::function<std::optional<int64_t>(const std::string&)> probe;
  {
    std::lock_guard<std::mutex> lock(mu_);
    probe = probe_;
  }
  const bool same_device =
      job_device.empty() || NormalDevice(job_device) == NormalDevice(config_.device);
  const int64_t need = EstimateImageJobBytes(worker_request);
  const int64_t safety = 512ll << 20;
  MemoryDecision d = DecideForImageJob(info, same_device, need, probe(config_.device), safety);
  d.reason += " [job " + job_id + "]";
  if (d.action == "soft_unload" || d.action == "hard_unload") {
    Status st = backend_->Unload(d.action == "hard_unload");
    if (!st.ok()) d.reason += "; the unload failed: " + st.message();
  }
  Record(d);
}

Status LlmManager::Unload(bool hard, const std::string& reason) {
  const llm::BackendInfo info = backend_->Info();
  Status st = backend_->Unload(hard);
  MemoryDecision d;
  d.action = hard ? "hard_unload" : "soft_unload";
  d.reason = reason;
  d.bytes = hard ? info.weights_bytes + info.kv_cache_bytes : info.kv_cache_bytes;
  if (!st.ok()) d.reason += "; the unload failed: " + st.message();
  Record(d);
  return st;
}

void LlmManager::IdleLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::seconds(1));
    if (stopping_ || config_.idle_unload_s <= 0 || busy_) continue;
    const auto idle = std::chrono::steady_clock::now() - last_use_;
    if (idle < std::chrono::seconds(config_.idle_unload_s)) continue;
    lock.unlock();
    const llm::BackendInfo info = backend_->Info();
    if (info.loaded && info.kind != "openai") {
      Status st = backend_->Unload(true);
      MemoryDecision d;
      d.action = "idle_unload";
      d.reason = "no chat for " + std::to_string(config_.idle_unload_s) + " s";
      d.bytes = info.weights_bytes + info.kv_cache_bytes;
      if (!st.ok()) d.reason += "; the unload failed: " + st.message();
      Record(d);
    }
    lock.lock();
    last_use_ = std::chrono::steady_clock::now();  // once per idle period
  }
}

llm::BackendInfo LlmManager::Info() const {
  return backend_->Info();
}

std::string LlmManager::ModelName() const {
  const llm::BackendInfo info = backend_->Info();
  if (!config_.model.empty()) return config_.model;
  if (LlmKindOf(config_) == "worker") return fs::path(config_.source).stem().string();
  return info.model.empty() ? "llm" : info.model;
}

json LlmManager::StatusJson() const {
  const llm::BackendInfo info = backend_->Info();
  json out = {{"configured", true},
              {"kind", info.kind.empty() ? LlmKindOf(config_) : info.kind},
              {"model", ModelName()},
              {"loaded", info.loaded},
              {"context_length", info.context_length},
              {"weights_bytes", info.weights_bytes},
              {"kv_cache_bytes", info.kv_cache_bytes},
              {"idle_unload_s", config_.idle_unload_s},
              {"device", config_.device},
              {"last_decision", nullptr}};
  if (!config_.preset.empty()) out["preset"] = config_.preset;
  std::lock_guard<std::mutex> lock(mu_);
  if (last_decision_) {
    const MemoryDecision& d = *last_decision_;
    out["last_decision"] = {{"action", d.action},
                            {"reason", d.reason},
                            {"bytes", d.bytes},
                            {"need_bytes", d.need_bytes},
                            {"available_bytes", d.available_bytes},
                            {"at", d.at_ms}};
  }
  return out;
}

json LlmManager::ModelJson() const {
  return {{"id", ModelName()},
          {"object", "model"},
          {"created", 0},
          {"owned_by", "easel"},
          {"type", "llm"}};
}

}  // namespace easel::server
