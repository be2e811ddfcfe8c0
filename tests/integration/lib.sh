# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# lib.sh - sourced by every tests/integration/t_*.sh.
#
# Skips (exit 77) without root, /dev/fuse, fusermount3, psql, jq, python3 or
# the PostgreSQL server binaries. Uses the scratch PostgreSQL named by
# CREDFS_PG_PORT (scripts/test.sh starts one for all tests), else starts a
# private one for this test. Each test mounts its own credfs with its own
# state directory; the EXIT trap unmounts it, drops leftover v-% roles and
# gives postgres back the password "password", so tests that share one
# PostgreSQL stay independent. Tests sharing a PostgreSQL must run one at a
# time (ctest without -j), since the cleanup drops every v-% role.
#
# Helpers:
#   credfs_mount [ARGS...]   mount at $MNT (daemon pid $CREDFS_PID, log $CREDFS_LOG)
#   credfs_umount            unmount and wait for the daemon to exit 0
#   credfs_crash             kill -9 the daemon and clear the dead mount
#   admin_psql [ARGS...]     psql as superuser credfs_admin on db wizard (-XAtq)
#   role_exists NAME         true if pg_roles has NAME (role_gone: the opposite)
#   can_login USER PASS      true if USER/PASS can log in to wizard
#   v_role_count             number of v-% roles
#   wait_until SECS CMD...   poll CMD every 0.1 s until it succeeds or SECS pass
#   check DESC CMD...        run CMD: count a pass, or report DESC and count a failure
#   fail MSG                 report and end the test now (exit 1)
#   check_eq DESC WANT GOT, check_match DESC STRING ERE
#   not CMD..., lacks NEEDLE TEXT, file_lacks NEEDLE FILE, int_between V LO HI
#   finish                   print "N passed, N failed" and exit accordingly
#   setup_seed_role [NAME [DEFAULT_TTL [MAX_TTL [DB]]]]   the seed's role (key=value)
#   setup_seed_conn [NAME [KEY=VALUE...]]                 the seed's connection
#   errno_of_write FILE TEXT  print OK or the errno name of writing TEXT and closing
#   errno_of_read FILE        print OK or the errno name of opening+reading FILE
#   last_error               the last line of $MNT/errors
#   hold_creds ROLE open|closed  a process that read creds/ROLE (HOLD_PID, HOLD_CREDS)
#   stop_holder PID          kill -9 it and reap it
# CREDFS_KEEP=1 keeps the test's temporary directory (daemon log, state).
set -euo pipefail

skip() {
	echo "SKIP: $*"
	exit 77
}

if [ "$(id -u)" -ne 0 ]; then skip "needs root (FUSE mount, runuser)"; fi
if [ ! -c /dev/fuse ]; then skip "/dev/fuse missing"; fi
for _c in fusermount3 psql jq python3; do
	command -v "$_c" >/dev/null 2>&1 || skip "$_c missing (run scripts/deps.sh)"
done
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
if [ ! -x "$PG_BINDIR/postgres" ] || [ ! -x "$PG_BINDIR/initdb" ]; then
	skip "PostgreSQL server binaries missing in $PG_BINDIR (run scripts/deps.sh)"
fi
unset _c

