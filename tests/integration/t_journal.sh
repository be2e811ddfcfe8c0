#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_journal.sh - the state journal on disk (engine v2):
#
#   recovery   after kill -9 the journal gets a torn tail: 4096 zero bytes
#              (a zeroed extension), then a full-length garbage record (4-byte
#              little-endian length 64, 24 random nonce bytes, 64 random
#              bytes): each time credfs starts, with a warning in its log, and
#              the definitions and live leases are there. One byte flipped in
#              a record in the middle (valid records after it): credfs
#              refuses to start (non-zero exit, a message in its log) and the
#              state is byte-identical afterwards.
#   check      credfs --check-state --state DIR --key-file KEY (no mount
#              point) prints, as JSON on stdout, what a start would restore:
#              state, records, dropped_bytes, connections (name, version,
#              pending_rotation), roles, leases (id, role, username, state,
#              on_start "held" / "let go" / "revoke now", due); exit 0 when a
#              start would succeed, 1 with a message on stderr when it would
#              refuse; it never changes the state directory.
#   relative   credfs started without -f (it daemonizes and chdirs to /) from
#              the test directory with a relative --state and
#              CREDFS_COMPACT_BYTES=4096: 50 creds make it compact; after an
#              unmount, a start on that directory (absolute path) has the
#              definitions and all 50 leases, the compacted journal is where
#              the relative path pointed, and nothing was written under /.
#
# shellcheck disable=SC2016,SC2119,SC2317 # SC2016: jq programs and eval'd strings
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
needs_test_hooks # CREDFS_COMPACT_BYTES

CREATE_ONLY='CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '"'"'{{password}}'"'"' VALID UNTIL '"'"'{{expiration}}'"'"';'
KEY=$T_DIR/credfs.key
J=$CREDFS_STATE/journal
user_of() { jq -r .data.username <<<"$1"; }
pass_of() { jq -r .data.password <<<"$1"; }
id_of() { jq -r '.lease_id | split("/") | last' <<<"$1"; }
listed() { [ -e "$MNT/leases/$1" ]; }
lease_field() { jq -r ".$2 // empty" "$MNT/leases/$1" 2>/dev/null || true; }
sleep_until_us() {
	local d=$(($1 - $(_now_us)))
	if [ "$d" -gt 0 ]; then
		sleep "$(awk -v d="$d" 'BEGIN { printf "%.3f", d / 1000000 }')"
	fi
}
log_since_mount() {
	awk '/^=== credfs mount/ { buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }' "$CREDFS_LOG"
}
# state_sum - one digest of every file in the state directory and the key.
state_sum() {
	(
		cd "$CREDFS_STATE" && find . -type f -print0 | sort -z | xargs -0 sha256sum
		sha256sum "$KEY"
	) | sha256sum | cut -c1-64
}
# check_state - run credfs --check-state; CS_RC, CS_OUT (stdout), CS_ERR (stderr).
check_state() {
	CS_RC=0
	timeout 20 "$CREDFS_BIN" --check-state --state "$CREDFS_STATE" --key-file "$KEY" \
		>"$T_DIR/cs.out" 2>"$T_DIR/cs.err" </dev/null || CS_RC=$?
	CS_OUT=$(cat "$T_DIR/cs.out")
	CS_ERR=$(cat "$T_DIR/cs.err")
}
# csq [ARGS] FILTER - true if CS_OUT is one JSON value and FILTER holds for it.
csq() { [ -n "$CS_OUT" ] && jq -e "$@" <<<"$CS_OUT" >/dev/null 2>&1; }
# try_mount - credfs_mount that reports a refused start instead of failing the test.
try_mount() {
	MNT=$(mktemp -d "$T_DIR/mnt.XXXXXX")
	echo "=== credfs mount $MNT" >>"$CREDFS_LOG"
	"$CREDFS_BIN" -f --state "$CREDFS_STATE" --key-file "$KEY" --audit-log "$T_DIR/audit.log" \
		"$MNT" 2>>"$CREDFS_LOG" </dev/null &
	CREDFS_PID=$!
	wait_until 10 _try_settled || true
	if [ -d "$MNT/config" ] && ! _daemon_gone; then
		return 0
	fi
	kill -KILL "$CREDFS_PID" 2>/dev/null || true
	wait "$CREDFS_PID" 2>/dev/null || true
	fusermount3 -u "$MNT" 2>/dev/null || true
	rmdir "$MNT" 2>/dev/null || true
	CREDFS_PID=
	MNT=
	return 1
}
_try_settled() { [ -d "$MNT/config" ] || _daemon_gone; }
# journal_records FILE - "OFFSET LENGTH" of each record (after the 32-byte header).
journal_records() {
	python3 - "$1" <<-'EOF'
		import struct, sys
		b = open(sys.argv[1], "rb").read()
		off = 32
		while off + 28 <= len(b):
		    n = struct.unpack_from("<I", b, off)[0]
		    if off + 28 + n > len(b):
		        break
		    print(off, n)
		    off += 28 + n
	EOF
}

