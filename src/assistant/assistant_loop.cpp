// The assistant's turn loop (see assistant_loop.h).
#include "assistant/assistant_loop.h"

#include <set>

#include "assistant/untrusted.h"
#include "llm/tool_calls.h"
#include "store/ids.h"

namespace easel::assistant {
namespace {

using json = nlohmann::json;

size_t SizeOf(const llm::Message& m) {
  size_t n = m.content.size() + 16;
  for (const llm::ToolCall& c : m.tool_calls) n += c.name.size() + c.arguments_json.size();
  return n;
}

llm::ChatRequest BaseRequest(const std::vector<llm::Message>& conversation,
                             const AssistantOptions& o) {
  llm::ChatRequest r;
  r.messages = conversation;
  r.temperature = o.temperature;
  r.seed = o.seed;
  r.max_tokens = o.max_tokens;
  return r;
}

std::string CanonicalArguments(const llm::ToolCall& call) {
  json args = json::parse(call.arguments_json, nullptr, false);
  return args.is_discarded() ? call.arguments_json : args.dump();
}

// When the model has no words of its own after its tool calls: say what was done.
std::string FallbackAnswer(const TurnResult& turn) {
  std::string done;
  std::set<std::string> named;
  for (const llm::Message& m : turn.messages)
    for (const llm::ToolCall& c : m.tool_calls)
      if (named.insert(c.name).second) done += (done.empty() ? "" : ", ") + c.name;
  if (done.empty()) return "Sorry, I have no answer to that.";
  std::string text = "I used " + done + ": the results are above.";
  if (!turn.confirmations.empty()) text += " Please confirm the generation to start it.";
  return text;
}

json ArgumentsJson(const llm::ToolCall& call) {
  json args = json::parse(call.arguments_json, nullptr, false);
  return args.is_discarded() ? json(call.arguments_json) : args;
}

}  // namespace

bool RoutedFor(const llm::BackendInfo& info) {
  return info.kind == "builtin" || info.kind == "worker";
}

std::vector<llm::Message> BuildConversation(const std::vector<llm::Message>& history,
                                            const AssistantOptions& options) {
  std::vector<llm::Message> out;
  out.push_back({"system", SystemPrompt(), {}, "", ""});
  // Walk back from the newest until the budget is spent (the newest message always stays).
  size_t used = 0, first = history.size();
  while (first > 0) {
    const size_t n = SizeOf(history[first - 1]);
    if (first < history.size() && used + n > options.history_bytes) break;
    used += n;
    --first;
  }
  // A tool message must follow the assistant message that called it: skip orphans.
  while (first < history.size() && history[first].role == "tool") ++first;
  for (size_t i = first; i < history.size(); ++i) {
    const llm::Message& m = history[i];
    if (m.role == "system") continue;  // only ours
    out.push_back(m);
  }
  return out;
}

Result<TurnResult> RunAssistantTurn(llm::ChatBackend& backend, AssistantServices& services,
                                    const std::vector<llm::Message>& history, const EmitFn& emit,
                                    const AssistantOptions& o) {
  TurnResult turn;
  std::vector<llm::Message> conversation = BuildConversation(history, o);
  std::vector<llm::ToolSpec> tools = AssistantTools();
  bool client_gone = false;
  auto send = [&](const std::string& type, const json& data) {
    if (client_gone) return false;
    if (!emit(type, data)) client_gone = true;
    return !client_gone;
  };
  auto stream = [&](std::string_view delta) { return send("delta", {{"text", delta}}); };
  std::set<std::string> used_ids;
  std::set<std::string> made;    // name + arguments of the calls run this turn
  std::set<std::string> called;  // names of the tools called this turn
  bool force_answer = false;

  for (int step = 0;; ++step) {
    const bool tools_allowed =
        !force_answer && turn.tool_calls < o.max_tool_calls && step + 1 < o.max_steps;
    llm::ChatRequest request = BaseRequest(conversation, o);
    Result<llm::ChatResult> r = Status(Code::kInternal, "no request made");
    bool answer_now = !tools_allowed;
    if (step == 0 && !o.force_tool.empty()) {
      for (const llm::ToolSpec& t : tools)
        if (t.name == o.force_tool) request.tools = {t};
      if (request.tools.empty())
        return InvalidArgument("'" + o.force_tool.substr(0, 64) +
                               "' is not one of the assistant's tools");
      request.tool_choice = llm::ToolChoice::kRequired;
      request.temperature = 0;
      request.max_tokens = o.tool_max_tokens;
      r = backend.Chat(request, nullptr);
      if (!r.ok()) return r.status();
      answer_now = r->tool_calls.empty();
    } else if (tools_allowed && o.routed) {
      // A tool already used this turn is not offered again: small models repeat themselves.
      for (const llm::ToolSpec& t : tools)
        if (called.count(t.name) == 0) request.tools.push_back(t);
      request.tools.push_back(RespondTool());
      request.tool_choice = llm::ToolChoice::kRequired;
      request.temperature = 0;  // a tool choice: greedy
      request.max_tokens = o.tool_max_tokens;
      r = backend.Chat(request, nullptr);
      if (!r.ok()) return r.status();
      if (r->tool_calls.empty() || r->tool_calls.front().name == kRespond) answer_now = true;
    } else if (tools_allowed) {
      request.tools = tools;
      request.tool_choice = llm::ToolChoice::kAuto;
      r = backend.Chat(request, stream);
      if (!r.ok()) return r.status();
      if (r->tool_calls.empty()) {  // it answered in text (streamed already)
        turn.messages.push_back({"assistant", r->content, {}, "", ""});
        turn.finish_reason = client_gone ? "cancelled" : r->finish_reason;
        return turn;
      }
    }
    if (answer_now) {
      request = BaseRequest(conversation, o);
      request.tool_choice = llm::ToolChoice::kNone;
      // Small models imitate the tool calls above them: stop at one, and hold text back
      // while it may still be one, so the user never sees call syntax.
      request.stop.push_back(std::string(llm::kToolCallOpen));
      std::string text, held;
      bool flowing = false;
      r = backend.Chat(request, [&](std::string_view d) {
        text.append(d.data(), d.size());
        if (!flowing) {
          held.append(d.data(), d.size());
          if (llm::MayBeToolCall(text)) return true;
          flowing = true;
          d = held;
        }
        return stream(d);
      });
      if (!r.ok()) return r.status();
      std::string answer = r->content;
      const size_t call_at = answer.find(llm::kToolCallOpen);
      if (call_at != std::string::npos) answer.erase(call_at);
      if (!flowing) {
        answer = llm::MayBeToolCall(answer) ? std::string() : answer;
        if (answer.empty()) answer = FallbackAnswer(turn);
        stream(answer);
      }
      turn.messages.push_back({"assistant", answer, {}, "", ""});
      turn.finish_reason = client_gone ? "cancelled" : r->finish_reason;
      return turn;
    }

    // Tool calls: fresh unique ids (a backend may number them call_0, call_1 ... per step);
    // a call repeated with the same arguments is not run again (small models loop).
    llm::Message call_message{"assistant", r->content, {}, "", ""};
    for (llm::ToolCall call : r->tool_calls) {
      if (call.name == kRespond) continue;
      const std::string key = call.name + "\n" + CanonicalArguments(call);
      if (!made.insert(key).second) continue;
      called.insert(call.name);
      if (call.id.empty() || used_ids.count(call.id) > 0 || call.id.size() > 64)
        call.id = store::NewId("call_");
      used_ids.insert(call.id);
      call_message.tool_calls.push_back(std::move(call));
    }
    if (call_message.tool_calls.empty()) {  // only repeats: answer with what there is
      force_answer = true;
      continue;
    }
    conversation.push_back(call_message);
    turn.messages.push_back(call_message);
    for (const llm::ToolCall& call : call_message.tool_calls) {
      send("tool_call", {{"id", call.id}, {"name", call.name}, {"arguments", ArgumentsJson(call)}});
      ++turn.tool_calls;
      ToolOutcome outcome;
      if (turn.tool_calls > o.max_tool_calls) {
        outcome.ok = false;
        outcome.result = {{"error", "the budget of " + std::to_string(o.max_tool_calls) +
                                        " tool calls for this turn is spent: answer the user "
                                        "with what you have"}};
      } else {
        outcome = ExecuteTool(call, services, backend, send);
      }
      const bool untrusted = ReturnsUntrustedText(call.name);
      llm::Message result{
          "tool", ToolResultContent(call.name, outcome.result, untrusted), {}, call.id, call.name};
      int flagged = 0;
      send("tool_result", {{"id", call.id},
                           {"name", call.name},
                           {"result", SanitizeData(outcome.result, SanitizeLimits{}, &flagged)}});
      conversation.push_back(result);
      turn.messages.push_back(result);
      if (outcome.needs_confirmation)
        turn.confirmations.push_back({call, outcome.confirm_arguments, turn.messages.size() - 1});
    }
    if (client_gone) {
      turn.finish_reason = "cancelled";
      return turn;
    }
  }
}

}  // namespace easel::assistant
