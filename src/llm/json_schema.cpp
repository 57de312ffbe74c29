// JSON-schema subset parsing and validation. See json_schema.h.
#include "llm/json_schema.h"

#include <cstdint>
#include <set>

namespace easel::llm {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

Result<std::shared_ptr<const JsonSchema>> Parse(const ordered_json& s, const std::string& path) {
  if (!s.is_object()) return InvalidArgument("schema at " + path + " is not an object");
  static const std::set<std::string> kIgnored = {"description", "title", "default", "$schema",
                                                 "examples"};
  static const std::set<std::string> kKnown = {
      "type",     "properties", "required",  "enum",      "items",
      "minItems", "maxItems",   "minLength", "maxLength", "additionalProperties"};
  for (auto it = s.begin(); it != s.end(); ++it) {
    if (kIgnored.count(it.key()) != 0) continue;
    if (kKnown.count(it.key()) == 0) {
      return Unsupported("schema keyword '" + it.key() + "' at " + path +
                         " is not supported by Easel's constrained decoding");
    }
  }
  if (s.contains("additionalProperties") && s["additionalProperties"] != ordered_json(false)) {
    return Unsupported("schema at " + path + ": only \"additionalProperties\": false is supported");
  }
  auto node = std::make_shared<JsonSchema>();
  auto get_int = [&](const char* key, int64_t* out) -> Status {
    if (!s.contains(key)) return Status::Ok();
    if (!s[key].is_number_integer() || s[key].get<int64_t>() < 0) {
      return InvalidArgument("schema at " + path + ": '" + key +
                             "' must be a non-negative integer");
    }
    *out = s[key].get<int64_t>();
    return Status::Ok();
  };
  if (s.contains("enum")) {
    if (!s["enum"].is_array() || s["enum"].empty()) {
      return InvalidArgument("schema at " + path + ": 'enum' must be a non-empty array");
    }
    for (const ordered_json& v : s["enum"]) {
      if (v.is_object() || v.is_array()) {
        return Unsupported("schema at " + path + ": enum values must be scalars");
      }
      node->values.push_back(json::parse(v.dump()));
    }
    if (node->values.size() > 64) {
      return Unsupported("schema at " + path + ": at most 64 enum values are supported");
    }
    node->kind = JsonSchema::Kind::kEnum;
    for (const json& v : node->values) node->literals.push_back(v.dump());
    return std::shared_ptr<const JsonSchema>(node);
  }
  if (!s.contains("type") || !s["type"].is_string()) {
    return InvalidArgument("schema at " + path + " needs a \"type\" string (or an \"enum\")");
  }
  const std::string type = s["type"];
  if (type == "object") {
    node->kind = JsonSchema::Kind::kObject;
    std::set<std::string> required;
    if (s.contains("required")) {
      if (!s["required"].is_array())
        return InvalidArgument("schema at " + path + ": 'required' must be an array");
      for (const ordered_json& r : s["required"]) {
        if (!r.is_string())
          return InvalidArgument("schema at " + path + ": 'required' holds a non-string");
        required.insert(r.get<std::string>());
      }
    }
    if (s.contains("properties")) {
      if (!s["properties"].is_object())
        return InvalidArgument("schema at " + path + ": 'properties' must be an object");
      for (auto it = s["properties"].begin(); it != s["properties"].end(); ++it) {
        auto child = Parse(it.value(), path + "." + it.key());
        if (!child.ok()) return child.status();
        node->properties.emplace_back(it.key(), *child);
        node->required.push_back(required.erase(it.key()) != 0);
      }
    }
    if (!required.empty()) {
      return InvalidArgument("schema at " + path + ": required property '" + *required.begin() +
                             "' is not among its properties");
    }
    if (node->properties.size() > 64) {
      return Unsupported("schema at " + path + ": at most 64 properties are supported");
    }
    for (const auto& p : node->properties) node->literals.push_back(json(p.first).dump());
  } else if (type == "array") {
    node->kind = JsonSchema::Kind::kArray;
    if (!s.contains("items"))
      return InvalidArgument("schema at " + path + ": an array needs 'items'");
    auto items = Parse(s["items"], path + "[]");
    if (!items.ok()) return items.status();
    node->items = *items;
    EASEL_RETURN_IF_ERROR(get_int("minItems", &node->min_items));
    EASEL_RETURN_IF_ERROR(get_int("maxItems", &node->max_items));
    if (node->max_items >= 0 && node->max_items < node->min_items) {
      return InvalidArgument("schema at " + path + ": maxItems < minItems");
    }
  } else if (type == "string") {
    node->kind = JsonSchema::Kind::kString;
    EASEL_RETURN_IF_ERROR(get_int("minLength", &node->min_length));
    EASEL_RETURN_IF_ERROR(get_int("maxLength", &node->max_length));
    if (node->max_length >= 0 && node->max_length < node->min_length) {
      return InvalidArgument("schema at " + path + ": maxLength < minLength");
    }
  } else if (type == "number") {
    node->kind = JsonSchema::Kind::kNumber;
  } else if (type == "integer") {
    node->kind = JsonSchema::Kind::kInteger;
  } else if (type == "boolean") {
    node->kind = JsonSchema::Kind::kBoolean;
    node->literals = {"true", "false"};
  } else if (type == "null") {
    node->kind = JsonSchema::Kind::kNull;
    node->literals = {"null"};
  } else {
    return Unsupported("schema type '" + type + "' at " + path + " is not supported");
  }
  return std::shared_ptr<const JsonSchema>(node);
}

int64_t CodePoints(const std::string& s) {
  int64_t n = 0;
  for (char c : s) n += (static_cast<uint8_t>(c) & 0xC0) != 0x80;
  return n;
}

Status Validate(const JsonSchema& s, const json& v, const std::string& path) {
  auto fail = [&](const std::string& what) { return InvalidArgument(path + ": " + what); };
  switch (s.kind) {
    case JsonSchema::Kind::kObject: {
      if (!v.is_object()) return fail("expected an object");
      for (auto it = v.begin(); it != v.end(); ++it) {
        bool known = false;
        for (const auto& p : s.properties) known = known || p.first == it.key();
        if (!known) return fail("unexpected property '" + it.key() + "'");
      }
      for (size_t i = 0; i < s.properties.size(); ++i) {
        const auto& [name, child] = s.properties[i];
        if (!v.contains(name)) {
          if (s.required[i]) return fail("missing required property '" + name + "'");
          continue;
        }
        EASEL_RETURN_IF_ERROR(Validate(*child, v[name], path + "." + name));
      }
      return Status::Ok();
    }
    case JsonSchema::Kind::kArray: {
      if (!v.is_array()) return fail("expected an array");
      const auto n = static_cast<int64_t>(v.size());
      if (n < s.min_items || (s.max_items >= 0 && n > s.max_items)) {
        return fail("array of " + std::to_string(n) + " items is outside [" +
                    std::to_string(s.min_items) + ", " + std::to_string(s.max_items) + "]");
      }
      for (size_t i = 0; i < v.size(); ++i) {
        EASEL_RETURN_IF_ERROR(Validate(*s.items, v[i], path + "[" + std::to_string(i) + "]"));
      }
      return Status::Ok();
    }
    case JsonSchema::Kind::kString: {
      if (!v.is_string()) return fail("expected a string");
      const int64_t n = CodePoints(v.get<std::string>());
      if (n < s.min_length || (s.max_length >= 0 && n > s.max_length)) {
        return fail("string of " + std::to_string(n) + " code points is outside its length limits");
      }
      return Status::Ok();
    }
    case JsonSchema::Kind::kNumber: return v.is_number() ? Status::Ok() : fail("expected a number");
    case JsonSchema::Kind::kInteger:
      return v.is_number_integer() ? Status::Ok() : fail("expected an integer");
    case JsonSchema::Kind::kBoolean:
      return v.is_boolean() ? Status::Ok() : fail("expected true or false");
    case JsonSchema::Kind::kNull: return v.is_null() ? Status::Ok() : fail("expected null");
    case JsonSchema::Kind::kEnum:
      for (const json& e : s.values) {
        if (e == v) return Status::Ok();
      }
      return fail("value " + v.dump() + " is not one of the enum's");
  }
  return fail("unknown schema kind");
}

}  // namespace

Result<std::shared_ptr<const JsonSchema>> ParseJsonSchema(const nlohmann::ordered_json& schema) {
  return Parse(schema, "$");
}

Result<std::shared_ptr<const JsonSchema>> ParseJsonSchema(std::string_view schema_text) {
  ordered_json j = ordered_json::parse(schema_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument("the JSON schema is not valid JSON");
  return Parse(j, "$");
}

Status ValidateJson(const JsonSchema& schema, const nlohmann::json& value) {
  return Validate(schema, value, "$");
}

}  // namespace easel::llm
