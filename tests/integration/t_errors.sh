#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_errors.sh - bad input gets a clear error and changes nothing.
#
# Each rejected write must: fail with EINVAL (from write() or close()); fail
# in the shell; leave the previous definition (or its absence) unchanged; and
# explain itself in the last line of MOUNT/errors, as
# "<RFC3339 time> <path>: <reason>". Failed creds opens fail with the errno of
# the contract (EIO, EACCES, ENOENT), leave no v- role behind, and explain
# themselves there too.
# shellcheck disable=SC2119,SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

credfs_mount
M=$MNT
setup_seed_conn wizard || fail "writing config/wizard failed: $(last_error)"
setup_seed_role r || fail "writing roles/r failed: $(last_error)"

RFC3339='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:?[0-9]{2})'

# check_error DESC PATH ERE - the last line of errors is about PATH and its
# reason matches ERE (case-insensitive).
check_error() {
	local line
	line=$(last_error)
	check_match "$1: errors line has the time and path" "$line" "^$RFC3339 $2: ."
	check_match "$1: errors line gives the reason" "${line,,}" "^[^ ]+ $2: .*($3)"
}

# snapshot FILE - its content, or <absent> if it cannot be read.
snapshot() {
	cat "$1" 2>/dev/null || echo "<absent>"
}

# strerrors ERE - the messages of the errno names in ERE (EINVAL|EIO).
strerrors() {
	local e out=
	for e in ${1//|/ }; do
		case $e in
		EINVAL) out+="${out:+|}Invalid argument" ;;
		EIO) out+="${out:+|}Input/output error" ;;
		*) out+="${out:+|}$e" ;;
		esac
	done
	echo "$out"
}

# expect_rejected DESC PATH TEXT ERE SHELL [ERRNOS] - writing TEXT to
# MOUNT/PATH is refused with EINVAL (or one of ERRNOS, an ERE). SHELL says how
# a shell user writes it: "echo" (echo TEXT > PATH: the error is detectable at
# write()) or "cat" (printf TEXT | cat > PATH: the error may only show at
# close(), which cat reports and echo cannot).
expect_rejected() {
	local desc=$1 path=$2 text=$3 ere=$4 how=$5 errnos=${6:-EINVAL} before after err rc=0
	before=$(snapshot "$M/$path")
	check_match "$desc: write+close fails with $errnos" "$(errno_of_write "$M/$path" "$text
")" "^($errnos)\$"
	check_error "$desc" "$path" "$ere"
	if [ "$how" = echo ]; then
		err=$( (echo "$text" >"$M/$path") 2>&1) || rc=$?
	else
		err=$(printf '%s\n' "$text" | cat 2>&1 >"$M/$path") || rc=$?
	fi
	check "$desc: '$how > $path' fails in the shell (status $rc)" test "$rc" -ne 0
	check_match "$desc: the shell's message comes from write/close" "$err" "$(strerrors "$errnos")"
	after=$(snapshot "$M/$path")
	check_eq "$desc: $path unchanged" "$before" "$after"
}

v0=$(v_role_count)

# ---- roles/: parse errors -----------------------------------------------------
expect_rejected "malformed JSON" roles/r '{"db_name":' \
	'json|parse|syntax|premature|unexpected|expected|invalid' cat
expect_rejected "unknown key" roles/r 'db_name=wizard
foo=bar' 'foo' echo
expect_rejected "bad duration" roles/r 'db_name=wizard
default_ttl=1x' 'default_ttl.*1x' echo
expect_rejected "missing db_name" roles/r "creation_statements=$SEED_CREATE
default_ttl=1h" 'db_name' cat
expect_rejected "unknown key (JSON)" roles/r '{"db_name":"wizard","foo":"bar"}' 'foo' cat
expect_rejected "missing db_name (new role)" roles/newrole 'default_ttl=1h' 'db_name' cat
check_eq "a rejected new role does not exist" ENOENT "$(errno_of_read "$M/roles/newrole")"
# The user fixes the document and writes it again at once: it must work
# (nothing of the rejected create may linger, not even in the kernel's cache).
check "a corrected new role can be written right after a rejected one" \
	setup_seed_role newrole
