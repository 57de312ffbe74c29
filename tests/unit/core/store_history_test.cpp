// SqliteHistory: add/get/delete with tags, the all-or-nothing AddWithFile (write failure,
// commit failure, existing file), search by words, prefixes, phrases, fields, negation and
// tags with filters and paging, unicode prompts, and a table of malformed queries that must
// never become storage errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "io_temp_dir.h"
#include "store/database.h"
#include "store/sqlite_history.h"
#include "store/sqlite_job_queue.h"
#include "util/files.h"

namespace easel::store {
namespace {

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

ImageRecord Record(const std::string& id, const std::string& prompt, const std::string& model,
                   int64_t created_ms) {
  ImageRecord r;
  r.id = id;
  r.path = "images/" + id + ".png";
  r.width = 512;
  r.height = 512;
  r.seed = 1;
  r.prompt = prompt;
  r.model = model;
  r.sampler = "euler";
  r.scheduler = "normal";
  r.steps = 20;
  r.cfg = 7.0;
  r.created_ms = created_ms;
  return r;
}

class StoreHistory : public ::testing::Test {
 protected:
  void SetUp() override { h_ = Open(); }

  std::unique_ptr<SqliteHistory> Open(DatabaseOptions options = {}) {
    auto h = SqliteHistory::Open(db_path(), dir_.path(), std::move(options));
    EXPECT_TRUE(h.ok()) << h.status().ToString();
    return h.ok() ? std::move(*h) : nullptr;
  }
  std::string db_path() const { return dir_.File("easel.db"); }

  void MustAdd(ImageRecord r) {
    Result<ImageRecord> got = h_->Add(std::move(r));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
  }

  // The ids a search finds, sorted, or "error: ..." .
  std::string Find(const std::string& query, const ImageFilters& filters = {}) {
    Result<ImagePage> page = h_->Search(query, filters, 500, 0);
    if (!page.ok()) return "error: " + page.status().ToString();
    std::vector<std::string> ids;
    for (const ImageRecord& r : page->images) ids.push_back(r.id);
    std::sort(ids.begin(), ids.end());
    std::string s;
    for (const std::string& id : ids) s += (s.empty() ? "" : " ") + id;
    EXPECT_EQ(page->total, static_cast<int64_t>(ids.size())) << query;
    return s;
  }

  int64_t RawCount(const std::string& sql) {
    auto db = Database::Open(db_path());
    EXPECT_TRUE(db.ok());
    Statement st = (*db)->Prepare(sql);
    st.Step();
    return st.Int(0);
  }

