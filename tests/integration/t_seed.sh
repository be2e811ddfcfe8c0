#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_seed.sh - the seed walkthrough (shared/seeds/000_*.txt), step for step,
# with the tools its reader has: echo, cat, jq, psql.
#
#   vault write database/roles/db-app ...      -> echo '...' > roles/db-app
#   vault write database/config/wizard ...     -> printf ... > config/wizard
#   vault write -f database/rotate-root/wizard -> echo > rotate-root/wizard
#   PGPASSWORD=password psql -U postgres       -> now refused
#   vault read database/creds/db-app           -> cat creds/db-app
#   db_creds=...; psql -U $username wizard     -> select * from coffees
# shellcheck disable=SC2002,SC2119 # `cat file | jq` is how people type it
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

credfs_mount
M=$MNT

check "mount has config/ roles/ creds/ rotate-root/ leases/ and errors" \
	test -d "$M/config" -a -d "$M/roles" -a -d "$M/creds" -a -d "$M/rotate-root" \
	-a -d "$M/leases" -a -f "$M/errors"
v_before=$(v_role_count)

# The role first, before its connection exists, exactly as the seed does.
echo 'db_name=wizard
creation_statements=CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '"'"'{{password}}'"'"' VALID UNTIL '"'"'{{expiration}}'"'"'; GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";
revocation_statements=ALTER ROLE "{{name}}" NOLOGIN;
default_ttl=1h
max_ttl=24h' >"$M/roles/db-app" || fail "writing roles/db-app failed: $(last_error)"

printf '%s\n' plugin_name=postgresql-database-plugin 'allowed_roles=*' \
	"connection_url=postgresql://{{username}}:{{password}}@127.0.0.1:$PGPORT/wizard?sslmode=disable" \
	username=postgres password=password >"$M/config/wizard" ||
	fail "writing config/wizard failed: $(last_error)"

# Reading the definitions back.
conf=$(cat "$M/config/wizard") || fail "cat config/wizard failed"
echo "config/wizard: $conf"
check "config/wizard is a JSON object" jq -e 'type == "object"' <<<"$conf"
check_eq "config plugin_name" postgresql-database-plugin "$(jq -r .plugin_name <<<"$conf")"
check_eq "config username" postgres "$(jq -r .username <<<"$conf")"
check_eq "config connection_url keeps its templates" \
	"postgresql://{{username}}:{{password}}@127.0.0.1:$PGPORT/wizard?sslmode=disable" \
	"$(jq -r .connection_url <<<"$conf")"
check_eq "config allowed_roles" '["*"]' "$(jq -c .allowed_roles <<<"$conf")"
check_eq "config has no password key, at any depth" 0 \
	"$(jq '[paths | select(.[-1] == "password")] | length' <<<"$conf")"
check "config does not contain the password in the URL" lacks "postgres:password@" "$conf"
# `vault read database/config/wizard` fields, for scripts written against Vault
check_eq "config connection_details (Vault's read-back)" \
	"postgresql://{{username}}:{{password}}@127.0.0.1:$PGPORT/wizard?sslmode=disable postgres 4" \
	"$(jq -r '.connection_details | "\(.connection_url) \(.username) \(.max_open_connections)"' <<<"$conf")"
check_eq "config Vault's read-back names" '["",""]' \
	"$(jq -c '[.password_policy, .plugin_version]' <<<"$conf")"
check "config root_credentials_rotate_statements is a list" \
	jq -e '.root_credentials_rotate_statements | type == "array"' <<<"$conf"

role=$(cat "$M/roles/db-app") || fail "cat roles/db-app failed"
echo "roles/db-app: $role"
check "roles/db-app is a JSON object" jq -e 'type == "object"' <<<"$role"
check_eq "role db_name" wizard "$(jq -r .db_name <<<"$role")"
check_eq "role default_ttl" 3600 "$(jq -r .default_ttl <<<"$role")"
check_eq "role max_ttl" 86400 "$(jq -r .max_ttl <<<"$role")"
check_eq "role creation_statements has 2 statements" 2 \
	"$(jq '.creation_statements | length' <<<"$role")"
check "role creation statement 1 is the CREATE ROLE" jq -e \
	'.creation_statements[0] | ltrimstr(" ") | startswith("CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '"'"'{{password}}'"'"' VALID UNTIL '"'"'{{expiration}}'"'"'")' \
	<<<"$role"
check "role creation statement 2 is the GRANT" jq -e \
	'.creation_statements[1] | sub("^\\s+"; "") | startswith("GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{{name}}\"")' \
	<<<"$role"
check "role revocation_statements" jq -e \
	'.revocation_statements | length == 1 and (.[0] | startswith("ALTER ROLE \"{{name}}\" NOLOGIN"))' \
	<<<"$role"
check "role renew/rollback statements are lists" jq -e \
	'(.renew_statements | type == "array") and (.rollback_statements | type == "array")' <<<"$role"

