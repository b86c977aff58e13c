// Tests of the TracingPolicy model: every file in testdata/policies/valid
// parses and round-trips through the canonical form (the re-parsed model
// equals the first, field by field); every file in
// testdata/policies/invalid fails with exactly the message in its .want file;
// plus focused checks of defaults and of single rules.
#include "compat/policy/policy.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace tgd::policy {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<fs::path> Files(const std::string& dir, const std::string& ext) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(fs::path("testdata/policies") / dir)) {
    if (e.path().extension() == ext) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Source positions differ between a file and its canonical form; every
// other field of the model must survive the round trip.
void ClearPositions(Selector* s) {
  s->pos = {};
  if (s->match_workloads) s->match_workloads->pos = {};
  for (auto* v : {&s->match_args, &s->match_return_args, &s->match_data}) {
    for (MatchArg& x : *v) x.pos = {};
  }
  for (MatchPIDs& x : s->match_pids) x.pos = {};
  for (auto* v : {&s->match_binaries, &s->match_parent_binaries}) {
    for (MatchBinaries& x : *v) x.pos = {};
  }
  for (MatchNamespaces& x : s->match_namespaces) x.pos = {};
  for (MatchNamespaceChanges& x : s->match_namespace_changes) x.pos = {};
  for (auto* v : {&s->match_capabilities, &s->match_capability_changes}) {
    for (MatchCapabilities& x : *v) x.pos = {};
  }
  for (auto* v : {&s->match_actions, &s->match_return_actions}) {
    for (MatchAction& x : *v) x.pos = {};
  }
}

TracingPolicy WithoutPositions(TracingPolicy p) {
  p.pos = {};
  for (Hook& h : p.hooks) {
    h.pos = {};
    for (ArgSpec& a : h.args) a.pos = {};
    for (ArgSpec& a : h.data) a.pos = {};
    if (h.return_arg) h.return_arg->pos = {};
    for (Selector& s : h.selectors) ClearPositions(&s);
  }
  for (ListSpec& l : p.lists) l.pos = {};
  for (EnforcerSpec& e : p.enforcers) e.pos = {};
  return p;
}

// The first part of two models that differs ("" when equal), to say where a
// round trip lost something.
std::string FirstDifference(const TracingPolicy& a, const TracingPolicy& b) {
  if (a.api_version != b.api_version || a.kind != b.kind || a.name != b.name || a.namespace_ != b.namespace_ ||
      a.labels != b.labels || a.annotations != b.annotations) {
    return "metadata";
  }
  if (a.pod_selector != b.pod_selector) return "spec.podSelector";
  if (a.container_selector != b.container_selector) return "spec.containerSelector";
  if (a.host_selector != b.host_selector) return "spec.hostSelector";
  if (a.lists != b.lists) return "spec.lists";
  if (a.enforcers != b.enforcers) return "spec.enforcers";
  if (a.options != b.options) return "spec.options";
  if (a.loader != b.loader) return "spec.loader";
  if (a.hooks.size() != b.hooks.size()) return "number of hooks";
  for (size_t i = 0; i < a.hooks.size(); ++i) {
    const Hook& x = a.hooks[i];
    const Hook& y = b.hooks[i];
    if (x == y) continue;
    if (x.args != y.args) return x.path + ".args";
    if (x.return_arg != y.return_arg) return x.path + ".returnArg";
    if (x.selectors.size() != y.selectors.size()) return x.path + ".selectors (count)";
    for (size_t j = 0; j < x.selectors.size(); ++j) {
      const Selector& sx = x.selectors[j];
      const Selector& sy = y.selectors[j];
      if (sx == sy) continue;
      if (sx.match_actions != sy.match_actions || sx.match_return_actions != sy.match_return_actions) {
        return sx.path + " actions";
      }
      return sx.path;
    }
    return x.path + " (hook fields)";
  }
  return a == b ? "" : "?";
}

// parse -> canonical -> parse gives the same model, field by field.
void ExpectRoundTrip(const TracingPolicy& p) {
  std::string canonical = ToCanonicalYaml(p);
  auto again = ParsePolicy(canonical);
  ASSERT_TRUE(again.ok()) << again.status() << "\n" << canonical;
  TracingPolicy want = WithoutPositions(p);
  TracingPolicy got = WithoutPositions(*again);
  EXPECT_TRUE(got == want) << "differs at " << FirstDifference(want, got) << "; canonical form:\n" << canonical;
  EXPECT_EQ(ToCanonicalYaml(*again), canonical);
}

