// easel enhance: rewrite a short image prompt into a descriptive one with a language model.
//
//   easel enhance "a cat" [--model PATH] [--style NAME] [--json] [--data-dir DIR]
//                 [--device cpu] [--seed N] [--temp T] [--verbose]
//
// The model: --model, else the data dir's LLM preset named "default" (else its first LLM
// preset), else SmolLM2-135M-Instruct.Q4_1.gguf under <this executable's folder>/share/easel/
// models, else an error saying how to get one. --style names a style of the data dir's
// library (its prompt guides the rewrite); the other style names are listed to the model.
// Prints the new prompt, or with --json {"prompt", "original", "model"}.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "cli/zero_config.h"
#include "llm/torch/builtin_backend.h"
#include "llm/uses/enhance.h"

namespace easel::cli {
namespace {

struct EnhanceCliOptions {
  std::string prompt, model, style, data_dir, device = "cpu";
  uint64_t seed = 0;
  float temperature = 0.7f;
  bool json_out = false, verbose = false;
};

constexpr char kSmolLM2File[] = "SmolLM2-135M-Instruct.Q4_1.gguf";

std::filesystem::path ExeDir() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path() : p.parent_path();
}

// The model to use and where it came from (for --verbose).
Result<std::string> ResolveModel(const EnhanceCliOptions& o, library::LibraryApi* lib,
                                 std::string* origin) {
  if (!o.model.empty()) {
    *origin = "--model";
    return o.model;
  }
  if (lib != nullptr) {
    auto presets = lib->ListPresets(library::Query{{"type", "llm"}});
    if (presets.ok() && presets->contains("presets") && (*presets)["presets"].is_array()) {
      const nlohmann::json* pick = nullptr;
      for (const auto& p : (*presets)["presets"]) {
        if (!p.contains("model_path") || !p["model_path"].is_string()) continue;
        if (pick == nullptr || p.value("name", "") == "default") pick = &p;
      }
      if (pick != nullptr) {
        *origin = "LLM preset '" + pick->value("name", "") + "'";
        return (*pick)["model_path"].get<std::string>();
      }
    }
  }
  const std::filesystem::path bundled = ExeDir() / "share" / "easel" / "models" / kSmolLM2File;
  std::error_code ec;
  if (std::filesystem::exists(bundled, ec)) {
    *origin = "bundled SmolLM2";
    return bundled.string();
  }
  return NotFound(
      "no language model: give --model PATH (a .gguf file or a Hugging Face folder), create an "
      "LLM preset (easel presets create NAME --model-path PATH), or fetch SmolLM2 with "
      "`bash tools/fetch_smollm2.sh " +
      (ExeDir() / "share" / "easel" / "models").string() + "`");
}

}  // namespace

Command AddEnhance(CLI::App& app) {
  auto o = std::make_shared<EnhanceCliOptions>();
  CLI::App* sub = app.add_subcommand("enhance", "Rewrite a short prompt into a descriptive one");
  sub->add_option("prompt", o->prompt, "The prompt")->required();
  sub->add_option("--model", o->model, "A .gguf file or a Hugging Face folder");
  sub->add_option("--style", o->style, "A style of the library to write towards");
  sub->add_option("--data-dir", o->data_dir,
                  "Data folder (default $EASEL_DATA_DIR, else ~/.local/share/easel)");
  sub->add_option("--device", o->device, "cpu, cuda or cuda:N")->capture_default_str();
  sub->add_option("--seed", o->seed, "Sampling seed")->capture_default_str();
  sub->add_option("--temp", o->temperature, "Temperature (0: greedy)")->capture_default_str();
  sub->add_flag("--json", o->json_out, "Print {prompt, original, model} as JSON");
  sub->add_flag("--verbose", o->verbose, "Say which model answered and how fast");
  return [o]() -> Status {
    // The library is optional (styles, presets): a missing data dir is no error here.
    std::unique_ptr<library::LibraryApi> lib;
    if (auto l = OpenLibrary(o->data_dir); l.ok()) lib = std::move(*l);
    llm::StyleHints hints;
    if (lib) {
      if (auto all = lib->ListStyles(); all.ok() && all->contains("styles")) {
        for (const auto& s : (*all)["styles"]) hints.names.push_back(s.value("name", ""));
      }
    }
    if (!o->style.empty()) {
      if (!lib) return NotFound("style '" + o->style + "': no library in the data dir");
      auto s = lib->GetStyle(o->style);
      if (!s.ok()) return s.status();
      hints.selected = o->style;
      hints.selected_prompt = s->value("prompt", "");
    }
    std::string origin;
    auto model = ResolveModel(*o, lib.get(), &origin);
    if (!model.ok()) return model.status();
    llm::BuiltinOptions bo;
    bo.model_path = *model;
    bo.device = o->device;
    bo.context = 2048;
    auto backend = llm::BuiltinBackend::Open(bo);
    if (!backend.ok()) return backend.status();
    llm::EnhanceOptions eo;
    eo.seed = o->seed;
    eo.temperature = o->temperature;
    auto out = llm::EnhancePrompt(**backend, o->prompt, hints, eo);
    if (!out.ok()) return out.status();
    if (o->json_out) {
      std::printf("%s\n",
                  nlohmann::json{{"prompt", *out}, {"original", o->prompt}, {"model", *model}}
                      .dump()
                      .c_str());
    } else {
      std::printf("%s\n", out->c_str());
    }
    if (o->verbose) std::fprintf(stderr, "model: %s (%s)\n", model->c_str(), origin.c_str());
    return Status::Ok();
  };
}

}  // namespace easel::cli
