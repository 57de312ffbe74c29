// The creative assistant's tools: their specs (names, descriptions, JSON schemas in the subset
// llm/json_schema.h reads, so the built-in runtime can constrain a call to them), the
// services they reach (AssistantServices: styles, history, the library, memory, parameter
// checks; the server implements it, tests fake it), and ExecuteTool, which runs one call.
//
//   get_styles {}                                  the style library (names and snippets)
//   apply_style {style, prompt}                    the prompt with the style applied; fills the
//   form enhance_prompt {prompt}                        a richer prompt, written by the model
//   search_history {query}                         past generations (prompt, settings, PNG text)
//   get_library_items {kind, query}                models, LoRAs, VAEs ... in the library
//   get_memory_status {}                           RAM / workers / the language model's memory
//   set_generation_params {prompt?, ...}           fills the UI's generation form (no job)
//   queue_generation {prompt, ...}                 proposes a job: runs only after the user
//                                                  confirms in the UI (a "confirm" event)
//
// Every result goes back to the model as data (untrusted.h), never as instructions.
// Thread-safety: ExecuteTool runs on the assistant turn's thread; services must be safe
// from there.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "llm/chat_backend.h"
#include "util/status.h"

namespace easel::assistant {

inline constexpr const char* kQueueGeneration = "queue_generation";
inline constexpr const char* kSetGenerationParams = "set_generation_params";
// Routed mode only (assistant_loop.h): the model's way of saying "no tool: I answer now".
inline constexpr const char* kRespond = "respond_to_user";

// What the tools reach. Results are JSON objects for the model and the UI.
class AssistantServices {
 public:
  virtual ~AssistantServices() = default;
  virtual Result<nlohmann::json> Styles() = 0;  // {styles: [{name, prompt, negative_prompt}]}
  // {prompt, negative_prompt} with the style applied; kNotFound for an unknown style.
  virtual Result<nlohmann::json> ApplyStyle(const std::string& style, const std::string& prompt,
                                            const std::string& negative_prompt) = 0;
  // The backend is the one the turn holds (the tool runs between two of its calls).
  virtual Result<std::string> EnhancePrompt(llm::ChatBackend& backend, const std::string& prompt,
                                            const std::string& style) = 0;
  // {images: [{id, prompt, negative_prompt, model, seed, steps, cfg_scale, sampler, width,
  // height, png_text}], total}
  virtual Result<nlohmann::json> SearchHistory(const std::string& query, int limit) = 0;
  // {items: [{name, kind, family, tags}]}
  virtual Result<nlohmann::json> LibraryItems(const std::string& kind, const std::string& query,
                                              int limit) = 0;
  virtual Result<nlohmann::json> MemoryStatus() = 0;
  // Checks generation parameters (known fields, ranges, sampler and model names): returns
  // {params: {...the fields that pass...}, dropped: {field: why}} (small models propose
  // junk for some fields; the rest is still useful). `for_queue` requires a prompt that
  // passes: kInvalidArgument otherwise.
  virtual Result<nlohmann::json> CheckParams(const nlohmann::json& params, bool for_queue) = 0;
};

// The tool specs, in the order above.
std::vector<llm::ToolSpec> AssistantTools();
// The routed-mode "answer now" pseudo-tool.
llm::ToolSpec RespondTool();
// True for tools whose results carry text from outside (history prompts, PNG metadata,
// imported styles, model files' metadata).
bool ReturnsUntrustedText(const std::string& tool);

// Events a tool raises for the UI (set_params, confirm), as (type, data).
using EmitFn = std::function<bool(const std::string& type, const nlohmann::json& data)>;

struct ToolOutcome {
  nlohmann::json result;             // what the model and the UI's tool card see
  bool ok = true;                    // false: result is {"error": "..."}
  bool needs_confirmation = false;   // queue_generation: waits for the user's yes
  nlohmann::json confirm_arguments;  // the checked parameters the user confirms
};

// Runs one call: validates its arguments against the tool's schema, calls the services, and
// raises set_params / confirm through `emit`. Never fails: a bad call is an outcome with
// {"error": "..."} for the model to read.
ToolOutcome ExecuteTool(const llm::ToolCall& call, AssistantServices& services,
                        llm::ChatBackend& backend, const EmitFn& emit);

}  // namespace easel::assistant
