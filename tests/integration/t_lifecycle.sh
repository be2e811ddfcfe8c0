#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_lifecycle.sh - the whole life of a lease (issue 3, DESIGN "Leases"), with
# TTLs of 2 s on a real PostgreSQL and a real mount:
#
#   held       a process that keeps creds/ open for more than three TTLs keeps
#              a working login (past the first VALID UNTIL + 5 s, so only
#              renewals can explain it); closing the file revokes it about
#              one TTL later
#   kill -9    of a holder with the file open: revoked about one TTL later
#   fork       a forked child that keeps the descriptor keeps the lease held
#              after the opener closed its own copy; when the OPENER exits the
#              lease is let go although the child still holds the file
#              ("closed for the last time or the opener exits, whichever
#              comes first")
#   together   readers that open at the same instant (5 rounds of 8, on a
#              role that GRANTs like the seed's) each get their own login
#   rm         rm leases/ROLE/ID revokes at once, ends a live psql session
#              and wakes the holder's poll(2) with POLLPRI
#   max_ttl    a holder that polls the open file gets POLLPRI once the lease
#              cannot be renewed any more, and the lease ends at max_ttl
#   process    lease_binding=process: read, close, live on: the login works
#              until the opener exits, then is revoked about one TTL later
#
# A background watcher polls pg_roles every 50 ms and records when each
# issued login stops being able to log in (dropped or NOLOGIN). Every
# revocation is checked against a loose window only (not before its due time
# minus 0.5 s, not after it plus 3 s); the delays are printed as
#   revocation delay: median X ms, worst Y ms
# shellcheck disable=SC2016,SC2119,SC2317 # SC2016: scripts for other shells and jq
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

TTL=2 # default_ttl of the short roles, seconds

credfs_mount
M=$MNT
setup_seed_conn wizard || fail "writing config/wizard failed: $(last_error)"
CREATE_ONLY='CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '"'"'{{password}}'"'"' VALID UNTIL '"'"'{{expiration}}'"'"';'
# r: TTL 2 s, handle binding, default revocation (drop).
printf '%s\n' db_name=wizard "creation_statements=$CREATE_ONLY" default_ttl=${TTL}s max_ttl=2m \
	>"$M/roles/r" || fail "writing roles/r failed: $(last_error)"
# capped: reaches max_ttl while held.
printf '%s\n' db_name=wizard "creation_statements=$CREATE_ONLY" default_ttl=${TTL}s max_ttl=6s \
	>"$M/roles/capped" || fail "writing roles/capped failed: $(last_error)"
# p: process binding.
printf '%s\n' db_name=wizard "creation_statements=$CREATE_ONLY" default_ttl=${TTL}s max_ttl=2m \
	lease_binding=process >"$M/roles/p" || fail "writing roles/p failed: $(last_error)"
# long: only rm ends it within this test; SELECT on coffees for psql.
printf '%s\n' db_name=wizard "creation_statements=$SEED_CREATE" default_ttl=1m max_ttl=10m \
	>"$M/roles/long" || fail "writing roles/long failed: $(last_error)"

user_of() { jq -r .data.username <<<"$1"; }
pass_of() { jq -r .data.password <<<"$1"; }
id_of() { jq -r '.lease_id | split("/") | last' <<<"$1"; }
past_us() { [ "$(_now_us)" -ge "$1" ]; }
ms_between() { echo $((($2 - $1) / 1000)); } # FROM_US TO_US

# ---- the watcher -----------------------------------------------------------------
# Users listed in $W/list; $W/gone/USER holds the time (epoch us) it was
# first seen unable to log in.
W=$T_DIR/watch
mkdir -p "$W/gone"
: >"$W/list"
_watcher() {
	local live now u
	while [ ! -e "$W/stop" ]; do
		live=$(admin_psql -c "SELECT rolname FROM pg_roles WHERE rolname LIKE 'v-%' AND rolcanlogin") ||
			{
				sleep 0.05
				continue
			}
		now=$(_now_us)
		while IFS= read -r u; do
			if [ -z "$u" ] || [ -e "$W/gone/$u" ]; then
				continue
			fi
			grep -qxF -- "$u" <<<"$live" || echo "$now" >"$W/gone/$u"
		done <"$W/list"
		sleep 0.05
	done
}
_watcher &
WATCHER_PID=$!
watch_user() { echo "$1" >>"$W/list"; }
revoked_seen() { [ -s "$W/gone/$1" ]; }

