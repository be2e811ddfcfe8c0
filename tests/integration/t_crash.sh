#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_crash.sh - crash-point injection (issue 4, DESIGN "Durability and
# secrets"): for every named step of issue, renew, revoke, rotate and
# compaction, CREDFS_CRASH_AT=<point> makes the daemon SIGKILL itself there.
# For each point, on a fresh state directory:
#
#   1. write config/wizard and two roles (r: TTL 2 s; long: TTL 1 m) and
#      take a canary lease on long, unmount, mount again with CREDFS_CRASH_AT;
#   2. trigger the action (cat, a held short lease, TTL expiry or rm,
#      rotate-root, or many issues with CREDFS_COMPACT_BYTES=4096) and see
#      the daemon die at the point;
#   3. remount on the same state without the switch, and check:
#      - the definitions read back as before the crash;
#      - the canary lease is still in leases/long, with its login;
#      - a lease caught by the crash is known after restart (revoked, with an
#        audit line, or still listed);
#      - credfs still issues working credentials (for the rotate points: it
#        kept a root password PostgreSQL accepts, and postgres/"password"
#        works exactly when the ALTER ROLE had not run yet);
#      - once the TTLs have passed (and the canary is rm'd), pg_roles holds no
#        v-% role that can still log in: every login ever created is revoked.
# shellcheck disable=SC2119,SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
needs_test_hooks

TTL=2
POINTS=(issue-after-record issue-after-create issue-before-reply
	renew-after-pg renew-after-record revoke-after-pg revoke-after-record
	compact-before-rename compact-after-rename rotate-after-intent rotate-after-alter)
if [ -n "${CRASH_POINTS:-}" ]; then # e.g. CRASH_POINTS="rotate-after-alter" to run one
	read -r -a POINTS <<<"$CRASH_POINTS"
fi