TEST(PolicyFilesTest, ValidFilesParseAndRoundTrip) {
  std::vector<fs::path> files = Files("valid", ".yaml");
  ASSERT_GE(files.size(), 9u);
  for (const fs::path& f : files) {
    SCOPED_TRACE(f.string());
    auto parsed = ParsePolicies(ReadFile(f));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    ASSERT_FALSE(parsed->empty());
    for (const TracingPolicy& p : *parsed) ExpectRoundTrip(p);
  }
}

// The model's equality sees every field: a change anywhere breaks it, so a
// field the canonical writer forgot cannot pass ExpectRoundTrip.
TEST(PolicyFilesTest, ModelEqualityIsFieldByField) {
  auto parsed = ParsePolicies(ReadFile("testdata/policies/valid/everything.yaml"));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const TracingPolicy base = WithoutPositions((*parsed)[0]);
  EXPECT_TRUE(base == WithoutPositions((*parsed)[0]));
  std::vector<std::pair<const char*, std::function<void(TracingPolicy*)>>> edits = {
      {"loader", [](TracingPolicy* p) { p->loader = !p->loader; }},
      {"arg maxData", [](TracingPolicy* p) { p->hooks[1].args[0].max_data = !p->hooks[1].args[0].max_data; }},
      {"action argValue", [](TracingPolicy* p) { p->hooks[1].selectors[0].match_actions[0].arg_value += 1; }},
      {"rate limit ms", [](TracingPolicy* p) { p->hooks[1].selectors[0].match_actions[0].rate_limit_ms += 1; }},
      {"ignore", [](TracingPolicy* p) { p->hooks[1].ignore_call_not_found = !p->hooks[1].ignore_call_not_found; }},
      {"list pattern", [](TracingPolicy* p) { p->lists[0].pattern = "x"; }},
      {"position", [](TracingPolicy* p) { p->hooks[0].selectors[0].pos.line = 1; }},
  };
  for (const auto& [name, edit] : edits) {
    TracingPolicy changed = base;
    edit(&changed);
    EXPECT_FALSE(changed == base) << name;
  }
}

// Fields the parser accepts on any action, and values the writer must
// spell so that they read back the same.
TEST(PolicyFilesTest, RoundTripKeepsEveryAcceptedField) {
  const std::string doc =
      "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: t\nspec:\n"
      "  kprobes:\n  - call: sys_openat\n    args:\n    - index: 0\n      type: int\n      maxData: true\n"
      "    - index: 1\n      type: string\n"
      "    selectors:\n    - matchActions:\n      - action: Sigkill\n        argIndex: 1\n        argValue: 7\n"
      "      - action: Post\n        rateLimit: 2m\n        rateLimitScope: global\n"
      "      matchArgs:\n      - index: 1\n        operator: Equal\n        values: [\"true\", \"007\", \"\", \"a: b\"]\n";
  auto p = ParsePolicy(doc);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->hooks[0].selectors[0].match_actions[0].arg_value, 7u);
  ExpectRoundTrip(*p);
}

TEST(PolicyFilesTest, InvalidFilesFailWithTheExpectedMessage) {
  std::vector<fs::path> files = Files("invalid", ".yaml");
  ASSERT_GE(files.size(), 20u);
  for (const fs::path& f : files) {
    SCOPED_TRACE(f.string());
    fs::path want_file = f;
    want_file.replace_extension(".want");
    std::string want(absl::StripTrailingAsciiWhitespace(ReadFile(want_file)));
    ASSERT_FALSE(want.empty()) << "missing " << want_file;
    auto parsed = ParsePolicies(ReadFile(f));
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(parsed.status().message()), want);
  }
}

TracingPolicy MustParse(const std::string& yaml) {
  auto p = ParsePolicy(yaml);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : TracingPolicy{};
}

std::string Doc(const std::string& spec) {
  return "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: t\nspec:\n" + spec;
}

