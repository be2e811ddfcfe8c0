#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_compact.sh - journal compaction under concurrent issuance. A regression
# test for the state journal (core/store.c) losing leases issued while it was
# being compacted: records appended while compaction started were sealed for
# the old file and written into the new one (the next start refused the
# journal: "record N does not authenticate"), an issue could return before
# its lease record was written, and a lease that left the in-flight list
# during the dump was in neither snapshot. Only the last compaction before a
# restart matters (the next one rewrites the journal from memory), so each
# restart here follows a compaction taken under load.
#
# CREDFS_COMPACT_BYTES is set low and two writers rewrite big role documents
# (the journal grows fast, the snapshot does not), so the daemon compacts
# many times while 8 (clean) or 16 (kill -9) readers open creds/ at once.
#
#   clean      8 readers x 40 cats of a role with a 5m TTL (a lease stays
#              listed after its cat closes, until the TTL passes): at least
#              MIN_COMPACTIONS compactions (daemon log), leases/long
#              recorded, clean unmount, restart: no record refused, every
#              recorded lease is listed again, every login handed out is a
#              live lease. Then rm revokes them all.
#   kill -9    ROUNDS times: the readers loop on a role with a 1 s TTL; once
#              the journal has been compacted CRASH_AFTER times, SIGKILL
#              right after the next compaction and restart on the same
#              state: no record refused. Then every login handed out, and
#              every v-% role in pg_roles, is a live lease or is dropped
#              within TTL + 15 s, and in the end all of them are revoked.
#
# shellcheck disable=SC2119,SC2317 # SC2317: functions run through check and wait_until
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
needs_test_hooks

export CREDFS_COMPACT_BYTES=20000
READERS=8       # in the clean storm
KILL_READERS=16 # in each kill -9 storm
CATS=40
ROUNDS=6
MIN_COMPACTIONS=10 # in the clean storm
CRASH_AFTER=5      # compactions in a kill -9 storm before the one it follows
TTL=1              # default_ttl of roles/short, seconds
CREATE_ONLY='CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '"'"'{{password}}'"'"' VALID UNTIL '"'"'{{expiration}}'"'"';'

# compactions - how many times the daemon logged a compaction (whole log).
compactions() {
	grep -c 'compacted to' "$CREDFS_LOG" || true
}
# started_clean - the daemon's log since the last mount refuses no record.
started_clean() {
	! awk '/^=== credfs mount/ { buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }' \
		"$CREDFS_LOG" | grep -qE 'does not authenticate|is corrupt|cannot be restored|not an object'
}
# handed_out FILE... - username of every complete credential in FILEs.
handed_out() {
	cat "$@" 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        print(json.loads(line)["data"]["username"])
    except (ValueError, KeyError, TypeError):
        pass
'
}
# lease_ids ROLE - the ids listed in leases/ROLE, sorted.
lease_ids() {
	find "$MNT/leases/$1" -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort
}
# live_users - the username of every lease listed in leases/, sorted.
live_users() {
	find "$MNT/leases" -mindepth 2 -maxdepth 2 -type f -exec cat {} + 2>/dev/null |
		jq -r '.username // empty' 2>/dev/null | sort -u
}
# unaccounted FILE - print the names in FILE (one a line) that pg_roles still
# has although no lease in leases/ names them; fails if pg_roles cannot be
# read. leases/ is read first: a lease stays listed until its role is dropped.
unaccounted() {
	live_users >"$T_DIR/live.tmp"
	admin_psql -c "SELECT rolname FROM pg_roles WHERE rolname LIKE 'v-%'" \
		>"$T_DIR/v_roles.tmp" || return 1
	sort -u "$T_DIR/v_roles.tmp" | comm -12 - <(sort -u "$1") | comm -23 - "$T_DIR/live.tmp"
}
none_unaccounted() {
	local u
	u=$(unaccounted "$1") && [ -z "$u" ]
}
# show_unaccounted FILE WHAT - print the first few unaccounted names, if any.
show_unaccounted() {
	local u
	u=$(unaccounted "$1") || true
	if [ -n "$u" ]; then
		echo "$2, no lease, still in pg_roles ($(grep -c . <<<"$u")," \
			"first 5): $(head -n 5 <<<"$u" | tr '\n' ' ')" >&2
	fi
}

