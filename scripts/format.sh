#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# format.sh - format every C file with the project's .clang-format.
set -euo pipefail
cd "$(dirname "$0")/.."
git ls-files '*.c' '*.h' | xargs clang-format -i
