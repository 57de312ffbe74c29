// BuildImageWhere and FtsTokens (see sqlite_search.h).
//
// Each term becomes one condition on `images i`:
//   text, model    FTS5 phrases: all positive ones ANDed into one MATCH
//                  (i.seq IN (SELECT rowid FROM images_fts WHERE images_fts MATCH ?)),
//                  all negated ones ORed into one NOT IN, so "-word" works on its own
//                  (FTS5's NOT needs a left side)
//   tag            EXISTS over image_tags (exact tag, or LIKE 'prefix%')
//   sampler, ...   i.sampler = ? COLLATE NOCASE (or LIKE 'prefix%')
//   seed           i.seed = ?
#include "store/sqlite_search.h"

#include <sqlite3.h>

#include <algorithm>

namespace easel::store {
namespace {

// Must match the tokenize option of images_fts (easel_schema.cpp, version 2).
constexpr const char* kTokenizer = "unicode61";
constexpr const char* kTokenizerArgs[] = {"remove_diacritics", "2"};

// The FTS5 extension API of a connection (the documented "SELECT fts5(?1)" handshake).
fts5_api* Fts5Api(Database& db) {
  fts5_api* api = nullptr;
  // The pointer-passing interface has no Statement wrapper: bind it directly.
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db.handle(), "SELECT fts5(?1)", -1, &raw, nullptr) == SQLITE_OK) {
    sqlite3_bind_pointer(raw, 1, static_cast<void*>(&api), "fts5_api_ptr", nullptr);
    sqlite3_step(raw);
  }
  sqlite3_finalize(raw);
  if (api == nullptr) {
    throw Error(Code::kUnsupported,
                "this SQLite library has no FTS5 full-text search: install a build with FTS5 "
                "(Debian's libsqlite3 has it)");
  }
  return api;
}

// "tok1 tok2" with an optional trailing *: a phrase FTS5 reads as these tokens in order.
std::string FtsPhrase(const std::vector<std::string>& tokens, bool prefix) {
  std::string s = "\"";
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i > 0) s += ' ';
    for (char c : tokens[i]) s += c == '"' ? std::string("\"\"") : std::string(1, c);
  }
  s += '"';
  if (prefix) s += " *";
  return s;
}

// The value's own % _ \ escaped for LIKE ... ESCAPE '\'.
std::string LikeEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '%' || c == '_' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// 'abc' -> 'abc%' for LIKE ... ESCAPE '\', with the value's own % _ \ escaped.
std::string LikePrefix(std::string_view s) {
  return LikeEscape(s) + "%";
}

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string Trim(std::string_view s) {
  size_t b = s.find_first_not_of(' ');
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(' ');
  return std::string(s.substr(b, e - b + 1));
}

}  // namespace

void SqlWhere::BindTo(Statement& st, int first_index) const {
  int i = first_index;
  for (const SqlParam& p : params) {
    if (std::holds_alternative<int64_t>(p)) {
      st.Bind(i++, std::get<int64_t>(p));
    } else {
      st.Bind(i++, std::get<std::string>(p));
    }
  }
}

std::vector<std::string> FtsTokens(Database& db, std::string_view text, bool prefix) {
  fts5_api* api = Fts5Api(db);
  void* user_data = nullptr;
  fts5_tokenizer tokenizer{};
  if (api->xFindTokenizer(api, kTokenizer, &user_data, &tokenizer) != SQLITE_OK)
    throw Error(Code::kUnsupported, std::string("SQLite has no FTS5 tokenizer ") + kTokenizer);
  Fts5Tokenizer* tok = nullptr;
  const char* args[] = {kTokenizerArgs[0], kTokenizerArgs[1]};
  if (tokenizer.xCreate(user_data, args, 2, &tok) != SQLITE_OK || tok == nullptr)
    throw Error(Code::kInternal, std::string("cannot create the FTS5 tokenizer ") + kTokenizer);
  std::vector<std::string> tokens;
  auto on_token = [](void* ctx, int flags, const char* token, int size, int, int) -> int {
    if ((flags & FTS5_TOKEN_COLOCATED) == 0)
      static_cast<std::vector<std::string>*>(ctx)->emplace_back(token, static_cast<size_t>(size));
    return SQLITE_OK;
  };
  int mode = FTS5_TOKENIZE_QUERY | (prefix ? FTS5_TOKENIZE_PREFIX : 0);
  int rc =
      tokenizer.xTokenize(tok, &tokens, mode, text.data(), static_cast<int>(text.size()), on_token);
  tokenizer.xDelete(tok);
  if (rc != SQLITE_OK) db.Throw(rc, "cannot tokenize a search");
  return tokens;
}