  testing::TempDir dir_;
  std::unique_ptr<SqliteHistory> h_;
};

TEST_F(StoreHistory, AddThenGetReturnsEveryField) {
  ImageRecord r = Record("", "a castle on a hill, (masterpiece:1.2)", "dreamshaper_8", 0);
  r.job_id = "j_0123456789abcdef";
  r.path = "images/2024-05-01/one.png";
  r.width = 768;
  r.height = 512;
  r.seed = 9223372036854775807;
  r.negative_prompt = "blurry, low quality";
  r.sampler = "dpmpp_2m";
  r.scheduler = "karras";
  r.steps = 30;
  r.cfg = 6.5;
  r.loras = R"([{"name": "detail", "weight": 0.8}])";
  r.tags = {"Portrait ", "portrait", " Sci-Fi", "z"};
  r.params_json = R"({"clip_skip": 2})";
  r.timings_json = R"({"total_s": 3.25})";
  Result<ImageRecord> added = h_->Add(r);
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_EQ(added->id.substr(0, 2), "i_");
  EXPECT_EQ(added->id.size(), 18u);
  EXPECT_GT(added->created_ms, 1600000000000);
  EXPECT_EQ(added->tags, (std::vector<std::string>{"portrait", "sci-fi", "z"}));

  h_ = Open();  // read back from the file
  Result<ImageRecord> got = h_->Get(added->id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->job_id, r.job_id);
  EXPECT_EQ(got->path, r.path);
  EXPECT_EQ(got->width, 768);
  EXPECT_EQ(got->height, 512);
  EXPECT_EQ(got->seed, r.seed);
  EXPECT_EQ(got->prompt, r.prompt);
  EXPECT_EQ(got->negative_prompt, r.negative_prompt);
  EXPECT_EQ(got->model, r.model);
  EXPECT_EQ(got->sampler, "dpmpp_2m");
  EXPECT_EQ(got->scheduler, "karras");
  EXPECT_EQ(got->steps, 30);
  EXPECT_EQ(got->cfg, 6.5);
  EXPECT_EQ(got->loras, r.loras);
  EXPECT_EQ(got->tags, added->tags);
  EXPECT_EQ(got->params_json, r.params_json);
  EXPECT_EQ(got->timings_json, r.timings_json);
  EXPECT_EQ(got->created_ms, added->created_ms);
}

TEST_F(StoreHistory, BadRecordsAreRefusedAndAddNothing) {
  MustAdd(Record("i_taken", "x", "m", 1));
  struct Case {
    const char* what;
    std::function<void(ImageRecord&)> change;
    const char* message_part;
  };
  const Case cases[] = {
      {"parent path", [](ImageRecord& r) { r.path = "../outside.png"; }, "stay inside"},
      {"inner parent", [](ImageRecord& r) { r.path = "images/../../x.png"; }, "stay inside"},
      {"absolute", [](ImageRecord& r) { r.path = "/etc/passwd"; }, "relative"},
      {"empty path", [](ImageRecord& r) { r.path = ""; }, "image path"},
      {"double slash", [](ImageRecord& r) { r.path = "a//b.png"; }, "image path"},
      {"backslash", [](ImageRecord& r) { r.path = "a\\..\\b.png"; }, "backslashes"},
      {"zero width", [](ImageRecord& r) { r.width = 0; }, "1..65536"},
      {"huge height", [](ImageRecord& r) { r.height = 100000; }, "1..65536"},
      {"negative seed", [](ImageRecord& r) { r.seed = -1; }, "seed"},
      {"loras object", [](ImageRecord& r) { r.loras = "{}"; }, "loras must be a JSON array"},
      {"params broken", [](ImageRecord& r) { r.params_json = "{"; }, "params_json"},
      {"timings array", [](ImageRecord& r) { r.timings_json = "[]"; }, "timings_json"},
      {"empty tag",
       [](ImageRecord& r) {
         r.tags = {"ok", "  "};
       },
       "is not a tag"},
      {"long tag", [](ImageRecord& r) { r.tags = {std::string(65, 't')}; }, "1..64"},
      {"bad id", [](ImageRecord& r) { r.id = "i/../x"; }, "image id"},
      {"bad job id", [](ImageRecord& r) { r.job_id = "j 1"; }, "job id"},
      {"duplicate id", [](ImageRecord& r) { r.id = "i_taken"; }, "already in the history"},
      {"duplicate path", [](ImageRecord& r) { r.path = "images/i_taken.png"; },
       "already in the history"},
  };
  for (const Case& c : cases) {
    ImageRecord r = Record("i_new", "new", "m", 2);
    c.change(r);
    Result<ImageRecord> got = h_->Add(r);
    ASSERT_FALSE(got.ok()) << c.what;
    EXPECT_EQ(got.status().code(), Code::kInvalidArgument) << c.what;
    EXPECT_TRUE(Contains(got.status().message(), c.message_part))
        << c.what << ": " << got.status().message();
  }
  EXPECT_EQ(h_->Search("", {}, 10, 0)->total, 1);
  EXPECT_EQ(RawCount("SELECT count(*) FROM images_fts"), 1);
}

TEST_F(StoreHistory, DeleteRemovesRowTagsAndSearchEntry) {
  ImageRecord r = Record("i_gone", "a lighthouse", "m", 1);
  r.tags = {"sea"};
  MustAdd(r);
  MustAdd(Record("i_kept", "a lighthouse too", "m", 2));
  Result<std::string> path = h_->Delete("i_gone");
  ASSERT_TRUE(path.ok()) << path.status().ToString();
  EXPECT_EQ(*path, "images/i_gone.png");
  EXPECT_EQ(h_->Get("i_gone").status().code(), Code::kNotFound);
  EXPECT_EQ(Find("lighthouse"), "i_kept");
  EXPECT_EQ(Find("tag:sea"), "");
  EXPECT_EQ(RawCount("SELECT count(*) FROM image_tags"), 0);
  EXPECT_EQ(RawCount("SELECT count(*) FROM images_fts"), 1);
  EXPECT_EQ(h_->Delete("i_gone").status().code(), Code::kNotFound);
  EXPECT_EQ(h_->Delete("../../etc/passwd").status().code(), Code::kNotFound);
}

TEST_F(StoreHistory, SetTagsReplacesTagsAndTheirIndex) {
  ImageRecord r = Record("i_a", "x", "m", 1);
  r.tags = {"old"};
  MustAdd(r);
  Result<ImageRecord> got = h_->SetTags("i_a", {"New", "other"});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->tags, (std::vector<std::string>{"new", "other"}));
  EXPECT_EQ(Find("tag:old"), "");
  EXPECT_EQ(Find("old"), "");
  EXPECT_EQ(Find("tag:new"), "i_a");
  EXPECT_EQ(Find("other"), "i_a");  // tags are words too
  EXPECT_EQ(h_->SetTags("i_a", {""}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(h_->SetTags("i_missing", {"x"}).status().code(), Code::kNotFound);
}

TEST_F(StoreHistory, ThreadsAddAndSearchAtOnce) {
  constexpr int kThreads = 4, kEach = 25;
  std::atomic<int> failures{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        std::string id = "i_" + std::to_string(t) + "_" + std::to_string(i);
        ImageRecord r = Record(id, "thread " + std::to_string(t) + " lighthouse", "m", 1 + i);
        r.tags = {"t" + std::to_string(t)};
        if (!h_->Add(r).ok()) ++failures;
      }
    });
  }
  std::thread searcher([&] {
    while (!done.load()) {
      if (!h_->Search("lighthouse", {}, 10, 0).ok()) ++failures;
    }
  });
  for (std::thread& th : threads) th.join();
  done = true;
  searcher.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(h_->Search("lighthouse", {}, 10, 0)->total, kThreads * kEach);
  EXPECT_EQ(h_->Search("tag:t2", {}, 10, 0)->total, kEach);
}

