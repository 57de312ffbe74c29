// Framed JSON over stream sockets (see ipc.h). POSIX sockets, poll() for every wait, all
// descriptors non-blocking and close-on-exec, MSG_NOSIGNAL so a closed peer is an error
// value, never a SIGPIPE.
#include "server/ipc.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>

#include "util/files.h"

namespace easel::ipc {
namespace {

using Clock = std::chrono::steady_clock;

// Milliseconds left until `deadline` for poll(): -1 (forever) stays -1.
int RemainingMs(bool forever, Clock::time_point deadline) {
  if (forever) return -1;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

Status SetNonBlockingCloexec(int fd) {
  int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
    return IoError("cannot make a socket non-blocking: " + ErrnoText(errno));
  int fdfl = ::fcntl(fd, F_GETFD);
  if (fdfl < 0 || ::fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0)
    return IoError("cannot mark a socket close-on-exec: " + ErrnoText(errno));
  return Status::Ok();
}

// Waits for `events` on fd; returns poll()'s revents, 0 on timeout, -1 on error (errno set).
int WaitFd(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    int n = ::poll(&p, 1, timeout_ms);
    if (n < 0 && errno == EINTR) continue;  // rare; the caller's deadline bounds the retry
    if (n <= 0) return n;
    return p.revents;
  }
}

// A socket address in sockaddr form.
struct SockAddr {
  sockaddr_storage storage{};
  socklen_t len = 0;
  int family = AF_UNIX;
};

Result<SockAddr> ToSockAddr(const Address& a) {
  SockAddr out;
  if (a.kind == Address::Kind::kUnix) {
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    if (a.path.empty() || a.path.size() >= sizeof(un.sun_path))
      return InvalidArgument("unix socket path '" + a.path + "' must be 1 to " +
                             std::to_string(sizeof(un.sun_path) - 1) + " bytes");
    std::memcpy(un.sun_path, a.path.c_str(), a.path.size() + 1);
    std::memcpy(&out.storage, &un, sizeof(un));
    out.len = static_cast<socklen_t>(sizeof(un));
    out.family = AF_UNIX;
    return out;
  }
  sockaddr_in in4{};
  if (::inet_pton(AF_INET, a.host.c_str(), &in4.sin_addr) == 1) {
    in4.sin_family = AF_INET;
    in4.sin_port = htons(static_cast<uint16_t>(a.port));
    std::memcpy(&out.storage, &in4, sizeof(in4));
    out.len = sizeof(in4);
    out.family = AF_INET;
    return out;
  }
  sockaddr_in6 in6{};
  if (::inet_pton(AF_INET6, a.host.c_str(), &in6.sin6_addr) == 1) {
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(static_cast<uint16_t>(a.port));
    std::memcpy(&out.storage, &in6, sizeof(in6));
    out.len = sizeof(in6);
    out.family = AF_INET6;
    return out;
  }
  return InvalidArgument("'" + a.host + "' is not a numeric IPv4 or IPv6 address");
}

void SetNoDelay(int fd, const Address& a) {
  if (a.kind != Address::Kind::kTcp) return;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  // frames are small and chatty
}

uint32_t ReadBigEndian32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return uint32_t{u[0]} << 24 | uint32_t{u[1]} << 16 | uint32_t{u[2]} << 8 | uint32_t{u[3]};
}

}  // namespace

// ---- Address ------------------------------------------------------------------------------