define_roles() {
	setup_seed_conn wizard || fail "writing config/wizard failed: $(last_error)"
	printf '%s\n' db_name=wizard "creation_statements=$CREATE_ONLY" default_ttl=5m max_ttl=10m \
		>"$MNT/roles/long" || fail "writing roles/long failed: $(last_error)"
	printf '%s\n' db_name=wizard "creation_statements=$CREATE_ONLY" default_ttl=${TTL}s max_ttl=1m \
		>"$MNT/roles/short" || fail "writing roles/short failed: $(last_error)"
}
# reader ROLE OUT COUNT|STOPFILE - cat creds/ROLE at least COUNT times and
# until STOPFILE exists, or until STOPFILE exists; every credential is
# appended to OUT, the number of cats written to $T_DIR/cats.BASENAME(OUT).
reader() {
	local m=$MNT role=$1 out=$2 lim=$3 i=0 min=0 stop=$3
	if [[ $lim =~ ^([0-9]+):(.*)$ ]]; then
		min=${BASH_REMATCH[1]} stop=${BASH_REMATCH[2]}
	fi
	while [ "$i" -lt "$min" ] || [ ! -e "$stop" ]; do
		i=$((i + 1))
		cat "$m/creds/$role" >>"$out" 2>/dev/null || sleep 0.01
	done
	echo "$i" >"$T_DIR/cats.${out##*/}"
}
# churn NAME STOPFILE - rewrite roles/NAME with a big document (16 KB of
# statements, never run) until STOPFILE exists.
PAD=$(head -c 16000 /dev/zero | tr '\0' x)
churn() {
	local m=$MNT i=0
	while [ ! -e "$2" ]; do
		i=$((i + 1))
		{ printf '%s\n' db_name=wizard "creation_statements=$CREATE_ONLY SELECT '$i $PAD';" \
			"default_ttl=$((i % 50 + 10))s" max_ttl=1h >"$m/roles/$1"; } 2>/dev/null ||
			sleep 0.01
	done
}
# storm STOPFILE N ROLE OUT COUNT|STOPFILE - two churn writers (until
# STOPFILE exists, pids in CHURN_PIDS) and N readers of creds/ROLE writing
# OUT.1... (pids in READER_PIDS), in the background.
storm() {
	local stop=$1 readers=$2 role=$3 out=$4 lim=$5 n
	CHURN_PIDS=()
	for n in 1 2; do
		churn "churn$n" "$stop" &
		CHURN_PIDS+=($!)
	done
	READER_PIDS=()
	for n in $(seq "$readers"); do
		reader "$role" "$out.$n" "$lim" &
		READER_PIDS+=($!)
	done
}
# compactions_reach N SECS - poll (every 10 ms) until the log shows N compactions.
compactions_reach() {
	local end=$(($(_now_us) + $2 * 1000000))
	while [ "$(compactions)" -lt "$1" ]; do
		[ "$(_now_us)" -lt "$end" ] || return 1
		sleep 0.01
	done
}

# ==== clean unmount after a storm of compactions =====================================
credfs_mount
define_roles
OUT1=$T_DIR/got1
c0=$(compactions)
t0=$(_now_us)
# The readers go on until the journal was compacted MIN_COMPACTIONS times
# (however slow the machine) and each did CATS cats.
storm "$T_DIR/stop1" "$READERS" long "$OUT1" "$CATS:$T_DIR/stop1"
compactions_reach $((c0 + MIN_COMPACTIONS)) 300 || true
touch "$T_DIR/stop1"
wait "${READER_PIDS[@]}"
wait "${CHURN_PIDS[@]}" || true
n_compact=$(($(compactions) - c0))
got=$(cat "$OUT1".* | grep -c '"password"') || true
cats=$(cat "$T_DIR/cats.${OUT1##*/}".* | awk '{ s += $1 } END { print s + 0 }')
echo "clean storm: $got credentials, $n_compact compactions in $((($(_now_us) - t0) / 1000)) ms"
check_eq "every cat got a credential" "$cats" "$got"
check "the journal was compacted at least $MIN_COMPACTIONS times ($n_compact)" \
	test "$n_compact" -ge "$MIN_COMPACTIONS"
