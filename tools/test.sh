#!/usr/bin/env bash
# Installs what is missing, then builds and runs the whole test suite
# (`bazel test //...`), then the unit tests (those not tagged "root"; the
# process cache's fork-storm test is one) again under ASan+UBSan
# (`--config=asan`), then the policy manager's concurrency tests under TSan
# (`--config=tsan`). Root tests run when invoked as
# root; elsewhere they skip with a printed reason. Extra arguments go to
# every `bazel test` run.
# The last line counts individual test cases over every test target of all
# runs: "tests: N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh || exit 1

log=$(mktemp)
asan_log=$(mktemp)
tsan_log=$(mktemp)
trap 'rm -f "$log" "$asan_log" "$tsan_log"' EXIT
passed=0 failed=0 skipped=0 targets_failed=0

# Adds the per-case counts of one run (its bazel output in $1, the bazel
# arguments of its configuration after it) to the totals. Per-case counts
# come from each target's JUnit XML (gtest writes one case per TEST; other
# test kinds get one synthetic case from Bazel).
count_run() {
  local out=$1; shift
  local targets testlogs t xml p f s
  targets=$(grep -oE '^//[^ ]+' "$out" | sort -u)
  # The test logs of this configuration (the bazel-testlogs symlink follows
  # whatever was built last, e.g. a -c opt benchmark build).
  testlogs=$(bazel info bazel-testlogs "$@" 2>/dev/null || echo bazel-testlogs)
  for t in $targets; do
    xml="$testlogs/${t#//}"; xml="${xml/://}/test.xml"
    if ! grep -qE "^$t\s+(\(cached\) )?PASSED" "$out"; then targets_failed=$((targets_failed + 1)); fi
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
}

bazel test --test_summary=short //... "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
count_run "$log" "$@"
echo "bazel test exit code: $rc (test targets not passing: $targets_failed)"

# The unit tests under ASan+UBSan (own output directory: the first run's
# outputs stay). Root tests are left out: they load BPF and spawn processes
# whose cost under ASan buys little (the sanitizers see only our code).
asan_args=(--config=asan --config=noroot --build_tests_only)
start=$SECONDS
bazel test --test_summary=short "${asan_args[@]}" //... "$@" 2>&1 | tee "$asan_log"
asan_rc=${PIPESTATUS[0]}
before=$targets_failed
count_run "$asan_log" "${asan_args[@]}" "$@"
echo "bazel test --config=asan exit code: $asan_rc (test targets not passing: $((targets_failed - before)); $((SECONDS - start)) s)"

# The policy manager's concurrency tests under TSan. The event bus's and the
# gRPC server's are left out: under TSan with Debian's uninstrumented
# protobuf and gRPC they crash or report gRPC's own buffer handoff (see
# tools/tsan/absl_sync_annotations.cc).
tsan_args=(--config=tsan)
start=$SECONDS
bazel test --test_summary=short "${tsan_args[@]}" "$@" \
  //sensor/policymgr:policy_manager_test 2>&1 | tee "$tsan_log"
tsan_rc=${PIPESTATUS[0]}
before=$targets_failed
count_run "$tsan_log" "${tsan_args[@]}" "$@"
echo "bazel test --config=tsan exit code: $tsan_rc (test targets not passing: $((targets_failed - before)); $((SECONDS - start)) s)"

if [[ $rc -eq 0 ]]; then rc=$asan_rc; fi
if [[ $rc -eq 0 ]]; then rc=$tsan_rc; fi
if [[ $rc -ne 0 && $failed -eq 0 ]]; then failed=$((targets_failed > 0 ? targets_failed : 1)); fi
echo "tests: ${passed} passed, ${failed} failed, ${skipped} skipped"
exit "$rc"
