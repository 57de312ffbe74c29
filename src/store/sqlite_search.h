// Turns a parsed search (search_query.h) and typed filters into the WHERE clause of
// SqliteHistory's queries over `images i`. Internal to src/store.
//
// Safety: no user text is pasted into SQL. Words go through images_fts's own tokenizer and
// come back as tokens (letters and digits only), which are quoted into an FTS5 expression
// we build; that expression and every other value are bound as parameters.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "store/database.h"
#include "store/history.h"
#include "store/search_query.h"

namespace easel::store {

using SqlParam = std::variant<int64_t, std::string>;

struct SqlWhere {
  std::string sql;  // "" (everything) or " WHERE ... AND ..."
  std::vector<SqlParam> params;
  void BindTo(Statement& st, int first_index = 1) const;
};

// The tokens images_fts makes of `text` (lower-cased, accents removed, punctuation dropped):
// "Château-fort!" -> {"chateau", "fort"}. Uses the FTS5 tokenizer inside SQLite, so what a
// search looks for is exactly what was indexed.
std::vector<std::string> FtsTokens(Database& db, std::string_view text, bool prefix);

// Throws easel::Error kInvalidArgument when `raw_query` is not blank but leaves nothing to
// look for ("***", "-", "—") or a field value has no letters or digits ("model:__").
SqlWhere BuildImageWhere(Database& db, std::string_view raw_query, const SearchQuery& query,
                         const ImageFilters& filters);

}  // namespace easel::store
