#include "io/infotext.h"

#include <nlohmann/json.hpp>

namespace easel::io {
namespace {

// A1111 quotes a value holding a separator so the line stays parseable.
std::string Quote(const std::string& v) {
  if (v.find_first_of(",:\n") == std::string::npos) return v;
  return nlohmann::json(v).dump();
}

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// Parses "Key: value, Key2: "quoted, value", ..." into pairs. Returns false if the line is not
// a settings line (fewer than 3 pairs, as A1111 requires before treating it so).
bool ParseSettingsLine(const std::string& line,
                       std::vector<std::pair<std::string, std::string>>* out) {
  std::vector<std::pair<std::string, std::string>> pairs;
  size_t i = 0;
  const size_t n = line.size();
  while (i < n) {
    while (i < n && line[i] == ' ') ++i;
    if (i >= n) break;
    size_t colon = line.find(':', i);
    if (colon == std::string::npos) return false;
    std::string key = line.substr(i, colon - i);
    if (key.empty() || key.find(',') != std::string::npos) return false;
    i = colon + 1;
    while (i < n && line[i] == ' ') ++i;
    std::string value;
    if (i < n && line[i] == '"') {
      size_t j = i + 1;
      while (j < n && line[j] != '"') j += (line[j] == '\\') ? 2 : 1;
      if (j >= n) return false;
      try {
        value = nlohmann::json::parse(line.substr(i, j - i + 1)).get<std::string>();
      } catch (const std::exception&) {
        value = line.substr(i + 1, j - i - 1);
      }
      i = j + 1;
      while (i < n && line[i] == ' ') ++i;
      if (i < n && line[i] != ',') return false;
      ++i;
    } else {
      size_t comma = line.find(',', i);
      if (comma == std::string::npos) comma = n;
      value = line.substr(i, comma - i);
      while (!value.empty() && value.back() == ' ') value.pop_back();
      i = comma + 1;
    }
    pairs.emplace_back(std::move(key), std::move(value));
  }
  if (pairs.size() < 3) return false;
  *out = std::move(pairs);
  return true;
}

}  // namespace

const std::string* Infotext::Find(const std::string& key) const {
  for (const auto& [k, v] : params)
    if (k == key) return &v;
  return nullptr;
}

std::string FormatInfotext(const Infotext& info) {
  std::string out = info.prompt;
  if (!info.negative_prompt.empty()) out += "\nNegative prompt: " + info.negative_prompt;
  if (!info.params.empty()) {
    out += "\n";
    for (size_t i = 0; i < info.params.size(); ++i) {
      if (i) out += ", ";
      out += info.params[i].first + ": " + Quote(info.params[i].second);
    }
  }
  return out;
}

Infotext ParseInfotext(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    start = nl + 1;
  }
  Infotext info;
  if (!lines.empty() && ParseSettingsLine(lines.back(), &info.params)) lines.pop_back();
  bool in_negative = false;
  bool prompt_started = false;
  for (const std::string& line : lines) {
    if (StartsWith(line, "Negative prompt:")) {
      in_negative = true;
      std::string rest = line.substr(16);
      if (!rest.empty() && rest[0] == ' ') rest.erase(0, 1);
      info.negative_prompt = rest;
      continue;
    }
    if (in_negative) {
      info.negative_prompt += "\n" + line;
    } else {
      if (prompt_started) info.prompt += "\n";
      info.prompt += line;
      prompt_started = true;
    }
  }
  return info;
}

}  // namespace easel::io
