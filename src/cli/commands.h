// The easel subcommands. Each registers its flags on the CLI11 app and returns the function
// that runs it; errors come back as a Status the entry point prints and maps to an exit code.
#pragma once

#include <functional>

#include "util/status.h"

namespace CLI {
class App;
}

namespace easel::cli {

using Command = std::function<Status()>;

Command AddGenerate(CLI::App& app);
Command AddInspect(CLI::App& app);
Command AddPngInfo(CLI::App& app);
Command AddWorker(CLI::App& app);
Command AddWorkerLlm(CLI::App& worker);  // cmd_worker_llm.cpp: `easel worker llm`
Command AddServe(CLI::App& app);
Command AddModels(CLI::App& app);   // cmd_models.cpp
Command AddPresets(CLI::App& app);  // cmd_presets.cpp
Command AddStyles(CLI::App& app);   // cmd_presets.cpp
Command AddChat(CLI::App& app);     // cmd_chat.cpp
Command AddEnhance(CLI::App& app);  // cmd_enhance.cpp

}  // namespace easel::cli
