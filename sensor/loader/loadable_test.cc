// The --loadable checker with fake kernel readers: the loader's refusals
// come out with their field paths, unreadable tracefs and /proc/1/ns give
// notes instead of failures, and a golden of `policy validate --loadable`
// over every example policy shows what this build loads of them.
#include "sensor/loader/loadable.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "compat/policy/policy.h"
#include "compat/policy/validate_cli.h"
#include "gtest/gtest.h"
#include "sensor/loader/fake_tracefs.h"

namespace tgd {
namespace {

using testing::kOpenatFormat;
constexpr auto& Tracefs = testing::FakeTracefs;

// tracefs as a user sees it.
absl::StatusOr<TracepointFormat> NoTracefs(const std::string&, const std::string&) {
  return absl::UnavailableError("tracefs is not readable here");
}

absl::StatusOr<uint64_t> HostNs(const std::string&) { return 4026531836u; }
absl::StatusOr<uint64_t> NoHostNs(const std::string& name) {
  return absl::FailedPreconditionError(absl::StrCat("/proc/1/ns/", name, " is not readable"));
}

policy::TracingPolicy Parse(const std::string& spec) {
  auto p = policy::ParsePolicy("apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: t\nspec:\n" +
                               spec);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : policy::TracingPolicy{};
}

std::vector<std::string> Messages(const std::vector<absl::Status>& v) {
  std::vector<std::string> out;
  for (const absl::Status& s : v) out.push_back(s.ToString());
  return out;
}

constexpr char kOpenat[] = R"(  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args:
    - index: 6
      type: auto
    selectors:
    - matchArgs:
      - index: 6
        operator: Prefix
        values: ["/etc/"]
)";

TEST(LoadableTest, LoadablePolicyHasNoFindings) {
  policy::LoadReport r = CheckLoadable(Parse(kOpenat), Tracefs, HostNs);
  EXPECT_TRUE(r.problems.empty()) << Messages(r.problems)[0];
  EXPECT_TRUE(r.notes.empty());
}

TEST(LoadableTest, EveryRefusalIsReportedWithItsField) {
  policy::TracingPolicy p = Parse(R"(  options:
  - name: disable-kprobe-multi
    value: "yes"
  kprobes:
  - call: security_file_open
    syscall: false
    return: true
    returnArg:
      index: 0
      type: int
  - call: security_bprm_check
    syscall: false
    selectors:
    - matchActions:
      - action: Post
        kernelStackTrace: true
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_nope
    args:
    - index: 1
      type: int
  - subsystem: syscalls
    event: sys_enter_openat
)");
  policy::LoadReport r = CheckLoadable(p, Tracefs, HostNs);
  EXPECT_EQ(Messages(r.problems),
            (std::vector<std::string>{
                "INVALID_ARGUMENT: spec.options[0].value: option \"disable-kprobe-multi\": \"yes\" is not a boolean "
                "(true, false, 1, 0, t, f)",
                "NOT_FOUND: spec.tracepoints[0]: tracepoint syscalls/sys_enter_nope does not exist on this kernel",
            }));
  EXPECT_TRUE(r.notes.empty());
}

TEST(LoadableTest, UnreadableTracefsIsANoteAndTheRestIsChecked) {
  policy::LoadReport r = CheckLoadable(Parse(kOpenat), NoTracefs, HostNs);
  EXPECT_TRUE(r.problems.empty()) << Messages(r.problems)[0];
  EXPECT_EQ(r.notes, (std::vector<std::string>{
                         "spec.tracepoints[0]: the layout of tracepoint syscalls/sys_enter_openat was not checked "
                         "(tracefs is not readable here); its args were checked against their declared types only"}));

  // What does not depend on the layout is still refused.
  policy::LoadReport follow = CheckLoadable(Parse(std::string(kOpenat) + "      matchPIDs:\n"
                                                                          "      - operator: In\n"
                                                                          "        values: [2]\n"
                                                                          "      - operator: In\n"
                                                                          "        followForks: true\n"
                                                                          "        values: [1]\n"),
                                            NoTracefs, HostNs);
  EXPECT_EQ(Messages(follow.problems),
            (std::vector<std::string>{"UNIMPLEMENTED: spec.tracepoints[0].selectors[0].matchPIDs[1].followForks: "
                                      "matchPIDs with and without followForks in one selector is not supported by "
                                      "tgdispatch yet"}));
  EXPECT_EQ(follow.notes.size(), 1u);

  // Declared integer args and integer operators stay integers.
  policy::LoadReport ints = CheckLoadable(Parse(R"(  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args:
    - index: 7
      type: auto
    - index: 8
      type: uint32
    selectors:
    - matchArgs:
      - index: 7
        operator: Equal
        values: ["0x10", "-1"]
      - index: 8
        operator: GT
        values: ["4"]
)"),
                                          NoTracefs, HostNs);
  EXPECT_TRUE(ints.problems.empty()) << Messages(ints.problems)[0];
}

TEST(LoadableTest, UnreadableHostNamespaceIsANote) {
  const std::string spec = R"(  kprobes:
  - call: security_file_open
    syscall: false
    selectors:
    - matchNamespaces:
      - namespace: Pid
        operator: NotIn
        values: ["host_ns"]
      - namespace: Mnt
        operator: In
        values: ["host_ns"]
      matchActions:
      - action: Sigkill
)";
  policy::LoadReport ok = CheckLoadable(Parse(spec), Tracefs, HostNs);
  EXPECT_TRUE(ok.problems.empty() && ok.notes.empty());
  policy::LoadReport r = CheckLoadable(Parse(spec), Tracefs, NoHostNs);
  EXPECT_TRUE(r.problems.empty()) << Messages(r.problems)[0];
  EXPECT_EQ(r.notes, (std::vector<std::string>{
                         "spec.kprobes[0]: host_ns of the pid namespace was not resolved (/proc/1/ns/pid is not "
                         "readable)",
                         "spec.kprobes[0]: host_ns of the mnt namespace was not resolved (/proc/1/ns/mnt is not "
                         "readable)"}));
}

std::string ReadFile(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Set TGD_UPDATE_GOLDEN=1 to rewrite the golden in the source tree (run
// from the workspace root with `bazel run`).
TEST(LoadableTest, ValidateLoadableGolden) {
  std::vector<std::string> files;
  for (const char* dir : {"testdata/policies/valid", "testdata/policies/invalid"}) {
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.path().extension() == ".yaml") files.push_back(e.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  // As a user without tracefs or /proc/1/ns access runs it.
  policy::LoadChecker checker = [](const policy::TracingPolicy& p) { return CheckLoadable(p, NoTracefs, NoHostNs); };
  std::ostringstream out;
  EXPECT_EQ(policy::RunValidate(files, {.loadable = true, .checker = checker}, out), 1);
  const std::string golden = "testdata/policies/validate_loadable.golden";
  if (getenv("TGD_UPDATE_GOLDEN") != nullptr && getenv("BUILD_WORKSPACE_DIRECTORY") != nullptr) {
    std::ofstream(std::string(getenv("BUILD_WORKSPACE_DIRECTORY")) + "/" + golden) << out.str();
    return;
  }
  EXPECT_EQ(out.str(), ReadFile(golden)) << "golden " << golden;
}

}  // namespace
}  // namespace tgd
