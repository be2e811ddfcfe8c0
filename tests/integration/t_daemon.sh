#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_daemon.sh - the daemon process under stress (engine v2):
#
#   shutdown   20 processes hold creds/s open (TTL 5 s); SIGTERM reaches the
#              daemon while all 20 are killed (kill -9) at the same moment:
#              the daemon exits with status 0 within 10 s, the mount is gone
#              from /proc/self/mounts, and its log has no sanitizer report
#              ("AddressSanitizer", "LeakSanitizer", "runtime error"; run it
#              with a CREDFS_SANITIZE build to make that mean something).
#              Restarted on the same state, every one of the 20 logins is
#              dropped within TTL + 5 s.
#   fd limit   a watch on the opener (a pidfd) that cannot be created fails
#              the open and issues nothing: the daemon's RLIMIT_NOFILE is
#              lowered (prlimit on the running daemon, the soft limit) to
#              leave it 4 free descriptors; then processes open creds/fdl one by
#              one and keep it open until an open fails: that open (and the
#              next, errno_of_read) returns an error, errors says "cannot
#              watch", and pg_roles has exactly as many logins of role fdl
#              as leases/fdl lists. With the limit back, opens work again.
#
# shellcheck disable=SC2016,SC2119,SC2317 # SC2016: jq programs and eval'd strings
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

S_TTL=5
HOLDERS=20
CREATE_ONLY='CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '"'"'{{password}}'"'"' VALID UNTIL '"'"'{{expiration}}'"'"';'
user_of() { jq -r .data.username <<<"$1"; }
KILL_PIDS=()
T_ON_EXIT+=('for p in "${KILL_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done')
# log_since_mount - the daemon's log since the last "=== credfs mount" line.
log_since_mount() {
	awk '/^=== credfs mount/ { buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }' "$CREDFS_LOG"
}
no_sanitizer_report() {
	! log_since_mount | grep -qE 'AddressSanitizer|LeakSanitizer|runtime error'
}

credfs_mount
setup_seed_conn wizard || fail "writing config/wizard failed: $(last_error)"
printf '%s\n' db_name=wizard "creation_statements=$CREATE_ONLY" default_ttl=${S_TTL}s max_ttl=2m \
	>"$MNT/roles/s" || fail "writing roles/s failed: $(last_error)"

# ==== shutdown while the holders exit =====================================================
S_PIDS=()
S_USERS=()
for _ in $(seq "$HOLDERS"); do
	hold_creds s open
	S_PIDS+=("$HOLD_PID")
	KILL_PIDS+=("$HOLD_PID")
	S_USERS+=("$(user_of "$HOLD_CREDS")")
done
check_eq "shutdown: $HOLDERS leases are listed" "$HOLDERS" "$(find "$MNT/leases/s" -mindepth 1 -maxdepth 1 | wc -l)"
T_TERM=$(_now_us)
kill -TERM "$CREDFS_PID" &
for p in "${S_PIDS[@]}"; do
	kill -KILL "$p" 2>/dev/null || true
done
wait $! 2>/dev/null || true
check "shutdown: the daemon exits within 10 s of SIGTERM" wait_until 10 _daemon_gone
echo "shutdown: daemon gone $((($(_now_us) - T_TERM) / 1000)) ms after SIGTERM"
if ! _daemon_gone; then
	kill -KILL "$CREDFS_PID" 2>/dev/null || true
fi
rc=0
wait "$CREDFS_PID" 2>/dev/null || rc=$?
check_eq "shutdown: the daemon's exit status" 0 "$rc"
check "shutdown: the mount is gone from /proc/self/mounts" not _mounted
check "shutdown: no sanitizer report in the daemon's log" no_sanitizer_report
for p in "${S_PIDS[@]}"; do
	wait "$p" 2>/dev/null || true
done
if _mounted; then
	fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT" 2>/dev/null || true
fi
rmdir "$MNT" 2>/dev/null || true
CREDFS_PID=
MNT=

credfs_mount
R=$(_now_us)
all_s_gone() {
	local u
	for u in "${S_USERS[@]}"; do
		role_gone "$u" || return 1
	done
}
s_left() {
	local u n=0
	for u in "${S_USERS[@]}"; do
		role_gone "$u" || n=$((n + 1))
	done
	echo "$n"
}
check "shutdown: after the restart all $HOLDERS logins are dropped within TTL + 5 s" \
	wait_until $((S_TTL + 5)) all_s_gone
echo "shutdown: $(s_left) of $HOLDERS logins left $((($(_now_us) - R) / 1000)) ms after the restart"
no_s_leases() { [ -z "$(find "$MNT/leases/s" -mindepth 1 -maxdepth 1 2>/dev/null)" ]; }
check "shutdown: leases/s is empty" wait_until 3 no_s_leases