check_eq "the corrected new role reads back" wizard "$(jq -r .db_name "$M/roles/newrole" 2>/dev/null)"
check_eq "rejected writes create no PostgreSQL role" "$v0" "$(v_role_count)"

# ---- config/: a connection that cannot be verified -------------------------------
wrong_pw=Wr0ngPa55Zeta7
conn_line="connection_url=postgresql://{{username}}:{{password}}@127.0.0.1:$PGPORT/wizard?sslmode=disable"
expect_rejected "wrong root password" config/x "plugin_name=postgresql-database-plugin
$conn_line
username=postgres
password=$wrong_pw" 'password|auth|connect|verif' cat
check_eq "config/x does not exist after the rejected write" ENOENT "$(errno_of_read "$M/config/x")"
check "errors does not show the wrong password" file_lacks "$wrong_pw" "$M/errors"
check "the daemon log does not show the wrong password" file_lacks "$wrong_pw" "$CREDFS_LOG"

# A server that is not there: bad input (EINVAL) or "PostgreSQL is down" (EIO).
closed_port=1
t0=$(date +%s)
expect_rejected "closed port" config/y "plugin_name=postgresql-database-plugin
connection_url=postgresql://{{username}}:{{password}}@127.0.0.1:$closed_port/wizard?sslmode=disable
username=postgres
password=password" 'connect|refused|verif' cat 'EINVAL|EIO'
check "closed port: rejected promptly ($(($(date +%s) - t0)) s for both writes)" \
	int_between $(($(date +%s) - t0)) 0 20
check_eq "config/y does not exist after the rejected write" ENOENT "$(errno_of_read "$M/config/y")"

expect_rejected "replacing a good connection with a wrong password" config/wizard \
	"plugin_name=postgresql-database-plugin
$conn_line
username=postgres
password=$wrong_pw" 'password|auth|connect|verif' cat
check "the old connection still issues credentials" \
	test "$(errno_of_read "$M/creds/r")" = OK

# ---- creds/: PostgreSQL refuses the creation statements -------------------------
v1=$(v_role_count)
printf '%s\n' db_name=wizard \
	"creation_statements=CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' BOGUS;" \
	default_ttl=1h >"$M/roles/bad" || fail "writing roles/bad failed: $(last_error)"
check "cat creds/bad fails" not cat "$M/creds/bad" 2>/dev/null
check_eq "open+read creds/bad fails with EIO" EIO "$(errno_of_read "$M/creds/bad")"
check_error "bad creation statement" creds/bad '.'
check_eq "no v- role left behind by a failed creation" "$v1" "$(v_role_count)"

# The first statement succeeds, the second fails: nothing may stay.
printf '%s\n' db_name=wizard \
	"creation_statements=$SEED_CREATE GRANT SELECT ON no_such_table TO \"{{name}}\";" \
	default_ttl=1h >"$M/roles/half" || fail "writing roles/half failed: $(last_error)"
check_eq "open+read creds/half fails with EIO" EIO "$(errno_of_read "$M/creds/half")"
check_error "second creation statement fails" creds/half '.'
check_eq "no v- role left behind by a half-done creation" "$v1" "$(v_role_count)"

# ---- creds/: allowed_roles, unknown role, database down --------------------------
setup_seed_conn narrow 'allowed_roles=someone-else' ||
	fail "writing config/narrow failed: $(last_error)"
check_eq "config/narrow allowed_roles" '["someone-else"]' "$(jq -c .allowed_roles "$M/config/narrow")"
setup_seed_role r2 1h 24h narrow || fail "writing roles/r2 failed: $(last_error)"
check_eq "open creds/r2 (not in allowed_roles) fails with EACCES" EACCES \
	"$(errno_of_read "$M/creds/r2")"
