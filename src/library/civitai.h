// Opt-in CivitAI metadata by hash (GET /api/v1/model-versions/by-hash/{sha256}): name, base
// model, trigger words, tags, popularity, example parameters for a model file. Off unless
// CivitaiOptions::enabled: nothing leaves the machine otherwise. Anonymous (no key, no
// cookies); answers (404 "not on CivitAI" included) are cached in the database for 24 h; at
// most one request per min_interval; an unreachable site gives one clear "offline" error and
// lookups stop for the rest of the client's life.
//
// The network sits behind HttpTransport so tests use a fake; the real one (cpp-httplib,
// HTTPS) is in civitai_http.h. The switch is kept in the data dir (CivitaiEnabled below):
// `easel models civitai on|off|status`; `easel models scan --civitai` looks up once.
//
// Thread-safety: a CivitaiClient serializes its lookups with a mutex.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "library/model_record.h"
#include "store/model_index.h"
#include "util/status.h"

namespace easel::library {

struct HttpReply {
  int status = 0;
  std::string body;
};

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // GET `url`. A transport-level failure (DNS, refused, timeout) is kIo.
  virtual Result<HttpReply> Get(const std::string& url) = 0;
};

struct CivitaiOptions {
  bool enabled = false;
  std::string base_url = "https://civitai.com";
  int64_t cache_ttl_ms = int64_t{24} * 3600 * 1000;
  int64_t min_interval_ms = 1000;
};

// Clock and sleep, injectable for tests (milliseconds).
struct CivitaiClock {
  std::function<int64_t()> now_ms;
  std::function<void(int64_t)> sleep_ms;
  static CivitaiClock System();
};

class CivitaiClient {
 public:
  // `transport` and `index` (the cache) must outlive the client.
  CivitaiClient(CivitaiOptions options, HttpTransport* transport, store::SqliteModelIndex* index,
                CivitaiClock clock = CivitaiClock::System());

  // The model-version JSON for a SHA-256, from the cache when fresh. kNotFound when CivitAI
  // does not know the file; kUnsupported when lookups are off; kIo when offline.
  Result<std::string> LookupByHash(const std::string& sha256);
  // Looks up record->sha256 and merges what CivitAI says into the record (as a
  // .civitai.info sidecar would). Returns whether it changed anything.
  Result<bool> Enrich(ModelRecord* record);
  int64_t requests() const { return requests_; }

 private:
  CivitaiOptions options_;
  HttpTransport* transport_;
  store::SqliteModelIndex* index_;
  CivitaiClock clock_;
  std::mutex mu_;
  int64_t last_request_ms_ = -1;
  int64_t requests_ = 0;
  Status offline_;  // set after the first transport failure
};

// The opt-in switch, kept in <data dir>/library.json as {"civitai": {"enabled": bool}}: off
// when the file or the key is absent. A malformed file is kCorrupt naming it.
Result<bool> CivitaiEnabled(const std::string& data_dir);
Status SetCivitaiEnabled(const std::string& data_dir, bool enabled);

struct EnrichReport {
  int64_t considered = 0;  // hashed, readable records without CivitAI data yet
  int64_t enriched = 0;    // CivitAI knew them: tags, trigger words, popularity merged
  int64_t unknown = 0;     // CivitAI does not know them (cached for 24 h too)
  int64_t requests = 0;    // lookups that went over the network (the rest came from the cache)
  std::string stopped;     // why lookups stopped early ("" : they did not): offline, HTTP 429
};

// Looks up every hashed, readable record whose metadata has no CivitAI data yet (neither a
// .civitai.info sidecar nor an earlier lookup) and stores what CivitAI says. Stops at the
// first network failure (offline) or rate limit, keeping what was done. `limit` 0: all.
Result<EnrichReport> EnrichLibrary(store::SqliteModelIndex& index, CivitaiClient& client,
                                   int64_t limit = 0);

}  // namespace easel::library
