// easel presets / easel styles: named model stacks and prompt styles in the data dir.
//   easel presets list [--type image|llm] [--json]
//   easel presets show NAME
//   easel presets create NAME (--checkpoint P | --diffusion-model P) [--vae P] [--clip-l P]
//         [--clip-g P] [--t5xxl P] [--lora P[:W]]... [--width N --height N --steps N --cfg X
//         --sampler S --scheduler S --clip-skip N] [--description T]
//   easel presets create NAME --llm --model-path P [--mmproj P] [--n-ctx N]
//         [--capability C]... [--role R]
//   easel presets edit NAME [any create flag: only those given change] [--clear-loras]
//   easel presets delete NAME
//   easel presets validate NAME | --file FILE
//   easel presets import FILE [--replace]
//   easel presets export [--output FILE]
//   easel styles list [--json] | show NAME | add NAME --prompt T [--negative T] |
//         delete NAME | import styles.csv | export [--output FILE] | apply NAME PROMPT
#include <CLI/CLI.hpp>
#include <cstdio>
#include <tuple>

#include "cli/commands.h"
#include "cli/zero_config.h"
#include "library/styles.h"
#include "util/files.h"

namespace easel::cli {
namespace {

using nlohmann::json;

void PrintJson(const json& j) {
  std::printf("%s\n", j.dump(2).c_str());
}

struct PresetOpts {
  std::string data_dir, name, type, file, output;
  bool json_out = false, llm = false, replace = false, clear_loras = false;
  // image
  std::string checkpoint, diffusion_model, vae, clip_l, clip_g, t5xxl, description, sampler,
      scheduler;
  std::vector<std::string> loras;
  int width = 0, height = 0, steps = 0, clip_skip = 0;
  double cfg = 0;
  // llm
  std::string model_path, mmproj, role;
  int n_ctx = 0;
  std::vector<std::string> capabilities;
};

// The preset fields the user gave on the command line, as JSON (for create and edit).
Result<json> FieldsFromFlags(const PresetOpts& o, const CLI::App& sub) {
  auto given = [&](const char* flag) {
    const CLI::Option* opt = sub.get_option_no_throw(flag);
    return opt && opt->count() > 0;
  };
  json j = json::object();
  if (given("--description")) j["description"] = o.description;
  if (o.llm || given("--model-path")) {
    j["type"] = "llm";
    if (given("--model-path")) j["model_path"] = o.model_path;
    if (given("--mmproj")) j["mmproj_path"] = o.mmproj;
    if (given("--n-ctx")) j["n_ctx"] = o.n_ctx;
    if (given("--capability")) j["capabilities"] = o.capabilities;
    if (given("--role")) j["role"] = o.role;
    return j;
  }
  for (const auto& [flag, key, value] :
       std::vector<std::tuple<const char*, const char*, std::string>>{
           {"--checkpoint", "checkpoint", o.checkpoint},
           {"--diffusion-model", "diffusion_model", o.diffusion_model},
           {"--vae", "vae", o.vae},
           {"--clip-l", "clip_l", o.clip_l},
           {"--clip-g", "clip_g", o.clip_g},
           {"--t5xxl", "t5xxl", o.t5xxl}})
    if (given(flag)) j[key] = value;
  if (given("--lora") || o.clear_loras) {
    json loras = json::array();
    for (const std::string& l : o.loras) {
      // PATH[:WEIGHT]: the weight is what follows the last ':' when it parses as a number.
      const size_t colon = l.rfind(':');
      double w = 1.0;
      std::string path = l;
      if (colon != std::string::npos && colon > 0) {
        char* end = nullptr;
        const double v = std::strtod(l.c_str() + colon + 1, &end);
        if (end && *end == '\0' && end != l.c_str() + colon + 1) {
          w = v;
          path = l.substr(0, colon);
        }
      }
      loras.push_back({{"path", path}, {"weight", w}});
    }
    j["loras"] = loras;
  }
  json params = json::object();
  if (given("--width")) params["width"] = o.width;
  if (given("--height")) params["height"] = o.height;
  if (given("--steps")) params["steps"] = o.steps;
  if (given("--cfg")) params["cfg"] = o.cfg;
  if (given("--sampler")) params["sampler"] = o.sampler;
  if (given("--scheduler")) params["scheduler"] = o.scheduler;
  if (given("--clip-skip")) params["clip_skip"] = o.clip_skip;
  if (!params.empty()) j["params"] = params;
  return j;
}

void AddPresetFlags(CLI::App* s, PresetOpts& o) {
  s->add_option("--checkpoint", o.checkpoint, "Checkpoint file or diffusers folder");
  s->add_option("--diffusion-model", o.diffusion_model,
                "Diffusion model (UNet / transformer) alone");
  s->add_option("--vae", o.vae, "VAE file");
  s->add_option("--clip-l", o.clip_l, "CLIP-L text encoder");
  s->add_option("--clip-g", o.clip_g, "CLIP-G text encoder");
  s->add_option("--t5xxl", o.t5xxl, "T5-XXL text encoder");
  s->add_option("--lora", o.loras, "LoRA PATH[:WEIGHT], repeatable");
  s->add_option("--width", o.width, "Preferred width");
  s->add_option("--height", o.height, "Preferred height");
  s->add_option("--steps", o.steps, "Preferred steps");
  s->add_option("--cfg", o.cfg, "Preferred CFG scale");
  s->add_option("--sampler", o.sampler, "Preferred sampler");
  s->add_option("--scheduler", o.scheduler, "Preferred scheduler");
  s->add_option("--clip-skip", o.clip_skip, "Preferred clip skip");
  s->add_option("--description", o.description, "Free text");
  s->add_flag("--llm", o.llm, "An LLM preset (model + vision projector)");
  s->add_option("--model-path", o.model_path, "LLM: the .gguf model");
  s->add_option("--mmproj", o.mmproj, "LLM: the vision projector");
  s->add_option("--n-ctx", o.n_ctx, "LLM: context size");
  s->add_option("--capability", o.capabilities,
                "LLM: chat, tagging, vision, tool_use, embedding (repeatable)");
  s->add_option("--role", o.role, "LLM: its role, e.g. \"Background Tagger\"");
}

void PrintPreset(const json& p) {
  std::printf("%s (%s%s)\n", p.value("name", "").c_str(), p.value("type", "image").c_str(),
              p.value("family", "").empty() ? "" : (", " + p.value("family", "")).c_str());
  for (const auto& [k, v] : p.items()) {
    if (k == "name" || k == "type" || k == "family") continue;
    if ((v.is_string() && v.get<std::string>().empty()) || (v.is_array() && v.empty()) ||
        (v.is_object() && v.empty()))
      continue;
    std::printf("  %-16s %s\n", k.c_str(),
                v.is_string() ? v.get<std::string>().c_str() : v.dump().c_str());
  }
}

}  // namespace

Command AddPresets(CLI::App& app) {
  auto o = std::make_shared<PresetOpts>();
  CLI::App* presets =
      app.add_subcommand("presets", "Model stacks: create, edit, validate, import, export");
  presets->require_subcommand(1);
  presets->fallthrough();
  presets->add_option("--data-dir", o->data_dir,
                      "Data folder (default $EASEL_DATA_DIR, else ~/.local/share/easel)");
  CLI::App* list = presets->add_subcommand("list", "List presets");
  list->add_option("--type", o->type, "image or llm");
  list->add_flag("--json", o->json_out, "JSON output");
  CLI::App* show = presets->add_subcommand("show", "Show a preset as JSON");
  show->add_option("name", o->name)->required();
  CLI::App* create = presets->add_subcommand("create", "Create a preset (validated)");
  create->add_option("name", o->name)->required();
  create->add_option("--file", o->file, "Read the preset from a JSON file instead of flags");
  AddPresetFlags(create, *o);
  CLI::App* edit = presets->add_subcommand("edit", "Change a preset's given fields (validated)");
  edit->add_option("name", o->name)->required();
  edit->add_flag("--clear-loras", o->clear_loras, "Remove its LoRAs (with --lora: replace them)");
  AddPresetFlags(edit, *o);
  CLI::App* del = presets->add_subcommand("delete", "Delete a preset");
  del->add_option("name", o->name)->required();
  CLI::App* validate = presets->add_subcommand("validate", "Check a stored preset or a JSON file");
  validate->add_option("name", o->name);
  validate->add_option("--file", o->file, "A preset JSON file");
  CLI::App* import = presets->add_subcommand("import", "Import presets from a JSON file");
  import->add_option("file", o->file)->required();
  import->add_flag("--replace", o->replace, "Overwrite presets of the same name");
  CLI::App* exp = presets->add_subcommand("export", "Export every preset as JSON");
  exp->add_option("--output,-o", o->output, "File to write (default: standard output)");

  return [=]() -> Status {
    auto lib_r = OpenLibrary(o->data_dir);
    if (!lib_r.ok()) return lib_r.status();
    library::LibraryApi& lib = **lib_r;
    if (list->parsed()) {
      auto r =
          lib.ListPresets(o->type.empty() ? library::Query{} : library::Query{{"type", o->type}});
      if (!r.ok()) return r.status();
      if (o->json_out)
        PrintJson(*r);
      else if ((*r)["presets"].empty())
        std::printf("no presets: create one with `easel presets create`\n");
      else
        for (const auto& p : (*r)["presets"])
          std::printf("%-24s %-5s %-7s %6lld MB  %s\n", p["name"].get<std::string>().c_str(),
                      p["type"].get<std::string>().c_str(), p.value("family", "").c_str(),
                      static_cast<long long>(p.value("vram_weights_mb", int64_t{0})),
                      p.value("checkpoint", p.value("model_path", "")).c_str());
      return Status::Ok();
    }
    if (show->parsed()) {
      auto r = lib.GetPreset(o->name);
      if (!r.ok()) return r.status();
      PrintJson(*r);
      return Status::Ok();
    }
    if (create->parsed() || edit->parsed()) {
      json fields;
      if (!o->file.empty()) {
        auto text = ReadFile(o->file, 16u << 20);
        if (!text.ok()) return text.status();
        fields = json::parse(*text, nullptr, false);
        if (fields.is_discarded()) return InvalidArgument(o->file + " is not valid JSON");
        fields["name"] = o->name;
      } else {
        auto f = FieldsFromFlags(*o, create->parsed() ? *create : *edit);
        if (!f.ok()) return f.status();
        fields = *f;
        fields["name"] = o->name;
      }
      auto r = create->parsed() ? lib.CreatePreset(fields) : lib.UpdatePreset(o->name, fields);
      if (!r.ok()) return r.status();
      std::printf("%s preset %s\n", create->parsed() ? "created" : "updated", o->name.c_str());
      PrintPreset(*r);
      return Status::Ok();
    }
    if (del->parsed()) {
      auto r = lib.DeletePreset(o->name);
      if (!r.ok()) return r.status();
      std::printf("deleted preset %s\n", o->name.c_str());
      return Status::Ok();
    }
    if (validate->parsed()) {
      json preset;
      if (!o->file.empty()) {
        auto text = ReadFile(o->file, 16u << 20);
        if (!text.ok()) return text.status();
        preset = json::parse(*text, nullptr, false);
        if (preset.is_discarded()) return InvalidArgument(o->file + " is not valid JSON");
      } else {
        if (o->name.empty()) return InvalidArgument("give a preset NAME or --file FILE");
        auto p = lib.GetPreset(o->name);
        if (!p.ok()) return p.status();
        preset = *p;
      }
      auto r = lib.ValidatePreset(preset);
      if (!r.ok()) return r.status();
      if ((*r)["valid"]) {
        std::printf("valid: %s, %lld MB of weights\n", (*r)["preset"].value("family", "").c_str(),
                    static_cast<long long>((*r)["preset"].value("vram_weights_mb", int64_t{0})));
        return Status::Ok();
      }
      std::string msg = "preset is not valid:";
      for (const auto& p : (*r)["problems"])
        msg += "\n  " + p["field"].get<std::string>() + ": " + p["message"].get<std::string>();
      return InvalidArgument(msg);
    }
    if (import->parsed()) {
      auto text = ReadFile(o->file, 64u << 20);
      if (!text.ok()) return text.status();
      json doc = json::parse(*text, nullptr, false);
      if (doc.is_discarded()) return InvalidArgument(o->file + " is not valid JSON");
      if (o->replace) {
        if (doc.is_array())
          doc = json{{"presets", doc}};
        else if (!doc.contains("presets"))
          doc = json{{"presets", json::array({doc})}};
        doc["replace"] = true;
      }
      auto r = lib.ImportPresets(doc);
      if (!r.ok()) return r.status();
      std::printf("imported %zu presets\n", (*r)["imported"].size());
      for (const auto& f : (*r)["failed"])
        std::printf("  not imported: %s: %s\n", f["name"].get<std::string>().c_str(),
                    f["error"].get<std::string>().c_str());
      return (*r)["failed"].empty() ? Status::Ok()
                                    : InvalidArgument("some presets were not imported");
    }
    if (exp->parsed()) {
      auto r = lib.ExportPresets();
      if (!r.ok()) return r.status();
      if (o->output.empty())
        PrintJson(*r);
      else {
        EASEL_RETURN_IF_ERROR(WriteFileAtomic(o->output, r->dump(2) + "\n"));
        std::printf("wrote %zu presets to %s\n", (*r)["presets"].size(), o->output.c_str());
      }
      return Status::Ok();
    }
    return InvalidArgument("easel presets: give a subcommand");
  };
}

Command AddStyles(CLI::App& app) {
  struct Opts {
    std::string data_dir, name, prompt, negative, file, output;
    bool json_out = false, replace = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* styles =
      app.add_subcommand("styles", "Prompt styles: list, add, import A1111 styles.csv, apply");
  styles->require_subcommand(1);
  styles->fallthrough();
  styles->add_option("--data-dir", o->data_dir,
                     "Data folder (default $EASEL_DATA_DIR, else ~/.local/share/easel)");
  CLI::App* list = styles->add_subcommand("list", "List styles");
  list->add_flag("--json", o->json_out, "JSON output");
  CLI::App* show = styles->add_subcommand("show", "Show a style");
  show->add_option("name", o->name)->required();
  CLI::App* add = styles->add_subcommand(
      "add", "Add or replace a style ({prompt} marks where the prompt goes)");
  add->add_option("name", o->name)->required();
  add->add_option("--prompt", o->prompt, "Positive snippet")->required();
  add->add_option("--negative", o->negative, "Negative snippet");
  CLI::App* del = styles->add_subcommand("delete", "Delete a style");
  del->add_option("name", o->name)->required();
  CLI::App* import = styles->add_subcommand("import", "Import an A1111 styles.csv");
  import->add_option("file", o->file)->required();
  CLI::App* exp = styles->add_subcommand("export", "Write the styles as an A1111 styles.csv");
  exp->add_option("--output,-o", o->output, "File to write (default: standard output)");
  CLI::App* apply = styles->add_subcommand("apply", "Print a prompt with a style applied");
  apply->add_option("name", o->name)->required();
  apply->add_option("prompt", o->prompt)->required();
  apply->add_option("--negative", o->negative, "Negative prompt");

  return [=]() -> Status {
    auto lib_r = OpenLibrary(o->data_dir);
    if (!lib_r.ok()) return lib_r.status();
    library::LibraryApi& lib = **lib_r;
    if (list->parsed()) {
      auto r = lib.ListStyles();
      if (!r.ok()) return r.status();
      if (o->json_out)
        PrintJson(*r);
      else
        for (const auto& s : (*r)["styles"])
          std::printf("%-24s %s\n", s["name"].get<std::string>().c_str(),
                      s["prompt"].get<std::string>().c_str());
      return Status::Ok();
    }
    if (show->parsed()) {
      auto r = lib.GetStyle(o->name);
      if (!r.ok()) return r.status();
      PrintJson(*r);
      return Status::Ok();
    }
    if (add->parsed()) {
      auto r = lib.PutStyle(o->name, {{"prompt", o->prompt}, {"negative_prompt", o->negative}});
      if (!r.ok()) return r.status();
      std::printf("saved style %s\n", o->name.c_str());
      return Status::Ok();
    }
    if (del->parsed()) {
      auto r = lib.DeleteStyle(o->name);
      if (!r.ok()) return r.status();
      std::printf("deleted style %s\n", o->name.c_str());
      return Status::Ok();
    }
    if (import->parsed()) {
      auto text = ReadFile(o->file, 64u << 20);
      if (!text.ok()) return text.status();
      auto r = lib.ImportStylesCsv(*text, o->file);
      if (!r.ok()) return r.status();
      std::printf("imported %lld styles from %s\n",
                  static_cast<long long>((*r)["imported"].get<int64_t>()), o->file.c_str());
      return Status::Ok();
    }
    if (exp->parsed()) {
      auto all = lib.presets().ListStyles();
      if (!all.ok()) return all.status();
      const std::string csv = library::WriteStylesCsv(*all);
      if (o->output.empty())
        std::fputs(csv.c_str(), stdout);
      else
        EASEL_RETURN_IF_ERROR(WriteFileAtomic(o->output, csv));
      return Status::Ok();
    }
    if (apply->parsed()) {
      auto r = lib.ApplyStyle(
          {{"style", o->name}, {"prompt", o->prompt}, {"negative_prompt", o->negative}});
      if (!r.ok()) return r.status();
      std::printf("prompt: %s\nnegative: %s\n", (*r)["prompt"].get<std::string>().c_str(),
                  (*r)["negative_prompt"].get<std::string>().c_str());
      return Status::Ok();
    }
    return InvalidArgument("easel styles: give a subcommand");
  };
}

}  // namespace easel::cli
