// Job requests at the API edge: the fields a client may send (the request JSON of
// engine/pipeline/request_json.h, with models by *name* and images as base64), checked
// against the server's limits, and turned into what the durable queue stores:
//
//   {"request": {...worker request: model as a catalog name, init_image/mask as paths
//                relative to the data dir...}, "tags": [...]}
//
// At dispatch, WorkerRequest() turns the stored request into the worker's: names resolved to
// paths, relative paths made absolute, the server's LoRA/embedding folders added.
//
// Strict: an unknown field, a wrong type or a value out of range is kInvalidArgument naming
// the field; an unknown model kNotFound. Images must be PNG (A1111 and OpenAI clients send
// PNG); they are written to <data>/inputs/<input id>/{init,mask}.png before the job is queued,
// so that an accepted job has everything it needs on disk. Thread-safe: pure functions plus
// file writes to fresh folders.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server/model_catalog.h"
#include "util/status.h"

namespace easel::library {
class LibraryApi;
}

namespace easel::server {

struct Limits {
  int max_side = 2048;  // width and height of generated images (after hires scaling)
  int max_steps = 150;
  int max_batch = 8;  // images per job
  size_t max_prompt_chars = 20000;
  int max_input_side = 4096;  // init images and masks
  size_t max_input_bytes = 32u << 20;
};

struct JobSubmission {
  std::string kind;  // "txt2img", "img2img", "inpaint"
  int priority = 0;
  nlohmann::json stored;  // {"request": {...}, "tags": [...]} as the queue keeps it
  // What the library chose for a job naming a preset, styles or "model": "auto" (null
  // otherwise): shown in the submission's answer (job_library.h).
  nlohmann::json library;
};

struct BuildContext {
  const Limits* limits = nullptr;
  ModelCatalog* catalog = nullptr;
  std::string data_dir;
  std::string default_model;  // used when the body names none ("" : the catalog's first)
  // Uploaded files (multipart) by field name: "init_image", "mask" -> PNG bytes.
  std::map<std::string, std::string> uploads;
  // The model library, for "preset", "styles", "style", "quality" and "model": "auto"
  // (job_library.h); null: those fields fail with kUnsupported.
  library::LibraryApi* library = nullptr;
};

// `body`: a JSON object with request_json.h's field names (model = a catalog name), plus
// "init_image" / "mask" (base64 PNG), "kind", "priority" (-100..100), "tags" (strings) and
// the library's "preset", "styles", "style", "quality" and "model": "auto" (job_library.h).
// Files the library chose are kept as absolute paths beside the request, in
// stored["paths"] = {"model": P, "vae": P, "loras": {NAME: P}}; the request itself names them
// (history shows names, never the server's layout).
Result<JobSubmission> BuildJob(const nlohmann::json& body, const BuildContext& ctx);

struct WorkerContext {
  ModelCatalog* catalog = nullptr;
  std::string data_dir;
  std::string loras_dir;       // "" : not added
  std::string embeddings_dir;  // "" : not added
};

// The worker's request for a stored job (see above). kNotFound when its model has gone.
Result<nlohmann::json> WorkerRequest(const nlohmann::json& stored, const WorkerContext& ctx);

// Sampler and scheduler names the engine accepts (ComfyUI and A1111 spellings, lower-cased
// compare; A1111's "DPM++ 2M Karras" = sampler + scheduler), for validation and listings.
struct SamplerName {
  const char* name;   // Easel's (ComfyUI's) name
  const char* a1111;  // A1111's label
  std::vector<const char*> aliases;
};
const std::vector<SamplerName>& Samplers();
const std::vector<SamplerName>& Schedulers();
bool IsKnownSampler(const std::string& name);
bool IsKnownScheduler(const std::string& name);

}  // namespace easel::server
