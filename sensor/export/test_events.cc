// Golden events (see test_events.h). Changing them means regenerating
// testdata/export/events.jsonl (the test prints the new lines on mismatch).
#include "sensor/export/test_events.h"

#include <cstdlib>

#include "google/protobuf/text_format.h"

namespace tgd {
namespace testing {
namespace {

tetragon::GetEventsResponse Parse(const char* text) {
  tetragon::GetEventsResponse ev;
  if (!google::protobuf::TextFormat::ParseFromString(text, &ev)) std::abort();
  return ev;
}

// base64("node-a:1234567890123:4242") and its parent's
// base64("node-a:1230000000000:4100").
constexpr char kCurl[] = R"pb(
  process {
    exec_id: "bm9kZS1hOjEyMzQ1Njc4OTAxMjM6NDI0Mg=="
    pid { value: 4242 }
    uid { value: 1000 }
    cwd: "/home/app"
    binary: "/usr/bin/curl"
    arguments: "-s \"https://example.com/a b\" -H \"X: \\\\t\""
    flags: "execve clone"
    start_time { seconds: 1732356000 nanos: 123456789 }
    auid { value: 4294967295 }
    pod {
      namespace: "default"
      name: "web-7d9f8"
      container {
        id: "containerd://3f2a9c"
        name: "web"
        image { id: "docker.io/library/nginx@sha256:0d17" name: "docker.io/library/nginx:1.27" }
        start_time { seconds: 1732355000 }
        pid { value: 12 }
      }
      pod_labels { key: "app" value: "web" }
      pod_labels { key: "tier" value: "frontend" }
      workload: "web"
      workload_kind: "Deployment"
    }
    docker: "3f2a9c"
    parent_exec_id: "bm9kZS1hOjEyMzAwMDAwMDAwMDA6NDEwMA=="
    cap { permitted: CAP_CHOWN permitted: CAP_NET_RAW effective: CAP_NET_RAW }
    ns { uts { inum: 4026531838 is_host: true } net { inum: 4026532299 } }
    tid { value: 4242 }
    process_credentials { uid { value: 1000 } gid { value: 1000 } euid { value: 0 } egid { value: 0 } }
    in_init_tree { value: false }
  }
  parent {
    exec_id: "bm9kZS1hOjEyMzAwMDAwMDAwMDA6NDEwMA=="
    pid { value: 4100 }
    uid { value: 1000 }
    cwd: "/home/app"
    binary: "/bin/sh"
    arguments: "-c curl -s https://example.com"
    flags: "execve"
    start_time { seconds: 1732355999 nanos: 500000000 }
    parent_exec_id: "bm9kZS1hOjE6MQ=="
    tid { value: 4100 }
  })pb";

}  // namespace

tetragon::GetEventsResponse GoldenExec() {
  tetragon::GetEventsResponse ev = Parse(
      "node_name: 'node-a' time { seconds: 1732356000 nanos: 123456789 }");
  google::protobuf::TextFormat::ParseFromString(kCurl, ev.mutable_process_exec());
  return ev;
}

tetragon::GetEventsResponse GoldenExit() {
  tetragon::GetEventsResponse ev = Parse(
      "node_name: 'node-a' time { seconds: 1732356001 nanos: 5000 }");
  auto* exit = ev.mutable_process_exit();
  tetragon::ProcessExec exec = GoldenExec().process_exec();
  *exit->mutable_process() = exec.process();
  *exit->mutable_parent() = exec.parent();
  exit->set_signal("SIGKILL");
  exit->set_status(0);
  *exit->mutable_time() = ev.time();
  return ev;
}

tetragon::GetEventsResponse GoldenTracepoint() {
  tetragon::GetEventsResponse ev = Parse(R"pb(
    node_name: "node-a"
    time { seconds: 1732356000 nanos: 700000000 }
    process_tracepoint {
      subsys: "syscalls"
      event: "sys_enter_openat"
      args { long_arg: -100 }
      args { string_arg: "/etc/shadow" label: "pathname" }
      args { int_arg: 524288 }
      args { size_arg: 18446744073709551615 }
      args { bytes_arg: "\x00\x01\xfe\xff" }
      policy_name: "watch-secrets"
      action: KPROBE_ACTION_POST
      tags: "secrets"
      tags: "observability.filesystem"
    })pb");
  tetragon::ProcessExec exec = GoldenExec().process_exec();
  *ev.mutable_process_tracepoint()->mutable_process() = exec.process();
  *ev.mutable_process_tracepoint()->mutable_parent() = exec.parent();
  return ev;
}

std::vector<tetragon::GetEventsResponse> GoldenEvents() {
  return {GoldenExec(), GoldenExit(), GoldenTracepoint()};
}

}  // namespace testing
}  // namespace tgd
