// Golden test of argument rendering: each argument type, as a
// GetEventsResponse in protobuf JSON (the export file's encoder, Tetragon's
// field names), pinned so that a rendering change is seen.
#include "sensor/loader/arg_render.h"

#include <arpa/inet.h>

#include <cstring>
#include <string>

#include "api/events.pb.h"
#include "gtest/gtest.h"
#include "sensor/export/json_encoder.h"

namespace tgd {
namespace {

tgd_arg_val Str(uint32_t type, const std::string& s) {
  tgd_arg_val v{};
  v.type = type;
  memcpy(v.str, s.data(), s.size());
  v.len = s.size();
  return v;
}

tgd_arg_val Num(uint32_t type, uint64_t x) {
  tgd_arg_val v{};
  v.type = type;
  v.u64 = x;
  return v;
}

// The JSON of a process_kprobe (or process_tracepoint for TGD_HOOK_TRACEPOINT)
// event carrying just this argument.
std::string Json(ArgRender r, const tgd_arg_val& v, int hook_kind = TGD_HOOK_KPROBE, const std::string& label = "",
                 const BufferData* data = nullptr) {
  CompiledArg a;
  a.render = r;
  a.label = label;
  tetragon::GetEventsResponse ev;
  tetragon::KprobeArgument arg;
  bool rendered = RenderArg(a, v, hook_kind, &arg, data);
  if (hook_kind == TGD_HOOK_TRACEPOINT) {
    if (rendered) *ev.mutable_process_tracepoint()->add_args() = arg;
    else ev.mutable_process_tracepoint();
  } else {
    if (rendered) *ev.mutable_process_kprobe()->add_args() = arg;
    else ev.mutable_process_kprobe();
  }
  std::string out;
  EXPECT_TRUE(AppendMessageJson(ev, &out).ok());
  return out;
}

tgd_arg_val Sock(uint16_t family, const char* saddr, const char* daddr) {
  tgd_arg_val v{};
  v.type = TGD_ARG_SOCK;
  tgd_net_val& n = v.net;
  n.family = family;
  n.type = 1;
  n.protocol = 6;
  n.state = 1;
  n.sport = 40000;
  n.dport = 8080;
  n.mark = 3;
  n.priority = 4;
  n.cookie = 0xffff888012345678ULL;
  inet_pton(family == 2 ? AF_INET : AF_INET6, saddr, n.saddr);
  inet_pton(family == 2 ? AF_INET : AF_INET6, daddr, n.daddr);
  return v;
}

TEST(ArgRenderGolden, IntegersAndStrings) {
  EXPECT_EQ(Json(ArgRender::kInt, Num(TGD_ARG_INT, static_cast<uint64_t>(-2)), TGD_HOOK_KPROBE, "flags"),
            R"({"process_kprobe":{"args":[{"int_arg":-2,"label":"flags"}]}})");
  EXPECT_EQ(Json(ArgRender::kInt, Num(TGD_ARG_INT, 7), TGD_HOOK_TRACEPOINT, "flags"),
            R"({"process_tracepoint":{"args":[{"int_arg":7}]}})");  // no labels on tracepoints
  EXPECT_EQ(Json(ArgRender::kSize, Num(TGD_ARG_INT, 1ULL << 40)),
            R"({"process_kprobe":{"args":[{"size_arg":"1099511627776"}]}})");
  EXPECT_EQ(Json(ArgRender::kString, Str(TGD_ARG_NETDEV, "lo")),
            R"({"process_kprobe":{"args":[{"string_arg":"lo"}]}})");
}

TEST(ArgRenderGolden, Files) {
  tgd_arg_val f = Str(TGD_ARG_FILE, "/etc/passwd");
  f.mode = 0100644;
  EXPECT_EQ(Json(ArgRender::kFile, f),
            R"({"process_kprobe":{"args":[{"file_arg":{"path":"/etc/passwd","permission":"-rw-r--r--"}}]}})");
  tgd_arg_val p = Str(TGD_ARG_PATH, "/tmp");
  p.mode = 041777;
  p.flags = TGD_PATHF_UNRESOLVED;
  EXPECT_EQ(Json(ArgRender::kPath, p),
            R"({"process_kprobe":{"args":[{"path_arg":{"path":"/tmp","flags":"unresolvedPathComponents","permission":"drwxrwxrwt"}}]}})");
  tgd_arg_val b = Str(TGD_ARG_BINPRM, "/usr/bin/passwd");
  b.mode = 0104755;
  EXPECT_EQ(Json(ArgRender::kLinuxBinprm, b),
            R"({"process_kprobe":{"args":[{"linux_binprm_arg":{"path":"/usr/bin/passwd","permission":"-rwsr-xr-x"}}]}})");
  tgd_arg_val empty = Str(TGD_ARG_FILE, "");  // no walk possible: "/"
  EXPECT_EQ(Json(ArgRender::kFile, empty), R"({"process_kprobe":{"args":[{"file_arg":{"path":"/","permission":"---------"}}]}})");
  EXPECT_EQ(FilePermissionString(0102644), "-rw-r-Sr--");
  EXPECT_EQ(FilePermissionString(0020620), "crw--w----");
}

TEST(ArgRenderGolden, Sockets) {
  EXPECT_EQ(Json(ArgRender::kSock, Sock(2, "127.0.0.1", "10.1.2.3")),
            R"({"process_kprobe":{"args":[{"sock_arg":{"family":"AF_INET","type":"SOCK_STREAM","protocol":"IPPROTO_TCP","mark":3,"priority":4,"saddr":"127.0.0.1","daddr":"10.1.2.3","sport":40000,"dport":8080,"cookie":"18446612682375452280","state":"TCP_ESTABLISHED"}}]}})");
  EXPECT_EQ(Json(ArgRender::kSock, Sock(10, "::1", "fd00::1"), TGD_HOOK_TRACEPOINT),
            R"({"process_tracepoint":{"args":[{"sock_arg":{"family":"AF_INET6","type":"SOCK_STREAM","protocol":"IPPROTO_TCP","mark":3,"priority":4,"saddr":"::1","daddr":"fd00::1","sport":40000,"dport":8080,"cookie":"18446612682375452280","state":"TCP_ESTABLISHED"}}]}})");
  tgd_arg_val skb{};
  skb.type = TGD_ARG_SKB;
  skb.net.family = 2;
  skb.net.protocol = 17;
  skb.net.sport = 5353;
  skb.net.dport = 53;
  skb.net.len = 84;
  skb.net.hash = 7;
  inet_pton(AF_INET, "127.0.0.1", skb.net.saddr);
  inet_pton(AF_INET, "127.0.0.53", skb.net.daddr);
  EXPECT_EQ(Json(ArgRender::kSkb, skb),
            R"({"process_kprobe":{"args":[{"skb_arg":{"hash":7,"len":84,"saddr":"127.0.0.1","daddr":"127.0.0.53","sport":5353,"dport":53,"proto":17,"protocol":"IPPROTO_UDP","family":"AF_INET"}}]}})");
  tgd_arg_val unknown{};
  unknown.type = TGD_ARG_SKB;  // not IP: Go's zero address
  EXPECT_EQ(Json(ArgRender::kSkb, unknown, TGD_HOOK_TRACEPOINT),
            R"({"process_tracepoint":{"args":[{"skb_arg":{"saddr":"invalid IP","daddr":"invalid IP","protocol":"IPPROTO_IP"}}]}})");
}

TEST(ArgRenderGolden, Sockaddr) {
  tgd_arg_val v{};
  v.type = TGD_ARG_SOCKADDR;
  v.net.family = 10;
  v.net.sport = 443;
  inet_pton(AF_INET6, "2001:db8::1", v.net.saddr);
  EXPECT_EQ(Json(ArgRender::kSockaddr, v, TGD_HOOK_KPROBE, "ignored"),
            R"({"process_kprobe":{"args":[{"sockaddr_arg":{"family":"AF_INET6","addr":"2001:db8::1","port":443}}]}})");
}

TEST(ArgRenderGolden, BpfPerfEventAndModules) {
  tgd_arg_val v{};
  v.type = TGD_ARG_BPF_ATTR;
  v.kobj.type = 2;
  v.kobj.count = 12;
  strcpy(v.kobj.name, "tgd_prog");
  EXPECT_EQ(Json(ArgRender::kBpfAttr, v),
            R"({"process_kprobe":{"args":[{"bpf_attr_arg":{"ProgType":"BPF_PROG_TYPE_KPROBE","InsnCnt":12,"ProgName":"tgd_prog"}}]}})");
  v.kobj.type = 99;
  EXPECT_EQ(Json(ArgRender::kBpfProg, v),
            R"({"process_kprobe":{"args":[{"bpf_prog_arg":{"ProgType":"99","InsnCnt":12,"ProgName":"tgd_prog"}}]}})");
  tgd_arg_val m{};
  m.type = TGD_ARG_BPF_MAP;
  m.kobj = {};
  m.kobj.type = 27;
  m.kobj.key_size = 4;
  m.kobj.value_size = 8;
  m.kobj.max_entries = 1024;
  strcpy(m.kobj.name, "events");
  EXPECT_EQ(Json(ArgRender::kBpfMap, m),
            R"({"process_kprobe":{"args":[{"bpf_map_arg":{"MapType":"BPF_MAP_TYPE_RINGBUF","KeySize":4,"ValueSize":8,"MaxEntries":1024,"MapName":"events"}}]}})");
  tgd_arg_val p{};
  p.type = TGD_ARG_PERF_EVENT;
  p.kobj.type = 6;
  p.kobj.config = 1;
  p.kobj.probe_offset = 16;
  strcpy(p.kobj.name, "do_sys_open");
  EXPECT_EQ(Json(ArgRender::kPerfEvent, p),
            R"({"process_kprobe":{"args":[{"perf_event_arg":{"KprobeFunc":"do_sys_open","Type":"PERF_TYPE_MAX","Config":"1","ProbeOffset":"16"}}]}})");
  tgd_arg_val mod{};
  mod.type = TGD_ARG_LOAD_INFO;
  mod.kobj.sig_ok = 0;
  mod.kobj.taints = 4096 | 8192;
  strcpy(mod.kobj.name, "dummy");
  EXPECT_EQ(Json(ArgRender::kLoadInfo, mod),
            R"({"process_kprobe":{"args":[{"module_arg":{"name":"dummy","signature_ok":false,"tainted":["TAINT_OUT_OF_TREE_MODULE","TAINT_UNSIGNED_MODULE"]}}]}})");
  mod.kobj.sig_ok = 2;
  mod.kobj.taints = 0;
  EXPECT_EQ(Json(ArgRender::kModule, mod), R"({"process_kprobe":{"args":[{"module_arg":{"name":"dummy"}}]}})");
}

TEST(ArgRenderGolden, SockaddrUn) {
  tgd_arg_val v = Str(TGD_ARG_SOCKADDR_UN, "@tgd-abstract");
  v.mode = 1;
  EXPECT_EQ(Json(ArgRender::kSockaddrUn, v, TGD_HOOK_TRACEPOINT),
            R"({"process_tracepoint":{"args":[{"sockaddrun_arg":{"family":"AF_UNIX","path":"@tgd-abstract"}}]}})");
}

TEST(ArgRenderGolden, CredentialsAndCapabilities) {
  tgd_arg_val c{};
  c.type = TGD_ARG_CRED;
  c.cred.uid = 1000;
  c.cred.euid = 0;
  c.cred.gid = 100;
  c.cred.securebits = 0x5;
  c.cred.cap_effective = (1ULL << 21) | 1;  // CAP_SYS_ADMIN, CAP_CHOWN
  c.cred.userns = {0, 0, 0, 4026531837u};
  EXPECT_EQ(Json(ArgRender::kCred, c),
            R"({"process_kprobe":{"args":[{"process_credentials_arg":{"uid":1000,"gid":100,"euid":0,"egid":0,"suid":0,"sgid":0,"fsuid":0,"fsgid":0,"securebits":["SecBitNoRoot","SecBitNoSetUidFixup"],"caps":{"effective":["CAP_CHOWN","CAP_SYS_ADMIN"]},"user_ns":{"level":0,"uid":0,"gid":0,"ns":{"inum":4026531837,"is_host":true}}}}]}})");
  EXPECT_EQ(Json(ArgRender::kCapability, Num(TGD_ARG_INT, 21)),
            R"({"process_kprobe":{"args":[{"capability_arg":{"value":21,"name":"CAP_SYS_ADMIN"}}]}})");
  EXPECT_EQ(Json(ArgRender::kCapEffective, Num(TGD_ARG_CAP_SET, 0x1fffffffffULL)),
            R"({"process_kprobe":{"args":[{"cap_effective_arg":"0000001fffffffff"}]}})");
  EXPECT_EQ(Json(ArgRender::kKernelCapT, Num(TGD_ARG_CAP_SET, 1)),
            R"({"process_kprobe":{"args":[{"kernel_cap_t_arg":"0000000000000001"}]}})");
  tgd_arg_val ns{};
  ns.type = TGD_ARG_USER_NS;
  ns.userns = {1, 1000, 1000, 4026532000u};
  EXPECT_EQ(Json(ArgRender::kUserNs, ns),
            R"({"process_kprobe":{"args":[{"user_ns_arg":{"level":1,"uid":1000,"gid":1000,"ns":{"inum":4026532000}}}]}})");
}

TEST(ArgRenderGolden, BuffersAndNop) {
  tgd_arg_val b = Str(TGD_ARG_USER_BUF, std::string("hi\0x", 4));
  b.flags = 4;
  EXPECT_EQ(Json(ArgRender::kBytes, b), R"({"process_kprobe":{"args":[{"bytes_arg":"aGkAeA=="}]}})");
  b.flags = 5000;  // longer than what was copied
  EXPECT_EQ(Json(ArgRender::kBytes, b),
            R"({"process_kprobe":{"args":[{"truncated_bytes_arg":{"bytes_arg":"aGkAeA==","orig_size":"5000"}}]}})");
  EXPECT_EQ(Json(ArgRender::kNop, Num(TGD_ARG_INT, 1)), R"({"process_kprobe":{}})");
  // Tetragon's tracepoint events carry the bytes read, never truncated_bytes_arg.
  EXPECT_EQ(Json(ArgRender::kBytes, b, TGD_HOOK_TRACEPOINT),
            R"({"process_tracepoint":{"args":[{"bytes_arg":"aGkAeA=="}]}})");
}

// Buffers longer than the record: the bytes joined from data chunks, as
// far as Tetragon reads them (4095 bytes, or up to 327,360 with maxData).
TEST(ArgRenderGolden, BuffersFromDataChunks) {
  tgd_arg_val b = Str(TGD_ARG_USER_BUF, "ab");
  b.flags = 5;
  BufferData whole{BufferData::kComplete, "abcde"};
  EXPECT_EQ(Json(ArgRender::kBytes, b, TGD_HOOK_KPROBE, "", &whole),
            R"({"process_kprobe":{"args":[{"bytes_arg":"YWJjZGU="}]}})");
  b.flags = 6;
  EXPECT_EQ(Json(ArgRender::kBytes, b, TGD_HOOK_KPROBE, "", &whole),
            R"({"process_kprobe":{"args":[{"truncated_bytes_arg":{"bytes_arg":"YWJjZGU=","orig_size":"6"}}]}})");
  BufferData lost{BufferData::kLost, ""};  // as Tetragon: an incomplete data event leaves the argument out
  EXPECT_EQ(Json(ArgRender::kBytes, b, TGD_HOOK_KPROBE, "", &lost), R"({"process_kprobe":{}})");
  BufferData fault{BufferData::kPageFault, ""};
  EXPECT_EQ(Json(ArgRender::kBytes, b, TGD_HOOK_KPROBE, "", &fault),
            R"({"process_kprobe":{"args":[{"bytes_arg":"Q2hhckJ1ZkVycm9yUGFnZUZhdWx0"}]}})");
  tgd_arg_val big_iov = Str(TGD_ARG_IOVEC, "x");
  big_iov.mode = TGD_BUFERR_TOOLARGE;
  EXPECT_EQ(Json(ArgRender::kBytes, big_iov),
            R"({"process_kprobe":{"args":[{"bytes_arg":"Q2hhckJ1ZkVycm9yQnVmVG9vTGFyZ2U="}]}})");
}

TEST(ArgRenderGolden, Syscall64OnTracepointsOnly) {
#if defined(__x86_64__)
  EXPECT_EQ(Json(ArgRender::kSyscall64, Num(TGD_ARG_INT, 0x80000000ULL | 11), TGD_HOOK_TRACEPOINT),
            R"({"process_tracepoint":{"args":[{"syscall_id":{"id":11,"abi":"i386"}}]}})");
  EXPECT_EQ(Json(ArgRender::kSyscall64, Num(TGD_ARG_INT, 59), TGD_HOOK_TRACEPOINT),
            R"({"process_tracepoint":{"args":[{"syscall_id":{"id":59,"abi":"x64"}}]}})");
#endif
  EXPECT_EQ(Json(ArgRender::kSyscall64, Num(TGD_ARG_INT, 59)), R"({"process_kprobe":{}})");
}

}  // namespace
}  // namespace tgd
