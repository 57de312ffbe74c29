// Zero-configuration generation for `easel generate`: with no --model, the model library
// chooses the checkpoint, VAE, LoRAs and parameters for the prompt (library/selection.h);
// --preset NAME takes them from a stored preset instead; --style also applies a stored
// style by name. Flags the user gave always win over chosen values. Also the shared helper
// that opens the library of the data dir for the `models`, `presets` and `styles` commands.
#pragma once

#include <memory>
#include <string>

#include "engine/pipeline/request.h"
#include "library/library_api.h"
#include "util/status.h"

namespace CLI {
class App;
}

namespace easel::cli {

struct ZeroConfigOptions {
  std::string style;    // anime | realistic | artistic | 3d, or a stored style's name
  std::string quality;  // fast | balanced | high | ultra ("" = balanced)
  std::string preset;   // a stored image preset
  std::string data_dir;
  std::string prompt_words;  // the positional prompt
  bool explain = false;
};

// Adds --style, --quality, --preset, --explain, --data-dir (unless the command has one) and
// a positional PROMPT to `generate`.
std::shared_ptr<ZeroConfigOptions> AddZeroConfigOptions(CLI::App* generate);

// Fills `req` from the preset or the library when the user named no model; applies a stored
// style. `generate` tells which flags were given (those are kept). Prints the explanation to
// stderr with --explain. Fails with kNotFound when the library has no usable model (saying
// to run `easel models scan`).
Status ApplyZeroConfig(const ZeroConfigOptions& options, const CLI::App& generate,
                       engine::GenerateRequest* req);

// The library of the data dir (--data-dir, $EASEL_DATA_DIR, XDG), created if absent.
Result<std::unique_ptr<library::LibraryApi>> OpenLibrary(const std::string& data_dir_flag);

}  // namespace easel::cli