DELAYS=() # ms past the due time, one per checked revocation
# expect_revoked DESC USER DUE_US - the login stops working no earlier than
# DUE - 0.5 s and no later than DUE + 3 s; records the delay.
expect_revoked() {
	local desc=$1 user=$2 due=$3 seen delay
	wait_until $((($(_now_us) > due ? 0 : (due - $(_now_us)) / 1000000) + 5)) revoked_seen "$user" || true
	if ! revoked_seen "$user"; then
		check "$desc: revoked (not seen within due time + 5 s)" false
		return
	fi
	seen=$(cat "$W/gone/$user")
	delay=$(ms_between "$due" "$seen")
	echo "$desc: revoked $delay ms after its due time"
	check "$desc: revoked within [-500, +3000] ms of let-go + TTL (was $delay ms)" \
		int_between "$delay" -500 3000
	DELAYS+=("$delay")
}

# ---- a controllable holder ----------------------------------------------------------
# holder_start NAME PATH - a python process that opens PATH and keeps it open,
# then obeys lines written to $T_DIR/h.NAME/ctl:
#   close | fork (a child inherits the descriptor and sleeps) | exit |
#   poll SECS (poll(2) for POLLPRI) | revents (poll with timeout 0)
# and answers on $T_DIR/h.NAME/out: "open US", "creds JSON", "close US",
# "fork CHILDPID", "exit US", "poll REVENTS US".
cat >"$T_DIR/holder.py" <<-'EOF'
	import os, select, sys, time
	path, ctl = sys.argv[1], sys.argv[2]
	def say(*a):
	    print(*a, flush=True)
	def us():
	    return time.time_ns() // 1000
	say("open", us())
	fd = os.open(path, os.O_RDONLY)
	say("creds", os.pread(fd, 65536, 0).decode().replace("\n", " "))
	c = os.fdopen(os.open(ctl, os.O_RDWR), "r")
	for line in c:
	    cmd = line.split()
	    if not cmd:
	        continue
	    if cmd[0] == "close":
	        os.close(fd)
	        say("close", us())
	    elif cmd[0] == "fork":
	        pid = os.fork()
	        if pid == 0:
	            while True:
	                time.sleep(60)
	        say("fork", pid)
	    elif cmd[0] == "exit":
	        say("exit", us())
	        os._exit(0)
	    elif cmd[0] in ("poll", "revents"):
	        p = select.poll()
	        p.register(fd, select.POLLPRI)
	        r = p.poll(0 if cmd[0] == "revents" else int(float(cmd[1]) * 1000))
	        say("poll", r[0][1] if r else 0, us())
