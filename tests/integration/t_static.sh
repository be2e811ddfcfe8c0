#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_static.sh - static roles (issue 12): credfs owns and rotates the
# password of an existing user; rotate-role/ rotates at once;
# skip_import_rotation keeps the password; a crash at any point of a
# rotation leaves a password credfs serves and PostgreSQL accepts;
# scheduled root rotation on config/; reset/.
#
# shellcheck disable=SC2119,SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
needs_test_hooks

mk_user() { # mk_user NAME PASSWORD
	admin_psql -c "DROP ROLE IF EXISTS \"$1\"; CREATE ROLE \"$1\" LOGIN PASSWORD $(sql_lit "$2")"
}
T_ON_EXIT+=("admin_psql -c 'DROP ROLE IF EXISTS st_app; DROP ROLE IF EXISTS st_keep; DROP ROLE IF EXISTS st_crash' >/dev/null 2>&1 || true")
spw() { jq -r .data.password "$MNT/static-creds/$1"; }
serves_working() { # the password static-creds serves logs in
	local pw
	pw=$(spw "$1") && [ -n "$pw" ] && [ "$pw" != null ] && can_login "$2" "$pw"
}

credfs_mount
setup_seed_conn wizard || fail "writing config/wizard failed: $(last_error)"

# ==== period ====================================================================
mk_user st_app initial
printf '%s\n' db_name=wizard username=st_app rotation_period=5s >"$MNT/static-roles/app" ||
	fail "writing static-roles/app failed: $(last_error)"
check "import: the initial password no longer logs in" not can_login st_app initial
P1=$(spw app)
check "static-creds: psql with its password works" can_login st_app "$P1"
check_eq "static-creds: username" st_app "$(jq -r .data.username "$MNT/static-creds/app")"
check_eq "static-creds: rotation_period" 5 "$(jq -r .data.rotation_period "$MNT/static-creds/app")"
check "static-creds: ttl within the period" int_between "$(jq -r .data.ttl "$MNT/static-creds/app")" 0 5
check "read-back: last_vault_rotation set" test "$(jq -r .last_vault_rotation "$MNT/static-roles/app")" != null
check "read-back: no password" lacks "$P1" "$(cat "$MNT/static-roles/app")"
changed() { [ "$(spw app)" != "$P1" ]; }
check "period: the password changes within 8 s" wait_until 8 changed
check "period: the old password stops working" not can_login st_app "$P1"
check "period: the new one works" serves_working app st_app

# ==== rotate-role ================================================================
printf '%s\n' db_name=wizard username=st_app rotation_period=1h >"$MNT/static-roles/app" ||
	fail "rewriting static-roles/app failed: $(last_error)"
P2=$(spw app)
echo >"$MNT/rotate-role/app" || fail "rotate-role/app failed: $(last_error)"
P3=$(spw app)
check "rotate-role: rotated at once" test "$P2" != "$P3"
check "rotate-role: old password refused" not can_login st_app "$P2"
check "rotate-role: new password works" can_login st_app "$P3"
check_eq "rewrite: username cannot change" EINVAL \
	"$(errno_of_write "$MNT/static-roles/app" $'db_name=wizard\nusername=other\nrotation_period=1h\n')"
check_eq "a user PostgreSQL does not have is refused" EINVAL \
	"$(errno_of_write "$MNT/static-roles/ghost" $'db_name=wizard\nusername=no_such_user\nrotation_period=1h\n')"
check "... with the reason in errors" grep -q 'no role "no_such_user"' "$MNT/errors"