SqlWhere BuildImageWhere(Database& db, std::string_view raw_query, const SearchQuery& query,
                         const ImageFilters& filters) {
  std::vector<std::string> conds;
  SqlWhere w;
  std::vector<std::string> fts_and, fts_not;

  for (const SearchTerm& t : query.terms) {
    switch (t.field) {
      case SearchField::kText:
      case SearchField::kModel: {
        std::vector<std::string> tokens = FtsTokens(db, t.text, t.prefix);
        if (tokens.empty()) {
          if (t.field == SearchField::kText) break;  // punctuation only: ignored
          throw Error(Code::kInvalidArgument,
                      "model:" + t.text.substr(0, 40) +
                          " has no letters or digits to look for: try model:dream*");
        }
        std::string phrase = FtsPhrase(tokens, t.prefix);
        if (t.field == SearchField::kModel) phrase = "model : (" + phrase + ")";
        (t.negated ? fts_not : fts_and).push_back(phrase);
        break;
      }
      case SearchField::kTag: {
        std::string tag = AsciiLower(Trim(t.text));
        std::string c = "EXISTS (SELECT 1 FROM image_tags t WHERE t.image_seq = i.seq AND ";
        c += t.prefix ? "t.tag LIKE ? ESCAPE '\\')" : "t.tag = ?)";
        conds.push_back(t.negated ? "NOT " + c : c);
        w.params.push_back(t.prefix ? LikePrefix(tag) : tag);
        break;
      }
      case SearchField::kSampler:
      case SearchField::kScheduler: {
        std::string column = t.field == SearchField::kSampler ? "i.sampler" : "i.scheduler";
        std::string c = t.prefix ? column + " LIKE ? ESCAPE '\\'" : column + " = ? COLLATE NOCASE";
        conds.push_back(t.negated ? "NOT (" + c + ")" : c);
        w.params.push_back(t.prefix ? LikePrefix(Trim(t.text)) : Trim(t.text));
        break;
      }
      case SearchField::kSeed:
        conds.push_back(t.negated ? "i.seed <> ?" : "i.seed = ?");
        w.params.push_back(t.seed);
        break;
    }
  }
  // The FTS conditions go first in the list: SQLite starts from the full-text match.
  std::vector<SqlParam> fts_params;
  std::vector<std::string> fts_conds;
  if (!fts_and.empty()) {
    std::string expr;
    for (const std::string& p : fts_and) expr += (expr.empty() ? "" : " AND ") + p;
    fts_conds.push_back("i.seq IN (SELECT rowid FROM images_fts WHERE images_fts MATCH ?)");
    fts_params.push_back(expr);
  }
  if (!fts_not.empty()) {
    std::string expr;
    for (const std::string& p : fts_not) expr += (expr.empty() ? "" : " OR ") + p;
    fts_conds.push_back("i.seq NOT IN (SELECT rowid FROM images_fts WHERE images_fts MATCH ?)");
    fts_params.push_back(expr);
  }
  conds.insert(conds.begin(), fts_conds.begin(), fts_conds.end());
  w.params.insert(w.params.begin(), fts_params.begin(), fts_params.end());

  // Blank means spaces and control characters only: those match everything.
  bool blank = std::all_of(raw_query.begin(), raw_query.end(), [](char c) {
    return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
  });
  if (conds.empty() && !blank) {
    std::string shown(raw_query.substr(0, 40));
    throw Error(Code::kInvalidArgument,
                "the search '" + shown + "' has no words to look for: use letters or digits, " +
                    "as in castle, \"red castle\", model:dream* or tag:portrait");
  }

  auto add = [&](const char* sql, SqlParam value) {
    conds.push_back(sql);
    w.params.push_back(std::move(value));
  };
  if (!filters.model.empty()) add("i.model = ?", filters.model);
  if (!filters.job_id.empty()) add("i.job_id = ?", filters.job_id);
  if (!filters.lora.empty()) {
    // The loras column is a JSON array of {"name", "weight"}; prompts may carry A1111 tags.
    conds.push_back(
        "(EXISTS (SELECT 1 FROM json_each(i.loras) l WHERE json_extract(l.value, '$.name') = ? "
        "OR json_extract(l.value, '$.name') LIKE ? ESCAPE '\\') "
        "OR instr(i.prompt, ?) > 0 OR instr(i.prompt, ?) > 0)");
    w.params.push_back(filters.lora);
    w.params.push_back("%/" + LikeEscape(filters.lora));
    w.params.push_back("<lora:" + filters.lora + ":");
    w.params.push_back("<lora:" + filters.lora + ">");
  }
  if (filters.min_width) add("i.width >= ?", int64_t{*filters.min_width});
  if (filters.max_width) add("i.width <= ?", int64_t{*filters.max_width});
  if (filters.min_height) add("i.height >= ?", int64_t{*filters.min_height});
  if (filters.max_height) add("i.height <= ?", int64_t{*filters.max_height});
  if (filters.created_from_ms) add("i.created_ms >= ?", *filters.created_from_ms);
  if (filters.created_to_ms) add("i.created_ms < ?", *filters.created_to_ms);

  for (size_t k = 0; k < conds.size(); ++k) w.sql += (k == 0 ? " WHERE " : " AND ") + conds[k];
  return w;
}

}  // namespace easel::store
