// The policy compiler without the kernel: argument layouts from a tracepoint
// format, selector values in the shared value sets, and clear refusals.
#include "sensor/loader/compile.h"
#include "bpf/process/process_msg.h"

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "compat/policy/lists.h"
#include "sensor/loader/fake_tracefs.h"

namespace tgd {
namespace {

using testing::kOpenatFormat;
constexpr auto& FakeFormats = testing::FakeTracefs;

std::string Policy(const std::string& hook) {
  return "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: t\nspec:\n" + hook;
}

absl::StatusOr<CompiledHook> Compile(const std::string& hook_yaml) {
  auto p = policy::ParsePolicy(Policy(hook_yaml));
  if (!p.ok()) return p.status();
  return CompileHook(p->hooks.at(0), FakeFormats);
}

constexpr char kOpenat[] = R"(  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args:
    - index: 6
      type: string
    - index: 7
      type: int
    - index: 5
      type: auto
)";

TEST(TracefsFormatTest, ParsesFieldsInOrder) {
  auto f = ParseTracepointFormat(kOpenatFormat);
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_EQ(f->fields.size(), 9u);
  EXPECT_EQ(f->id, 782u);
  EXPECT_EQ(f->fields[6].name, "filename");
  EXPECT_EQ(f->fields[6].type, "const char *");
  EXPECT_EQ(f->fields[6].offset, 24u);
  EXPECT_TRUE(f->fields[3].is_signed);
  EXPECT_FALSE(ParseTracepointFormat("name: x\n").ok());
  EXPECT_FALSE(ParseTracepointFormat("format:\n\tfield:int a;\toffset:x;\tsize:4;\n").ok());
}

TEST(CompileTest, TracepointArgumentsComeFromTheFormat) {
  auto c = Compile(kOpenat);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->hook_key, "tracepoint/syscalls/sys_enter_openat");
  EXPECT_EQ(c->kind, TGD_HOOK_TRACEPOINT);
  ASSERT_EQ(c->cfg.n_args, 3);
  EXPECT_EQ(c->cfg.args[0].src, TGD_SRC_TP_FIELD);
  EXPECT_EQ(c->cfg.args[0].type, TGD_ARG_STR_USER);  // a syscall's char *: user memory
  EXPECT_EQ(c->cfg.args[0].offset, 24);
  EXPECT_EQ(c->cfg.args[0].spec_index, 6u);
  EXPECT_EQ(c->cfg.args[1].type, TGD_ARG_INT);
  EXPECT_EQ(c->cfg.args[1].size, 4);
  EXPECT_EQ(c->cfg.args[1].is_signed, 1);
  EXPECT_EQ(c->args[0].render, ArgRender::kString);
  EXPECT_EQ(c->args[1].render, ArgRender::kInt);
  EXPECT_EQ(c->args[2].render, ArgRender::kInt);  // auto on "int dfd" (an 8-byte syscall slot)
  EXPECT_EQ(c->cfg.n_selectors, 0);
}

