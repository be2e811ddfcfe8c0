#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check-format.sh - fail if a C file is not formatted; exit 77 without clang-format.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "clang-format missing: skipped"; exit 77; }
bad=0
for f in $(git ls-files '*.c' '*.h'); do
	if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f (run scripts/format.sh)"
		bad=1
	fi
done
exit "$bad"