EOF
holder_start() {
	local d=$T_DIR/h.$1
	mkdir -p "$d"
	mkfifo "$d/ctl"
	: >"$d/out"
	python3 "$T_DIR/holder.py" "$2" "$d/ctl" >"$d/out" 2>"$d/err" &
	echo $! >"$d/pid"
	wait_until 10 grep -q '^creds ' "$d/out" ||
		fail "holder $1 could not read $2: $(cat "$d/err") $(last_error)"
}
holder_pid() { cat "$T_DIR/h.$1/pid"; }
holder_creds() { sed -n 's/^creds //p' "$T_DIR/h.$1/out"; }
holder_open_us() { sed -n 's/^open //p' "$T_DIR/h.$1/out"; }
# (only to a live holder: opening a FIFO nobody reads would block)
holder_send() { timeout 5 bash -c 'echo "$2" >"$1"' _ "$T_DIR/h.$1/ctl" "$2"; }
# holder_answer NAME WORD [SECS] - wait for the last "WORD ..." answer; print its value.
holder_answer() {
	wait_until "${3:-10}" grep -q "^$2 " "$T_DIR/h.$1/out" || return 1
	sed -n "s/^$2 //p" "$T_DIR/h.$1/out" | tail -n 1
}
_answers_more() { [ "$(grep -c "^$2 " "$T_DIR/h.$1/out")" -gt "$3" ]; }
# holder_do NAME CMD WORD - send CMD, wait for its answer, print the value.
holder_do() {
	local n
	n=$(grep -c "^$3 " "$T_DIR/h.$1/out") || true
	holder_send "$1" "$2"
	wait_until "${4:-10}" _answers_more "$1" "$3" "$n" || return 1
	sed -n "s/^$3 //p" "$T_DIR/h.$1/out" | tail -n 1
}
alive() { kill -0 "$1" 2>/dev/null; }
lease_state() { jq -r .state "$M/leases/$1" 2>/dev/null; }
KILL_PIDS=()
T_ON_EXIT+=('for p in "${KILL_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done')

# ==== phase 1: six leases at once ======================================================
# A held for > 3 TTLs, then closed      F1 fork, the opener closes, the child holds
# K kill -9 after 1 s                   F2 fork, the opener exits, the child holds
# P polls for POLLPRI (role capped)     B lease_binding=process, read and closed
holder_start A "$M/creds/r"
holder_start F1 "$M/creds/r"
holder_start F2 "$M/creds/r"
holder_start K "$M/creds/r"
holder_start P "$M/creds/capped"
for h in A F1 F2 K P; do
	watch_user "$(user_of "$(holder_creds $h)")"
	KILL_PIDS+=("$(holder_pid $h)")
done
# B: bash opens creds/p, reads one line with the read builtin, closes it and
# lives on (sleep runs as its child).
mkdir -p "$T_DIR/b"
bash -c 'exec 3<"$1"; IFS= read -r line <&3; exec 3<&-; printf "%s\n" "$line" >"$2.tmp";
	mv "$2.tmp" "$2"; while :; do sleep 1; done' b "$M/creds/p" "$T_DIR/b/creds" &
B_PID=$!
KILL_PIDS+=("$B_PID")
wait_until 10 test -s "$T_DIR/b/creds" || fail "lease_binding=process reader got nothing: $(last_error)"
B_CREDS=$(cat "$T_DIR/b/creds")
watch_user "$(user_of "$B_CREDS")"
T0=$(_now_us)

A_CREDS=$(holder_creds A)
A_USER=$(user_of "$A_CREDS") A_PASS=$(pass_of "$A_CREDS")
echo "A=$A_USER F1=$(user_of "$(holder_creds F1)") F2=$(user_of "$(holder_creds F2)")"
echo "K=$(user_of "$(holder_creds K)") P=$(user_of "$(holder_creds P)") B=$(user_of "$B_CREDS")"
check "A logs in at once" can_login "$A_USER" "$A_PASS"

# F1: fork, then the opener closes its copy; F2: fork, then the opener exits.
F1_CHILD=$(holder_do F1 fork fork) || fail "F1 did not fork"
KILL_PIDS+=("$F1_CHILD")
holder_do F1 close close >/dev/null || fail "F1 did not close"
F2_CHILD=$(holder_do F2 fork fork) || fail "F2 did not fork"
KILL_PIDS+=("$F2_CHILD")
F2_EXIT=$(holder_do F2 exit exit) || fail "F2 did not exit"
F2_ID=$(id_of "$(holder_creds F2)")
f2_let_go() { [ "$(lease_state "r/$F2_ID")" != held ]; }
check "fork: the opener exited: its lease is let go though the child holds the file" \
	wait_until 2 f2_let_go
echo "leases/r/$F2_ID: $(jq -c '{state, holder}' "$M/leases/r/$F2_ID" 2>/dev/null)"

