#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_expiry.sh - leases end: a released credential is revoked once its TTL has
# passed, with the default revocation (the login is dropped) or the role's own
# revocation_statements (here NOLOGIN); a held one is renewed, but never past
# max_ttl.
#
# Three leases run at once to keep the test short:
#   A  role short       default_ttl=2s max_ttl=10s, no revocation_statements, released at once
#   B  role short-nl    same, revocation_statements=ALTER ROLE ... NOLOGIN, released at once
#   C  role short       held open by a process until the test ends
#   D  role grp         a group role granted, nothing else: revoked by DROP ROLE alone
#   E  role owner       may create in schema public, and creates a table: revoked by
#                       the full sequence (REASSIGN OWNED ...), the table survives
# shellcheck disable=SC2119,SC2317 # helpers are called through check/wait_until
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

credfs_mount
M=$MNT
setup_seed_conn wizard || fail "writing config/wizard failed: $(last_error)"
printf '%s\n' db_name=wizard "creation_statements=$SEED_CREATE" default_ttl=2s max_ttl=10s \
	>"$M/roles/short" || fail "writing roles/short failed: $(last_error)"
setup_seed_role short-nl 2s 10s || fail "writing roles/short-nl failed: $(last_error)"

admin_psql -c "DO \$\$ BEGIN CREATE ROLE expiry_readers NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$" ||
	fail "cannot create the group role expiry_readers"
T_ON_EXIT+=("admin_psql -c 'DROP TABLE IF EXISTS expiry_owned; DROP ROLE IF EXISTS expiry_readers' >/dev/null 2>&1")
CREATE_LOGIN='CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '"'"'{{password}}'"'"' VALID UNTIL '"'"'{{expiration}}'"'"';'
printf '%s\n' db_name=wizard "creation_statements=$CREATE_LOGIN GRANT expiry_readers TO \"{{name}}\";" \
	default_ttl=2s max_ttl=10s >"$M/roles/grp" || fail "writing roles/grp failed: $(last_error)"
printf '%s\n' db_name=wizard "creation_statements=$CREATE_LOGIN GRANT CREATE ON SCHEMA public TO \"{{name}}\";" \
	default_ttl=2s max_ttl=10s >"$M/roles/owner" || fail "writing roles/owner failed: $(last_error)"

check_eq "roles/short has no revocation_statements" 0 \
	"$(jq '.revocation_statements | length' "$M/roles/short")"
check_eq "roles/short default_ttl" 2 "$(jq -r .default_ttl "$M/roles/short")"
check_eq "roles/short max_ttl" 10 "$(jq -r .max_ttl "$M/roles/short")"

# C: a process that opens creds/short and holds the file open.
hold_creds short open
holder=$HOLD_PID
c_creds=$HOLD_CREDS
c_user=$(jq -r .data.username <<<"$c_creds")
c_pass=$(jq -r .data.password <<<"$c_creds")
c_issued=$(date +%s)

a_creds=$(cat "$M/creds/short") || fail "cat creds/short failed: $(last_error)"
b_creds=$(cat "$M/creds/short-nl") || fail "cat creds/short-nl failed: $(last_error)"
a_user=$(jq -r .data.username <<<"$a_creds")
a_pass=$(jq -r .data.password <<<"$a_creds")
b_user=$(jq -r .data.username <<<"$b_creds")
b_pass=$(jq -r .data.password <<<"$b_creds")
echo "A=$a_user B=$b_user C=$c_user"

check_eq "lease_duration is default_ttl (2 s)" 2 "$(jq -r .lease_duration <<<"$a_creds")"
check "A logs in while its lease is valid" can_login "$a_user" "$a_pass"
check "B logs in while its lease is valid" can_login "$b_user" "$b_pass"
check "C logs in while its lease is valid" can_login "$c_user" "$c_pass"
c_valid0=$(admin_psql -c "SELECT extract(epoch FROM rolvaliduntil)::bigint FROM pg_roles
	WHERE rolname = $(sql_lit "$c_user")")

# A: default revocation drops the login once the TTL has passed.
check "A's role is dropped after its lease expires" wait_until 12 role_gone "$a_user"
check "A can no longer log in" not can_login "$a_user" "$a_pass"

# B: revocation_statements run instead: NOLOGIN, the role stays.
b_nologin() { [ "$(role_attr "$1" rolcanlogin)" = f ]; }
check "B's role gets NOLOGIN after its lease expires" wait_until 12 b_nologin "$b_user"
check "B's role still exists (custom revocation does not drop it)" role_exists "$b_user"
check "B can no longer log in" not can_login "$b_user" "$b_pass"

# C: held open, so credfs renews it: VALID UNTIL moves forward, and C logs in
# after its first VALID UNTIL has passed.
valid_now() {
	admin_psql -c "SELECT coalesce(extract(epoch FROM rolvaliduntil)::bigint, 0) FROM pg_roles
		WHERE rolname = $(sql_lit "$c_user")"
}
renewed() { [ "$(valid_now)" -gt "${c_valid0:-0}" ]; }
past() { [ "$(date +%s)" -gt "$1" ]; }
check "a held lease is renewed (VALID UNTIL moves forward)" wait_until 9 renewed
wait_until 12 past "${c_valid0:-0}" || true
check "a held lease still logs in after its first VALID UNTIL" can_login "$c_user" "$c_pass"
check "a held lease is never renewed past max_ttl + 5 s" \
	int_between "$(valid_now)" 0 $((c_issued + 10 + 5 + 2))

# ... and ends at max_ttl even though it is still held.
check "a held lease stops logging in after max_ttl" wait_until 12 not can_login "$c_user" "$c_pass"
check "C's role is dropped after max_ttl" wait_until 8 role_gone "$c_user"
elapsed=$(($(date +%s) - c_issued))
check "C lived at least max_ttl (10 s), lived $elapsed s" int_between "$elapsed" 9 60

# D and E: the two ways of the default revocation.
d_creds=$(cat "$M/creds/grp") || fail "cat creds/grp failed: $(last_error)"
e_creds=$(cat "$M/creds/owner") || fail "cat creds/owner failed: $(last_error)"
d_user=$(jq -r .data.username <<<"$d_creds")
e_user=$(jq -r .data.username <<<"$e_creds")
check "D is a member of the group role" test "$(admin_psql -c "SELECT pg_has_role($(sql_lit "$d_user"), 'expiry_readers', 'MEMBER')")" = t
check "E creates a table of its own" \
	env PGPASSWORD="$(jq -r .data.password <<<"$e_creds")" psql -h 127.0.0.1 -p "$CREDFS_PG_PORT" \
	-U "$e_user" -d wizard -XAtq -v ON_ERROR_STOP=1 -c 'CREATE TABLE expiry_owned (x int)'
check_eq "E owns expiry_owned" "$e_user" \
	"$(admin_psql -c "SELECT tableowner FROM pg_tables WHERE tablename = 'expiry_owned'")"
check "D's login (group role only) is dropped after its lease expires" wait_until 12 role_gone "$d_user"
check "E's login (owner of a table) is dropped after its lease expires" wait_until 12 role_gone "$e_user"
check_eq "E's table survives, reassigned to the connection's user" postgres \
	"$(admin_psql -c "SELECT tableowner FROM pg_tables WHERE tablename = 'expiry_owned'")"
check_eq "no failed revocation in leases/" 0 \
	"$(cat "$M"/leases/*/* 2>/dev/null | jq -s '[.[] | select(.state == "failed")] | length')"

stop_holder "$holder"
credfs_umount
finish
