// Whole-file reads, atomic writes and file sniffing over POSIX file descriptors.
#include "util/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <system_error>

namespace easel {
namespace {

// Closes a file descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now and reports close()'s errno (0 on success): close can report a failed write.
  int Close() {
    int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

// "dir/name" -> "dir", "name" -> ".", "/name" -> "/".
std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string BaseName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Writes all of [data, data + size), retrying short writes and EINTR. Returns errno or 0.
int WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, std::min<size_t>(size, size_t{1} << 30));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return 0;
}

Status WriteError(const std::string& path, int err, const std::string& doing) {
  std::string hint;
  if (err == ENOENT) hint = "; check that the directory exists";
  if (err == EACCES || err == EPERM || err == EROFS) hint = "; check the directory's permissions";
  if (err == ENOSPC || err == EDQUOT) hint = "; free some disk space";
  return IoError("cannot write '" + path + "': " + ErrnoText(err) + " (" + doing + ")" + hint);
}

}  // namespace

std::string ErrnoText(int err) {
  return std::error_code(err, std::generic_category()).message();
}

Result<std::string> ReadFile(const std::string& path, uint64_t max_bytes) {
  int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) {
    int err = errno;
    if (err == ENOENT) return NotFound("'" + path + "' does not exist");
    return IoError("cannot read '" + path + "': " + ErrnoText(err));
  }
  Fd fd(raw);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return IoError("cannot stat '" + path + "': " + ErrnoText(errno));
  if (S_ISDIR(st.st_mode)) return IoError("cannot read '" + path + "': it is a directory");
  if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > max_bytes) {
    return InvalidArgument("'" + path + "' is " + std::to_string(st.st_size) +
                           " bytes, more than the " + std::to_string(max_bytes) +
                           " bytes Easel reads from such a file");
  }
  std::string out;
  if (S_ISREG(st.st_mode)) out.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError("cannot read '" + path + "': " + ErrnoText(errno));
    }
    if (n == 0) break;
    if (out.size() + static_cast<uint64_t>(n) > max_bytes) {
      return InvalidArgument("'" + path + "' is more than the " + std::to_string(max_bytes) +
                             " bytes Easel reads from such a file");
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Status WriteFileAtomic(const std::string& path, std::string_view bytes) {
  return WriteFileAtomic(path, std::vector<std::string_view>{bytes});
}

Status WriteFileAtomic(const std::string& path, const std::vector<std::string_view>& pieces) {
  if (path.empty() || path.back() == '/') {
    return InvalidArgument("cannot write '" + path + "': the path names no file");
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return IoError("cannot write '" + path + "': it is a directory; give a file name");
  }
  const std::string dir = DirName(path);
  // A hidden, unique name beside the target so that rename() stays within one filesystem.
  std::random_device rd;
  std::string tmp;
  int raw = -1;
  for (int attempt = 0; attempt < 100 && raw < 0; ++attempt) {
    char suffix[32];
    std::snprintf(suffix, sizeof(suffix), ".tmp-%d-%08x", static_cast<int>(::getpid()), rd());
    tmp = dir + "/." + BaseName(path) + suffix;
    raw = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (raw < 0 && errno != EEXIST) {
      return WriteError(path, errno, "creating a temporary file in '" + dir + "'");
    }
  }
  if (raw < 0) return WriteError(path, EEXIST, "creating a temporary file in '" + dir + "'");
  Fd fd(raw);
  auto fail = [&](int err, const std::string& doing) {
    ::unlink(tmp.c_str());
    return WriteError(path, err, doing);
  };
  for (std::string_view piece : pieces) {
    if (int err = WriteAll(fd.get(), piece.data(), piece.size())) return fail(err, "writing");
  }
  if (::fsync(fd.get()) != 0) return fail(errno, "syncing to disk");
  if (int err = fd.Close()) return fail(err, "closing");
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail(errno, "renaming the temporary file");
  // Make the rename itself durable; a failure here loses nothing the caller can fix.
  int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return Status::Ok();
}

bool IsPickleFile(const std::string& path) {
  size_t dot = path.find_last_of('.');
  size_t slash = path.find_last_of('/');
  std::string ext;
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash)) {
    ext = Lower(path.substr(dot));
  }
  const bool pickle_ext = ext == ".ckpt" || ext == ".pt" || ext == ".pth" || ext == ".bin";

  unsigned char head[9] = {};
  ssize_t got = 0;
  int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) return pickle_ext;
  {
    Fd fd(raw);
    while (got < 9) {
      ssize_t n = ::read(fd.get(), head + got, 9 - static_cast<size_t>(got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += n;
    }
  }
  // A safetensors file: u64 little-endian header length, then the JSON object's '{'.
  // Its first byte may be 0x80 or "PK" by chance, so this test comes first.
  if (got == 9 && head[8] == '{') return false;
  const bool zip = got >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4;
  const bool pickle = got >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5;
  return pickle_ext || zip || pickle;
}

}  // namespace easel
