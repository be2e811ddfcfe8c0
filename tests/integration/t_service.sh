#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_service.sh - credfs as a service (issue 11 item 5):
#   mount(8)  `mount -t fuse.credfs credfs MNT -o state=...,key_file=...`
#             and an /etc/fstab line go through Debian's mount.fuse3, which
#             runs `credfs SOURCE MNT -o OPTIONS` (adding dev,suid): the tree
#             answers, nodev,nosuid,noexec win, `umount` ends the daemon
#   syslog    a daemonized credfs (no -f) logs to syslog, not to the
#             /dev/null its stderr became
#   systemd   Type=notify: READY=1 on $NOTIFY_SOCKET (abstract "@name" and
#             a path) only once the mount is in the mount table, STOPPING=1
#             on SIGTERM, nothing when the start fails
#
# mount(8) drops PATH before it runs its helper, so mount.fuse3's /bin/sh
# finds credfs only in the default PATH (/usr/local/sbin:...). The test runs
# in a private mount namespace where /usr/local/sbin is a directory holding
# a link to the built credfs: the host's is untouched.
# shellcheck disable=SC2119,SC2317
if [ -z "${T_SERVICE_NS:-}" ] && [ "$(id -u)" -eq 0 ]; then
	if unshare --mount --propagation private true 2>/dev/null; then
		exec unshare --mount --propagation private env T_SERVICE_NS=1 bash "$0" "$@"
	fi
	echo "SKIP: cannot make a private mount namespace (unshare --mount)"
	exit 77
fi
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v mount.fuse3 >/dev/null 2>&1 || [ -x /sbin/mount.fuse3 ] || skip "mount.fuse3 missing (fuse3)"
command -v mountpoint >/dev/null 2>&1 || skip "mountpoint missing (util-linux)"

mkdir -p "$T_DIR/bin" "$CREDFS_STATE"
chmod 0700 "$CREDFS_STATE"
ln -s "$CREDFS_BIN" "$T_DIR/bin/credfs"
mount --bind "$T_DIR/bin" /usr/local/sbin || skip "cannot bind-mount over /usr/local/sbin"
KEY=$T_DIR/credfs.key
AUDIT=$T_DIR/audit.log
M=$T_DIR/m
mkdir -p "$M"

mnt_has() { grep -F " $1 " /proc/self/mountinfo | grep -qw -- "$2"; }
daemon_of() { pgrep -f -n -- "credfs .*$1" || true; }
mnt_field() { awk -v m="$1" -v f="$2" '$5 == m { v = $f } END { print v }' /proc/self/mountinfo; }
mnt_type() { awk -v m="$1" '$5 == m { for (i = 7; i <= NF; i++) if ($i == "-") { v = $(i + 1) } } END { print v }' /proc/self/mountinfo; }

# ---- mount -t fuse.credfs --------------------------------------------------------
MNT=$M
mount -t fuse.credfs credfs "$M" \
	-o "state=$CREDFS_STATE,key_file=$KEY,audit_log=$AUDIT,allow_other,dev,suid,exec" \
	2>>"$CREDFS_LOG" || fail "mount -t fuse.credfs failed: $(tail -n 3 "$CREDFS_LOG")"
CREDFS_PID=$(daemon_of "$M")
check "mount -t fuse.credfs: mounted" mountpoint -q "$M"
check_eq "the type is fuse.credfs" fuse.credfs "$(mnt_type "$M")"
opts=$(mnt_field "$M" 6)
check_match "nodev,nosuid,noexec win over the helper's dev,suid and the user's exec" \
	"$opts" '(^|,)nosuid,nodev,noexec(,|$)'
check "the daemon runs (daemonized by mount)" test -n "$CREDFS_PID"
check "the tree answers" test -d "$M/creds"
setup_seed_conn wizard || fail "writing config/wizard failed: $(last_error)"
setup_seed_role db-app 1h 24h || fail "writing roles/db-app failed: $(last_error)"
creds=$(cat "$M/creds/db-app") || fail "cat creds/db-app failed: $(last_error)"
check "a credential from the mount(8) mount logs in" \
	can_login "$(jq -r .data.username <<<"$creds")" "$(jq -r .data.password <<<"$creds")"
check "audit_log= took effect" grep -q '"issue"' "$AUDIT"
check "the audit line of the issue names the holder's namespaces" \
	jq -se 'map(select(.action == "issue"))[0].holder.namespaces.pid > 0' "$AUDIT"
check "state= and key_file= took effect" test -s "$KEY" -a -s "$CREDFS_STATE/journal"
check "allow_other reached FUSE" mnt_has "$M" allow_other
umount "$M" || fail "umount $M failed"
check "umount: unmounted" not mountpoint -q "$M"
check "umount: the daemon exits" wait_until 10 _daemon_gone

# ---- /etc/fstab ----------------------------------------------------------------------
printf 'credfs %s fuse.credfs noauto,state=%s,key_file=%s,audit_log=%s 0 0\n' \
	"$M" "$CREDFS_STATE" "$KEY" "$AUDIT" >"$T_DIR/fstab"