check_error "allowed_roles refuses" creds/r2 'allowed|r2'
check_eq "open creds/nope (no such role) fails with ENOENT" ENOENT \
	"$(errno_of_read "$M/creds/nope")"
check_eq "no v- role issued by refused opens" "$v1" "$(v_role_count)"

printf '%s\n' plugin_name=postgresql-database-plugin 'allowed_roles=*' \
	"connection_url=postgresql://{{username}}:{{password}}@127.0.0.1:$closed_port/wizard?sslmode=disable" \
	username=postgres password=password verify_connection=false >"$M/config/down" ||
	fail "writing config/down (verify_connection=false) failed: $(last_error)"
setup_seed_role rdown 1h 24h down || fail "writing roles/rdown failed: $(last_error)"
t0=$(date +%s)
check_eq "open creds/rdown (database down) fails with EIO" EIO "$(errno_of_read "$M/creds/rdown")"
check "database down: open fails promptly ($(($(date +%s) - t0)) s)" \
	int_between $(($(date +%s) - t0)) 0 15
check_error "database down" creds/rdown '.'

# ---- JSON input, rm ------------------------------------------------------------
echo '{"db_name":"wizard","creation_statements":["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '"'"'{{password}}'"'"' VALID UNTIL '"'"'{{expiration}}'"'"';","GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{{name}}\";"],"default_ttl":"1h"}' \
	>"$M/roles/j" || fail "writing roles/j as JSON failed: $(last_error)"
check_eq "JSON role: default_ttl" 3600 "$(jq -r .default_ttl "$M/roles/j")"
check_eq "JSON role: two creation statements" 2 "$(jq '.creation_statements | length' "$M/roles/j")"
jcreds=$(cat "$M/creds/j") || fail "cat creds/j failed: $(last_error)"
check "JSON role: the credential logs in" \
	can_login "$(jq -r .data.username <<<"$jcreds")" "$(jq -r .data.password <<<"$jcreds")"

json_k=$(jq -cn --arg s "$SEED_CREATE" '{db_name: "wizard", creation_statements: $s, default_ttl: "30m"}')
echo "$json_k" >"$M/roles/k" || fail "writing roles/k as JSON failed: $(last_error)"
check_eq "JSON role with one string of statements: default_ttl" 1800 "$(jq -r .default_ttl "$M/roles/k")"
check_eq "JSON role with one string of statements: split in 2" 2 \
	"$(jq '.creation_statements | length' "$M/roles/k")"

rm "$M/roles/k" || fail "rm roles/k failed"
check_eq "rm roles/k: the role is gone" ENOENT "$(errno_of_read "$M/roles/k")"
check_eq "rm roles/k: creds/k is gone" ENOENT "$(errno_of_read "$M/creds/k")"
check "rm roles/k: ls roles no longer lists it" not grep -qx k < <(ls "$M/roles")

setup_seed_conn tmpconn || fail "writing config/tmpconn failed: $(last_error)"
check "config/tmpconn exists" test -r "$M/config/tmpconn"
rm "$M/config/tmpconn" || fail "rm config/tmpconn failed: $(last_error)"
check_eq "rm config/tmpconn: the connection is gone" ENOENT "$(errno_of_read "$M/config/tmpconn")"
check "rm config/tmpconn: ls config no longer lists it" not grep -qx tmpconn < <(ls "$M/config")

rm_errno=$(python3 -c 'import errno, os, sys
try:
    os.unlink(sys.argv[1]); print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))' "$M/config/wizard")
check_eq "rm config/wizard while its leases are live fails with EBUSY" EBUSY "$rm_errno"
check "config/wizard is still there" test -r "$M/config/wizard"

# ---- errors is read-only -------------------------------------------------------------
check "errors cannot be written" not test "$(errno_of_write "$M/errors" x)" = OK

credfs_umount
finish
