// The OpenAPI 3.0 document of the native API, served at /api/v1/openapi.json. Built in code
// beside the routes it describes (api_native.cpp); the A1111 and OpenAI layers follow their
// originals' documents and are listed here by path only.
#include "server/api.h"
#include "server/api_llm.h"

namespace easel::server {
namespace {

using json = nlohmann::json;

json Ref(const std::string& name) {
  return {{"$ref", "#/components/schemas/" + name}};
}

json JsonBody(const json& schema) {
  return {{"required", true}, {"content", {{"application/json", {{"schema", schema}}}}}};
}

json Answer(const std::string& description, const json& schema = nullptr,
            const std::string& type = "application/json") {
  json a = {{"description", description}};
  if (!schema.is_null()) a["content"] = {{type, {{"schema", schema}}}};
  return a;
}

json Errors() {
  return {{"400", Answer("Malformed input: the message says which field and why", Ref("Error"))},
          {"401", Answer("The API key is missing or wrong", Ref("Error"))},
          {"404", Answer("No such job, image or model", Ref("Error"))}};
}

json Op(const std::string& summary, json responses, json extra = json::object()) {
  json op = {{"summary", summary}, {"responses", std::move(responses)}};
  const json errors = Errors();  // items() must not outlive the object it iterates
  for (auto& [k, v] : errors.items())
    if (!op["responses"].contains(k)) op["responses"][k] = v;
  for (auto& [k, v] : extra.items()) op[k] = v;
  return op;
}

json PathParam(const std::string& name, const std::string& description) {
  return {{"name", name},
          {"in", "path"},
          {"required", true},
          {"description", description},
          {"schema", {{"type", "string"}, {"pattern", "^[A-Za-z0-9_-]{1,64}$"}}}};
}

json QueryParam(const std::string& name, const std::string& type, const std::string& description) {
  return {{"name", name},
          {"in", "query"},
          {"required", false},
          {"description", description},
          {"schema", {{"type", type}}}};
}

json JobRequestSchema() {
  auto integer = [](int lo, int hi, const std::string& d) {
    return json{{"type", "integer"}, {"minimum", lo}, {"maximum", hi}, {"description", d}};
  };
  auto number = [](double lo, double hi, const std::string& d) {
    return json{{"type", "number"}, {"minimum", lo}, {"maximum", hi}, {"description", d}};
  };
  auto str = [](const std::string& d) { return json{{"type", "string"}, {"description", d}}; };
  json p = {
      {"kind",
       {{"type", "string"},
        {"enum", {"txt2img", "img2img", "inpaint"}},
        {"description", "Inferred from init_image / mask when absent"}}},
      {"priority", integer(-100, 100, "Higher runs first; equal priorities run oldest first")},
      {"tags", {{"type", "array"}, {"items", {{"type", "string"}}}, {"maxItems", 32}}},
      {"prompt", str("A1111 prompt syntax: (word:1.2), [word], BREAK, <lora:name:0.8>")},
      {"negative_prompt", str("")},
      {"model", str("A model name from GET /api/v1/models (default: the server's default model); "
                    "\"auto\": the model library chooses model, VAE, LoRAs and parameters for the "
                    "prompt (as `easel generate` with no model), guided by style and quality")},
      {"preset", str("An image preset's name (GET /api/v1/presets): its checkpoint, VAE, LoRAs and "
                     "parameters; fields given in the job win. Unknown: 400 listing known ones")},
      {"styles",
       {{"type", "array"},
        {"items", {{"type", "string"}}},
        {"maxItems", 32},
        {"description",
         "Stored styles (GET /api/v1/styles) applied to the prompts in "
         "order, {prompt} placement. Unknown: 400 listing known ones"}}},
      {"style", str("A stored style's name, or a zero-config hint for model \"auto\": anime, "
                    "realistic, artistic, 3d")},
      {"quality",
       {{"type", "string"},
        {"enum", {"fast", "balanced", "high", "ultra"}},
        {"description", "For model \"auto\": steps, size and model choice"}}},
      {"sampler_name",
       str("euler, euler_ancestral, dpmpp_2m ... or A1111 names (\"DPM++ 2M Karras\")")},
      {"scheduler", str("normal, karras, exponential, sgm_uniform, simple, ddim_uniform, beta")},
      {"steps", integer(1, 150, "Denoising steps (the server's --max-steps)")},
      {"cfg_scale", number(0, 100, "Classifier-free guidance scale")},
      {"seed", {{"type", "integer"}, {"minimum", -1}, {"description", "-1: random"}}},
      {"width", integer(64, 2048, "Multiple of 8, up to the server's --max-side")},
      {"height", integer(64, 2048, "Multiple of 8, up to the server's --max-side")},
      {"batch_size", integer(1, 8, "Images in the job (the server's --max-batch)")},
      {"clip_skip", integer(1, 12, "")},
      {"init_image", str("img2img/inpaint: the PNG, base64 (or a multipart upload)")},
      {"mask", str("inpaint: the mask PNG, base64; white = repaint")},
      {"denoising_strength", number(0, 1, "")},
      {"resize_mode",
       integer(0, 3, "A1111's: 0 resize, 1 crop and resize, 2 resize and fill, 3 latent")},
      {"mask_blur", integer(0, 64, "")},
      {"inpaint_full_res", {{"type", "boolean"}}},
      {"inpaint_full_res_padding", integer(0, 256, "")},
      {"inpainting_fill",
       integer(0, 3, "A1111's: 0 fill, 1 original, 2 latent noise, 3 latent nothing")},
      {"inpainting_mask_invert", integer(0, 1, "")},
      {"outpaint",
       {{"type", "array"},
        {"items", {{"type", "integer"}}},
        {"minItems", 4},
        {"maxItems", 4},
        {"description", "[left, right, top, bottom] pixels to add"}}},
      {"enable_hr", {{"type", "boolean"}}},
      {"hr_scale", number(1, 4, "")},
      {"hr_second_pass_steps", integer(0, 150, "")},
      {"hr_upscaler", str("")},
      {"hr_denoising_strength", number(0, 1, "")},
      {"refiner_checkpoint", str("A model name")},
      {"refiner_switch_at", number(0, 1, "")},
      {"vae_tiling", {{"type", "string"}, {"enum", {"auto", "on", "off"}}}},
      {"loras",
       {{"type", "array"},
        {"maxItems", 16},
        {"items",
         {{"type", "object"},
          {"required", {"name"}},
          {"properties",
           {{"name", str("Relative to the server's LoRA folder")},
            {"weight", number(-10, 10, "")},
            {"te_weight", number(-10, 10, "")}}}}}}},
  };
  return {{"type", "object"}, {"additionalProperties", false}, {"properties", p}};
}

}  // namespace

json OpenApiDocument(const std::string& version) {
  json schemas = {
      {"Error",
       {{"type", "object"},
        {"properties",
         {{"error",
           {{"type", "object"},
            {"properties",
             {{"code", {{"type", "string"}}},
              {"message", {{"type", "string"}}},
              {"status", {{"type", "integer"}}}}}}}}}}},
      {"JobRequest", JobRequestSchema()},
      {"Job",
       {{"type", "object"},
        {"properties",
         {{"id", {{"type", "string"}}},
          {"kind", {{"type", "string"}}},
          {"state",
           {{"type", "string"},
            {"enum", {"queued", "running", "succeeded", "failed", "cancelled"}}}},
          {"priority", {{"type", "integer"}}},
          {"attempts", {{"type", "integer"}}},
          {"error", {{"type", "string"}, {"nullable", true}}},
          {"created_ms", {{"type", "integer"}}},
          {"started_ms", {{"type", "integer"}}},
          {"finished_ms", {{"type", "integer"}}},
          {"request", {{"type", "object"}}},
          {"progress", {{"type", "object"}}},
          {"result", {{"type", "object"}, {"nullable", true}}}}}}},
      {"Image",
       {{"type", "object"},
        {"properties",
         {{"id", {{"type", "string"}}},
          {"job_id", {{"type", "string"}}},
          {"url", {{"type", "string"}}},
          {"width", {{"type", "integer"}}},
          {"height", {{"type", "integer"}}},
          {"seed", {{"type", "integer"}}},
          {"prompt", {{"type", "string"}}},
          {"model", {{"type", "string"}}},
          {"tags", {{"type", "array"}, {"items", {{"type", "string"}}}}}}}}},
  };
  const json job_id = PathParam("id", "A job id (j_ + 16 hex digits)");
  const json image_id = PathParam("id", "An image id (i_ + 16 hex digits)");
  const json sse = Answer(
      "Server-Sent Events: queued, running, started, progress {step, total, "
      "seconds_per_step, preview?}, retry, succeeded, failed, cancelled, end",
      json{{"type", "string"}}, "text/event-stream");
  json paths = {
      {"/api/v1/jobs",
       {{"post", Op("Queue a job (txt2img, img2img or inpaint); durable before the answer",
                    {{"202", Answer("Queued", Ref("Job"))}},
                    {{"requestBody", JsonBody(Ref("JobRequest"))}})},
        {"get", Op("List jobs, newest first", {{"200", Answer("A page of jobs")}},
                   {{"parameters",
                     {QueryParam("state", "string", "queued|running|succeeded|failed|cancelled"),
                      QueryParam("limit", "integer", "1..1000, default 50"),
                      QueryParam("offset", "integer", "default 0")}}})}}},
      {"/api/v1/txt2img",
       {{"post", Op("Queue a txt2img job", {{"202", Answer("Queued", Ref("Job"))}},
                    {{"requestBody", JsonBody(Ref("JobRequest"))}})}}},
      {"/api/v1/img2img",
       {{"post", Op("Queue an img2img job", {{"202", Answer("Queued", Ref("Job"))}},
                    {{"requestBody", JsonBody(Ref("JobRequest"))}})}}},
      {"/api/v1/inpaint",
       {{"post", Op("Queue an inpaint job", {{"202", Answer("Queued", Ref("Job"))}},
                    {{"requestBody", JsonBody(Ref("JobRequest"))}})}}},
      {"/api/v1/jobs/{id}",
       {{"get", Op("A job, with live progress while it runs",
                   {{"200", Answer("The job", Ref("Job"))}}, {{"parameters", {job_id}}})},
        {"delete", Op("Cancel a job (same as POST .../cancel)",
                      {{"200", Answer("The job", Ref("Job"))}}, {{"parameters", {job_id}}})}}},
      {"/api/v1/jobs/{id}/cancel",
       {{"post", Op("Cancel: a queued job at once, a running one at its next step",
                    {{"200", Answer("The job", Ref("Job"))}}, {{"parameters", {job_id}}})}}},
      {"/api/v1/jobs/{id}/events",
       {{"get",
         Op("The job's stored event history",
            {{"200", Answer("{job_id, events:[{seq, type, created_ms, data}]}")}},
            {{"parameters", {job_id, QueryParam("since", "integer", "Events after this seq")}}})}}},
      {"/api/v1/jobs/{id}/stream",
       {{"get", Op("SSE: the job's events (history replayed first), until it ends", {{"200", sse}},
                   {{"parameters", {job_id}}})}}},
      {"/api/v1/stream", {{"get", Op("SSE: every job's events, live", {{"200", sse}})}}},
      {"/api/v1/images",
       {{"get",
         Op("Search the history (FTS5: words, \"phrases\", prefix*, model:dream*)",
            {{"200", Answer("{images:[Image], total}")}},
            {{"parameters",
              {QueryParam("q", "string", "castle model:dream*"),
               QueryParam("model", "string", "Exact model name"),
               QueryParam("lora", "string",
                          "Images made with this LoRA: its name in the job's loras (exactly, or "
                          "the last path component) or a <lora:NAME:...> tag in the prompt"),
               QueryParam("from", "string",
                          "Made on or after: a UTC date (2026-11-25) or milliseconds since 1970"),
               QueryParam("to", "string",
                          "Made before the end of this UTC date (inclusive), or before these "
                          "milliseconds"),
               QueryParam("width", "integer", "Exact width"),
               QueryParam("height", "integer", "Exact height"),
               QueryParam("size", "string", "Exact size WIDTHxHEIGHT (512x768)"),
               QueryParam("job_id", "string", ""), QueryParam("min_width", "integer", ""),
               QueryParam("max_width", "integer", ""), QueryParam("min_height", "integer", ""),
               QueryParam("max_height", "integer", ""), QueryParam("limit", "integer", "1..500"),
               QueryParam("offset", "integer", "")}}})}}},
      {"/api/v1/images/{id}",
       {{"get", Op("An image's record", {{"200", Answer("The image", Ref("Image"))}},
                   {{"parameters", {image_id}}})},
        {"delete", Op("Delete an image: record, file and sidecar",
                      {{"200", Answer("{deleted: id}")}}, {{"parameters", {image_id}}})}}},
      {"/api/v1/images/{id}/file",
       {{"get",
         Op("The PNG (with its A1111 parameters chunk)",
            {{"200", Answer("PNG", json{{"type", "string"}, {"format", "binary"}}, "image/png")}},
            {{"parameters", {image_id}}})}}},
      {"/api/v1/models",
       {{"get", Op("Models and LoRAs the server offers",
                   {{"200", Answer("{models, loras, default_model}")}})}}},
      {"/api/v1/models/refresh",
       {{"post", Op("List the model folders again", {{"200", Answer("Counts")}})}}},
      // The model library, presets and styles (server/api_library.cpp).
      {"/api/v1/library/models",
       {{"get", Op("Indexed model files (?kind=&family=&tag=&q=)", {{"200", Answer("Models")}})}}},
      {"/api/v1/library/models/{id}/preview",
       {{"get", Op("The preview image next to a model file (id from the listing's \"id\", or "
                   "its SHA-256 / AutoV2); listings carry preview_url when there is one",
                   {{"200", Answer("The image (png, jpeg, webp or gif)",
                                   json{{"type", "string"}, {"format", "binary"}}, "image/*")},
                    {"404", Answer("No such model, or it has no preview", Ref("Error"))}},
                   {{"parameters", {PathParam("id", "m_ + 16 hex digits, or a hash")}}})}}},
      {"/api/v1/library/stats",
       {{"get", Op("Library counts: total, errors, by_kind, by_family, by_kind_family",
                   {{"200", Answer("Counts")}})}}},
      {"/api/v1/library/models/rescan",
       {{"post", Op("Scan the model folders again (only changed files)",
                    {{"200", Answer("Scan report")}})}}},
      {"/api/v1/library/models/select",
       {{"post", Op("Zero-config choice of model, LoRAs and parameters for a prompt",
                    {{"200", Answer("Selection with explanation")}})}}},
      {"/api/v1/presets",
       {{"get", Op("Presets (?type=image|llm)", {{"200", Answer("Presets")}})},
        {"post", Op("Create a preset", {{"200", Answer("Preset")}})}}},
      {"/api/v1/presets/validate",
       {{"post", Op("Validate a preset without saving it", {{"200", Answer("Validation")}})}}},
      {"/api/v1/presets/{name}",
       {{"get", Op("One preset", {{"200", Answer("Preset")}})},
        {"post", Op("Replace a preset", {{"200", Answer("Preset")}})},
        {"delete", Op("Delete a preset", {{"200", Answer("Deleted")}})}}},
      {"/api/v1/styles",
       {{"get",
         Op("Styles (name -> positive/negative with {prompt})", {{"200", Answer("Styles")}})}}},
      {"/api/v1/styles/{name}",
       {{"get", Op("One style", {{"200", Answer("Style")}})},
        {"post", Op("Create or replace a style", {{"200", Answer("Style")}})},
        {"delete", Op("Delete a style", {{"200", Answer("Deleted")}})}}},
      {"/api/v1/health",
       {{"get", Op("200 once a worker is ready, 503 before; needs no API key",
                   {{"200", Answer("ok")}, {"503", Answer("starting")}})}}},
      {"/api/v1/stats",
       {{"get", Op("Devices (workers), memory, queue counts, loaded models",
                   {{"200", Answer("Stats")}})}}},
      {"/api/v1/openapi.json", {{"get", Op("This document", {{"200", Answer("OpenAPI 3.0")}})}}},
  };
  AddLlmPaths(&paths);  // the language model and the assistant (openapi_llm.cpp)
  return {{"openapi", "3.0.3"},
          {"info",
           {{"title", "Easel native API"},
            {"version", version},
            {"description",
             "Easel's own API. A1111-compatible routes live under /sdapi/v1 "
             "(txt2img, img2img, options, sd-models, sd-vae, prompt-styles, samplers, "
             "schedulers, loras, "
             "progress, interrupt, png-info, refresh-checkpoints) and OpenAI-compatible "
             "ones under /v1 (images/generations, chat/completions, models)."}}},
          {"components",
           {{"schemas", schemas},
            {"securitySchemes", {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}}}}}},
          {"security", json::array({{{"bearer", json::array()}}})},
          {"paths", paths}};
}

}  // namespace easel::server