// The queue and the history share one database file, each with its own connection.
TEST_F(StoreHistory, SharesTheDatabaseWithTheJobQueue) {
  auto q = SqliteJobQueue::Open(db_path());
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  Result<Job> job = (*q)->Submit("txt2img", "{}");
  ASSERT_TRUE(job.ok());
  ASSERT_TRUE((*q)->ClaimNext("gpu0").ok());
  ImageRecord r = Record("i_q", "from the queue", "m", 1);
  r.job_id = job->id;
  MustAdd(r);
  ASSERT_TRUE((*q)->Complete(job->id, R"({"images": ["i_q"]})").ok());
  ImageFilters f;
  f.job_id = job->id;
  EXPECT_EQ(Find("", f), "i_q");
}

// ---- AddWithFile: image + row + tags together or not at all ------------------------

TEST_F(StoreHistory, AddWithFileWritesTheFileAndCommitsTheRow) {
  ImageRecord r = Record("i_file", "a fox", "m", 1);
  r.tags = {"animal"};
  std::filesystem::create_directories(dir_.File("images"));
  std::string file = dir_.File(r.path);
  Result<ImageRecord> got = h_->AddWithFile(r, [&] { return WriteFileAtomic(file, "PNG..."); });
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(dir_.Read(r.path), "PNG...");
  EXPECT_EQ(Find("tag:animal"), "i_file");
}