TEST(CompileTest, IndexOutOfTheFormatIsNamed) {
  auto c = Compile(R"(  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args:
    - index: 12
      type: int
)");
  ASSERT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
  EXPECT_NE(c.status().message().find("spec.tracepoints[0].args[0].index: 12 is out of range"), std::string::npos)
      << c.status();
  auto missing = CompileHook(
      policy::ParsePolicy(Policy("  tracepoints:\n  - subsystem: syscalls\n    event: nope\n    args:\n"
                                 "    - index: 1\n      type: int\n"))
          ->hooks[0],
      FakeFormats);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

TEST(CompileTest, SelectorValuesGoToTheValueSets) {
  auto c = Compile(std::string(kOpenat) + R"(    selectors:
    - matchBinaries:
      - operator: In
        values: ["/bin/cat", "/usr/bin/cat"]
      matchArgs:
      - index: 6
        operator: Prefix
        values: ["/etc/"]
      - index: 6
        operator: Postfix
        values: [".conf"]
      - index: 7
        operator: Equal
        values: ["1", "0x10"]
      - index: 7
        operator: Mask
        values: ["1", "4"]
      matchActions:
      - action: Sigkill
    - matchPIDs:
      - operator: NotIn
        values: [1, 2]
      matchActions:
      - action: Signal
        argSig: 10
)");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->cfg.n_selectors, 2);
  const tgd_selector& s0 = c->cfg.sel[0];
  EXPECT_EQ(s0.bin_op, TGD_OP_EQ);
  ASSERT_EQ(s0.n_str, 2);
  EXPECT_EQ(s0.strs[0].op, TGD_OP_PREFIX);
  EXPECT_EQ(s0.strs[1].op, TGD_OP_POSTFIX);
  ASSERT_EQ(s0.n_int, 2);
  EXPECT_EQ(s0.ints[0].op, TGD_OP_EQ);
  EXPECT_EQ(s0.ints[1].op, TGD_OP_MASK);
  EXPECT_EQ(s0.ints[1].value, 5u);  // Mask values are OR-ed
  ASSERT_EQ(s0.n_actions, 1);
  EXPECT_EQ(s0.actions[0].kind, TGD_ACT_SIGKILL);
  EXPECT_EQ(c->cfg.sel[1].pid_op, TGD_OP_NEQ);
  EXPECT_EQ(c->cfg.sel[1].actions[0].kind, TGD_ACT_SIGNAL);
  EXPECT_EQ(c->cfg.sel[1].actions[0].sig, 10);

  // Binaries: exact set, tagged (selector 0, binaries, clause 0).
  ASSERT_EQ(c->strs.size(), 2u);
  EXPECT_EQ(c->strs[0].tag, TGD_TAG(0, 0, TGD_TAG_BIN, 0));
  EXPECT_STREQ(c->strs[1].s, "/usr/bin/cat");
  // Prefix: stored with its bit length; Postfix: reversed.
  ASSERT_EQ(c->prefixes.size(), 1u);
  EXPECT_EQ(c->prefixes[0].prefixlen, 64u + 8 * 5);
  EXPECT_EQ(std::string(c->prefixes[0].s), "/etc/");
  ASSERT_EQ(c->postfixes.size(), 1u);
  EXPECT_EQ(std::string(c->postfixes[0].s), "fnoc.");
  // Integers: Equal values and the pids of selector 1, then the binaries'
  // path hashes (the datapath's prefilter for the exact set).
  ASSERT_EQ(c->ints.size(), 6u);
  EXPECT_EQ(c->ints[0].value, 1u);
  EXPECT_EQ(c->ints[1].value, 16u);
  EXPECT_EQ(c->ints[2].tag, TGD_TAG(0, 1, TGD_TAG_PID, 0));
  for (int i = 0; i < 2; ++i) {
    uint64_t words[TGD_STR_MAX / 8];
    memcpy(words, c->strs[i].s, sizeof(words));
    EXPECT_EQ(c->ints[4 + i].tag, TGD_TAG(0, 0, TGD_TAG_BIN_HASH, 0));
    EXPECT_EQ(c->ints[4 + i].value, tgd_path_hash(words));
  }

  c->SetIdentity(77, 3);
  EXPECT_EQ(c->cfg.policy_id, 77u);
  EXPECT_EQ(c->strs[0].policy_id, 77u);
  EXPECT_EQ(c->strs[0].tag, TGD_TAG(3, 0, TGD_TAG_BIN, 0));
  EXPECT_EQ(c->ints[2].tag, TGD_TAG(3, 1, TGD_TAG_PID, 0));
}

struct Refusal {
  const char* selectors;
  absl::StatusCode code;
  const char* message;
};

TEST(CompileTest, RefusesWhatItCannotEnforceNamingTheField) {
  const Refusal cases[] = {
      {"    - matchActions:\n      - action: Post\n        kernelStackTrace: true\n", absl::StatusCode::kUnimplemented,
       "spec.tracepoints[0].selectors[0].matchActions[0].kernelStackTrace: stack traces on tracepoint hooks "
       "(Tetragon's event for them has no stack trace field; only kprobe events, process_kprobe, carry "
       "kernel_stack_trace and user_stack_trace)"},
      {"    - matchPIDs:\n      - operator: In\n        followForks: true\n        values: [1]\n",
       absl::StatusCode::kOk, ""},
      {"    - matchCapabilityChanges:\n      - type: Effective\n        operator: Equal\n        values: [CAP_SYS_ADMIN]\n",
       absl::StatusCode::kInvalidArgument, "matchCapabilityChanges[0].operator: \"Equal\" is not In or NotIn"},
      {"    - matchNamespaceChanges:\n      - operator: In\n        values: [Mnt, Network]\n",
       absl::StatusCode::kInvalidArgument, "matchNamespaceChanges[0].values[1]: \"Network\""},
      {"    - matchBinaries:\n      - operator: In\n        followChildren: true\n        values: [/bin/sh]\n",
       absl::StatusCode::kOk, ""},
      {"    - matchBinaries:\n      - operator: Prefix\n        followChildren: true\n        values: [/bin/]\n",
       absl::StatusCode::kInvalidArgument,  // the parser's refusal, as Tetragon's loader
       "matchBinaries[0].followChildren: only supported with In and NotIn, not Prefix"},
      {"    - matchBinaries:\n      - operator: In\n        values: [/bin/sh]\n      - operator: NotIn\n"
       "        values: [/bin/cat]\n",
       absl::StatusCode::kInvalidArgument,  // refused by the parser, as Tetragon's loader does
       "spec.tracepoints[0].selectors[0].matchBinaries: only one matchBinaries entry per selector (2 given)"},
      {"    - matchCapabilities:\n      - {operator: In, values: [CAP_CHOWN]}\n      - {operator: In, values: [CAP_KILL]}\n"
       "      - {operator: In, values: [CAP_SETUID]}\n      - {operator: In, values: [CAP_SETGID]}\n",
       absl::StatusCode::kUnimplemented,
       "spec.tracepoints[0].selectors[0].matchCapabilities[3]: more than 3 matchCapabilities per selector"},
      {"    - matchArgs:\n      - index: 7\n        operator: Prefix\n        values: [\"1\"]\n",
       absl::StatusCode::kInvalidArgument, "matchArgs[0].operator: operator Prefix does not apply"},
      {"    - matchArgs:\n      - index: 7\n        operator: GT\n        values: [\"1\", \"2\"]\n",
       absl::StatusCode::kInvalidArgument, "takes exactly one value"},
      {"    - matchArgs:\n      - index: 6\n        operator: Equal\n        values: [\"\"]\n",
       absl::StatusCode::kOk, ""},
      {"    - matchActions:\n      - action: Override\n        argError: -1\n", absl::StatusCode::kInvalidArgument,
       ""},
  };
  for (const Refusal& r : cases) {
    auto c = Compile(std::string(kOpenat) + "    selectors:\n" + r.selectors);
    if (r.code == absl::StatusCode::kOk) {
      EXPECT_TRUE(c.ok()) << c.status();
      continue;
    }
    // The model may already refuse it (Override on a tracepoint); either way
    // the add fails with the field named.
    EXPECT_FALSE(c.ok()) << r.selectors;
    if (*r.message) {
      EXPECT_EQ(c.status().code(), r.code) << c.status();
      EXPECT_NE(c.status().message().find(r.message), std::string::npos) << c.status();
    }
  }
  std::string long_value(TGD_STR_MAX, 'a');
  auto c = Compile(std::string(kOpenat) + "    selectors:\n    - matchArgs:\n      - index: 6\n        operator: Equal\n"
                                          "        values: [\"" + long_value + "\"]\n");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
  EXPECT_NE(c.status().message().find("matchArgs[0].values[0]"), std::string::npos) << c.status();
}

TEST(CompileTest, RateLimitedPostCarriesIntervalAndScope) {
  auto c = Compile(std::string(kOpenat) +
                   "    selectors:\n"
                   "    - matchActions:\n      - action: Post\n        rateLimit: 2m\n"
                   "    - matchActions:\n      - action: Post\n        rateLimit: \"5\"\n        rateLimitScope: process\n"
                   "    - matchActions:\n      - action: Post\n        rateLimit: 1h\n        rateLimitScope: global\n"
                   "    - matchActions:\n      - action: Post\n");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->cfg.n_selectors, 4);
  EXPECT_EQ(c->cfg.sel[0].actions[0].kind, TGD_ACT_POST);
  EXPECT_EQ(c->cfg.sel[0].actions[0].rate_limit_ms, 120000u);
  EXPECT_EQ(c->cfg.sel[0].actions[0].rate_scope, TGD_RATE_THREAD);  // Tetragon's default
  EXPECT_EQ(c->cfg.sel[1].actions[0].rate_limit_ms, 5000u);
  EXPECT_EQ(c->cfg.sel[1].actions[0].rate_scope, TGD_RATE_PROCESS);
  EXPECT_EQ(c->cfg.sel[2].actions[0].rate_limit_ms, 3600000u);
  EXPECT_EQ(c->cfg.sel[2].actions[0].rate_scope, TGD_RATE_GLOBAL);
  EXPECT_EQ(c->cfg.sel[3].actions[0].rate_limit_ms, 0u);  // no limit
}