Result<Address> Address::Parse(const std::string& text) {
  const std::string forms = ": use unix:/path/to.sock, tcp:127.0.0.1:PORT or tcp:[::1]:PORT";
  Address a;
  if (text.rfind("unix:", 0) == 0) {
    a.kind = Kind::kUnix;
    a.path = text.substr(5);
    if (a.path.empty()) return InvalidArgument("address '" + text + "' has no path" + forms);
    if (a.path.size() > 107)
      return InvalidArgument("address '" + text + "': a unix socket path is at most 107 bytes (" +
                             std::to_string(a.path.size()) + " given): use a shorter path");
    if (a.path.find('\0') != std::string::npos)
      return InvalidArgument("address '" + text + "' has a NUL byte in its path");
    return a;
  }
  if (text.rfind("tcp:", 0) != 0)
    return InvalidArgument("address '" + text + "' has no unix: or tcp: prefix" + forms);
  a.kind = Kind::kTcp;
  std::string rest = text.substr(4);
  std::string port;
  if (!rest.empty() && rest[0] == '[') {
    size_t close = rest.find(']');
    if (close == std::string::npos || close + 1 >= rest.size() || rest[close + 1] != ':')
      return InvalidArgument("address '" + text + "' is malformed" + forms);
    a.host = rest.substr(1, close - 1);
    port = rest.substr(close + 2);
  } else {
    size_t colon = rest.rfind(':');
    if (colon == std::string::npos)
      return InvalidArgument("address '" + text + "' has no port" + forms);
    a.host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (a.host.find(':') != std::string::npos)
      return InvalidArgument("address '" + text + "': write an IPv6 host in brackets" + forms);
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    return InvalidArgument("address '" + text + "' has a bad port '" + port + "'" + forms);
  a.port = std::stoi(port);
  if (a.port > 65535)
    return InvalidArgument("address '" + text + "': port " + port + " is over 65535");
  auto sa = ToSockAddr(a);
  if (!sa.ok()) return InvalidArgument("address '" + text + "': " + sa.status().message() + forms);
  return a;
}

std::string Address::ToString() const {
  if (kind == Kind::kUnix) return "unix:" + path;
  if (host.find(':') != std::string::npos) return "tcp:[" + host + "]:" + std::to_string(port);
  return "tcp:" + host + ":" + std::to_string(port);
}

// ---- Fd -----------------------------------------------------------------------------------

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) reset(other.release());
  return *this;
}

void Fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

// ---- Connection ---------------------------------------------------------------------------

struct Connection::State {
  Fd fd;
  std::mutex send_mu;        // serialises Send; guards send_broken
  bool send_broken = false;  // a partial frame went out: the stream is out of step
  // Reader side (one thread at a time).
  std::string rbuf;   // bytes received and not yet consumed
  Status read_error;  // sticky: set after a truncated frame or a bad length
  bool eof = false;
};

Connection::Connection(Fd fd) : s_(std::make_unique<State>()) {
  s_->fd = std::move(fd);
  Status st = SetNonBlockingCloexec(s_->fd.get());
  if (!st.ok()) s_->read_error = st;
}
Connection::Connection() = default;
Connection::Connection(Connection&&) noexcept = default;
Connection& Connection::operator=(Connection&&) noexcept = default;
Connection::~Connection() = default;

int Connection::fd() const {
  return s_ ? s_->fd.get() : -1;
}
bool Connection::connected() const {
  return s_ && s_->fd.valid();
}

bool Connection::read_failed() const {
  return s_ && !s_->read_error.ok();
}

void Connection::Close() {
  if (!s_) return;
  std::lock_guard<std::mutex> lock(s_->send_mu);
  if (s_->fd.valid()) ::shutdown(s_->fd.get(), SHUT_RDWR);
  s_->fd.reset();
}

Result<Connection> Connection::Connect(const Address& address, int timeout_ms) {
  auto sa = ToSockAddr(address);
  if (!sa.ok()) return sa.status();
  const std::string where = address.ToString();
  Fd fd(::socket(sa->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return IoError("cannot create a socket for " + where + ": " + ErrnoText(errno));
  int rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa->storage), sa->len);
  if (rc < 0 && errno != EINPROGRESS && errno != EAGAIN)
    return IoError("cannot connect to " + where + ": " + ErrnoText(errno) +
                   " (is the server running?)");
  if (rc < 0) {
    int ev = WaitFd(fd.get(), POLLOUT, timeout_ms);
    if (ev == 0)
      return IoError("cannot connect to " + where + ": no answer within " +
                     std::to_string(timeout_ms) + " ms");
    int err = 0;
    socklen_t len = sizeof(err);
    if (ev < 0 || ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err != 0)
      return IoError("cannot connect to " + where + ": " + ErrnoText(err) +
                     " (is the server running?)");
  }
  SetNoDelay(fd.get(), address);
  return Connection(std::move(fd));
}

Result<std::pair<Connection, Connection>> Connection::Pair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) < 0)
    return IoError("cannot create a socket pair: " + ErrnoText(errno));
  return std::make_pair(Connection(Fd(fds[0])), Connection(Fd(fds[1])));
}

