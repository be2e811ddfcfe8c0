#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_container.sh - a reader in a container (issue 3: "a reader in its own pid
# and mount namespace (unshare) reading through a bind mount of creds/ gets a
# lease that names its host pid, and its exit is seen"); the lease also
# names its pid, mount and user namespaces (issue 11).
#
# Each "container" is `unshare --pid --fork --mount --mount-proc`, with creds/
# bind-mounted onto a private directory inside its own mount namespace (the
# host never sees that mount). Three run at once, TTL 2 s:
#
#   cat-process  `cat DIR/cp FIFO`, role cp with lease_binding=process: cat
#                reads the credential, closes it and blocks on the FIFO; the
#                lease is held (renewed past VALID UNTIL + 5 s) while cat
#                lives, names cat's host pid (not its pid in the namespace),
#                and is revoked about one TTL after cat exits
#   py-handle    a python3 that keeps DIR/c open (handle binding); the whole
#                container is killed from the host (SIGKILL of its init):
#                the lease is let go and revoked about one TTL later
#   cat-handle   a plain `cat DIR/c` in the namespace: the lease names the
#                command cat and a pid that is not its namespace pid
# shellcheck disable=SC2016,SC2119,SC2317 # SC2016: scripts for other shells and jq
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v unshare >/dev/null 2>&1 || skip "unshare missing (util-linux)"
unshare --pid --fork --mount --mount-proc true 2>/dev/null ||
	skip "cannot create pid and mount namespaces here (unshare --pid --fork --mount failed)"

TTL=2
credfs_mount
M=$MNT
setup_seed_conn wizard || fail "writing config/wizard failed: $(last_error)"
CREATE_ONLY='CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '"'"'{{password}}'"'"' VALID UNTIL '"'"'{{expiration}}'"'"';'
printf '%s\n' db_name=wizard "creation_statements=$CREATE_ONLY" default_ttl=${TTL}s max_ttl=2m \
	>"$M/roles/c" || fail "writing roles/c failed: $(last_error)"
printf '%s\n' db_name=wizard "creation_statements=$CREATE_ONLY" default_ttl=${TTL}s max_ttl=2m \
	lease_binding=process >"$M/roles/cp" || fail "writing roles/cp failed: $(last_error)"

user_of() { jq -r .data.username <<<"$1"; }
pass_of() { jq -r .data.password <<<"$1"; }
id_of() { jq -r '.lease_id | split("/") | last' <<<"$1"; }
past_us() { [ "$(_now_us)" -ge "$1" ]; }
alive() { kill -0 "$1" 2>/dev/null; }
revoked() { [ "$(admin_psql -c "SELECT count(*) FROM pg_roles WHERE rolname = $(sql_lit "$1") AND rolcanlogin")" = 0 ]; }
# nspid_of HOSTPID - the process's pid in its innermost pid namespace.
nspid_of() { awk '/^NSpid:/ { print $NF }' "/proc/$1/status" 2>/dev/null; }
# host_pid COMM NEEDLE - the host pid of the process named COMM whose command line has NEEDLE.
host_pid() {
	local p
	for p in $(pgrep -x "$1"); do
		if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$2"; then
			echo "$p"
			return 0
		fi
	done
	return 1
}
found_host_pid() { host_pid "$@" >/dev/null; }
# expect_revoked DESC USER LETGO_US - revoked no later than let-go + TTL + 3 s.
expect_revoked() {
	local t
	if wait_until $((TTL + 8)) revoked "$2"; then
		t=$(_now_us)
		echo "$1: revoked $((t / 1000 - $3 / 1000 - TTL * 1000)) ms after let-go + TTL (poll 0.1 s)"
		check "$1: revoked within [-500, +3000] ms of let-go + TTL" \
			int_between $((t / 1000 - $3 / 1000 - TTL * 1000)) -500 3000
	else
		check "$1: revoked within TTL + 8 s of the let-go" false
	fi
}

# container DIR SCRIPT ARGS... - run SCRIPT (sh) in new pid+mount namespaces,
# after bind-mounting creds/ onto DIR there; $1 in SCRIPT is DIR.
container() {
	local dir=$1 script=$2
	shift 2
	mkdir -p "$dir"
	unshare --pid --fork --mount --mount-proc sh -c \
		'mount --bind "$1" "$2" || exit 97; shift; '"$script" \
		container "$M/creds" "$dir" "$@" </dev/null 2>>"$T_DIR/containers.err" &
}

# ---- start all three ------------------------------------------------------------
FIFO=$T_DIR/cp.fifo
mkfifo "$FIFO"
container "$T_DIR/ns1" 'cat "$1/cp" "$2" >"$3" & echo $! >"$4"; wait $!' \
	"$FIFO" "$T_DIR/ns1.out" "$T_DIR/ns1.nspid"