TEST_F(StoreHistory, AddWithFileWriteFailureLeavesNothing) {
  ImageRecord r = Record("i_file", "a fox", "m", 1);
  r.tags = {"animal"};
  std::filesystem::create_directories(dir_.File("images"));
  std::string file = dir_.File(r.path);
  Result<ImageRecord> got = h_->AddWithFile(r, [&] {
    dir_.Write(r.path, "PNG");                                               // a partial write ...
    return IoError("cannot write '" + file + "': No space left on device");  // ... then ENOSPC
  });
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kIo);
  EXPECT_TRUE(Contains(got.status().message(), "No space left")) << got.status().message();
  EXPECT_FALSE(std::filesystem::exists(file));
  EXPECT_EQ(h_->Get("i_file").status().code(), Code::kNotFound);
  EXPECT_EQ(RawCount("SELECT count(*) FROM image_tags"), 0);
  EXPECT_EQ(RawCount("SELECT count(*) FROM images_fts"), 0);
  // A writer that throws is handled the same way.
  got = h_->AddWithFile(r, [&]() -> Status {
    dir_.Write(r.path, "PNG");
    throw std::runtime_error("encoder crashed");
  });
  EXPECT_FALSE(got.ok());
  EXPECT_FALSE(std::filesystem::exists(file));
  // And the same record can then be added.
  EXPECT_TRUE(h_->AddWithFile(r, [&] { return WriteFileAtomic(file, "PNG"); }).ok());
}

TEST_F(StoreHistory, AddWithFileCommitFailureRemovesTheFiles) {
  bool fail_commits = false;
  DatabaseOptions options;
  options.fail_commit_for_testing = [&] { return fail_commits; };
  h_ = Open(options);
  ImageRecord r = Record("i_file", "a fox", "m", 1);
  r.tags = {"animal"};
  std::filesystem::create_directories(dir_.File("images"));
  fail_commits = true;
  bool wrote = false;
  Result<ImageRecord> got =
      h_->AddWithFile(r,
                      [&] {
                        wrote = true;
                        EXPECT_TRUE(WriteFileAtomic(dir_.File(r.path), "PNG").ok());
                        return WriteFileAtomic(dir_.File("images/i_file.json"), "{}");
                      },
                      {"images/i_file.json"});
  fail_commits = false;
  ASSERT_FALSE(got.ok());
  EXPECT_TRUE(wrote);
  EXPECT_EQ(got.status().code(), Code::kIo);
  EXPECT_TRUE(Contains(got.status().message(), "cannot commit")) << got.status().message();
  EXPECT_FALSE(std::filesystem::exists(dir_.File(r.path)));
  EXPECT_FALSE(std::filesystem::exists(dir_.File("images/i_file.json")));
  EXPECT_EQ(h_->Get("i_file").status().code(), Code::kNotFound);
  EXPECT_EQ(RawCount("SELECT count(*) FROM images"), 0);
  EXPECT_EQ(RawCount("SELECT count(*) FROM image_tags"), 0);
  EXPECT_EQ(RawCount("SELECT count(*) FROM images_fts"), 0);
}