credfs_mount
setup_seed_conn wizard || fail "writing config/wizard failed: $(last_error)"
printf '%s\n' db_name=wizard "creation_statements=$CREATE_ONLY" default_ttl=1h max_ttl=24h \
	>"$MNT/roles/r" || fail "writing roles/r failed: $(last_error)"
printf '%s\n' db_name=wizard "creation_statements=$CREATE_ONLY" default_ttl=1h max_ttl=24h \
	lease_binding=process >"$MNT/roles/p" || fail "writing roles/p failed: $(last_error)"
printf '%s\n' db_name=wizard "creation_statements=$CREATE_ONLY" default_ttl=2s max_ttl=1m \
	>"$MNT/roles/q" || fail "writing roles/q failed: $(last_error)"
DEFS_BEFORE=$(cat "$MNT/config/wizard" "$MNT/roles/r" "$MNT/roles/p" "$MNT/roles/q")
L_CREDS=$(cat "$MNT/creds/r") || fail "cat creds/r failed: $(last_error)"
L_USER=$(user_of "$L_CREDS") L_PASS=$(pass_of "$L_CREDS") L_ID=$(id_of "$L_CREDS")
hold_creds p closed
P_PID=$HOLD_PID
T_ON_EXIT+=("kill -9 $P_PID 2>/dev/null")
P_USER=$(user_of "$HOLD_CREDS") P_ID=$(id_of "$HOLD_CREDS")
Q_CREDS=$(cat "$MNT/creds/q") || fail "cat creds/q failed: $(last_error)"
TQ=$(_now_us)
Q_USER=$(user_of "$Q_CREDS") Q_ID=$(id_of "$Q_CREDS")
sleep 0.5 # Q is let go; its revocation is due at TQ + 2 s
credfs_crash
sleep_until_us $((TQ + 3500000))

# ==== --check-state on a clean journal ============================================
sum0=$(state_sum)
check_state
echo "check-state: exit $CS_RC, stdout: $(jq -c . <<<"$CS_OUT" 2>/dev/null || head -c 300 <<<"$CS_OUT"); stderr: $(head -c 300 <<<"$CS_ERR")"
check_eq "check-state (clean): exit status" 0 "$CS_RC"
check "check-state (clean): stdout is a JSON object" csq 'type == "object"'
check "check-state (clean): .state is the directory" csq --arg d "$CREDFS_STATE" '.state == $d'
check "check-state (clean): .records is a positive number" csq '.records | type == "number" and . > 0'
check "check-state (clean): .dropped_bytes is 0" csq '.dropped_bytes == 0'
check "check-state (clean): connection wizard, with a version, no pending rotation" \
	csq 'any(.connections[]; .name == "wizard" and (.version | type == "number") and .pending_rotation == false)'
check "check-state (clean): roles r, p, q" csq '.roles | sort == ["p", "q", "r"]'
check "check-state (clean): lease L (role r, let go, a due time)" csq --arg id "$L_ID" --arg u "$L_USER" \
	'any(.leases[]; .id == $id and .role == "r" and .username == $u and .on_start == "let go" and .due != null and has("state"))'
check "check-state (clean): lease P (process binding, opener alive): held" csq --arg id "$P_ID" --arg u "$P_USER" \
	'any(.leases[]; .id == $id and .role == "p" and .username == $u and .on_start == "held")'
check "check-state (clean): lease Q (let go, TTL passed): due in the past" csq --arg id "$Q_ID" --argjson now "$(date +%s)" \
	'any(.leases[]; .id == $id and .role == "q" and (.due | fromdateiso8601) < $now)'
check "check-state (clean): lease Q (let go, TTL passed): revoke now" csq --arg id "$Q_ID" \
	'any(.leases[]; .id == $id and .role == "q" and .on_start == "revoke now")'
check "check-state (clean): three leases" csq '.leases | length == 3'
check_eq "check-state (clean): the state directory is unchanged" "$sum0" "$(state_sum)"

