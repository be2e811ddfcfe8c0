#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_statements.sh - what credfs accepts and runs of the statements in roles/
# and config/.
#
#   - Transaction control (BEGIN, COMMIT, END, ROLLBACK, SAVEPOINT, START
#     TRANSACTION, ...) in a role's creation, revocation or renew
#     statements, or in a connection's root_rotation_statements, is refused
#     at write: EINVAL, the key, statement number and command last in
#     MOUNT/errors, the previous definition unchanged and still issuing. (A
#     COMMIT among the creation statements would commit the login before
#     credfs made its lease durable.)
#   - A statement that ends in a -- comment does not swallow the next one:
#     the GRANT after `CREATE ROLE ... -- the login` runs (the login reads
#     coffees), and so do the statements after a commented revocation or
#     root rotation statement.
#   - BEGIN ... END inside a statement (DO $$ BEGIN ... END $$) is no
#     transaction control: such a role is accepted, issues and revokes.
# shellcheck disable=SC2016,SC2119,SC2317 # SQL in single quotes; functions run via check
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

credfs_mount
M=$MNT
setup_seed_conn wizard || fail "writing config/wizard failed: $(last_error)"
setup_seed_role r || fail "writing roles/r failed: $(last_error)"

CREATE_1='CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '"'"'{{password}}'"'"' VALID UNTIL '"'"'{{expiration}}'"'"
GRANT_ALL='GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}"'
REVOKE_1='ALTER ROLE "{{name}}" NOLOGIN'
RENEW_1='ALTER ROLE "{{name}}" VALID UNTIL '"'"'{{expiration}}'"'"
ROTATE_1='ALTER ROLE "{{name}}" WITH PASSWORD '"'"'{{password}}'"'"
URL="postgresql://{{username}}:{{password}}@127.0.0.1:$PGPORT/wizard?sslmode=disable"
REASON=': credfs runs the statements in its own transaction'

user_of() { jq -r .data.username <<<"$1"; }
pass_of() { jq -r .data.password <<<"$1"; }
lease_of() { jq -r '.lease_id | split("/") | last' <<<"$1"; }

# coffees_as USER PASS - the coffees USER can read, one line.
coffees_as() {
	PGPASSWORD=$2 psql -h 127.0.0.1 -p "$PGPORT" -U "$1" -d wizard -XAtq \
		-c 'SELECT string_agg(name, $$,$$ ORDER BY name) FROM coffees' </dev/null 2>&1
}

# issues_and_reads ROLE - creds/ROLE gives a login that reads coffees.
issues_and_reads() {
	local c
	c=$(cat "$M/creds/$1") || return 1
	[ "$(coffees_as "$(user_of "$c")" "$(pass_of "$c")")" = "Espresso,Latte,Mocha" ]
}

# role_doc KEY VALUE - roles/r's seed definition with KEY set to VALUE (key=value lines).
role_doc() {
	local create=$CREATE_1\;\ $GRANT_ALL\; revoke=$REVOKE_1\; renew=
	case $1 in
	creation_statements) create=$2 ;;
	revocation_statements) revoke=$2 ;;
	renew_statements) renew=$2 ;;
	esac
	printf '%s\n' db_name=wizard "creation_statements=$create" \
		"revocation_statements=$revoke" ${renew:+"renew_statements=$renew"} \
		default_ttl=1h max_ttl=24h
}

# conn_doc ROTATION - config/wizard's seed definition with root_rotation_statements=ROTATION.
conn_doc() {
	printf '%s\n' plugin_name=postgresql-database-plugin 'allowed_roles=*' \
		"connection_url=$URL" username=postgres password=password \
		"root_rotation_statements=$1"
}

# expect_refused DESC PATH DOC WANT - writing DOC to PATH fails with EINVAL,
# errors ends in "PATH: WANT", and PATH reads back as before.
expect_refused() {
	local before after line
	before=$(cat "$M/$2" 2>/dev/null || echo "<absent>")
	check_eq "$1: the write fails with EINVAL" EINVAL "$(errno_of_write "$M/$2" "$3")"
	line=$(last_error)
	check_eq "$1: errors says why" "$2: $4" "${line#* }"
	after=$(cat "$M/$2" 2>/dev/null || echo "<absent>")
	check_eq "$1: $2 unchanged" "$before" "$after"
}

v0=$(v_role_count)

# ==== (a) transaction control is refused at write ==============================
# TXN|COMMAND pairs: what is written, what the error calls it
txns=('COMMIT|COMMIT' 'END|END' 'ROLLBACK|ROLLBACK' 'BEGIN|BEGIN' 'SAVEPOINT s|SAVEPOINT'
	'/* done */ commit work|COMMIT' 'START TRANSACTION READ WRITE|START TRANSACTION')
