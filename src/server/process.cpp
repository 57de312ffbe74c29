// Child processes (see process.h).
#include "server/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>

#include "util/files.h"

extern char** environ;

namespace easel::process {
namespace {

// Closes every descriptor >= lowest except `keep`. Async-signal-safe.
void CloseFrom(int lowest, int keep) {
#ifdef SYS_close_range
  if (keep < lowest) {
    if (::syscall(SYS_close_range, lowest, ~0U, 0) == 0) return;
  } else {
    if (::syscall(SYS_close_range, lowest, keep - 1, 0) == 0 &&
        ::syscall(SYS_close_range, keep + 1, ~0U, 0) == 0)
      return;
  }
#endif
  rlimit rl{};
  int max_fd = 65536;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 65536)
    max_fd = static_cast<int>(rl.rlim_cur);
  for (int fd = lowest; fd < max_fd; ++fd)
    if (fd != keep) ::close(fd);
}

const char* SignalName(int sig) {
  switch (sig) {
    case SIGKILL: return "SIGKILL";
    case SIGTERM: return "SIGTERM";
    case SIGSEGV: return "SIGSEGV";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGINT: return "SIGINT";
    case SIGPIPE: return "SIGPIPE";
    case SIGHUP: return "SIGHUP";
    default: return "";
  }
}

}  // namespace

Result<pid_t> Spawn(const SpawnOptions& o) {
  // Everything the child needs, built before the fork.
  std::vector<std::string> argv_s;
  argv_s.push_back(o.path);
  argv_s.insert(argv_s.end(), o.args.begin(), o.args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::map<std::string, std::string> env_map;  // name -> "NAME=value", ours replacing inherited
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    env_map[kv.substr(0, kv.find('='))] = kv;
  }
  for (const auto& kv : o.env) env_map[kv.substr(0, kv.find('='))] = kv;
  std::vector<std::string> env_s;
  for (auto& [name, kv] : env_map) env_s.push_back(kv);
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);

  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) < 0)
    return IoError("cannot start " + o.path + ": pipe: " + ErrnoText(errno));
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int e = errno;
    ::close(err_pipe[0]);
    ::close(err_pipe[1]);
    return IoError("cannot start " + o.path + ": fork: " + ErrnoText(e));
  }
  if (pid == 0) {
    // Child: async-signal-safe calls only.
    ::close(err_pipe[0]);
    if (o.new_process_group) ::setpgid(0, 0);
    if (o.die_with_parent) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(127);  // the parent already died
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGPIPE, SIG_DFL);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
      ::dup2(devnull, 0);
      if (devnull != 0) ::close(devnull);
    }
    CloseFrom(3, err_pipe[1]);
    ::execve(o.path.c_str(), argv.data(), envp.data());
    const int e = errno;
    ssize_t ignored = ::write(err_pipe[1], &e, sizeof(e));
    (void)ignored;
    ::_exit(127);
  }
  ::close(err_pipe[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(err_pipe[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  ::close(err_pipe[0]);
  if (n == static_cast<ssize_t>(sizeof(child_errno))) {
    Reap(pid);
    return IoError("cannot run " + o.path + ": " + ErrnoText(child_errno));
  }
  return pid;
}

std::optional<int> TryReap(pid_t pid) {
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r == 0) return std::nullopt;
    if (errno == EINTR) continue;
    return -1;  // ECHILD: not ours, or reaped already
  }
}

int Reap(pid_t pid) {
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, 0);
    if (r == pid) return status;
    if (errno == EINTR) continue;
    return -1;
  }
}

int ExitCodeOf(int s) {
  return s != -1 && WIFEXITED(s) ? WEXITSTATUS(s) : -1;
}

int SignalOf(int s) {
  return s != -1 && WIFSIGNALED(s) ? WTERMSIG(s) : 0;
}

std::string DescribeExit(int s) {
  if (s == -1) return "ended (its status was collected elsewhere)";
  if (WIFEXITED(s)) return "exited with status " + std::to_string(WEXITSTATUS(s));
  if (WIFSIGNALED(s)) {
    const int sig = WTERMSIG(s);
    std::string name = SignalName(sig);
    return "killed by signal " + std::to_string(sig) + (name.empty() ? "" : " (" + name + ")");
  }
  return "ended with wait status " + std::to_string(s);
}

std::string SelfExe() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.string();
}

std::string RandomToken() {
  std::random_device rd;
  std::string out;
  char buf[9];
  for (int i = 0; i < 4; ++i) {
    std::snprintf(buf, sizeof(buf), "%08x", static_cast<unsigned>(rd()));
    out += buf;
  }
  return out;
}

}  // namespace easel::process
