// Easel's schema migrations (see easel_schema.h). Times are milliseconds since the Unix
// epoch; 0 means "not yet". Every text column is NOT NULL ('' for none) so the C++ side
// never has to tell NULL from empty.
#include "store/easel_schema.h"

namespace easel::store {
namespace {

constexpr const char* kJobsV1 = R"sql(
CREATE TABLE jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- submission order: FIFO among equal priorities
  id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  state TEXT NOT NULL
    CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  priority INTEGER NOT NULL DEFAULT 0,
  request_json TEXT NOT NULL,
  result_json TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL DEFAULT 2,
  error TEXT NOT NULL DEFAULT '',
  worker TEXT NOT NULL DEFAULT '',
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL,
  started_ms INTEGER NOT NULL DEFAULT 0,
  finished_ms INTEGER NOT NULL DEFAULT 0
);
-- ClaimNext walks this in order: highest priority, then oldest.
CREATE INDEX jobs_queued ON jobs (priority DESC, seq) WHERE state = 'queued';
CREATE INDEX jobs_state ON jobs (state, seq);
CREATE TABLE job_events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  type TEXT NOT NULL,
  payload_json TEXT NOT NULL DEFAULT '{}',
  created_ms INTEGER NOT NULL
);
CREATE INDEX job_events_job ON job_events (job_id, seq);
)sql";

constexpr const char* kHistoryV2 = R"sql(
CREATE TABLE images (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- also the rowid of the image's images_fts row
  id TEXT NOT NULL UNIQUE,
  job_id TEXT NOT NULL DEFAULT '',
  path TEXT NOT NULL UNIQUE,              -- relative to the data dir
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  seed INTEGER NOT NULL DEFAULT 0,
  prompt TEXT NOT NULL DEFAULT '',
  negative_prompt TEXT NOT NULL DEFAULT '',
  model TEXT NOT NULL DEFAULT '',
  sampler TEXT NOT NULL DEFAULT '',
  scheduler TEXT NOT NULL DEFAULT '',
  steps INTEGER NOT NULL DEFAULT 0,
  cfg REAL NOT NULL DEFAULT 0,
  loras TEXT NOT NULL DEFAULT '[]',
  params_json TEXT NOT NULL DEFAULT '{}',
  timings_json TEXT NOT NULL DEFAULT '{}',
  created_ms INTEGER NOT NULL
);
CREATE INDEX images_created ON images (created_ms, seq);
CREATE INDEX images_model ON images (model);
CREATE INDEX images_job ON images (job_id);
CREATE INDEX images_seed ON images (seed);
CREATE TABLE image_tags (
  image_seq INTEGER NOT NULL REFERENCES images (seq) ON DELETE CASCADE,
  tag TEXT NOT NULL,
  PRIMARY KEY (image_seq, tag)
) WITHOUT ROWID;
CREATE INDEX image_tags_tag ON image_tags (tag);
-- Kept in step with images by SqliteHistory inside the same transactions (the tags column
-- joins a row's tags with spaces). unicode61 folds case and, with remove_diacritics 2,
-- accents: "Chateau" finds "Château".
CREATE VIRTUAL TABLE images_fts USING fts5 (
  prompt, negative_prompt, model, tags,
  tokenize = 'unicode61 remove_diacritics 2'
);
)sql";