# ==== a zeroed tail ============================================================
cp "$J" "$T_DIR/journal.clean"
head -c 4096 /dev/zero >>"$J"
sum1=$(state_sum)
check_state
echo "check-state (zeros): exit $CS_RC, $(jq -c '{records, dropped_bytes}' <<<"$CS_OUT" 2>/dev/null); stderr: $(head -c 300 <<<"$CS_ERR")"
check_eq "check-state (zeros): exit status" 0 "$CS_RC"
check "check-state (zeros): .dropped_bytes is 4096" csq '.dropped_bytes == 4096'
check "check-state (zeros): lease L is there" csq --arg id "$L_ID" 'any(.leases[]; .id == $id)'
check_eq "check-state (zeros): the state directory is unchanged" "$sum1" "$(state_sum)"
if try_mount; then
	check "zeros: credfs starts" true
else
	check "zeros: credfs starts ($(log_since_mount | grep -iE 'refus|corrupt' | tail -n 1))" false
	cp "$T_DIR/journal.clean" "$J" # go on from the journal without the tail
	try_mount || fail "credfs does not start on the clean journal either"
fi
check "zeros: a warning in the log" grep -qi 'warn' <(log_since_mount)
echo "zeros: $(log_since_mount | grep -i warn | head -n 2)"
check_eq "zeros: the definitions are all there" "$DEFS_BEFORE" \
	"$(cat "$MNT/config/wizard" "$MNT/roles/r" "$MNT/roles/p" "$MNT/roles/q" 2>&1)"
check "zeros: lease L is listed" listed "r/$L_ID"
check "zeros: lease L logs in" can_login "$L_USER" "$L_PASS"
check_eq "zeros: lease P is held" held "$(lease_field "p/$P_ID" state)"
check "zeros: lease Q (past its TTL) is dropped within 5 s" wait_until 5 role_gone "$Q_USER"
check "zeros: the zero tail was cut off the journal" \
	test "$(tail -c 4096 "$J" | tr -d '\0' | wc -c)" -gt 0
credfs_crash

# ==== a full-length garbage record ================================================
cp "$J" "$T_DIR/journal.clean"
python3 -c 'import os, struct, sys; sys.stdout.buffer.write(struct.pack("<I", 64) + os.urandom(24) + os.urandom(64))' >>"$J"
sum2=$(state_sum)
check_state
echo "check-state (garbage): exit $CS_RC, $(jq -c '{records, dropped_bytes}' <<<"$CS_OUT" 2>/dev/null); stderr: $(head -c 300 <<<"$CS_ERR")"
check_eq "check-state (garbage): exit status" 0 "$CS_RC"
check "check-state (garbage): .dropped_bytes is 92" csq '.dropped_bytes == 92'
check_eq "check-state (garbage): the state directory is unchanged" "$sum2" "$(state_sum)"
if try_mount; then
	check "garbage: credfs starts" true
else
	check "garbage: credfs starts ($(log_since_mount | grep -iE 'refus|corrupt' | tail -n 1))" false
	cp "$T_DIR/journal.clean" "$J"
	try_mount || fail "credfs does not start on the clean journal either"
fi
check "garbage: a warning in the log" grep -qi 'warn' <(log_since_mount)
check "garbage: config/wizard is there" test -e "$MNT/config/wizard"
check "garbage: lease L is listed" listed "r/$L_ID"
check_eq "garbage: lease P is held" held "$(lease_field "p/$P_ID" state)"

# ==== damage in the middle ========================================================
# More valid records, so that the damaged one is followed by valid ones.
for _ in 1 2 3; do
	cat "$MNT/creds/r" >/dev/null || fail "cat creds/r failed: $(last_error)"
