#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# fleet-tick.sh - PostgreSQL time a fleet node's idle ticks cost with ROWS
# lease rows of another (live) node in the control store.
#
#   scripts/pg-scratch.sh start /tmp/pg-x; eval "$(scripts/pg-scratch.sh env /tmp/pg-x)"
#   sudo -E scripts/bench/fleet-tick.sh CREDFS_BIN [ROWS] [SECONDS]
#
# Needs pg_stat_statements in the server's shared_preload_libraries: for a
# scratch server, echo "shared_preload_libraries = 'pg_stat_statements'"
# >>DIR/data/postgresql.conf, then pg-scratch.sh stop and start it (not
# from under a flock(1): the server would inherit the lock).
# One node (fleet grace 10 s: a tick every 2 s), ROWS rows of node "other"
# whose heartbeat a loop keeps fresh (never claimed), SECONDS (30) of idle
# ticks after a reset of pg_stat_statements; prints every control store
# statement's calls and total ms (the node's statements: those naming
# "credfs", quoted), then their total over the node's heartbeats (one a
# tick). FLEET_READ=1 lists fleet/leases/r once a second meanwhile.
set -u
BIN=$1 ROWS=${2:-3000} SECS=${3:-30}
W=${FTICK_WORK:-/tmp/fleet-tick}
DB=ftickbench
export PGPASSWORD=admin
q() { psql -h 127.0.0.1 -XAtq -U credfs_admin -d "$DB" "$@"; }
[ "$(psql -h 127.0.0.1 -XAtq -U credfs_admin -d postgres -c "SHOW shared_preload_libraries")" = pg_stat_statements ] ||
	{ echo "fleet-tick: pg_stat_statements is not preloaded (see the header)" >&2; exit 1; }
rm -rf "$W"; mkdir -p "$W/state" "$W/mnt"; chmod 700 "$W/state"
psql -h 127.0.0.1 -XAtq -U credfs_admin -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
q -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null || exit 1
head -c 32 /dev/urandom >"$W/fleet.key"; chmod 600 "$W/fleet.key"
STORE="host=127.0.0.1 port=$PGPORT dbname=$DB user=credfs_admin password=admin sslmode=disable"
"$BIN" -f --fleet "$STORE" --fleet-key "$W/fleet.key" --node n1 --state "$W/state" \
	--key-file "$W/credfs.key" "$W/mnt" 2>"$W/log" </dev/null &
PID=$!
for _ in $(seq 100); do [ -d "$W/mnt/config" ] && break; sleep 0.1; done
[ -d "$W/mnt/config" ] || { echo "node did not mount" >&2; tail "$W/log" >&2; exit 1; }
q -c "INSERT INTO credfs.nodes (node, heartbeat) VALUES ('other', now())" \
	-c "INSERT INTO credfs.leases (id, node, role, username, connection, connection_version,
	    issued, valid_until, ttl_ms, state, holder, role_doc)
	    SELECT 'x' || g, 'other', 'r', 'v-r-' || g, 'db', 1, now(), now() + interval '1 hour',
	    3600000, 'held', '{}'::jsonb, '{}'::jsonb FROM generate_series(1, $ROWS) g" \
	-c "VACUUM ANALYZE credfs.leases" >/dev/null
( while kill -0 $PID 2>/dev/null; do
	q -c "UPDATE credfs.nodes SET heartbeat = now() WHERE node = 'other'" >/dev/null; sleep 1
done ) &
HB=$!
sleep 3
q -c "SELECT pg_stat_statements_reset()" >/dev/null
END=$((SECONDS + SECS))
while [ $SECONDS -lt $END ]; do
	[ "${FLEET_READ:-0}" = 1 ] && ls "$W/mnt/fleet/leases/r" >/dev/null
	sleep 1
done
q -F ' | ' -c "SELECT calls, round(total_exec_time::numeric, 2) AS ms, left(regexp_replace(query, '\s+', ' ', 'g'), 90)
	FROM pg_stat_statements WHERE query LIKE '%\"credfs\".%' ORDER BY total_exec_time DESC"
q -c "SELECT 'ticks (heartbeats): ' || sum(calls) FILTER (WHERE query LIKE '%\"credfs\".%SET heartbeat%') || ', PostgreSQL ms per tick: '
	|| round((sum(total_exec_time) FILTER (WHERE query LIKE '%\"credfs\".%') / sum(calls) FILTER (WHERE query LIKE '%\"credfs\".%SET heartbeat%'))::numeric, 3) FROM pg_stat_statements"
kill $HB 2>/dev/null
fusermount3 -u "$W/mnt"
wait $PID
