#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# sanitize.sh - the whole test suite (unit and integration) built with
# AddressSanitizer (with LeakSanitizer) and UndefinedBehaviorSanitizer.
#
#   scripts/sanitize.sh               everything
#   scripts/sanitize.sh -L unit       extra arguments go to ctest
#
# Installs what is missing (scripts/deps.sh), configures build-asan/ with
# -DCREDFS_SANITIZE=ON -DCREDFS_TEST_HOOKS=ON -DCMAKE_BUILD_TYPE=Debug (CC, default gcc), builds,
# starts one scratch PostgreSQL for the integration tests as
# scripts/test.sh does, and runs ctest against the instrumented credfs
# and unit tests.
#
# Every sanitizer report is written to build-asan/sanitizer/{asan,ubsan}.PID
# (log_path): a report from the daemon after its test has looked at it (a
# leak found at exit, a daemon stopped by a test's cleanup) would otherwise
# be lost with the test's temporary directory. The run fails if ctest fails
# or if any report file holds an error (ASan/LSan "ERROR:", UBSan "runtime
# error"); the reports are printed. To look past a known leak while it is
# being fixed: LSAN_OPTIONS=suppressions=FILE scripts/sanitize.sh (a line
# "leak:FUNCTION" in FILE; the counts used are printed at the end).
set -euo pipefail

cd "$(dirname "$0")/.."

scripts/deps.sh

B=build-asan
echo "sanitize.sh: building into $B/ (ASan + UBSan, Debug)"
CC=${CC:-gcc} cmake -S . -B "$B" -DCREDFS_SANITIZE=ON -DCREDFS_TEST_HOOKS=ON -DCMAKE_BUILD_TYPE=Debug
cmake --build "$B" -j"$(nproc)"

# The daemon may also run as another user (t_security): reports from it must
# land too, hence a sticky world-writable directory.
reports=$PWD/$B/sanitizer
rm -rf "$reports"
mkdir -p "$reports"
chmod 1777 "$reports"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:log_path=$reports/asan
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan

pgdir=$(mktemp -d /tmp/credfs-sanitize-pg.XXXXXX)
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	scripts/pg-scratch.sh stop "$pgdir" || true
	rm -rf "$pgdir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# PostgreSQL itself is not instrumented; keep the options away from it.
ASAN_OPTIONS='' UBSAN_OPTIONS='' PG_SCRATCH_FAST=1 scripts/pg-scratch.sh start "$pgdir"
eval "$(scripts/pg-scratch.sh env "$pgdir")"

rc=0
ctest --test-dir "$B" --output-on-failure "$@" || rc=$?

# A file with only "Suppressions used:" (LSAN_OPTIONS=suppressions=...) is no error.
found=$(grep -lE 'ERROR: |runtime error' -r "$reports" | sort || true)
suppressed=$(grep -l "Suppressions used" -r "$reports" | wc -l || true)
if [ "$suppressed" -gt 0 ]; then
	echo "sanitize.sh: $suppressed process(es) had leaks suppressed by LSAN_OPTIONS:"
	grep -h -A100 'Suppressions used' -r "$reports" | grep -E '^ +[0-9]+ +[0-9]+ ' |
		awk '{ n[$3] += $1; b[$3] += $2 } END { for (k in n) printf "  %s: %d leak(s), %d bytes\n", k, n[k], b[k] }'
fi
if [ -n "$found" ]; then
	echo
	echo "sanitize.sh: sanitizer reports:" >&2
	for f in $found; do
		echo "=== $f" >&2
		cat "$f" >&2
	done
	echo "sanitize.sh: $(echo "$found" | wc -l) process(es) with sanitizer errors: failed" >&2
	exit 1
fi
if [ "$rc" -ne 0 ]; then
	echo "sanitize.sh: ctest failed (status $rc), no sanitizer report" >&2
	exit "$rc"
fi
echo "sanitize.sh: all tests passed under ASan+LSan+UBSan, no sanitizer report"