done
credfs_crash
mapfile -t RECS < <(journal_records "$J")
NREC=${#RECS[@]}
K=$((NREC / 2))
if [ "$NREC" -lt 4 ] || [ "$K" -lt 1 ] || [ "$K" -ge $((NREC - 1)) ]; then
	fail "the journal has too few records to damage one in the middle ($NREC)"
fi
read -r k_off k_len <<<"${RECS[$K]}"
FLIP=$((k_off + 4 + 24 + k_len / 2))
echo "damage: flipping byte $FLIP in record $K of $NREC (offset $k_off, length $k_len; file $(stat -c %s "$J") bytes)"
python3 - "$J" "$FLIP" <<-'EOF'
	import sys
	path, at = sys.argv[1], int(sys.argv[2])
	with open(path, "r+b") as f:
	    f.seek(at)
	    b = f.read(1)
	    f.seek(at)
	    f.write(bytes([b[0] ^ 0x5A]))
EOF
sum3=$(state_sum)
check_state
echo "check-state (damage): exit $CS_RC, stdout: $(head -c 200 <<<"$CS_OUT"); stderr: $(head -c 300 <<<"$CS_ERR")"
check_eq "check-state (damage): exit status" 1 "$CS_RC"
check "check-state (damage): a message on stderr" test -n "$CS_ERR"
check_eq "check-state (damage): the state directory is unchanged" "$sum3" "$(state_sum)"
refused=$(mktemp -d "$T_DIR/mnt.XXXXXX")
echo "=== credfs mount $refused (a byte flipped)" >>"$CREDFS_LOG"
rc=0
timeout 15 "$CREDFS_BIN" -f --state "$CREDFS_STATE" --key-file "$KEY" "$refused" \
	2>>"$CREDFS_LOG" </dev/null || rc=$?
if grep -qF " $refused fuse" /proc/self/mounts; then
	fusermount3 -u "$refused" || fusermount3 -u -z "$refused" || true
fi
check "damage: credfs refuses to start (exit status $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
check "damage: the log says why" grep -qiE 'refus|corrupt|damage' <(log_since_mount)
echo "damage: $(log_since_mount | grep -iE 'refus|corrupt|damage' | head -n 1)"
check_eq "damage: the state directory is unchanged" "$sum3" "$(state_sum)"
stop_holder "$P_PID"

# ==== a relative --state, daemonized ================================================
REL=relstate.$$.$RANDOM
RABS=$T_DIR/$REL
T_ON_EXIT+=("rm -rf '/$REL'") # only if credfs wrote under / (a unique name)
M9=$T_DIR/mnt9
mkdir -p "$M9"
echo "=== credfs mount $M9 (daemonized, --state $REL from $T_DIR)" >>"$CREDFS_LOG"
rc=0
BIN=$(readlink -f "$CREDFS_BIN") # CREDFS_BIN may be relative to this directory
(cd "$T_DIR" && CREDFS_COMPACT_BYTES=4096 exec "$BIN" --state "$REL" "$M9") \
	2>>"$CREDFS_LOG" </dev/null || rc=$?
check_eq "relative: credfs (no -f) returns 0 once mounted" 0 "$rc"
# daemon_of MOUNTPOINT - the pid of the credfs serving it.
daemon_of() {
	local p
	for p in /proc/[0-9]*; do
		if [ "$(readlink "$p/exe" 2>/dev/null)" = "$BIN" ] &&
			tr '\0' '\n' <"$p/cmdline" 2>/dev/null | grep -qxF "$1"; then
			basename "$p"
			return 0
		fi
	done
	return 1
}
MNT=$M9
CREDFS_PID=$(daemon_of "$M9") || fail "no credfs process serves $M9"
wait_until 10 test -d "$MNT/config" || fail "the daemonized credfs did not mount at $M9"
setup_seed_conn wizard || fail "writing config/wizard failed: $(last_error)"
printf '%s\n' db_name=wizard "creation_statements=$CREATE_ONLY" default_ttl=1h max_ttl=24h \
	>"$MNT/roles/r9" || fail "writing roles/r9 failed: $(last_error)"
# file_id JOURNAL - the journal's random file id (header bytes 16-31): a
# compaction writes a new file with a new id (inode numbers get reused).
file_id() { od -An -tx1 -j16 -N16 "$1" 2>/dev/null | tr -d ' \n'; }
id0=$(file_id "$RABS/journal")
check "relative: the journal is in the directory the relative path names" test -n "$id0"
got=0
for _ in $(seq 50); do
	if cat "$MNT/creds/r9" >/dev/null 2>&1; then
		got=$((got + 1))
	fi
done
check_eq "relative: 50 creds issued" 50 "$got"
compacted() { [ -n "$id0" ] && [ -n "$(file_id "$RABS/journal")" ] && [ "$(file_id "$RABS/journal")" != "$id0" ]; }
check "relative: the journal was compacted in place (a new file at $REL/journal)" wait_until 5 compacted
check "relative: nothing was written to /$REL" not test -e "/$REL"
fusermount3 -u "$MNT" || fail "fusermount3 -u $MNT failed"
check "relative: the daemon exits after the unmount" wait_until 10 _daemon_gone
CREDFS_PID=
MNT=
# Start again on the same directory, by its absolute path, in the foreground.
MNT=$(mktemp -d "$T_DIR/mnt.XXXXXX")
echo "=== credfs mount $MNT (--state $RABS)" >>"$CREDFS_LOG"
"$CREDFS_BIN" -f --state "$RABS" "$MNT" 2>>"$CREDFS_LOG" </dev/null &
CREDFS_PID=$!
wait_until 10 _try_settled || true
if ! [ -d "$MNT/config" ] || _daemon_gone; then
	fail "credfs does not start on $RABS: $(log_since_mount | tail -n 3)"
fi
check "relative: after the restart config/wizard is there" test -e "$MNT/config/wizard"
check "relative: after the restart roles/r9 is there" test -e "$MNT/roles/r9"
check_eq "relative: after the restart all 50 leases are listed" 50 \
	"$(find "$MNT/leases/r9" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)"
credfs_umount

finish
