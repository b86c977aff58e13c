// Who may drive the API, tested through real sockets: a connection opened by
// `nobody` (a forked child that setuid()s, connects and passes the socket
// back: the kernel's record of who opened it is what the server checks) and
// one opened by root, over the unix socket and loopback TCP; the
// --server-group; TLS and mTLS with certificates made by openssl at test time.
#include <arpa/inet.h>
#include <grp.h>
#include <grpcpp/create_channel_posix.h>
#include <grpcpp/grpcpp.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "api/sensors.grpc.pb.h"
#include "gtest/gtest.h"
#include "sensor/base/file_descriptor.h"
#include "sensor/policymgr/recording_backend.h"
#include "sensor/server/api_server.h"
#include "sensor/server/fgs_service.h"
#include "sensor/server/peer_auth.h"
#include "sensor/testing/connect_as.h"

namespace tgd {
namespace {

using testing::BackendLog;
using testing::ConnectAs;
using testing::RecordingBackend;
using testing::TestPolicyYaml;

constexpr uid_t kNobody = 65534;

// A TCP relay run by `uid` in a forked child: it accepts one connection on
// 127.0.0.1 and forwards it over a socket of its own to 127.0.0.1:target.
// A TLS client going through it is, for the server, a TCP client owned by
// uid (TLS itself runs end to end).
class Relay {
 public:
  Relay(uid_t uid, uint16_t target) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      close(p[0]);
      if (setgroups(0, nullptr) != 0 || setgid(uid) != 0 || setuid(uid) != 0) _exit(2);
      int l = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      socklen_t len = sizeof(sa);
      if (bind(l, reinterpret_cast<sockaddr*>(&sa), len) != 0 || listen(l, 1) != 0 ||
          getsockname(l, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
        _exit(3);
      }
      uint16_t port = ntohs(sa.sin_port);
      if (write(p[1], &port, sizeof(port)) != sizeof(port)) _exit(4);
      int c = accept(l, nullptr, nullptr);
      int up = socket(AF_INET, SOCK_STREAM, 0);
      sa.sin_port = htons(target);
      if (c < 0 || connect(up, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) _exit(5);
      char buf[16384];
      for (;;) {
        pollfd fds[2] = {{c, POLLIN, 0}, {up, POLLIN, 0}};
        if (poll(fds, 2, -1) < 0) _exit(6);
        for (int i = 0; i < 2; ++i) {
          if (!fds[i].revents) continue;
          ssize_t n = read(fds[i].fd, buf, sizeof(buf));
          if (n <= 0 || write(fds[1 - i].fd, buf, n) != n) _exit(0);
        }
      }
    }
    close(p[1]);
    if (pid_ > 0 && read(p[0], &port_, sizeof(port_)) != sizeof(port_)) port_ = 0;
    close(p[0]);
  }
  ~Relay() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  uint16_t port() const { return port_; }

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

class ApiServerRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (clients as root and as nobody)";
    tag_ = absl::StrCat("tgd-auth-", getpid(), "-", counter_++);
    sock_ = absl::StrCat("/tmp/", tag_, ".sock");
    dir_ = absl::StrCat(::testing::TempDir(), "/", tag_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    api_.reset();
    bus_.Close();
    service_.reset();
    unlink(sock_.c_str());
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Starts the API at `address` with the given group and TLS options.
  absl::Status Serve(const std::string& address, const std::string& group = "", ApiTlsOptions tls = {}) {
    PeerAuthOptions ao;
    ao.group = group;
    ao.trust_client_certs = tls.require_client_cert;
    auto auth = PeerAuthorizer::Create(ao);
    if (!auth.ok()) return auth.status();
    auth_ = *std::move(auth);
    FgsServiceOptions o;
    o.policies = &mgr_;
    o.bus = &bus_;
    o.authorize = [a = auth_.get()](const grpc::ServerContext& ctx, absl::string_view rpc) {
      return a->Authorize(ctx, rpc);
    };
    service_ = std::make_unique<FgsService>(std::move(o));
    ApiServerOptions so;
    so.address = address;
    so.tls = std::move(tls);
    auto api = ApiServer::Start(so, service_.get(), auth_.get());
    if (!api.ok()) return api.status();
    api_ = *std::move(api);
    return absl::OkStatus();
  }

  // A stub over a connection opened by uid/gid.
  std::unique_ptr<tetragon::FineGuidanceSensors::Stub> UnixStubAs(uid_t uid, gid_t gid) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    strncpy(sa.sun_path, sock_.c_str(), sizeof(sa.sun_path) - 1);
    return StubOnFd(ConnectAs(uid, gid, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)));
  }
  std::unique_ptr<tetragon::FineGuidanceSensors::Stub> TcpStubAs(uid_t uid, gid_t gid) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(api_->tcp_port());
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return StubOnFd(ConnectAs(uid, gid, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)));
  }
  static std::unique_ptr<tetragon::FineGuidanceSensors::Stub> StubOnFd(int fd) {
    EXPECT_GE(fd, 0) << (fd > INT_MIN ? strerror(-fd) : "connecting child failed");
    if (fd < 0) return nullptr;
    return tetragon::FineGuidanceSensors::NewStub(
        grpc::CreateInsecureChannelFromFd("api", fd));  // owns fd
  }

  static grpc::Status Health(tetragon::FineGuidanceSensors::Stub* s) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    tetragon::GetHealthStatusResponse resp;
    return s->GetHealth(&ctx, {}, &resp);
  }
  static grpc::Status Add(tetragon::FineGuidanceSensors::Stub* s, const std::string& name) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    tetragon::AddTracingPolicyRequest req;
    req.set_yaml(TestPolicyYaml(name));
    tetragon::AddTracingPolicyResponse resp;
    return s->AddTracingPolicy(&ctx, req, &resp);
  }
  // Opens GetEvents and waits for one event (published until one arrives).
  grpc::Status Events(tetragon::FineGuidanceSensors::Stub* s) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto reader = s->GetEvents(&ctx, {});
    std::atomic<bool> stop{false};
    std::thread pub([&] {
      while (!stop) {
        tetragon::GetEventsResponse ev;
        ev.set_node_name("auth-test");
        bus_.Publish(std::move(ev));
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
    tetragon::GetEventsResponse got;
    bool read = reader->Read(&got);
    stop = true;
    pub.join();
    if (read) {
      ctx.TryCancel();
      reader->Finish().IgnoreError();
      return grpc::Status::OK;
    }
    return reader->Finish();
  }

  // Nobody: health yes; policies and events no, with a message naming the
  // RPC and the requirement. Root: all.
  void ExpectNobodyRefusedRootServed(std::unique_ptr<tetragon::FineGuidanceSensors::Stub> nobody,
                                     std::unique_ptr<tetragon::FineGuidanceSensors::Stub> root) {
    ASSERT_NE(nobody, nullptr);
    ASSERT_NE(root, nullptr);
    grpc::Status h = Health(nobody.get());
    EXPECT_TRUE(h.ok()) << h.error_message();
    grpc::Status a = Add(nobody.get(), tag_ + "-nobody");
    EXPECT_EQ(a.error_code(), grpc::StatusCode::PERMISSION_DENIED) << a.error_message();
    EXPECT_NE(a.error_message().find("AddTracingPolicy"), std::string::npos) << a.error_message();
    EXPECT_NE(a.error_message().find("root"), std::string::npos) << a.error_message();
    EXPECT_NE(a.error_message().find("uid 65534"), std::string::npos) << a.error_message();
    grpc::Status e = Events(nobody.get());
    EXPECT_EQ(e.error_code(), grpc::StatusCode::PERMISSION_DENIED) << e.error_message();
    EXPECT_NE(e.error_message().find("GetEvents"), std::string::npos) << e.error_message();
    EXPECT_TRUE(mgr_.List().empty()) << "nobody's policy was added";

    EXPECT_TRUE(Health(root.get()).ok());
    grpc::Status ra = Add(root.get(), tag_ + "-root");
    EXPECT_TRUE(ra.ok()) << ra.error_message();
    EXPECT_EQ(mgr_.List().size(), 1u);
    grpc::Status re = Events(root.get());
    EXPECT_TRUE(re.ok()) << re.error_message();
  }

  static int counter_;
  std::string tag_, sock_, dir_;
  BackendLog log_;
  RecordingBackend backend_{&log_};
  PolicyManager mgr_{&backend_};
  EventBus bus_;
  std::unique_ptr<PeerAuthorizer> auth_;
  std::unique_ptr<FgsService> service_;
  std::unique_ptr<ApiServer> api_;
};
int ApiServerRootTest::counter_ = 0;

TEST_F(ApiServerRootTest, UnixSocketRootOnly) {
  ASSERT_TRUE(Serve("unix://" + sock_).ok());
  // Mode 0600: nobody cannot even connect.
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  strncpy(sa.sun_path, sock_.c_str(), sizeof(sa.sun_path) - 1);
  EXPECT_EQ(ConnectAs(kNobody, kNobody, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), -EACCES);
  // Opened to all (as an admin might): SO_PEERCRED still says who calls.
  ASSERT_EQ(chmod(sock_.c_str(), 0666), 0);
  ExpectNobodyRefusedRootServed(UnixStubAs(kNobody, kNobody), UnixStubAs(0, 0));
}

TEST_F(ApiServerRootTest, LoopbackTcpRootOnly) {
  absl::Status st = Serve("127.0.0.1:0");
  ASSERT_TRUE(st.ok()) << st;
  ExpectNobodyRefusedRootServed(TcpStubAs(kNobody, kNobody), TcpStubAs(0, 0));
}

TEST_F(ApiServerRootTest, LoopbackTcpV6RootOnly) {
  absl::Status st = Serve("[::1]:0");
  if (!st.ok()) GTEST_SKIP() << "no IPv6 loopback: " << st;
  auto stub_as = [&](uid_t uid) {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(api_->tcp_port());
    sa.sin6_addr = in6addr_loopback;
    return StubOnFd(ConnectAs(uid, uid, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)));
  };
  ExpectNobodyRefusedRootServed(stub_as(kNobody), stub_as(0));
}

