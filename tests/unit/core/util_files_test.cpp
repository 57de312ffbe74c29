// ReadFile, WriteFileAtomic and IsPickleFile: contents, limits and error messages.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "io_temp_dir.h"
#include "util/files.h"

namespace easel {
namespace {

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(Files, ReadFileReturnsBytes) {
  testing::TempDir dir;
  std::string content("a\0b\xff", 4);
  std::string path = dir.Write("f.bin", content);
  Result<std::string> got = ReadFile(path);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, content);
  EXPECT_EQ(*ReadFile(dir.Write("empty", "")), "");
}

TEST(Files, ReadFileErrorsNameThePath) {
  testing::TempDir dir;
  Result<std::string> missing = ReadFile(dir.File("missing.txt"));
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_TRUE(Contains(missing.status().message(), "missing.txt"));

  Result<std::string> directory = ReadFile(dir.path());
  EXPECT_EQ(directory.status().code(), Code::kIo);
  EXPECT_TRUE(Contains(directory.status().message(), "directory"));

  std::string big = dir.Write("big", std::string(100, 'x'));
  Result<std::string> too_big = ReadFile(big, 99);
  EXPECT_EQ(too_big.status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(Contains(too_big.status().message(), "100 bytes"));
  EXPECT_TRUE(ReadFile(big, 100).ok());
}

TEST(Files, WriteFileAtomicCreatesAndReplaces) {
  testing::TempDir dir;
  std::string path = dir.File("out.txt");
  ASSERT_TRUE(WriteFileAtomic(path, "first").ok());
  EXPECT_EQ(dir.Read("out.txt"), "first");
  ASSERT_TRUE(WriteFileAtomic(path, std::vector<std::string_view>{"sec", "", "ond"}).ok());
  EXPECT_EQ(dir.Read("out.txt"), "second");
  // No temporary file is left behind.
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    ++entries;
    EXPECT_EQ(e.path().filename(), "out.txt");
  }
  EXPECT_EQ(entries, 1);
  // A relative path (no directory part) works too.
  std::string cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  Status st = WriteFileAtomic("relative.txt", "r");
  std::filesystem::current_path(cwd);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(dir.Read("relative.txt"), "r");
}

TEST(Files, WriteFileAtomicErrorsNameThePathAndReason) {
  testing::TempDir dir;
  Status no_dir = WriteFileAtomic("/nonexistent/dir/x.png", "x");
  EXPECT_EQ(no_dir.code(), Code::kIo);
  EXPECT_TRUE(Contains(no_dir.message(), "/nonexistent/dir/x.png")) << no_dir.message();
  EXPECT_TRUE(Contains(no_dir.message(), "No such file or directory")) << no_dir.message();

  std::filesystem::create_directory(dir.File("sub"));
  Status is_dir = WriteFileAtomic(dir.File("sub"), "x");
  EXPECT_EQ(is_dir.code(), Code::kIo);
  EXPECT_TRUE(Contains(is_dir.message(), "directory")) << is_dir.message();

  EXPECT_EQ(WriteFileAtomic("", "x").code(), Code::kInvalidArgument);

  if (geteuid() != 0) {  // root ignores permissions
    std::filesystem::permissions(
        dir.File("sub"), std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
    Status denied = WriteFileAtomic(dir.File("sub/x.txt"), "x");
    EXPECT_EQ(denied.code(), Code::kIo);
    EXPECT_TRUE(Contains(denied.message(), "Permission denied")) << denied.message();
    std::filesystem::permissions(dir.File("sub"), std::filesystem::perms::owner_all);
  }
}

TEST(Files, IsPickleFile) {
  testing::TempDir dir;
  // By extension, whatever the content (even missing).
  EXPECT_TRUE(IsPickleFile(dir.Write("m.ckpt", "whatever")));
  EXPECT_TRUE(IsPickleFile(dir.Write("m.PT", "whatever")));
  EXPECT_TRUE(IsPickleFile(dir.File("missing.pth")));
  EXPECT_TRUE(IsPickleFile(dir.File("pytorch_model.bin")));
  EXPECT_FALSE(IsPickleFile(dir.File("missing.safetensors")));
  EXPECT_FALSE(IsPickleFile(dir.Write("notes.txt", "hello")));
  EXPECT_FALSE(IsPickleFile(dir.File("dir.ckpt/x")));  // a dot in a directory is no extension
  // By magic: torch.save's zip and a bare pickle, under a misleading name.
  EXPECT_TRUE(IsPickleFile(dir.Write("zip.safetensors", std::string("PK\x03\x04rest", 8))));
  EXPECT_TRUE(IsPickleFile(dir.Write("pkl.safetensors", std::string("\x80\x02}q\x00", 5))));
  // A safetensors header whose length bytes happen to start with 0x80 0x02 is not a pickle,
  // and a real safetensors file wins over a pickle extension.
  std::string st_head = std::string("\x80\x02\0\0\0\0\0\0{", 9);
  EXPECT_FALSE(IsPickleFile(dir.Write("odd.safetensors", st_head)));
  EXPECT_FALSE(IsPickleFile(dir.Write("renamed.bin", st_head)));
}

TEST(Files, ErrnoText) {
  EXPECT_EQ(ErrnoText(ENOENT), "No such file or directory");
}

}  // namespace
}  // namespace easel