TEST(CompileTest, HookKindsAndRawTracepoints) {
  auto raw = Compile("  tracepoints:\n  - subsystem: raw_syscalls\n    event: sys_enter\n    raw: true\n"
                     "    args:\n    - index: 1\n      type: int64\n");
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(raw->hook_key, "raw_tp/sys_enter");
  EXPECT_EQ(raw->cfg.args[0].src, TGD_SRC_RAW_ARG);
  EXPECT_EQ(raw->cfg.args[0].index, 1);
  EXPECT_EQ(raw->args[0].render, ArgRender::kLong);

  auto kp = Compile("  kprobes:\n  - call: security_file_open\n    syscall: false\n");
  ASSERT_TRUE(kp.ok()) << kp.status();
  EXPECT_EQ(kp->hook_key, "kprobe/security_file_open");
  EXPECT_EQ(kp->call, "security_file_open");
#if defined(__x86_64__)
  // A syscall kprobe attaches to (and reports) the arch's wrapper, as Tetragon.
  auto sys = Compile("  kprobes:\n  - call: sys_write\n    syscall: true\n");
  ASSERT_TRUE(sys.ok()) << sys.status();
  EXPECT_EQ(sys->call, "__x64_sys_write");
  EXPECT_EQ(sys->hook_key, "kprobe/__x64_sys_write");
  auto pre = Compile("  kprobes:\n  - call: __x64_sys_write\n    syscall: true\n");
  ASSERT_TRUE(pre.ok()) << pre.status();
  EXPECT_EQ(pre->call, "__x64_sys_write");
#endif
  auto kret = Compile("  kprobes:\n  - call: security_file_open\n    syscall: false\n    return: true\n"
                      "    returnArg:\n      index: 0\n      type: int\n");
  ASSERT_TRUE(kret.ok()) << kret.status();
  EXPECT_EQ(kret->ret_role, CompiledHook::kRetEntry);
  EXPECT_EQ(kret->cfg.ret_flags, TGD_RETF_ENTRY);
  {
    auto kp = policy::ParsePolicy(Policy("  kprobes:\n  - call: security_file_open\n    syscall: false\n    return: true\n"
                                         "    returnArg:\n      index: 0\n      type: int\n"));
    ASSERT_TRUE(kp.ok()) << kp.status();
    auto r = CompileReturnHook(kp->hooks.at(0), *kret, FakeFormats);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->hook_key, "kretprobe/security_file_open");
    EXPECT_EQ(r->kind, TGD_HOOK_KPROBE);
    EXPECT_TRUE(r->retprobe);
    EXPECT_EQ(r->cfg.args[0].src, TGD_SRC_RET);
    EXPECT_EQ(r->args[0].render, ArgRender::kInt);
  }
  auto lsm = Compile("  lsmhooks:\n  - hook: file_open\n    args:\n    - index: 0\n      type: uint64\n"
                     "    selectors:\n    - matchActions:\n      - action: Override\n        argError: -1\n");
  ASSERT_TRUE(lsm.ok()) << lsm.status();
  EXPECT_EQ(lsm->hook_key, "lsm/file_open");
  EXPECT_EQ(lsm->kind, TGD_HOOK_LSM);
  EXPECT_EQ(lsm->cfg.args[0].src, TGD_SRC_BTF_ARG);
  EXPECT_EQ(lsm->cfg.sel[0].actions[0].kind, TGD_ACT_OVERRIDE);
  EXPECT_EQ(lsm->cfg.sel[0].actions[0].arg_error, -1);
  auto kover = Compile("  kprobes:\n  - call: security_file_open\n    syscall: false\n"
                       "    selectors:\n    - matchActions:\n      - action: Override\n        argError: -1\n");
  EXPECT_EQ(kover.status().code(), absl::StatusCode::kUnimplemented) << kover.status();
  EXPECT_NE(kover.status().message().find("matchActions[0].action"), std::string::npos) << kover.status();
}

