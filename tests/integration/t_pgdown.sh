#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_pgdown.sh - PostgreSQL goes away and comes back (DESIGN "Errors", "Leases"):
# while it is down, open(creds/...) fails promptly with EIO and a readable
# reason, and an expired lease's revocation is retried, kept in leases/, never
# dropped; once it is back, the revocation goes through and new credentials
# are issued again. Uses a second, private PostgreSQL so that stopping it does
# not disturb the shared one.
# shellcheck disable=SC2119,SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

pg2_start || fail "could not start a second scratch PostgreSQL"
past() { [ "$(date +%s)" -gt "$1" ]; }

credfs_mount
M=$MNT
printf '%s\n' plugin_name=postgresql-database-plugin 'allowed_roles=*' \
	"connection_url=postgresql://{{username}}:{{password}}@127.0.0.1:$PORT2/wizard?sslmode=disable" \
	username=postgres password=password >"$M/config/other" ||
	fail "writing config/other failed: $(last_error)"
printf '%s\n' db_name=other "creation_statements=$SEED_CREATE" default_ttl=2s max_ttl=1m \
	>"$M/roles/o" || fail "writing roles/o failed: $(last_error)"

creds=$(cat "$M/creds/o") || fail "cat creds/o failed: $(last_error)"
user=$(jq -r .data.username <<<"$creds")
pass=$(jq -r .data.password <<<"$creds")
id=$(jq -r '.lease_id | split("/") | last' <<<"$creds")
issued=$(date +%s)
check "the credential logs in to the second PostgreSQL" pg2_login "$user" "$pass"

pg2_stop || fail "stopping PostgreSQL failed"

t0=$(date +%s)
check_eq "database down: open creds/o fails with EIO" EIO "$(errno_of_read "$M/creds/o")"
check "database down: the open fails promptly ($(($(date +%s) - t0)) s)" \
	int_between $(($(date +%s) - t0)) 0 10
check_match "database down: errors says why" "$(last_error)" ' creds/o: .'

# The lease expires while the database is down: its revocation fails and is
# kept, visible in leases/.
wait_until 15 past $((issued + 2 + 3)) || true
check "database down: the expired lease is kept in leases/o" test -e "$M/leases/o/$id"
echo "leases/o/$id: $(jq -c . "$M/leases/o/$id" 2>/dev/null)"

pg2_start || fail "restarting PostgreSQL failed"
check "database back: the pending revocation goes through" wait_until 60 pg2_role_gone "$user"
lease_listed() { [ -e "$M/leases/o/$id" ]; }
check "database back: the lease leaves leases/o" wait_until 5 not lease_listed
issue_ok() { [ "$(errno_of_read "$M/creds/o")" = OK ]; }
check "database back: creds/o issues credentials again" wait_until 10 issue_ok

credfs_umount
finish
