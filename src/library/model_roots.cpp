// Install discovery and extra_model_paths.yaml. See model_roots.h.
#include "library/model_roots.h"

#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>

#include "library/classify.h"
#include "library/yaml_lite.h"
#include "util/files.h"

namespace easel::library {
namespace {

namespace fs = std::filesystem;

std::string ExpandHome(const std::string& p, const std::string& home) {
  if (p == "~") return home;
  if (p.rfind("~/", 0) == 0) return home + p.substr(1);
  return p;
}

std::string Absolute(const fs::path& p) {
  std::error_code ec;
  std::string s = fs::absolute(p, ec).lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

bool IsDir(const std::string& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) {
    size_t b = line.find_first_not_of(" \t"), e = line.find_last_not_of(" \t\r");
    if (b != std::string::npos) out.push_back(line.substr(b, e - b + 1));
  }
  return out;
}

}  // namespace

Result<std::vector<ModelRoot>> ParseExtraModelPaths(const std::string& text,
                                                    const std::string& yaml_dir,
                                                    const std::string& home) {
  Result<YamlNode> doc = ParseYaml(text, "extra_model_paths.yaml");
  if (!doc.ok()) return doc.status();
  std::vector<ModelRoot> out;
  if (doc->type == YamlNode::Type::kNull) return out;
  if (doc->type != YamlNode::Type::kMap)
    return Corrupt("extra_model_paths.yaml: expected sections (comfyui:, a111: ...) at the top");
  for (const auto& [section, body] : doc->map) {
    if (body.type == YamlNode::Type::kNull) continue;
    if (body.type != YamlNode::Type::kMap)
      return Corrupt("extra_model_paths.yaml: section '" + section +
                     "' must hold 'key: path' lines (base_path, checkpoints, loras ...)");
    fs::path base = yaml_dir;
    if (const YamlNode* b = body.Find("base_path"); b && b->type == YamlNode::Type::kScalar) {
      fs::path p = ExpandHome(b->scalar, home);
      base = p.is_absolute() ? p : fs::path(yaml_dir) / p;
    }
    for (const auto& [key, value] : body.map) {
      const ModelKind kind = KindOfFolderName(key);
      if (kind == ModelKind::kUnknown) continue;  // base_path, configs, hypernetworks ...
      std::vector<std::string> paths;
      if (value.type == YamlNode::Type::kScalar)
        paths = Lines(value.scalar);
      else if (value.type == YamlNode::Type::kList)
        for (const YamlNode& item : value.list)
          if (item.type == YamlNode::Type::kScalar) paths.push_back(item.scalar);
      for (const std::string& p : paths) {
        fs::path path = ExpandHome(p, home);
        if (!path.is_absolute()) path = base / path;
        out.push_back(ModelRoot{Absolute(path), kind, "extra_model_paths.yaml (" + section + ")"});
      }
    }
  }
  return out;
}

DiscoveryEnv DiscoveryEnvFromProcess() {
  DiscoveryEnv env;
  if (const char* h = std::getenv("HOME")) env.home = h;
  if (const char* v = std::getenv("INVOKEAI_ROOT")) env.invokeai_root = v;
  if (const char* v = std::getenv("COMFYUI_PATH")) env.comfyui_path = v;
  return env;
}

Discovery DiscoverInstalls(const DiscoveryEnv& env) {
  Discovery d;
  std::set<std::string> seen;
  auto add = [&](const std::string& path, ModelKind kind, const std::string& source) {
    if (!IsDir(path)) return;
    const std::string abs = Absolute(path);
    if (seen.insert(abs).second) d.roots.push_back(ModelRoot{abs, kind, source});
  };
  const fs::path home = env.home;
  std::vector<fs::path> comfy = {home / "ComfyUI",
                                 home / "comfyui",
                                 home / "ComfyUI_windows_portable" / "ComfyUI",
                                 home / "src" / "ComfyUI",
                                 home / "git" / "ComfyUI",
                                 home / "AI" / "ComfyUI",
                                 home / "Documents" / "ComfyUI",
                                 "/opt/ComfyUI"};
  if (!env.comfyui_path.empty()) comfy.insert(comfy.begin(), env.comfyui_path);
  std::vector<fs::path> webui = {
      home / "stable-diffusion-webui", home / "stable-diffusion-webui-forge",
      home / "stable-diffusion-webui-reForge", home / "sd-webui-forge", home / "webui-forge"};
  std::vector<fs::path> invoke = {home / "invokeai"};
  if (!env.invokeai_root.empty()) invoke.insert(invoke.begin(), env.invokeai_root);
  for (const std::string& extra : env.extra_dirs) {
    if (IsDir((fs::path(extra) / "models" / "checkpoints").string()))
      comfy.push_back(extra);
    else if (IsDir((fs::path(extra) / "models" / "Stable-diffusion").string()))
      webui.push_back(extra);
    else
      invoke.push_back(extra);
  }
  for (const fs::path& dir : comfy) {
    if (env.home.empty() && dir.is_relative()) continue;
    if (!IsDir((dir / "models").string())) continue;
    const std::string source = "ComfyUI at " + Absolute(dir);
    d.notes.push_back(source);
    add((dir / "models").string(), ModelKind::kUnknown, source);
    const fs::path yaml = dir / "extra_model_paths.yaml";
    std::error_code ec;
    if (!fs::is_regular_file(yaml, ec)) continue;
    Result<std::string> text = ReadFile(yaml.string(), 1u << 20);
    Result<std::vector<ModelRoot>> extra = text.ok()
                                               ? ParseExtraModelPaths(*text, dir.string(), env.home)
                                               : Result<std::vector<ModelRoot>>(text.status());
    if (!extra.ok()) {
      d.notes.push_back("skipped " + yaml.string() + ": " + extra.status().message());
      continue;
    }
    for (const ModelRoot& r : *extra) add(r.path, r.kind, r.source);
  }
  for (const fs::path& dir : webui) {
    if (env.home.empty() && dir.is_relative()) continue;
    if (!IsDir((dir / "models").string())) continue;
    const std::string source = "A1111/Forge at " + Absolute(dir);
    d.notes.push_back(source);
    add((dir / "models").string(), ModelKind::kUnknown, source);
    add((dir / "embeddings").string(), ModelKind::kEmbedding, source);
  }
  for (const fs::path& dir : invoke) {
    if (env.home.empty() && dir.is_relative()) continue;
    if (!IsDir((dir / "models").string())) continue;
    const std::string source = "InvokeAI at " + Absolute(dir);
    d.notes.push_back(source);
    add((dir / "models").string(), ModelKind::kUnknown, source);
  }
  const fs::path matrix = home / "StabilityMatrix" / "Data" / "Models";
  if (!env.home.empty() && IsDir(matrix.string())) {
    d.notes.push_back("Stability Matrix at " + Absolute(matrix));
    add(matrix.string(), ModelKind::kUnknown, "Stability Matrix");
  }
  return d;
}

}  // namespace easel::library