// The spec-level refusals the loader and `validate --loadable` share.
TEST(CompileTest, SpecLevelRefusals) {
  auto check = [](const std::string& spec) {
    auto p = policy::ParsePolicy(Policy(spec));
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? CheckSpecLoadable(*p) : p.status();
  };
  const std::string hook = "  tracepoints:\n  - subsystem: syscalls\n    event: sys_enter_openat\n";
  EXPECT_TRUE(check(hook).ok());
  EXPECT_TRUE(check("  lists:\n  - name: l\n    values: [a]\n" + hook).ok());  // used by InMap values, or unused
  // Hooks over a list are expanded by the loaders (ftrace_list_test).
  EXPECT_TRUE(check("  lists:\n  - name: l\n    type: syscalls\n    values: [sys_dup]\n  kprobes:\n  - call: list:l\n").ok());
  absl::Status enf = check("  enforcers:\n  - calls: [sys_openat]\n" + hook);
  EXPECT_EQ(enf.code(), absl::StatusCode::kUnimplemented);
  EXPECT_TRUE(absl::StartsWith(enf.message(), "spec.enforcers: enforcers are not supported by tgdispatch yet (")) << enf;
  EXPECT_NE(enf.message().find("no kernel tgdispatch is tested on can attach"), std::string::npos) << enf;
  // Every option Tetragon defines loads (spec_options_test: their values).
  EXPECT_TRUE(check("  options:\n  - name: disable-kprobe-multi\n    value: \"1\"\n  - name: disable-uprobe-multi\n"
                    "    value: \"false\"\n  - name: override-method\n    value: override-return\n"
                    "  - name: policy-mode\n    value: monitor\n  - name: sleepable-preload-size\n    value: \"8\"\n" +
                    hook)
                  .ok());
  EXPECT_EQ(check("  options:\n  - name: policy-mode\n    value: audit\n" + hook).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(check("  loader: true\n" + hook).ok());  // the loader sensor (loader_policy_root_test)
  EXPECT_TRUE(check("  loader: true\n").ok());         // alone: no hooks needed
  EXPECT_TRUE(check("  loader: false\n" + hook).ok());
  EXPECT_EQ(check("  podSelector:\n    matchLabels:\n      app: a\n"),
            absl::InvalidArgumentError("spec: the policy has no hooks"));

  // All of them at once: SpecRefusals lists each, CheckSpecLoadable the first.
  auto p = policy::ParsePolicy(Policy("  options:\n  - name: o\n  lists:\n  - name: l\n  nodeSelector:\n"
                                      "    matchLabels:\n      a: b\n"));
  ASSERT_TRUE(p.ok()) << p.status();
  std::vector<absl::Status> all = SpecRefusals(*p);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_TRUE(absl::StartsWith(all[0].message(), "spec.options[0].name: \"o\" is not an option Tetragon defines"))
      << all[0];
  EXPECT_TRUE(absl::StartsWith(all[1].message(), "spec.nodeSelector: ")) << all[1];
  EXPECT_EQ(all[2].code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckSpecLoadable(*p), all[0]);
}

// args[].maxData: honoured on char_buf and iov_iter (a bit of the config
// the datapath reads when it posts the event); on other types Tetragon
// ignores it (with a warning), and so the policy loads here too.
TEST(CompileTest, MaxDataMarksItsBuffers) {
  const std::string kp = "  kprobes:\n  - call: security_file_open\n    syscall: false\n    args:\n"
                         "    - index: 0\n      type: uint64\n";
  auto plain = Compile(kp + "      maxData: true\n");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->cfg.max_data_mask, 0u);
  const std::string bufs = "  kprobes:\n  - call: vfs_write\n    syscall: false\n    args:\n"
                           "    - index: 0\n      type: int\n"
                           "    - index: 1\n      type: char_buf\n      sizeArgIndex: 3\n      maxData: true\n"
                           "    - index: 2\n      type: size_t\n"
                           "    - index: 3\n      type: char_buf\n      sizeArgIndex: 3\n";
  auto c = Compile(bufs);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->cfg.max_data_mask, 1u << 1);
  auto it = Compile("  kprobes:\n  - call: tty_write\n    syscall: false\n    args:\n"
                    "    - index: 1\n      type: iov_iter\n      maxData: true\n");
  ASSERT_TRUE(it.ok()) << it.status();
  EXPECT_EQ(it->cfg.max_data_mask, 1u);
  auto tp = Compile("  tracepoints:\n  - subsystem: syscalls\n    event: sys_enter_openat\n    args:\n"
                    "    - index: 6\n      type: string\n      maxData: true\n");
  ASSERT_TRUE(tp.ok()) << tp.status();
  EXPECT_EQ(tp->cfg.max_data_mask, 0u);
}

