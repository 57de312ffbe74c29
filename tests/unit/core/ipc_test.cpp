// ipc: addresses, framed JSON round trips over Unix and TCP sockets, timeouts, and every
// malformed input a reader can meet (length past the limit, truncated frames, non-JSON
// payloads, a peer closing mid-frame), each a distinct, clear outcome.
#include "server/ipc.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <thread>

#include "io_temp_dir.h"

namespace easel::ipc {
namespace {

using json = nlohmann::json;

// Raw bytes onto a connection's socket, bypassing the framing.
void WriteRaw(const Connection& c, const std::string& bytes) {
  ASSERT_EQ(::send(c.fd(), bytes.data(), bytes.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(bytes.size()));
}

std::string Header(uint32_t n) {
  return {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
          static_cast<char>(n)};
}

std::pair<Connection, Connection> MakePair() {
  auto p = Connection::Pair();
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return std::move(*p);
}

TEST(IpcAddress, ParsesUnixAndTcpForms) {
  auto u = Address::Parse("unix:/tmp/easel.sock");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->kind, Address::Kind::kUnix);
  EXPECT_EQ(u->path, "/tmp/easel.sock");
  EXPECT_EQ(u->ToString(), "unix:/tmp/easel.sock");

  auto t = Address::Parse("tcp:127.0.0.1:7861");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->kind, Address::Kind::kTcp);
  EXPECT_EQ(t->host, "127.0.0.1");
  EXPECT_EQ(t->port, 7861);
  EXPECT_EQ(t->ToString(), "tcp:127.0.0.1:7861");

  auto v6 = Address::Parse("tcp:[::1]:0");
  ASSERT_TRUE(v6.ok()) << v6.status().ToString();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->ToString(), "tcp:[::1]:0");
}

TEST(IpcAddress, RejectsMalformedAddressesWithTheAcceptedForms) {
  for (const char* bad : {"", "/tmp/x.sock", "unix:", "tcp:127.0.0.1",
                          "tcp:127.0.0.1:", "tcp:127.0.0.1:65536", "tcp:127.0.0.1:-1",
                          "tcp:localhost:80", "tcp:::1:80", "tcp:[::1]80", "http://127.0.0.1:80"}) {
    auto a = Address::Parse(bad);
    EXPECT_FALSE(a.ok()) << bad;
    EXPECT_EQ(a.status().code(), Code::kInvalidArgument) << bad;
    EXPECT_NE(a.status().message().find(bad), std::string::npos) << a.status().message();
  }
  auto long_path = Address::Parse("unix:/" + std::string(200, 'a'));
  ASSERT_FALSE(long_path.ok());
  EXPECT_NE(long_path.status().message().find("at most 107 bytes"), std::string::npos);
}

TEST(IpcConnection, RoundTripsMessagesInOrder) {
  auto [a, b] = MakePair();
  ASSERT_TRUE(a.Send({{"type", "hello"}, {"n", 1}}, 1000).ok());
  ASSERT_TRUE(a.Send({{"type", "progress"}, {"text", "héllo ✓"}}, 1000).ok());
  auto r1 = b.Recv(1000);
  ASSERT_TRUE(r1.ok()) << r1.status().ToString();
  ASSERT_EQ(r1->state, RecvState::kMessage);
  EXPECT_EQ(r1->message["n"], 1);
  auto r2 = b.Recv(1000);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->message["text"], "héllo ✓");
}

TEST(IpcConnection, PollAndRecvTimeOutWithoutAMessage) {
  auto [a, b] = MakePair();
  auto p = b.Poll();
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->state, RecvState::kTimeout);
  auto r = b.Recv(30);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->state, RecvState::kTimeout);
  ASSERT_TRUE(a.Send({{"type", "cancel"}}, 1000).ok());
  p = b.Poll();
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->state, RecvState::kMessage);
  EXPECT_EQ(p->message["type"], "cancel");
}

TEST(IpcConnection, APartialFrameWaitsForTheRestAcrossPolls) {
  auto [a, b] = MakePair();
  const std::string payload = R"({"type":"x"})";
  WriteRaw(a, Header(static_cast<uint32_t>(payload.size())) + payload.substr(0, 5));
  auto p = b.Poll();
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->state, RecvState::kTimeout);
  WriteRaw(a, payload.substr(5));
  p = b.Poll();
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->state, RecvState::kMessage);
  EXPECT_EQ(p->message["type"], "x");
}

