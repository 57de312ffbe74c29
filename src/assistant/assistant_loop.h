// One turn of the creative assistant: the conversation so far (ending with the user's new
// message) in, the model's reply out, with as many tool calls in between as the budget allows.
//
//   loop:  ask the model (tools offered while the budget lasts)
//          -> text: stream it ("delta" events) and end the turn
//          -> tool calls: for each, "tool_call", run it (tools.h), "tool_result" (plus the
//             tool's own "set_params" / "confirm"), add the call and its result (wrapped as
//             data, untrusted.h) to the conversation, and ask again
//   budget: max_tool_calls per turn; calls past it get an error result, and the next ask
//          offers no tools, so the turn always ends in text; max_steps bounds the asks.
//
// Two ways to get tool calls from a backend:
//   native  external servers (OpenAI-compatible, Ollama) decide between text and tools
//           themselves (tool_choice auto); text streams as it comes.
//   routed  the built-in runtime decodes a tool call as schema-constrained JSON only when a
//           call is required, so each step first requires a call among the tools plus
//           "respond_to_user"; choosing that one means "answer now", and a second request
//           without tools streams the text. Even a 135M-parameter model then produces calls
//           that parse and validate.
//
// Thread-safety: runs on the caller's thread; the caller owns the backend for the whole turn
// (a ChatBackend serves one Chat at a time).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "assistant/tools.h"
#include "llm/chat_backend.h"
#include "util/status.h"

namespace easel::assistant {

struct AssistantOptions {
  bool routed = false;     // see above: true for the built-in runtime (kind builtin/worker)
  int max_tool_calls = 4;  // per turn
  int max_steps = 6;       // model requests per turn (text answer included)
  float temperature = 0.4f;
  uint64_t seed = 0;
  int max_tokens = 400;       // a text answer
  int tool_max_tokens = 160;  // a routed tool call
  // Older messages beyond this many bytes of content are left out of the request (the
  // system prompt and the newest user message always stay).
  size_t history_bytes = 12000;
  // When set, the first request must call this tool (the UI's "enhance this" buttons, and
  // tests that need a deterministic call); later steps are free.
  std::string force_tool;
};

// Routed for the built-in runtime ("builtin", "worker"), native for the others.
bool RoutedFor(const llm::BackendInfo& info);

struct PendingCall {
  llm::ToolCall call;
  nlohmann::json arguments;  // checked parameters
  size_t message_index = 0;  // in TurnResult::messages: its tool message
};

struct TurnResult {
  // What the turn added, in order: assistant messages (with tool calls) and tool messages,
  // ending with the assistant's text answer.
  std::vector<llm::Message> messages;
  std::vector<PendingCall> confirmations;  // queue_generation calls waiting for the user
  std::string finish_reason;               // the last answer's: stop, length, cancelled
  int tool_calls = 0;
};

// `history`: the stored conversation, user message last (no system message: it is added).
// `emit` gets the events (delta, tool_call, tool_result, set_params, confirm); when it
// returns false (the client left) the turn stops at the next chance with finish_reason
// "cancelled". Errors of the backend end the turn with that Status.
Result<TurnResult> RunAssistantTurn(llm::ChatBackend& backend, AssistantServices& services,
                                    const std::vector<llm::Message>& history, const EmitFn& emit,
                                    const AssistantOptions& options);

// The request messages: system prompt + the newest history within options.history_bytes,
// never starting with a tool message whose call was cut away.
std::vector<llm::Message> BuildConversation(const std::vector<llm::Message>& history,
                                            const AssistantOptions& options);

}  // namespace easel::assistant