CREDFS_SRC=${CREDFS_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
CREDFS_BIN=${CREDFS_BIN:-$CREDFS_SRC/build/credfs}
if [ ! -x "$CREDFS_BIN" ]; then
	echo "FAIL: credfs binary $CREDFS_BIN missing (build first)" >&2
	exit 1
fi

# needs_test_hooks - skip unless credfs was built with CREDFS_TEST_HOOKS
# (crash points, early compaction, the wall-clock offset); scripts/test.sh
# builds it so.
needs_test_hooks() {
	"$CREDFS_BIN" --version | grep -q 'test hooks' ||
		skip "$CREDFS_BIN was built without CREDFS_TEST_HOOKS"
}

T_NAME=$(basename "$0" .sh)
T_DIR=$(mktemp -d "/tmp/credfs-$T_NAME.XXXXXX")
chmod 0711 "$T_DIR" # the postgres OS user must reach a private $T_DIR/pg
MNT=
CREDFS_PID=
CREDFS_LOG=$T_DIR/credfs.log
CREDFS_STATE=$T_DIR/state
HOLD_PID=
HOLD_CREDS=
T_ON_EXIT=() # commands (strings, eval'd) the cleanup runs after unmounting
T_PASS=0
T_FAIL=0
_PRIVATE_PG=

# ---- PostgreSQL (the server is started at the end of this file) ---------------

# admin_psql_db DB ARGS... - psql as credfs_admin on DB.
admin_psql_db() {
	local db=$1
	shift
	PGPASSWORD='admin' psql -h 127.0.0.1 -p "$CREDFS_PG_PORT" -U credfs_admin -d "$db" \
		-XAtq -v ON_ERROR_STOP=1 "$@"
}

admin_psql() {
	admin_psql_db wizard "$@"
}

# sql_lit TEXT - TEXT as an SQL string literal.
sql_lit() {
	printf "'%s'" "${1//\'/\'\'}"
}

role_exists() {
	[ "$(admin_psql -c "SELECT count(*) FROM pg_roles WHERE rolname = $(sql_lit "$1")")" = 1 ]
}

role_gone() {
	[ "$(admin_psql -c "SELECT count(*) FROM pg_roles WHERE rolname = $(sql_lit "$1")")" = 0 ]
}

# role_attr NAME COLUMN - a pg_roles column of NAME (empty if no such role).
role_attr() {
	admin_psql -c "SELECT $2 FROM pg_roles WHERE rolname = $(sql_lit "$1")"
}

can_login() {
	PGPASSWORD=$2 psql -h 127.0.0.1 -p "$CREDFS_PG_PORT" -U "$1" -d wizard -XAtq \
		-c 'select 1' </dev/null >/dev/null 2>&1
}

v_role_count() {
	admin_psql -c "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v-%'"
}

# ---- results -----------------------------------------------------------------

_show_daemon() {
	if [ -s "$CREDFS_LOG" ]; then
		echo "--- credfs log (last 30 lines) ---" >&2
		tail -n 30 "$CREDFS_LOG" >&2
	fi
	if [ -n "$MNT" ] && [ -r "$MNT/errors" ]; then
		echo "--- $MNT/errors (last 5 lines) ---" >&2
		tail -n 5 "$MNT/errors" >&2 2>/dev/null || true
	fi
}

fail() {
	echo "FAIL: $*" >&2
	T_FAIL=$((T_FAIL + 1))
	_show_daemon
	echo "$T_PASS passed, $T_FAIL failed"
	exit 1
}

# check DESC CMD... - a soft assertion (CMD's stdout is dropped): the test
# goes on, finish fails it.
check() {
	local desc=$1
	shift
	if "$@" >/dev/null; then
		T_PASS=$((T_PASS + 1))
		echo "ok: $desc"
	else
		T_FAIL=$((T_FAIL + 1))
		echo "FAIL: $desc" >&2
	fi
}

# check_eq DESC EXPECTED ACTUAL
check_eq() {
	if [ "$2" = "$3" ]; then
		T_PASS=$((T_PASS + 1))
		echo "ok: $1"
	else
		T_FAIL=$((T_FAIL + 1))
		printf 'FAIL: %s: expected [%s], got [%s]\n' "$1" "$2" "$3" >&2
	fi
}

# check_match DESC STRING ERE - STRING matches the extended regex ERE.
check_match() {
	if [[ $2 =~ $3 ]]; then
		T_PASS=$((T_PASS + 1))
		echo "ok: $1"
	else
		T_FAIL=$((T_FAIL + 1))
		printf 'FAIL: %s: [%s] does not match /%s/\n' "$1" "$2" "$3" >&2
	fi
}

# not CMD... - succeeds when CMD fails (for check).
not() {
	! "$@"
}

# lacks NEEDLE TEXT - TEXT does not contain NEEDLE.
lacks() {
	[[ $2 != *"$1"* ]]
}

# file_lacks NEEDLE FILE - FILE does not contain NEEDLE.
file_lacks() {
	! grep -qF -- "$1" "$2"
}

# int_between VALUE LOW HIGH
int_between() {
	[[ $1 =~ ^-?[0-9]+$ ]] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]
}