TEST(IpcConnection, CleanCloseBetweenFramesIsEof) {
  auto [a, b] = MakePair();
  ASSERT_TRUE(a.Send({{"type", "last"}}, 1000).ok());
  a.Close();
  auto r = b.Recv(1000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->state, RecvState::kMessage);
  r = b.Recv(1000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->state, RecvState::kClosed);
}

TEST(IpcConnection, PeerClosingMidFrameIsATruncatedFrameNotEof) {
  auto [a, b] = MakePair();
  WriteRaw(a, Header(100) + std::string(10, 'x'));
  a.Close();
  auto r = b.Recv(1000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorrupt);
  EXPECT_NE(r.status().message().find("after 10 of the 100 bytes of a frame's payload"),
            std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("truncated"), std::string::npos);
  EXPECT_TRUE(b.read_failed());
  EXPECT_FALSE(b.Recv(0).ok());  // sticky
}

TEST(IpcConnection, PeerClosingMidHeaderIsATruncatedFrame) {
  auto [a, b] = MakePair();
  WriteRaw(a, std::string("\0\0", 2));
  a.Close();
  auto r = b.Recv(1000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorrupt);
  EXPECT_NE(r.status().message().find("after 2 of the 4 bytes of a frame header"),
            std::string::npos)
      << r.status().message();
}

TEST(IpcConnection, LengthPastTheLimitIsRefusedWithoutAllocating) {
  auto [a, b] = MakePair();
  WriteRaw(a, Header(0xFFFFFFF0u) + "{}");
  auto r = b.Recv(1000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorrupt);
  EXPECT_NE(r.status().message().find("over the 64 MiB limit"), std::string::npos)
      << r.status().message();
  EXPECT_TRUE(b.read_failed());
  // The stream cannot be resynchronised: later reads repeat the error.
  ASSERT_TRUE(a.Send({{"type", "ok"}}, 1000).ok());
  EXPECT_FALSE(b.Recv(100).ok());
}

TEST(IpcConnection, NonJsonPayloadIsCorruptButTheStreamStaysInStep) {
  auto [a, b] = MakePair();
  ASSERT_TRUE(a.SendPayload("not json at all\x01", 1000).ok());
  ASSERT_TRUE(a.Send({{"type", "after"}}, 1000).ok());
  auto r = b.Recv(1000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorrupt);
  EXPECT_NE(r.status().message().find("is not JSON (starts with \"not json at all?\")"),
            std::string::npos)
      << r.status().message();
  EXPECT_FALSE(b.read_failed());
  r = b.Recv(1000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->message["type"], "after");
}

TEST(IpcConnection, EmptyAndInvalidUtf8PayloadsAreCorrupt) {
  auto [a, b] = MakePair();
  WriteRaw(a, Header(0));
  WriteRaw(a, Header(4) + "\"\xff\xfe\"");
  for (int i = 0; i < 2; ++i) {
    auto r = b.Recv(1000);
    ASSERT_FALSE(r.ok()) << i;
    EXPECT_EQ(r.status().code(), Code::kCorrupt) << i;
  }
}

TEST(IpcConnection, SendRefusesPayloadsOverTheLimit) {
  auto [a, b] = MakePair();
  std::string big(kMaxFrameBytes + 1, ' ');
  Status st = a.SendPayload(big, 1000);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("64 MiB frame limit"), std::string::npos) << st.message();
  // Nothing was sent: the connection still works.
  ASSERT_TRUE(a.Send({{"type", "small"}}, 1000).ok());
  auto r = b.Recv(1000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->message["type"], "small");
}

TEST(IpcConnection, LargeFramesCrossTheSocketBuffer) {
  auto [a, b] = MakePair();
  const std::string blob(8 << 20, 'z');  // far more than a socket buffer holds
  std::thread reader([&b, &blob] {
    auto r = b.Recv(10000);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->state, RecvState::kMessage);
    EXPECT_EQ(r->message["blob"].get<std::string>().size(), blob.size());
  });
  EXPECT_TRUE(a.Send({{"blob", blob}}, 10000).ok());
  reader.join();
}