# ==== fd limit ==============================================================================
# A connection of its own with one PostgreSQL connection at most, so that no
# pool connection is opened while the limit is low.
setup_seed_conn fdc max_open_connections=1 max_idle_connections=1 ||
	fail "writing config/fdc failed: $(last_error)"
printf '%s\n' db_name=fdc "creation_statements=$CREATE_ONLY" default_ttl=1h max_ttl=2h \
	>"$MNT/roles/fdl" || fail "writing roles/fdl failed: $(last_error)"
cat >"$T_DIR/fdholder.py" <<-'EOF'
	import errno, os, sys, time
	try:
	    fd = os.open(sys.argv[1], os.O_RDONLY)
	    data = os.pread(fd, 65536, 0)
	except OSError as e:
	    print("ERR", errno.errorcode.get(e.errno, e.errno), flush=True)
	    sys.exit(0)
	print("OK", data.decode().replace("\n", " "), flush=True)
	while True:
	    time.sleep(60)
EOF
FD_N=0
FD_PIDS=()
# fd_hold - a process opens creds/fdl and keeps it open; FD_GOT is OK or
# "ERR ERRNO" (the process then exited).
fd_hold() {
	local out pid line
	FD_N=$((FD_N + 1))
	out=$T_DIR/fdh.$FD_N
	: >"$out"
	python3 "$T_DIR/fdholder.py" "$MNT/creds/fdl" >"$out" 2>&1 &
	pid=$!
	KILL_PIDS+=("$pid")
	wait_until 15 test -s "$out" || true
	line=$(head -n 1 "$out")
	if [ "${line%% *}" = OK ]; then
		FD_PIDS+=("$pid")
		FD_GOT=OK
	else
		wait "$pid" 2>/dev/null || true
		FD_GOT=${line:-ERR none}
	fi
}
fd_hold # warms up fdc's connection and the watch machinery
check_eq "fd limit: the first open of creds/fdl works" OK "$FD_GOT"
fd_list() { find "/proc/$CREDFS_PID/fd" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -n; }
# soft_limit_for FREE - the smallest RLIMIT_NOFILE that leaves the daemon
# exactly FREE unused descriptor numbers (fds above it, inherited ones say,
# do not count).
soft_limit_for() {
	fd_list | awk -v free="$1" '{ open[$1] = 1 } END {
		for (n = 1; ; n++) { if (!((n - 1) in open)) f++; if (f == free) { print n; exit } } }'
}
set_soft() { # set_soft SOFT - RLIMIT_NOFILE's soft limit of the running daemon
	python3 -c 'import resource, sys
p, soft = int(sys.argv[1]), int(sys.argv[2])
resource.prlimit(p, resource.RLIMIT_NOFILE, (soft, resource.prlimit(p, resource.RLIMIT_NOFILE)[1]))' \
		"$CREDFS_PID" "$1"
}
OLD_SOFT=$(python3 -c 'import resource, sys; print(resource.prlimit(int(sys.argv[1]), resource.RLIMIT_NOFILE)[0])' "$CREDFS_PID")
FREE=4
LIMIT=$(soft_limit_for "$FREE")
echo "fd limit: the daemon has fds $(fd_list | tr '\n' ' '); soft RLIMIT_NOFILE $OLD_SOFT -> $LIMIT ($FREE free)"
set_soft "$LIMIT" || fail "could not lower the daemon's RLIMIT_NOFILE"
opens=0
FD_GOT=OK
while [ "$FD_GOT" = OK ] && [ "$opens" -lt $((FREE + 10)) ]; do
	fd_hold
	opens=$((opens + 1))
done
echo "fd limit: $((${#FD_PIDS[@]} - 1)) more opens worked, then: $FD_GOT (daemon fds: $(fd_list | tr '\n' ' '))"
check "fd limit: an open fails once no fd is left for the watch ($FD_GOT)" test "$FD_GOT" != OK
probe=$(errno_of_read "$MNT/creds/fdl")
check "fd limit: the next open fails too ($probe)" test "$probe" != OK
check_match "fd limit: errors says cannot watch" "$(last_error)" 'cannot watch'
fdl_logins=$(admin_psql -c "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v-%-fdl-%'")
fdl_leases=$(find "$MNT/leases/fdl" -mindepth 1 -maxdepth 1 | wc -l)
check_eq "fd limit: logins of role fdl in pg_roles = leases listed (nothing issued for a failed open)" \
	"$fdl_leases" "$fdl_logins"
check_eq "fd limit: leases listed = holders that got creds" "${#FD_PIDS[@]}" "$fdl_leases"
set_soft "$OLD_SOFT" || fail "could not restore the daemon's RLIMIT_NOFILE"
check_eq "fd limit: with the limit back, creds/fdl issues again" OK "$(errno_of_read "$MNT/creds/fdl")"
for p in "${FD_PIDS[@]}"; do
	stop_holder "$p"
done

credfs_umount
finish