// Model library (issue 6): one row per model file found by a scan, its tags for filtering,
// presets (image and LLM stacks as JSON documents), styles, and the opt-in CivitAI cache.
constexpr const char* kLibraryV3 = R"sql(
CREATE TABLE models (
  path TEXT PRIMARY KEY,                  -- absolute
  root TEXT NOT NULL DEFAULT '',          -- the scanned folder it was found under
  name TEXT NOT NULL,
  kind TEXT NOT NULL,                     -- checkpoint, diffusion_model, vae, lora ...
  family TEXT NOT NULL DEFAULT 'unknown', -- SD1, SD2, SDXL, SD3, Flux, unknown
  size INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  sidecar_sig TEXT NOT NULL DEFAULT '',
  sha256 TEXT NOT NULL DEFAULT '',        -- '' until hashed; valid for this size and mtime
  autov2 TEXT NOT NULL DEFAULT '',
  error TEXT NOT NULL DEFAULT '',         -- why the file could not be read
  record_json TEXT NOT NULL DEFAULT '{}', -- the rest of the ModelRecord
  scanned_ms INTEGER NOT NULL
);
CREATE INDEX models_kind ON models (kind, family, name);
CREATE INDEX models_root ON models (root);
CREATE INDEX models_sha ON models (sha256);
CREATE TABLE model_tags (
  path TEXT NOT NULL REFERENCES models (path) ON DELETE CASCADE,
  tag TEXT NOT NULL,
  PRIMARY KEY (path, tag)
) WITHOUT ROWID;
CREATE INDEX model_tags_tag ON model_tags (tag);
-- Folders `easel models scan` walks again when given none.
CREATE TABLE model_roots (
  path TEXT PRIMARY KEY,
  kind TEXT NOT NULL DEFAULT 'unknown',   -- what every file under it is, when known
  source TEXT NOT NULL DEFAULT '',
  added_ms INTEGER NOT NULL
);
CREATE TABLE presets (
  name TEXT PRIMARY KEY,
  type TEXT NOT NULL CHECK (type IN ('image', 'llm')),
  preset_json TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
);
CREATE TABLE styles (
  name TEXT PRIMARY KEY,
  prompt TEXT NOT NULL DEFAULT '',
  negative_prompt TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL DEFAULT '',        -- 'user', or the styles.csv it was imported from
  created_ms INTEGER NOT NULL
);
CREATE TABLE civitai_cache (
  sha256 TEXT PRIMARY KEY,
  status INTEGER NOT NULL,                -- HTTP status of the lookup (404: not on CivitAI)
  body TEXT NOT NULL DEFAULT '',
  fetched_ms INTEGER NOT NULL
);
)sql";

// The creative assistant (issue 9): chat sessions, their messages in the OpenAI shape, and
// the tool calls waiting for the user's yes (queue_generation).
constexpr const char* kAssistantV4 = R"sql(
CREATE TABLE assistant_sessions (
  id TEXT PRIMARY KEY,
  title TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
);
CREATE INDEX assistant_sessions_updated ON assistant_sessions (updated_ms);
CREATE TABLE assistant_messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- order within a session
  id TEXT NOT NULL UNIQUE,
  session_id TEXT NOT NULL REFERENCES assistant_sessions (id) ON DELETE CASCADE,
  role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
  content TEXT NOT NULL DEFAULT '',
  tool_calls_json TEXT NOT NULL DEFAULT '',  -- '' or [{id, type, function: {name, arguments}}]
  tool_call_id TEXT NOT NULL DEFAULT '',
  name TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL
);
CREATE INDEX assistant_messages_session ON assistant_messages (session_id, seq);
CREATE TABLE assistant_confirmations (
  session_id TEXT NOT NULL REFERENCES assistant_sessions (id) ON DELETE CASCADE,
  call_id TEXT NOT NULL,
  name TEXT NOT NULL,
  arguments_json TEXT NOT NULL,
  message_id TEXT NOT NULL,               -- the tool message that records the outcome
  state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'declined')),
  job_id TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL,
  decided_ms INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (session_id, call_id)
) WITHOUT ROWID;
)sql";

}  // namespace

Schema EaselSchema() {
  Schema schema;
  schema.program = "Easel";
  schema.application_id = kEaselApplicationId;
  schema.migrations = {
      {1, "jobs and job events", kJobsV1, nullptr},
      {2, "image history and its full-text index", kHistoryV2, nullptr},
      {3, "model library, presets, styles and the CivitAI cache", kLibraryV3, nullptr},
      {4, "assistant sessions, messages and confirmations", kAssistantV4, nullptr},
  };
  return schema;
}

Result<std::unique_ptr<Database>> OpenEaselDatabase(const std::string& path,
                                                    DatabaseOptions options) {
  Result<std::unique_ptr<Database>> db = Database::Open(path, std::move(options));
  if (!db.ok()) return db.status();
  Result<MigrationReport> migrated = Migrate(**db, EaselSchema());
  if (!migrated.ok()) return migrated.status();
  return std::move(*db);
}

}  // namespace easel::store
