#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# pg-scratch.sh - a throwaway PostgreSQL 15 for credfs's tests and quickstart.
#
#   scripts/pg-scratch.sh start DIR   initdb in DIR/data, start on 127.0.0.1:<random port>;
#                                     a DIR stopped before starts again on its old port
#   scripts/pg-scratch.sh env DIR     print `export PGHOST=... PGPORT=...` lines to eval
#   scripts/pg-scratch.sh stop DIR    stop it (fast shutdown); safe to repeat
#
# What `start` sets up (the seed walkthrough's database):
#   - every connection, the local socket included, authenticates with
#     scram-sha-256;
#   - superuser postgres / password "password" (the seed's root login, which
#     the seed's rotate-root then changes);
#   - superuser credfs_admin / password "admin", for tests' checks and cleanup;
#   - database wizard with table coffees (Latte, Mocha, Espresso).
# The unix socket lives in DIR/run, the server log in DIR/postgres.log.
# Durability is PostgreSQL's default; PG_SCRATCH_FAST=1 sets fsync=off and
# synchronous_commit=off, for tests only.
#
# As root, the server runs as the `postgres` OS user (PostgreSQL refuses
# root); as anyone else, as that user. PG_BINDIR overrides the binaries.
set -euo pipefail

PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
PG_OS_USER=${PG_OS_USER:-postgres}

die() {
	printf 'pg-scratch: error: %s\n' "$*" >&2
	exit 1
}

say() {
	printf 'pg-scratch: %s\n' "$*" >&2
}

usage() {
	echo "usage: $0 start|stop|env DIR" >&2
	exit 2
}

# as_pg CMD... - run CMD as the database's OS user.
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$PG_OS_USER" -- "$@"
	else
		"$@"
	fi
}

