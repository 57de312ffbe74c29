// easel models: the model library of the data dir.
//   easel models scan [DIR...] [--discover] [--hash]   index folders (remembered for next time)
//   easel models list [--json] [--kind K] [--family F] [--tag T] [--search S] [--errors]
//   easel models show PATH|HASH [--json]               one record, with its evidence
//   easel models roots [--forget DIR]                  the remembered folders
//   easel models hash                                  hash the files not hashed yet
//   easel models select PROMPT [--style S] [--quality Q] [--json]   what generate would pick
//   easel models civitai on|off|status                  opt-in CivitAI lookups by hash
//     (scan --civitai looks up once; with the switch on every scan does; $EASEL_CIVITAI_URL
//     points lookups at a mirror)
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "cli/zero_config.h"
#include "library/civitai.h"
#include "library/civitai_http.h"
#include "library/hasher.h"
#include "library/model_roots.h"
#include "library/scanner.h"
#include "library/selection.h"
#include "util/data_dir.h"

namespace easel::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string HumanSize(int64_t bytes) {
  char buf[32];
  if (bytes >= (int64_t{1} << 30))
    std::snprintf(buf, sizeof(buf), "%.1f GB", bytes / 1073741824.0);
  else if (bytes >= (1 << 20))
    std::snprintf(buf, sizeof(buf), "%.0f MB", bytes / 1048576.0);
  else
    std::snprintf(buf, sizeof(buf), "%.0f kB", bytes / 1024.0);
  return buf;
}

void PrintJson(const json& j) {
  std::printf("%s\n", j.dump(2, ' ', false, json::error_handler_t::replace).c_str());
}

struct Opts {
  std::string data_dir;
  std::vector<std::string> dirs;
  bool discover = false, hash = false, json_out = false, errors = false, quiet = false;
  bool civitai = false;
  std::string kind, family, tag, search, target, forget, style, quality, prompt, civitai_action;
};