// Tetragon's enum spells bit 1 DAC_OVERRIDE; the kernel's CAP_DAC_OVERRIDE
// is an alias. Both, in any case, set bit 1 of the selector's mask.
TEST(CompileTest, CapabilityNamesSetTheirBits) {
  auto caps = [](const std::string& values) {
    return Compile("  tracepoints:\n  - subsystem: syscalls\n    event: sys_enter_openat\n    selectors:\n"
                   "    - matchCapabilities:\n      - operator: In\n        values: [" + values + "]\n");
  };
  for (const char* v : {"DAC_OVERRIDE", "dac_override", "CAP_DAC_OVERRIDE", "Cap_Dac_Override"}) {
    SCOPED_TRACE(v);
    auto c = caps(v);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->cfg.sel[0].cap_mask, uint64_t{1} << 1);
    EXPECT_EQ(c->cfg.sel[0].flags & TGD_SEL_CAPS, TGD_SEL_CAPS);
  }
  auto several = caps("CAP_CHOWN, cap_sys_admin, CAP_CHECKPOINT_RESTORE");
  ASSERT_TRUE(several.ok()) << several.status();
  EXPECT_EQ(several->cfg.sel[0].cap_mask, (uint64_t{1} << 0) | (uint64_t{1} << 21) | (uint64_t{1} << 40));

  // Several entries are ANDed: each a clause of its own.
  auto anded = Compile("  tracepoints:\n  - subsystem: syscalls\n    event: sys_enter_openat\n    selectors:\n"
                       "    - matchCapabilities:\n      - operator: In\n        values: [CAP_SYS_ADMIN]\n"
                       "      - type: Permitted\n        operator: NotIn\n        values: [CAP_NET_RAW, CAP_KILL]\n");
  ASSERT_TRUE(anded.ok()) << anded.status();
  const tgd_selector& s = anded->cfg.sel[0];
  EXPECT_EQ(s.cap_op, TGD_OP_EQ);
  EXPECT_EQ(s.cap_mask, uint64_t{1} << 21);
  EXPECT_EQ(s.more_caps[0].op, TGD_OP_NEQ);
  EXPECT_EQ(s.more_caps[0].type, 2);
  EXPECT_EQ(s.more_caps[0].mask, (uint64_t{1} << 13) | (uint64_t{1} << 5));
  EXPECT_EQ(s.more_caps[1].op, 0);

  // A model built by hand (not through the parser) may carry the alias.
  auto p = policy::ParsePolicy(Policy("  tracepoints:\n  - subsystem: syscalls\n    event: sys_enter_openat\n"
                                      "    selectors:\n    - matchCapabilities:\n      - operator: NotIn\n"
                                      "        values: [CAP_SYS_ADMIN]\n"));
  ASSERT_TRUE(p.ok()) << p.status();
  p->hooks[0].selectors[0].match_capabilities[0].values = {"CAP_DAC_OVERRIDE", "CAP_NOPE"};
  auto bad = CompileHook(p->hooks[0], FakeFormats);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << bad.status();
  EXPECT_NE(bad.status().message().find("matchCapabilities[0].values[1]: unknown capability \"CAP_NOPE\""),
            std::string::npos)
      << bad.status();
}