# port_in_use PORT - true if something accepts connections on 127.0.0.1:PORT
# or the port is bound (in /proc/net/tcp as LISTEN, state 0A).
port_in_use() {
	local hex
	hex=$(printf '%04X' "$1")
	if grep -qE "^ *[0-9]+: [0-9A-F]+:$hex [0-9A-F]+:[0-9A-F]+ 0A " \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null; then
		return 0
	fi
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

random_free_port() {
	local p _i
	for _i in $(seq 1 50); do
		p=$((20000 + RANDOM % 40000))
		if ! port_in_use "$p"; then
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}

# pg_super_psql DIR PORT DB ARGS... - psql as postgres over the socket
# (used only right after initdb, before anything rotates its password).
pg_super_psql() {
	local dir=$1 port=$2 db=$3
	shift 3
	PGPASSWORD=password "$PG_BINDIR/psql" -h "$dir/run" -p "$port" -U postgres -d "$db" \
		-X -q -v ON_ERROR_STOP=1 "$@"
}

# wait_ready DIR PORT - until the server accepts connections (30 s at most).
wait_ready() {
	local _i
	for _i in $(seq 1 300); do
		if "$PG_BINDIR/pg_isready" -q -h 127.0.0.1 -p "$2" -t 1; then
			return 0
		fi
		sleep 0.1
	done
	die "PostgreSQL on port $2 not ready (log: $1/postgres.log)"
}

# resume DIR - start a stopped scratch cluster again, on its old port.
resume() {
	local dir=$1 port
	port=$(cat "$dir/port")
	say "starting the existing cluster in $dir on port $port"
	if ! as_pg "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
		start >/dev/null 2>&1; then
		tail -n 20 "$dir/postgres.log" >&2
		die "PostgreSQL did not start again (log: $dir/postgres.log)"
	fi
	wait_ready "$dir" "$port"
	say "ready: 127.0.0.1:$port"
}

cmd_start() {
	local dir=$1 data port attempt started=0

	[ -x "$PG_BINDIR/postgres" ] || die "$PG_BINDIR/postgres missing (run scripts/deps.sh)"
	if [ "$(id -u)" -eq 0 ] && ! id "$PG_OS_USER" >/dev/null 2>&1; then
		die "OS user $PG_OS_USER missing (install postgresql-15)"
	fi
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd -P)
	data=$dir/data
	if [ -f "$data/postmaster.pid" ] && as_pg "$PG_BINDIR/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		die "already running in $dir (stop it first)"
	fi
	if [ -f "$data/PG_VERSION" ] && [ -f "$dir/port" ]; then
		resume "$dir"
		return
	fi
	if [ -e "$data" ]; then
		die "$data exists but holds no scratch cluster; use a new directory"
	fi

	# The server user must reach DIR and write inside it.
	chmod 0755 "$dir"
	if [ "$(id -u)" -eq 0 ]; then
		install -d -m 0700 -o "$PG_OS_USER" "$data"
		install -d -m 0755 -o "$PG_OS_USER" "$dir/run"
		install -m 0600 -o "$PG_OS_USER" /dev/null "$dir/postgres.log"
		as_pg test -w "$dir/run" ||
			die "$PG_OS_USER cannot reach $dir (a parent directory is not searchable)"
	else
		install -d -m 0700 "$data"
		install -d -m 0755 "$dir/run"
		: >"$dir/postgres.log"
	fi

	local pwfile
	pwfile=$dir/run/.pw
	(umask 077 && printf 'password\n' >"$pwfile")
	if [ "$(id -u)" -eq 0 ]; then
		chown "$PG_OS_USER" "$pwfile"
	fi
	say "initdb $data"
	if ! as_pg "$PG_BINDIR/initdb" -D "$data" -U postgres --pwfile="$pwfile" \
		--auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1; then
		rm -f "$pwfile"
		cat "$dir/initdb.log" >&2
		die "initdb failed"
	fi
	rm -f "$pwfile"

	as_pg tee "$data/pg_hba.conf" >/dev/null <<-'EOF'
		# pg-scratch.sh: password (SCRAM) authentication everywhere
		local all all scram-sha-256
		host  all all 127.0.0.1/32 scram-sha-256
		host  all all ::1/128 scram-sha-256
	EOF
	{
		echo "# pg-scratch.sh"
		echo "listen_addresses = '127.0.0.1'"
		echo "unix_socket_directories = '$dir/run'"
		echo "password_encryption = 'scram-sha-256'"
		echo "max_connections = 200"
		echo "shared_buffers = 64MB"
		echo "log_min_messages = warning"
		if [ "${PG_SCRATCH_FAST:-0}" = 1 ]; then
			echo "fsync = off"
			echo "synchronous_commit = off"
			echo "full_page_writes = off"
		fi
		echo "include_if_exists = 'port.conf'"
	} | as_pg tee -a "$data/postgresql.conf" >/dev/null

	# A random port may be taken between the check and the bind: try a few.
	for attempt in 1 2 3 4 5; do
		port=$(random_free_port)
		echo "port = $port" | as_pg tee "$data/port.conf" >/dev/null
		if as_pg "$PG_BINDIR/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 \
			start >/dev/null 2>&1; then
			started=1
			break
		fi
		say "start on port $port failed (attempt $attempt)"
		if ! grep -qiE 'could not (bind|create listen)|address already in use' "$dir/postgres.log"; then
			break
		fi
	done
	if [ "$started" != 1 ]; then
		tail -n 20 "$dir/postgres.log" >&2
		die "PostgreSQL did not start (log: $dir/postgres.log)"
	fi
	echo "$port" >"$dir/port"

	wait_ready "$dir" "$port"

	pg_super_psql "$dir" "$port" postgres <<-'EOF' || die "creating credfs_admin and wizard failed"
		CREATE ROLE credfs_admin WITH LOGIN SUPERUSER PASSWORD 'admin';
		CREATE DATABASE wizard;
	EOF
	pg_super_psql "$dir" "$port" wizard <<-'EOF' || die "creating table coffees failed"
		CREATE TABLE coffees (id serial PRIMARY KEY, name text);
		INSERT INTO coffees (name) VALUES ('Latte'), ('Mocha'), ('Espresso');
	EOF
	say "ready: 127.0.0.1:$port (socket dir $dir/run, log $dir/postgres.log)"
}

cmd_stop() {
	local dir=$1 data
	data=$dir/data
	if [ ! -f "$data/postmaster.pid" ]; then
		say "not running in $dir"
		return 0
	fi
	if as_pg "$PG_BINDIR/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1; then
		say "stopped $dir"
		return 0
	fi
	# The pid file may be stale (server killed): nothing to stop then.
	if as_pg "$PG_BINDIR/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		die "could not stop PostgreSQL in $dir"
	fi
	say "not running in $dir"
}

cmd_env() {
	local dir=$1 port
	[ -f "$dir/port" ] || die "no scratch PostgreSQL started in $dir"
	dir=$(cd "$dir" && pwd -P)
	port=$(cat "$dir/port")
	printf 'export PGHOST=127.0.0.1\n'
	printf 'export PGPORT=%s\n' "$port"
	printf 'export CREDFS_PG_PORT=%s\n' "$port"
	printf 'export CREDFS_PG_DIR=%q\n' "$dir"
}

[ $# -eq 2 ] || usage
case "$1" in
start) cmd_start "$2" ;;
stop) cmd_stop "$2" ;;
env) cmd_env "$2" ;;
*) usage ;;
esac
