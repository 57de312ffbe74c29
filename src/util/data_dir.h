// Easel's one data directory (the database easel.db, images, caches), the same for every
// command and the server: --data-dir when given, else $EASEL_DATA_DIR, else
// $XDG_DATA_HOME/easel, else ~/.local/share/easel.
//
// Thread-safety: reads the environment; no shared state.
#pragma once

#include <string>

#include "util/status.h"

namespace easel {

// The data dir for a --data-dir flag value ("" when not given). Fails with kNotFound when
// neither the flag, $EASEL_DATA_DIR, $XDG_DATA_HOME nor $HOME is set.
Result<std::string> ResolveDataDir(const std::string& flag);

// ResolveDataDir, then creates the folder (and parents) if absent. Fails with kIo naming the
// folder when it cannot be created or is not a folder.
Result<std::string> EnsureDataDir(const std::string& flag);

// <data dir>/easel.db
std::string DatabasePath(const std::string& data_dir);

}  // namespace easel
