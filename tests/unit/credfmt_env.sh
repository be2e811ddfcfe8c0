#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# credfmt_env.sh TEST_CREDFMT - creds/ROLE.env is read back byte for byte
# by `set -a; . FILE` in every POSIX shell here (sh, dash, bash, busybox
# sh), with the worst password (every printable ASCII byte) and a user
# name with quotes. No mount, no database: the file comes from
# `test_credfmt --print-env`. Exit 77 when no shell but bash is found.
set -euo pipefail
bin=${1:?usage: credfmt_env.sh TEST_CREDFMT}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$bin" --print-env >"$dir/env"

want_pw=$(printf '%s' "$(printf '%b' "$(printf '\\%03o' $(seq 32 126))")")
want_user="we:ird'us\"er"
fails=0 ran=0
for sh in sh dash bash "busybox sh"; do
	command -v "${sh%% *}" >/dev/null || continue
	if [ "$sh" = "busybox sh" ] && ! busybox sh -c : 2>/dev/null; then
		continue
	fi
	ran=$((ran + 1))
	# env -i: no PG* variable from this environment; the subshell sees only the file's
	got=$(env -i $sh -c 'set -a; . "$1"; exec env' sh "$dir/env")
	pw=$(printf '%s\n' "$got" | sed -n 's/^PGPASSWORD=//p')
	user=$(printf '%s\n' "$got" | sed -n 's/^PGUSER=//p')
	host=$(printf '%s\n' "$got" | sed -n 's/^PGHOST=//p')
	if [ "$pw" != "$want_pw" ] || [ "$user" != "$want_user" ] || [ "$host" != 127.0.0.1 ]; then
		echo "FAIL $sh: PGUSER=[$user] PGHOST=[$host] PGPASSWORD=[$pw]"
		fails=$((fails + 1))
	else
		echo "ok $sh"
	fi
done
[ "$ran" -gt 1 ] || { echo "no POSIX shell besides bash: skipped"; exit 77; }
exit "$fails"
