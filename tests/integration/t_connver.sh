#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_connver.sh - a lease belongs to the connection version it was issued on
# (engine v2). Two PostgreSQL servers: A (the shared one) and B (private),
# both with the seed's wizard database; config/wizard is rewritten between
# them, and roles/r (TTL 1 h, default revocation: DROP ROLE) uses it.
#
#   rewrite    L1 issued on A, config/wizard rewritten to B, L2 issued on B:
#              rm of each drops its login on its own server, within 5 s
#   restart    L3 issued on A, config/wizard rewritten to B, kill -9 and
#              restart, rm L3: dropped on A
#   rm config  rm config/wizard while a lease lives fails with EBUSY
#              ("Device or resource busy") and keeps the connection
#   rm role    rm roles/r while two leases live is allowed; rm of one drops
#              its login; after kill -9 and a restart, the other is still
#              listed and rm drops it too; then rm config/wizard succeeds
#
# shellcheck disable=SC2119,SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

CREATE_ONLY='CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '"'"'{{password}}'"'"' VALID UNTIL '"'"'{{expiration}}'"'"';'
user_of() { jq -r .data.username <<<"$1"; }
id_of() { jq -r '.lease_id | split("/") | last' <<<"$1"; }
listed() { [ -e "$MNT/leases/$1" ]; }

# ---- server B ---------------------------------------------------------------
pg2_start &
PG2_STARTER=$!
PORT_A=$CREDFS_PG_PORT
# count_on PORT USER - 1 if the server on PORT has the role USER, else 0.
count_on() {
	PGPASSWORD='admin' psql -h 127.0.0.1 -p "$1" -U credfs_admin -d wizard -XAtq \
		-v ON_ERROR_STOP=1 -c "SELECT count(*) FROM pg_roles WHERE rolname = $(sql_lit "$2")"
}
on_a() { [ "$(count_on "$PORT_A" "$1")" = 1 ]; }
on_b() { [ "$(count_on "$PORT_B" "$1")" = 1 ]; }
gone_a() { [ "$(count_on "$PORT_A" "$1")" = 0 ]; }
gone_b() { [ "$(count_on "$PORT_B" "$1")" = 0 ]; }
conn_to() { # conn_to PORT - (re)write config/wizard to point to the server on PORT
	setup_seed_conn wizard \
		"connection_url=postgresql://{{username}}:{{password}}@127.0.0.1:$1/wizard?sslmode=disable" ||
		fail "writing config/wizard (port $1) failed: $(last_error)"
}
# issue VAR - cat creds/r; VAR_USER and VAR_ID are set.
issue() {
	local c
	c=$(cat "$MNT/creds/r") || fail "cat creds/r failed: $(last_error)"
	printf -v "${1}_USER" '%s' "$(user_of "$c")"
	printf -v "${1}_ID" '%s' "$(id_of "$c")"
}

credfs_mount
conn_to "$PORT_A"
printf '%s\n' db_name=wizard "creation_statements=$CREATE_ONLY" default_ttl=1h max_ttl=24h \
	>"$MNT/roles/r" || fail "writing roles/r failed: $(last_error)"
wait "$PG2_STARTER" || fail "could not start server B: $(tail -n 5 "$T_DIR/pg2.log")"
PORT_B=$(cat "$PG2/port")
echo "server A on port $PORT_A, server B on port $PORT_B"

# ==== rewrite ======================================================================
issue L1
check "rewrite: L1 is created on A" on_a "$L1_USER"
check "rewrite: L1 is not on B" gone_b "$L1_USER"
conn_to "$PORT_B"
issue L2
check "rewrite: L2 (after the rewrite) is created on B" on_b "$L2_USER"
check "rewrite: L2 is not on A" gone_a "$L2_USER"

# ==== rm config/wizard while leases live ==============================================
rm_out=$(rm "$MNT/config/wizard" 2>&1) && rm_rc=0 || rm_rc=$?
check "rm config/wizard while leases live fails (status $rm_rc)" test "$rm_rc" -ne 0
check_match "rm config/wizard while leases live: EBUSY" "$rm_out" 'Device or resource busy'
check "rm config/wizard while leases live: config/wizard is still there" test -e "$MNT/config/wizard"

check "rewrite: rm leases/r/L1 succeeds" rm "$MNT/leases/r/$L1_ID"
check "rewrite: rm leases/r/L2 succeeds" rm "$MNT/leases/r/$L2_ID"
check "rewrite: L1's login is dropped from A (where it was issued) within 5 s" wait_until 5 gone_a "$L1_USER"
check "rewrite: L2's login is dropped from B within 5 s" wait_until 5 gone_b "$L2_USER"
check "rewrite: L1 leaves leases/r" wait_until 3 not listed "r/$L1_ID"
check "rewrite: L2 leaves leases/r" wait_until 3 not listed "r/$L2_ID"

# ==== rewrite, then a restart ==========================================================
conn_to "$PORT_A"
issue L3
check "restart: L3 is created on A" on_a "$L3_USER"
conn_to "$PORT_B"
credfs_crash
credfs_mount
check "restart: L3 is listed after the restart" listed "r/$L3_ID"
check "restart: config/wizard points to B after the restart" \
	grep -qF ":$PORT_B/" "$MNT/config/wizard"
check "restart: rm leases/r/L3 succeeds" rm "$MNT/leases/r/$L3_ID"
check "restart: L3's login is dropped from A within 5 s" wait_until 5 gone_a "$L3_USER"

# ==== rm roles/r while its leases live ==================================================
conn_to "$PORT_A"
issue L4
issue L5
rm_out=$(rm "$MNT/roles/r" 2>&1) && rm_rc=0 || rm_rc=$?
check_eq "rm role: rm roles/r while two leases live succeeds ($rm_out)" 0 "$rm_rc"
check "rm role: roles/r is gone" not test -e "$MNT/roles/r"
check "rm role: L4 is still listed" listed "r/$L4_ID"
check "rm role: rm leases/r/L4 succeeds" rm "$MNT/leases/r/$L4_ID"
check "rm role: L4's login is dropped from A within 5 s" wait_until 5 gone_a "$L4_USER"
check "rm role: L4 leaves leases/r" wait_until 3 not listed "r/$L4_ID"
credfs_crash
credfs_mount
check "rm role: after a restart roles/r is still gone" not test -e "$MNT/roles/r"
check "rm role: after a restart L5 is listed" listed "r/$L5_ID"
check "rm role: after a restart rm leases/r/L5 succeeds" rm "$MNT/leases/r/$L5_ID"
check "rm role: after a restart L5's login is dropped from A within 5 s" wait_until 5 gone_a "$L5_USER"
check "rm role: after a restart L5 leaves leases/r" wait_until 3 not listed "r/$L5_ID"

# ==== nothing is left: the connection can go ===========================================
no_leases() { [ -z "$(find "$MNT/leases" -mindepth 2 -maxdepth 2 -type f 2>/dev/null)" ]; }
check "every lease gone: leases/ lists none" wait_until 5 no_leases
find "$MNT/leases" -mindepth 2 -maxdepth 2 -type f -exec jq -c '{id, role, username, state}' {} + 2>/dev/null >&2 || true
check "every lease gone: rm config/wizard succeeds" rm "$MNT/config/wizard"
for u in "$L1_USER" "$L2_USER" "$L3_USER" "$L4_USER" "$L5_USER"; do
	if on_a "$u" || on_b "$u"; then
		echo "still in pg_roles: $u (A: $(count_on "$PORT_A" "$u"), B: $(count_on "$PORT_B" "$u"))" >&2
	fi
done

credfs_umount
finish