for t in "${txns[@]}"; do
	txn=${t%|*} cmd=${t#*|}
	expect_refused "creation_statements with $txn" roles/r \
		"$(role_doc creation_statements "$CREATE_1; $txn; $GRANT_ALL;")" \
		"creation_statements: statement 2 is transaction control ($cmd)$REASON"
	expect_refused "revocation_statements with $txn" roles/r \
		"$(role_doc revocation_statements "$txn; $REVOKE_1;")" \
		"revocation_statements: statement 1 is transaction control ($cmd)$REASON"
	expect_refused "renew_statements with $txn" roles/r \
		"$(role_doc renew_statements "$RENEW_1; SELECT 1; $txn")" \
		"renew_statements: statement 3 is transaction control ($cmd)$REASON"
	expect_refused "root_rotation_statements with $txn" config/wizard \
		"$(conn_doc "$ROTATE_1; $txn")" \
		"root_rotation_statements: statement 2 is transaction control ($cmd)$REASON"
done
# the JSON form, statements in a list, and a role that did not exist
expect_refused "JSON creation_statements list with COMMIT" roles/r \
	"$(jq -nc --arg c "$CREATE_1" '{db_name: "wizard", creation_statements: [$c, "COMMIT"]}')" \
	"creation_statements: statement 2 is transaction control (COMMIT)$REASON"
expect_refused "a new role with COMMIT" roles/new \
	"$(role_doc creation_statements "$CREATE_1; COMMIT")" \
	"creation_statements: statement 2 is transaction control (COMMIT)$REASON"
check_eq "the refused new role does not exist" ENOENT "$(errno_of_read "$M/roles/new")"
check_eq "refused writes create no login" "$v0" "$(v_role_count)"
check "roles/r as before still issues a login that reads coffees" issues_and_reads r

# ==== (b) a trailing -- comment does not swallow the next statement ==============
# As a JSON list, and as one string with the ';' on the next line.
jq -nc --arg c "$CREATE_1 -- the login" --arg g "$GRANT_ALL -- and what it reads" \
	--arg r1 "$REVOKE_1 -- first" --arg r2 'ALTER ROLE "{{name}}" CONNECTION LIMIT 0' \
	'{db_name: "wizard", creation_statements: [$c, $g], revocation_statements: [$r1, $r2],
	  default_ttl: "1h"}' >"$M/roles/cmt" || fail "writing roles/cmt failed: $(last_error)"
check_eq "roles/cmt keeps the comment in its first creation statement" \
	"$CREATE_1 -- the login" "$(jq -r '.creation_statements[0]' "$M/roles/cmt")"
check_eq "roles/cmt has both creation statements" 2 \
	"$(jq '.creation_statements | length' "$M/roles/cmt")"
creds=$(cat "$M/creds/cmt") || fail "cat creds/cmt failed: $(last_error)"
cmt_user=$(user_of "$creds")
check_eq "the GRANT after 'CREATE ROLE ... -- the login' ran: the login reads coffees" \
	"Espresso,Latte,Mocha" "$(coffees_as "$cmt_user" "$(pass_of "$creds")")"
check "rm leases/cmt/ID succeeds" rm "$M/leases/cmt/$(lease_of "$creds")"
check "the revocation statement after 'NOLOGIN -- first' ran: connection limit 0" \
	wait_until 5 test "$(role_attr "$cmt_user" rolconnlimit)" = 0
check_eq "the commented revocation statement ran: no login" f \
	"$(role_attr "$cmt_user" rolcanlogin)"

jq -nc --arg c "$CREATE_1 -- the login"$'\n'"; $GRANT_ALL -- and what it reads"$'\n' \
	'{db_name: "wizard", creation_statements: $c, default_ttl: "1h"}' >"$M/roles/cmt2" ||
	fail "writing roles/cmt2 failed: $(last_error)"
check_eq "roles/cmt2 splits into two creation statements" 2 \
	"$(jq '.creation_statements | length' "$M/roles/cmt2")"
check "roles/cmt2 issues a login that reads coffees" issues_and_reads cmt2

# Root rotation: the statement after a commented ALTER ROLE runs, and the new
# password works (credfs still issues through the rotated connection).
jq -nc --arg u "$URL" --arg r1 "$ROTATE_1 -- rotate" \
	--arg r2 'COMMENT ON ROLE "{{name}}" IS $$rotated by credfs$$' \
	'{plugin_name: "postgresql-database-plugin", allowed_roles: "*", connection_url: $u,
	  username: "postgres", password: "password", root_rotation_statements: [$r1, $r2]}' \
	>"$M/config/wizard" || fail "writing config/wizard failed: $(last_error)"
check "rotate-root/wizard with a commented statement succeeds" \
	sh -c "echo >'$M/rotate-root/wizard'"
check_eq "the statement after 'ALTER ROLE ... -- rotate' ran" "rotated by credfs" \
	"$(admin_psql -c "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = 'postgres'")"
check "the old root password no longer works" not can_login postgres password
check "after the rotation roles/r still issues a login that reads coffees" issues_and_reads r

# ==== (c) BEGIN ... END inside a statement is fine =================================
do_grant='DO $$ BEGIN EXECUTE format('"'"'GRANT SELECT ON coffees TO %I'"'"', '"'"'{{name}}'"'"'); END $$'
do_revoke='DO $$ BEGIN EXECUTE format('"'"'ALTER ROLE %I NOLOGIN'"'"', '"'"'{{name}}'"'"'); END $$'
printf '%s\n' db_name=wizard "creation_statements=$CREATE_1; $do_grant;" \
	"revocation_statements=$do_revoke" default_ttl=1h >"$M/roles/doblk" ||
	fail "writing roles/doblk failed: $(last_error)"
check_eq "roles/doblk reads back with its DO block" "$do_grant" \
	"$(jq -r '.creation_statements[1]' "$M/roles/doblk")"
creds=$(cat "$M/creds/doblk") || fail "cat creds/doblk failed: $(last_error)"
do_user=$(user_of "$creds")
check_eq "the DO block's GRANT ran: the login reads coffees" "Espresso,Latte,Mocha" \
	"$(coffees_as "$do_user" "$(pass_of "$creds")")"
check "rm leases/doblk/ID succeeds" rm "$M/leases/doblk/$(lease_of "$creds")"
check "the DO block's revocation ran: the login is refused" \
	wait_until 5 not can_login "$do_user" "$(pass_of "$creds")"

credfs_umount
finish
