#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# quickstart.sh - try credfs on a throwaway PostgreSQL, the seed walkthrough's way.
#
#   sudo scripts/quickstart.sh            mounts at /tmp/credfs
#   CREDFS_MOUNT=/mnt/x scripts/quickstart.sh
#
# Installs what is missing, builds, starts a scratch PostgreSQL (database
# wizard, table coffees, root login postgres/password), mounts credfs, writes
# the seed's role db-app and connection wizard through files, then prints
# what to try and waits. Ctrl-C unmounts, stops everything and removes the
# temporary files. Needs root (FUSE, apt, the postgres OS user).
set -euo pipefail

cd "$(dirname "$0")/.."
M=${CREDFS_MOUNT:-/tmp/credfs}

say() {
	printf 'quickstart: %s\n' "$*" >&2
}

die() {
	say "error: $*"
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "run as root (sudo $0): FUSE, apt and PostgreSQL's OS user need it"
if grep -qF " $M fuse" /proc/self/mounts; then
	die "$M is already a FUSE mount (another quickstart?); fusermount3 -u $M first"
fi

scripts/deps.sh
say "building into build/"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 >/dev/null

work=$(mktemp -d /tmp/credfs-quickstart.XXXXXX)
chmod 0711 "$work"
made_mnt=0
daemon=

# shellcheck disable=SC2317 # called by the traps
cleanup() {
	local _i
	trap - EXIT INT TERM
	set +e
	say "stopping"
	if grep -qF " $M fuse" /proc/self/mounts; then
		fusermount3 -u "$M" 2>/dev/null || fusermount3 -u -z "$M"
	fi
	if [ -n "$daemon" ]; then
		for _i in $(seq 1 100); do
			kill -0 "$daemon" 2>/dev/null || break
			sleep 0.1
		done
		kill "$daemon" 2>/dev/null
		wait "$daemon" 2>/dev/null
	fi
	scripts/pg-scratch.sh stop "$work/pg" >/dev/null 2>&1
	rm -rf "$work"
	if [ "$made_mnt" = 1 ]; then
		rmdir "$M" 2>/dev/null
	fi
}
trap cleanup EXIT
trap 'exit 0' INT TERM

scripts/pg-scratch.sh start "$work/pg"
eval "$(scripts/pg-scratch.sh env "$work/pg")"

if [ ! -d "$M" ]; then
	mkdir -p "$M"
	made_mnt=1
fi
say "mounting credfs at $M (log: $work/credfs.log)"
build/credfs -f --state "$work/state" --key-file "$work/credfs.key" \
	--audit-log "$work/audit.log" "$M" 2>"$work/credfs.log" </dev/null &
daemon=$!
for _i in $(seq 1 100); do
	[ -d "$M/config" ] && break
	kill -0 "$daemon" 2>/dev/null || break
	sleep 0.1
done
if [ ! -d "$M/config" ]; then
	cat "$work/credfs.log" >&2
	die "credfs did not mount at $M"
fi

# The seed's `vault write database/roles/db-app ...`: the role first.
echo 'db_name=wizard
creation_statements=CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '"'"'{{password}}'"'"' VALID UNTIL '"'"'{{expiration}}'"'"'; GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";
revocation_statements=ALTER ROLE "{{name}}" NOLOGIN;
default_ttl=1h
max_ttl=24h' >"$M/roles/db-app" || die "writing roles/db-app failed: $(tail -n 1 "$M/errors")"

# The seed's `vault write database/config/wizard ...`.
printf '%s\n' plugin_name=postgresql-database-plugin 'allowed_roles=*' \
	"connection_url=postgresql://{{username}}:{{password}}@127.0.0.1:$PGPORT/wizard?sslmode=disable" \
	username=postgres password=password >"$M/config/wizard" ||
	die "writing config/wizard failed: $(tail -n 1 "$M/errors")"

cat <<EOF

credfs is mounted at $M, backed by PostgreSQL on 127.0.0.1:$PGPORT
(database wizard, table coffees, root login postgres / password).
The role db-app and the connection wizard are written. In another shell:

  export PGHOST=127.0.0.1 PGPORT=$PGPORT
  ls $M $M/creds
  cat $M/config/wizard | jq          # no password in it
  cat $M/roles/db-app | jq
  cat $M/creds/db-app | jq           # each read: a new PostgreSQL login

  # the seed's test: credentials into variables, then psql with them
  db_creds=\$(cat $M/creds/db-app); username=\$(echo \${db_creds} | jq -r .data.username); password=\$(echo \${db_creds} | jq -r .data.password); PGPASSWORD=\${password} psql -U \${username} wizard -c 'select * from coffees'

  echo > $M/rotate-root/wizard       # rotate the root password
  PGPASSWORD=password psql -U postgres   # ... now refused
  ls $M/leases/db-app                # live leases (rm one to revoke it now)
  echo 'default_ttl=1x' > $M/roles/oops; tail -n 1 $M/errors   # why a write failed

Press Ctrl-C to unmount and remove everything.
EOF

wait "$daemon" || true
daemon=
say "credfs exited; its log:"
cat "$work/credfs.log" >&2
exit 1
