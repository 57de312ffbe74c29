// The assistant's tools: specs and execution (see tools.h).
#include "assistant/tools.h"

#include "llm/json_schema.h"

namespace easel::assistant {
namespace {

using json = nlohmann::json;
// Schemas keep their property order: constrained decoding writes properties in that order,
// so the one that matters (prompt) comes first.
using ojson = nlohmann::ordered_json;

// Generation parameters, as the UI's form and the job API name them. Ranges and names are
// checked by AssistantServices::CheckParams (the schema subset has no minimum/maximum).
std::string ParamsSchema() {
  ojson properties = ojson::object();
  properties["prompt"] = {{"type", "string"}, {"maxLength", 600}};
  properties["negative_prompt"] = {{"type", "string"}, {"maxLength", 300}};
  properties["width"] = {{"type", "integer"}};
  properties["height"] = {{"type", "integer"}};
  properties["steps"] = {{"type", "integer"}};
  properties["cfg_scale"] = {{"type", "number"}};
  properties["sampler_name"] = {{"type", "string"}, {"maxLength", 40}};
  properties["scheduler"] = {{"type", "string"}, {"maxLength", 40}};
  properties["seed"] = {{"type", "integer"}};
  properties["style"] = {{"type", "string"}, {"maxLength", 64}};
  properties["model"] = {{"type", "string"}, {"maxLength", 200}};
  ojson lora_props = ojson::object();
  lora_props["name"] = {{"type", "string"}, {"maxLength", 200}};
  lora_props["weight"] = {{"type", "number"}};
  ojson lora = ojson::object();
  lora["type"] = "object";
  lora["properties"] = lora_props;
  lora["required"] = ojson::array({"name", "weight"});
  ojson loras = ojson::object();
  loras["type"] = "array";
  loras["maxItems"] = 2;
  loras["items"] = lora;
  properties["loras"] = loras;
  ojson schema = ojson::object();
  schema["type"] = "object";
  schema["properties"] = properties;
  schema["required"] = ojson::array({"prompt"});
  return schema.dump();
}

// {"type": "object", "properties": {...in the order given...}, "required": [...]}.
std::string Obj(std::initializer_list<std::pair<const char*, ojson>> properties,
                std::initializer_list<const char*> required) {
  ojson props = ojson::object();
  for (const auto& [k, v] : properties) props[k] = v;
  ojson req = ojson::array();
  for (const char* r : required) req.push_back(r);
  ojson schema = ojson::object();
  schema["type"] = "object";
  schema["properties"] = props;
  schema["required"] = req;
  return schema.dump();
}

json Error(const std::string& message) {
  return {{"error", message}};
}

std::string Str(const json& args, const char* key) {
  auto it = args.find(key);
  return it != args.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::vector<llm::ToolSpec> AssistantTools() {
  const ojson str = {{"type", "string"}, {"maxLength", 200}};
  const ojson prompt = {{"type", "string"}, {"maxLength", 600}};
  ojson kinds = ojson::object();
  kinds["type"] = "string";
  kinds["enum"] = ojson::array({"any", "checkpoint", "lora", "vae", "embedding", "controlnet"});
  return {
      {"get_styles", "List the saved styles (named prompt snippets) the user can apply.",
       Obj({}, {})},
      {"apply_style", "Apply a saved style to a prompt and put the result in the generation form.",
       Obj({{"style", {{"type", "string"}, {"maxLength", 64}}}, {"prompt", prompt}},
           {"style", "prompt"})},
      {"enhance_prompt", "Rewrite a short image prompt into a richer, more descriptive one.",
       Obj({{"prompt", prompt}}, {"prompt"})},
      {"search_history", "Search the user's past generations by words in their prompts.",
       Obj({{"query", str}}, {"query"})},
      {"get_library_items",
       "List models in the library: kind is checkpoint, lora, vae, embedding or any.",
       Obj({{"kind", kinds}, {"query", str}}, {"kind"})},
      {"get_memory_status", "Report free memory, the image workers and the language model.",
       Obj({}, {})},
      {kSetGenerationParams,
       "Fill the user's generation form (prompt, size, steps, CFG, sampler, seed, model, "
       "LoRAs). Nothing is generated.",
       ParamsSchema()},
      {kQueueGeneration,
       "Propose generating an image with these parameters. The user must confirm it in the "
       "UI before anything runs; only use it when the user asked for an image.",
       ParamsSchema()},
  };
}

llm::ToolSpec RespondTool() {
  return {kRespond, "Answer the user in plain text now, without any other tool.", Obj({}, {})};
}

bool ReturnsUntrustedText(const std::string& tool) {
  return tool == "search_history" || tool == "get_library_items" || tool == "get_styles" ||
         tool == "apply_style" || tool == "enhance_prompt";
}

ToolOutcome ExecuteTool(const llm::ToolCall& call, AssistantServices& services,
                        llm::ChatBackend& backend, const EmitFn& emit) {
  ToolOutcome out;
  auto fail = [&](const std::string& message) {
    out.ok = false;
    out.result = Error(message);
    return out;
  };
  const std::vector<llm::ToolSpec> tools = AssistantTools();
  const llm::ToolSpec* spec = nullptr;
  for (const llm::ToolSpec& t : tools)
    if (t.name == call.name) spec = &t;
  if (spec == nullptr)
    return fail("there is no tool named '" + call.name.substr(0, 64) +
                "'; the tools are get_styles, apply_style, enhance_prompt, search_history, "
                "get_library_items, get_memory_status, set_generation_params, queue_generation");
  json args = json::parse(call.arguments_json, nullptr, false);
  if (!args.is_object()) return fail("the arguments must be a JSON object");
  auto schema = llm::ParseJsonSchema(std::string_view(spec->parameters_schema_json));
  if (!schema.ok()) return fail("internal: the tool's schema does not parse");
  if (Status st = llm::ValidateJson(**schema, args); !st.ok())
    return fail("bad arguments for " + call.name + ": " + st.message());

  auto take = [&](Result<json> r) {
    if (!r.ok()) return fail(r.status().message());
    out.result = std::move(*r);
    return out;
  };
  const std::string& name = call.name;
  if (name == "get_styles") return take(services.Styles());
  if (name == "apply_style") {
    auto r = services.ApplyStyle(Str(args, "style"), Str(args, "prompt"), "");
    if (!r.ok()) return fail(r.status().message());
    json params = {{"prompt", r->value("prompt", "")},
                   {"negative_prompt", r->value("negative_prompt", "")},
                   {"style", Str(args, "style")}};
    emit("set_params", {{"params", params}});
    out.result = params;
    return out;
  }
  if (name == "enhance_prompt") {
    auto r = services.EnhancePrompt(backend, Str(args, "prompt"), "");
    if (!r.ok()) return fail(r.status().message());
    out.result = {{"prompt", *r}, {"original", Str(args, "prompt")}};
    return out;
  }
  if (name == "search_history") return take(services.SearchHistory(Str(args, "query"), 5));
  if (name == "get_library_items")
    return take(services.LibraryItems(Str(args, "kind"), Str(args, "query"), 20));
  if (name == "get_memory_status") return take(services.MemoryStatus());
  if (name == kSetGenerationParams) {
    auto r = services.CheckParams(args, false);
    if (!r.ok()) return fail(r.status().message());
    const json params = r->value("params", json::object());
    if (params.empty())
      return fail("no field passed the checks: " + r->value("dropped", json::object()).dump());
    emit("set_params", {{"params", params}});
    out.result = {{"applied", params}, {"note", "the form is filled; nothing was generated"}};
    if (!r->value("dropped", json::object()).empty()) out.result["dropped"] = (*r)["dropped"];
    return out;
  }
  if (name == kQueueGeneration) {
    auto r = services.CheckParams(args, true);
    if (!r.ok()) return fail(r.status().message());
    const json params = r->value("params", json::object());
    out.needs_confirmation = true;
    out.confirm_arguments = params;
    emit("confirm", {{"id", call.id}, {"name", name}, {"arguments", params}});
    out.result = {{"status", "awaiting_confirmation"},
                  {"arguments", params},
                  {"note",
                   "nothing runs until the user presses Confirm in the UI; tell the user what "
                   "will be generated and ask them to confirm"}};
    if (!r->value("dropped", json::object()).empty()) out.result["dropped"] = (*r)["dropped"];
    return out;
  }
  return fail("the tool '" + name + "' is not available");
}

}  // namespace easel::assistant