CREATE_ONLY='CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '"'"'{{password}}'"'"' VALID UNTIL '"'"'{{expiration}}'"'"';'
user_of() { jq -r .data.username <<<"$1"; }
pass_of() { jq -r .data.password <<<"$1"; }
id_of() { jq -r '.lease_id | split("/") | last' <<<"$1"; }
live_v_logins() {
	admin_psql -c "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v-%' AND rolcanlogin"
}
no_v_logins() { [ "$(live_v_logins)" = 0 ]; }
revoked() { [ "$(admin_psql -c "SELECT count(*) FROM pg_roles WHERE rolname = $(sql_lit "$1") AND rolcanlogin")" = 0 ]; }
crash_lines() {
	if [ -f "$CREDFS_LOG" ]; then grep -c "crash point reached" "$CREDFS_LOG" || true; else echo 0; fi
}
# audit_revoked_since LINE USER - an ok revoke of USER after audit line LINE.
audit_revoked_since() {
	tail -n +"$(($1 + 1))" "$T_DIR/audit.log" |
		jq -n -e --arg u "$2" 'any(inputs; .action == "revoke" and .result == "ok" and .db_user == $u)' \
			>/dev/null 2>&1
}
audit_lines() { wc -l <"$T_DIR/audit.log" 2>/dev/null || echo 0; }
listed_user() { # listed_user ROLE USER - leases/ROLE has a lease for USER
	local f
	for f in "$M/leases/$1"/*; do
		[ -e "$f" ] && [ "$(jq -r .username "$f" 2>/dev/null)" = "$2" ] && return 0
	done
	return 1
}
known_after_restart() { # known_after_restart ROLE USER AUDIT_LINE
	listed_user "$1" "$2" || audit_revoked_since "$3" "$2"
}
dead() { _daemon_gone; }

setup_defs() {
	setup_seed_conn wizard || fail "$PT: writing config/wizard failed: $(last_error)"
	printf '%s\n' db_name=wizard "creation_statements=$CREATE_ONLY" default_ttl=${TTL}s max_ttl=1m \
		>"$M/roles/r" || fail "$PT: writing roles/r failed: $(last_error)"
	printf '%s\n' db_name=wizard "creation_statements=$CREATE_ONLY" default_ttl=1m max_ttl=10m \
		>"$M/roles/long" || fail "$PT: writing roles/long failed: $(last_error)"
}
defs() { cat "$M/config/wizard" "$M/roles/r" "$M/roles/long" 2>&1; }

SUMMARY=()
for PT in "${POINTS[@]}"; do
	echo "=== crash point $PT"
	t_pt=$(_now_us)
	# Every point starts from a fresh state and the seed's root password.
	CREDFS_STATE=$T_DIR/state.$PT
	admin_psql_db postgres -c "ALTER ROLE postgres PASSWORD 'password'" >/dev/null
	crashes_before=$(crash_lines)
	env_extra=()
	case $PT in compact-*) env_extra=(CREDFS_COMPACT_BYTES=4096) ;; esac
	# Definitions and the canary first, on a clean mount (issuing the canary
	# under CREDFS_CRASH_AT=issue-* would crash).
	credfs_mount
	M=$MNT
	setup_defs
	defs_before=$(defs)
	canary=$(cat "$M/creds/long") || fail "$PT: cat creds/long failed: $(last_error)"
	canary_user=$(user_of "$canary") canary_id=$(id_of "$canary")
	credfs_umount
	if [ "${#env_extra[@]}" -gt 0 ]; then
		CREDFS_COMPACT_BYTES=4096 CREDFS_CRASH_AT=$PT credfs_mount
	else
		CREDFS_CRASH_AT=$PT credfs_mount
	fi
	M=$MNT
	caught_user= # the login of a lease the crash caught, if the action made one
	holder=

	# ---- the action -------------------------------------------------------------
	case $PT in
	issue-*)
		if out=$(cat "$M/creds/r" 2>&1); then
			check "$PT: cat creds/r got no credential (got: $out)" false
		else
			check "$PT: cat creds/r failed: no credential handed out ($out)" true
		fi
		;;
	renew-*)
		hold_creds r open # renewed at about 2/3 of the TTL
		holder=$HOLD_PID
		caught_user=$(user_of "$HOLD_CREDS")
		;;
	revoke-after-pg)
		c=$(cat "$M/creds/r") || fail "$PT: cat creds/r failed: $(last_error)"
		caught_user=$(user_of "$c") # let go now, revoked after the TTL
		;;
	revoke-after-record)
		hold_creds r open
		holder=$HOLD_PID
		caught_user=$(user_of "$HOLD_CREDS")
		rm -f "$M/leases/r/$(id_of "$HOLD_CREDS")" 2>/dev/null || true
		;;
	compact-*)
		for i in $(seq 1 150); do
			dead && break
			cat "$M/creds/r" >/dev/null 2>&1 || break
		done
		echo "$PT: $i issue(s) before the crash"
		;;
	rotate-*)
		if echo >"$M/rotate-root/wizard" 2>/dev/null; then
			check "$PT: the rotate-root write that crashed the daemon failed" false
		fi
		;;
	esac
	check "$PT: the daemon dies at the crash point" wait_until 10 dead
	check "$PT: the log says the crash point was reached" \
		test "$(crash_lines)" -gt "$crashes_before"
	created=$(admin_psql -c "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v-%'")
	case $PT in compact-*)
		echo "$PT: $created login(s) in PostgreSQL at the crash; state: $(ls -l "$CREDFS_STATE" | tail -n +2 | awk '{ print $NF " " $5 }' | tr '\n' ' ')"
		;;
	esac
	credfs_crash
	if [ -n "$holder" ]; then
		stop_holder "$holder"
	fi
	case $PT in
	issue-after-record)
		check_eq "$PT: only the canary login exists (CREATE ROLE never ran)" 1 "$created"
		;;
	issue-after-create | issue-before-reply)
		caught_user=$(admin_psql -c "SELECT rolname FROM pg_roles WHERE rolname LIKE 'v-%'
			AND rolname <> $(sql_lit "$canary_user") LIMIT 1")
		check "$PT: the login was created before the crash" test -n "$caught_user"
		;;
	esac

	# ---- restart on the same state -------------------------------------------------
	audit_mark=$(audit_lines)
	credfs_mount
	M=$MNT
	check_eq "$PT: definitions survived" "$defs_before" "$(defs)"
	check "$PT: the canary lease survived in leases/long" \
		test "$(jq -r .username "$M/leases/long/$canary_id" 2>/dev/null)" = "$canary_user"
	check "$PT: the canary login still works" can_login "$canary_user" "$(pass_of "$canary")"
	if [ -n "$caught_user" ]; then
		check "$PT: the lease caught by the crash is known after restart" \
			wait_until $((TTL + 6)) known_after_restart r "$caught_user" "$audit_mark"
	fi
	case $PT in
	rotate-after-intent)
		check "$PT: ALTER ROLE never ran: postgres/password still logs in" can_login postgres password
		;;
	rotate-after-alter)
		check "$PT: ALTER ROLE ran: postgres/password is refused" not can_login postgres password
		;;
	esac
	fresh=$(cat "$M/creds/r" 2>/dev/null) || fresh=
	check "$PT: credfs issues credentials after restart ($(last_error 2>/dev/null))" test -n "$fresh"
	if [ -n "$fresh" ]; then
		check "$PT: the new credential logs in" can_login "$(user_of "$fresh")" "$(pass_of "$fresh")"
	fi
	case $PT in
	rotate-*)
		# The root password credfs kept is the one PostgreSQL has: it can
		# rotate again, and a clean restart still issues.
		check "$PT: rotate-root works after restart" \
			test "$(errno_of_write "$M/rotate-root/wizard" x)" = OK
		check "$PT: after a second rotation postgres/password is refused" \
			not can_login postgres password
		credfs_umount
		credfs_mount
		M=$MNT
		again=$(cat "$M/creds/r" 2>/dev/null) || again=
		check "$PT: after a clean restart credfs still issues" test -n "$again"
		;;
	esac
	rm -f "$M/leases/long/$canary_id" 2>/dev/null ||
		check "$PT: rm leases/long/$canary_id" false
	if wait_until $((TTL + 8)) no_v_logins; then
		check "$PT: every login created is revoked once the TTLs have passed" true
	else
		check "$PT: every login created is revoked once the TTLs have passed" false
		admin_psql -c "SELECT rolname, rolcanlogin, rolvaliduntil FROM pg_roles WHERE rolname LIKE 'v-%' AND rolcanlogin" >&2
		ls -lR "$M/leases" >&2 || true
	fi
	leases_left=$(find "$M/leases" -type f 2>/dev/null | wc -l)
	check_eq "$PT: no lease left in leases/" 0 "$leases_left"
	credfs_umount
	SUMMARY+=("$PT $((($(_now_us) - t_pt) / 1000))ms")
done

echo "crash points tested: ${SUMMARY[*]}"
finish
