// Jobs that lean on the model library (library/library_api.h): the job fields
//
//   "preset": NAME          an image preset: its checkpoint, VAE, LoRAs and parameters
//   "styles": [NAME, ...]   stored styles applied to the prompts in order ({prompt} placement)
//   "style": NAME           a stored style's name, or a zero-config hint (anime, realistic,
//                           artistic, 3d) that guides "model": "auto"
//   "quality": Q            fast | balanced | high | ultra, for "model": "auto"
//   "model": "auto"         zero-configuration: the library chooses the checkpoint, VAE,
//                           LoRAs and parameters for the prompt (as `easel generate` does)
//
// are taken out of the body here and turned into what the rest of BuildJob knows: prompts
// with the styles applied, parameters filled in where the body has none (fields the client
// sent always win), and the files chosen (absolute paths from the library's index, never
// from the client). Unknown preset or style names are kInvalidArgument (400) naming the
// name and listing a few known ones.
//
// Thread-safety: as LibraryApi (may run on many threads).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "library/library_api.h"
#include "util/status.h"

namespace easel::server {

struct LibraryLora {
  std::string name;  // the file's name without extension (what history shows)
  std::string path;  // absolute
  double weight = 1.0;
};

struct LibraryChoices {
  bool used = false;               // the body named a preset, styles, a style or "model": "auto"
  std::string model_path;          // "" : the body's model (or the default) stands
  std::string vae_path;            // "" : the checkpoint's own
  std::vector<LibraryLora> loras;  // used only when the body has no "loras"
  // What was chosen and why, for the job's result ("preset", "styles", "selection").
  nlohmann::json explanation = nlohmann::json::object();
};

// True when `body` uses any of the fields above (so a library is needed).
bool UsesLibrary(const nlohmann::json& body);

// Takes the library fields out of `body` (an object) and applies them (see above). `library`
// may be null: then a body that uses the fields fails with kUnsupported.
Result<LibraryChoices> ApplyLibraryFields(nlohmann::json* body, library::LibraryApi* library);

}  // namespace easel::server