NS1=$!
container "$T_DIR/ns2" 'python3 -c "
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
open(sys.argv[2] + \".tmp\", \"wb\").write(os.pread(fd, 65536, 0))
os.rename(sys.argv[2] + \".tmp\", sys.argv[2])
while True:
    time.sleep(60)
" "$1/c" "$2" & echo $! >"$3"; wait $!' "$T_DIR/ns2.out" "$T_DIR/ns2.nspid"
NS2=$!
container "$T_DIR/ns3" 'cat "$1/c" >"$2.tmp" & echo $! >"$3"; wait $!; mv "$2.tmp" "$2"' \
	"$T_DIR/ns3.out" "$T_DIR/ns3.nspid"
NS3=$!
T_ON_EXIT+=("kill -KILL $NS1 $NS2 $NS3 2>/dev/null; wait $NS1 $NS2 $NS3 2>/dev/null")
T0=$(_now_us)

creds_in() { [ -s "$1" ] && jq -e .data.username "$1" >/dev/null 2>&1; }
wait_until 10 creds_in "$T_DIR/ns1.out" ||
	fail "cat in a container read nothing: $(cat "$T_DIR/containers.err") $(last_error)"
wait_until 10 creds_in "$T_DIR/ns2.out" ||
	fail "python3 in a container read nothing: $(cat "$T_DIR/containers.err") $(last_error)"
wait_until 10 creds_in "$T_DIR/ns3.out" ||
	fail "plain cat in a container read nothing: $(cat "$T_DIR/containers.err") $(last_error)"
check "the bind mounts stay inside the containers" not grep -qF " $T_DIR/ns" /proc/self/mounts

# ---- cat-process: the host pid, held while cat lives ------------------------------
C1=$(head -n 1 "$T_DIR/ns1.out")
C1_USER=$(user_of "$C1") C1_ID=$(id_of "$C1")
wait_until 5 found_host_pid cat "$FIFO" || fail "cannot find the container's cat from the host"
CAT_HOST=$(host_pid cat "$FIFO")
CAT_NS=$(cat "$T_DIR/ns1.nspid")
lease=$(cat "$M/leases/cp/$C1_ID" 2>/dev/null) || lease='{}'
echo "cat: host pid $CAT_HOST, pid $CAT_NS in its namespace; leases/cp/$C1_ID: $(jq -c . <<<"$lease")"
check_eq "cat-process: the lease names cat's host pid" "$CAT_HOST" "$(jq -r .holder.pid <<<"$lease")"
check "cat-process: ... which is not its pid inside the namespace ($CAT_NS)" \
	test "$(jq -r .holder.pid <<<"$lease")" != "$CAT_NS"
check_eq "cat-process: the host pid is that process in the namespace (NSpid)" \
	"$CAT_NS" "$(nspid_of "$CAT_HOST")"
check_eq "cat-process: holder.command" cat "$(jq -r .holder.command <<<"$lease")"
check_eq "cat-process: holder.executable is the host's view of cat" \
	"$(readlink "/proc/$CAT_HOST/exe")" "$(jq -r .holder.executable <<<"$lease")"
check_eq "cat-process: holder.uid" 0 "$(jq -r .holder.uid <<<"$lease")"
for ns in pid mnt user; do
	check_eq "cat-process: holder.namespaces.$ns is cat's (stat -L /proc/PID/ns/$ns)" \
		"$(stat -L -c %i "/proc/$CAT_HOST/ns/$ns")" "$(jq -r ".holder.namespaces.$ns" <<<"$lease")"
done
check "cat-process: its pid and mount namespaces are not the daemon's" \
	test "$(jq -r .holder.namespaces.pid <<<"$lease")" != "$(stat -L -c %i "/proc/$CREDFS_PID/ns/pid")" -a \
	"$(jq -r .holder.namespaces.mnt <<<"$lease")" != "$(stat -L -c %i "/proc/$CREDFS_PID/ns/mnt")"
check_eq "cat-process: holder.cgroup is what /proc/PID/cgroup says most about" \
	"$(python3 -c '
import sys
lines = [l.rstrip("\n").split(":", 2) for l in open("/proc/%s/cgroup" % sys.argv[1])]
v2 = [p for h, c, p in lines if h == "0" and c == ""]
systemd = [p for h, c, p in lines if c == "name=systemd"]
other = [p for h, c, p in lines if h != "0" and c != "name=systemd"]
for cand in (v2, systemd, other):
    cand = [p for p in cand if p not in ("", "/")]
    if cand:
        print(cand[0]); break
else:
    print("/" if lines else "")
' "$CAT_HOST")" "$(jq -r .holder.cgroup <<<"$lease")"

# ---- py-handle: the same for a holder that keeps the file open -------------------
C2=$(cat "$T_DIR/ns2.out")
C2_USER=$(user_of "$C2") C2_ID=$(id_of "$C2")
wait_until 5 found_host_pid python3 "$T_DIR/ns2.out" ||
	wait_until 1 found_host_pid "$(jq -r .holder.command "$M/leases/c/$C2_ID")" "$T_DIR/ns2.out" ||
	fail "cannot find the container's python3 from the host"
PY_HOST=$(host_pid python3 "$T_DIR/ns2.out" ||
	host_pid "$(jq -r .holder.command "$M/leases/c/$C2_ID")" "$T_DIR/ns2.out")
PY_NS=$(cat "$T_DIR/ns2.nspid")
lease2=$(cat "$M/leases/c/$C2_ID" 2>/dev/null) || lease2='{}'
echo "python3: host pid $PY_HOST, pid $PY_NS in its namespace; leases/c/$C2_ID: $(jq -c . <<<"$lease2")"
check_eq "py-handle: the lease names the holder's host pid" "$PY_HOST" "$(jq -r .holder.pid <<<"$lease2")"
check "py-handle: ... which is not its pid inside the namespace ($PY_NS)" \
	test "$(jq -r .holder.pid <<<"$lease2")" != "$PY_NS"
check_eq "py-handle: the lease is held" held "$(jq -r .state <<<"$lease2")"

# ---- cat-handle: a plain cat --------------------------------------------------------
C3=$(cat "$T_DIR/ns3.out")
C3_ID=$(id_of "$C3")
# cat closed the file at once: its lease may be revoked (TTL ${TTL}s) before
# this line runs on a slow machine, so its holder is read from the audit
# log's issue line, which leases/ showed while it lived.
lease3=$(jq -c --arg id "$C3_ID" 'select(.action == "issue" and (.lease_id // "" | endswith($id)))' \
	"$T_DIR/audit.log" 2>/dev/null | head -n 1)
lease3=${lease3:-'{}'}
CAT3_NS=$(cat "$T_DIR/ns3.nspid")
check_eq "cat-handle: holder.command" cat "$(jq -r .holder.command <<<"$lease3")"
check "cat-handle: holder.pid ($(jq -r .holder.pid <<<"$lease3")) is not the namespace pid ($CAT3_NS)" \
	test "$(jq -r .holder.pid <<<"$lease3")" != "$CAT3_NS"
check "cat-handle: holder.pid is a host pid" test "$(jq -r .holder.pid <<<"$lease3")" -gt 0
check "cat-handle: cat closed the file: revoked after the TTL" wait_until $((TTL + 6)) revoked "$(user_of "$C3")"

# ---- the holders' exits ------------------------------------------------------------------
# py-handle: kill the whole container from the host (its init, pid 1 inside).
PY_INIT=$(awk '/^PPid:/ { print $2 }' "/proc/$PY_HOST/status")
check_eq "py-handle: the holder's parent is the container's init" 1 "$(nspid_of "$PY_INIT")"
KILL_T=$(_now_us)
kill -KILL "$PY_INIT"
py_gone() { ! alive "$PY_HOST"; }
check "py-handle: killing the container's init ends the holder" wait_until 5 py_gone
c2_let_go() { [ "$(jq -r .state "$M/leases/c/$C2_ID" 2>/dev/null)" != held ]; }
check "py-handle: the lease is let go when the container dies" wait_until 2 c2_let_go
expect_revoked "py-handle, container killed" "$C2_USER" "$KILL_T"

# cat-process: still held past the first VALID UNTIL + 5 s while cat lives.
wait_until 15 past_us $((T0 + (TTL + 5 + 1) * 1000000)) || true
check "cat-process: cat still runs in its namespace" alive "$CAT_HOST"
check_eq "cat-process: the lease is held" held "$(jq -r .state "$M/leases/cp/$C1_ID" 2>/dev/null)"
check "cat-process: the login works past its first VALID UNTIL + 5 s" can_login "$C1_USER" "$(pass_of "$C1")"
EXIT_T=$(_now_us)
echo >"$FIFO" # cat reads the FIFO to its end and exits
cat_gone() { ! alive "$CAT_HOST"; }
check "cat-process: cat exits" wait_until 5 cat_gone
c1_let_go() { [ "$(jq -r .state "$M/leases/cp/$C1_ID" 2>/dev/null)" != held ]; }
check "cat-process: its exit is seen (the lease is let go)" wait_until 2 c1_let_go
expect_revoked "cat-process, cat exited" "$C1_USER" "$EXIT_T"
check "cat-process: the login is refused" not can_login "$C1_USER" "$(pass_of "$C1")"
check_eq "no lease is left" "" "$(find "$M/leases" -type f 2>/dev/null)"

wait "$NS1" "$NS2" "$NS3" 2>/dev/null || true
credfs_umount
finish