TEST_F(StoreHistory, AddWithFileNeverOverwritesAFile) {
  ImageRecord r = Record("i_file", "a fox", "m", 1);
  std::string existing = dir_.Write("mine.png", "user's own file");
  r.path = "mine.png";
  bool called = false;
  Result<ImageRecord> got = h_->AddWithFile(r, [&] {
    called = true;
    return Status::Ok();
  });
  EXPECT_EQ(got.status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(Contains(got.status().message(), "does not overwrite")) << got.status().message();
  EXPECT_FALSE(called);
  EXPECT_EQ(dir_.Read("mine.png"), "user's own file");
  EXPECT_EQ(h_->AddWithFile(r, [] { return Status::Ok(); }, {"../x.json"}).status().code(),
            Code::kInvalidArgument);
}

// ---- search -------------------------------------------------------------------------

class StoreHistorySearch : public StoreHistory {
 protected:
  void SetUp() override {
    StoreHistory::SetUp();
    auto add = [&](const std::string& id, const std::string& prompt, const std::string& neg,
                   const std::string& model, const std::string& sampler,
                   const std::string& scheduler, int64_t seed, int w, int h,
                   std::vector<std::string> tags, int64_t created) {
      ImageRecord r = Record(id, prompt, model, created);
      r.negative_prompt = neg;
      r.sampler = sampler;
      r.scheduler = scheduler;
      r.seed = seed;
      r.width = w;
      r.height = h;
      r.tags = std::move(tags);
      r.job_id = "j_" + id;
      MustAdd(r);
    };
    add("i_1", "a red castle on a hill at night", "blurry", "dreamshaper_8", "euler", "normal", 42,
        512, 512, {"portrait", "fantasy"}, 1000);
    add("i_2", "castle ruins, castaway on a beach", "", "sd_xl_base_1.0", "euler_ancestral",
        "karras", 7, 1024, 1024, {"landscape"}, 2000);
    add("i_3", "a red fox in the snow", "low res, blurry", "dreamshaper_8", "dpmpp_2m", "karras",
        42, 512, 768, {"animal", "portrait"}, 3000);
    add("i_4", "Château en Provence, 城 桜, Кот в сапогах 🐱", "", "Dream Machine", "Euler",
        "simple", 123, 768, 512, {"sci-fi"}, 4000);
    add("i_5", "red cast iron pan", "", "other", "ddim", "normal", 5, 640, 640, {}, 5000);
  }
};

TEST_F(StoreHistorySearch, WordsPrefixesAndPhrases) {
  EXPECT_EQ(Find(""), "i_1 i_2 i_3 i_4 i_5");
  EXPECT_EQ(Find("castle"), "i_1 i_2");
  EXPECT_EQ(Find("CASTLE"), "i_1 i_2");
  EXPECT_EQ(Find("cast*"), "i_1 i_2 i_5");  // castle, castaway, cast
  EXPECT_EQ(Find("castle red"), "i_1");     // AND
  EXPECT_EQ(Find("\"red castle\""), "i_1");
  EXPECT_EQ(Find("\"castle red\""), "");
  EXPECT_EQ(Find("\"red cas\"*"), "i_1 i_5");
  EXPECT_EQ(Find("blurry"), "i_1 i_3");       // the negative prompt is searched too
  EXPECT_EQ(Find("dreamshaper"), "i_1 i_3");  // and the model
  EXPECT_EQ(Find("fantasy"), "i_1");          // and the tags
  EXPECT_EQ(Find("sci-fi"), "i_4");
  EXPECT_EQ(Find("nothing_matches_this"), "");
}

TEST_F(StoreHistorySearch, Negation) {
  EXPECT_EQ(Find("castle -night"), "i_2");
  EXPECT_EQ(Find("-castle"), "i_3 i_4 i_5");  // negation alone
  EXPECT_EQ(Find("red -\"red fox\""), "i_1 i_5");
  EXPECT_EQ(Find("-red -castle"), "i_4");
  EXPECT_EQ(Find("-model:dream*"), "i_2 i_5");
  EXPECT_EQ(Find("-tag:portrait"), "i_2 i_4 i_5");
  EXPECT_EQ(Find("-sampler:euler"), "i_2 i_3 i_5");
  EXPECT_EQ(Find("-seed:42"), "i_2 i_4 i_5");
}

TEST_F(StoreHistorySearch, Fields) {
  EXPECT_EQ(Find("model:dream*"), "i_1 i_3 i_4");
  EXPECT_EQ(Find("model:dreamshaper_8"), "i_1 i_3");
  EXPECT_EQ(Find("model:\"dream machine\""), "i_4");
  EXPECT_EQ(Find("model:xl"), "i_2");
  EXPECT_EQ(Find("model:castle"), "");          // the word is in prompts, not in model names
  EXPECT_EQ(Find("sampler:euler"), "i_1 i_4");  // exact, any case: not euler_ancestral
  EXPECT_EQ(Find("sampler:EULER*"), "i_1 i_2 i_4");
  EXPECT_EQ(Find("sampler:dpmpp_2m"), "i_3");
  EXPECT_EQ(Find("scheduler:karras"), "i_2 i_3");
  EXPECT_EQ(Find("seed:42"), "i_1 i_3");
  EXPECT_EQ(Find("seed:0"), "");
  EXPECT_EQ(Find("tag:portrait"), "i_1 i_3");
  EXPECT_EQ(Find("tag:PORTRAIT"), "i_1 i_3");
  EXPECT_EQ(Find("tag:port*"), "i_1 i_3");
  EXPECT_EQ(Find("tag:por"), "");  // tags match whole
  EXPECT_EQ(Find("tag:sci-fi"), "i_4");
  EXPECT_EQ(Find("tag:sci_*"), "");  // '_' is not a LIKE wildcard here
  EXPECT_EQ(Find("red model:dream* seed:42 tag:portrait -fox"), "i_1");
}

TEST_F(StoreHistorySearch, UnicodePrompts) {
  EXPECT_EQ(Find("chateau"), "i_4");  // accents folded
  EXPECT_EQ(Find("CHÂTEAU"), "i_4");
  EXPECT_EQ(Find("кот"), "i_4");  // Cyrillic, case folded
  EXPECT_EQ(Find("КОТ"), "i_4");
  EXPECT_EQ(Find("сапог*"), "i_4");
  EXPECT_EQ(Find("城"), "i_4");
  EXPECT_EQ(Find("\"en provence\""), "i_4");
  // An emoji is no word: next to a word it is ignored, alone it is an error.
  EXPECT_EQ(Find("provence 🐱"), "i_4");
  EXPECT_TRUE(Contains(Find("🐱"), "invalid argument"));
}

TEST_F(StoreHistorySearch, TypedFilters) {
  ImageFilters f;
  f.model = "dreamshaper_8";
  EXPECT_EQ(Find("", f), "i_1 i_3");
  EXPECT_EQ(Find("fox", f), "i_3");
  f = {};
  f.min_width = 640;
  EXPECT_EQ(Find("", f), "i_2 i_4 i_5");
  f.max_width = 800;
  EXPECT_EQ(Find("", f), "i_4 i_5");
  f = {};
  f.min_height = 768;
  f.max_height = 768;
  EXPECT_EQ(Find("", f), "i_3");
  f = {};
  f.created_from_ms = 2000;
  f.created_to_ms = 4000;
  EXPECT_EQ(Find("", f), "i_2 i_3");
  f = {};
  f.job_id = "j_i_5";
  EXPECT_EQ(Find("", f), "i_5");
  f.model = "nope";
  EXPECT_EQ(Find("", f), "");
}

TEST_F(StoreHistorySearch, PagingIsNewestFirstWithTotals) {
  std::vector<std::string> seen;
  for (int offset = 0; offset < 6; offset += 2) {
    Result<ImagePage> page = h_->Search("", {}, 2, offset);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    EXPECT_EQ(page->total, 5);
    for (const ImageRecord& r : page->images) seen.push_back(r.id);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"i_5", "i_4", "i_3", "i_2", "i_1"}));
  Result<ImagePage> page = h_->Search("red", {}, 1, 1);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->total, 3);
  ASSERT_EQ(page->images.size(), 1u);
  EXPECT_EQ(page->images[0].id, "i_3");
  EXPECT_EQ(page->images[0].tags, (std::vector<std::string>{"animal", "portrait"}));
  EXPECT_EQ(h_->Search("", {}, 0, 0).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(h_->Search("", {}, 501, 0).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(h_->Search("", {}, 10, -1).status().code(), Code::kInvalidArgument);
  // Blank (spaces, control characters) matches everything.
  EXPECT_EQ(Find(std::string(" \t\x01\n\0", 5)), "i_1 i_2 i_3 i_4 i_5");
}

// Malformed queries: each is read literally (an answer) or refused with kInvalidArgument
// and a message; none reaches FTS5 as syntax, none is a storage error.
TEST_F(StoreHistorySearch, MalformedQueriesNeverBecomeSqlErrors) {
  struct Case {
    std::string query;
    std::string expect;  // the ids found, or "invalid" for kInvalidArgument
  };
  const Case cases[] = {
      {"\"unbalanced", ""},       // the word "unbalanced"
      {"castle \"night", "i_1"},  // quote ignored: castle AND night
      {"\"", "invalid"},          // nothing left to look for
      {"\"\"", "invalid"},        // empty quotes: nothing to look for
      {"-", "invalid"},
      {"castle -", "i_1 i_2"},  // the lone '-' is ignored
      {"- -- ---", "invalid"},
      {"model:", "invalid"},
      {"model:\"\"", "invalid"},
      {"model:__", "invalid"},
      {"tag:", "invalid"},
      {"seed:x", "invalid"},
      {"NEAR(castle hill)", ""},  // literal words "near castle" and "hill"
      {"NEAR(castle", ""},
      {"castle NEAR", ""},
      {"castle OR fox", ""},  // OR is a word (none of the prompts has it)
      {"castle AND", ""},
      {"NOT castle", ""},
      {"AND", ""},
      {"*", "invalid"},
      {"**", "invalid"},
      {"castle*", "i_1 i_2"},
      {"*castle", "i_1 i_2"},  // a leading * is punctuation
      {"ca*stle", ""},         // "ca stle" as a phrase
      {"^castle", "i_1 i_2"},
      {"^", "invalid"},
      {"(castle)", "i_1 i_2"},
      {"(", "invalid"},
      {"castle)", "i_1 i_2"},
      {"{prompt}:castle", ""},  // "prompt castle": not next to each other
      {"prompt:castle", ""},
      {"negative_prompt:blurry", ""},
      {":castle", "i_1 i_2"},
      {"castle:", "i_1 i_2"},
      {"a:b:c", ""},
      {"'castle'", "i_1 i_2"},
      {"castle'; DROP TABLE images; --", ""},
      {"%", "invalid"},
      {"_", "invalid"},
      {"\\", "invalid"},
      {"tag:%", ""},
      {"tag:_*", ""},
      {"sampler:%", ""},
      {"castle\"\"", "i_1 i_2"},
      {"\"castle\"\"night\"", "i_1"},  // two phrases: "castle" and "night"
      {"\"red\"castle", "i_1"},
      {std::string("cas\0tle", 7), ""},  // NUL splits: "cas" AND "tle"
      {"\xff\xfe castle", "i_1 i_2"},    // invalid UTF-8 is no word
      {"\xe2\x80\x94", "invalid"},       // an em dash alone
      {"castle \xe2\x80\x94", "i_1 i_2"},
  };
  for (const Case& c : cases) {
    std::string got = Find(c.query);
    if (c.expect == "invalid") {
      EXPECT_TRUE(Contains(got, "error: invalid argument")) << "'" << c.query << "' -> " << got;
    } else {
      EXPECT_EQ(got, c.expect) << "'" << c.query << "'";
    }
  }
  // The database is intact after all of that.
  EXPECT_EQ(Find(""), "i_1 i_2 i_3 i_4 i_5");
}

// Random queries from the characters that matter to FTS5, SQL and our lexer.
TEST_F(StoreHistorySearch, RandomQueriesAreAnswersOrInvalidArgument) {
  const std::vector<std::string> pieces = {"castle",
                                           "red",
                                           "\"",
                                           "-",
                                           "*",
                                           ":",
                                           "model",
                                           "tag",
                                           "seed",
                                           "sampler",
                                           "(",
                                           ")",
                                           "NEAR",
                                           "OR",
                                           "AND",
                                           "NOT",
                                           "^",
                                           "{",
                                           "}",
                                           "'",
                                           "%",
                                           "_",
                                           "\\",
                                           " ",
                                           " ",
                                           " ",
                                           "42",
                                           "\xc3\xa2",
                                           "\xe5\x9f\x8e",
                                           "\xff",
                                           std::string(1, '\0'),
                                           "+",
                                           ",",
                                           ";"};
  std::mt19937 rng(1234);
  for (int i = 0; i < 3000; ++i) {
    std::string q;
    int n = static_cast<int>(rng() % 12);
    for (int k = 0; k < n; ++k) q += pieces[rng() % pieces.size()];
    Result<ImagePage> page = h_->Search(q, {}, 10, 0);
    if (!page.ok()) {
      ASSERT_EQ(page.status().code(), Code::kInvalidArgument)
          << "query '" << q << "': " << page.status().ToString();
    }
  }
}

}  // namespace
}  // namespace easel::store
