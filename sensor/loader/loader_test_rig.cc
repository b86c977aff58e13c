// See loader_test_rig.h.
#include "sensor/loader/loader_test_rig.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "sensor/base/status_macros.h"
#include "sensor/loader/per_policy_backend.h"

namespace tgd::testing {

absl::StatusOr<std::unique_ptr<PolicyFilterState>> InMemoryPolicyFilter() {
  PolicyFilterOptions fo;
  fo.use_bpf = false;
  return PolicyFilterState::Create(fo);
}

absl::StatusOr<std::unique_ptr<TestCgroup>> AddTestPod(PolicyFilterState* filter, const std::string& app,
                                                       const std::string& cgroup) {
  TGD_ASSIGN_OR_RETURN(std::unique_ptr<TestCgroup> cg, TestCgroup::Create(cgroup));
  TGD_RETURN_IF_ERROR(filter->AddPodContainer({"uid-" + app, "pod-" + app, "default", {{"app", app}}},
                                              {"cont-" + app, "main", "", cg->id(), cg->path()}));
  return cg;
}

absl::StatusOr<PodsAB> FilterWithPodsAB(const std::string& cgroup_prefix) {
  PodsAB p;
  TGD_ASSIGN_OR_RETURN(p.filter, InMemoryPolicyFilter());
  TGD_ASSIGN_OR_RETURN(p.a, AddTestPod(p.filter.get(), "a", cgroup_prefix + "-a"));
  TGD_ASSIGN_OR_RETURN(p.b, AddTestPod(p.filter.get(), "b", cgroup_prefix + "-b"));
  return p;
}

std::string SyscallTracepointsSkipReason() {
  if (access("/sys/kernel/tracing/events/syscalls", F_OK) != 0 &&
      access("/sys/kernel/debug/tracing/events/syscalls", F_OK) != 0) {
    return "tracefs is not mounted (mount -t tracefs tracefs /sys/kernel/tracing)";
  }
  return "";
}

absl::StatusOr<OnePod> FilterWithPod(const std::string& app, const std::string& cgroup) {
  OnePod p;
  TGD_ASSIGN_OR_RETURN(p.filter, InMemoryPolicyFilter());
  TGD_ASSIGN_OR_RETURN(p.cg, AddTestPod(p.filter.get(), app, cgroup));
  return p;
}

absl::StatusOr<std::string> PrivateCopy(const std::string& src, const std::string& name) {
  std::string dst = absl::StrCat("/tmp/", name, "-", getpid());
  std::error_code ec;
  std::filesystem::copy_file(src, dst, std::filesystem::copy_options::overwrite_existing, ec);
  if (ec) return absl::InternalError(absl::StrCat("copying ", src, " to ", dst, ": ", ec.message()));
  if (chmod(dst.c_str(), 0755) != 0) return absl::InternalError(absl::StrCat("chmod ", dst));
  return dst;
}

absl::StatusOr<std::unique_ptr<DispatchBackend>> CreateTestBackend(const std::string& loader, EventBus* bus,
                                                                   PolicyFilterState* filter, DispatchOptions o) {
  o.bus = bus;
  o.filter = filter;
  o.node_name = "test-node";
  o.start_reader = false;
  return loader == "dispatch" ? DispatchBackend::Create(std::move(o)) : PerPolicyBackend::Create(std::move(o));
}

std::string LibcPath() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    size_t at = line.find('/');
    if (at != std::string::npos && line.find("/libc.so.6") != std::string::npos) return line.substr(at);
  }
  return "";
}

void RunInCgroupExpectExit0(TestCgroup& cg, std::function<int()> fn) {
  auto pid = cg.SpawnFn(std::move(fn));
  ASSERT_TRUE(pid.ok()) << pid.status();
  auto st = WaitChild(*pid);
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << "child status " << *st;
}

const std::vector<std::vector<tetragon::KprobeArgument>>& TracepointArgsByPolicy::Of(const std::string& policy) {
  while (backend_->PollOnce(50) > 0) {
  }
  EventBus::Event ev;
  while (sub_->Next(&ev, absl::Now() + absl::Milliseconds(100))) {
    if (ev->has_process_tracepoint()) {
      const auto& a = ev->process_tracepoint().args();
      got_[ev->process_tracepoint().policy_name()].emplace_back(a.begin(), a.end());
    }
  }
  return got_[policy];
}

}  // namespace tgd::testing
