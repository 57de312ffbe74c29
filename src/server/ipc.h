// IPC between the server and its workers: length-prefixed JSON frames over a stream socket
// (a Unix-domain socket on one machine, TCP where a worker reaches its server over the network).
//
// Wire format: each frame is a 4-byte big-endian payload length, then that many bytes of UTF-8
// JSON. Frames are at most kMaxFrameBytes (64 MiB) of payload; both sides check it, so a lying
// or corrupt length never makes a reader allocate more than that.
//
// Reading (Connection::Recv / Poll) gives one of three outcomes:
//   kMessage  a whole frame arrived and parsed as JSON;
//   kTimeout  no whole frame within the timeout (a partial frame stays buffered for the next
//             call, so a slow writer is never misread);
//   kClosed   the peer closed the connection cleanly, between frames (EOF).
// and these errors, distinct from EOF:
//   kCorrupt  the peer closed in the middle of a frame (truncated frame: "closed after 10 of
//             the 100 bytes of a frame's payload"), a length over the limit, or a payload that
//             is not JSON.
//             A non-JSON payload consumes its frame: the stream stays in step and the next
//             Recv reads the next frame. After a truncated frame or a bad length the stream
//             cannot be resynchronised: every later Recv repeats the error.
//   kIo       the operating system refused a read (reset by peer ...).
// Writing (Send) fails with kInvalidArgument for a payload over the limit (nothing is sent),
// kIo for a refused write or a timeout; after a partial write the connection is broken and
// every later Send fails.
//
// Ownership: Fd, Listener and Connection own their file descriptors (RAII, move-only, all
// close-on-exec). A Listener on a Unix path removes the socket file it created.
// Thread-safety: one thread may Recv/Poll while others Send: Send is serialised by an internal
// mutex; Recv/Poll must not be called from two threads at once. Listener::Accept is for one
// thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "util/status.h"

namespace easel::ipc {

inline constexpr uint32_t kMaxFrameBytes = 64u << 20;

// A socket address written as text:
//   "unix:/run/easel/worker.sock"   a Unix-domain stream socket (path <= 107 bytes)
//   "tcp:127.0.0.1:7861"            TCP, a numeric IPv4 address
//   "tcp:[::1]:7861"                TCP, a numeric IPv6 address in brackets
// Port 0 on Listen picks a free port; Listener::address() then names the real one.
struct Address {
  enum class Kind { kUnix, kTcp };
  Kind kind = Kind::kUnix;
  std::string path;  // kUnix
  std::string host;  // kTcp: numeric, without brackets
  int port = 0;      // kTcp: 0..65535

  // kInvalidArgument naming the text and the accepted forms.
  static Result<Address> Parse(const std::string& text);
  std::string ToString() const;  // the form Parse reads
};

// An owned file descriptor; closes it when destroyed. -1 is "none".
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

enum class RecvState { kMessage, kTimeout, kClosed };

struct Received {
  RecvState state = RecvState::kTimeout;
  nlohmann::json message;  // kMessage only
};

// One end of a framed stream connection.
class Connection {
 public:
  Connection();  // not connected: every call fails with kIo
  // Takes a connected stream socket (made non-blocking and close-on-exec here).
  explicit Connection(Fd fd);
  Connection(Connection&&) noexcept;
  Connection& operator=(Connection&&) noexcept;
  ~Connection();

  // Connects to a listening address, waiting at most timeout_ms. kIo naming the address and
  // the reason ("nothing listens at unix:/x.sock: Connection refused").
  static Result<Connection> Connect(const Address& address, int timeout_ms);
  // Two connected ends (socketpair): for tests and for in-process peers.
  static Result<std::pair<Connection, Connection>> Pair();

  // Serialises `message` and writes one frame, waiting at most timeout_ms for the peer to make
  // room. Thread-safe with respect to other Sends and a concurrent Recv.
  Status Send(const nlohmann::json& message, int timeout_ms);
  // The same for an already-serialised payload (must be JSON for the peer to accept it; tests
  // use it to send malformed payloads).
  Status SendPayload(const std::string& payload, int timeout_ms);

  // Waits at most timeout_ms (0: do not wait, -1: forever) for one whole frame.
  Result<Received> Recv(int timeout_ms);
  // Recv(0): a non-blocking look for a message, e.g. between denoising steps.
  Result<Received> Poll() { return Recv(0); }

  int fd() const;  // for poll() loops; -1 when closed
  bool connected() const;
  // True once a truncated frame or a bad length made the incoming stream unreadable (every
  // later Recv fails); false after a non-JSON payload, which leaves the stream in step.
  bool read_failed() const;
  void Close();  // shuts the socket down and closes it; the peer sees EOF

 private:
  struct State;
  std::unique_ptr<State> s_;
};

class Listener {
 public:
  Listener() = default;
  Listener(Listener&&) noexcept;
  Listener& operator=(Listener&&) noexcept;
  ~Listener();  // closes the socket and removes the Unix socket file it created

  // Binds and listens. A Unix path that already exists is refused (kIo) unless it is a stale
  // socket nobody listens on, which is replaced; the socket file gets mode 0600.
  static Result<Listener> Listen(const Address& address, int backlog = 64);

  // Waits at most timeout_ms (-1: forever) for a connection. Result holds a Connection, or a
  // default-constructed (not connected) one when the timeout passed.
  Result<Connection> Accept(int timeout_ms);

  const Address& address() const { return address_; }  // with the bound port for tcp:...:0
  int fd() const { return fd_.get(); }

 private:
  Fd fd_;
  Address address_;
  std::string unlink_path_;  // the Unix socket file this listener created
};

}  // namespace easel::ipc