Status Scan(Opts& o) {
  auto lib = OpenLibrary(o.data_dir);
  if (!lib.ok()) return lib.status();
  auto& index = (*lib)->index();
  std::vector<library::ModelRoot> add;
  for (const std::string& d : o.dirs) {
    std::error_code ec;
    if (!fs::is_directory(d, ec))
      return NotFound(d + " is not a folder: give the folder that holds your models");
    add.push_back(
        {fs::absolute(d).lexically_normal().string(), library::ModelKind::kUnknown, "user"});
  }
  auto known = index.Roots();
  if (!known.ok()) return known.status();
  if (o.discover || (add.empty() && known->empty())) {
    library::Discovery d = library::DiscoverInstalls(library::DiscoveryEnvFromProcess());
    for (const auto& n : d.notes) std::fprintf(stderr, "found %s\n", n.c_str());
    if (d.roots.empty() && add.empty())
      return NotFound(
          "no ComfyUI, A1111/Forge or InvokeAI install found under $HOME: give the "
          "models folder, e.g. `easel models scan ~/ComfyUI/models`");
    add.insert(add.end(), d.roots.begin(), d.roots.end());
  }
  for (auto& r : add)
    while (r.path.size() > 1 && r.path.back() == '/') r.path.pop_back();
  EASEL_RETURN_IF_ERROR(index.AddRoots(add));
  // Only the named folders when some are named; every remembered one otherwise.
  std::vector<library::ModelRoot> roots = add;
  if (roots.empty()) roots = *index.Roots();
  library::ScanOptions so;
  const bool tty = !o.quiet && ::isatty(STDERR_FILENO);
  if (tty)
    so.on_file = [](const std::string& path, int64_t n) {
      if (n % 25 == 0)
        std::fprintf(stderr, "\rread %lld files: %s\033[K", static_cast<long long>(n),
                     fs::path(path).filename().c_str());
    };
  auto report = library::ScanFolders(roots, index, so);
  if (tty) std::fprintf(stderr, "\r\033[K");
  if (!report.ok()) return report.status();
  json out = report->ToJson();
  auto data_dir = EnsureDataDir(o.data_dir);
  if (!data_dir.ok()) return data_dir.status();
  auto civitai_on = library::CivitaiEnabled(*data_dir);
  if (!civitai_on.ok()) return civitai_on.status();
  const bool lookups = o.civitai || *civitai_on;
  if (o.hash || lookups) {  // lookups go by hash
    auto h = library::HashPending(index, 0, nullptr, [&](const std::string& p) {
      if (tty) std::fprintf(stderr, "\rhashing %s\033[K", fs::path(p).filename().c_str());
    });
    if (tty) std::fprintf(stderr, "\r\033[K");
    if (!h.ok()) return h.status();
    out["hashed"] = h->hashed;
  }
  if (lookups) {
    auto transport = library::MakeHttpTransport(library::CivitaiOriginFromEnv());
    if (!transport.ok()) return transport.status();
    library::CivitaiOptions co;
    co.enabled = true;
    co.base_url = library::CivitaiOriginFromEnv();
    while (!co.base_url.empty() && co.base_url.back() == '/') co.base_url.pop_back();
    library::CivitaiClient client(co, transport->get(), &index);
    if (tty) std::fprintf(stderr, "looking up models on CivitAI (by hash)...\r");
    auto e = library::EnrichLibrary(index, client);
    if (tty) std::fprintf(stderr, "\r\033[K");
    if (!e.ok()) return e.status();
    out["civitai"] = {{"considered", e->considered},
                      {"enriched", e->enriched},
                      {"unknown", e->unknown},
                      {"requests", e->requests},
                      {"stopped", e->stopped}};
    if (!e->stopped.empty()) std::fprintf(stderr, "easel: %s\n", e->stopped.c_str());
  }
  if (o.json_out) {
    PrintJson(out);
    return Status::Ok();
  }
  std::printf(
      "scanned %lld files in %zu folders in %.2f s: %lld new, %lld changed, %lld removed, "
      "%lld unchanged, %lld unreadable\n",
      static_cast<long long>(report->files), roots.size(), report->seconds,
      static_cast<long long>(report->added), static_cast<long long>(report->updated),
      static_cast<long long>(report->removed), static_cast<long long>(report->unchanged),
      static_cast<long long>(report->errors));
  for (const auto& m : report->missing_roots)
    std::printf("  missing folder (kept its entries): %s\n", m.c_str());
  if (out.contains("hashed"))
    std::printf("hashed %lld files\n", static_cast<long long>(out["hashed"].get<int64_t>()));
  if (out.contains("civitai"))
    std::printf(
        "CivitAI: %lld models looked up (%lld over the network): %lld enriched, %lld "
        "unknown there%s\n",
        static_cast<long long>(out["civitai"]["considered"].get<int64_t>()),
        static_cast<long long>(out["civitai"]["requests"].get<int64_t>()),
        static_cast<long long>(out["civitai"]["enriched"].get<int64_t>()),
        static_cast<long long>(out["civitai"]["unknown"].get<int64_t>()),
        out["civitai"]["stopped"].get<std::string>().empty()
            ? ""
            : "; stopped early (offline: see the message above)");
  if (report->errors) {
    store::ModelFilter f;
    f.errors_only = true;
    f.limit = 20;
    auto bad = index.List(f);
    if (bad.ok())
      for (const auto& r : *bad)
        std::printf("  unreadable: %s: %s\n", r.path.c_str(), r.error.c_str());
  }
  return Status::Ok();
}

Status List(Opts& o) {
  auto lib = OpenLibrary(o.data_dir);
  if (!lib.ok()) return lib.status();
  library::Query q;
  if (!o.kind.empty()) q["kind"] = o.kind;
  if (!o.family.empty()) q["family"] = o.family;
  if (!o.tag.empty()) q["tag"] = o.tag;
  if (!o.search.empty()) q["q"] = o.search;
  if (o.errors) q["errors"] = "1";
  auto r = (*lib)->ListModels(q);
  if (!r.ok()) return r.status();
  if (o.json_out) {
    PrintJson(*r);
    return Status::Ok();
  }
  const json& models = (*r)["models"];
  if (models.empty()) {
    std::printf("no models%s: run `easel models scan DIR`\n",
                q.empty() ? " in the library" : " match");
    return Status::Ok();
  }
  std::printf("%-20s %-7s %-9s %-10s %s\n", "KIND", "FAMILY", "SIZE", "AUTOV2", "PATH");
  for (const json& m : models) {
    std::string kind = m["kind"];
    if (!m["subtype"].get<std::string>().empty()) kind += "/" + m["subtype"].get<std::string>();
    std::printf(
        "%-20s %-7s %-9s %-10s %s%s\n", kind.c_str(), m["family"].get<std::string>().c_str(),
        HumanSize(m["size"]).c_str(),
        m["autov2"].get<std::string>().empty() ? "-" : m["autov2"].get<std::string>().c_str(),
        m["path"].get<std::string>().c_str(),
        m["error"].get<std::string>().empty()
            ? ""
            : ("  [" + m["error"].get<std::string>() + "]").c_str());
  }
  std::printf("%zu models\n", models.size());
  return Status::Ok();
}

