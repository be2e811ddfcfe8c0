#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_stale.sh - restart resilience (issue 11 item 5): a credfs killed with
# kill -9 leaves its mount dead (every access fails with ENOTCONN); started
# again with the same command line, credfs detaches the dead mount, says so
# in its log, mounts anew and serves what its state holds. A process whose
# working directory is the mount point's parent (a shell, a container
# runtime's bind source) sees the new mount at its next lookup. The same
# for a daemonized credfs, for one run by an unprivileged user (detached
# with fusermount3 -u -z), and with -o auto_unmount (the mount goes away
# with the daemon; libfuse 3.14 runs fusermount3 as a watchdog for it, even
# as root). A dead mount of another file system is left alone.
# shellcheck disable=SC2119,SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null 2>&1 || skip "setpriv missing (util-linux)"

M=$T_DIR/m
mkdir -p "$M" "$CREDFS_STATE"
chmod 0700 "$CREDFS_STATE"
MNT=$M # the cleanup unmounts it
ARGS=(--state "$CREDFS_STATE" --key-file "$T_DIR/credfs.key" --audit-log "$T_DIR/audit.log")

# start [ARGS...] - credfs -f with the test's fixed command line on $M.
start() {
	echo "=== credfs $* $M" >>"$CREDFS_LOG"
	"$CREDFS_BIN" -f "${ARGS[@]}" "$@" "$M" 2>>"$CREDFS_LOG" </dev/null &
	CREDFS_PID=$!
	wait_until 10 _mount_ready || fail "credfs did not mount at $M within 10 s"
}
# kill9 - what a crash does: no unmount.
kill9() {
	kill -KILL "$CREDFS_PID" 2>/dev/null || true
	wait "$CREDFS_PID" 2>/dev/null || true # a daemonized credfs is no child of ours:
	wait_until 5 _daemon_gone || fail "credfs $CREDFS_PID outlived kill -9"
	CREDFS_PID=
}
# dead [DIR] - DIR ($M) is a dead mount: stat fails with ENOTCONN.
dead() {
	local out
	out=$(stat "${1:-$M}" 2>&1) && return 1
	[[ $out == *"Transport endpoint is not connected"* ]]
}
mount_count() { grep -cF " $M fuse" /proc/self/mounts || true; }
unmounted() { [ "$(mount_count)" = 0 ]; }
detached_lines() { grep -c 'was a dead credfs mount' "$CREDFS_LOG" || true; }

start
setup_seed_conn wizard || fail "writing config/wizard failed: $(last_error)"
setup_seed_role db-app 1h 24h || fail "writing roles/db-app failed: $(last_error)"
role_before=$(cat "$M/roles/db-app")

# A process in the parent directory, asked to look again after the restart.
mkfifo "$T_DIR/go"
(
	cd "$T_DIR" || exit 1
	exec python3 -c '
import json, os, sys
open("go").read()
try:
    names = sorted(os.listdir("m"))
    with open("m/creds/db-app") as f:
        user = json.load(f)["data"]["username"]
    print(" ".join(names), user)
except OSError as e:
    print("error", e)
' >"$T_DIR/parent.out" 2>&1
) &
parent_pid=$!

kill9
check "after kill -9 the mount point is dead (ENOTCONN)" dead
check_eq "one (dead) mount at the mount point" 1 "$(mount_count)"

start
check "restarted with the same command line: it mounts" test -d "$M/config"
check_eq "the dead mount was replaced, not mounted over" 1 "$(mount_count)"
check_eq "the log says the dead mount was detached" 1 "$(detached_lines)"
check_eq "roles/db-app is served again" "$role_before" "$(cat "$M/roles/db-app" 2>&1)"
creds=$(cat "$M/creds/db-app") || fail "cat creds/db-app after the restart failed: $(last_error)"
check "a credential issued after the restart logs in" \
	can_login "$(jq -r .data.username <<<"$creds")" "$(jq -r .data.password <<<"$creds")"
echo go >"$T_DIR/go"
wait "$parent_pid" || true
check_match "a process in the parent directory sees the new mount and gets a credential" \
	"$(cat "$T_DIR/parent.out")" '^config creds errors leases metrics .* roles .*rotate-root .*v-python'

