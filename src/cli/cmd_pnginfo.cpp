// easel png-info FILE [--json]: prints the generation settings stored in a PNG — A1111's
// "parameters" chunk (ours, A1111's, Forge's) and ComfyUI's "prompt"/"workflow" JSON chunks.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "io/infotext.h"
#include "io/png.h"

namespace easel::cli {

Command AddPngInfo(CLI::App& app) {
  struct Opts {
    std::string file;
    bool json = false;
  };
  auto opts = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("png-info", "Print the generation settings stored in a PNG");
  sub->add_option("file", opts->file, "PNG file")->required();
  sub->add_flag("--json", opts->json, "Print JSON: every text chunk, and the parsed parameters");
  return [opts]() -> Status {
    auto chunks = io::ReadPngText(opts->file);
    if (!chunks.ok()) return chunks.status();
    nlohmann::json out = nlohmann::json::object();
    nlohmann::json texts = nlohmann::json::object();
    const std::string* parameters = nullptr;
    for (const auto& [key, value] : *chunks) {
      texts[key] = value;
      if (key == "parameters") parameters = &value;
    }
    if (opts->json) {
      out["chunks"] = texts;
      if (parameters) {
        io::Infotext info = io::ParseInfotext(*parameters);
        nlohmann::json p = {{"prompt", info.prompt}, {"negative_prompt", info.negative_prompt}};
        nlohmann::json settings = nlohmann::json::object();
        for (const auto& [k, v] : info.params) settings[k] = v;
        p["settings"] = settings;
        out["parameters"] = p;
      }
      std::printf("%s\n", out.dump(2).c_str());
      return Status::Ok();
    }
    if (chunks->empty())
      return NotFound(opts->file + " has no text chunks: it holds no generation settings");
    if (parameters) {
      std::printf("%s\n", parameters->c_str());
      return Status::Ok();
    }
    for (const auto& [key, value] : *chunks) {
      std::string shown = value;
      try {  // ComfyUI stores JSON: pretty-print it
        shown = nlohmann::json::parse(value).dump(2);
      } catch (const std::exception&) {
      }
      std::printf("%s:\n%s\n", key.c_str(), shown.c_str());
    }
    return Status::Ok();
  };
}

}  // namespace easel::cli
