// Keyword and concept extraction. See prompt_analysis.h.
#include "library/prompt_analysis.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

namespace easel::library {
namespace {

const std::set<std::string>& StopWords() {
  static const std::set<std::string> k = {
      "a",     "an",      "the", "with", "of",    "in",    "on",   "at",   "and",   "or",
      "for",   "to",      "by",  "from", "very",  "is",    "are",  "be",   "it",    "its",
      "this",  "that",    "as",  "into", "over",  "under", "her",  "his",  "their", "some",
      "while", "wearing", "has", "have", "which", "who",   "very", "most", "more",  "much"};
  return k;
}

struct StyleWords {
  const char* style;
  std::vector<const char*> words;
};

const std::vector<StyleWords>& StyleLexicon() {
  static const std::vector<StyleWords> k = {
      {"anime",
       {"anime", "manga", "waifu", "chibi", "kawaii", "1girl", "1boy", "2girls", "vtuber", "ghibli",
        "cel-shaded", "pony", "illustrious", "noobai", "hentai", "animagine", "niji", "toon",
        "cartoon"}},
      {"realistic", {"photo",     "photograph", "photography",    "photorealistic", "realistic",
                     "realism",   "raw",        "dslr",           "35mm",           "85mm",
                     "bokeh",     "cinematic",  "film",           "hyperrealistic", "real",
                     "photoreal", "analog",     "portrait-photo", "realvis",        "juggernaut"}},
      {"artistic", {"painting",      "oil",           "watercolor",  "watercolour", "sketch",
                    "impressionist", "impressionism", "artwork",     "canvas",      "acrylic",
                    "ink",           "gouache",       "baroque",     "renaissance", "surreal",
                    "surrealism",    "pastel",        "charcoal",    "painted",     "artistic",
                    "illustration",  "concept-art",   "dreamshaper", "art"}},
      {"3d",
       {"3d", "render", "blender", "octane", "unreal", "cgi", "c4d", "pixar", "isometric", "voxel",
        "clay", "claymation", "low-poly", "lowpoly", "rendered", "zbrush"}},
  };
  return k;
}

struct ContentWords {
  const char* content;
  std::vector<const char*> words;
};

const std::vector<ContentWords>& ContentLexicon() {
  static const std::vector<ContentWords> k = {
      {"portrait", {"portrait", "face", "headshot", "closeup", "close-up", "selfie"}},
      {"character",
       {"girl",    "boy",      "woman",   "man",   "person", "people", "knight", "wizard",
        "warrior", "princess", "prince",  "1girl", "1boy",   "lady",   "child",  "character",
        "witch",   "samurai",  "soldier", "queen", "king",   "elf",    "ninja",  "mage"}},
      {"animal",
       {"cat", "dog", "fox", "bird", "horse", "dragon", "wolf", "owl", "tiger", "lion", "rabbit",
        "bear"}},
      {"landscape",
       {"landscape", "mountain", "mountains", "forest", "sea", "ocean", "sunset", "sunrise",
        "valley", "lake", "river", "beach", "desert", "sky", "field", "meadow", "waterfall",
        "island", "snow"}},
      {"scene",
       {"city", "street", "room", "interior", "castle", "village", "town", "market", "cityscape",
        "skyline", "temple", "spaceship", "station", "library"}},
      {"object",
       {"car", "cup", "product", "food", "bottle", "watch", "shoe", "chair", "logo", "icon",
        "sword", "phone"}},
  };
  return k;
}

// Related terms, so a "cyberpunk" prompt finds a LoRA tagged "neon" or "sci-fi".
const std::map<std::string, std::vector<std::string>>& Related() {
  static const std::map<std::string, std::vector<std::string>> k = {
      {"cyberpunk", {"sci-fi", "neon", "futuristic"}},
      {"neon", {"cyberpunk"}},
      {"sci-fi", {"futuristic", "space"}},
      {"fantasy", {"magic", "medieval"}},
      {"wizard", {"magic", "fantasy"}},
      {"witch", {"magic", "fantasy"}},
      {"knight", {"armor", "medieval", "fantasy"}},
      {"dragon", {"fantasy"}},
      {"castle", {"medieval", "fantasy"}},
      {"girl", {"1girl", "woman", "female"}},
      {"woman", {"female"}},
      {"boy", {"1boy", "male"}},
      {"man", {"male"}},
      {"night", {"dark"}},
      {"sunset", {"golden hour"}},
      {"steampunk", {"victorian", "brass"}},
  };
  return k;
}

std::string StripSyntax(const std::string& prompt) {
  std::string s;
  // <lora:name:w>, <hypernet:...>: dropped; (word:1.2) weights: dropped.
  for (size_t i = 0; i < prompt.size(); ++i) {
    const char c = prompt[i];
    if (c == '<') {
      const size_t close = prompt.find('>', i);
      if (close != std::string::npos) {
        i = close;
        s += ' ';
        continue;
      }
    }
    if (c == ':') {
      size_t j = i + 1;
      while (j < prompt.size() &&
             (std::isdigit(static_cast<unsigned char>(prompt[j])) || prompt[j] == '.'))
        ++j;
      if (j > i + 1) {
        i = j - 1;
        s += ' ';
        continue;
      }
    }
    s += c;
  }
  return s;
}

void AddUnique(const std::string& v, std::vector<std::string>* to) {
  if (std::find(to->begin(), to->end(), v) == to->end()) to->push_back(v);
}

}  // namespace

std::vector<std::string> Words(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    while (!cur.empty() && cur.back() == '-') cur.pop_back();
    while (!cur.empty() && cur.front() == '-') cur.erase(cur.begin());
    if (!cur.empty()) out.push_back(cur);
    cur.clear();
  };
  for (char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || u >= 0x80)
      cur += static_cast<char>(std::tolower(u));
    else
      flush();
  }
  flush();
  return out;
}

