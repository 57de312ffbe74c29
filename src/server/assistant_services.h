// ServerAssistantServices: what the assistant's tools reach inside `easel serve` (styles and
// models from the library, the image history, memory, parameter checks against the job
// API's rules), over the ApiContext. Also the prompt enhancer the tool and
// POST /api/v1/llm/enhance share.
//
// Thread-safety: as the ApiContext's parts (thread-safe); one object per assistant turn.
#pragma once

#include <string>

#include "assistant/tools.h"
#include "server/api.h"
#include "server/llm_manager.h"

namespace easel::server {

class ServerAssistantServices final : public assistant::AssistantServices {
 public:
  ServerAssistantServices(ApiContext* api, LlmManager* llm) : api_(api), llm_(llm) {}

  Result<nlohmann::json> Styles() override;
  Result<nlohmann::json> ApplyStyle(const std::string& style, const std::string& prompt,
                                    const std::string& negative_prompt) override;
  Result<std::string> EnhancePrompt(llm::ChatBackend& backend, const std::string& prompt,
                                    const std::string& style) override;
  Result<nlohmann::json> SearchHistory(const std::string& query, int limit) override;
  Result<nlohmann::json> LibraryItems(const std::string& kind, const std::string& query,
                                      int limit) override;
  Result<nlohmann::json> MemoryStatus() override;
  Result<nlohmann::json> CheckParams(const nlohmann::json& params, bool for_queue) override;

 private:
  ApiContext* api_;
  LlmManager* llm_;
};

// Rewrites `prompt` into a richer one with `backend` (llm/uses/enhance.h), aware of the style
// library's names and of `style` (a style name, "" for none; kNotFound when unknown).
Result<std::string> EnhanceWith(llm::ChatBackend& backend, ApiContext& api,
                                const std::string& prompt, const std::string& style);

}  // namespace easel::server