check "before rotate-root, postgres/password logs in" can_login postgres password
# rotate-root: the seed's `vault write --force database/rotate-root/wizard`.
echo >"$M/rotate-root/wizard" || fail "rotate-root/wizard failed: $(last_error)"
check "the original root password is refused after rotate-root" not can_login postgres password
check "credfs_admin still works (test harness sanity)" admin_psql -c 'select 1'

# ls, stat, find on creds/ issue nothing.
check_eq "ls creds lists db-app and its other formats" \
	"db-app db-app.d db-app.env db-app.pgpass db-app.service db-app.uri" "$(ls "$M/creds" | tr '\n' ' ' | sed 's/ $//')"
check_eq "no v- role before any creds open" "$v_before" "$(v_role_count)"
ls -l "$M/creds" >/dev/null
stat "$M/creds/db-app" >/dev/null
find "$M" >/dev/null
ls -lR "$M" >/dev/null
test -r "$M/creds/db-app"
check_eq "ls/stat/find on creds create no PostgreSQL role" "$v_before" "$(v_role_count)"

# The seed's test: credentials into variables with jq, then psql with them.
db_creds=$(cat "$M/creds/db-app") || fail "cat creds/db-app failed: $(last_error)"
# shellcheck disable=SC2086 # unquoted, verbatim from the seed
username=$(echo ${db_creds} | jq -r .data.username)
# shellcheck disable=SC2086

password=$(echo ${db_creds} | jq -r .data.password)
echo "issued $username"
# shellcheck disable=SC2086
out=$(PGPASSWORD=${password} psql -U ${username} wizard -c 'select * from coffees' </dev/null) ||
	fail "psql with the issued credentials failed"
echo "$out"
check "select * from coffees shows Latte" grep -q Latte <<<"$out"
check_eq "v- roles after one creds open" $((v_before + 1)) "$(v_role_count)"
check_match "username starts with v-" "$username" '^v-.'
check_match "password is at least 20 characters" "$password" '^.{20,}$'
check_eq "lease_duration is default_ttl" 3600 "$(jq -r .lease_duration <<<"$db_creds")"
check_eq "renewable" true "$(jq -r .renewable <<<"$db_creds")"
lease_id=$(jq -r .lease_id <<<"$db_creds")
check_match "lease_id starts with database/creds/db-app/" "$lease_id" '^database/creds/db-app/.'

# VALID UNTIL carries the expiry: about now + 1h (+ Vault's 5 s).
valid_in=$(admin_psql -c "SELECT extract(epoch FROM rolvaliduntil - now())::int FROM pg_roles
	WHERE rolname = $(sql_lit "$username") AND rolvaliduntil IS NOT NULL")
echo "rolvaliduntil - now() = ${valid_in:-NULL} s"
check "pg_roles has the user with rolvaliduntil about 1 h ahead" \
	int_between "$valid_in" 3500 3700
check_eq "the user can log in (rolcanlogin)" t "$(role_attr "$username" rolcanlogin)"

# leases/ROLE/ID shows the lease, never the password.
lease_file=$M/leases/db-app/${lease_id##*/}
if [ -r "$lease_file" ]; then
	lease=$(cat "$lease_file")
	echo "leases/db-app/${lease_id##*/}: $lease"
	check_eq "lease file names the username" "$username" "$(jq -r .username <<<"$lease")"
	check "lease file does not contain the password" lacks "$password" "$lease"
else
	check "leases/db-app/<id> exists for the issued lease" false
fi

# Each open issues a new credential.
u2=$(cat "$M/creds/db-app" | jq -r .data.username)
u3=$(cat "$M/creds/db-app" | jq -r .data.username)
check_match "second cat gives a username" "$u2" '^v-.'
check_match "third cat gives a username" "$u3" '^v-.'
check "three cats give three different usernames" \
	test "$u2" != "$u3" -a "$u2" != "$username" -a "$u3" != "$username"
check_eq "v- roles after three creds opens" $((v_before + 3)) "$(v_role_count)"

# One open file: every read returns the same bytes, in this process and in a
# child that inherited the descriptor.
check "one open, many reads: the same bytes" python3 - "$M/creds/db-app" <<'EOF'
import json, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
a = os.pread(fd, 65536, 0)
b = os.pread(fd, 65536, 0)
chunks = b""
while True:
    c = os.read(fd, 7)
    if not c:
        break
    chunks += c
pid = os.fork()
if pid == 0:
    os._exit(0 if os.pread(fd, 65536, 0) == a else 1)
_, st = os.waitpid(pid, 0)
ok = a and a == b == chunks and os.WEXITSTATUS(st) == 0
ok = ok and json.loads(a)["data"]["username"].startswith("v-")
os.close(fd)
sys.exit(0 if ok else 1)
EOF

# No issued password in the daemon's log.
check "the daemon log holds no issued password" file_lacks "$password" "$CREDFS_LOG"

credfs_umount
finish
