#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_rotation.sh - a root rotation that a crash interrupted is never lost
# (engine v2), even when config/NAME is rewritten before PostgreSQL could
# tell which password it accepts; and a lease's opener is only the same
# process within the same boot.
#
#   pending    config/wizard on a private server B. rotate-root crashes the
#              daemon right after ALTER ROLE (CREDFS_CRASH_AT=rotate-after-
#              alter): only the rotation record knows the new password. B is
#              stopped, credfs restarts (it cannot tell which password is
#              current), config/wizard is rewritten from its read-back (no
#              password, verify_connection=false): --check-state still shows
#              the pending rotation. B starts again: within the 10 s
#              resolution period credfs finds the new password works, creds/
#              issues again, and the old root password no longer logs in.
#   boot id    a process-bound lease whose opener still runs stays held
#              across a restart, but not across a restart that sees another
#              boot id (CREDFS_TEST_BOOT_ID): then it is let go and revoked
#              one TTL later.
#
# shellcheck disable=SC2119,SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
needs_test_hooks

CREATE_ONLY='CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '"'"'{{password}}'"'"' VALID UNTIL '"'"'{{expiration}}'"'"';'

# ---- server B ---------------------------------------------------------------
pg2_start || fail "could not start server B: $(tail -n 5 "$T_DIR/pg2.log")"
PORT_B=$PORT2
root_login_b() { # root_login_b PASSWORD - postgres logs in to B with it
	PGPASSWORD=$1 psql -h 127.0.0.1 -p "$PORT_B" -U postgres -d wizard -XAtq -c 'SELECT 1' \
		>/dev/null 2>&1
}
check_state() {
	"$CREDFS_BIN" --check-state --state "$CREDFS_STATE" --key-file "$T_DIR/credfs.key"
}

# ==== pending ===========================================================================
credfs_mount
setup_seed_conn wizard \
	"connection_url=postgresql://{{username}}:{{password}}@127.0.0.1:$PORT_B/wizard?sslmode=disable" ||
	fail "writing config/wizard failed: $(last_error)"
printf '%s\n' db_name=wizard "creation_statements=$CREATE_ONLY" default_ttl=1h max_ttl=24h \
	>"$MNT/roles/r" || fail "writing roles/r failed: $(last_error)"
check "pending: creds/r issues before the rotation" test "$(errno_of_read "$MNT/creds/r")" = OK
credfs_umount

CREDFS_CRASH_AT=rotate-after-alter credfs_mount
echo >"$MNT/rotate-root/wizard" 2>/dev/null || true
check "pending: the daemon crashed at rotate-after-alter" wait_until 10 _daemon_gone
credfs_crash
check "pending: ALTER ROLE ran: the old root password no longer logs in to B" \
	not root_login_b password

pg2_stop
credfs_mount
check "pending: credfs starts while B is down" test -d "$MNT/config"
conf=$(cat "$MNT/config/wizard") || fail "reading config/wizard failed"
conf=$(jq -c '.verify_connection = false' <<<"$conf")
printf '%s' "$conf" >"$MNT/config/wizard" || fail "rewriting config/wizard failed: $(last_error)"
check "pending: after the rewrite --check-state still shows the pending rotation" \
	test "$(check_state | jq '[.connections[] | select(.name == "wizard" and .pending_rotation)] | length')" = 1

pg2_start || fail "could not start server B again"
issues_r() { test "$(errno_of_read "$MNT/creds/r")" = OK; }
check "pending: once B is back, creds/r issues again (the rotated password was kept)" \
	wait_until 25 issues_r
check "pending: the daemon says the interrupted rotation took effect" \
	grep -q 'interrupted root rotation took effect' "$CREDFS_LOG"
check "pending: --check-state no longer shows it" \
	test "$(check_state | jq '[.connections[] | select(.pending_rotation)] | length')" = 0
check "pending: the old root password still does not log in" not root_login_b password
credfs_umount

# ==== boot id ================================================================================
credfs_mount
setup_seed_conn wizard || fail "writing config/wizard failed: $(last_error)"
printf '%s\n' db_name=wizard "creation_statements=$CREATE_ONLY" default_ttl=4s max_ttl=2m \
	lease_binding=process >"$MNT/roles/p" || fail "writing roles/p failed: $(last_error)"
hold_creds p closed
P_PID=$HOLD_PID
P_USER=$(jq -r .data.username <<<"$HOLD_CREDS")
P_ID=$(jq -r '.lease_id | split("/") | last' <<<"$HOLD_CREDS")
credfs_crash
credfs_mount
check_eq "boot id: same boot, opener alive: held after a restart" held \
	"$(jq -r .state "$MNT/leases/p/$P_ID" 2>&1)"
credfs_crash
CREDFS_TEST_BOOT_ID=00000000-0000-0000-0000-000000000000 credfs_mount
check_eq "boot id: another boot id: the same pid is not the opener: let go" "let go" \
	"$(jq -r .state "$MNT/leases/p/$P_ID" 2>&1)"
check "boot id: ... and revoked one TTL later" wait_until 12 role_gone "$P_USER"
stop_holder "$P_PID"
credfs_umount
finish