cat "$OUT1".* | jq -r '.lease_id | split("/") | last' | sort >"$T_DIR/long.got"
lease_ids long >"$T_DIR/long.before"
check "every lease handed out is listed in leases/long ($(wc -l <"$T_DIR/long.got"))" \
	test -z "$(comm -23 "$T_DIR/long.got" "$T_DIR/long.before")"
credfs_umount

credfs_mount
check "after the clean restart: no record was refused" started_clean
lease_ids long >"$T_DIR/long.after"
missing=$(comm -23 "$T_DIR/long.before" "$T_DIR/long.after")
if [ -n "$missing" ]; then
	echo "listed before the restart, missing after it ($(grep -c . <<<"$missing"), first 5):" \
		"$(head -n 5 <<<"$missing" | tr '\n' ' ')" >&2
fi
check_eq "after the clean restart: every lease listed in leases/long is there again" 0 \
	"$(grep -c . <<<"$missing" || true)"
handed_out "$OUT1".* | sort -u >"$T_DIR/users1"
check "after the clean restart: every login handed out ($(wc -l <"$T_DIR/users1")) is a live lease" \
	none_unaccounted "$T_DIR/users1"
show_unaccounted "$T_DIR/users1" "handed out before the clean restart"
# Revoke them now (a small snapshot again) and wait for it, so that no
# revocation is under way when the daemon is killed below.
find "$MNT/leases/long" -mindepth 1 -maxdepth 1 -exec rm {} + 2>/dev/null || true
long_gone() { [ -z "$(lease_ids long)" ] && [ "$(v_role_count)" = 0 ]; }
check "rm leases/long/*: every long lease is revoked within 15 s" wait_until 15 long_gone

# ==== kill -9 right after a compaction under load ========================================
OUT2=$T_DIR/got2
for round in $(seq "$ROUNDS"); do
	stop=$T_DIR/stop2.$round
	c0=$(compactions)
	storm "$stop" "$KILL_READERS" short "$OUT2.$round" "$stop"
	compactions_reach $((c0 + CRASH_AFTER)) 8 || true
	compactions_reach $(($(compactions) + 1)) 4 || true
	credfs_crash
	n_compact=$(($(compactions) - c0))
	touch "$stop"
	wait "${CHURN_PIDS[@]}" "${READER_PIDS[@]}" 2>/dev/null || true
	got=$(cat "$OUT2.$round".* 2>/dev/null | grep -c '"password"') || true
	echo "round $round: $got credentials, $n_compact compactions before kill -9"
	check "round $round: the journal was compacted more than $CRASH_AFTER times during the storm ($n_compact)" \
		test "$n_compact" -gt "$CRASH_AFTER"
	credfs_mount
	check "round $round: after kill -9 no record was refused at restart" started_clean
done
handed_out "$OUT2".* | sort -u >"$T_DIR/users2"
check "after kill -9: every login handed out ($(wc -l <"$T_DIR/users2")) is a live lease or dropped within TTL + 15 s" \
	wait_until $((TTL + 15)) none_unaccounted "$T_DIR/users2"
show_unaccounted "$T_DIR/users2" "handed out before kill -9"
all_v=$T_DIR/all_v
admin_psql -c "SELECT rolname FROM pg_roles WHERE rolname LIKE 'v-%'" >"$all_v" || true
check "no v-% role is left that no lease accounts for" wait_until 5 none_unaccounted "$all_v"
show_unaccounted "$all_v" "a v-% role"
# Every holder is gone and the long leases were revoked: all of it ends.
no_v_roles() { [ "$(v_role_count)" = 0 ]; }
check "every lease is revoked and every v-% role dropped within TTL + 15 s" \
	wait_until $((TTL + 15)) no_v_roles
check_eq "leases/ is empty" "" "$(find "$MNT/leases" -type f 2>/dev/null)"
credfs_umount
finish
