#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_access.sh - who may read creds/NAME (DESIGN "Role": owner, group, mode).
# Mounted with allow_other so that other users reach the tree at all: by
# default creds/NAME is 0400 root's, so user nobody is refused (EACCES) and
# nothing is issued; a role with creds_owner=nobody lets nobody read it.
# shellcheck disable=SC2016,SC2119,SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

id nobody >/dev/null 2>&1 || skip "no user nobody"

# as_nobody CMD... - run CMD as user nobody (uid/gid 65534 on Debian).
as_nobody() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
}

credfs_mount -o allow_other
M=$MNT
setup_seed_conn wizard || fail "writing config/wizard failed: $(last_error)"
setup_seed_role db-app || fail "writing roles/db-app failed: $(last_error)"
printf '%s\n' db_name=wizard "creation_statements=$SEED_CREATE" default_ttl=1h creds_owner=nobody \
	>"$M/roles/mine" || fail "writing roles/mine failed: $(last_error)"

check_eq "creds/db-app is 0400" 400 "$(stat -c %a "$M/creds/db-app")"
check_eq "creds/db-app belongs to root" 0 "$(stat -c %u "$M/creds/db-app")"
check "user nobody can list creds/" as_nobody ls "$M/creds"

v0=$(v_role_count)
err=$(as_nobody cat "$M/creds/db-app" 2>&1 >/dev/null) && rc=0 || rc=$?
check "user nobody cannot read creds/db-app (status $rc)" test "$rc" -ne 0
check_match "... refused with EACCES" "$err" 'Permission denied'
check_eq "... and no PostgreSQL role was issued" "$v0" "$(v_role_count)"
check "user nobody cannot read roles/ definitions" not as_nobody cat "$M/roles/db-app" 2>/dev/null
check "user nobody cannot read config/ definitions" not as_nobody cat "$M/config/wizard" 2>/dev/null
check "user nobody cannot write roles/" \
	not as_nobody sh -c 'echo db_name=wizard >"$1"' _ "$M/roles/evil" 2>/dev/null
check "... and roles/evil does not exist" not test -e "$M/roles/evil"

check_eq "creds/mine belongs to nobody" "$(id -u nobody)" "$(stat -c %u "$M/creds/mine")"
creds=$(as_nobody cat "$M/creds/mine") || fail "user nobody could not read creds/mine: $(last_error)"
check "user nobody's credential logs in" \
	can_login "$(jq -r .data.username <<<"$creds")" "$(jq -r .data.password <<<"$creds")"
lease=$(jq -r '.lease_id | split("/") | last' <<<"$creds")
check_eq "the lease records nobody's uid" "$(id -u nobody)" \
	"$(jq -r '.holder.uid // .uid' "$M/leases/mine/$lease" 2>/dev/null)"

credfs_umount
finish
