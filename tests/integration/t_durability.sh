#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_durability.sh - durable, encrypted state (issue 4):
#
#   kill -9 loop   three times: four readers loop `cat creds/r` for about a
#                  second, the daemon is killed (SIGKILL) mid-stream and
#                  remounted on the same state. Afterwards every credential a
#                  reader got is revoked by credfs (audit) and, once the TTLs
#                  have passed, pg_roles holds no v-% role that can log in.
#   secrets        no issued password, nor the seed's root password, nor the
#                  rotated root password (captured here through a
#                  root_rotation_statements that copies it into a table)
#                  appears in the state directory, the daemon's log or the
#                  audit log; credfs --audit-hash of an issued password finds
#                  its issue line.
#   refusals       a journal with a flipped byte (in the middle, in the first
#                  record's length), a journal cut inside its 32-byte header,
#                  a wrong key, a missing key and a key readable by others:
#                  credfs exits non-zero with a message, mounts nothing, and
#                  leaves the journal (sha256) and key untouched; the intact
#                  state still starts afterwards.
#   cost           issuance rate with --state DIR and with --state none,
#                  printed, not asserted.
# shellcheck disable=SC2016,SC2119,SC2317 # SC2016: scripts for other shells and jq
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

TTL=2
CREATE_ONLY='CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '"'"'{{password}}'"'"' VALID UNTIL '"'"'{{expiration}}'"'"';'
user_of() { jq -r .data.username <<<"$1"; }
pass_of() { jq -r .data.password <<<"$1"; }
no_v_logins() {
	[ "$(admin_psql -c "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v-%' AND rolcanlogin")" = 0 ]
}
JOURNAL=$CREDFS_STATE/journal
KEY=$T_DIR/credfs.key

# The rotated root password is copied into root_leak, so this test can look for it.
admin_psql -c "CREATE TABLE IF NOT EXISTS root_leak (pw text, at timestamptz DEFAULT now())" ||
	fail "cannot create root_leak"
T_ON_EXIT+=("admin_psql -c 'DROP TABLE IF EXISTS root_leak' >/dev/null 2>&1")

credfs_mount
setup_seed_conn wizard password_authentication=password \
	'root_rotation_statements=ALTER ROLE "{{username}}" WITH PASSWORD '"'"'{{password}}'"'"'; INSERT INTO root_leak (pw) VALUES ('"'"'{{password}}'"'"');' ||
	fail "writing config/wizard failed: $(last_error)"
printf '%s\n' db_name=wizard "creation_statements=$CREATE_ONLY" default_ttl=${TTL}s max_ttl=1m \
	>"$MNT/roles/r" || fail "writing roles/r failed: $(last_error)"

# ==== kill -9 during concurrent issuance ============================================
OUT=$T_DIR/got # every credential a reader received, one JSON per line
: >"$OUT"
reader() { # reader MNT STOPFILE N
	while [ ! -e "$2" ]; do
		cat "$1/creds/r" >>"$OUT.$3" 2>/dev/null || sleep 0.01
	done
}
for round in 1 2 3; do
	stop=$T_DIR/stop.$round
	pids=()
	for n in 1 2 3 4; do
		reader "$MNT" "$stop" "$round.$n" &
		pids+=($!)
	done
	sleep 1
	credfs_crash
	touch "$stop"
	wait "${pids[@]}" 2>/dev/null || true
	got=$(cat "$OUT.$round".* 2>/dev/null | grep -c '"password"') || true
	echo "round $round: the readers got $got credentials before kill -9"
	check "round $round: the readers got credentials ($got)" test "$got" -gt 0
	cat "$OUT.$round".* >>"$OUT" 2>/dev/null || true
	credfs_mount
done
# Only complete credentials count: a line cut by the crash is not one.
creds_field() { # creds_field FIELD - .data.FIELD of every complete line of $OUT
	python3 - "$OUT" "$1" <<-'EOF'
		import json, sys
		for line in open(sys.argv[1], errors="replace"):
		    try:
		        print(json.loads(line)["data"][sys.argv[2]])
		    except (ValueError, KeyError, TypeError):
		        pass
	EOF
}
mapfile -t GOT_USERS < <(creds_field username)
mapfile -t GOT_PASS < <(creds_field password)
echo "kill -9 loop: ${#GOT_USERS[@]} credentials handed out over 3 crashes"
check "every credential handed out has its own username" \
	test "$(printf '%s\n' "${GOT_USERS[@]}" | sort -u | wc -l)" -eq "${#GOT_USERS[@]}"

# ==== rotation, and a few credentials on the last mount ====================================
check "rotate-root works" test "$(errno_of_write "$MNT/rotate-root/wizard" x)" = OK
ROOT_PW=$(admin_psql -c "SELECT pw FROM root_leak ORDER BY at DESC LIMIT 1")
check_match "the rotated root password was captured" "$ROOT_PW" '^[A-Za-z0-9-]{12,}$'
check "the seed's root password is refused after rotation" not can_login postgres password
check "the captured root password is PostgreSQL's" can_login postgres "$ROOT_PW"
for i in 1 2 3; do
	c=$(cat "$MNT/creds/r") || fail "cat creds/r after rotation failed: $(last_error)"
	echo "$c" >>"$OUT"
	GOT_USERS+=("$(user_of "$c")")
	GOT_PASS+=("$(pass_of "$c")")
done
LAST_CREDS=$c

# ==== every login revoked ==========================================================================
check "no v-% role can log in once the TTLs have passed" wait_until $((TTL + 15)) no_v_logins
jq -r 'select(.action == "revoke" and .result == "ok") | .db_user' "$T_DIR/audit.log" |
	sort -u >"$T_DIR/revoked.users"
printf '%s\n' "${GOT_USERS[@]}" | sort -u >"$T_DIR/got.users"
never_revoked=$(comm -23 "$T_DIR/got.users" "$T_DIR/revoked.users")
if [ -n "$never_revoked" ]; then
	echo "handed out, never revoked by credfs (first 5): $(head -n 5 <<<"$never_revoked" | tr '\n' ' ')" >&2
fi
check_eq "every credential handed out was revoked by credfs (audit)" 0 \
	"$(grep -c . <<<"$never_revoked" || true)"
check_eq "leases/ is empty" "" "$(find "$MNT/leases" -type f 2>/dev/null)"

# ==== secrets never at rest ==========================================================================
printf '%s\n' "${GOT_PASS[@]}" >"$T_DIR/needles"
search_in=("$CREDFS_STATE" "$CREDFS_LOG" "$T_DIR/audit.log")
hits=$(grep -rlF -f "$T_DIR/needles" "${search_in[@]}" 2>/dev/null || true)
check "no issued password (${#GOT_PASS[@]}) in the state directory, the log or the audit log${hits:+: found in $hits}" \
	test -z "$hits"
check "the rotated root password is in none of them" not grep -rqF -- "$ROOT_PW" "${search_in[@]}"
check "the state directory has no \"password\" at all (the seed's root password, JSON keys)" \
	not grep -rqaF password "$CREDFS_STATE"
check "no password= in the daemon's log" not grep -qF 'password=password' "$CREDFS_LOG"
check "the audit log carries password HMACs" grep -q '"password_hmac":"hmac-sha256:' "$T_DIR/audit.log"
hmac=$(printf '%s' "$(pass_of "$LAST_CREDS")" |
	"$CREDFS_BIN" --state "$CREDFS_STATE" --key-file "$KEY" --audit-hash 2>>"$CREDFS_LOG") || hmac=
check "credfs --audit-hash of an issued password finds its issue line" \
	jq -n -e --arg h "$hmac" --arg u "$(user_of "$LAST_CREDS")" \
	'any(inputs; .action == "issue" and .password_hmac == $h and .db_user == $u)' "$T_DIR/audit.log"
defs_before=$(cat "$MNT/config/wizard" "$MNT/roles/r")
credfs_umount

# ==== refusals ===========================================================================================
cp -p "$JOURNAL" "$T_DIR/journal.good"
cp -p "$KEY" "$T_DIR/key.good"
sha() { { sha256sum "$1" 2>/dev/null || true; } | cut -d" " -f1; }
# refused DESC [KEYFILE] - credfs must refuse to start on the state as it is now.
refused() {
	local desc=$1 key=${2:-$KEY} mnt rc=0 j0 k0 err key_was_there=0
	mnt=$(mktemp -d "$T_DIR/mnt.XXXXXX")
	j0=$(sha "$JOURNAL") k0=$(sha "$key")
	if [ -e "$key" ]; then key_was_there=1; fi
	err=$T_DIR/refused.err
	echo "=== refusal: $desc" >>"$CREDFS_LOG"
	timeout 10 "$CREDFS_BIN" -f --state "$CREDFS_STATE" --key-file "$key" "$mnt" </dev/null \
		2>"$err" || rc=$?
	cat "$err" >>"$CREDFS_LOG"
	if grep -qF " $mnt fuse" /proc/self/mounts; then
		fusermount3 -u "$mnt" || fusermount3 -uz "$mnt" || true
		check "$desc: credfs mounted" false
	fi
	rmdir "$mnt" 2>/dev/null || true
	echo "$desc: exit status $rc: $(tr '\n' ' ' <"$err")"
	check "$desc: credfs refuses to start (status $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
	check "$desc: with a message on stderr" test -s "$err"
	check_eq "$desc: the journal is untouched (sha256)" "$j0" "$(sha "$JOURNAL")"
	if [ "$key_was_there" = 1 ]; then
		check_eq "$desc: the key file is untouched" "$k0" "$(sha "$key")"
	fi
	check "$desc: no other file appeared in the state directory" \
		test "$(find "$CREDFS_STATE" -mindepth 1 | sort)" = "$JOURNAL"
}
restore() {
	cp -p "$T_DIR/journal.good" "$JOURNAL"
	cp -p "$T_DIR/key.good" "$KEY"
	chmod 0600 "$KEY"
}
check "the state directory holds only the journal" \
	test "$(find "$CREDFS_STATE" -mindepth 1 | sort)" = "$JOURNAL"
size=$(stat -c %s "$JOURNAL")
echo "journal: $size bytes"
flip() { # flip OFFSET - xor one byte of the journal with 0xff
	python3 - "$JOURNAL" "$1" <<-'EOF'
		import sys
		p, off = sys.argv[1], int(sys.argv[2])
		with open(p, "r+b") as f:
		    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0xFF]))
	EOF
}
flip $((size / 2))
refused "a byte flipped in the middle of the journal (offset $((size / 2)))"
restore
flip 35 # the most significant byte of the first record's length (either byte order: 32 or 35)
flip 32
refused "the first record's length damaged (bytes 32 and 35 flipped)"
restore
flip 40 # inside the first record's nonce
refused "a byte flipped in the first record's nonce"
restore
truncate -s 16 "$JOURNAL"
refused "the journal cut inside its 32-byte header (16 bytes)"
restore
head -c 32 /dev/urandom >"$T_DIR/wrong.key"
chmod 0600 "$T_DIR/wrong.key"
refused "a wrong key" "$T_DIR/wrong.key"
rm -f "$KEY"
refused "a missing key file (it would be a new, wrong key)" "$KEY"
restore
chmod 0644 "$KEY"
refused "a key file readable by others (0644)"
chmod 0640 "$KEY"
refused "a key file readable by the group (0640)"
restore

