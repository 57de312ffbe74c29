// A reader for the small subset of YAML that model-path files use (ComfyUI's
// extra_model_paths.yaml): nested mappings by indentation, `key: value` scalars (plain,
// 'single' or "double" quoted), literal `|` and folded `>` block scalars (with - / +
// chomping), `- item` sequences, # comments and blank lines. Not supported, and reported as
// errors with the line number: tabs in indentation, flow collections ({...}, [...]),
// anchors, aliases, tags, multi-document streams, keys without a colon.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "util/status.h"

namespace easel::library {

struct YamlNode {
  enum class Type { kNull, kScalar, kMap, kList };
  Type type = Type::kNull;
  std::string scalar;
  std::vector<std::pair<std::string, YamlNode>> map;  // in file order
  std::vector<YamlNode> list;

  const YamlNode* Find(const std::string& key) const;  // maps only; nullptr if absent
};

// Parses `text`. Fails with kCorrupt "<name>: line N: <what is wrong>; <what to do>".
Result<YamlNode> ParseYaml(const std::string& text, const std::string& name = "YAML");

}  // namespace easel::library