TEST_F(ApiServerRootTest, GroupAdmitsAMemberOverBothTransports) {
  group* g = getgrgid(kNobody);
  if (g == nullptr) GTEST_SKIP() << "no group with gid 65534 (nobody's)";
  const std::string name = g->gr_name;
  mode_t old = umask(0);
  absl::Status st = Serve("unix://" + sock_, name);
  umask(old);
  ASSERT_TRUE(st.ok()) << st;
  struct stat sb;
  ASSERT_EQ(lstat(sock_.c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 07777, 0660u);
  EXPECT_EQ(sb.st_gid, kNobody);
  auto member = UnixStubAs(kNobody, kNobody);
  ASSERT_NE(member, nullptr);
  grpc::Status a = Add(member.get(), tag_ + "-member");
  EXPECT_TRUE(a.ok()) << a.error_message();
  EXPECT_TRUE(Events(member.get()).ok());
  // Not a member (uid 65533 with its own group): refused by the mode, and
  // by its credentials when the mode lets it in.
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  strncpy(sa.sun_path, sock_.c_str(), sizeof(sa.sun_path) - 1);
  EXPECT_EQ(ConnectAs(65533, 65533, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), -EACCES);
  ASSERT_EQ(chmod(sock_.c_str(), 0666), 0);
  auto other = UnixStubAs(65533, 65533);
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(Add(other.get(), tag_ + "-other").error_code(), grpc::StatusCode::PERMISSION_DENIED);

  api_.reset();
  ASSERT_TRUE(Serve("127.0.0.1:0", name).ok());
  auto tcp_member = TcpStubAs(kNobody, kNobody);
  ASSERT_NE(tcp_member, nullptr);
  grpc::Status ta = Add(tcp_member.get(), tag_ + "-tcp-member");
  EXPECT_TRUE(ta.ok()) << ta.error_message();
}

TEST_F(ApiServerRootTest, UnixSocketIsRootOnlyUnderUmask000) {
  mode_t old = umask(0);
  absl::Status st = Serve("unix://" + sock_);
  umask(old);
  ASSERT_TRUE(st.ok()) << st;
  struct stat sb;
  ASSERT_EQ(lstat(sock_.c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 07777, 0600u);
  EXPECT_EQ(sb.st_uid, 0u);
  api_.reset();
  EXPECT_NE(lstat(sock_.c_str(), &sb), 0) << "its socket is removed on shutdown";
}

TEST_F(ApiServerRootTest, UnknownGroupIsRefused) {
  absl::Status st = Serve("unix://" + sock_, "tgd-no-such-group-xyz");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("--server-group"), std::string::npos) << st;
}

TEST_F(ApiServerRootTest, ARegularFileAtTheSocketPathIsLeft) {
  std::ofstream(sock_) << "precious";
  absl::Status st = Serve("unix://" + sock_);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("--server-address"), std::string::npos) << st;
  api_.reset();
  std::ifstream in(sock_);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
}

