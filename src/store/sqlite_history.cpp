// SqliteHistory (see sqlite_history.h).
#include "store/sqlite_history.h"

#include <filesystem>

#include "store/easel_schema.h"
#include "store/guarded.h"
#include "store/ids.h"
#include "store/search_query.h"
#include "store/sqlite_search.h"

namespace easel::store {
namespace {

constexpr const char* kImageColumns =
    "i.seq, i.id, i.job_id, i.path, i.width, i.height, i.seed, i.prompt, i.negative_prompt, "
    "i.model, i.sampler, i.scheduler, i.steps, i.cfg, i.loras, i.params_json, i.timings_json, "
    "i.created_ms";

ImageRecord ReadRecord(const Statement& st) {
  ImageRecord r;
  r.id = st.Text(1);
  r.job_id = st.Text(2);
  r.path = st.Text(3);
  r.width = static_cast<int>(st.Int(4));
  r.height = static_cast<int>(st.Int(5));
  r.seed = st.Int(6);
  r.prompt = st.Text(7);
  r.negative_prompt = st.Text(8);
  r.model = st.Text(9);
  r.sampler = st.Text(10);
  r.scheduler = st.Text(11);
  r.steps = static_cast<int>(st.Int(12));
  r.cfg = st.Double(13);
  r.loras = st.Text(14);
  r.params_json = st.Text(15);
  r.timings_json = st.Text(16);
  r.created_ms = st.Int(17);
  return r;
}

std::string Quoted(const std::string& id) {
  return "'" + (id.size() > 64 ? id.substr(0, 64) + "..." : id) + "'";
}

std::string JoinTags(const std::vector<std::string>& tags) {
  std::string s;
  for (const std::string& t : tags) s += (s.empty() ? "" : " ") + t;
  return s;
}

// Best effort: the file may never have been written.
void RemoveQuietly(const std::vector<std::string>& paths) {
  for (const std::string& p : paths) {
    std::error_code ec;
    std::filesystem::remove(p, ec);
  }
}

}  // namespace

SqliteHistory::SqliteHistory(std::unique_ptr<Database> db, std::string data_dir)
    : db_(std::move(db)), data_dir_(std::move(data_dir)) {}

Result<std::unique_ptr<SqliteHistory>> SqliteHistory::Open(const std::string& db_path,
                                                           const std::string& data_dir,
                                                           DatabaseOptions options) {
  Result<std::unique_ptr<Database>> db = OpenEaselDatabase(db_path, std::move(options));
  if (!db.ok()) return db.status();
  return std::unique_ptr<SqliteHistory>(new SqliteHistory(std::move(*db), data_dir));
}

int64_t SqliteHistory::SeqOf(const std::string& id) {
  if (IsValidId(id)) {
    Statement st = db_->Prepare("SELECT seq FROM images WHERE id = ?");
    st.Bind(1, id);
    if (st.Step()) return st.Int(0);
  }
  throw Error(Code::kNotFound, "no image " + Quoted(id) + " in the history");
}

ImageRecord SqliteHistory::Load(int64_t seq) {
  Statement st =
      db_->Prepare(std::string("SELECT ") + kImageColumns + " FROM images i WHERE i.seq = ?");
  st.Bind(1, seq);
  if (!st.Step()) throw Error(Code::kNotFound, "no image #" + std::to_string(seq));
  ImageRecord r = ReadRecord(st);
  Statement tags = db_->Prepare("SELECT tag FROM image_tags WHERE image_seq = ? ORDER BY tag");
  tags.Bind(1, seq);
  while (tags.Step()) r.tags.push_back(tags.Text(0));
  return r;
}

void SqliteHistory::WriteTags(int64_t seq, const ImageRecord& r) {
  Statement del = db_->Prepare("DELETE FROM image_tags WHERE image_seq = ?");
  del.Bind(1, seq);
  del.Run();
  Statement add = db_->Prepare("INSERT INTO image_tags (image_seq, tag) VALUES (?, ?)");
  for (const std::string& tag : r.tags) {
    add.Reset();
    add.Bind(1, seq).Bind(2, tag);
    add.Run();
  }
  Statement fts_del = db_->Prepare("DELETE FROM images_fts WHERE rowid = ?");
  fts_del.Bind(1, seq);
  fts_del.Run();
  Statement fts = db_->Prepare(
      "INSERT INTO images_fts (rowid, prompt, negative_prompt, model, tags) "
      "VALUES (?, ?, ?, ?, ?)");
  fts.Bind(1, seq).Bind(2, r.prompt).Bind(3, r.negative_prompt).Bind(4, r.model);
  fts.Bind(5, JoinTags(r.tags));
  fts.Run();
}

void SqliteHistory::Insert(const ImageRecord& r) {
  Statement dup = db_->Prepare("SELECT id, path FROM images WHERE id = ? OR path = ? LIMIT 1");
  dup.Bind(1, r.id).Bind(2, r.path);
  if (dup.Step()) {
    throw Error(Code::kInvalidArgument,
                dup.Text(0) == r.id ? "image id " + Quoted(r.id) + " is already in the history"
                                    : "image path '" + r.path + "' is already in the history (" +
                                          dup.Text(0) + ")");
  }
  Statement st = db_->Prepare(
      "INSERT INTO images (id, job_id, path, width, height, seed, prompt, negative_prompt, "
      "model, sampler, scheduler, steps, cfg, loras, params_json, timings_json, created_ms) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  st.Bind(1, r.id).Bind(2, r.job_id).Bind(3, r.path).Bind(4, r.width).Bind(5, r.height);
  st.Bind(6, r.seed).Bind(7, r.prompt).Bind(8, r.negative_prompt).Bind(9, r.model);
  st.Bind(10, r.sampler).Bind(11, r.scheduler).Bind(12, r.steps).Bind(13, r.cfg);
  st.Bind(14, r.loras).Bind(15, r.params_json).Bind(16, r.timings_json).Bind(17, r.created_ms);
  st.Run();
  WriteTags(db_->LastInsertRowid(), r);
}

Result<ImageRecord> SqliteHistory::Add(ImageRecord record) {
  EASEL_RETURN_IF_ERROR(NormalizeImageRecord(record));
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&] {
    Transaction tx(*db_);
    Insert(record);
    tx.Commit();
    return record;
  });
}

