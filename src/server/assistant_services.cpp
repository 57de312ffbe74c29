// ServerAssistantServices: the assistant's tools inside `easel serve` (see assistant_services.h).
#include "server/assistant_services.h"

#include <fstream>

#include "assistant/untrusted.h"
#include "io/png.h"
#include "library/library_api.h"
#include "library/styles.h"
#include "llm/uses/enhance.h"
#include "store/ids.h"

namespace easel::server {
namespace {

using json = nlohmann::json;

// The fields the assistant may set, as the job API names them.
const char* const kParamFields[] = {"prompt", "negative_prompt", "width",        "height",
                                    "steps",  "cfg_scale",       "sampler_name", "scheduler",
                                    "seed",   "model",           "loras",        "style"};

json ParseOr(const std::string& s, json fallback) {
  json j = json::parse(s, nullptr, false);
  return j.is_discarded() ? fallback : j;
}

}  // namespace

Result<std::string> EnhanceWith(llm::ChatBackend& backend, ApiContext& api,
                                const std::string& prompt, const std::string& style) {
  llm::StyleHints hints;
  if (api.library != nullptr) {
    auto styles = api.library->presets().ListStyles();
    if (styles.ok())
      for (const library::Style& s : *styles)
        if (hints.names.size() < 40) hints.names.push_back(assistant::NeutralizeText(s.name, 64));
    if (!style.empty()) {
      auto s = api.library->StyleByName(style);
      if (!s.ok()) return s.status();
      hints.selected = assistant::NeutralizeText(s->name, 64);
      hints.selected_prompt = assistant::NeutralizeText(s->prompt, 300);
    }
  }
  return llm::EnhancePrompt(backend, prompt, hints);
}

Result<json> ServerAssistantServices::Styles() {
  if (api_->library == nullptr) return json{{"styles", json::array()}};
  auto styles = api_->library->presets().ListStyles();
  if (!styles.ok()) return styles.status();
  json out = json::array();
  for (const library::Style& s : *styles) {
    if (out.size() >= 50) break;
    out.push_back({{"name", s.name}, {"prompt", s.prompt}, {"negative_prompt", s.negative_prompt}});
  }
  return json{{"styles", out}, {"total", styles->size()}};
}

Result<json> ServerAssistantServices::ApplyStyle(const std::string& style,
                                                 const std::string& prompt,
                                                 const std::string& negative_prompt) {
  if (api_->library == nullptr) return NotFound("there is no style library on this server");
  auto s = api_->library->StyleByName(style);
  if (!s.ok())
    return NotFound("there is no style named '" + style.substr(0, 64) +
                    "': call get_styles for the names");
  std::string p = prompt, n = negative_prompt;
  library::ApplyStyle(*s, &p, &n);
  return json{{"prompt", p}, {"negative_prompt", n}};
}

Result<std::string> ServerAssistantServices::EnhancePrompt(llm::ChatBackend& backend,
                                                           const std::string& prompt,
                                                           const std::string& style) {
  return EnhanceWith(backend, *api_, prompt, style);
}

Result<json> ServerAssistantServices::SearchHistory(const std::string& query, int limit) {
  store::ImageFilters filters;
  auto page = api_->orchestrator->history().Search(query.substr(0, 200), filters, limit, 0);
  std::string note;
  if (!page.ok() || page->images.empty()) {
    // No match (or a query FTS5 cannot parse): the newest images instead, saying so.
    note = "nothing matched the query: these are the newest images";
    page = api_->orchestrator->history().Search("", filters, limit, 0);
    if (!page.ok()) return page.status();
  }
  json images = json::array();
  for (const store::ImageRecord& r : page->images) {
    json img = {{"id", r.id},
                {"prompt", r.prompt},
                {"negative_prompt", r.negative_prompt},
                {"model", r.model},
                {"seed", r.seed},
                {"steps", r.steps},
                {"cfg_scale", r.cfg},
                {"sampler", r.sampler},
                {"width", r.width},
                {"height", r.height},
                {"loras", ParseOr(r.loras, json::array())}};
    // The PNG's own text chunks (what another tool may have written into the file).
    if (store::IsSafeRelativePath(r.path)) {
      auto text = io::ReadPngText(api_->data_dir + "/" + r.path);
      if (text.ok()) {
        json chunks = json::object();
        for (const auto& [k, v] : *text) chunks[k] = v;
        img["png_text"] = chunks;
      }
    }
    images.push_back(std::move(img));
  }
  json out = {{"images", images}, {"total", page->total}};
  if (!note.empty()) out["note"] = note;
  return out;
}

Result<json> ServerAssistantServices::LibraryItems(const std::string& kind,
                                                   const std::string& query, int limit) {
  json items = json::array();
  if (api_->library != nullptr) {
    library::Query q = {{"limit", std::to_string(limit)}};
    if (!kind.empty() && kind != "any") q["kind"] = kind;
    if (!query.empty()) q["q"] = query;
    auto listed = api_->library->ListModels(q);
    if (listed.ok()) {
      for (const json& m : listed->value("models", json::array()))
        items.push_back({{"name", m.value("name", "")},
                         {"kind", m.value("kind", "")},
                         {"family", m.value("family", "")},
                         {"title", m.value("title", "")},
                         {"tags", m.value("tags", json::array())},
                         {"trigger_words", m.value("trigger_words", json::array())}});
    }
  }
  // Models the server can generate with right now (by the names jobs use).
  if (items.empty() && (kind.empty() || kind == "any" || kind == "checkpoint"))
    for (const ModelEntry& m : api_->catalog->Models())
      if (query.empty() || m.name.find(query) != std::string::npos)
        items.push_back(
            {{"name", m.name}, {"kind", "checkpoint"}, {"family", m.ToJson().value("family", "")}});
  if (items.empty() && (kind.empty() || kind == "any" || kind == "lora"))
    for (const LoraEntry& l : api_->catalog->Loras())
      if (query.empty() || l.name.find(query) != std::string::npos)
        items.push_back({{"name", l.name}, {"kind", "lora"}});
  return json{{"items", items}};
}

Result<json> ServerAssistantServices::MemoryStatus() {
  json out = json::object();
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  while (std::getline(meminfo, line)) {
    if (line.rfind("MemTotal:", 0) == 0)
      out["system_total_bytes"] = std::stoll(line.substr(9)) * 1024;
    if (line.rfind("MemAvailable:", 0) == 0)
      out["system_available_bytes"] = std::stoll(line.substr(13)) * 1024;
  }
  json workers = json::array();
  for (const WorkerInfo& w : api_->orchestrator->Workers())
    workers.push_back({{"id", w.id}, {"device", w.device}, {"state", WorkerStateName(w.state)}});
  out["image_workers"] = workers;
  if (llm_ != nullptr) {
    json s = llm_->StatusJson();
    out["language_model"] = {{"model", s["model"]},
                             {"loaded", s["loaded"]},
                             {"weights_bytes", s["weights_bytes"]},
                             {"kv_cache_bytes", s["kv_cache_bytes"]}};
  }
  return out;
}

Result<json> ServerAssistantServices::CheckParams(const json& params, bool for_queue) {
  json fields = json::object();
  for (const char* f : kParamFields) {
    auto it = params.find(f);
    if (it == params.end() || it->is_null()) continue;
    if (it->is_string() && it->get<std::string>().empty()) continue;
    fields[f] = *it;
  }
  const bool has_prompt = fields.contains("prompt");
  if (for_queue && !has_prompt)
    return InvalidArgument("'prompt' is required to queue a generation");
  // The job API's own rules decide (limits, sampler and model names, styles): a dry build of
  // each field alone, then of what passed together.
  const BuildContext build = api_->Build();
  auto check = [&](const json& body) {
    json probe = body;
    if (!probe.contains("prompt")) probe["prompt"] = "probe";
    return BuildJob(probe, build).status();
  };
  json kept = json::object(), dropped = json::object();
  for (const auto& [k, v] : fields.items()) {
    Status st = check(json{{k, v}});
    if (st.ok()) {
      kept[k] = v;
    } else {
      if (k == "prompt" && for_queue) return st;
      dropped[k] = st.message();
    }
  }
  if (Status st = check(kept); !st.ok()) {
    // Fields that pass alone but not together (width x height over the limit ...): keep
    // the prompt and the style only.
    json minimal = json::object();
    for (const char* k : {"prompt", "negative_prompt", "style"})
      if (kept.contains(k)) minimal[k] = kept[k];
    for (const auto& [k, v] : kept.items())
      if (!minimal.contains(k)) dropped[k] = st.message();
    kept = minimal;
  }
  return json{{"params", kept}, {"dropped", dropped}};
}

}  // namespace easel::server
