// RunServer: wiring and lifecycle of `easel serve` (see server.h).
#include "server/server.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "library/library_api.h"
#include "server/api.h"
#include "server/api_library.h"
#include "server/api_llm.h"
#include "server/http_server.h"
#include "server/model_catalog.h"
#include "server/orchestrator.h"
#include "server/process.h"
#include "store/ids.h"
#include "util/data_dir.h"
#include "util/files.h"

namespace easel::server {
namespace fs = std::filesystem;

namespace {

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

Status RunServer(ServerOptions o) {
  {  // --data-dir, else EASEL_DATA_DIR, else the XDG data dir (one data dir for every command)
    auto dir = ResolveDataDir(o.data_dir);
    if (!dir.ok()) return dir.status();
    o.data_dir = *dir;
  }
  if (o.api_key.empty() && !o.api_key_file.empty()) {
    auto key = ReadFile(o.api_key_file, 4096);
    if (!key.ok()) return key.status();
    o.api_key = Trim(key->substr(0, key->find('\n')));
    if (o.api_key.empty())
      return InvalidArgument("the API key file " + o.api_key_file + " is empty");
  }
  if (!IsLoopbackHost(o.host) && o.api_key.empty())
    return InvalidArgument("--host " + o.host +
                           " lets other machines reach the server: give it an "
                           "API key (--api-key KEY or --api-key-file FILE), or bind 127.0.0.1");
  if (!o.api_key.empty() && o.api_key.size() < 8)
    return InvalidArgument("the API key is shorter than 8 characters: use a longer, random one");
  // The engine's own limits (engine/pipeline/request.h) bound the server's.
  if (o.limits.max_steps < 1 || o.limits.max_steps > 500)
    return InvalidArgument("--max-steps must be 1..500 (the engine's limit)");
  if (o.limits.max_batch < 1 || o.limits.max_batch > 64)
    return InvalidArgument("--max-batch must be 1..64 (the engine's limit)");
  if (o.limits.max_side < 64 || o.limits.max_side > 4096)
    return InvalidArgument("--max-side must be 64..4096 (the engine's limit)");
  if (o.workers.empty()) return InvalidArgument("no workers: give at least one --device");
  std::error_code ec;
  fs::create_directories(o.data_dir, ec);
  if (ec) return IoError("cannot create the data folder " + o.data_dir + ": " + ec.message());
  o.data_dir = fs::absolute(o.data_dir, ec).string();
  if (!o.models_dir.empty()) {
    if (!fs::is_directory(o.models_dir, ec))
      return NotFound("the models folder " + o.models_dir + " does not exist (check --models-dir)");
    o.models_dir = fs::absolute(o.models_dir, ec).string();
    if (o.loras_dir.empty() && fs::is_directory(o.models_dir + "/Lora", ec))
      o.loras_dir = o.models_dir + "/Lora";
  }
  if (!o.loras_dir.empty()) o.loras_dir = fs::absolute(o.loras_dir, ec).string();
  if (!o.embeddings_dir.empty()) o.embeddings_dir = fs::absolute(o.embeddings_dir, ec).string();
  if (o.easel_binary.empty()) o.easel_binary = process::SelfExe();
  if (o.web_dir.empty()) {
    const fs::path guess =
        fs::path(process::SelfExe()).parent_path().parent_path() / "web" / "dist";
    if (fs::is_directory(guess, ec)) o.web_dir = guess.string();
  }

  // Signals are waited for by this thread only: block them before any thread starts.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  ModelCatalog catalog(o.models_dir, o.loras_dir);
  if (!o.default_model.empty()) {
    auto m = catalog.Resolve(o.default_model);
    if (!m.ok()) return m.status();
  }
  Settings settings(o.data_dir + "/options.json", o.default_model);

  // The language model yields memory to image jobs (llm_manager.h); it is made below, once
  // the library (LLM presets) is open, and outlives the orchestrator.
  std::unique_ptr<LlmManager> llm;
  std::atomic<LlmManager*> llm_for_jobs{nullptr};
  OrchestratorOptions oo;
  oo.before_dispatch = [&llm_for_jobs](const std::string& id, const nlohmann::json& request) {
    if (LlmManager* m = llm_for_jobs.load()) m->BeforeImageJob(id, request);
  };
  oo.data_dir = o.data_dir;
  oo.easel_binary = o.easel_binary;
  oo.workers = o.workers;
  oo.max_attempts = o.max_attempts;
  oo.loras_dir = o.loras_dir;
  oo.embeddings_dir = o.embeddings_dir;
  auto orchestrator = Orchestrator::Start(oo, &catalog);
  if (!orchestrator.ok()) return orchestrator.status();

  ApiContext ctx;
  ctx.orchestrator = orchestrator->get();
  ctx.catalog = &catalog;
  ctx.settings = &settings;
  ctx.limits = o.limits;
  ctx.data_dir = o.data_dir;
  ctx.sync_timeout_ms = o.sync_timeout_s * 1000;
  ctx.started_ms = store::NowMs();
  http::Router router;
  AddNativeRoutes(router, ctx);
  AddA1111Routes(router, ctx);
  AddOpenAiRoutes(router, ctx);
  // The model library, presets and styles (library/library_api.h) on the same database.
  auto library = library::LibraryApi::Open(o.data_dir + "/easel.db");
  if (!library.ok()) return library.status();
  AddLibraryRoutes(router, **library);
  ctx.library = library->get();  // jobs naming presets, styles, "model": "auto"; A1111 hashes
  // The language model, the assistant's sessions and their routes (server/api_llm.h).
  o.llm.easel_binary = o.easel_binary;
  if (Status st = OpenServerLlm(o.llm, o.llm_preset, library->get(), o.llm_factory, &llm); !st.ok())
    return st;
  llm_for_jobs = llm.get();
  auto sessions = store::SqliteAssistantStore::Open(o.data_dir + "/easel.db");
  if (!sessions.ok()) return sessions.status();
  LlmContext llm_ctx{&ctx, llm.get(), sessions->get(), o.assistant_max_tool_calls};
  ctx.llm = llm.get();
  AddChatRoutes(router, llm_ctx);
  AddAssistantRoutes(router, llm_ctx);

  HttpServerOptions ho;
  ho.host = o.host;
  ho.port = o.port;
  ho.api_key = o.api_key;
  ho.cors_origins = o.cors_origins;
  ho.max_body_bytes = o.max_body_bytes;
  ho.threads = o.threads;
  ho.web_dir = o.web_dir;
  auto http = HttpServer::Start(ho, std::move(router));
  if (!http.ok()) return http.status();
  const int port = (*http)->port();
  if (!o.port_file.empty()) {
    Status st = WriteFileAtomic(o.port_file, std::to_string(port) + "\n");
    if (!st.ok()) return st;
  }
  std::printf("easel serve: listening on http://%s:%d (%zu worker%s, data in %s)\n", o.host.c_str(),
              port, o.workers.size(), o.workers.size() == 1 ? "" : "s", o.data_dir.c_str());
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::fprintf(stderr, "easel serve: %s: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  (*orchestrator)->Shutdown();  // closes the event hub too: streams end
  (*http)->Stop();
  return Status::Ok();
}

}  // namespace easel::server