# ==== poll ==========================================================================
python3 - "$MNT/static-creds/app" "$MNT/rotate-role/app" >"$T_DIR/poll.out" 2>&1 <<'PY' &
import os, select, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
p = select.poll(); p.register(fd, select.POLLPRI)
first = p.poll(0)
print("before", 1 if first and first[0][1] & select.POLLPRI else 0, flush=True)
ev = p.poll(15000)
print("after", 1 if ev and ev[0][1] & select.POLLPRI else 0, flush=True)
PY
POLL_PID=$!
sleep 1
echo >"$MNT/rotate-role/app"
wait "$POLL_PID" || true
check "poll: no POLLPRI before a rotation" grep -q '^before 0' "$T_DIR/poll.out"
check "poll: POLLPRI once rotated" grep -q '^after 1' "$T_DIR/poll.out"

# ==== skip_import_rotation ==========================================================
mk_user st_keep kept-pw
printf '%s\n' db_name=wizard username=st_keep rotation_period=1h skip_import_rotation=true \
	>"$MNT/static-roles/keep" || fail "writing static-roles/keep failed: $(last_error)"
check "skip_import_rotation: the existing password still works" can_login st_keep kept-pw
rm "$MNT/static-roles/keep"
check "rm: the user stays" role_exists st_keep
check "rm: static-creds/keep is gone" not test -e "$MNT/static-creds/keep"

# ==== crash points ==================================================================
mk_user st_crash crash-initial
printf '%s\n' db_name=wizard username=st_crash rotation_period=1h >"$MNT/static-roles/crash" ||
	fail "writing static-roles/crash failed: $(last_error)"
credfs_umount
for point in static-before-intent static-after-intent static-after-alter; do
	CREDFS_CRASH_AT=$point credfs_mount
	echo >"$MNT/rotate-role/crash" 2>/dev/null || true
	check "$point: the daemon crashed" wait_until 10 _daemon_gone
	credfs_crash
	credfs_mount
	check "$point: after a restart the password credfs serves logs in" \
		wait_until 15 serves_working crash st_crash
	credfs_umount
done
credfs_mount
echo >"$MNT/rotate-role/crash" || fail "rotate-role/crash after the crashes failed: $(last_error)"
check "after the crashes: rotation works again" serves_working crash st_crash

# ==== reset/ =========================================================================
check_eq "reset: works" OK "$(errno_of_write "$MNT/reset/wizard" x)"
pg2_start || fail "could not start server B"
setup_seed_conn b "connection_url=postgresql://{{username}}:{{password}}@127.0.0.1:$PORT2/wizard?sslmode=disable" ||
	fail "writing config/b failed: $(last_error)"
pg2_stop
check_eq "reset: a stopped server fails" EIO "$(errno_of_write "$MNT/reset/b" x)"
check "reset: ... with the reason in errors" grep -q 'reset/b' "$MNT/errors"
rm "$MNT/config/b"

# ==== scheduled root rotation ========================================================
root_login() { PGPASSWORD=$1 psql -h 127.0.0.1 -p "$CREDFS_PG_PORT" -U postgres -d wizard -XAtq -c 'SELECT 1' >/dev/null 2>&1; }
printf '%s\n' db_name=wizard "creation_statements=CREATE ROLE \"{{name}}\" LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';" \
	default_ttl=1h >"$MNT/roles/r" || fail "writing roles/r failed: $(last_error)"
conf=$(jq -c '.rotation_period = 5' "$MNT/config/wizard")
printf '%s' "$conf" >"$MNT/config/wizard" || fail "setting rotation_period on config/wizard failed: $(last_error)"
check "root: next_rotation shown" test "$(jq -r .next_rotation "$MNT/config/wizard")" != null
root_rotated() { not root_login password; }
check "root: the old root password stops working within 8 s" wait_until 8 root_rotated
check "root: last_rotation shown" test "$(jq -r .last_rotation "$MNT/config/wizard")" != null
check_eq "root: issuance continues" OK "$(errno_of_read "$MNT/creds/r")"
conf=$(jq -c '.disable_automated_rotation = true' "$MNT/config/wizard")
printf '%s' "$conf" >"$MNT/config/wizard" || fail "disabling rotation failed: $(last_error)"
credfs_umount
finish