// Return probes: the entry side keeps the returnCopy pointer, the return
// side reads returnArg from the return value, takes each selector's
// matchReturnArgs / matchReturnActions and the returnCopy argument.
TEST(CompileTest, ReturnProbeCompilesToAPairOfHooks) {
  auto p = policy::ParsePolicy(Policy(R"(  uprobes:
  - path: /bin/true
    symbols: [f]
    args:
    - index: 0
      type: int
    - index: 1
      type: char_buf
      sizeArgIndex: 3
      returnCopy: true
      label: buf
    return: true
    returnArg:
      index: 0
      type: int
      label: ignored
    selectors:
    - matchArgs:
      - index: 0
        operator: Equal
        values: ["7"]
      matchReturnArgs:
      - index: 0
        operator: GT
        values: ["10"]
      matchReturnActions:
      - action: Sigkill
)"));
  ASSERT_TRUE(p.ok()) << p.status();
  const policy::Hook& h = p->hooks.at(0);
  EXPECT_TRUE(HasReturnSide(h));
  auto entry = CompileHook(h, FakeFormats);
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(entry->ret_role, CompiledHook::kRetEntry);
  EXPECT_EQ(entry->cfg.ret_copy, 2);
  EXPECT_EQ(entry->cfg.sel[0].n_int, 1);  // matchArgs only
  EXPECT_EQ(entry->cfg.sel[0].n_actions, 0);
  auto ret = CompileReturnHook(h, *entry, FakeFormats);
  ASSERT_TRUE(ret.ok()) << ret.status();
  EXPECT_EQ(ret->ret_role, CompiledHook::kRetReturn);
  EXPECT_TRUE(ret->retprobe);
  EXPECT_EQ(ret->hook_key, "uretprobe//bin/true:f");
  EXPECT_EQ(ret->cfg.ret_flags, TGD_RETF_RETURN);
  ASSERT_EQ(ret->cfg.n_args, 2);
  EXPECT_EQ(ret->cfg.args[0].src, TGD_SRC_RET);
  EXPECT_EQ(ret->args[0].label, "");  // no label on the return value, as Tetragon
  EXPECT_EQ(ret->cfg.args[1].type, TGD_ARG_USER_BUF);
  EXPECT_EQ(ret->args[1].label, "buf");
  EXPECT_EQ(ret->cfg.ret_copy, 2);
  EXPECT_EQ(ret->ret_arg_pos, 0);
  EXPECT_EQ(ret->copy_pos, 1);
  EXPECT_EQ(ret->copy_entry_pos, 1);
  ASSERT_EQ(ret->cfg.n_selectors, 1);
  EXPECT_EQ(ret->cfg.sel[0].n_int, 1);
  EXPECT_EQ(ret->cfg.sel[0].ints[0].op, TGD_OP_GT);
  EXPECT_EQ(ret->cfg.sel[0].ints[0].value, 10u);
  EXPECT_EQ(ret->cfg.sel[0].actions[0].kind, TGD_ACT_SIGKILL);

  // A matchReturnArgs index that is not the returnArg's is refused, naming it.
  auto bad = policy::ParsePolicy(Policy(R"(  kprobes:
  - call: vfs_read
    syscall: false
    return: true
    returnArg:
      index: 0
      type: int
    selectors:
    - matchReturnArgs:
      - index: 3
        operator: Equal
        values: ["1"]
)"));
  ASSERT_TRUE(bad.ok()) << bad.status();
  auto be = CompileHook(bad->hooks.at(0), FakeFormats);
  ASSERT_TRUE(be.ok()) << be.status();
  auto br = CompileReturnHook(bad->hooks.at(0), *be, FakeFormats);
  EXPECT_EQ(br.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(br.status().message().find("matchReturnArgs[0].index"), std::string::npos) << br.status();

  // returnCopy on a type that has nothing to copy is refused.
  auto rc = Compile("  kprobes:\n  - call: vfs_read\n    syscall: false\n    args:\n    - index: 0\n"
                    "      type: file\n      returnCopy: true\n");
  EXPECT_EQ(rc.status().code(), absl::StatusCode::kInvalidArgument) << rc.status();
}

// CapabilitiesGained: `args: [old, new]` (positions), both capability sets;
// compiled as one integer clause naming both.
TEST(CompileTest, CapabilitiesGainedComparesTwoCapabilitySets) {
  auto ok = Compile(R"(  kprobes:
  - call: commit_creds
    syscall: false
    args:
    - index: 0
      type: kernel_cap_t
    - index: 1
      type: cap_effective
    selectors:
    - matchArgs:
      - args: [0, 1]
        operator: CapabilitiesGained
)");
  ASSERT_TRUE(ok.ok()) << ok.status();
  ASSERT_EQ(ok->cfg.sel[0].n_int, 1);
  EXPECT_EQ(ok->cfg.sel[0].ints[0].op, TGD_OP_CAPS_GAINED);
  EXPECT_EQ(ok->cfg.sel[0].ints[0].arg, 0);
  EXPECT_EQ(ok->cfg.sel[0].ints[0].value, 1u);
  auto bad = Compile(R"(  kprobes:
  - call: commit_creds
    syscall: false
    args:
    - index: 0
      type: kernel_cap_t
    - index: 1
      type: int
    selectors:
    - matchArgs:
      - args: [0, 1]
        operator: CapabilitiesGained
)");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("matchArgs[0].args"), std::string::npos) << bad.status();
}

}  // namespace
}  // namespace tgd

namespace tgd {
namespace {

// kernelStackTrace / userStackTrace on a kprobe's Post set the action's
// stack flags (the datapath captures the stacks when it posts).
TEST(CompileTest, StackTracesOnKprobePostSetTheActionFlags) {
  const std::string kp = "  kprobes:\n  - call: security_file_open\n    syscall: false\n    selectors:\n"
                         "    - matchActions:\n      - action: Post\n";
  auto none = Compile(kp);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->cfg.sel[0].actions[0].flags, 0);
  auto both = Compile(kp + "        kernelStackTrace: true\n        userStackTrace: true\n");
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_EQ(both->cfg.sel[0].actions[0].kind, TGD_ACT_POST);
  EXPECT_EQ(both->cfg.sel[0].actions[0].flags, TGD_ACTF_KSTACK | TGD_ACTF_USTACK);
  auto user = Compile(kp + "        userStackTrace: true\n");
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->cfg.sel[0].actions[0].flags, TGD_ACTF_USTACK);
}

// followForks, matchParentBinaries, matchCapabilityChanges and
// matchNamespaceChanges compile into the selector and switch on the process
// tracking they need; a selector without them needs none.
TEST(CompileTest, LineageSelectorsSetTheirFieldsAndTracking) {
  auto compile = [](const std::string& hook) -> absl::StatusOr<CompiledHook> {
    auto p = policy::ParsePolicy(Policy(hook));
    if (!p.ok()) return p.status();
    return CompileHook(p->hooks.at(0), FakeFormats, [](const std::string&) -> absl::StatusOr<uint64_t> {
      return 4026531837ULL;
    });
  };
  auto c = compile(std::string(kOpenat) + "    selectors:\n    - matchPIDs:\n      - operator: NotIn\n"
                   "        followForks: true\n        isNamespacePID: true\n        values: [1]\n"
                   "      matchParentBinaries:\n      - operator: Postfix\n        values: [\"/sh\"]\n"
                   "      matchCapabilityChanges:\n      - type: Permitted\n        operator: In\n"
                   "        isNamespaceCapability: true\n        values: [CAP_SETUID, CAP_SYS_ADMIN]\n"
                   "      matchNamespaceChanges:\n      - operator: NotIn\n        values: [mnt, User]\n"
                   "    - matchPIDs:\n      - operator: In\n        values: [5]\n");
  ASSERT_TRUE(c.ok()) << c.status();
  const tgd_selector& s = c->cfg.sel[0];
  EXPECT_EQ(s.flags & (TGD_SEL_PIDS | TGD_SEL_PIDS_NS | TGD_SEL_PIDS_FOLLOW),
            TGD_SEL_PIDS | TGD_SEL_PIDS_NS | TGD_SEL_PIDS_FOLLOW);
  EXPECT_EQ(s.pid_op, TGD_OP_NEQ);
  EXPECT_EQ(s.pbin_op, TGD_OP_POSTFIX);
  EXPECT_EQ(s.cc_op, TGD_OP_EQ);
  EXPECT_EQ(s.cc_type, 2);
  EXPECT_EQ(s.cc_mask, (1ULL << 7) | (1ULL << 21));
  EXPECT_EQ(s.nc_op, TGD_OP_NEQ);
  EXPECT_EQ(s.nc_mask, (1u << TGD_NS_MNT) | (1u << TGD_NS_USER));
  // isNamespaceCapability: an ANDed "User NotIn [host]" namespace clause.
  ASSERT_EQ(s.n_ns, 1);
  EXPECT_EQ(s.ns[0].ns, TGD_NS_USER);
  EXPECT_EQ(s.ns[0].op, TGD_OP_NEQ);
  EXPECT_EQ(c->track_flags, TGD_TRACK_PARENT_BIN | TGD_TRACK_EXEC_CREDS);
  bool has_parent_value = false;
  for (const tgd_lpm_key& k : c->postfixes) has_parent_value |= k.tag == TGD_TAG(0, 0, TGD_TAG_PBIN, 0);
  EXPECT_TRUE(has_parent_value);
  const tgd_selector& s1 = c->cfg.sel[1];
  EXPECT_EQ(s1.flags & TGD_SEL_PIDS_FOLLOW, 0u);
  EXPECT_EQ(s1.pbin_op | s1.cc_op | s1.nc_op, 0);

  auto plain = Compile(std::string(kOpenat) + "    selectors:\n    - matchPIDs:\n      - operator: In\n"
                       "        values: [5]\n");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->track_flags, 0u);
}

