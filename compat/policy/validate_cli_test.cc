// Golden tests of `policy validate` output (text and --json) over every
// example policy, and its usage errors.
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
  EXPECT_EQ(RunValidate(AllPolicyFiles(), false, out), 1);
  CheckGolden(out.str(), "testdata/policies/validate.golden");
}

TEST(ValidateCliTest, JsonGolden) {
  std::ostringstream out;
  EXPECT_EQ(RunValidate(AllPolicyFiles(), true, out), 1);
  CheckGolden(out.str(), "testdata/policies/validate_json.golden");
}

TEST(ValidateCliTest, AllValidExitsZero) {
  std::ostringstream out;
  EXPECT_EQ(RunValidate({"testdata/policies/valid/tcp-connect.yaml", "testdata/policies/valid/multi-doc.yaml"},
                        false, out),
            0);
  EXPECT_EQ(out.str(),
            "OK testdata/policies/valid/tcp-connect.yaml TracingPolicy "
            "monitor-network-activity-outside-cluster-cidr-range\n"
            "OK testdata/policies/valid/multi-doc.yaml TracingPolicy first\n"
            "OK testdata/policies/valid/multi-doc.yaml TracingPolicy second\n");
}

TEST(ValidateCliTest, UsageAndUnreadableFiles) {
  std::ostringstream out, err;
  EXPECT_EQ(ValidateCommand({}, out, err), 2);
  EXPECT_NE(err.str().find("no files given"), std::string::npos);
  EXPECT_EQ(ValidateCommand({"--yaml", "x"}, out, err), 2);
  EXPECT_NE(err.str().find("unknown flag \"--yaml\""), std::string::npos);
  std::ostringstream out2;
  EXPECT_EQ(ValidateCommand({"/nonexistent/p.yaml"}, out2, err), 1);
  EXPECT_EQ(out2.str(), "/nonexistent/p.yaml: cannot read the file\n");
  std::ostringstream out3;
  EXPECT_EQ(ValidateCommand({"--json", "--", "testdata/policies/valid/lsm-file-open.yaml"}, out3, err), 0);
  EXPECT_EQ(out3.str(),
            "{\"valid\": true, \"results\": [\n  {\"file\": \"testdata/policies/valid/lsm-file-open.yaml\", "
            "\"ok\": true, \"kind\": \"TracingPolicy\", \"name\": \"lsm-file-open\"}\n]}\n");
}

}  // namespace
}  // namespace tgd::policy
