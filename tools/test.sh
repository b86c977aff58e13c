#!/usr/bin/env bash
# Installs what is missing, then builds and runs the whole test suite
# (`bazel test //...`). Root tests run when invoked as root; elsewhere they
# skip with a printed reason. Extra arguments go to `bazel test`.
set -uo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh || exit 1

log=$(mktemp)
trap 'rm -f "$log"' EXIT
bazel test --test_summary=short //... "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

passed=$(grep -cE '^//\S+\s+(\(cached\) )?PASSED' "$log")
failed=$(grep -cE '^//\S+\s+(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|INCOMPLETE)' "$log")
skipped=0
if [[ -d bazel-testlogs ]]; then
  skipped=$(find -L bazel-testlogs -name test.log -print0 2>/dev/null |
            xargs -0 grep -h '^\[  SKIPPED \] .*\.' 2>/dev/null | grep -vc 'listed below' || true)
fi
echo "bazel test exit code: $rc"
echo "test targets: ${passed} passed, ${failed} failed, ${skipped} skipped"
exit "$rc"