mount --fstab "$T_DIR/fstab" "$M" 2>>"$CREDFS_LOG" || fail "mount of the fstab line failed"
CREDFS_PID=$(daemon_of "$M")
check "fstab: mounted" mountpoint -q "$M"
check_eq "fstab: the state came back (roles/db-app)" db-app "$(ls "$M/roles" 2>&1)"
umount "$M" || fail "umount $M failed"
check "fstab: the daemon exits on umount" wait_until 10 _daemon_gone
CREDFS_PID=

# ---- syslog -------------------------------------------------------------------------
# Daemonized, credfs's stderr is /dev/null: its messages go to syslog. A
# nested mount namespace with a /dev of its own gets a /dev/log to listen on.
SYSLOG_OUT=$T_DIR/syslog.out
unshare --mount --propagation private bash -s "$CREDFS_BIN" "$CREDFS_STATE" "$KEY" "$M" \
	"$SYSLOG_OUT" <<'EOF' 2>>"$CREDFS_LOG" || fail "the syslog part failed to run"
set -e
bin=$1 state=$2 key=$3 mnt=$4 out=$5
mount -t tmpfs -o mode=0755 tmpfs /dev
mknod -m 666 /dev/null c 1 3
mknod -m 666 /dev/urandom c 1 9
mknod -m 600 /dev/fuse c 10 229
ln -s /proc/self/fd /dev/fd
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
s.settimeout(20)
with open(sys.argv[1], "w", buffering=1) as f:
    try:
        while True:
            m = s.recv(4096).decode(errors="replace")
            f.write(m + "\n")
            if "unmounting" in m:
                break
    except socket.timeout:
        f.write("timeout\n")
' "$out" &
listener=$!
for _ in $(seq 50); do [ -S /dev/log ] && break; sleep 0.1; done
"$bin" --state "$state" --key-file "$key" "$mnt"
ls "$mnt/roles" >/dev/null
umount "$mnt"
wait "$listener"
EOF
check "daemonized: its messages reach syslog, as credfs[PID], facility daemon" \
	grep -qE '^<30>.*credfs\[[0-9]+\]: mounted at '"$M"'$' "$SYSLOG_OUT"
check "daemonized: the shutdown is in syslog too" grep -q "unmounting $M" "$SYSLOG_OUT"

# ---- NOTIFY_SOCKET -------------------------------------------------------------------
# listen SOCKET - print each datagram with "mounted" or "not-mounted" (the
# mount table when it arrived) to $T_DIR/notify.out until STOPPING=1 or 30 s.
listen() {
	rm -f "$T_DIR/notify.out" "$T_DIR/notify.ready"
	python3 - "$1" "$M" "$T_DIR/notify.out" "$T_DIR/notify.ready" <<'EOF' &
import os, socket, sys, time
addr, mnt, out, ready = sys.argv[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
open(ready, "w").close()
s.settimeout(30)
def mounted():
    with open("/proc/self/mountinfo") as f:
        return any(l.split()[4] == mnt for l in f)
with open(out, "w", buffering=1) as f:
    try:
        while True:
            msg = s.recv(4096).decode()
            f.write("%s %s\n" % (msg.replace("\n", ";"), "mounted" if mounted() else "not-mounted"))
            if "STOPPING=1" in msg:
                break
    except socket.timeout:
        f.write("timeout\n")
EOF
	LISTEN_PID=$!
	wait_until 5 test -e "$T_DIR/notify.ready" || fail "the notify listener did not start"
}

for sock in "@credfs-t-service-$$" "$T_DIR/notify.sock"; do
	MNT=$M
	listen "$sock"
	NOTIFY_SOCKET=$sock "$CREDFS_BIN" -f --state "$CREDFS_STATE" --key-file "$KEY" "$M" \
		2>>"$CREDFS_LOG" </dev/null &
	CREDFS_PID=$!
	check "$sock: READY=1 arrives" wait_until 10 grep -q READY=1 "$T_DIR/notify.out"
	check_eq "$sock: READY=1 only once the mount is up" "READY=1 mounted" \
		"$(grep READY "$T_DIR/notify.out")"
	check "$sock: the mount serves" test -s "$M/roles/db-app"
	kill -TERM "$CREDFS_PID"
	rc=0
	wait "$CREDFS_PID" || rc=$?
	CREDFS_PID=
	check_eq "$sock: SIGTERM ends credfs with 0" 0 "$rc"
	wait "$LISTEN_PID" || true
	check "$sock: STOPPING=1 on SIGTERM" grep -q '^STOPPING=1 ' "$T_DIR/notify.out"
	check_eq "$sock: two messages" 2 "$(wc -l <"$T_DIR/notify.out")"
done

# A start that fails says nothing: a key file others can read is refused.
listen "@credfs-t-service-fail-$$"
chmod 0644 "$KEY"
rc=0
NOTIFY_SOCKET=@credfs-t-service-fail-$$ "$CREDFS_BIN" -f --state "$CREDFS_STATE" --key-file "$KEY" \
	"$M" 2>>"$CREDFS_LOG" </dev/null || rc=$?
chmod 0600 "$KEY"
check "a refused start exits non-zero" test "$rc" -ne 0
python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b"STOPPING=1\nprobe", "\0" + sys.argv[1])' \
	"credfs-t-service-fail-$$"
wait "$LISTEN_PID" || true
check_eq "a refused start sends no READY=1" "STOPPING=1;probe not-mounted" "$(cat "$T_DIR/notify.out")"
MNT=

finish
