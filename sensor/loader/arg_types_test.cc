// The argument-type compiler without the kernel: how each Tetragon type is
// read, what its operators compile to, and the refusals (each naming its
// field) of what this build cannot do.
#include "sensor/loader/arg_types.h"

#include <arpa/inet.h>

#include <unistd.h>

#include <cstring>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "sensor/loader/fake_tracefs.h"

namespace tgd {
namespace {

absl::StatusOr<CompiledHook> Compile(const std::string& kprobe_args, const std::string& match = "") {
  std::string yaml = "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: t\nspec:\n"
                     "  kprobes:\n  - call: tcp_connect\n    syscall: false\n    args:\n" +
                     kprobe_args;
  if (!match.empty()) yaml += "    selectors:\n    - matchArgs:\n" + match;
  auto p = policy::ParsePolicy(yaml);
  if (!p.ok()) return p.status();
  return CompileHook(p->hooks.at(0), testing::FakeTracefs);
}

TEST(ArgTypesTest, KernelObjectsAreReadWithTheirReader) {
  auto c = Compile(
      "    - index: 0\n      type: sock\n    - index: 1\n      type: file\n    - index: 2\n      type: cred\n"
      "    - index: 3\n      type: linux_binprm\n    - index: 4\n      type: nop\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->cfg.args[0].type, TGD_ARG_SOCK);
  EXPECT_EQ(c->cfg.args[1].type, TGD_ARG_FILE);
  EXPECT_EQ(c->cfg.args[2].type, TGD_ARG_CRED);
  EXPECT_EQ(c->cfg.args[3].type, TGD_ARG_BINPRM);
  EXPECT_EQ(c->args[0].render, ArgRender::kSock);
  EXPECT_EQ(c->args[1].render, ArgRender::kFile);
  EXPECT_EQ(c->args[4].render, ArgRender::kNop);
}

TEST(ArgTypesTest, SockOperatorsCompileToFieldClauses) {
  auto c = Compile("    - index: 0\n      type: sock\n",
                   "      - index: 0\n        operator: DPort\n        values: [\"80\", \"8000:8080\"]\n"
                   "      - index: 0\n        operator: NotDAddr\n        values: [\"10.0.0.0/8\", \"fd00::/8\"]\n"
                   "      - index: 0\n        operator: Family\n        values: [\"AF_INET6\"]\n"
                   "      - index: 0\n        operator: SPortPriv\n");
  ASSERT_TRUE(c.ok()) << c.status();
  const tgd_selector& s = c->cfg.sel[0];
  ASSERT_EQ(s.n_int, 3);
  EXPECT_EQ(s.ints[0].op, TGD_OP_IN_RANGE);
  EXPECT_EQ(s.ints[0].field, TGD_FIELD_DPORT);
  EXPECT_EQ(s.ints[0].has_range, 1);
  EXPECT_EQ(s.ints[0].value, 8000u);
  EXPECT_EQ(s.ints[0].value2, 8080u);
  EXPECT_EQ(s.ints[1].field, TGD_FIELD_FAMILY);
  EXPECT_EQ(s.ints[2].field, TGD_FIELD_SPORT);
  EXPECT_EQ(s.ints[2].value2, 1023u);
  ASSERT_EQ(s.n_str, 1);
  EXPECT_EQ(s.strs[0].op, TGD_OP_NOT_PREFIX);
  EXPECT_EQ(s.strs[0].field, TGD_FIELD_DADDR);
  ASSERT_EQ(c->prefixes.size(), 2u);
  EXPECT_EQ(c->prefixes[0].prefixlen, 64u + 8 + 8);  // family byte + /8
  EXPECT_EQ(c->prefixes[0].s[0], 4);
  EXPECT_EQ(static_cast<unsigned char>(c->prefixes[0].s[1]), 10);
  EXPECT_EQ(c->prefixes[1].s[0], 6);
  bool found_80 = false, found_inet6 = false;
  for (const tgd_int_key& k : c->ints) {
    found_80 |= k.value == 80;
    found_inet6 |= k.value == 10;
  }
  EXPECT_TRUE(found_80 && found_inet6);
}

TEST(ArgTypesTest, RefusalsNameTheField) {
  auto t = Compile("    - index: 0\n      type: iov_iter\n");  // loads now
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->cfg.args[0].type, TGD_ARG_IOV_ITER);
  EXPECT_EQ(t->args[0].render, ArgRender::kBytes);
  auto cb = Compile("    - index: 0\n      type: const_buf\n");  // refused as Tetragon refuses it
  ASSERT_FALSE(cb.ok());
  EXPECT_EQ(cb.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(cb.status().message(), "spec.kprobes[0].args[0].type: const_buf")) << cb.status();
  auto buf = Compile("    - index: 1\n      type: char_buf\n");
  ASSERT_FALSE(buf.ok());
  EXPECT_TRUE(absl::StrContains(buf.status().message(), "spec.kprobes[0].args[0].sizeArgIndex")) << buf.status();
  auto md = Compile("    - index: 1\n      type: file\n      maxData: true\n");  // ignored, as Tetragon
  ASSERT_TRUE(md.ok()) << md.status();
  EXPECT_EQ(md->cfg.max_data_mask, 0u);
  auto ranges = Compile("    - index: 0\n      type: sock\n",
                        "      - index: 0\n        operator: DPort\n        values: [\"1:2\", \"5:6\"]\n");
  ASSERT_FALSE(ranges.ok());
  EXPECT_EQ(ranges.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_TRUE(absl::StrContains(ranges.status().message(), "spec.kprobes[0].selectors[0].matchArgs[0].values[1]"))
      << ranges.status();
  // The policy model refuses what Tetragon refuses, naming the operator.
  auto wrong = Compile("    - index: 0\n      type: cred\n",
                       "      - index: 0\n        operator: DPort\n        values: [\"80\"]\n");
  ASSERT_FALSE(wrong.ok());
  EXPECT_TRUE(absl::StrContains(wrong.status().message(), "matchArgs[0].operator")) << wrong.status();
}

TEST(ArgTypesTest, CharBufTakesItsLengthFromTheSizeArgument) {
  auto c = Compile("    - index: 1\n      type: char_buf\n      sizeArgIndex: 3\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->cfg.args[0].type, TGD_ARG_KERNEL_BUF);  // a kernel function: kernel memory
  EXPECT_EQ(c->cfg.args[0].size_loc, 2);
  EXPECT_EQ(c->args[0].render, ArgRender::kBytes);
}

TEST(ArgTypesTest, SubStringValuesArePrefixesLowerCasedWhenIgnoringCase) {
  auto c = Compile("    - index: 0\n      type: string\n",
                   "      - index: 0\n        operator: SubStringIgnCase\n        values: [\"AbC\"]\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->cfg.sel[0].strs[0].op, TGD_OP_SUBSTRING_NOCASE);
  ASSERT_EQ(c->prefixes.size(), 1u);
  EXPECT_EQ(std::string(c->prefixes[0].s), "abc");
}

TEST(ArgTypesTest, ResolveCompilesBtfPathsToOffsetsAndLoads) {
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) GTEST_SKIP() << "no kernel BTF (/sys/kernel/btf/vmlinux)";
  // tcp_connect(struct sock *sk): sk->__sk_common.skc_dport (an integer in
  // an embedded struct), and sk->sk_socket->file->f_path.dentry (pointers).
  auto c = Compile("    - index: 0\n      type: uint16\n      resolve: __sk_common.skc_dport\n"
                   "    - index: 0\n      type: dentry\n      resolve: sk_socket.file.f_path.dentry\n");
  ASSERT_TRUE(c.ok()) << c.status();
  const tgd_resolve& r0 = c->cfg.res[0];
  EXPECT_EQ(r0.n, 2);
  EXPECT_EQ(r0.load_mask, 0);  // embedded struct, then the integer in place
  EXPECT_EQ(r0.int_at, 1);
  EXPECT_EQ(c->cfg.args[0].size, 2);
  const tgd_resolve& r1 = c->cfg.res[1];
  EXPECT_EQ(r1.n, 4);
  EXPECT_EQ(r1.load_mask, 0b1011);  // sk_socket, file, (f_path embedded), dentry
  EXPECT_EQ(r1.int_at, 0);
  auto missing = Compile("    - index: 0\n      type: int\n      resolve: __sk_common.no_such\n");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "spec.kprobes[0].args[0].resolve")) << missing.status();
  // Array indexes, Tetragon's "a[2].b" (an index is a component of its own):
  // sk->__sk_common.skc_v6_daddr.in6_u.u6_addr8[3], one byte of an array.
  auto indexed = Compile(
      "    - index: 0\n      type: uint8\n      resolve: __sk_common.skc_v6_daddr.in6_u.u6_addr8[3]\n");
  ASSERT_TRUE(indexed.ok()) << indexed.status();
  EXPECT_EQ(indexed->cfg.res[0].n, 5);
  EXPECT_EQ(indexed->cfg.res[0].off[4], 3);  // 3 elements of 1 byte
  EXPECT_EQ(indexed->cfg.res[0].load_mask, 0);
  EXPECT_EQ(indexed->cfg.res[0].int_at, 1);
  for (const char* bad : {"__sk_common.skc_v6_daddr.in6_u.u6_addr8[16]",  // out of bounds
                          "__sk_common[1].skc_dport",                     // not an array nor a pointer
                          "__sk_common.skc_dport[", "[1]"}) {              // malformed
    auto b = Compile(absl::StrCat("    - index: 0\n      type: int\n      resolve: \"", bad, "\"\n"));
    EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument) << bad << ": " << b.status();
    EXPECT_TRUE(absl::StrContains(b.status().message(), "args[0].resolve")) << b.status();
  }
  auto wrong = Compile("    - index: 0\n      type: string\n      resolve: __sk_common.skc_dport\n");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument) << wrong.status();
}

