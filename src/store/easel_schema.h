// Easel's database: one SQLite file (<data dir>/easel.db) holding the job queue, the image
// history, the model library, and the ordered list of migrations that builds it.
//
// Version history (never edit a released step; add one):
//   1  jobs, job_events
//   2  images, image_tags, images_fts (FTS5 over prompt, negative prompt, model, tags)
//   3  models, model_tags, model_roots, presets, styles, civitai_cache (model library)
//   4  assistant_sessions, assistant_messages, assistant_confirmations (creative assistant)
#pragma once

#include <memory>
#include <string>

#include "store/database.h"
#include "store/migration.h"
#include "util/status.h"

namespace easel::store {

// 'EASL': PRAGMA application_id of every Easel database.
inline constexpr int32_t kEaselApplicationId = 0x4541534c;

Schema EaselSchema();

// Opens the database at `path` and migrates it to the newest schema (see Migrate for what
// is refused).
Result<std::unique_ptr<Database>> OpenEaselDatabase(const std::string& path,
                                                    DatabaseOptions options = {});

}  // namespace easel::store