std::vector<std::string> PromptAnalysis::Terms() const {
  std::vector<std::string> out = words;
  for (const auto& p : phrases) AddUnique(p, &out);
  for (const auto& c : concepts) AddUnique(c, &out);
  return out;
}

std::vector<std::string> StylesOfText(const std::string& text) {
  std::vector<std::string> out;
  const std::vector<std::string> words = Words(text);
  const std::set<std::string> set(words.begin(), words.end());
  for (const StyleWords& s : StyleLexicon())
    for (const char* w : s.words)
      if (set.count(w)) {
        AddUnique(s.style, &out);
        break;
      }
  return out;
}

PromptAnalysis AnalyzePrompt(const std::string& prompt) {
  PromptAnalysis a;
  std::vector<std::string> all = Words(StripSyntax(prompt));
  std::vector<std::string> kept;  // keywords in order, with repeats, for phrases
  for (const std::string& w : all) {
    if (StopWords().count(w) || w.size() < 2) {
      kept.push_back("");  // a stop word breaks a phrase
      continue;
    }
    kept.push_back(w);
    AddUnique(w, &a.words);
  }
  for (size_t i = 0; i + 1 < kept.size(); ++i)
    if (!kept[i].empty() && !kept[i + 1].empty())
      AddUnique(kept[i] + " " + kept[i + 1], &a.phrases);
  // Style: the lexicon entry with the most hits; ties go to the earlier style in the table.
  const std::set<std::string> set(a.words.begin(), a.words.end());
  size_t best = 0;
  for (const StyleWords& s : StyleLexicon()) {
    std::vector<std::string> hits;
    for (const char* w : s.words)
      if (set.count(w)) hits.push_back(w);
    for (const auto& p : a.phrases)
      if (p == "concept art" && std::string(s.style) == "artistic") hits.push_back(p);
    if (hits.size() > best) {
      best = hits.size();
      a.style = s.style;
      std::string list;
      for (const auto& h : hits) list += (list.empty() ? "'" : ", '") + h + "'";
      a.evidence.assign(1, std::string("style ") + s.style + " from " + list);
    }
  }
  for (const ContentWords& c : ContentLexicon()) {
    for (const char* w : c.words)
      if (set.count(w)) {
        a.content = c.content;
        a.evidence.push_back(std::string("content ") + c.content + " from '" + w + "'");
        break;
      }
    if (!a.content.empty()) break;
  }
  for (const std::string& w : a.words) {
    auto it = Related().find(w);
    if (it == Related().end()) continue;
    for (const std::string& r : it->second)
      if (!set.count(r)) AddUnique(r, &a.concepts);
  }
  return a;
}

}  // namespace easel::library