Status Show(Opts& o) {
  auto lib = OpenLibrary(o.data_dir);
  if (!lib.ok()) return lib.status();
  std::error_code ec;
  const bool is_path = fs::exists(o.target, ec);
  library::Query q;
  q[is_path ? "path" : "hash"] =
      is_path ? fs::absolute(o.target).lexically_normal().string() : o.target;
  auto r = (*lib)->GetModel(q);
  if (!r.ok()) return r.status();
  if (o.json_out) {
    PrintJson(*r);
    return Status::Ok();
  }
  const json& m = *r;
  auto line = [&](const char* label, const json& v) {
    std::string s = v.is_string() ? v.get<std::string>() : v.dump();
    if (!s.empty() && s != "[]" && s != "{}" && s != "-1")
      std::printf("%-14s %s\n", label, s.c_str());
  };
  line("path", m["path"]);
  line("kind", m["kind"]);
  line("subtype", m["subtype"]);
  line("family", m["family"]);
  line("size", HumanSize(m["size"]));
  line("sha256", m["sha256"]);
  line("autov2", m["autov2"]);
  line("error", m["error"]);
  line("title", m["title"]);
  line("base model", m["base_model"]);
  line("tags", m["tags"]);
  line("trigger words", m["trigger_words"]);
  line("preview", m["preview"]);
  line("downloads", m["downloads"]);
  line("params", m["params"]);
  line("sidecars", m["sources"]);
  for (const auto& e : m["evidence"]) std::printf("  - %s\n", e.get<std::string>().c_str());
  return Status::Ok();
}

Status Roots(Opts& o) {
  auto lib = OpenLibrary(o.data_dir);
  if (!lib.ok()) return lib.status();
  if (!o.forget.empty()) {
    const std::string p = fs::absolute(o.forget).lexically_normal().string();
    EASEL_RETURN_IF_ERROR((*lib)->index().RemoveRoot(p));
    std::printf("forgot %s and its entries\n", p.c_str());
    return Status::Ok();
  }
  auto r = (*lib)->Roots();
  if (!r.ok()) return r.status();
  for (const auto& root : (*r)["roots"])
    std::printf("%s  (%s; %s)\n", root["path"].get<std::string>().c_str(),
                root["kind"].get<std::string>().c_str(), root["source"].get<std::string>().c_str());
  return Status::Ok();
}

Status Hash(Opts& o) {
  auto lib = OpenLibrary(o.data_dir);
  if (!lib.ok()) return lib.status();
  auto h = library::HashPending((*lib)->index(), 0, nullptr, [&](const std::string& p) {
    if (!o.quiet) std::fprintf(stderr, "hashing %s\n", p.c_str());
  });
  if (!h.ok()) return h.status();
  std::printf("hashed %lld files (%s), %lld changed on disk and left for the next scan\n",
              static_cast<long long>(h->hashed), HumanSize(h->bytes).c_str(),
              static_cast<long long>(h->skipped));
  return Status::Ok();
}

Status Civitai(Opts& o) {
  auto dir = EnsureDataDir(o.data_dir);
  if (!dir.ok()) return dir.status();
  if (o.civitai_action == "on" || o.civitai_action == "off") {
    EASEL_RETURN_IF_ERROR(library::SetCivitaiEnabled(*dir, o.civitai_action == "on"));
  } else if (o.civitai_action != "status") {
    return InvalidArgument("easel models civitai: give on, off or status, not '" +
                           o.civitai_action + "'");
  }
  auto on = library::CivitaiEnabled(*dir);
  if (!on.ok()) return on.status();
  if (*on)
    std::printf(
        "CivitAI lookups: on. Scans send the SHA-256 of each model file (nothing else, no "
        "key) to %s/api/v1/model-versions/by-hash/..., at most one request a second, answers "
        "cached for 24 h. `easel models civitai off` stops them.\n",
        library::CivitaiOriginFromEnv().c_str());
  else
    std::printf(
        "CivitAI lookups: off (the default): nothing leaves this machine. `easel models "
        "civitai on` looks models up by hash on every scan; `easel models scan --civitai` "
        "does it once.\n");
  return Status::Ok();
}

