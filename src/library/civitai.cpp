// Opt-in CivitAI lookups. See civitai.h.
#include "library/civitai.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <thread>

#include "library/sidecars.h"
#include "util/files.h"

namespace easel::library {

CivitaiClock CivitaiClock::System() {
  CivitaiClock c;
  c.now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  c.sleep_ms = [](int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); };
  return c;
}

CivitaiClient::CivitaiClient(CivitaiOptions options, HttpTransport* transport,
                             store::SqliteModelIndex* index, CivitaiClock clock)
    : options_(std::move(options)),
      transport_(transport),
      index_(index),
      clock_(std::move(clock)) {}

Result<std::string> CivitaiClient::LookupByHash(const std::string& sha256) {
  if (!options_.enabled)
    return Unsupported(
        "CivitAI lookups are off (opt-in): nothing was sent; turn them on to fetch "
        "model metadata by hash");
  if (sha256.size() != 64 || sha256.find_first_not_of("0123456789abcdef") != std::string::npos)
    return InvalidArgument("'" + sha256 + "' is not a lowercase SHA-256: hash the file first");
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = clock_.now_ms();
  auto cached = index_->CivitaiCached(sha256);
  if (!cached.ok()) return cached.status();
  if (cached->fetched_ms > 0 && now - cached->fetched_ms < options_.cache_ttl_ms) {
    if (cached->status == 404)
      return NotFound("CivitAI does not know " + sha256.substr(0, 10) + " (cached)");
    if (cached->status == 200) return cached->body;
  }
  if (!offline_.ok()) return offline_;
  if (!transport_)
    return Unsupported("no HTTPS client in this build: CivitAI lookups are unavailable");
  if (last_request_ms_ >= 0 && now - last_request_ms_ < options_.min_interval_ms)
    clock_.sleep_ms(options_.min_interval_ms - (now - last_request_ms_));
  last_request_ms_ = clock_.now_ms();
  ++requests_;
  auto reply = transport_->Get(options_.base_url + "/api/v1/model-versions/by-hash/" + sha256);
  if (!reply.ok()) {
    offline_ = IoError("CivitAI could not be reached (" + reply.status().message() +
                       "): working offline; model metadata comes from local sidecars only");
    return offline_;
  }
  if (reply->status == 200 || reply->status == 404)
    EASEL_RETURN_IF_ERROR(index_->PutCivitaiCache(
        sha256, reply->status, reply->status == 200 ? reply->body : "", last_request_ms_));
  if (reply->status == 404) return NotFound("CivitAI does not know " + sha256.substr(0, 10));
  if (reply->status == 429) return IoError("CivitAI asks to slow down (HTTP 429): try again later");
  if (reply->status != 200)
    return IoError("CivitAI answered HTTP " + std::to_string(reply->status) + ": try again later");
  return reply->body;
}

Result<bool> CivitaiClient::Enrich(ModelRecord* record) {
  if (record->sha256.empty()) return false;
  auto body = LookupByHash(record->sha256);
  if (!body.ok())
    return body.status().code() == Code::kNotFound ? Result<bool>(false)
                                                   : Result<bool>(body.status());
  if (!ApplyCivitaiInfo(*body, record))
    return Corrupt("CivitAI's answer for " + record->name + " is not JSON");
  record->sources.push_back("civitai.com");
  return true;
}

namespace {
std::string SettingsPath(const std::string& data_dir) {
  return data_dir + "/library.json";
}

Result<nlohmann::json> ReadSettings(const std::string& data_dir) {
  const std::string path = SettingsPath(data_dir);
  auto text = ReadFile(path, 1 << 20);
  if (!text.ok() && text.status().code() == Code::kNotFound) return nlohmann::json::object();
  if (!text.ok()) return text.status();
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object())
    return Corrupt(path +
                   " is not a JSON object: fix it or delete it (it holds the library's "
                   "settings, such as whether CivitAI lookups are on)");
  return j;
}
}  // namespace

Result<bool> CivitaiEnabled(const std::string& data_dir) {
  auto j = ReadSettings(data_dir);
  if (!j.ok()) return j.status();
  auto it = j->find("civitai");
  if (it == j->end() || !it->is_object()) return false;
  return it->value("enabled", false) == true;
}

Status SetCivitaiEnabled(const std::string& data_dir, bool enabled) {
  auto j = ReadSettings(data_dir);
  if (!j.ok()) return j.status();
  (*j)["civitai"]["enabled"] = enabled;
  return WriteFileAtomic(SettingsPath(data_dir), j->dump(2) + "\n");
}

Result<EnrichReport> EnrichLibrary(store::SqliteModelIndex& index, CivitaiClient& client,
                                   int64_t limit) {
  auto all = index.List();
  if (!all.ok()) return all.status();
  EnrichReport report;
  const int64_t before = client.requests();
  for (ModelRecord& r : *all) {
    if (limit > 0 && report.considered >= limit) break;
    if (r.sha256.empty() || !r.error.empty()) continue;
    const auto has = [&r](const char* s) {
      return std::find(r.sources.begin(), r.sources.end(), s) != r.sources.end();
    };
    if (has("civitai.com") || has("civitai.info")) continue;
    ++report.considered;
    auto changed = client.Enrich(&r);
    if (!changed.ok()) {
      if (changed.status().code() == Code::kIo) {
        report.stopped = changed.status().message();
        break;
      }
      continue;  // a malformed answer for one file: the others may be fine
    }
    if (!*changed) {
      ++report.unknown;
      continue;
    }
    EASEL_RETURN_IF_ERROR(index.Upsert({r}));
    ++report.enriched;
  }
  report.requests = client.requests() - before;
  return report;
}

}  // namespace easel::library