credfs_mount
check_eq "the intact state still starts, with its definitions" "$defs_before" \
	"$(cat "$MNT/config/wizard" "$MNT/roles/r" 2>&1)"
check "... and issues with the rotated root password" test "$(errno_of_read "$MNT/creds/r")" = OK
credfs_umount

# ==== the cost of durability ========================================================================
# Both daemons at once, same kind of connection (scram-sha-256, the default)
# and role; runs alternate so that neither gets a warmer PostgreSQL.
N=100
# rate MNT LABEL - N sequential cats, then N cats from 4 parallel loops; prints issues/s.
rate() {
	local m=$1 label=$2 t0 t1 ok=0 i
	local -a ps=()
	t0=$(_now_us)
	for ((i = 0; i < N; i++)); do
		cat "$m/creds/rr" >/dev/null 2>&1 && ok=$((ok + 1))
	done
	t1=$(_now_us)
	echo "issuance $label: $ok/$N sequential cats in $(((t1 - t0) / 1000)) ms:" \
		"$(awk -v n="$ok" -v us=$((t1 - t0)) 'BEGIN { printf "%.0f", n / (us / 1e6) }') issues/s"
	t0=$(_now_us)
	for _ in 1 2 3 4; do
		(for ((i = 0; i < N / 4; i++)); do cat "$m/creds/rr" >/dev/null 2>&1; done) &
		ps+=($!)
	done
	wait "${ps[@]}"
	t1=$(_now_us)
	echo "issuance $label: $N cats from 4 parallel readers in $(((t1 - t0) / 1000)) ms:" \
		"$(awk -v n="$N" -v us=$((t1 - t0)) 'BEGIN { printf "%.0f", n / (us / 1e6) }') issues/s"
}
rate_setup() { # rate_setup MNT (postgres still has the rotated root password)
	MNT=$1 setup_seed_conn rate 'allowed_roles=rr' "password=$ROOT_PW" &&
		printf '%s\n' db_name=rate "creation_statements=$CREATE_ONLY" default_ttl=${TTL}s max_ttl=1m \
			>"$1/roles/rr"
}
credfs_mount
rate_setup "$MNT" || fail "rate setup failed: $(last_error)"
# --state none: credfs_mount always passes this test's state; start one by hand.
NMNT=$(mktemp -d "$T_DIR/mnt.XXXXXX")
"$CREDFS_BIN" -f --state none "$NMNT" 2>>"$CREDFS_LOG" </dev/null &
NPID=$!
T_ON_EXIT+=("fusermount3 -u $NMNT 2>/dev/null; kill $NPID 2>/dev/null")
n_ready() { [ -d "$NMNT/config" ]; }
if wait_until 10 n_ready && rate_setup "$NMNT"; then
	for run in 1 2; do
		rate "$MNT" "with --state (run $run)"
		rate "$NMNT" "with --state none (run $run)"
	done
	t0=$(_now_us)
	check "after the rate runs, every login is revoked within TTL + 15 s (both daemons)" \
		wait_until $((TTL + 15)) no_v_logins
	echo "revocation drain after the rate runs: $((($(_now_us) - t0) / 1000)) ms"
else
	echo "credfs --state none did not start; no measurement"
fi
fusermount3 -u "$NMNT" || true
wait "$NPID" 2>/dev/null || true
credfs_umount
echo "(state on $(df --output=source,fstype "$CREDFS_STATE" | tail -n 1 | tr -s ' '); PostgreSQL runs with fsync=off in tests)"
finish
