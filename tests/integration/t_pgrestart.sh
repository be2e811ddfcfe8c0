#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_pgrestart.sh - a pooled connection that died is never handed out (issue
# 10, dead connections): on a private server B, credfs keeps idle pooled
# connections after a few issues; then
#   restart     B restarts (pg_ctl stop -m fast, start): the very next
#               open(creds/r) works (before: EIO "terminating connection due
#               to administrator command" from a dead pooled connection)
#   terminate   pg_terminate_backend of every credfs session on B: the next
#               open works
#   lifetime    max_connection_lifetime=2s: a connection older than that is
#               closed and replaced, not reused (its backend is gone)
#   keepalives  credfs's TCP sessions have keepalive timers (a partition is
#               noticed in ~15 s, not when TCP gives up, ~15 min)
#
# shellcheck disable=SC2119,SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

CREATE_ONLY='CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '"'"'{{password}}'"'"' VALID UNTIL '"'"'{{expiration}}'"'"';'
pg2_start || fail "could not start server B: $(tail -n 5 "$T_DIR/pg2.log")"
PORT_B=$PORT2
credfs_pids() { pg2_psql -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'credfs' ORDER BY pid"; }
issues() { test "$(errno_of_read "$MNT/creds/r")" = OK; }
conn_b() {
	setup_seed_conn wizard \
		"connection_url=postgresql://{{username}}:{{password}}@127.0.0.1:$PORT_B/wizard?sslmode=disable" \
		"$@" || fail "writing config/wizard failed: $(last_error)"
}

credfs_mount
conn_b
printf '%s\n' db_name=wizard "creation_statements=$CREATE_ONLY" default_ttl=1h max_ttl=24h \
	>"$MNT/roles/r" || fail "writing roles/r failed: $(last_error)"
for _ in 1 2 3; do issues || fail "creds/r does not issue: $(last_error)"; done
check "setup: credfs keeps a pooled session on B" test -n "$(credfs_pids)"

# ==== keepalives ===========================================================================
# libpq's keepalive settings are client-side socket options: ask the kernel.
if command -v ss >/dev/null 2>&1; then
	# libpq turns keepalives on by default with the OS's timing (2 h idle):
	# credfs's timers fire within seconds.
	ka=$(ss -tnoH state established "( dport = :$PORT_B )" | grep -Eo 'keepalive,[^,]*' || true)
	ka_short=$(grep -Ec 'keepalive,[0-9.]+(ms|sec)$' <<<"$ka" || true)
	check "keepalives: credfs's TCP sessions to B probe within seconds (${ka//$'\n'/ })" \
		test "$ka_short" -ge 1 -a "$ka_short" = "$(grep -c . <<<"$ka")"
else
	echo "keepalives: ss (iproute2) missing, not checked"
fi

# ==== restart ==============================================================================
pg2_stop
pg2_start || fail "could not restart server B"
check "restart: the first open(creds/r) after B restarted works" issues
check "restart: and the next" issues

# ==== terminate ============================================================================
check "terminate: credfs has sessions on B" test -n "$(credfs_pids)"
pg2_psql -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'credfs'" >/dev/null
check "terminate: the first open(creds/r) after pg_terminate_backend works" issues

# ==== lifetime =============================================================================
conn_b max_connection_lifetime=2s
issues || fail "creds/r does not issue after the rewrite: $(last_error)"
old=$(credfs_pids)
check "lifetime: a session is pooled ($old)" test -n "$old"
sleep 2.5
issues || fail "creds/r does not issue: $(last_error)"
new=$(credfs_pids)
gone=1
for p in $old; do grep -qx "$p" <<<"$new" && gone=0; done
check "lifetime: the sessions older than 2 s were closed, not reused (old: $old; now: $new)" test "$gone" = 1

credfs_umount
finish
