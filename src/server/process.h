// Child processes for the worker supervisor: fork+exec with a clean descriptor table, reaping
// without blocking, and exit statuses in words. POSIX (Linux: PR_SET_PDEATHSIG, close_range).
//
// Thread-safety: all functions may be called from any thread. Spawn() forks a possibly
// multi-threaded process, so the child does only async-signal-safe work before exec; all
// strings are prepared before the fork.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "util/status.h"

namespace easel::process {

struct SpawnOptions {
  std::string path;               // the executable (no PATH search)
  std::vector<std::string> args;  // argv[1..]; argv[0] is `path`
  std::vector<std::string> env;   // "NAME=value" added to (or replacing in) our environment
  // The child gets SIGTERM when the thread that spawned it ends (Linux PR_SET_PDEATHSIG):
  // spawn from a thread that lives as long as the child should.
  bool die_with_parent = true;
  // The child leads its own process group, so a terminal's Ctrl-C reaches only the parent,
  // which then stops its children in order.
  bool new_process_group = true;
};

// Starts the child with stdin from /dev/null, stdout/stderr inherited, every other descriptor
// closed, default SIGTERM/SIGINT/SIGPIPE handling and an empty signal mask. kIo when fork
// fails or the executable cannot be run ("cannot run /x/easel: No such file or directory"),
// known before this returns (the exec error comes back through a close-on-exec pipe).
Result<pid_t> Spawn(const SpawnOptions& options);

// waitpid(pid, WNOHANG): the wait status once the child has ended (and is reaped), nullopt
// while it runs. A pid that is not our child (already reaped) gives a status of -1.
std::optional<int> TryReap(pid_t pid);

// Blocks until the child ends; its wait status (-1 if it was not our child).
int Reap(pid_t pid);

// "exited with status 69" / "killed by signal 9 (SIGKILL)".
std::string DescribeExit(int wait_status);
// The exit code, or -1 when the child did not exit normally.
int ExitCodeOf(int wait_status);
// The signal that ended the child, or 0.
int SignalOf(int wait_status);

// The running executable's path (from /proc/self/exe); "" when it cannot be read.
std::string SelfExe();
// 32 hex digits from std::random_device: the token a supervisor gives the workers it starts.
std::string RandomToken();

}  // namespace easel::process
