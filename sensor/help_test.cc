// `tgdispatch --help` and `tgdispatch serve --help` through the real binary:
// the commands and every serve flag with its dashed name, default and help.
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include "gtest/gtest.h"

namespace {

std::string RunBinary(const std::string& args, int* exit_code) {
  std::string out;
  FILE* p = popen(("sensor/tgdispatch " + args + " 2>&1").c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int status = pclose(p);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

void ExpectFullHelp(const std::string& out) {
  EXPECT_EQ(out.find("No flags matched"), std::string::npos) << out;
  for (const char* want : {"tgdispatch serve", "tgdispatch version", "tgdispatch policy validate",
                           "tgdispatch policyfilter dump", "--server-address (default \"localhost:54322\")",
                           "--bpf-dir", "--policy-dir", "--workloads", "--tetragon-bpf-dir", "--loader",
                           "--export-file ", "--export-allowlist", "--metrics-address", "--node-name",
                           "--process-events", "--log-level", "--event-cache-retries (default \"15\")",
                           "--event-cache-retry-delay (default \"2\")", "--process-cache-gc-interval",
                           "--enable-ancestors", "--expose-stack-addresses"}) {
    EXPECT_NE(out.find(want), std::string::npos) << "missing " << want << " in\n" << out;
  }
}

TEST(HelpTest, HelpListsCommandsAndFlags) {
  int code = -1;
  std::string out = RunBinary("--help", &code);
  EXPECT_EQ(code, 0);
  ExpectFullHelp(out);
}

TEST(HelpTest, ServeHelpListsCommandsAndFlags) {
  int code = -1;
  std::string out = RunBinary("serve --help", &code);
  EXPECT_EQ(code, 0);
  ExpectFullHelp(out);
  out = RunBinary("serve -h", &code);
  EXPECT_EQ(code, 0);
  ExpectFullHelp(out);
}

TEST(HelpTest, UnknownCommandStillFails) {
  int code = -1;
  std::string out = RunBinary("frobnicate", &code);
  EXPECT_EQ(code, 2);
  EXPECT_NE(out.find("unknown command \"frobnicate\""), std::string::npos) << out;
}

}  // namespace