// Certificates for the TLS tests: a self-signed server cert for localhost
// and 127.0.0.1 (its own CA), and a self-signed client cert.
class ApiServerTlsRootTest : public ApiServerRootTest {
 protected:
  void SetUp() override {
    ApiServerRootTest::SetUp();
    if (IsSkipped()) return;
    if (system("command -v openssl >/dev/null 2>&1") != 0) GTEST_SKIP() << "no openssl (Debian package openssl)";
    MakeCert("server", "/CN=localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1");
    MakeCert("client", "/CN=tgd-test-client", "");
  }
  void MakeCert(const std::string& name, const std::string& subject, const std::string& ext) {
    std::string cmd = absl::StrCat(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj ", subject,
        ext.empty() ? "" : absl::StrCat(" -addext ", ext), " -keyout ", dir_, "/", name, ".key -out ", dir_, "/",
        name, ".crt >/dev/null 2>&1");
    ASSERT_EQ(system(cmd.c_str()), 0) << cmd;
  }
  std::string Pem(const std::string& file) {
    std::ifstream in(dir_ + "/" + file);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  ApiTlsOptions Tls(bool mtls) {
    ApiTlsOptions t;
    t.cert_file = dir_ + "/server.crt";
    t.key_file = dir_ + "/server.key";
    if (mtls) {
      t.require_client_cert = true;
      t.client_ca_files = {dir_ + "/client.crt"};
    }
    return t;
  }
  std::unique_ptr<tetragon::FineGuidanceSensors::Stub> TlsStub(bool with_client_cert, uint16_t port = 0) {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = Pem("server.crt");
    if (with_client_cert) {
      o.pem_private_key = Pem("client.key");
      o.pem_cert_chain = Pem("client.crt");
    }
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    return tetragon::FineGuidanceSensors::NewStub(grpc::CreateCustomChannel(
        absl::StrCat("127.0.0.1:", port ? port : api_->tcp_port()), grpc::SslCredentials(o), args));
  }
  std::unique_ptr<tetragon::FineGuidanceSensors::Stub> PlainStub() {
    return tetragon::FineGuidanceSensors::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", api_->tcp_port()), grpc::InsecureChannelCredentials()));
  }
};

TEST_F(ApiServerTlsRootTest, TlsAcceptsTlsClientsAndRefusesPlaintext) {
  absl::Status st = Serve("127.0.0.1:0", "", Tls(false));
  ASSERT_TRUE(st.ok()) << st;
  auto tls = TlsStub(false);
  grpc::Status h = Health(tls.get());
  EXPECT_TRUE(h.ok()) << h.error_message();
  // TLS is not an identity: the TCP peer's owner (root here) still decides.
  grpc::Status a = Add(tls.get(), tag_ + "-tls");
  EXPECT_TRUE(a.ok()) << a.error_message();
  grpc::Status plain = Health(PlainStub().get());
  EXPECT_FALSE(plain.ok());
  EXPECT_EQ(plain.error_code(), grpc::StatusCode::UNAVAILABLE) << plain.error_message();
}

TEST_F(ApiServerTlsRootTest, TlsIsNoIdentityForNobody) {
  absl::Status st = Serve("127.0.0.1:0", "", Tls(false));
  ASSERT_TRUE(st.ok()) << st;
  Relay relay(kNobody, static_cast<uint16_t>(api_->tcp_port()));
  ASSERT_NE(relay.port(), 0);
  auto stub = TlsStub(false, relay.port());
  grpc::Status h = Health(stub.get());
  EXPECT_TRUE(h.ok()) << h.error_message();
  grpc::Status a = Add(stub.get(), tag_ + "-tls-nobody");
  EXPECT_EQ(a.error_code(), grpc::StatusCode::PERMISSION_DENIED) << a.error_message();
  EXPECT_NE(a.error_message().find("uid 65534"), std::string::npos) << a.error_message();
}

TEST_F(ApiServerTlsRootTest, AVerifiedClientCertificateAuthorizesNobody) {
  absl::Status st = Serve("127.0.0.1:0", "", Tls(true));
  ASSERT_TRUE(st.ok()) << st;
  Relay relay(kNobody, static_cast<uint16_t>(api_->tcp_port()));
  ASSERT_NE(relay.port(), 0);
  auto stub = TlsStub(true, relay.port());
  grpc::Status a = Add(stub.get(), tag_ + "-mtls-nobody");
  EXPECT_TRUE(a.ok()) << a.error_message();
  EXPECT_TRUE(Events(stub.get()).ok());
}

TEST_F(ApiServerTlsRootTest, MtlsRefusesAClientWithoutACertificate) {
  absl::Status st = Serve("127.0.0.1:0", "", Tls(true));
  ASSERT_TRUE(st.ok()) << st;
  grpc::Status no_cert = Health(TlsStub(false).get());
  EXPECT_FALSE(no_cert.ok());
  EXPECT_EQ(no_cert.error_code(), grpc::StatusCode::UNAVAILABLE) << no_cert.error_message();
  auto with_cert = TlsStub(true);
  grpc::Status h = Health(with_cert.get());
  EXPECT_TRUE(h.ok()) << h.error_message();
  grpc::Status a = Add(with_cert.get(), tag_ + "-mtls");
  EXPECT_TRUE(a.ok()) << a.error_message();
  EXPECT_FALSE(Health(PlainStub().get()).ok());
}

TEST(ApiTlsFlagsTest, TetragonsRefusedCombinations) {
  ApiTlsOptions t;
  t.cert_file = "/c";
  EXPECT_NE(ValidateApiTls(t, "localhost:54321").message().find("must be set together"), std::string::npos);
  t.key_file = "/k";
  EXPECT_TRUE(ValidateApiTls(t, "localhost:54321").ok());
  EXPECT_NE(ValidateApiTls(t, "unix:///run/t.sock").message().find("TCP address"), std::string::npos);
  t.require_client_cert = true;
  EXPECT_NE(ValidateApiTls(t, "localhost:54321").message().find("--server-tls-client-ca-files"), std::string::npos);
  t.client_ca_files = {"/ca"};
  EXPECT_TRUE(ValidateApiTls(t, "localhost:54321").ok());
  t.require_client_cert = false;
  EXPECT_NE(ValidateApiTls(t, "localhost:54321").message().find("only takes effect"), std::string::npos);
  ApiTlsOptions m;
  m.require_client_cert = true;
  m.client_ca_files = {"/ca"};
  EXPECT_NE(ValidateApiTls(m, "localhost:54321").message().find("requires --server-tls-cert-file"),
            std::string::npos);
}

}  // namespace
}  // namespace tgd
