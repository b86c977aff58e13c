#!/usr/bin/env bash
# Runs the libFuzzer binary of the policy parser briefly (see BUILD.bazel):
# seeds are the example policies; new inputs go to a scratch corpus that is
# removed afterwards. libFuzzer exits non-zero on a crash, a sanitizer
# report, a leak, a timeout or the RSS limit.
set -euo pipefail
fuzzer="$1"
corpus="$(mktemp -d)"
trap 'rm -rf "$corpus"' EXIT
"$fuzzer" -max_total_time=15 -timeout=10 -rss_limit_mb=1024 -max_len=65536 \
  -print_final_stats=1 "$corpus" testdata/policies/valid testdata/policies/invalid 2>&1 | tail -20
exit "${PIPESTATUS[0]}"