Result<ImageRecord> SqliteHistory::AddWithFile(ImageRecord record,
                                               const std::function<Status()>& write_file,
                                               const std::vector<std::string>& also_remove) {
  EASEL_RETURN_IF_ERROR(NormalizeImageRecord(record));
  std::vector<std::string> files = {data_dir_ + "/" + record.path};
  for (const std::string& extra : also_remove) {
    if (!IsSafeRelativePath(extra)) {
      return InvalidArgument("also_remove path '" + extra.substr(0, 200) +
                             "' must be relative to the data dir and stay inside it");
    }
    files.push_back(data_dir_ + "/" + extra);
  }
  // Never overwrite: so removing these files after a failure only removes what we wrote.
  for (const std::string& f : files) {
    std::error_code ec;
    if (std::filesystem::symlink_status(f, ec).type() != std::filesystem::file_type::not_found) {
      return InvalidArgument("'" + f + "' already exists and is not in the history: Easel " +
                             "does not overwrite files; pick another file name");
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&] {
    Transaction tx(*db_);
    Insert(record);  // fails (and writes nothing) on a duplicate id or path
    Status written = CatchAll([&] {
      Status st = write_file();
      if (!st.ok()) throw Error(st);
    });
    if (!written.ok()) {
      RemoveQuietly(files);  // a partial file, if the writer left one
      throw Error(written);  // the transaction rolls back
    }
    try {
      tx.Commit();
    } catch (...) {
      RemoveQuietly(files);
      throw;
    }
    return record;
  });
}

Result<ImageRecord> SqliteHistory::Get(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&] {
    Transaction tx(*db_, Transaction::Mode::kDeferred);
    return Load(SeqOf(id));
  });
}

Result<std::string> SqliteHistory::Delete(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&] {
    Transaction tx(*db_);
    int64_t seq = SeqOf(id);
    std::string path = Load(seq).path;
    Statement fts = db_->Prepare("DELETE FROM images_fts WHERE rowid = ?");
    fts.Bind(1, seq);
    fts.Run();
    Statement row = db_->Prepare("DELETE FROM images WHERE seq = ?");  // tags: ON DELETE CASCADE
    row.Bind(1, seq);
    row.Run();
    tx.Commit();
    return path;
  });
}

Result<ImageRecord> SqliteHistory::SetTags(const std::string& id,
                                           const std::vector<std::string>& tags) {
  Result<std::vector<std::string>> normalized = NormalizeTags(tags);
  if (!normalized.ok()) return normalized.status();
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&] {
    Transaction tx(*db_);
    int64_t seq = SeqOf(id);
    ImageRecord r = Load(seq);
    r.tags = *normalized;
    WriteTags(seq, r);
    tx.Commit();
    return r;
  });
}

Result<ImagePage> SqliteHistory::Search(const std::string& query, const ImageFilters& filters,
                                        int limit, int offset) {
  if (limit < 1 || limit > 500)
    return InvalidArgument("limit is " + std::to_string(limit) + ": use 1..500");
  if (offset < 0) return InvalidArgument("offset is " + std::to_string(offset) + ": use 0 or more");
  Result<SearchQuery> parsed = ParseSearchQuery(query);
  if (!parsed.ok()) return parsed.status();
  std::lock_guard<std::mutex> lock(mu_);
  return Guarded([&] {
    // One read transaction: the count and the page see the same snapshot.
    Transaction tx(*db_, Transaction::Mode::kDeferred);
    SqlWhere where = BuildImageWhere(*db_, query, *parsed, filters);
    ImagePage page;
    Statement count = db_->Prepare("SELECT count(*) FROM images i" + where.sql);
    where.BindTo(count);
    count.Step();
    page.total = count.Int(0);

    Statement st =
        db_->Prepare(std::string("SELECT ") + kImageColumns + " FROM images i" + where.sql +
                     " ORDER BY i.created_ms DESC, i.seq DESC LIMIT ? OFFSET ?");
    where.BindTo(st);
    int next = static_cast<int>(where.params.size()) + 1;
    st.Bind(next, limit).Bind(next + 1, offset);
    std::vector<int64_t> seqs;
    while (st.Step()) {
      page.images.push_back(ReadRecord(st));
      seqs.push_back(st.Int(0));
    }
    Statement tags = db_->Prepare("SELECT tag FROM image_tags WHERE image_seq = ? ORDER BY tag");
    for (size_t k = 0; k < seqs.size(); ++k) {
      tags.Reset();
      tags.Bind(1, seqs[k]);
      while (tags.Step()) page.images[k].tags.push_back(tags.Text(0));
    }
    return page;
  });
}

}  // namespace easel::store
