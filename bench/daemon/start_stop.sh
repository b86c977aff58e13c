#!/bin/bash
# Start-to-API and shutdown times of `tgdispatch serve` with N policies in
# --policy-dir (as root; prints the figures, writes nothing to RESULTS.md):
#
#   sudo bench/daemon/start_stop.sh 1000
#
# N small policies (one tracepoint each, matchBinaries on a path that never
# runs) spread over N/50 syscall tracepoints (a workload runs at most 64
# policies per hook). Figures:
# - serving: start -> the unix socket accepts (GetHealth answers from then on);
# - loaded: start -> the log says --policy-dir is loaded;
# - shutdown: SIGTERM -> exit (the daemon's own breakdown is in its log line
#   "stopped in ..."). The first run keeps enforcement (the default): its
#   shutdown detaches nothing;
# - then a restart over the first run's pins (--state-dir and --bpf-dir
#   kept): serving, loaded, and the time to detach the first run's programs
#   once this run's are loaded; it runs with --keep-sensors-on-exit=false, so
#   its shutdown detaches everything (the uninstall-style exit).
set -euo pipefail
cd "$(dirname "$0")/../.."
n="${1:-1000}"
per_hook="${PER_HOOK:-50}"  # policies per tracepoint (PER_HOOK=5: 5x as many hooks)
[[ "$(id -u)" == 0 ]] || { echo "start_stop.sh: run as root" >&2; exit 1; }
# Default (fastbuild) configuration: -c opt trips a g++ 12 -Werror=restrict false positive in
# sensor/metrics/registry.cc; the figures are dominated by kernel work anyway.
bazel build //sensor:tgdispatch >/dev/null 2>&1
bin="$PWD/bazel-bin/sensor/tgdispatch"
work="$(mktemp -d /tmp/tgd-start-stop.XXXXXX)"
sock="$work/api.sock"
bpf="/sys/fs/bpf/tgd-start-stop-$$"
pid=""
trap '[[ -n "$pid" ]] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }; "$bin" cleanup --bpf-dir="$bpf" --state-dir="$work/state" >/dev/null 2>&1 || true; rm -rf "$work"; rm -rf "$bpf"' EXIT
mkdir -p "$work/policies"
mapfile -t events < <(ls /sys/kernel/tracing/events/syscalls | grep '^sys_enter_' | sort)
for ((i = 0; i < n; i++)); do
  ev="${events[$((i / per_hook))]}"
  printf 'apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: p%d\nspec:\n  tracepoints:\n  - subsystem: syscalls\n    event: %s\n    selectors:\n    - matchBinaries:\n      - operator: In\n        values: ["/nonexistent/bench"]\n' \
    "$i" "$ev" > "$work/policies/p$i.yaml"
done
ms() { date +%s%3N; }
echo "policies: $n ($(( (n + per_hook - 1) / per_hook )) hooks), kernel $(uname -r), $(nproc) CPUs, commit $(git rev-parse --short=12 HEAD)"
# run LABEL EXTRA_FLAGS...: one start, load and SIGTERM; prints the figures.
run() {
  local label="$1"; shift
  local log="$work/log.$label"
  rm -f "$sock"
  local t0; t0=$(ms)
  "$bin" serve --server-address="unix://$sock" --bpf-dir="$bpf" --state-dir="$work/state" \
    --policy-dir="$work/policies" --process-events=false --metrics-address= --log-level=debug "$@" >"$log" 2>&1 &
  pid=$!
  until [[ -S "$sock" ]]; do kill -0 "$pid" || { cat "$log"; exit 1; }; sleep 0.01; done
  local t_serving; t_serving=$(ms)
  until grep -q -- '--policy-dir: .* files read' "$log"; do kill -0 "$pid" || { cat "$log"; exit 1; }; sleep 0.1; done
  local t_loaded; t_loaded=$(ms)
  local loaded_line; loaded_line="$(grep -- '--policy-dir: .* files read' "$log" | sed 's/.*\] //')"
  if grep -q 'earlier run(s) left' "$log"; then
    until grep -q 'of earlier runs' "$log"; do kill -0 "$pid" || { cat "$log"; exit 1; }; sleep 0.05; done
  fi
  local t_term; t_term=$(ms)
  kill -TERM "$pid"
  wait "$pid" || true
  pid=""
  local t_exit; t_exit=$(ms)
  echo "[$label $*]"
  echo "  serving:  $((t_serving - t0)) ms after start"
  echo "  loaded:   $((t_loaded - t0)) ms after start ($loaded_line)"
  grep 'of earlier runs' "$log" | sed "s/.*\] /  retired:  /" || true
  echo "  shutdown: $((t_exit - t_term)) ms ($(grep 'stopped in' "$log" | sed 's/.*\] //'))"
  grep -E "detached in|hooks closed in|left enforcing" "$log" | sed "s/.*\] /    /" || true
}
run first-start
run restart --keep-sensors-on-exit=false
