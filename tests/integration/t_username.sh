#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_username.sh - username_template on config/NAME (Vault's connection
# parameter, Go template syntax):
#
#   a template        the issued login has the template's shape, logs in,
#                     and is revoked under that name
#   read back         config/NAME shows the template
#   a bad template    refused at write time (EINVAL, reason in errors), the
#                     previous connection unchanged
#   a long result     a template that fits the sample but not a long role
#                     name fails open() with EIO and says why; no login
#   a hostile reader  a command name with quotes and '$' reaches the name
#                     only as '_'; a '.' in it stays, as Vault keeps it
#   Go's printf       a template's printf mistakes print as Go prints them
#                     (%!s(MISSING)); timestamp uses Go's layouts
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

credfs_mount
M=$MNT
TEMPLATE='v-{{ .RoleName | truncate 4 }}_{{ .DisplayName }}_{{ random 10 | lowercase }}'

setup_seed_role db-app || fail "writing roles/db-app failed: $(last_error)"
setup_seed_conn wizard "username_template=$TEMPLATE" ||
	fail "writing config/wizard with a username_template failed: $(last_error)"
check_eq "config/wizard shows the template" "$TEMPLATE" \
	"$(jq -r .username_template "$M/config/wizard")"

# ---- a login in the template's shape ----------------------------------------------------
creds=$(cat "$M/creds/db-app") || fail "cat creds/db-app failed: $(last_error)"
user=$(jq -r .data.username <<<"$creds")
pass=$(jq -r .data.password <<<"$creds")
id=$(jq -r '.lease_id | split("/") | last' <<<"$creds")
echo "issued $user"
check_match "the username has the template's shape" "$user" '^v-db-a_cat_[a-z0-9]{10}$'
check "the login exists in pg_roles" role_exists "$user"
out=$(PGPASSWORD=$pass psql -h 127.0.0.1 -p "$CREDFS_PG_PORT" -U "$user" -d wizard -XAtq \
	-c 'select name from coffees order by id limit 1' </dev/null 2>&1)
check_eq "the login reads coffees" Latte "$out"
check_eq "leases/ shows the templated username" "$user" \
	"$(jq -r .username "$M/leases/db-app/$id")"
rm "$M/leases/db-app/$id" || fail "rm leases/db-app/$id failed"
check "rm leases/... revokes the templated login (the role's NOLOGIN)" \
	wait_until 5 not can_login "$user" "$pass"
check_eq "... under its templated name" f "$(role_attr "$user" rolcanlogin)"

# ---- a bad template changes nothing ------------------------------------------------------
before=$(cat "$M/config/wizard")
bad_conn() { setup_seed_conn wizard "username_template=$1" 2>/dev/null; }
for bad in '{{ nosuch 3 }}' '{{ .RoleName ' '{{ random 64 }}' 'v-{{ "a b" }}' \
	'{{ printf "%s %s" "a" }}' "v-'{{ .RoleName }}"; do
	check "username_template '$bad' is refused" not bad_conn "$bad"
	check "... and errors says why" grep -q 'username_template' <<<"$(last_error)"
	check_eq "... and config/wizard is unchanged" "$before" "$(cat "$M/config/wizard")"
done
check "the refusal names the unknown function" \
	grep -q 'unknown function' < <(grep 'nosuch' "$M/errors" | tail -n 1)

# ---- a name too long for one role: open() fails, nothing is created ---------------------------
setup_seed_conn wizard 'username_template=v-{{ .RoleName }}-{{ random 20 }}' ||
	fail "a template that fits the sample role was refused: $(last_error)"
long=aaaaaaaaaabbbbbbbbbbccccccccccddddddddddeeeeeeeeee
setup_seed_role "$long" || fail "writing roles/$long failed: $(last_error)"
v_before=$(v_role_count)
check_eq "open of creds/$long fails with EIO" EIO "$(errno_of_read "$M/creds/$long")"
check "errors says the name is too long" grep -q '63' <<<"$(last_error)"
check_eq "no login was created" "$v_before" "$(v_role_count)"
check_eq "a short role still works" OK "$(errno_of_read "$M/creds/db-app")"

# ---- a hostile command name ----------------------------------------------------------------
setup_seed_conn wizard 'username_template=v-{{ .DisplayName }}-{{ random 8 }}' ||
	fail "writing config/wizard failed: $(last_error)"
evil="$T_DIR/x\"'\$y"
cp /bin/cat "$evil"
creds=$("$evil" "$M/creds/db-app") || fail "reading creds/db-app as $evil failed: $(last_error)"
user=$(jq -r .data.username <<<"$creds")
echo "issued $user"
check_match "quotes and \$ in the command name became '_'" "$user" '^v-x___y-[A-Za-z0-9]{8}$'
check "that login exists" role_exists "$user"
dotted="$T_DIR/cat.v2"
cp /bin/cat "$dotted"
creds=$("$dotted" "$M/creds/db-app") || fail "reading creds/db-app as $dotted failed: $(last_error)"
user=$(jq -r .data.username <<<"$creds")
echo "issued $user"
check_match "a '.' in the command name stays, as in Vault" "$user" '^v-cat\.v2-[A-Za-z0-9]{8}$'
check "that login exists" role_exists "$user"

# ---- Go's printf and timestamp, as Vault renders them ---------------------------------------
setup_seed_conn wizard 'username_template={{ printf "%s-%s" (.RoleName | truncate 4) }}_{{ timestamp "20060102" }}_{{ random 6 }}' ||
	fail "a template with Go's printf forms was refused: $(last_error)"
creds=$(cat "$M/creds/db-app") || fail "cat creds/db-app failed: $(last_error)"
user=$(jq -r .data.username <<<"$creds")
pass=$(jq -r .data.password <<<"$creds")
echo "issued $user"
check_eq "printf and timestamp render as in Go" \
	"db-a-%!s(MISSING)_$(date -u +%Y%m%d)" "${user%_*}"
check "that login exists and logs in" can_login "$user" "$pass"

credfs_umount
finish
