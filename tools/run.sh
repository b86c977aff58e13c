#!/usr/bin/env bash
# Installs what is missing, builds tgdispatch and runs `tgdispatch serve` on
# the embedded default: gRPC on localhost:54322, state under
# /sys/fs/bpf/tgdispatch (bpffs is mounted if needed). No Kubernetes needed.
# Extra arguments go to `tgdispatch serve` (e.g. --server-address=unix:///run/tgd.sock).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
bazel build //sensor:tgdispatch
# The embedded demo workloads (two pods, app=a and app=b, in cgroups the
# daemon creates and removes) unless the caller names a workloads file.
# The demo policies in testdata/demo act on those pods only.
args=()
case " $* " in *" --workloads"*) ;; *) args+=(--workloads=demo) ;; esac
case " $* " in *" --policy-dir"*) ;; *) args+=(--policy-dir=testdata/demo) ;; esac
exec bazel-bin/sensor/tgdispatch serve "${args[@]}" "$@"
