// SqliteHistory: the History (history.h) in Easel's SQLite database, with an FTS5 index
// (images_fts) kept in step with the images and image_tags tables inside the same
// transactions.
//
// Concurrency: one connection per SqliteHistory, guarded by a mutex (calls run one at a
// time). It may share the database file with a SqliteJobQueue and other SqliteHistory
// objects, in this process or others (WAL: readers never wait for the writer).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/database.h"
#include "store/history.h"

namespace easel::store {

class SqliteHistory final : public History {
 public:
  // Opens (creating and migrating) the Easel database at `db_path`. `data_dir` is the
  // folder the records' paths are relative to (AddWithFile removes files in it).
  static Result<std::unique_ptr<SqliteHistory>> Open(const std::string& db_path,
                                                     const std::string& data_dir,
                                                     DatabaseOptions options = {});

  Result<ImageRecord> Add(ImageRecord record) override;
  Result<ImageRecord> AddWithFile(ImageRecord record, const std::function<Status()>& write_file,
                                  const std::vector<std::string>& also_remove = {}) override;
  Result<ImageRecord> Get(const std::string& id) override;
  Result<std::string> Delete(const std::string& id) override;
  Result<ImageRecord> SetTags(const std::string& id, const std::vector<std::string>& tags) override;
  Result<ImagePage> Search(const std::string& query, const ImageFilters& filters, int limit = 50,
                           int offset = 0) override;

 private:
  SqliteHistory(std::unique_ptr<Database> db, std::string data_dir);

  // Called with mu_ held, inside a transaction.
  void Insert(const ImageRecord& record);                  // row, tags and FTS entry
  void WriteTags(int64_t seq, const ImageRecord& record);  // replaces tags + FTS entry
  int64_t SeqOf(const std::string& id);                    // throws kNotFound
  ImageRecord Load(int64_t seq);

  std::mutex mu_;
  std::unique_ptr<Database> db_;  // guarded by mu_
  std::string data_dir_;
};

}  // namespace easel::store