// btfType: the argument read as a pointer to the named kernel struct before
// resolve (tcp_connect's sock as a struct inet_sock); btfTypeModule: the
// struct from that module's BTF.
TEST(ArgTypesTest, BtfTypeCastsTheArgumentBeforeResolve) {
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) GTEST_SKIP() << "no kernel BTF (/sys/kernel/btf/vmlinux)";
  auto c = Compile("    - index: 0\n      type: uint16\n      btfType: inet_sock\n      resolve: inet_sport\n");
  ASSERT_TRUE(c.ok()) << c.status();
  const tgd_resolve& r = c->cfg.res[0];
  EXPECT_EQ(r.n, 1);
  EXPECT_GT(r.off[0], 0);  // past the embedded struct sock
  EXPECT_EQ(r.int_at, 1);
  EXPECT_EQ(r.user, 0);
  EXPECT_EQ(c->cfg.args[0].size, 2);
  auto missing = Compile("    - index: 0\n      type: int\n      btfType: no_such_struct\n      resolve: x\n");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "spec.kprobes[0].args[0].btfType")) << missing.status();
  auto no_module = Compile(
      "    - index: 0\n      type: int\n      btfType: inet_sock\n      btfTypeModule: no_such_mod\n"
      "      resolve: inet_sport\n");
  EXPECT_EQ(no_module.status().code(), absl::StatusCode::kNotFound) << no_module.status();
  EXPECT_TRUE(absl::StrContains(no_module.status().message(), "args[0].btfTypeModule")) << no_module.status();
}

}  // namespace
}  // namespace tgd