finish() {
	if [ "$T_FAIL" -ne 0 ]; then
		_show_daemon
	fi
	echo "$T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" -eq 0 ] || exit 1
	exit 0
}

# ---- time ------------------------------------------------------------------

_now_us() {
	echo "${EPOCHREALTIME/./}"
}

# wait_until SECS CMD... - poll CMD every 0.1 s; 0 once it succeeds, 1 after SECS.
wait_until() {
	local limit_us end
	limit_us=$(awk -v s="$1" 'BEGIN { printf "%d", s * 1000000 }')
	shift
	end=$(($(_now_us) + limit_us))
	while :; do
		if "$@"; then
			return 0
		fi
		if [ "$(_now_us)" -ge "$end" ]; then
			return 1
		fi
		sleep 0.1
	done
}

# ---- the mount ---------------------------------------------------------------

_daemon_gone() {
	local st
	[ -n "$CREDFS_PID" ] || return 0
	st=$(awk '{ print $3 }' "/proc/$CREDFS_PID/stat" 2>/dev/null) || return 0
	[ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}

_mounted() {
	[ -n "$MNT" ] && grep -qF " $MNT fuse" /proc/self/mounts
}

# credfs_mount [ARGS...] - start credfs -f on a new mount point $MNT with this
# test's state directory (kept across remounts) and wait for $MNT/config.
credfs_mount() {
	MNT=$(mktemp -d "$T_DIR/mnt.XXXXXX")
	mkdir -p "$CREDFS_STATE"
	chmod 0700 "$CREDFS_STATE"
	echo "=== credfs mount $MNT $*" >>"$CREDFS_LOG"
	"$CREDFS_BIN" -f --state "$CREDFS_STATE" --key-file "$T_DIR/credfs.key" \
		--audit-log "$T_DIR/audit.log" "$@" "$MNT" 2>>"$CREDFS_LOG" </dev/null &
	CREDFS_PID=$!
	if ! wait_until 10 _mount_ready; then
		fail "credfs did not mount at $MNT within 10 s"
	fi
}

_mount_ready() {
	if _daemon_gone; then
		fail "credfs exited during startup"
	fi
	[ -d "$MNT/config" ]
}

# credfs_umount - unmount $MNT and expect the daemon to exit with status 0.
credfs_umount() {
	local rc=0
	[ -n "$MNT" ] || return 0
	if _mounted && ! fusermount3 -u "$MNT"; then
		fail "fusermount3 -u $MNT failed"
	fi
	if ! wait_until 10 _daemon_gone; then
		kill -TERM "$CREDFS_PID" 2>/dev/null || true
		wait_until 5 _daemon_gone || kill -KILL "$CREDFS_PID" 2>/dev/null || true
		wait "$CREDFS_PID" 2>/dev/null || true
		CREDFS_PID=
		fail "credfs did not exit within 10 s of the unmount"
	fi
	wait "$CREDFS_PID" 2>/dev/null || rc=$?
	CREDFS_PID=
	rmdir "$MNT" 2>/dev/null || true
	MNT=
	if [ "$rc" -ne 0 ]; then
		fail "credfs exited with status $rc after unmount"
	fi
}

# credfs_crash - kill -9 the daemon (a crash) and clear its dead mount.
credfs_crash() {
	[ -n "$CREDFS_PID" ] || return 0
	kill -KILL "$CREDFS_PID" 2>/dev/null || true
	wait "$CREDFS_PID" 2>/dev/null || true
	CREDFS_PID=
	fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT" 2>/dev/null || true
	rmdir "$MNT" 2>/dev/null || true
	MNT=
}

# ---- a second PostgreSQL (server B) -------------------------------------------
# For tests that stop, restart or switch servers without disturbing the
# shared one. pg2_start starts (or starts again, on its old port) a private
# scratch PostgreSQL in $PG2 and sets PORT2 (run it in the background and
# read "$PG2/port" after `wait` to overlap it with other setup); pg2_stop
# stops it (the cleanup does too); pg2_psql ARGS is psql as credfs_admin on
# its wizard database; pg2_role_gone USER, pg2_login USER PASS.
PG2=$T_DIR/pg2
PORT2=
pg2_start() {
	PG_SCRATCH_FAST=1 "$CREDFS_SRC/scripts/pg-scratch.sh" start "$PG2" >>"$T_DIR/pg2.log" 2>&1 ||
		return 1
	PORT2=$(cat "$PG2/port")
}
pg2_stop() {
	[ -d "$PG2" ] || return 0
	"$CREDFS_SRC/scripts/pg-scratch.sh" stop "$PG2" >/dev/null 2>&1
}
T_ON_EXIT+=(pg2_stop)
pg2_psql() {
	PGPASSWORD='admin' psql -h 127.0.0.1 -p "$PORT2" -U credfs_admin -d wizard -XAtq \
		-v ON_ERROR_STOP=1 "$@"
}
pg2_role_gone() {
	[ "$(pg2_psql -c "SELECT count(*) FROM pg_roles WHERE rolname = $(sql_lit "$1")")" = 0 ]
}
pg2_login() {
	PGPASSWORD=$2 psql -h 127.0.0.1 -p "$PORT2" -U "$1" -d wizard -XAtq -c 'select 1' \
		</dev/null >/dev/null 2>&1
}

# ---- writing definitions -----------------------------------------------------

SEED_CREATE='CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '"'"'{{password}}'"'"' VALID UNTIL '"'"'{{expiration}}'"'"'; GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";'
SEED_REVOKE='ALTER ROLE "{{name}}" NOLOGIN;'

# setup_seed_role [NAME [DEFAULT_TTL [MAX_TTL [DB]]]] - the seed's db-app role.
setup_seed_role() {
	local name=${1:-db-app} ttl=${2:-1h} max=${3:-24h} db=${4:-wizard}
	printf '%s\n' "db_name=$db" "creation_statements=$SEED_CREATE" \
		"revocation_statements=$SEED_REVOKE" "default_ttl=$ttl" "max_ttl=$max" \
		>"$MNT/roles/$name"
}

# setup_seed_conn [NAME [KEY=VALUE...]] - the seed's connection to wizard;
# each KEY=VALUE replaces the seed's line for KEY or is added.
setup_seed_conn() {
	local name=${1:-wizard} line extra
	shift || true
	local -a lines=(plugin_name=postgresql-database-plugin 'allowed_roles=*'
		"connection_url=postgresql://{{username}}:{{password}}@127.0.0.1:$CREDFS_PG_PORT/wizard?sslmode=disable"
		username=postgres password=password)
	local -a kept=()
	for line in "${lines[@]}"; do
		for extra in "$@"; do
			if [ "${extra%%=*}" = "${line%%=*}" ]; then
				line=
				break
			fi
		done
		if [ -n "$line" ]; then
			kept+=("$line")
		fi
	done
	printf '%s\n' "${kept[@]}" "$@" >"$MNT/config/$name"
}

# errno_of_write FILE TEXT - write TEXT in one write() and close; print OK or
# the errno name of the first failing call (write or close).
errno_of_write() {
	python3 - "$1" "$2" <<-'EOF'
		import errno, os, sys
		path, text = sys.argv[1], sys.argv[2].encode()
		try:
		    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
		except OSError as e:
		    print(errno.errorcode.get(e.errno, e.errno)); sys.exit(0)
		try:
		    os.write(fd, text)
		except OSError as e:
		    print(errno.errorcode.get(e.errno, e.errno))
		    try:
		        os.close(fd)
		    except OSError:
		        pass
		    sys.exit(0)
		try:
		    os.close(fd)
		except OSError as e:
		    print(errno.errorcode.get(e.errno, e.errno)); sys.exit(0)
		print("OK")
	EOF
}

# errno_of_read FILE - open and read FILE to EOF; print OK or the errno name.
errno_of_read() {
	python3 - "$1" <<-'EOF'
		import errno, os, sys
		try:
		    fd = os.open(sys.argv[1], os.O_RDONLY)
		    try:
		        while os.read(fd, 65536):
		            pass
		    finally:
		        os.close(fd)
		except OSError as e:
		    print(errno.errorcode.get(e.errno, e.errno)); sys.exit(0)
		print("OK")
	EOF
}

# hold_creds ROLE open|closed - start a process that opens creds/ROLE, reads
# it, keeps the file open (open) or closes it (closed), and lives until
# killed. Sets HOLD_PID and HOLD_CREDS (what it read, on one line).
hold_creds() {
	local fifo
	fifo=$T_DIR/hold.$RANDOM$RANDOM
	mkfifo "$fifo"
	python3 - "$MNT/creds/$1" "$2" >"$fifo" <<-'EOF' &
		import os, sys, time
		fd = os.open(sys.argv[1], os.O_RDONLY)
		data = os.pread(fd, 65536, 0)
		if sys.argv[2] == "closed":
		    os.close(fd)
		sys.stdout.write(data.decode().replace("\n", " ") + "\n")
		sys.stdout.flush()
		while True:
		    time.sleep(60)
	EOF
	# shellcheck disable=SC2034 # read by the tests
	HOLD_PID=$!
	HOLD_CREDS=$(head -n 1 "$fifo") || true
	rm -f "$fifo"
	if [ -z "$HOLD_CREDS" ]; then
		fail "a process could not read creds/$1: $(last_error)"
	fi
}

# stop_holder PID - SIGKILL a hold_creds process and reap it.
stop_holder() {
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

last_error() {
	tail -n 1 "$MNT/errors"
}

# ---- cleanup -----------------------------------------------------------------

_drop_v_roles() {
	local r q
	admin_psql -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename LIKE 'v-%'" \
		>/dev/null || true
	while IFS= read -r r; do
		[ -n "$r" ] || continue
		q=\"${r//\"/\"\"}\"
		admin_psql -c "DROP OWNED BY $q" >/dev/null 2>&1 || true
		admin_psql_db postgres -c "DROP OWNED BY $q" >/dev/null 2>&1 || true
		admin_psql -c "DROP ROLE IF EXISTS $q" >/dev/null 2>&1 ||
			echo "cleanup: could not drop role $r" >&2
	done < <(admin_psql -c "SELECT rolname FROM pg_roles WHERE rolname LIKE 'v-%'" 2>/dev/null || true)
}

_cleanup() {
	local rc=$? j
	set +e
	trap - EXIT
	if [ -n "$MNT" ] && _mounted; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT" 2>/dev/null
	fi
	if [ -n "$CREDFS_PID" ] && ! _daemon_gone; then
		wait_until 5 _daemon_gone || kill -KILL "$CREDFS_PID" 2>/dev/null
	fi
	if [ -n "$CREDFS_PID" ]; then
		wait "$CREDFS_PID" 2>/dev/null
	fi
	jobs -p | while read -r j; do kill "$j" 2>/dev/null; done
	for j in "${T_ON_EXIT[@]}"; do
		eval "$j"
	done
	if [ -n "${CREDFS_PG_PORT:-}" ] && [ -z "$_PRIVATE_PG" ]; then
		_drop_v_roles
		admin_psql_db postgres -c "ALTER ROLE postgres PASSWORD 'password'" >/dev/null 2>&1 ||
			echo "cleanup: could not reset the postgres password" >&2
	fi
	if [ -n "$_PRIVATE_PG" ]; then
		"$CREDFS_SRC/scripts/pg-scratch.sh" stop "$_PRIVATE_PG" >/dev/null 2>&1
	fi
	if [ "${CREDFS_KEEP:-0}" = 1 ]; then
		echo "kept $T_DIR" >&2
	elif grep -qF " $T_DIR/" /proc/self/mounts; then
		echo "cleanup: something is still mounted under $T_DIR; not removing it" >&2
	else
		rm -rf "$T_DIR"
	fi
	exit "$rc"
}
trap _cleanup EXIT

# ---- the PostgreSQL this test uses ---------------------------------------------

if [ -z "${CREDFS_PG_PORT:-}" ]; then
	_PRIVATE_PG=$T_DIR/pg
	PG_SCRATCH_FAST=1 "$CREDFS_SRC/scripts/pg-scratch.sh" start "$_PRIVATE_PG" ||
		fail "could not start a scratch PostgreSQL"
	eval "$("$CREDFS_SRC/scripts/pg-scratch.sh" env "$_PRIVATE_PG")"
fi
export PGHOST=127.0.0.1
export PGPORT=$CREDFS_PG_PORT
export PGCONNECT_TIMEOUT=5
unset PGUSER PGPASSWORD PGDATABASE PGSERVICE PGPASSFILE