# P: nothing to report yet; then wait (in the holder) for POLLPRI.
P_CREDS=$(holder_creds P)
P_OPEN=$(holder_open_us P)
p_now=$(holder_do P revents poll) || p_now="? 0"
check_eq "capped: no POLLPRI right after the open" 0 "${p_now%% *}"
p_polls=$(grep -c '^poll ' "$T_DIR/h.P/out") || true
holder_send P "poll 15"
P_ID=$(id_of "$P_CREDS")
p_span=$(jq -r '[.issued, .max_expires] | map(fromdateiso8601) | .[1] - .[0]' "$M/leases/capped/$P_ID")
check_eq "capped: leases/ max_expires - issued = max_ttl" 6 "$p_span"
check_eq "capped: the creds JSON has max_expires, as leases/ does" \
	"$(jq -r .max_expires "$M/leases/capped/$P_ID")" "$(jq -r .max_expires <<<"$P_CREDS")"

# K: kill -9 one second in, with the file open.
wait_until 3 past_us $((T0 + 1000000)) || true
K_USER=$(user_of "$(holder_creds K)")
check "kill -9: the login works while held" can_login "$K_USER" "$(pass_of "$(holder_creds K)")"
K_KILL=$(_now_us)
kill -KILL "$(holder_pid K)"
expect_revoked "kill -9 of a holder" "$K_USER" $((K_KILL + TTL * 1000000))
check "kill -9: the login is refused after revocation" \
	not can_login "$K_USER" "$(pass_of "$(holder_creds K)")"

expect_revoked "fork, opener exited while a child holds the fd" \
	"$(user_of "$(holder_creds F2)")" $((F2_EXIT + TTL * 1000000))
check "fork: the child still held the file when the lease was revoked" alive "$F2_CHILD"

