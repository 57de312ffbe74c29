// Styles and styles.csv. See styles.h.
#include "library/styles.h"

#include <cctype>

namespace easel::library {
namespace {

std::string Trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

// RFC 4180 records: fields separated by ',', records by CRLF or LF, "..." quoting with ""
// for a quote; quoted fields may hold newlines.
Result<std::vector<std::vector<std::string>>> ParseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, any = false;
  int line = 1, quote_line = 0;
  size_t i = text.rfind("\xEF\xBB\xBF", 0) == 0 ? 3 : 0;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"') {
      quoted = true;
      any = true;
      quote_line = line;
    } else if (c == ',') {
      row.push_back(field);
      field.clear();
      any = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      ++line;
      if (any || !field.empty()) {
        row.push_back(field);
        rows.push_back(row);
      }
      row.clear();
      field.clear();
      any = false;
    } else {
      field += c;
      any = true;
    }
  }
  if (quoted)
    return Corrupt("styles.csv: line " + std::to_string(quote_line) +
                   ": a quoted field is never closed: add the closing '\"'");
  if (any || !field.empty()) {
    row.push_back(field);
    rows.push_back(row);
  }
  return rows;
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

std::string MergeStyleText(const std::string& snippet, const std::string& text) {
  if (snippet.empty()) return text;
  const size_t at = snippet.find("{prompt}");
  if (at != std::string::npos) {
    std::string out = snippet;
    for (size_t pos = out.find("{prompt}"); pos != std::string::npos;
         pos = out.find("{prompt}", pos + text.size()))
      out.replace(pos, 8, text);
    return out;
  }
  const std::string t = Trim(text);
  if (t.empty()) return snippet;
  return (t.back() == ',' ? t + " " : t + ", ") + snippet;
}

void ApplyStyle(const Style& style, std::string* prompt, std::string* negative_prompt) {
  if (prompt) *prompt = MergeStyleText(style.prompt, *prompt);
  if (negative_prompt) *negative_prompt = MergeStyleText(style.negative_prompt, *negative_prompt);
}

Result<std::vector<Style>> ParseStylesCsv(const std::string& text) {
  auto rows = ParseCsv(text);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::vector<Style>{};
  const auto& header = rows->front();
  int name = -1, prompt = -1, negative = -1;
  for (size_t i = 0; i < header.size(); ++i) {
    const std::string h = Trim(header[i]);
    if (h == "name") name = static_cast<int>(i);
    if (h == "prompt") prompt = static_cast<int>(i);
    if (h == "negative_prompt") negative = static_cast<int>(i);
  }
  if (name < 0)
    return InvalidArgument(
        "styles.csv: the first row must name the columns: name,prompt,negative_prompt");
  std::vector<Style> out;
  for (size_t r = 1; r < rows->size(); ++r) {
    const auto& row = (*rows)[r];
    auto cell = [&](int i) {
      return i >= 0 && i < static_cast<int>(row.size()) ? row[i] : std::string();
    };
    Style s;
    s.name = Trim(cell(name));
    if (s.name.empty()) continue;
    s.prompt = cell(prompt);
    s.negative_prompt = cell(negative);
    out.push_back(std::move(s));
  }
  return out;
}

std::string WriteStylesCsv(const std::vector<Style>& styles) {
  std::string out = "name,prompt,negative_prompt\n";
  for (const Style& s : styles)
    out += CsvField(s.name) + "," + CsvField(s.prompt) + "," + CsvField(s.negative_prompt) + "\n";
  return out;
}

}  // namespace easel::library
