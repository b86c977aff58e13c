// Golden tests of `policy validate` output (text and --json) over every
// example policy, its usage errors, and the --loadable output with a fake
// checker (the loader's checker is tested in sensor/loader/loadable_test).
#include "compat/policy/validate_cli.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tgd::policy {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> AllPolicyFiles() {
  std::vector<std::string> out;
  for (const char* dir : {"testdata/policies/valid", "testdata/policies/invalid"}) {
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.path().extension() == ".yaml") out.push_back(e.path().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Set TGD_UPDATE_GOLDEN=1 to rewrite the goldens in the source tree (run
// from the workspace root with `bazel run`).
void CheckGolden(const std::string& got, const std::string& golden) {
  if (getenv("TGD_UPDATE_GOLDEN") != nullptr && getenv("BUILD_WORKSPACE_DIRECTORY") != nullptr) {
    std::ofstream(std::string(getenv("BUILD_WORKSPACE_DIRECTORY")) + "/" + golden) << got;
    return;
  }
  EXPECT_EQ(got, ReadFile(golden)) << "golden " << golden;
}

TEST(ValidateCliTest, TextGolden) {
  std::ostringstream out;
  EXPECT_EQ(RunValidate(AllPolicyFiles(), {}, out), 1);
  CheckGolden(out.str(), "testdata/policies/validate.golden");
}

TEST(ValidateCliTest, JsonGolden) {
  std::ostringstream out;
  EXPECT_EQ(RunValidate(AllPolicyFiles(), {.json = true}, out), 1);
  CheckGolden(out.str(), "testdata/policies/validate_json.golden");
}

TEST(ValidateCliTest, AllValidExitsZero) {
  std::ostringstream out;
  EXPECT_EQ(RunValidate({"testdata/policies/valid/tcp-connect.yaml", "testdata/policies/valid/multi-doc.yaml"}, {},
                        out),
            0);
  EXPECT_EQ(out.str(),
            "OK testdata/policies/valid/tcp-connect.yaml TracingPolicy "
            "monitor-network-activity-outside-cluster-cidr-range\n"
            "OK testdata/policies/valid/multi-doc.yaml TracingPolicy first\n"
            "OK testdata/policies/valid/multi-doc.yaml TracingPolicy second\n");
}

TEST(ValidateCliTest, UsageAndUnreadableFiles) {
  std::ostringstream out, err;
  EXPECT_EQ(ValidateCommand({}, nullptr, out, err), 2);
  EXPECT_NE(err.str().find("no files given"), std::string::npos);
  EXPECT_EQ(ValidateCommand({"--yaml", "x"}, nullptr, out, err), 2);
  EXPECT_NE(err.str().find("unknown flag \"--yaml\""), std::string::npos);
  std::ostringstream out2;
  EXPECT_EQ(ValidateCommand({"/nonexistent/p.yaml"}, nullptr, out2, err), 1);
  EXPECT_EQ(out2.str(), "/nonexistent/p.yaml: cannot read the file\n");
  std::ostringstream out3;
  EXPECT_EQ(ValidateCommand({"--json", "--", "testdata/policies/valid/lsm-file-open.yaml"}, nullptr, out3, err), 0);
  EXPECT_EQ(out3.str(),
            "{\"valid\": true, \"results\": [\n  {\"file\": \"testdata/policies/valid/lsm-file-open.yaml\", "
            "\"ok\": true, \"kind\": \"TracingPolicy\", \"name\": \"lsm-file-open\"}\n]}\n");
}

// A checker standing in for the loader's: refuses the kprobe of "second"
// (twice: a spec-level and a hook-level problem) and notes something on
// "first".
LoadReport FakeCheck(const TracingPolicy& p) {
  LoadReport r;
  if (p.name == "second") {
    r.problems.push_back(absl::UnimplementedError("spec.loader: the loader sensor is not supported by tgdispatch yet"));
    r.problems.push_back(
        absl::UnimplementedError("spec.kprobes[0].call: sys_mount is not supported by tgdispatch yet"));
  }
  if (p.name == "first") r.notes.push_back("spec.tracepoints[0]: the layout was not checked (no tracefs)");
  return r;
}

const std::vector<std::string> kMulti = {"testdata/policies/valid/multi-doc.yaml"};

TEST(ValidateCliTest, LoadableReportsWhatTheCheckerRefuses) {
  std::ostringstream out;
  EXPECT_EQ(RunValidate(kMulti, {.loadable = true, .checker = FakeCheck}, out), 1);
  // Positions: the deepest model element on the path (the hook), else the
  // document.
  EXPECT_EQ(out.str(),
            "OK testdata/policies/valid/multi-doc.yaml TracingPolicy first\n"
            "testdata/policies/valid/multi-doc.yaml:8:5: note: spec.tracepoints[0]: the layout was not checked (no "
            "tracefs)\n"
            "testdata/policies/valid/multi-doc.yaml:11:1: UNIMPLEMENTED: spec.loader: the loader sensor is not "
            "supported by tgdispatch yet\n"
            "testdata/policies/valid/multi-doc.yaml:20:5: UNIMPLEMENTED: spec.kprobes[0].call: sys_mount is not "
            "supported by tgdispatch yet\n");

  // Without --loadable the same file is valid: the checker is not asked.
  std::ostringstream plain;
  EXPECT_EQ(RunValidate(kMulti, {.checker = FakeCheck}, plain), 0);
  EXPECT_EQ(plain.str(),
            "OK testdata/policies/valid/multi-doc.yaml TracingPolicy first\n"
            "OK testdata/policies/valid/multi-doc.yaml TracingPolicy second\n");

  // Loadable documents exit 0, notes or not.
  std::ostringstream ok;
  EXPECT_EQ(RunValidate({"testdata/policies/valid/lsm-file-open.yaml"}, {.loadable = true, .checker = FakeCheck}, ok),
            0);
  EXPECT_EQ(ok.str(), "OK testdata/policies/valid/lsm-file-open.yaml TracingPolicy lsm-file-open\n");
}

TEST(ValidateCliTest, LoadableJson) {
  std::ostringstream out;
  EXPECT_EQ(RunValidate(kMulti, {.json = true, .loadable = true, .checker = FakeCheck}, out), 1);
  EXPECT_EQ(out.str(),
            "{\"valid\": true, \"loadable\": false, \"results\": [\n"
            "  {\"file\": \"testdata/policies/valid/multi-doc.yaml\", \"ok\": true, \"kind\": \"TracingPolicy\", "
            "\"name\": \"first\", \"loadable\": true, \"problems\": [], \"notes\": [{\"line\": 8, \"column\": 5, "
            "\"path\": \"spec.tracepoints[0]\", \"reason\": \"the layout was not checked (no tracefs)\"}]},\n"
            "  {\"file\": \"testdata/policies/valid/multi-doc.yaml\", \"ok\": true, \"kind\": \"TracingPolicy\", "
            "\"name\": \"second\", \"loadable\": false, \"problems\": [{\"code\": \"UNIMPLEMENTED\", \"line\": 11, "
            "\"column\": 1, \"path\": \"spec.loader\", \"reason\": \"the loader sensor is not supported by tgdispatch "
            "yet\"}, {\"code\": \"UNIMPLEMENTED\", \"line\": 20, \"column\": 5, \"path\": \"spec.kprobes[0].call\", "
            "\"reason\": \"sys_mount is not supported by tgdispatch yet\"}], \"notes\": []}\n"
            "]}\n");
}

TEST(ValidateCliTest, LoadableFlag) {
  std::ostringstream out, err;
  EXPECT_EQ(ValidateCommand({"--loadable", kMulti[0]}, nullptr, out, err), 2);
  EXPECT_NE(err.str().find("--loadable is not available in this build"), std::string::npos) << err.str();
  std::ostringstream out2;
  EXPECT_EQ(ValidateCommand({"--loadable", kMulti[0]}, FakeCheck, out2, err), 1);
  EXPECT_NE(out2.str().find("UNIMPLEMENTED: spec.kprobes[0].call"), std::string::npos) << out2.str();
  std::ostringstream out3;
  EXPECT_EQ(ValidateCommand({kMulti[0]}, FakeCheck, out3, err), 0);
  std::ostringstream help;
  EXPECT_EQ(ValidateCommand({"--help"}, nullptr, help, err), 0);
  EXPECT_EQ(help.str(), "usage: tgdispatch policy validate [--json] [--loadable] FILE...\n");
}

}  // namespace
}  // namespace tgd::policy
