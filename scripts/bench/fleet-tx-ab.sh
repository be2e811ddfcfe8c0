#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# fleet-tx-ab.sh - issue 13 item 4: a fleet node whose control schema is in
# the target database, lease row in the creation transaction ("inl") against
# the row in a transaction of its own ("sep", CREDFS_TEST_FLEET_SEPARATE=1),
# both nodes of one fleet mounted side by side on a scratch PostgreSQL.
#
#   scripts/pg-scratch.sh start /tmp/pg-x; eval "$(scripts/pg-scratch.sh env /tmp/pg-x)"
#   sudo -E scripts/bench/fleet-tx-ab.sh CREDFS_BIN CREDBENCH [ROUNDS]
#
# CREDFS_BIN built with -DCREDFS_TEST_HOOKS=ON; CREDBENCH is credbench.c
# built as scripts/bench.sh does. Per round (before it: VACUUM pg_authid,
# CHECKPOINT) and N in 1 4: SLICES (6) slices of SLICE (0.5) s from each
# side, alternating, the first side alternating with the round; one line per
# round with each side's creds/s and their ratio inl/sep. INL_ENV replaces
# the "inl" node's environment (INL_ENV=CREDFS_TEST_FLEET_SEPARATE=1: an
# A/A run). SEP_BIN runs the "sep" node with another binary and SEP_ENV
# replaces its environment (SEP_BIN=old-credfs SEP_ENV=X=1: two builds, both
# with the row in the creation transaction). Logins are left behind
# (database ftxbench, dropped at the next run).
set -u
BIN=$1 CB=$2 ROUNDS=${3:-4}
W=${FTX_WORK:-/tmp/fleet-tx-ab}
rm -rf "$W"; mkdir -p "$W"
DB=ftxbench
PGPASSWORD="admin" psql -h 127.0.0.1 -XAtq -U credfs_admin -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
head -c 32 /dev/urandom >"$W/fleet.key"; chmod 600 "$W/fleet.key"
STORE="host=127.0.0.1 port=$PGPORT dbname=$DB user=credfs_admin password=admin sslmode=disable"
declare -A PID MNT
start() { # name env [binary]
	local n=$1 d=$W/$1
	mkdir -p "$d/state" "$d/mnt"; chmod 700 "$d/state"
	env "$2" "${3:-$BIN}" -f --fleet "$STORE" --fleet-key "$W/fleet.key" --node "$n" --state "$d/state" \
		--key-file "$d/credfs.key" "$d/mnt" 2>"$d/log" </dev/null &
	PID[$n]=$!; MNT[$n]=$d/mnt
	for _ in $(seq 100); do [ -d "$d/mnt/config" ] && return; sleep 0.1; done
	echo "node $n did not mount" >&2; tail "$d/log" >&2; exit 1
}
start inl "${INL_ENV:-X=1}"
start sep "${SEP_ENV:-CREDFS_TEST_FLEET_SEPARATE=1}" "${SEP_BIN:-$BIN}"
URL="postgresql://{{username}}:{{password}}@127.0.0.1:$PGPORT/$DB?sslmode=disable"
printf '%s\n' plugin_name=postgresql-database-plugin 'allowed_roles=*' "connection_url=$URL" \
	username=postgres password=password >"${MNT[inl]}/config/db" || { echo config failed; exit 1; }
printf '%s\n' db_name=db 'creation_statements=CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '"'"'{{password}}'"'"' VALID UNTIL '"'"'{{expiration}}'"'"';' \
	default_ttl=1h max_ttl=2h >"${MNT[inl]}/roles/r" || { echo role failed; exit 1; }
sleep 2
if ! cat "${MNT[inl]}/creds/r" >/dev/null || ! cat "${MNT[sep]}/creds/r" >/dev/null; then
	echo "first issue failed" >&2
	tail "$W"/*/log >&2
	exit 1
fi
grep -h "control store is" "$W"/*/log
cleanup_logins() {
	PGPASSWORD="admin" psql -h 127.0.0.1 -XAtq -U credfs_admin -d "$DB" -c "VACUUM pg_authid" -c "CHECKPOINT" >/dev/null 2>&1
}
SLICE=${SLICE:-0.5} SLICES=${SLICES:-6}
for N in 1 4; do
	for r in $(seq "$ROUNDS"); do
		cleanup_logins
		declare -A OPS=([inl]=0 [sep]=0) SECS_=([inl]=0 [sep]=0)
		for k in $(seq "$SLICES"); do
			if [ $(((k + r) % 2)) -eq 1 ]; then order="inl sep"; else order="sep inl"; fi
			for side in $order; do
				out=$("$CB" issue "${MNT[$side]}/creds/r" "$N" "$SLICE")
				OPS[$side]=$((OPS[$side] + $(sed -n 's/^ops=//p' <<<"$out")))
				SECS_[$side]=$(awk -v a="${SECS_[$side]}" -v b="$(sed -n 's/^secs=//p' <<<"$out")" 'BEGIN{print a+b}')
			done
		done
		awk -v N="$N" -v r="$r" -v oi="${OPS[inl]}" -v si="${SECS_[inl]}" -v os="${OPS[sep]}" -v ss="${SECS_[sep]}" \
			'BEGIN{ri=oi/si; rs=os/ss; printf "N=%d round=%d inl=%.1f sep=%.1f ratio=%.3f\n", N, r, ri, rs, ri/rs}'
	done
done
PGPASSWORD="admin" psql -h 127.0.0.1 -XAtq -U credfs_admin -d "$DB" -c "SELECT node, count(*) FROM credfs.leases GROUP BY node ORDER BY node"
for n in inl sep; do fusermount3 -u "${MNT[$n]}"; done
for n in inl sep; do wait "${PID[$n]}"; done