Status Connection::Send(const nlohmann::json& message, int timeout_ms) {
  std::string payload;
  try {
    payload = message.dump();
  } catch (const nlohmann::json::exception& e) {  // invalid UTF-8 in a string
    return InvalidArgument(std::string("cannot serialise a message: ") + e.what());
  }
  return SendPayload(payload, timeout_ms);
}

Status Connection::SendPayload(const std::string& payload, int timeout_ms) {
  if (payload.size() > kMaxFrameBytes)
    return InvalidArgument("a message of " + std::to_string(payload.size()) +
                           " bytes is over the " + std::to_string(kMaxFrameBytes >> 20) +
                           " MiB frame limit");
  if (!s_) return IoError("the connection is closed");
  std::lock_guard<std::mutex> lock(s_->send_mu);
  if (!s_->fd.valid()) return IoError("the connection is closed");
  if (s_->send_broken)
    return IoError("the connection is broken: an earlier message was only partly sent");
  const uint32_t n = static_cast<uint32_t>(payload.size());
  const char header[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                          static_cast<char>(n >> 8), static_cast<char>(n)};
  const bool forever = timeout_ms < 0;
  const auto deadline = Clock::now() + std::chrono::milliseconds(forever ? 0 : timeout_ms);
  size_t sent = 0;
  const size_t total = 4 + payload.size();
  while (sent < total) {
    iovec iov[2];
    int iovcnt = 0;
    if (sent < 4) {
      iov[iovcnt++] = {const_cast<char*>(header) + sent, 4 - sent};
      iov[iovcnt++] = {const_cast<char*>(payload.data()), payload.size()};
    } else {
      iov[iovcnt++] = {const_cast<char*>(payload.data()) + (sent - 4), total - sent};
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(iovcnt);
    ssize_t w = ::sendmsg(s_->fd.get(), &msg, MSG_NOSIGNAL);
    if (w > 0) {
      sent += static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int ev = WaitFd(s_->fd.get(), POLLOUT, RemainingMs(forever, deadline));
      if (ev > 0) continue;
      if (ev == 0 || (!forever && Clock::now() >= deadline)) {
        if (sent > 0) s_->send_broken = true;
        return IoError("the peer did not read a " + std::to_string(total) +
                       "-byte message within " + std::to_string(timeout_ms) + " ms");
      }
      continue;
    }
    if (sent > 0) s_->send_broken = true;
    return IoError("cannot send a message: " + ErrnoText(errno));
  }
  return Status::Ok();
}

Result<Received> Connection::Recv(int timeout_ms) {
  if (!s_ || !s_->fd.valid()) return IoError("the connection is closed");
  State& s = *s_;
  if (!s.read_error.ok()) return s.read_error;
  const bool forever = timeout_ms < 0;
  const auto deadline = Clock::now() + std::chrono::milliseconds(forever ? 0 : timeout_ms);
  for (;;) {
    // A whole frame buffered?
    if (s.rbuf.size() >= 4) {
      const uint32_t n = ReadBigEndian32(s.rbuf.data());
      if (n > kMaxFrameBytes) {
        s.read_error = Corrupt("a frame announces " + std::to_string(n) + " bytes, over the " +
                               std::to_string(kMaxFrameBytes >> 20) +
                               " MiB limit: the peer does not speak this protocol");
        return s.read_error;
      }
      if (s.rbuf.size() >= 4 + size_t{n}) {
        std::string payload = s.rbuf.substr(4, n);
        s.rbuf.erase(0, 4 + size_t{n});
        Received r;
        r.state = RecvState::kMessage;
        r.message = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
        if (r.message.is_discarded()) {
          std::string head = payload.substr(0, 40);
          for (char& c : head)
            if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e)
              c = '?';
          return Corrupt("a " + std::to_string(n) + "-byte frame is not JSON (starts with \"" +
                         head + "\")");
        }
        return r;
      }
    }
    if (s.eof) {
      if (s.rbuf.empty()) return Received{RecvState::kClosed, {}};
      const bool in_header = s.rbuf.size() < 4;
      const size_t got = in_header ? s.rbuf.size() : s.rbuf.size() - 4;
      const std::string of = in_header ? "4 bytes of a frame header"
                                       : std::to_string(ReadBigEndian32(s.rbuf.data())) +
                                             " bytes of a frame's payload";
      s.read_error = Corrupt("the peer closed the connection after " + std::to_string(got) +
                             " of the " + of + ": truncated frame");
      return s.read_error;
    }
    // Read what is there (without blocking).
    char buf[65536];
    ssize_t r = ::recv(s.fd.get(), buf, sizeof(buf), 0);
    if (r > 0) {
      s.rbuf.append(buf, static_cast<size_t>(r));
      continue;
    }
    if (r == 0) {
      s.eof = true;
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      if (errno == ECONNRESET) {  // an abrupt close: the same as EOF for framing purposes
        s.eof = true;
        continue;
      }
      return IoError("cannot read from the connection: " + ErrnoText(errno));
    }
    const int left = RemainingMs(forever, deadline);
    if (left == 0) return Received{RecvState::kTimeout, {}};
    int ev = WaitFd(s.fd.get(), POLLIN, left);
    if (ev < 0) return IoError("cannot wait on the connection: " + ErrnoText(errno));
    if (ev == 0) return Received{RecvState::kTimeout, {}};
  }
}

