#!/usr/bin/env bash
# Installs what is missing, then builds and runs the whole test suite
# (`bazel test //...`). Root tests run when invoked as root; elsewhere they
# skip with a printed reason. Extra arguments go to `bazel test`.
# The last line counts individual test cases over every test target:
#   "tests: N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh || exit 1

log=$(mktemp)
trap 'rm -f "$log"' EXIT
bazel test --test_summary=short //... "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

# Per-case counts from each target's JUnit XML (gtest writes one case per
# TEST; other test kinds get one synthetic case from Bazel).
targets=$(grep -oE '^//[^ ]+' "$log" | sort -u)
# The test logs of this configuration (the bazel-testlogs symlink follows
# whatever was built last, e.g. a -c opt benchmark build).
testlogs=$(bazel info bazel-testlogs "$@" 2>/dev/null || echo bazel-testlogs)
passed=0 failed=0 skipped=0 targets_failed=0
for t in $targets; do
  xml="$testlogs/${t#//}"; xml="${xml/://}/test.xml"
  if ! grep -qE "^$t\s+(\(cached\) )?PASSED" "$log"; then targets_failed=$((targets_failed + 1)); fi
  [[ -f $xml ]] || continue
  read -r p f s < <(awk '
    /<testcase / { open = 1; fail = 0; skip = 0 }
    open && /<failure|<error/ { fail = 1 }
    open && /result="skipped"|<skipped/ { skip = 1 }
    open && (/<testcase [^>]*\/>/ || /<\/testcase>/) {
      if (fail) f++; else if (skip) s++; else p++; open = 0 }
    END { print p + 0, f + 0, s + 0 }' "$xml")
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done
echo "bazel test exit code: $rc (test targets not passing: $targets_failed)"
if [[ $rc -ne 0 && $failed -eq 0 ]]; then failed=$((targets_failed > 0 ? targets_failed : 1)); fi
echo "tests: ${passed} passed, ${failed} failed, ${skipped} skipped"
exit "$rc"
