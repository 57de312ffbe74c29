// Model hashes off the image's critical path (library/model_hash.h): a ModelHashJob gives the
// same SHA-256 as hashing synchronously, takes a hash the cache or the library index already
// has for the very same file without reading it, records what it computed, and answers a file
// that disappears or changes while it is hashed with a clear error instead of a wrong hash.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <utime.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>

#include "io_temp_dir.h"
#include "library/model_hash.h"
#include "library/sha256_fast.h"
#include "store/model_index.h"
#include "util/sha256.h"

namespace easel::library {
namespace {

using easel::testing::TempDir;
namespace fs = std::filesystem;

// Deterministic, incompressible-looking bytes (a 32-bit LCG).
std::string Bytes(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  for (char& c : s) {
    seed = seed * 1664525u + 1013904223u;
    c = static_cast<char>(seed >> 24);
  }
  return s;
}

void SetMtime(const std::string& path, time_t t) {
  struct utimbuf times = {t, t};
  ASSERT_EQ(::utime(path.c_str(), &times), 0);
}

std::string Abs(const std::string& p) {
  return fs::absolute(p).lexically_normal().string();
}

// A library row for `path` with its current size and mtime, carrying `sha256`.
void IndexFile(const std::string& db, const std::string& path, const std::string& sha256) {
  auto index = store::SqliteModelIndex::Open(db);
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  ModelRecord r;
  r.path = Abs(path);
  r.root = Abs(fs::path(path).parent_path().string());
  r.name = fs::path(path).stem().string();
  r.kind = ModelKind::kCheckpoint;
  r.size = st.st_size;
  r.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
  r.sha256 = sha256;
  r.autov2 = sha256.substr(0, 10);
  ASSERT_TRUE((*index)->Upsert({r}).ok());
}

TEST(FastSha256, SameDigestsAsThePortableCodeForEveryPaddingCase) {
  // Lengths around the 55/56/64-byte padding edges, fed in growing odd pieces.
  for (size_t n : {0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 100003}) {
    const std::string bytes = Bytes(n, static_cast<uint32_t>(n) + 11);
    FastSha256 fast;
    for (size_t i = 0, step = 1; i < n; i += step, step = step * 3 + 1)
      fast.Update(bytes.data() + i, std::min(step, n - i));
    EXPECT_EQ(fast.FinalHex(), Sha256Hex(bytes))
        << n << " bytes, SHA-NI " << FastSha256::Accelerated();
  }
  FastSha256 abc;
  abc.Update("abc", 3);  // FIPS 180-4's example
  EXPECT_EQ(abc.FinalHex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ModelHashJob, EqualsTheSynchronousHashAndFillsTheCache) {
  TempDir dir;
  const std::string model = dir.Write("m.safetensors", Bytes(3u << 20 | 123, 1));  // 3 MiB+
  auto want = Sha256File(model);
  ASSERT_TRUE(want.ok());
  HashSources sources{dir.File("cache/hashes.json"), ""};
  {
    ModelHashJob job(model, sources);
    ASSERT_TRUE(job.Get().ok()) << job.Get().status().ToString();
    EXPECT_EQ(job.Get().value(), *want);
    EXPECT_EQ(job.source(), "hashed");
  }
  // The cache now has it: the next load does not read the file.
  std::string from;
  EXPECT_EQ(KnownSha256(model, sources, &from), *want);
  EXPECT_EQ(from, "cache");
  ModelHashJob again(model, sources);
  EXPECT_TRUE(again.WaitFor(5000));
  EXPECT_EQ(again.Get().value(), *want);
  EXPECT_EQ(again.source(), "cache");
  // The synchronous path (easel's ModelHash) agrees with the cache.
  EXPECT_EQ(*CachedSha256(model, sources.cache_file), *want);
  // A changed file is not served its old hash.
  dir.Write("m.safetensors", Bytes(3u << 20 | 123, 2));
  SetMtime(model, 1000);
  EXPECT_EQ(KnownSha256(model, sources), "");
  ModelHashJob changed(model, sources);
  EXPECT_EQ(changed.Get().value(), *Sha256File(model));
  EXPECT_EQ(changed.source(), "hashed");
}

TEST(ModelHashJob, TakesTheLibraryIndexHashWithoutReadingTheFile) {
  TempDir dir;
  const std::string model = dir.Write("sdxl.safetensors", Bytes(1u << 20, 3));
  const std::string db = dir.File("easel.db");
  // A hash the file cannot have: served as is, so the file was not read.
  const std::string indexed(64, 'a');
  IndexFile(db, model, indexed);
  HashSources sources{dir.File("hashes.json"), db};
  std::string from;
  EXPECT_EQ(KnownSha256(model, sources, &from), indexed);
  EXPECT_EQ(from, "index");
  const auto t0 = std::chrono::steady_clock::now();
  ModelHashJob job(model, sources);
  ASSERT_TRUE(job.Get().ok());
  EXPECT_EQ(job.Get().value(), indexed);
  EXPECT_EQ(job.source(), "index");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 2.0);
  // By another spelling of the same path too.
  ModelHashJob other(dir.path() + "/./sdxl.safetensors", sources);
  EXPECT_EQ(other.Get().value(), indexed);
  // A row whose stamp is not the file's any more is not trusted.
  SetMtime(model, 5000);
  ModelHashJob stale(model, sources);
  EXPECT_EQ(stale.Get().value(), *Sha256File(model));
  EXPECT_EQ(stale.source(), "hashed");
}

TEST(ModelHashJob, TellsTheLibraryWhatItHashed) {
  TempDir dir;
  const std::string model = dir.Write("sd15.safetensors", Bytes(1u << 20, 4));
  const std::string db = dir.File("easel.db");
  IndexFile(db, model, "");  // scanned, not hashed yet
  ModelHashJob job(model, {"", db});
  ASSERT_TRUE(job.Get().ok());
  EXPECT_EQ(job.source(), "hashed");
  auto index = store::SqliteModelIndex::Open(db);
  ASSERT_TRUE(index.ok());
  auto row = (*index)->Get(Abs(model));
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->sha256, *Sha256File(model));
  EXPECT_EQ(row->autov2, row->sha256.substr(0, 10));
}

TEST(ModelHashJob, DiffusersFolderIsHashedByItsUnet) {
  TempDir dir;
  fs::create_directories(dir.File("tiny/unet"));
  const std::string unet =
      dir.Write("tiny/unet/diffusion_pytorch_model.safetensors", Bytes(100000, 5));
  ModelHashJob job(dir.File("tiny"), {dir.File("hashes.json"), ""});
  EXPECT_EQ(job.Get().value(), *Sha256File(unet));
}

TEST(Sha256FileStable, RemovedOrChangedWhileHashedIsAClearErrorNotAHash) {
  TempDir dir;
  const std::string path = dir.Write("m.safetensors", Bytes(4u << 20, 6));
  // Unchanged: the plain SHA-256.
  auto same = Sha256FileStable(path);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(*same, *Sha256File(path));
  // Removed after the first block.
  auto removed = Sha256FileStable(path, nullptr, [&](int64_t read) {
    if (read == (1 << 20)) fs::remove(path);
  });
  ASSERT_FALSE(removed.ok());
  EXPECT_EQ(removed.status().code(), Code::kNotFound);
  EXPECT_NE(removed.status().message().find("removed while it was hashed"), std::string::npos);
  // Truncated (then rewritten shorter) after the first block.
  dir.Write("m.safetensors", Bytes(4u << 20, 6));
  auto changed = Sha256FileStable(path, nullptr, [&](int64_t read) {
    if (read == (1 << 20)) fs::resize_file(path, 2 << 20);
  });
  ASSERT_FALSE(changed.ok());
  EXPECT_EQ(changed.status().code(), Code::kIo);
  EXPECT_NE(changed.status().message().find("changed while it was hashed"), std::string::npos)
      << changed.status().ToString();
  // Replaced by another file of the same size (a new download renamed over it).
  dir.Write("m.safetensors", Bytes(4u << 20, 6));
  const std::string other = dir.Write("other.safetensors", Bytes(4u << 20, 7));
  auto replaced = Sha256FileStable(path, nullptr, [&](int64_t read) {
    if (read == (1 << 20)) fs::rename(other, path);
  });
  EXPECT_FALSE(replaced.ok());
  // Missing.
  auto missing = Sha256FileStable(dir.File("nope.safetensors"));
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  // Cancelled.
  std::atomic<bool> cancel{false};
  auto cancelled = Sha256FileStable(path, &cancel, [&](int64_t) { cancel = true; });
  EXPECT_EQ(cancelled.status().code(), Code::kCancelled);
}

TEST(ModelHashJob, AFileGoneOrDeletedDuringTheJobGivesAnErrorOrTheRightHash) {
  TempDir dir;
  ModelHashJob missing(dir.File("nope.safetensors"), {dir.File("hashes.json"), ""});
  ASSERT_FALSE(missing.Get().ok());
  EXPECT_EQ(missing.Get().status().code(), Code::kNotFound);
  EXPECT_NE(missing.Get().status().message().find("nope.safetensors"), std::string::npos);
  EXPECT_EQ(missing.source(), "");
  // Deleted while the job may be reading it: whichever comes first, never a wrong hash and
  // nothing cached for a file that is gone.
  const std::string bytes = Bytes(16u << 20, 8);
  const std::string want = Sha256Hex(bytes);
  const std::string path = dir.Write("m.safetensors", bytes);
  ModelHashJob job(path, {dir.File("hashes.json"), ""});
  fs::remove(path);
  const Result<std::string>& r = job.Get();
  if (r.ok()) {
    EXPECT_EQ(r.value(), want);
  } else {
    EXPECT_NE(r.status().message().find("m.safetensors"), std::string::npos);
  }
}

TEST(ModelHashJob, DestroyedWhileHashingStopsAndJoins) {
  TempDir dir;
  const std::string path = dir.Write("big.safetensors", Bytes(32u << 20, 9));
  const auto t0 = std::chrono::steady_clock::now();
  {
    ModelHashJob job(path, {dir.File("hashes.json"), ""});
  }  // a model unloaded at once: the hash stops (within one block) and its thread is joined
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
  // Nothing half-done was cached.
  HashSources sources{dir.File("hashes.json"), ""};
  const std::string known = KnownSha256(path, sources);
  EXPECT_TRUE(known.empty() || known == *Sha256File(path));
}

}  // namespace
}  // namespace easel::library
