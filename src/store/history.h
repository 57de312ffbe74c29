// The image history: one record per generated image (its file, prompt, settings, tags and
// timings) with full-text search. Storage-neutral (no SQL here): SqliteHistory
// (sqlite_history.h) is the first implementation.
//
// Every method is thread-safe and returns errors as values: kNotFound for an unknown id,
// kInvalidArgument for a bad record, query or page, kIo/kCorrupt for storage failures.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace easel::store {

struct ImageRecord {
  std::string id;      // "i_" + 16 hex digits; Add fills it in when empty
  std::string job_id;  // the job that made it; "" for images made outside the queue
  std::string path;    // relative to the data dir, "images/2024-05-01/i_3f9a.png"; no "..",
                       // no leading "/"
  int width = 0;       // pixels, 1..65536
  int height = 0;
  int64_t seed = 0;  // the resolved seed (>= 0)
  std::string prompt;
  std::string negative_prompt;
  std::string model;      // the model's name as the library lists it
  std::string sampler;    // "euler", "dpmpp_2m" ...
  std::string scheduler;  // "normal", "karras" ...
  int steps = 0;
  double cfg = 0;
  std::string loras = "[]";         // a JSON array, [{"name": "x", "weight": 0.8}]
  std::vector<std::string> tags;    // stored trimmed, lower-cased (ASCII), sorted, unique
  std::string params_json = "{}";   // a JSON object: every setting, for "use again"
  int64_t created_ms = 0;           // milliseconds since the Unix epoch; Add fills in "now"
  std::string timings_json = "{}";  // a JSON object: {"total_s": 3.2, "unet_s": 2.9}
};

// Typed filters, all optional; ANDed with the query.
struct ImageFilters {
  std::string model;   // exactly this model name ("" = any)
  std::string job_id;  // images of this job ("" = any)
  // Images made with this LoRA ("" = any): by its name in the loras column (exactly, or the
  // last path component: "detail" finds "styles/detail") or by a <lora:NAME:...> / <lora:NAME>
  // tag in the prompt.
  std::string lora;
  std::optional<int> min_width, max_width, min_height, max_height;  // inclusive
  std::optional<int64_t> created_from_ms;                           // inclusive
  std::optional<int64_t> created_to_ms;                             // exclusive
};

struct ImagePage {
  std::vector<ImageRecord> images;  // newest first
  int64_t total = 0;                // matches, all pages together
};

// Shared by every History implementation: ---------------------------------------------

// Checks `record` and puts it in stored form: id ("i_..." when empty) and created_ms (now
// when 0) filled in, "" JSON fields set to [] / {}, tags normalized. kInvalidArgument names
// the field and what it must be.
Status NormalizeImageRecord(ImageRecord& record);

// Trimmed, ASCII lower-cased, sorted, without duplicates; each 1..64 bytes without control
// characters, at most 32. kInvalidArgument names the bad tag.
Result<std::vector<std::string>> NormalizeTags(const std::vector<std::string>& tags);

// True for a path that is relative and stays inside the folder it is relative to:
// non-empty, at most 1024 bytes, no leading '/', no '.', '..' or empty components, no
// backslashes or control characters.
bool IsSafeRelativePath(std::string_view path);

class History {
 public:
  virtual ~History() = default;

  // Adds the record and its tags at once. Returns it as stored (id, created_ms filled in,
  // tags normalized). kInvalidArgument for a bad field (the message names it) or a path or
  // id already in the history.
  virtual Result<ImageRecord> Add(ImageRecord record) = 0;

  // Adds the record and writes its file(s) so that image, row and tags land together or not
  // at all: the row is inserted, write_file() runs, and the row is committed only if it
  // returned OK. If write_file fails, or the commit does, the file at `path` and those in
  // `also_remove` (a JSON sidecar ...; relative to the data dir too) are removed. Refuses
  // (kInvalidArgument) when a file is already at `path`: history never overwrites a file.
  // write_file runs while the history is locked: encode before, only write in it.
  // A crash between the write and the commit can leave a file without a row, never a row
  // without its file.
  virtual Result<ImageRecord> AddWithFile(ImageRecord record,
                                          const std::function<Status()>& write_file,
                                          const std::vector<std::string>& also_remove = {}) = 0;

  virtual Result<ImageRecord> Get(const std::string& id) = 0;

  // Removes the record, its tags and its search entry. Returns its path (relative to the
  // data dir): deleting the file is the caller's job, after this succeeded.
  virtual Result<std::string> Delete(const std::string& id) = 0;

  // Replaces the image's tags (normalized like Add's). Returns the record as stored.
  virtual Result<ImageRecord> SetTags(const std::string& id,
                                      const std::vector<std::string>& tags) = 0;

  // Images matching `query` (the language of search_query.h; "" matches all) and `filters`,
  // newest first, `limit` (1..500) from `offset` (>= 0), with the total count. A malformed
  // query is read literally where it can be, else kInvalidArgument with what to fix; it
  // never causes a storage error.
  virtual Result<ImagePage> Search(const std::string& query, const ImageFilters& filters,
                                   int limit = 50, int offset = 0) = 0;
};

}  // namespace easel::store