# A restart of a live mount is no restart: nothing is detached.
kill -TERM "$CREDFS_PID"
wait "$CREDFS_PID" || fail "credfs did not exit 0 on SIGTERM"
CREDFS_PID=
check_eq "SIGTERM unmounts" 0 "$(mount_count)"

# Daemonized (no -f): the same.
echo "=== credfs (daemon) $M" >>"$CREDFS_LOG"
"$CREDFS_BIN" "${ARGS[@]}" "$M" 2>>"$CREDFS_LOG" </dev/null || fail "credfs (daemonized) failed to start"
CREDFS_PID=$(pgrep -f -n -- "^$CREDFS_BIN .*$M\$" || true)
check "daemonized: it serves" test -d "$M/config"
[ -n "$CREDFS_PID" ] && kill9
check "daemonized: after kill -9 the mount point is dead" dead
"$CREDFS_BIN" "${ARGS[@]}" "$M" 2>>"$CREDFS_LOG" </dev/null || fail "credfs (daemonized) failed to restart"
CREDFS_PID=$(pgrep -f -n -- "^$CREDFS_BIN .*$M\$" || true)
check "daemonized: restarted, it serves roles/db-app" test -s "$M/roles/db-app"
check_eq "daemonized: one mount" 1 "$(mount_count)"
[ -n "$CREDFS_PID" ] && kill -TERM "$CREDFS_PID"
wait_until 10 _daemon_gone || fail "daemonized credfs did not exit on SIGTERM"
CREDFS_PID=

# -o auto_unmount: the mount goes with the daemon, and a restart mounts as usual.
start -o auto_unmount
check "auto_unmount: fusermount3 watches the mount" pgrep -f "fusermount3 .*auto_unmount.* $M\$"
kill9
check "auto_unmount: the mount is gone after kill -9 (within 20 s)" \
	wait_until 20 unmounted
start -o auto_unmount
check "auto_unmount: restarted, it serves" test -s "$M/roles/db-app"
kill -TERM "$CREDFS_PID"
wait "$CREDFS_PID" || fail "credfs did not exit 0 on SIGTERM"
CREDFS_PID=

# An unprivileged user's credfs: detached with fusermount3 -u -z.
U=$T_DIR/user
mkdir -p "$U/m"
chown -R 65534:65534 "$U"
ustart() {
	setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$U" \
		"$CREDFS_BIN" -f --state "$U/s" "$U/m" 2>>"$CREDFS_LOG" </dev/null &
	CREDFS_PID=$!
	wait_until 10 test -d "$U/m/config"
}
MNT=$U/m
if ustart; then
	kill9
	check "user mount: dead after kill -9" dead "$U/m"
	check "user mount: restarted, it serves" ustart
	check_eq "user mount: one mount" 1 "$(grep -cF " $U/m fuse" /proc/self/mounts || true)"
	kill -TERM "$CREDFS_PID"
	wait "$CREDFS_PID" || fail "the user's credfs did not exit 0 on SIGTERM"
	CREDFS_PID=
else
	echo "an unprivileged FUSE mount is not possible here: that part skipped"
	kill9
fi

# A dead mount that is not credfs's is refused, and left as it is.
MNT=$T_DIR/other
mkdir -p "$MNT"
python3 - "$MNT" <<'EOF' &
import os, sys, time
# A minimal FUSE mount that answers nothing: open /dev/fuse and mount it.
fd = os.open("/dev/fuse", os.O_RDWR)
opts = "fd=%d,rootmode=40000,user_id=0,group_id=0" % fd
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
if libc.mount(b"other", sys.argv[1].encode(), b"fuse.other", 0, opts.encode()) != 0:
    sys.exit(1)
time.sleep(0.5)
EOF
other_pid=$!
wait "$other_pid" || true # its exit closes /dev/fuse: the mount is dead
if dead "$MNT"; then
	out=$("$CREDFS_BIN" -f "${ARGS[@]}" "$MNT" 2>&1 </dev/null) && fail "credfs mounted over another file system's dead mount"
	check_match "another file system's dead mount is refused with a reason" "$out" \
		'dead mount of fuse.other \(other\), not of credfs'
	check "and left in place" grep -qF " $MNT fuse.other" /proc/self/mounts
	umount -l "$MNT"
else
	echo "could not make another file system's dead mount here: that part skipped"
fi
MNT=

finish