// ---- Listener -----------------------------------------------------------------------------

Listener::Listener(Listener&& o) noexcept
    : fd_(std::move(o.fd_)),
      address_(std::move(o.address_)),
      unlink_path_(std::exchange(o.unlink_path_, {})) {}

Listener& Listener::operator=(Listener&& o) noexcept {
  if (this != &o) {
    if (!unlink_path_.empty()) ::unlink(unlink_path_.c_str());
    fd_ = std::move(o.fd_);
    address_ = std::move(o.address_);
    unlink_path_ = std::exchange(o.unlink_path_, {});
  }
  return *this;
}

Listener::~Listener() {
  fd_.reset();
  if (!unlink_path_.empty()) ::unlink(unlink_path_.c_str());
}

Result<Listener> Listener::Listen(const Address& address, int backlog) {
  auto sa = ToSockAddr(address);
  if (!sa.ok()) return sa.status();
  const std::string where = address.ToString();
  if (address.kind == Address::Kind::kUnix) {
    struct stat st {};
    if (::lstat(address.path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode))
        return IoError("cannot listen on " + where + ": the path exists and is not a socket");
      // A live server answers a connect; a stale socket file (crashed server) does not.
      auto probe = Connection::Connect(address, 200);
      if (probe.ok())
        return IoError("cannot listen on " + where + ": another process is listening there");
      ::unlink(address.path.c_str());
    }
  }
  Fd fd(::socket(sa->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return IoError("cannot create a socket for " + where + ": " + ErrnoText(errno));
  if (address.kind == Address::Kind::kTcp) {
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  }
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sa->storage), sa->len) < 0)
    return IoError("cannot listen on " + where + ": " + ErrnoText(errno));
  Listener l;
  l.address_ = address;
  if (address.kind == Address::Kind::kUnix) {
    l.unlink_path_ = address.path;
    ::chmod(address.path.c_str(), 0600);  // only this user's processes may become workers
  }
  if (::listen(fd.get(), backlog) < 0)
    return IoError("cannot listen on " + where + ": " + ErrnoText(errno));
  if (address.kind == Address::Kind::kTcp && address.port == 0) {
    sockaddr_storage bound{};
    socklen_t len = sizeof(bound);
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len) == 0) {
      l.address_.port = bound.ss_family == AF_INET6
                            ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                            : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    }
  }
  l.fd_ = std::move(fd);
  return l;
}

Result<Connection> Listener::Accept(int timeout_ms) {
  if (!fd_.valid()) return IoError("the listener is closed");
  const bool forever = timeout_ms < 0;
  const auto deadline = Clock::now() + std::chrono::milliseconds(forever ? 0 : timeout_ms);
  for (;;) {
    int c = ::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c >= 0) {
      SetNoDelay(c, address_);
      return Connection(Fd(c));
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return IoError("cannot accept on " + address_.ToString() + ": " + ErrnoText(errno));
    const int left = RemainingMs(forever, deadline);
    if (left == 0) return Connection();
    int ev = WaitFd(fd_.get(), POLLIN, left);
    if (ev < 0) return IoError("cannot wait on " + address_.ToString() + ": " + ErrnoText(errno));
    if (ev == 0) return Connection();
  }
}

}  // namespace easel::ipc