TEST(IpcConnection, SendTimesOutWhenThePeerDoesNotReadAndThenStaysBroken) {
  auto [a, b] = MakePair();
  const std::string blob(8 << 20, 'z');
  Status st = a.Send({{"blob", blob}}, 50);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Code::kIo);
  EXPECT_NE(st.message().find("did not read"), std::string::npos) << st.message();
  st = a.Send({{"type", "x"}}, 50);
  EXPECT_NE(st.message().find("broken"), std::string::npos) << st.message();
}

TEST(IpcConnection, SendToAClosedPeerIsAnErrorNotSigpipe) {
  auto [a, b] = MakePair();
  b.Close();
  Status st = a.Send({{"type", "x"}}, 1000);
  EXPECT_EQ(st.code(), Code::kIo);
}

TEST(IpcConnection, DefaultConnectionFailsCleanly) {
  Connection c;
  EXPECT_FALSE(c.connected());
  EXPECT_EQ(c.fd(), -1);
  EXPECT_EQ(c.Send({{"type", "x"}}, 10).code(), Code::kIo);
  EXPECT_EQ(c.Recv(10).status().code(), Code::kIo);
}

TEST(IpcListener, UnixListenAcceptConnectAndCleanup) {
  testing::TempDir dir;
  auto addr = Address::Parse("unix:" + dir.File("w.sock"));
  ASSERT_TRUE(addr.ok());
  {
    auto l = Listener::Listen(*addr);
    ASSERT_TRUE(l.ok()) << l.status().ToString();
    struct stat st {};
    ASSERT_EQ(::stat(dir.File("w.sock").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto none = l->Accept(10);
    ASSERT_TRUE(none.ok());
    EXPECT_FALSE(none->connected());

    auto c = Connection::Connect(*addr, 1000);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    auto s = l->Accept(1000);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE(s->connected());
    ASSERT_TRUE(c->Send({{"type", "hello"}}, 1000).ok());
    auto r = s->Recv(1000);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->message["type"], "hello");
    ASSERT_TRUE(s->Send({{"type", "run"}}, 1000).ok());
    r = c->Recv(1000);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->message["type"], "run");
    // A second listener on a live socket is refused.
    auto again = Listener::Listen(*addr);
    ASSERT_FALSE(again.ok());
    EXPECT_NE(again.status().message().find("another process is listening"), std::string::npos);
  }
  EXPECT_NE(::access(dir.File("w.sock").c_str(), F_OK), 0) << "socket file left behind";
}

TEST(IpcListener, ReplacesAStaleSocketButNotARegularFile) {
  testing::TempDir dir;
  auto addr = Address::Parse("unix:" + dir.File("stale.sock"));
  ASSERT_TRUE(addr.ok());
  {  // a socket file nobody listens on, as a crashed server leaves behind
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::snprintf(un.sun_path, sizeof(un.sun_path), "%s", addr->path.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&un), sizeof(un)), 0);
    ::close(fd);
  }
  auto l2 = Listener::Listen(*addr);
  EXPECT_TRUE(l2.ok()) << l2.status().ToString();

  dir.Write("file.sock", "data");
  auto file_addr = Address::Parse("unix:" + dir.File("file.sock"));
  auto l3 = Listener::Listen(*file_addr);
  ASSERT_FALSE(l3.ok());
  EXPECT_NE(l3.status().message().find("not a socket"), std::string::npos);
  EXPECT_EQ(dir.Read("file.sock"), "data");
}

TEST(IpcListener, TcpPortZeroReportsTheBoundPort) {
  auto l = Listener::Listen(*Address::Parse("tcp:127.0.0.1:0"));
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_GT(l->address().port, 0);
  auto c = Connection::Connect(l->address(), 1000);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto s = l->Accept(1000);
  ASSERT_TRUE(s.ok() && s->connected());
  ASSERT_TRUE(c->Send({{"type", "hello"}, {"worker_id", "w0"}}, 1000).ok());
  auto r = s->Recv(1000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->message["worker_id"], "w0");
}

TEST(IpcConnect, NothingListeningIsAnIoErrorNamingTheAddress) {
  testing::TempDir dir;
  auto c = Connection::Connect(*Address::Parse("unix:" + dir.File("none.sock")), 200);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Code::kIo);
  EXPECT_NE(c.status().message().find("none.sock"), std::string::npos) << c.status().message();
}

}  // namespace
}  // namespace easel::ipc
