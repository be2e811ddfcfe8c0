#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test.sh - set up and run every credfs test, on a fresh machine too.
#
#   scripts/test.sh               everything, then a 5 s run of every fuzz target
#   scripts/test.sh -L unit       extra arguments go to ctest
#
# Installs what is missing (scripts/deps.sh), builds into build/, starts one
# scratch PostgreSQL that every integration test shares (they run one at a
# time: each cleans up the v-% roles it leaves), runs ctest and exits with
# its status. PostgreSQL is stopped and its directory removed on exit.
set -euo pipefail

cd "$(dirname "$0")/.."

scripts/deps.sh

echo "test.sh: building into build/"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCREDFS_TEST_HOOKS=ON
cmake --build build -j2

pgdir=$(mktemp -d /tmp/credfs-test-pg.XXXXXX)
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	scripts/pg-scratch.sh stop "$pgdir" || true
	rm -rf "$pgdir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PG_SCRATCH_FAST=1 scripts/pg-scratch.sh start "$pgdir"
eval "$(scripts/pg-scratch.sh env "$pgdir")"

rc=0
ctest --test-dir build --output-on-failure "$@" || rc=$?

# The short fuzzing run (every libFuzzer target for FUZZ_SECONDS, 5 s
# here) when the whole suite was asked for; 77 = no clang, skipped.
if [ $# -eq 0 ]; then
	frc=0
	FUZZ_SECONDS=${FUZZ_SECONDS:-5} scripts/fuzz.sh || frc=$?
	if [ "$frc" -eq 77 ]; then
		echo "test.sh: fuzzing skipped (no clang)"
	elif [ "$frc" -ne 0 ]; then
		echo "test.sh: fuzzing FAILED (exit $frc)"
		rc=1
	fi
fi
exit "$rc"