TEST(PolicyModelTest, DefaultsFollowTheCrd) {
  TracingPolicy p = MustParse(Doc(
      "  kprobes:\n"
      "  - call: sys_openat\n"
      "    args:\n"
      "    - index: 1\n"
      "    selectors:\n"
      "    - matchCapabilities:\n"
      "      - operator: In\n"
      "        values: [cap_sys_admin]\n"));
  ASSERT_EQ(p.hooks.size(), 1u);
  const Hook& h = p.hooks[0];
  EXPECT_EQ(h.kind, HookKind::kKprobe);
  EXPECT_TRUE(h.syscall);  // CRD default: true
  EXPECT_FALSE(h.is_return);
  EXPECT_EQ(h.path, "spec.kprobes[0]");
  EXPECT_EQ(h.pos.line, 7);
  EXPECT_EQ(h.args[0].type, "auto");
  const MatchCapabilities& c = h.selectors[0].match_capabilities[0];
  EXPECT_EQ(c.type, "Effective");
  EXPECT_EQ(c.values[0], "CAP_SYS_ADMIN");
  EXPECT_EQ(c.path, "spec.kprobes[0].selectors[0].matchCapabilities[0]");
}

TEST(PolicyModelTest, HookKindsAndFields) {
  auto parsed = ParsePolicies(ReadFile("testdata/policies/valid/everything.yaml"));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const TracingPolicy& p = (*parsed)[0];
  EXPECT_TRUE(p.loader);
  ASSERT_EQ(p.hooks.size(), 6u);
  EXPECT_EQ(p.hooks[0].call, "list:mysyscalls");
  EXPECT_EQ(p.hooks[1].call, "commit_creds");
  EXPECT_TRUE(p.hooks[1].ignore_call_not_found);
  EXPECT_EQ(p.hooks[1].args[0].label, "new");
  const Selector& s = p.hooks[1].selectors[0];
  EXPECT_EQ(s.match_args[0].op, "CapabilitiesGained");
  EXPECT_EQ(s.match_args[0].args, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(s.match_parent_binaries[0].follow_children, true);
  ASSERT_EQ(s.match_actions.size(), 3u);
  EXPECT_EQ(s.match_actions[0].rate_limit_ms, 60000u);
  EXPECT_EQ(s.match_actions[0].rate_limit_scope, "process");
  EXPECT_TRUE(s.match_actions[0].ima_hash);
  EXPECT_EQ(p.hooks[0].selectors[1].match_args[0].op, "LT");  // LessThan -> LT
  EXPECT_EQ(p.hooks[2].return_arg->type, "sock");
  EXPECT_EQ(p.hooks[2].return_arg_action, "TrackSock");
  EXPECT_EQ(p.hooks[4].kind, HookKind::kUprobe);
  EXPECT_EQ(p.hooks[4].call, "readline");
  EXPECT_EQ(p.hooks[4].binary_path, "/bin/bash");
  EXPECT_EQ(p.hooks[4].selectors[0].match_pids[0].values, (std::vector<uint32_t>{100, 200}));
  EXPECT_EQ(p.hooks[5].kind, HookKind::kUsdt);
  EXPECT_EQ(p.hooks[5].provider, "python");
  EXPECT_EQ(p.hooks[5].call, "function__entry");
  EXPECT_EQ(p.hooks[5].selectors[0].match_actions[0].action, "Set");
  ASSERT_EQ(p.options.size(), 1u);
  EXPECT_EQ(p.options[0].first, "disable-kprobe-multi");
  EXPECT_EQ(p.enforcers[0].calls[0], "list:mysyscalls");

  auto raw = ParsePolicies(ReadFile("testdata/policies/valid/raw-syscalls.yaml"));
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ((*raw)[0].hooks[0].kind, HookKind::kTracepoint);
  EXPECT_EQ((*raw)[0].hooks[2].kind, HookKind::kRawTracepoint);
  EXPECT_EQ((*raw)[0].hooks[2].event, "sched_process_exec");
  EXPECT_EQ((*raw)[0].hooks[1].tags.size(), 2u);

  auto ns = ParsePolicies(ReadFile("testdata/policies/valid/namespaced.yaml"));
  ASSERT_TRUE(ns.ok());
  EXPECT_EQ((*ns)[0].namespace_, "default");
  ASSERT_TRUE((*ns)[0].pod_selector.has_value());
  EXPECT_EQ((*ns)[0].pod_selector->match_labels.at("app"), "nginx");
  ASSERT_TRUE((*ns)[0].container_selector.has_value());
  EXPECT_FALSE((*ns)[0].host_selector.has_value());
}

TEST(PolicyModelTest, MessagesAndTagsAreBounded) {
  TracingPolicy p = MustParse(Doc("  tracepoints:\n  - subsystem: a\n    event: b\n    message: \"" +
                                  std::string(300, 'm') + "\"\n    tags: [\"" + std::string(200, 't') + "\"]\n"));
  EXPECT_EQ(p.hooks[0].message.size(), kMaxMessageLen);
  EXPECT_EQ(p.hooks[0].tags[0].size(), 128u);
}

struct Case {
  const char* name;
  std::string yaml;
  const char* want;  // exact message
};

TEST(PolicyModelTest, RulesGiveExactMessages) {
  const std::string kp = "  kprobes:\n  - call: f\n    syscall: false\n    args:\n    - index: 0\n      type: ";
  const Case cases[] = {
      {"empty input", "", "expected one YAML document, got none"},
      {"not a mapping", "[1, 2]", "line 1 col 1: document: must be a mapping, not a list"},
      {"two docs", Doc("") + "---\n" + Doc(""), "expected one YAML document, got 2 (add them one by one)"},
      {"syscall not bool", Doc("  kprobes:\n  - call: f\n    syscall: \"yes\"\n"),
       "line 8 col 14: spec.kprobes[0].syscall: must be true or false, not the string \"yes\""},
      {"index quoted", Doc(kp + "int\n    selectors:\n    - matchArgs:\n      - index: \"0\"\n        operator: Equal\n"),
       "line 14 col 16: spec.kprobes[0].selectors[0].matchArgs[0].index: must be an integer, not the string \"0\""},
      {"GT on string", Doc(kp + "string\n    selectors:\n    - matchArgs:\n      - index: 0\n        operator: GT\n        values: [\"1\"]\n"),
       "line 15 col 19: spec.kprobes[0].selectors[0].matchArgs[0].operator: operator GT does not apply to argument 0 "
       "of type string (it takes integer arguments)"},
      {"int32 overflow", Doc(kp + "int\n    selectors:\n    - matchArgs:\n      - index: 0\n        operator: Equal\n        values: [\"4294967296\"]\n"),
       "line 16 col 18: spec.kprobes[0].selectors[0].matchArgs[0].values[0]: \"4294967296\" is not in the range of a "
       "32-bit signed integer"},
      {"five values", Doc(kp + "int\n    selectors:\n    - matchArgs:\n      - index: 0\n        operator: Equal\n        values: [\"1\",\"2\",\"3\",\"4\",\"5\"]\n"),
       "line 16 col 17: spec.kprobes[0].selectors[0].matchArgs[0].values: operator Equal takes at most 4 values (5 "
       "given); use InMap or NotInMap for more"},
      {"duplicate field", Doc("  kprobes:\n  - call: f\n    call: g\n"),
       "line 8 col 5: spec.kprobes[0].call: duplicate field"},
      {"alias bomb",
       "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n",
       "line 1 col 1: a: unknown field (expected one of: apiVersion, kind, metadata, spec)"},
  };
  for (const Case& c : cases) {
    auto p = ParsePolicy(c.yaml);
    ASSERT_FALSE(p.ok()) << c.name;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_EQ(std::string(p.status().message()), c.want) << c.name;
  }
}

TEST(PolicyModelTest, HostileInputIsBounded) {
  // Deep nesting.
  std::string deep = Doc("  kprobes: ") + std::string(100000, '[') + std::string(100000, ']') + "\n";
  auto p = ParsePolicy(deep);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);

  // Billion laughs: aliases whose expansion would be huge hit the budget.
  std::string bomb = "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: t}\nspec:\n"
                     "  tracepoints:\n";
  // Each selector list refers to the same big matchArgs list many times.
  std::string big = "[";
  for (int i = 0; i < 2000; ++i) big += std::string(i ? "," : "") + "'1'";
  big += "]";
  bomb += "  - subsystem: a\n    event: b\n    args: [{index: 0, type: int}]\n    selectors:\n"
          "    - matchArgs: [{index: 0, operator: InMap, values: &v " + big + "}]\n";
  for (int i = 0; i < 400; ++i) {
    bomb += "  - subsystem: a\n    event: b\n    args: [{index: 0, type: int}]\n    selectors:\n"
            "    - matchArgs: [{index: 0, operator: InMap, values: *v}]\n";
  }
  p = ParsePolicy(bomb);
  ASSERT_FALSE(p.ok());
  EXPECT_TRUE(absl::StrContains(p.status().message(), "document too complex")) << p.status();

  // Size limit.
  p = ParsePolicy(Doc("") + "# " + std::string(kMaxPolicyBytes, 'x') + "\n");
  ASSERT_FALSE(p.ok());
  EXPECT_TRUE(absl::StrContains(p.status().message(), "the limit is 1048576")) << p.status();
}

}  // namespace
}  // namespace tgd::policy
