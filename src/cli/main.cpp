// easel: the command-line entry point. Parses the subcommand, runs it, prints any error as
// one line on stderr and maps its code to an exit status:
//   0 ok, 1 internal, 2 invalid argument, 3 not found, 4 corrupt/unsupported, 5 i/o,
//   6 out of memory, 130 cancelled.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "cli/commands.h"

namespace {

int ExitCode(easel::Code code) {
  switch (code) {
    case easel::Code::kOk: return 0;
    case easel::Code::kInvalidArgument: return 2;
    case easel::Code::kNotFound: return 3;
    case easel::Code::kCorrupt:
    case easel::Code::kUnsupported: return 4;
    case easel::Code::kIo: return 5;
    case easel::Code::kOutOfMemory: return 6;
    case easel::Code::kCancelled: return 130;
    case easel::Code::kInternal: return 1;
  }
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"easel: a local Stable Diffusion studio"};
  app.require_subcommand(1);
  const std::vector<std::pair<std::string, easel::cli::Command>> commands = {
      {"generate", easel::cli::AddGenerate(app)}, {"inspect", easel::cli::AddInspect(app)},
      {"png-info", easel::cli::AddPngInfo(app)},  {"worker", easel::cli::AddWorker(app)},
      {"serve", easel::cli::AddServe(app)},       {"models", easel::cli::AddModels(app)},
      {"presets", easel::cli::AddPresets(app)},   {"styles", easel::cli::AddStyles(app)},
      {"chat", easel::cli::AddChat(app)},         {"enhance", easel::cli::AddEnhance(app)},
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 prints the problem; every usage error is exit code 2, help is 0.
    return app.exit(e) == 0 ? 0 : 2;
  }
  for (const auto& [name, cmd] : commands) {
    if (!app.got_subcommand(name)) continue;
    easel::Status st = easel::CatchAll([&] {
      easel::Status inner = cmd();
      if (!inner.ok()) throw easel::Error(inner);
    });
    if (!st.ok()) {
      std::fprintf(stderr, "easel: %s\n", st.ToString().c_str());
      return ExitCode(st.code());
    }
    return 0;
  }
  return 2;
}
