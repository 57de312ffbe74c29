// The YAML-subset reader. See yaml_lite.h.
#include "library/yaml_lite.h"

#include <cctype>
#include <sstream>

namespace easel::library {
namespace {

struct Line {
  int number = 0;  // 1-based
  int indent = 0;
  std::string text;  // without indentation and trailing whitespace; "" for blank
  std::string raw;
};

std::string RTrim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
  return s;
}

class Parser {
 public:
  Parser(const std::string& text, std::string name) : name_(std::move(name)) {
    std::istringstream in(text);
    std::string raw;
    int n = 0;
    while (std::getline(in, raw)) {
      Line l;
      l.number = ++n;
      l.raw = RTrim(raw);
      size_t i = 0;
      while (i < l.raw.size() && (l.raw[i] == ' ' || l.raw[i] == '\t')) {
        if (l.raw[i] == '\t' && i + 1 < l.raw.size() &&
            l.raw.find_first_not_of(" \t") != std::string::npos)
          Fail(l.number,
               "a tab in the indentation; YAML indents with spaces only: replace the tab");
        ++i;
      }
      l.indent = static_cast<int>(i);
      l.text = l.raw.substr(i);
      lines_.push_back(std::move(l));
    }
  }

  YamlNode ParseDocument() {
    SkipEmpty();
    if (pos_ < lines_.size() && lines_[pos_].text == "---") {
      ++pos_;
    }
    YamlNode root = ParseNode(-1);
    SkipEmpty();
    if (pos_ < lines_.size())
      Fail(lines_[pos_].number, lines_[pos_].text == "---"
                                    ? "a second document ('---'): only one is read; remove it"
                                    : "unexpected indentation: align it with the keys above");
    return root;
  }

 private:
  [[noreturn]] void Fail(int line, const std::string& what) const {
    throw Error(Corrupt(name_ + ": line " + std::to_string(line) + ": " + what));
  }

  static bool IsComment(const std::string& t) { return !t.empty() && t[0] == '#'; }

  void SkipEmpty() {
    while (pos_ < lines_.size() && (lines_[pos_].text.empty() || IsComment(lines_[pos_].text)))
      ++pos_;
  }

  YamlNode ParseNode(int parent_indent) {
    SkipEmpty();
    if (pos_ >= lines_.size() || lines_[pos_].indent <= parent_indent) return {};
    const Line& l = lines_[pos_];
    if (l.text == "-" || l.text.rfind("- ", 0) == 0) return ParseList(l.indent);
    return ParseMap(l.indent);
  }

  // Splits "key: rest" (the key plain or quoted). Fails when there is no ": ".
  std::pair<std::string, std::string> SplitKey(const Line& l) {
    const std::string& t = l.text;
    std::string key;
    size_t i = 0;
    if (t[0] == '"' || t[0] == '\'') {
      size_t end = 0;
      key = Unquote(t, l.number, &end);
      i = end;
      while (i < t.size() && t[i] == ' ') ++i;
      if (i >= t.size() || t[i] != ':') Fail(l.number, "expected ':' after the quoted key");
    } else {
      i = t.find(':');
      while (i != std::string::npos && i + 1 < t.size() && t[i + 1] != ' ') i = t.find(':', i + 1);
      if (i == std::string::npos)
        Fail(l.number, "expected 'key: value', got '" + t + "'; a path list goes under 'key: |'");
      key = RTrim(t.substr(0, i));
    }
    if (key.empty()) Fail(l.number, "empty key before ':'");
    std::string rest = t.substr(i + 1);
    size_t b = rest.find_first_not_of(' ');
    rest = b == std::string::npos ? "" : rest.substr(b);
    return {key, rest};
  }

  YamlNode ParseMap(int indent) {
    YamlNode node;
    node.type = YamlNode::Type::kMap;
    while (true) {
      SkipEmpty();
      if (pos_ >= lines_.size() || lines_[pos_].indent < indent) break;
      const Line& l = lines_[pos_];
      if (l.text == "---" || l.text == "...") break;  // ParseDocument reports it
      if (l.indent > indent) Fail(l.number, "unexpected indentation: align it with the keys above");
      if (l.text.rfind("- ", 0) == 0 || l.text == "-")
        Fail(l.number, "a list item among mapping keys: indent it under a key");
      auto [key, rest] = SplitKey(l);
      for (const auto& kv : node.map)
        if (kv.first == key) Fail(l.number, "duplicate key '" + key + "': keep one");
      ++pos_;
      node.map.emplace_back(key, ParseValue(rest, indent, l.number));
    }
    return node;
  }

