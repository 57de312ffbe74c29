// The data directory. See data_dir.h.
#include "util/data_dir.h"

#include <cstdlib>
#include <filesystem>

namespace easel {

namespace fs = std::filesystem;

Result<std::string> ResolveDataDir(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* d = std::getenv("EASEL_DATA_DIR"); d && *d) return std::string(d);
  if (const char* d = std::getenv("XDG_DATA_HOME"); d && *d)
    return (fs::path(d) / "easel").string();
  if (const char* h = std::getenv("HOME"); h && *h)
    return (fs::path(h) / ".local" / "share" / "easel").string();
  return NotFound(
      "no data directory: pass --data-dir DIR or set EASEL_DATA_DIR (neither XDG_DATA_HOME nor "
      "HOME is set)");
}

Result<std::string> EnsureDataDir(const std::string& flag) {
  Result<std::string> dir = ResolveDataDir(flag);
  if (!dir.ok()) return dir;
  std::error_code ec;
  fs::create_directories(*dir, ec);
  if (!fs::is_directory(*dir, ec))
    return IoError("cannot use data directory " + *dir +
                   (ec ? ": " + ec.message() : std::string(": it is not a folder")) +
                   ": pass another with --data-dir");
  return dir;
}

std::string DatabasePath(const std::string& data_dir) {
  return (fs::path(data_dir) / "easel.db").string();
}

}  // namespace easel