Status Select(Opts& o) {
  auto lib = OpenLibrary(o.data_dir);
  if (!lib.ok()) return lib.status();
  auto r = (*lib)->Select({{"prompt", o.prompt},
                           {"style", o.style},
                           {"quality", o.quality},
                           {"require_supported", false}});
  if (!r.ok()) return r.status();
  if (o.json_out)
    PrintJson(*r);
  else
    for (const auto& line : (*r)["explanation"])
      std::printf("%s\n", line.get<std::string>().c_str());
  return Status::Ok();
}

}  // namespace

Command AddModels(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  CLI::App* models = app.add_subcommand("models", "The model library: scan, list, show");
  models->require_subcommand(1);
  models->fallthrough();  // --data-dir after the subcommand too
  models->add_option("--data-dir", o->data_dir,
                     "Data folder (default $EASEL_DATA_DIR, else ~/.local/share/easel)");
  CLI::App* scan = models->add_subcommand("scan", "Index model folders (and remember them)");
  scan->add_option("dirs", o->dirs,
                   "Folders to scan (default: the remembered ones, or the installs found)");
  scan->add_flag("--discover", o->discover,
                 "Also find ComfyUI / A1111 / InvokeAI installs under $HOME");
  scan->add_flag("--hash", o->hash, "Compute SHA-256 / AutoV2 of new files now");
  scan->add_flag("--json", o->json_out, "Print the report as JSON");
  scan->add_flag("--quiet,-q", o->quiet, "No progress line");
  scan->add_flag("--civitai", o->civitai,
                 "Look the models up on CivitAI by hash, this once (see `easel models civitai`)");
  CLI::App* list = models->add_subcommand("list", "List indexed models");
  list->add_flag("--json", o->json_out, "JSON output");
  list->add_option(
      "--kind", o->kind,
      "checkpoint, diffusion_model, vae, text_encoder, lora, embedding, controlnet, upscaler");
  list->add_option("--family", o->family, "SD1, SD2, SDXL, SD3, Flux, unknown");
  list->add_option("--tag", o->tag, "Only models with this tag");
  list->add_option("--search", o->search, "Substring of the name or path");
  list->add_flag("--errors", o->errors, "Only unreadable files");
  CLI::App* show =
      models->add_subcommand("show", "One model's record and why it was classified so");
  show->add_option("target", o->target, "Path, SHA-256 or AutoV2 hash")->required();
  show->add_flag("--json", o->json_out, "JSON output");
  CLI::App* roots = models->add_subcommand("roots", "The folders scans walk");
  roots->add_option("--forget", o->forget, "Forget this folder and its entries");
  CLI::App* hash = models->add_subcommand("hash", "Hash indexed files that have no hash yet");
  hash->add_flag("--quiet,-q", o->quiet, "No per-file lines");
  CLI::App* select =
      models->add_subcommand("select", "Show what zero-config generation would choose");
  select->add_option("prompt", o->prompt, "The prompt")->required();
  select->add_option("--style", o->style, "anime, realistic, artistic, 3d");
  select->add_option("--quality", o->quality, "fast, balanced, high, ultra");
  select->add_flag("--json", o->json_out, "JSON output");
  CLI::App* civitai = models->add_subcommand(
      "civitai", "Opt-in CivitAI metadata lookups by hash: on, off or status (off by default)");
  civitai->add_option("action", o->civitai_action, "on, off or status")
      ->required()
      ->check(CLI::IsMember({"on", "off", "status"}));
  return [o, scan, list, show, roots, hash, select, civitai]() -> Status {
    if (civitai->parsed()) return Civitai(*o);
    if (scan->parsed()) return Scan(*o);
    if (list->parsed()) return List(*o);
    if (show->parsed()) return Show(*o);
    if (roots->parsed()) return Roots(*o);
    if (hash->parsed()) return Hash(*o);
    if (select->parsed()) return Select(*o);
    return InvalidArgument(
        "easel models: give a subcommand (scan, list, show, roots, hash, select, civitai)");
  };
}

}  // namespace easel::cli
