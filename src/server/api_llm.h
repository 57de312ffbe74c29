// The language-model routes (documented in openapi.cpp and /work/notes/llm_api.md):
//   OpenAI  POST /v1/chat/completions                           api_chat.cpp
//   native  GET  /api/v1/llm/status, POST /api/v1/llm/enhance,
//           POST /api/v1/llm/analyse                            api_assistant.cpp
//           /api/v1/assistant/sessions[/{id}[/messages|/confirm]] api_assistant.cpp
// They reach the model through the LlmManager (null: no model configured; the routes then
// answer 503 saying how to configure one, and /llm/analyse falls back to keywords).
#pragma once

#include "server/api.h"
#include "server/llm_manager.h"
#include "store/assistant_store.h"

namespace easel::server {

struct LlmContext {
  ApiContext* api = nullptr;
  LlmManager* llm = nullptr;                        // null: none configured
  store::SqliteAssistantStore* sessions = nullptr;  // assistant history
  int max_tool_calls = 4;                           // per assistant turn
};

void AddChatRoutes(http::Router& router, LlmContext& ctx);
void AddAssistantRoutes(http::Router& router, LlmContext& ctx);
// Adds these routes to the OpenAPI document's "paths" (openapi_llm.cpp).
void AddLlmPaths(nlohmann::json* paths);

}  // namespace easel::server