# POLLPRI: the last renewal reaches max_ttl well before max_ttl itself.
wait_until 15 _answers_more P poll "$p_polls" || true
P_POLL=$(holder_answer P poll 1) || P_POLL="0 0"
echo "capped: poll answered '$P_POLL' $((${P_POLL#* } / 1000 - P_OPEN / 1000)) ms after the open"
check "capped: poll(2) reports POLLPRI ($P_POLL)" test "$((${P_POLL%% *} & 2))" -eq 2
check "capped: POLLPRI came between 1 s and max_ttl after the open" \
	int_between $(((${P_POLL#* } - P_OPEN) / 1000)) 1000 6000
check_eq "capped: when POLLPRI comes, expires = max_expires" \
	"$(jq -r .max_expires "$M/leases/capped/$P_ID")" "$(jq -r .expires "$M/leases/capped/$P_ID")"

# Past the first VALID UNTIL + Vault's 5 s: only renewals keep these logins.
wait_until 15 past_us $((T0 + (TTL + 5 + 1) * 1000000)) || true
check "held: A still logs in after 3 TTLs and past its first VALID UNTIL + 5 s" \
	can_login "$A_USER" "$A_PASS"
check_eq "held: A's lease is held" held "$(lease_state "r/$(id_of "$A_CREDS")")"
a_valid=$(admin_psql -c "SELECT extract(epoch FROM rolvaliduntil)::bigint - extract(epoch FROM now())::bigint
	FROM pg_roles WHERE rolname = $(sql_lit "$A_USER")")
check "held: A's VALID UNTIL is ahead (renewed; ${a_valid:-?} s left)" int_between "${a_valid:-x}" 1 $((TTL + 6))
check "fork: F1's child keeps the login working after the opener closed its copy" \
	can_login "$(user_of "$(holder_creds F1)")" "$(pass_of "$(holder_creds F1)")"
check_eq "fork: F1's lease is held" held "$(lease_state "r/$(id_of "$(holder_creds F1)")")"
check "process binding: read and closed, still logs in past VALID UNTIL + 5 s" \
	can_login "$(user_of "$B_CREDS")" "$(pass_of "$B_CREDS")"
check_eq "process binding: the lease is held" held "$(lease_state "p/$(id_of "$B_CREDS")")"

# max_ttl: still held, revoked at issue + max_ttl.
expect_revoked "held until max_ttl" "$(user_of "$P_CREDS")" $((P_OPEN + 6 * 1000000))

# Now let go of A (close), F1 (the child exits: the last close), B (exits).
A_CLOSE=$(holder_do A close close) || fail "A did not close"
F1_CLOSE=$(_now_us)
kill -KILL "$F1_CHILD"
B_EXIT=$(_now_us)
kill -KILL "$B_PID"
expect_revoked "held 3+ TTLs, then closed" "$A_USER" $((A_CLOSE + TTL * 1000000))
check "held: A's process is still alive (handle binding: closing is enough)" alive "$(holder_pid A)"
check "held: A no longer logs in" not can_login "$A_USER" "$A_PASS"
expect_revoked "fork, the child (last holder of the fd) exited" \
	"$(user_of "$(holder_creds F1)")" $((F1_CLOSE + TTL * 1000000))
check "fork: F1's opener was still alive" alive "$(holder_pid F1)"
expect_revoked "lease_binding=process, the opener exited" "$(user_of "$B_CREDS")" \
	$((B_EXIT + TTL * 1000000))
for p in "${KILL_PIDS[@]}"; do
	kill -KILL "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
done

# ==== concurrent readers ===================================================================
# Readers open creds/long at the same instant (role long GRANTs SELECT like the
# seed's db-app). 5 rounds of 8; every open must succeed with its own login.
cat >"$T_DIR/together.py" <<-'EOF'
	import os, sys, time
	path, n = sys.argv[1], int(sys.argv[2])
	start = time.time() + 0.3
	kids = []
	for i in range(n):
	    r, w = os.pipe()
	    pid = os.fork()
	    if pid == 0:
	        os.close(r)
	        time.sleep(max(0, start - time.time()))
	        try:
	            fd = os.open(path, os.O_RDONLY)
	            out = os.pread(fd, 65536, 0).decode().replace("\n", " ")
	        except OSError as e:
	            out = "ERR " + os.strerror(e.errno)
	        os.write(w, out.encode())
	        os._exit(0)
	    os.close(w)
	    kids.append((pid, r))
	for pid, r in kids:
	    data = b""
	    while True:
	        c = os.read(r, 65536)
	        if not c:
	            break
	        data += c
	    os.waitpid(pid, 0)
	    print(data.decode())
EOF
: >"$T_DIR/together.out"
for _ in 1 2 3 4 5; do
	python3 "$T_DIR/together.py" "$M/creds/long" 8 >>"$T_DIR/together.out"
done
opened=$(grep -c '^{' "$T_DIR/together.out") || true
failed=$(grep -c '^ERR' "$T_DIR/together.out") || true
echo "concurrent readers: $opened of 40 opens issued, $failed failed"
if [ "$failed" -gt 0 ]; then
	echo "concurrent readers: failures: $(grep '^ERR' "$T_DIR/together.out" | sort | uniq -c | tr -s ' ')" >&2
	grep -F 'creds/long' "$M/errors" | tail -n 3 >&2 || true
fi
check_eq "concurrent readers: every one of 40 simultaneous opens (5 rounds of 8) issues" 40 "$opened"
grep '^{' "$T_DIR/together.out" >"$T_DIR/together.ok" || true
distinct() { jq -r "$1" "$T_DIR/together.ok" | sort -u | wc -l; }
check_eq "concurrent readers: all usernames differ" "$opened" "$(distinct .data.username)"
check_eq "concurrent readers: all passwords differ" "$opened" "$(distinct .data.password)"
check_eq "concurrent readers: all leases differ" "$opened" "$(distinct .lease_id)"
two1=$(sed -n 1p "$T_DIR/together.ok") two2=$(sed -n 2p "$T_DIR/together.ok")
check "concurrent readers: one logs in" can_login "$(user_of "$two1")" "$(pass_of "$two1")"
check "concurrent readers: another logs in" can_login "$(user_of "$two2")" "$(pass_of "$two2")"
for id in $(jq -r '.lease_id | split("/") | last' "$T_DIR/together.ok"); do
	rm -f "$M/leases/long/$id" || true
done

# ==== rm leases/... ends a live session ======================================================
holder_start R "$M/creds/long"
KILL_PIDS=("$(holder_pid R)")
R_CREDS=$(holder_creds R)
R_USER=$(user_of "$R_CREDS") R_ID=$(id_of "$R_CREDS")
watch_user "$R_USER"
PGPASSWORD=$(pass_of "$R_CREDS") psql -h 127.0.0.1 -p "$CREDFS_PG_PORT" -U "$R_USER" -d wizard \
	-XAtq -c 'select count(*) from coffees' -c 'select pg_sleep(30)' </dev/null \
	>"$T_DIR/psql.out" 2>"$T_DIR/psql.err" &
PSQL_PID=$!
KILL_PIDS+=("$PSQL_PID")
sessions_of() {
	admin_psql -c "SELECT count(*) FROM pg_stat_activity WHERE usename = $(sql_lit "$1")"
}
in_sleep() {
	[ "$(admin_psql -c "SELECT count(*) FROM pg_stat_activity WHERE usename = $(sql_lit "$R_USER")
		AND query LIKE '%pg_sleep%'")" = 1 ]
}
check "rm: the issued login runs a long query" wait_until 10 in_sleep
holder_send R "poll 10"
sleep 0.2
RM_T=$(_now_us)
check "rm leases/long/ID succeeds while the file is held" rm "$M/leases/long/$R_ID"
RM_DONE=$(_now_us)
psql_gone() { ! alive "$PSQL_PID"; }
check "rm: the live psql session ends within 3 s" wait_until 3 psql_gone
PSQL_END=$(_now_us)
psql_rc=0
wait "$PSQL_PID" 2>/dev/null || psql_rc=$?
check "rm: psql failed (status $psql_rc): $(tr '\n' ' ' <"$T_DIR/psql.err")" test "$psql_rc" -ne 0
no_sessions() { [ "$(sessions_of "$R_USER")" = 0 ]; }
check "rm: no backend of the login left in pg_stat_activity" wait_until 3 no_sessions
check "rm: the login is revoked at once (within 2 s)" wait_until 2 revoked_seen "$R_USER"
if revoked_seen "$R_USER"; then
	echo "rm: rm returned after $(ms_between "$RM_T" "$RM_DONE") ms; login revoked after" \
		"$(ms_between "$RM_T" "$(cat "$W/gone/$R_USER")") ms; psql gone after $(ms_between "$RM_T" "$PSQL_END") ms"
fi
check "rm: the login is refused" not can_login "$R_USER" "$(pass_of "$R_CREDS")"
R_POLL=$(holder_answer R poll 5) || R_POLL="0 0"
check "rm: the holder's poll(2) reports POLLPRI ($R_POLL)" test "$((${R_POLL%% *} & 2))" -eq 2
r_listed() { [ -e "$M/leases/long/$R_ID" ]; }
check "rm: the lease leaves leases/long" wait_until 2 not r_listed
kill -KILL "$(holder_pid R)" 2>/dev/null || true
wait "$(holder_pid R)" 2>/dev/null || true

# ==== the delays ==============================================================================
touch "$W/stop"
wait "$WATCHER_PID" 2>/dev/null || true
if [ "${#DELAYS[@]}" -gt 0 ]; then
	mapfile -t sorted < <(printf '%s\n' "${DELAYS[@]}" | sort -n)
	n=${#sorted[@]}
	if [ $((n % 2)) -eq 1 ]; then
		median=${sorted[$((n / 2))]}
	else
		median=$(((sorted[n / 2 - 1] + sorted[n / 2]) / 2))
	fi
	echo "revocation delay: median $median ms, worst ${sorted[$((n - 1))]} ms" \
		"(n=$n, after let-go + TTL, watcher resolution ~50-100 ms)"
fi

credfs_umount
finish
