// easel inspect PATH [--json]: what a model file or folder is, from its tensor names and
// shapes alone (no weights are read beyond the header, except small tensors for heuristics):
// family, variant, prediction type, components with parameter counts and dtypes, file size,
// and the evidence behind the verdict.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "library/detect.h"

namespace easel::cli {
namespace {

std::string HumanCount(int64_t n) {
  char buf[32];
  if (n >= 1000000000) {
    std::snprintf(buf, sizeof buf, "%.2fB", n / 1e9);
  } else if (n >= 1000000) {
    std::snprintf(buf, sizeof buf, "%.1fM", n / 1e6);
  } else if (n >= 1000) {
    std::snprintf(buf, sizeof buf, "%.1fK", n / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
  }
  return buf;
}

std::string HumanBytes(uint64_t n) {
  char buf[32];
  if (n >= (1ull << 30)) {
    std::snprintf(buf, sizeof buf, "%.2f GiB", n / double(1ull << 30));
  } else if (n >= (1ull << 20)) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", n / double(1ull << 20));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f KiB", n / 1024.0);
  }
  return buf;
}

}  // namespace

Command AddInspect(CLI::App& app) {
  struct Opts {
    std::string path;
    bool json = false;
  };
  auto opts = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("inspect", "Identify a model file or folder");
  sub->add_option("path", opts->path, "Checkpoint, component file or diffusers folder")->required();
  sub->add_flag("--json", opts->json, "Print JSON");
  return [opts]() -> Status {
    auto det = library::DetectPath(opts->path);
    if (!det.ok()) return det.status();
    if (opts->json) {
      std::printf("%s\n", det->ToJson().dump(2).c_str());
      return Status::Ok();
    }
    const library::Detection& d = *det;
    std::printf("path:        %s\n", d.path.c_str());
    std::printf(
        "family:      %s%s%s\n", library::FamilyName(d.family),
        d.variant.empty() ? "" : (" (" + d.variant + ")").c_str(),
        d.family == library::Family::kUnknown || d.Supported() ? "" : "  [not yet supported]");
    std::printf("prediction:  %s\n", library::PredictionName(d.prediction));
    std::printf("layout:      %s\n", library::LayoutName(d.layout));
    std::printf("size:        %s\n", HumanBytes(d.file_size).c_str());
    std::printf("components:\n");
    for (const auto& c : d.components) {
      std::string dtypes;
      for (const auto& [dt, n] : c.dtypes) {
        if (!dtypes.empty()) dtypes += ", ";
        dtypes += dt + " " + HumanCount(n);
      }
      std::printf("  %-16s %8s parameters in %lld tensors (%s)\n", c.name.c_str(),
                  HumanCount(c.parameters).c_str(), static_cast<long long>(c.tensors),
                  dtypes.c_str());
    }
    if (!d.evidence.empty()) {
      std::printf("evidence:\n");
      for (const auto& e : d.evidence) std::printf("  - %s\n", e.c_str());
    }
    return Status::Ok();
  };
}

}  // namespace easel::cli