// spec.uprobes: one uprobe per symbol ("sym+off" too), offset or address,
// each with its refCtrOffsets entry; mismatched dimensions are refused
// (by the parser or the expansion).
TEST(CompileTest, UprobeFormsExpandOnePerEntry) {
  auto hooks = [](const std::string& forms) {
    auto p = policy::ParsePolicy(Policy("  uprobes:\n  - path: /bin/true\n" + forms));
    if (!p.ok()) return absl::StatusOr<std::vector<policy::Hook>>(p.status());
    return policy::ExpandHookLists(*p, [](const policy::ListSpec&) -> absl::StatusOr<std::vector<std::string>> {
      return std::vector<std::string>{};
    });
  };
  auto h = hooks("    offsets: [0x10, 32]\n    refCtrOffsets: [0x1010, 0x1012]\n");
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_EQ(h->size(), 2u);
  auto c = CompileHook((*h)[1], FakeFormats);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->offset, 32u);
  EXPECT_EQ(c->ref_ctr_offset, 0x1012u);
  EXPECT_TRUE(c->call.empty());
  EXPECT_EQ(c->hook_key, "uprobe//bin/true:+0x20(ref_ctr 0x1012)");

  h = hooks("    addrs: [0x4000]\n");
  ASSERT_TRUE(h.ok()) << h.status();
  c = CompileHook((*h)[0], FakeFormats);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->addr, 0x4000u);  // the loader maps it to a file offset

  h = hooks("    symbols: [main+4]\n");
  ASSERT_TRUE(h.ok()) << h.status();
  c = CompileHook((*h)[0], FakeFormats);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->call, "main");
  EXPECT_EQ(c->offset, 4u);

  h = hooks("    symbols: [a, b]\n    refCtrOffsets: [1]\n");
  EXPECT_EQ(h.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(h.status().message().find("spec.uprobes[0].refCtrOffsets"), std::string::npos) << h.status();
  h = hooks("    symbols: [a]\n    offsets: [1]\n");
  EXPECT_EQ(h.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tgd
