// ChatRequest / ChatResult <-> OpenAI-shaped JSON. See chat_json.h.
#include "llm/chat_json.h"

#include <cmath>
#include <limits>
#include <string>
#include <utility>

namespace easel::llm {
namespace {

using ojson = nlohmann::ordered_json;

// Thrown inside this file; the public functions turn it into a Status.
Error Bad(const std::string& path, const std::string& what) {
  return Error(InvalidArgument(path + ": " + what));
}

std::string TypeOf(const ojson& j) {
  return std::string(j.type_name());
}

const ojson* Member(const ojson& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string GetString(const ojson& obj, const char* key, const std::string& path,
                      bool required = false) {
  const ojson* v = Member(obj, key);
  if (v == nullptr) {
    if (required) throw Bad(path + "." + key, "missing (expected a string)");
    return {};
  }
  if (!v->is_string()) throw Bad(path + "." + key, "expected a string, got " + TypeOf(*v));
  return v->get<std::string>();
}

double GetNumber(const ojson& obj, const char* key, const std::string& path, double fallback,
                 double lo, double hi) {
  const ojson* v = Member(obj, key);
  if (v == nullptr) return fallback;
  if (!v->is_number()) throw Bad(path + "." + key, "expected a number, got " + TypeOf(*v));
  const double d = v->get<double>();
  if (!std::isfinite(d) || d < lo || d > hi) {
    throw Bad(path + "." + key, "expected a number from " + std::to_string(lo) + " to " +
                                    std::to_string(hi) + ", got " + v->dump());
  }
  return d;
}

// Content: a string, null, or [{type: "text", text}] parts.
std::string GetContent(const ojson& obj, const std::string& path) {
  const ojson* v = Member(obj, "content");
  if (v == nullptr) return {};
  if (v->is_string()) return v->get<std::string>();
  if (!v->is_array()) {
    throw Bad(path + ".content", "expected a string or an array of text parts, got " + TypeOf(*v));
  }
  std::string out;
  for (size_t i = 0; i < v->size(); ++i) {
    const ojson& part = (*v)[i];
    const std::string p = path + ".content[" + std::to_string(i) + "]";
    if (!part.is_object()) throw Bad(p, "expected an object {type: \"text\", text}");
    const std::string type = GetString(part, "type", p, true);
    if (type != "text") {
      throw Bad(p + ".type", "only \"text\" parts are supported, got \"" + type + "\"");
    }
    out += GetString(part, "text", p, true);
  }
  return out;
}

ToolCall ParseToolCall(const ojson& j, const std::string& path) {
  if (!j.is_object()) throw Bad(path, "expected an object, got " + TypeOf(j));
  ToolCall c;
  c.id = GetString(j, "id", path);
  const std::string type = GetString(j, "type", path);
  if (!type.empty() && type != "function") {
    throw Bad(path + ".type", "expected \"function\", got \"" + type + "\"");
  }
  const ojson* fn = Member(j, "function");
  if (fn == nullptr || !fn->is_object())
    throw Bad(path + ".function", "missing (expected an object)");
  c.name = GetString(*fn, "name", path + ".function", true);
  if (c.name.empty()) throw Bad(path + ".function.name", "is empty");
  const ojson* args = Member(*fn, "arguments");
  if (args == nullptr) {
    c.arguments_json = "{}";
  } else if (args->is_string()) {
    c.arguments_json = args->get<std::string>();
  } else if (args->is_object()) {
    c.arguments_json = args->dump();
  } else {
    throw Bad(path + ".function.arguments",
              "expected a JSON text or an object, got " + TypeOf(*args));
  }
  return c;
}

Message ParseMessage(const ojson& j, const std::string& path) {
  if (!j.is_object()) throw Bad(path, "expected an object, got " + TypeOf(j));
  Message m;
  m.role = GetString(j, "role", path, true);
  if (m.role == "developer") m.role = "system";  // OpenAI's newer name for it
  if (m.role != "system" && m.role != "user" && m.role != "assistant" && m.role != "tool") {
    throw Bad(path + ".role",
              "expected \"system\", \"user\", \"assistant\" or \"tool\", got \"" + m.role + "\"");
  }
  m.content = GetContent(j, path);
  if (const ojson* calls = Member(j, "tool_calls")) {
    if (!calls->is_array())
      throw Bad(path + ".tool_calls", "expected an array, got " + TypeOf(*calls));
    if (m.role != "assistant" && !calls->empty()) {
      throw Bad(path + ".tool_calls", "only assistant messages carry tool calls");
    }
    for (size_t i = 0; i < calls->size(); ++i) {
      m.tool_calls.push_back(
          ParseToolCall((*calls)[i], path + ".tool_calls[" + std::to_string(i) + "]"));
    }
  }
  m.tool_call_id = GetString(j, "tool_call_id", path);
  m.name = GetString(j, "name", path);
  return m;
}

ToolSpec ParseTool(const ojson& j, const std::string& path) {
  if (!j.is_object()) throw Bad(path, "expected an object, got " + TypeOf(j));
  const std::string type = GetString(j, "type", path);
  if (!type.empty() && type != "function") {
    throw Bad(path + ".type", "expected \"function\", got \"" + type + "\"");
  }
  const ojson* fn = Member(j, "function");
  if (fn == nullptr || !fn->is_object())
    throw Bad(path + ".function", "missing (expected an object)");
  ToolSpec t;
  t.name = GetString(*fn, "name", path + ".function", true);
  if (t.name.empty()) throw Bad(path + ".function.name", "is empty");
  t.description = GetString(*fn, "description", path + ".function");
  const ojson* params = Member(*fn, "parameters");
  if (params == nullptr) {
    t.parameters_schema_json = R"({"type":"object","properties":{}})";
  } else if (params->is_object()) {
    t.parameters_schema_json = params->dump();
  } else {
    throw Bad(path + ".function.parameters",
              "expected a JSON schema object, got " + TypeOf(*params));
  }
  return t;
}

ChatRequest ParseRequest(const ojson& j) {
  if (!j.is_object()) throw Bad("$", "expected a JSON object, got " + TypeOf(j));
  ChatRequest r;
  const ojson* msgs = Member(j, "messages");
  if (msgs == nullptr || !msgs->is_array()) throw Bad("messages", "missing (expected an array)");
  if (msgs->empty()) throw Bad("messages", "is empty (expected at least one message)");
  for (size_t i = 0; i < msgs->size(); ++i) {
    r.messages.push_back(ParseMessage((*msgs)[i], "messages[" + std::to_string(i) + "]"));
  }
  if (const ojson* tools = Member(j, "tools")) {
    if (!tools->is_array()) throw Bad("tools", "expected an array, got " + TypeOf(*tools));
    for (size_t i = 0; i < tools->size(); ++i) {
      r.tools.push_back(ParseTool((*tools)[i], "tools[" + std::to_string(i) + "]"));
      for (size_t k = 0; k + 1 < r.tools.size(); ++k) {
        if (r.tools[k].name == r.tools.back().name) {
          throw Bad("tools[" + std::to_string(i) + "].function.name",
                    "\"" + r.tools.back().name + "\" is listed twice");
        }
      }
    }
  }
  r.tool_choice = r.tools.empty() ? ToolChoice::kNone : ToolChoice::kAuto;
  if (const ojson* tc = Member(j, "tool_choice")) {
    if (tc->is_string()) {
      const std::string s = tc->get<std::string>();
      if (s == "none") {
        r.tool_choice = ToolChoice::kNone;
      } else if (s == "auto") {
        r.tool_choice = ToolChoice::kAuto;
      } else if (s == "required") {
        r.tool_choice = ToolChoice::kRequired;
      } else {
        throw Bad("tool_choice",
                  "expected \"none\", \"auto\", \"required\" or "
                  "{type: \"function\", function: {name}}, got \"" +
                      s + "\"");
      }
    } else if (tc->is_object()) {
      const ojson* fn = Member(*tc, "function");
      if (fn == nullptr || !fn->is_object())
        throw Bad("tool_choice.function", "missing (expected {name})");
      const std::string name = GetString(*fn, "name", "tool_choice.function", true);
      std::vector<ToolSpec> keep;
      for (const ToolSpec& t : r.tools) {
        if (t.name == name) keep.push_back(t);
      }
      if (keep.empty()) {
        throw Bad("tool_choice.function.name",
                  "\"" + name + "\" is not one of the request's tools");
      }
      r.tools = std::move(keep);
      r.tool_choice = ToolChoice::kRequired;
    } else {
      throw Bad("tool_choice", "expected a string or an object, got " + TypeOf(*tc));
    }
    if (r.tool_choice == ToolChoice::kRequired && r.tools.empty()) {
      throw Bad("tool_choice", "\"required\" needs at least one tool in \"tools\"");
    }
  }
  if (const ojson* rf = Member(j, "response_format")) {
    if (!rf->is_object()) throw Bad("response_format", "expected an object, got " + TypeOf(*rf));
    const std::string type = GetString(*rf, "type", "response_format", true);
    if (type == "json_schema") {
      const ojson* js = Member(*rf, "json_schema");
      if (js == nullptr || !js->is_object()) {
        throw Bad("response_format.json_schema", "missing (expected {schema})");
      }
      const ojson* schema = Member(*js, "schema");
      if (schema == nullptr || !schema->is_object()) {
        throw Bad("response_format.json_schema.schema", "missing (expected a JSON schema object)");
      }
      r.json_schema = schema->dump();
    } else if (type == "json_object") {
      throw Error(Unsupported(
          "response_format: {type: \"json_object\"} is not supported; send {type: "
          "\"json_schema\", json_schema: {schema: {...}}} with the object's properties"));
    } else if (type != "text") {
      throw Bad("response_format.type",
                "expected \"text\", \"json_schema\" or \"json_object\", got \"" + type + "\"");
    }
  }
  r.temperature = static_cast<float>(GetNumber(j, "temperature", "$", r.temperature, 0, 100));
  r.top_p = static_cast<float>(GetNumber(j, "top_p", "$", r.top_p, 0, 1));
  r.min_p = static_cast<float>(GetNumber(j, "min_p", "$", r.min_p, 0, 1));
  r.top_k = static_cast<int>(GetNumber(j, "top_k", "$", r.top_k, -1, 1e9));
  r.repeat_penalty =
      static_cast<float>(GetNumber(j, "repetition_penalty", "$", r.repeat_penalty, 0.01, 100));
  r.repeat_penalty =
      static_cast<float>(GetNumber(j, "repeat_penalty", "$", r.repeat_penalty, 0.01, 100));
  const double max_default = GetNumber(j, "max_tokens", "$", r.max_tokens, 1, 1e9);
  r.max_tokens = static_cast<int>(GetNumber(j, "max_completion_tokens", "$", max_default, 1, 1e9));
  if (const ojson* seed = Member(j, "seed")) {
    if (seed->is_number_unsigned()) {
      r.seed = seed->get<uint64_t>();
    } else if (seed->is_number_integer()) {
      r.seed =
          static_cast<uint64_t>(seed->get<int64_t>());  // negative seeds wrap, as a bit pattern
    } else {
      throw Bad("seed", "expected an integer, got " + seed->dump());
    }
  }
  if (const ojson* stop = Member(j, "stop")) {
    if (stop->is_string()) {
      r.stop.push_back(stop->get<std::string>());
    } else if (stop->is_array()) {
      for (size_t i = 0; i < stop->size(); ++i) {
        if (!(*stop)[i].is_string()) {
          throw Bad("stop[" + std::to_string(i) + "]",
                    "expected a string, got " + TypeOf((*stop)[i]));
        }
        r.stop.push_back((*stop)[i].get<std::string>());
      }
    } else {
      throw Bad("stop", "expected a string or an array of strings, got " + TypeOf(*stop));
    }
    for (const std::string& s : r.stop) {
      if (s.empty()) throw Bad("stop", "a stop string is empty");
    }
  }
  return r;
}

ChatResult ParseResult(const ojson& j) {
  if (!j.is_object()) throw Bad("$", "expected a JSON object, got " + TypeOf(j));
  ChatResult r;
  r.content = GetContent(j, "$");
  if (const ojson* calls = Member(j, "tool_calls")) {
    if (!calls->is_array()) throw Bad("tool_calls", "expected an array, got " + TypeOf(*calls));
    for (size_t i = 0; i < calls->size(); ++i) {
      r.tool_calls.push_back(ParseToolCall((*calls)[i], "tool_calls[" + std::to_string(i) + "]"));
    }
  }
  r.finish_reason = GetString(j, "finish_reason", "$");
  if (r.finish_reason.empty()) r.finish_reason = r.tool_calls.empty() ? "stop" : "tool_calls";
  if (const ojson* u = Member(j, "usage")) {
    if (!u->is_object()) throw Bad("usage", "expected an object, got " + TypeOf(*u));
    r.usage.prompt_tokens = static_cast<int>(GetNumber(*u, "prompt_tokens", "usage", 0, 0, 1e12));
    r.usage.completion_tokens =
        static_cast<int>(GetNumber(*u, "completion_tokens", "usage", 0, 0, 1e12));
    r.usage.prefill_seconds = GetNumber(*u, "prefill_seconds", "usage", 0, 0, 1e12);
    r.usage.decode_seconds = GetNumber(*u, "decode_seconds", "usage", 0, 0, 1e12);
  }
  return r;
}

// Schema texts were validated as objects when parsed; a hand-built request may hold anything.
nlohmann::json SchemaJson(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? nlohmann::json(text) : j;
}

template <class T, class Fn>
Result<T> Guard(Fn&& fn) {
  try {
    return fn();
  } catch (const Error& e) {
    return e.status();
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("malformed chat JSON: ") + e.what());
  }
}

ojson ToOrdered(const nlohmann::json& j) {
  return ojson::parse(j.dump());
}

}  // namespace

const char* ToolChoiceName(ToolChoice c) {
  switch (c) {
    case ToolChoice::kNone: return "none";
    case ToolChoice::kAuto: return "auto";
    case ToolChoice::kRequired: return "required";
  }
  return "auto";
}

nlohmann::json ToJson(const ToolCall& call) {
  return {{"id", call.id},
          {"type", "function"},
          {"function", {{"name", call.name}, {"arguments", call.arguments_json}}}};
}

nlohmann::json ToJson(const Message& m) {
  nlohmann::json j = {{"role", m.role}, {"content", m.content}};
  if (!m.tool_calls.empty()) {
    j["tool_calls"] = nlohmann::json::array();
    for (const ToolCall& c : m.tool_calls) j["tool_calls"].push_back(ToJson(c));
  }
  if (!m.tool_call_id.empty()) j["tool_call_id"] = m.tool_call_id;
  if (!m.name.empty()) j["name"] = m.name;
  return j;
}

nlohmann::json ToJson(const ChatRequest& r) {
  nlohmann::json j;
  j["messages"] = nlohmann::json::array();
  for (const Message& m : r.messages) j["messages"].push_back(ToJson(m));
  if (!r.tools.empty()) {
    j["tools"] = nlohmann::json::array();
    for (const ToolSpec& t : r.tools) {
      j["tools"].push_back({{"type", "function"},
                            {"function",
                             {{"name", t.name},
                              {"description", t.description},
                              {"parameters", SchemaJson(t.parameters_schema_json)}}}});
    }
  }
  j["tool_choice"] = ToolChoiceName(r.tool_choice);
  if (r.json_schema) {
    j["response_format"] = {
        {"type", "json_schema"},
        {"json_schema", {{"name", "reply"}, {"schema", SchemaJson(*r.json_schema)}}}};
  }
  j["temperature"] = r.temperature;
  j["top_k"] = r.top_k;
  j["top_p"] = r.top_p;
  j["min_p"] = r.min_p;
  j["repeat_penalty"] = r.repeat_penalty;
  j["seed"] = r.seed;
  j["max_tokens"] = r.max_tokens;
  if (!r.stop.empty()) j["stop"] = r.stop;
  return j;
}

nlohmann::json ToJson(const ChatResult& r) {
  nlohmann::json j = {{"content", r.content}, {"finish_reason", r.finish_reason}};
  j["tool_calls"] = nlohmann::json::array();
  for (const ToolCall& c : r.tool_calls) j["tool_calls"].push_back(ToJson(c));
  j["usage"] = {{"prompt_tokens", r.usage.prompt_tokens},
                {"completion_tokens", r.usage.completion_tokens},
                {"prefill_seconds", r.usage.prefill_seconds},
                {"decode_seconds", r.usage.decode_seconds}};
  return j;
}

Result<ChatRequest> ChatRequestFromJson(const nlohmann::json& j) {
  return Guard<ChatRequest>([&] { return ParseRequest(ToOrdered(j)); });
}

Result<ChatRequest> ChatRequestFromJsonText(std::string_view text) {
  return Guard<ChatRequest>([&] {
    ojson j = ojson::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) throw Bad("$", "the request body is not valid JSON");
    return ParseRequest(j);
  });
}

Result<ChatResult> ChatResultFromJson(const nlohmann::json& j) {
  return Guard<ChatResult>([&] { return ParseResult(ToOrdered(j)); });
}

Result<Message> MessageFromJson(const nlohmann::json& j) {
  return Guard<Message>([&] { return ParseMessage(ToOrdered(j), "message"); });
}

Result<ToolCall> ToolCallFromJson(const nlohmann::json& j) {
  return Guard<ToolCall>([&] { return ParseToolCall(ToOrdered(j), "tool_call"); });
}

}  // namespace easel::llm
