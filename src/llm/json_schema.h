// The JSON-schema subset Easel constrains model output to, parsed into a tree, and a
// validator for finished documents.
//
// Supported keywords: type (object, array, string, number, integer, boolean, null),
// properties (in declared order), required, enum (any JSON scalars), items, minItems,
// maxItems, minLength, maxLength. A schema with "enum" and no "type" is an enum. Anything
// else (oneOf, $ref, patterns, additionalProperties: true ...) is kUnsupported, naming the
// keyword and its path, rather than silently ignored; "description", "title", "default",
// "$schema" and "additionalProperties": false are accepted and ignored (objects never get
// properties beyond the declared ones).
//
// Values: immutable after parsing; share freely.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace easel::llm {

struct JsonSchema {
  enum class Kind { kObject, kArray, kString, kNumber, kInteger, kBoolean, kNull, kEnum };
  Kind kind = Kind::kObject;
  // kObject: properties in declared order, and whether each is required.
  std::vector<std::pair<std::string, std::shared_ptr<const JsonSchema>>> properties;
  std::vector<bool> required;
  // kArray
  std::shared_ptr<const JsonSchema> items;
  int64_t min_items = 0;
  int64_t max_items = -1;  // -1: no limit
  // kString (in code points)
  int64_t min_length = 0;
  int64_t max_length = -1;
  // kEnum
  std::vector<nlohmann::json> values;
  // What the recogniser matches literally: kEnum the values as compact JSON, kBoolean
  // "true"/"false", kNull "null", kObject the quoted property names.
  std::vector<std::string> literals;
};

// Fails with kInvalidArgument (malformed schema) or kUnsupported (outside the subset).
// Property order matters (it is the order of generation), so schemas are ordered_json;
// the text form parses with the order kept.
Result<std::shared_ptr<const JsonSchema>> ParseJsonSchema(const nlohmann::ordered_json& schema);
Result<std::shared_ptr<const JsonSchema>> ParseJsonSchema(std::string_view schema_text);

// OK when `value` satisfies `schema`; otherwise kInvalidArgument naming the path ("$.tags[2]:
// expected a string").
Status ValidateJson(const JsonSchema& schema, const nlohmann::json& value);

}  // namespace easel::llm
