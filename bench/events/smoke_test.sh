#!/bin/bash
# Smoke test of the events benchmark: one short run of every benchmark; fails
# when a benchmark errors or reports no throughput.
set -euo pipefail
bin="$1"
out="$("$bin" --benchmark_min_time=0.01 2>&1)" || { echo "$out"; exit 1; }
echo "$out"
if grep -q "ERROR OCCURRED" <<<"$out"; then
  if [[ "$(id -u)" != 0 ]]; then
    echo "SKIP: BM_Pipeline needs root (BPF); component benchmarks ran"
    exit 0
  fi
  exit 1
fi
for b in BM_Pipeline/0 BM_Pipeline/1 BM_EncodeFast BM_EncodeProtobufMessageToJson; do
  grep -q "^$b .*items_per_second=" <<<"$out" || { echo "missing throughput for $b"; exit 1; }
done
