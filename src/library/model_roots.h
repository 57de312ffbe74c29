// Where model files live: the folders of ComfyUI, A1111 / Forge and InvokeAI installs in the
// usual places under $HOME, the folders ComfyUI's extra_model_paths.yaml adds, and folders
// the user names. The scanner walks these roots; the kind a root stands for (from the YAML
// key, "loras: /mnt/x") classifies files that neither tensors nor folder names explain.
//
// Thread-safety: free functions without shared state (they read the environment given).
#pragma once

#include <string>
#include <vector>

#include "library/model_record.h"
#include "util/status.h"

namespace easel::library {

struct ModelRoot {
  std::string path;                      // absolute folder
  ModelKind kind = ModelKind::kUnknown;  // what every file under it is, when known
  std::string source;  // "ComfyUI at /home/me/ComfyUI", "extra_model_paths.yaml (a111)", "user"
};

// Parses an extra_model_paths.yaml. Every top-level section may set base_path (relative to
// the YAML file's folder; ~ expands to `home`) and maps model types (checkpoints, vae, loras,
// clip, text_encoders, diffusion_models, unet, embeddings, upscale_models, controlnet) to a
// path or a `|` block of paths, relative to base_path. Other keys (configs, hypernetworks,
// custom_nodes, is_default) are ignored. Fails with kCorrupt (and the line) for malformed
// YAML or a section that is not a mapping.
Result<std::vector<ModelRoot>> ParseExtraModelPaths(const std::string& text,
                                                    const std::string& yaml_dir,
                                                    const std::string& home);

struct DiscoveryEnv {
  std::string home;                     // $HOME
  std::vector<std::string> extra_dirs;  // install folders to look at besides the usual ones
  std::string invokeai_root;            // $INVOKEAI_ROOT
  std::string comfyui_path;             // $COMFYUI_PATH
};
// From the process environment ($HOME, $INVOKEAI_ROOT, $COMFYUI_PATH).
DiscoveryEnv DiscoveryEnvFromProcess();

struct Discovery {
  std::vector<ModelRoot> roots;    // existing folders only, de-duplicated
  std::vector<std::string> notes;  // "ComfyUI at ...", YAML problems ...
};

// Looks for installs in the usual places: ~/ComfyUI, ~/comfyui, ~/ComfyUI_windows_portable/
// ComfyUI, ~/src|git|AI|Documents/ComfyUI, /opt/ComfyUI; ~/stable-diffusion-webui[-forge|
// -reForge], ~/sd-webui-forge, ~/webui-forge; ~/invokeai or $INVOKEAI_ROOT; ~/StabilityMatrix/
// Data/Models. An install counts when its models folder exists; ComfyUI's
// extra_model_paths.yaml is read when present (a malformed one becomes a note).
Discovery DiscoverInstalls(const DiscoveryEnv& env);

}  // namespace easel::library