  YamlNode ParseList(int indent) {
    YamlNode node;
    node.type = YamlNode::Type::kList;
    while (true) {
      SkipEmpty();
      if (pos_ >= lines_.size() || lines_[pos_].indent < indent) break;
      const Line& l = lines_[pos_];
      if (l.indent > indent) Fail(l.number, "unexpected indentation inside a list");
      if (!(l.text == "-" || l.text.rfind("- ", 0) == 0))
        Fail(l.number, "expected a '- item' line in this list");
      std::string rest = l.text.size() > 2 ? l.text.substr(2) : "";
      size_t b = rest.find_first_not_of(' ');
      rest = b == std::string::npos ? "" : rest.substr(b);
      ++pos_;
      if (!rest.empty() && rest[0] != '"' && rest[0] != '\'' &&
          rest.find(": ") != std::string::npos)
        Fail(l.number, "mappings inside list items are not supported: use 'key: value' lines");
      node.list.push_back(ParseValue(rest, indent, l.number));
    }
    return node;
  }

  YamlNode ParseValue(const std::string& rest, int indent, int number) {
    YamlNode v;
    if (rest.empty() || IsComment(rest)) return ParseNode(indent);
    if (rest[0] == '|' || rest[0] == '>') return BlockScalar(rest, indent, number);
    if (rest[0] == '{' || rest[0] == '[')
      Fail(number, "flow collections ({...} or [...]) are not supported: write one item per line");
    if (rest[0] == '&' || rest[0] == '*' || rest[0] == '!')
      Fail(number, "anchors, aliases and tags are not supported");
    v.type = YamlNode::Type::kScalar;
    if (rest[0] == '"' || rest[0] == '\'') {
      size_t end = 0;
      v.scalar = Unquote(rest, number, &end);
      std::string tail = rest.substr(end);
      size_t b = tail.find_first_not_of(' ');
      if (b != std::string::npos && tail[b] != '#')
        Fail(number, "text after the closing quote: '" + tail.substr(b) + "'");
      return v;
    }
    // Plain scalar: a comment starts at " #".
    const size_t hash = rest.find(" #");
    v.scalar = RTrim(hash == std::string::npos ? rest : rest.substr(0, hash));
    if (v.scalar == "~" || v.scalar == "null") return {};
    return v;
  }

  YamlNode BlockScalar(const std::string& header, int indent, int number) {
    const bool folded = header[0] == '>';
    const std::string mods = RTrim(header.substr(
        1, header.find(" #") == std::string::npos ? std::string::npos : header.find(" #") - 1));
    char chomp = 'c';
    for (char c : mods) {
      if (c == '-' || c == '+')
        chomp = c;
      else if (c != ' ' && !std::isdigit(static_cast<unsigned char>(c)))
        Fail(number, "unknown block scalar header '" + header + "'");
    }
    std::vector<std::string> body;
    int block_indent = -1;
    while (pos_ < lines_.size()) {
      const Line& l = lines_[pos_];
      if (!l.text.empty()) {
        if (l.indent <= indent) break;
        if (block_indent < 0) block_indent = l.indent;
        if (l.indent < block_indent)
          Fail(l.number, "this line is less indented than the block's first line");
        body.push_back(l.raw.substr(block_indent));
      } else {
        body.push_back("");
      }
      ++pos_;
    }
    // Trailing blank lines belong to the chomping, not the content.
    size_t trailing = 0;
    while (!body.empty() && body.back().empty()) {
      body.pop_back();
      ++trailing;
    }
    YamlNode v;
    v.type = YamlNode::Type::kScalar;
    for (size_t i = 0; i < body.size(); ++i) {
      if (i && !folded) v.scalar += "\n";
      if (i && folded) v.scalar += body[i].empty() ? "\n" : body[i - 1].empty() ? "" : " ";
      v.scalar += body[i];
    }
    if (chomp != '-' && !body.empty()) v.scalar += "\n";
    if (chomp == '+') v.scalar += std::string(trailing, '\n');
    return v;
  }

  // A quoted scalar starting at s[0]; *end is the index after the closing quote.
  std::string Unquote(const std::string& s, int number, size_t* end) {
    const char q = s[0];
    std::string out;
    for (size_t i = 1; i < s.size(); ++i) {
      const char c = s[i];
      if (q == '\'' && c == '\'') {
        if (i + 1 < s.size() && s[i + 1] == '\'') {
          out += '\'';
          ++i;
          continue;
        }
        *end = i + 1;
        return out;
      }
      if (q == '"' && c == '\\' && i + 1 < s.size()) {
        const char e = s[++i];
        out += e == 'n' ? '\n' : e == 't' ? '\t' : e;
        continue;
      }
      if (q == '"' && c == '"') {
        *end = i + 1;
        return out;
      }
      out += c;
    }
    Fail(number, std::string("unterminated ") + (q == '"' ? "double" : "single") +
                     "-quoted string: add the closing quote");
  }

  std::string name_;
  std::vector<Line> lines_;
  size_t pos_ = 0;
};

}  // namespace

const YamlNode* YamlNode::Find(const std::string& key) const {
  for (const auto& kv : map)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

Result<YamlNode> ParseYaml(const std::string& text, const std::string& name) {
  YamlNode out;
  Status st = CatchAll([&] {
    Parser p(text, name);
    out = p.ParseDocument();
  });
  if (!st.ok()) return st;
  return out;
}

}  // namespace easel::library
