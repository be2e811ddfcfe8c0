#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_formats.sh - the credential formats of creds/ (issue 11 items 2 and 3;
# README "Credential formats"), used the way clients use them:
#   1. ls creds/ lists ROLE, ROLE.env, .uri, .service, .pgpass and ROLE.d/
#      (its five files); modes follow creds_mode/creds_owner/creds_group
#      (ROLE.d/ searchable where readable);
#   2. PGSERVICEFILE=creds/ROLE.service psql service=ROLE, twice: two
#      distinct logins; `set -a; . creds/ROLE.env; exec psql` and
#      psql "$(cat creds/ROLE.uri)" log in; busybox cat reads all of .env;
#   3. .pgpass: libpq refuses a password file with group or other access;
#      the default creds_mode 0400 is fine. Every open issues a new login,
#      so a client reads the user name from a copy (cp keeps 0400; a wider
#      creds_mode needs chmod 0600 on the copy), or from the held file
#      itself through /proc/self/fd (a re-open of a held file is that file);
#   4. ROLE.d/: a process that opens username and password at once, and
#      one after the other while another is held, reads one pair that logs
#      in, with exactly one lease naming its pid; a second process gets
#      another pair; after both close, their leases are let go;
#   5. roles/ refuses names that end in a creds/ suffix; a connection_url
#      that cannot be rendered fails the open with EINVAL and issues nothing.
# shellcheck disable=SC2012,SC2016,SC2031,SC2034,SC2119,SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v busybox >/dev/null 2>&1 || skip "busybox missing (apt-get install busybox-static)"
getent group nogroup >/dev/null 2>&1 || skip "no group nogroup"

credfs_mount -o allow_other
M=$MNT
setup_seed_conn wizard || fail "writing config/wizard failed: $(last_error)"
setup_seed_role db-app || fail "writing roles/db-app failed: $(last_error)"
printf '%s\n' db_name=wizard "creation_statements=$SEED_CREATE" default_ttl=1h creds_mode=0440 \
	creds_group=nogroup >"$M/roles/grp" || fail "writing roles/grp failed: $(last_error)"
C=$M/creds
NOGROUP=$(getent group nogroup | cut -d: -f3)

# leases_of ROLE - one line per live lease: "pid state username" (state "let go" as let_go).
leases_of() {
	local f
	for f in "$M/leases/$1"/*; do
		[ -e "$f" ] || continue
		jq -r '"\(.holder.pid) \(.state | gsub(" "; "_")) \(.username)"' "$f" 2>/dev/null || true
	done
}

# who_am_i ARGS... - psql ARGS -c 'select current_user' (no PG* from the test's environment).
who_am_i() {
	env -u PGHOST -u PGPORT psql -XAtq "$@" -c 'select current_user' </dev/null
}

# ---- 1. names and modes -------------------------------------------------------
listing=$(ls "$C" | tr '\n' ' ')
check_eq "1: ls creds/" "db-app db-app.d db-app.env db-app.pgpass db-app.service db-app.uri grp grp.d grp.env grp.pgpass grp.service grp.uri " "$listing"
check_eq "1: ls creds/db-app.d/" "database host password port username " \
	"$(ls "$C/db-app.d" | tr '\n' ' ')"
check_eq "1: ls -l issues nothing" "" "$(ls -lR "$C" >/dev/null; leases_of db-app; leases_of grp)"
for f in db-app db-app.env db-app.uri db-app.service db-app.pgpass db-app.d/username db-app.d/password; do
	check_eq "1: $f is 0400 root's, 0 bytes before open" "-r-------- 0 0 0" \
		"$(stat -c '%A %u %g %s' "$C/$f")"
done
check_eq "1: db-app.d/ is 0500 root's" "dr-x------ 0 0" "$(stat -c '%A %u %g' "$C/db-app.d")"
for f in grp grp.env grp.uri grp.service grp.pgpass grp.d/host grp.d/database; do
	check_eq "1: $f follows creds_mode 0440, creds_group" "-r--r----- 0 $NOGROUP" \
		"$(stat -c '%A %u %g' "$C/$f")"
done
check_eq "1: grp.d/ is 0550, creds_group" "dr-xr-x--- 0 $NOGROUP" "$(stat -c '%A %u %g' "$C/grp.d")"
check_eq "1: an unknown key is no file" ENOENT "$(errno_of_read "$C/db-app.d/secret")"
check_eq "1: an unknown role's .env is no file" ENOENT "$(errno_of_read "$C/nope.env")"
check_eq "1: ROLE.d cannot be read as a file" EISDIR "$(errno_of_read "$C/db-app.d")"

# ---- 2. service file, env file, URI ---------------------------------------------
u1=$(PGSERVICEFILE=$C/db-app.service who_am_i service=db-app) || u1=
u2=$(PGSERVICEFILE=$C/db-app.service who_am_i service=db-app) || u2=
check_match "2: psql service=db-app logs in" "$u1" '^v-psql-db-app-'
check_match "2: ... and again" "$u2" '^v-psql-db-app-'
check "2: two opens, two logins" test "$u1" != "$u2"
u=$( (
	unset PGHOST PGPORT
	set -a
	# shellcheck disable=SC1091
	. "$C/db-app.env"
	exec psql -XAtq -c 'select current_user' </dev/null
)) || u=
check_match "2: set -a; . db-app.env; exec psql" "$u" '^v-bash-db-app-'
u=$(who_am_i "$(cat "$C/db-app.uri")") || u=
check_match "2: psql \"\$(cat db-app.uri)\"" "$u" '^v-cat-db-app-'
check_match "2: the URI's shape" "$(cat "$C/db-app.uri")" \
	"^postgresql://v-cat-db-app-[^:]+:[A-Za-z0-9-]{20}@127\\.0\\.0\\.1:$CREDFS_PG_PORT/wizard\\?sslmode=disable$"
env_body=$(sh -c 'echo $$; exec busybox cat "$1"' _ "$C/db-app.env")
bpid=$(head -n 1 <<<"$env_body")
env_body=$(tail -n +2 <<<"$env_body")
check_eq "2: busybox cat db-app.env: every line" \
	"PGUSER PGPASSWORD PGHOST=127.0.0.1 PGPORT=$CREDFS_PG_PORT PGDATABASE=wizard PGSSLMODE=disable" \
	"$(sed -E 's/^(PGUSER|PGPASSWORD)=.*/\1/' <<<"$env_body" | tr '\n' ' ' | sed 's/ $//')"
bu=$(sed -n 's/^PGUSER=//p' <<<"$env_body")
check "2: ... a login that works" can_login "$bu" "$(sed -n 's/^PGPASSWORD=//p' <<<"$env_body")"
check "2: ... leased to busybox's pid, let go after its exit" \
	wait_until 5 eval 'leases_of db-app | grep -qx "$bpid let_go $bu"'

# ---- 3. .pgpass ------------------------------------------------------------------
cp "$C/db-app.pgpass" "$T_DIR/pgpass"
line=$(head -n 1 "$T_DIR/pgpass")
check_match "3: the line" "$line" "^127\\.0\\.0\\.1:$CREDFS_PG_PORT:wizard:v-cp-db-app-[^:]+:[A-Za-z0-9-]{20}$"
check_eq "3: the copy is 0400 (cp keeps the mode)" 400 "$(stat -c %a "$T_DIR/pgpass")"
pu=$(cut -d: -f4 <<<"$line")
u=$(PGPASSFILE=$T_DIR/pgpass who_am_i -h 127.0.0.1 -p "$CREDFS_PG_PORT" -U "$pu" -d wizard -w) || u=
check_eq "3: PGPASSFILE=copy psql -U user" "$pu" "$u"
u=$(bash -c 'exec 3<"$1"; IFS=: read -r _ _ _ user _ <&3
	PGPASSFILE=/proc/self/fd/3 exec env -u PGHOST -u PGPORT psql -XAtq -w -h 127.0.0.1 \
		-p "$2" -U "$user" -d wizard -c "select current_user" </dev/null' _ "$C/db-app.pgpass" \
	"$CREDFS_PG_PORT") || u=
check_match "3: PGPASSFILE=/proc/self/fd/N of the held file" "$u" '^v-bash-db-app-'
cp "$C/grp.pgpass" "$T_DIR/grp.pgpass"
chmod 0640 "$T_DIR/grp.pgpass"
gu=$(cut -d: -f4 "$T_DIR/grp.pgpass")
check "3: libpq ignores a group-readable password file (creds_mode 0440)" not \
	env PGPASSFILE="$T_DIR/grp.pgpass" psql -XAtqw -h 127.0.0.1 -p "$CREDFS_PG_PORT" -U "$gu" \
	-d wizard -c 'select 1' </dev/null 2>/dev/null
chmod 0600 "$T_DIR/grp.pgpass"
u=$(PGPASSFILE=$T_DIR/grp.pgpass who_am_i -h 127.0.0.1 -p "$CREDFS_PG_PORT" -U "$gu" -d wizard -w) || u=
check_eq "3: ... and uses it once it is 0600" "$gu" "$u"

# ---- 4. ROLE.d/: one lease per process ----------------------------------------------
PY=$T_DIR/keys.py
cat >"$PY" <<-'EOF'
	import json, os, sys, time

	d, out = sys.argv[1], sys.argv[2]

	def read(fd):
	    return os.pread(fd, 4096, 0).decode()

	def wait_for(path):
	    while not os.path.exists(path):
	        time.sleep(0.05)

	fu = os.open(d + "/username", os.O_RDONLY)
	fp = os.open(d + "/password", os.O_RDONLY)
	user, pw = read(fu), read(fp)
	os.close(fu)
	# one after the other while another (password) is held
	f = os.open(d + "/username", os.O_RDONLY)
	user2 = read(f)
	os.close(f)
	vals = {}
	for k in ("host", "port", "database"):
	    f = os.open(d + "/" + k, os.O_RDONLY)
	    vals[k] = read(f)
	    os.close(f)
	with open(out + ".tmp", "w") as o:
	    json.dump(dict(pid=os.getpid(), user=user, pw=pw, user2=user2, **vals), o)
	os.rename(out + ".tmp", out)
	wait_for(out + ".close")
	os.close(fp)
	open(out + ".closed", "w").close()
	wait_for(out + ".exit")
EOF
python3 "$PY" "$C/db-app.d" "$T_DIR/k1" &
K1=$!
python3 "$PY" "$C/db-app.d" "$T_DIR/k2" &
K2=$!
wait_until 10 test -e "$T_DIR/k1" -a -e "$T_DIR/k2" || fail "the ROLE.d/ readers did not report: $(last_error)"
for k in k1 k2; do
	r=$(cat "$T_DIR/$k")
	pid=$(jq -r .pid <<<"$r")
	user=$(jq -r .user <<<"$r")
	check_match "4: $k: ROLE.d/username" "$user" '^v-python3-db-app-'
	check_eq "4: $k: ROLE.d/password: 20 bytes, no newline" 20 "$(jq '.pw | length' <<<"$r")"
	check "4: $k: the pair logs in" can_login "$user" "$(jq -r .pw <<<"$r")"
	check_eq "4: $k: username again, while password is held" "$user" "$(jq -r .user2 <<<"$r")"
	check_eq "4: $k: host port database" "127.0.0.1 $CREDFS_PG_PORT wizard" \
		"$(jq -r '"\(.host) \(.port) \(.database)"' <<<"$r")"
	check_eq "4: $k: exactly one lease, held, naming its pid" "$pid held $user" \
		"$(leases_of db-app | grep "^$pid ")"
done
check "4: two processes, two logins" test "$(jq -r .user "$T_DIR/k1")" != "$(jq -r .user "$T_DIR/k2")"
touch "$T_DIR/k1.close" "$T_DIR/k2.close"
wait_until 10 test -e "$T_DIR/k1.closed" -a -e "$T_DIR/k2.closed" || fail "the ROLE.d/ readers did not close"
for k in k1 k2; do
	pid=$(jq -r .pid "$T_DIR/$k")
	check "4: $k: after the last close (process alive), its lease is let go" \
		wait_until 5 eval '[ "$(leases_of db-app | grep "^$pid " | cut -d" " -f2)" = let_go ]'
done
touch "$T_DIR/k1.exit" "$T_DIR/k2.exit"
wait "$K1" "$K2" || true
# The values are in the kernel's page cache only while a file is open.
check "4: the daemon log holds no ROLE.d/ password" file_lacks "$(jq -r .pw "$T_DIR/k1")" "$CREDFS_LOG"
# A shell that opens both files itself (one process) reads one pair.
pair=$(bash -c 'exec 3<"$1/username" 4<"$1/password"; read -r u <&3 || :; read -r p <&4 || :
	echo "$u $p"' _ "$C/db-app.d")
check "4: bash with both files on fds 3 and 4: one pair that logs in" can_login "${pair% *}" "${pair#* }"

# ---- 5. refusals ------------------------------------------------------------------
check_eq "5: roles/x.env is refused" EINVAL "$(errno_of_write "$M/roles/x.env" 'db_name=wizard')"
check_match "5: ... explained in errors" "$(last_error)" 'ends in \.env, \.uri, \.service, \.pgpass or \.d'
for n in x.uri x.service x.pgpass x.d; do
	check_eq "5: roles/$n is refused" EINVAL "$(errno_of_write "$M/roles/$n" 'db_name=wizard')"
done
check_eq "5: roles/x.ENV is a fine name" OK "$(errno_of_write "$M/roles/x.ENV" \
	"$(printf 'db_name=wizard\ncreation_statements=%s\n' "$SEED_CREATE")")"
check "5: ... whose JSON file is creds/x.ENV" test -f "$C/x.ENV"
setup_seed_conn svc "connection_url=host=127.0.0.1 port=$CREDFS_PG_PORT dbname=wizard service=nothere user={{username}} password={{password}}" \
	verify_connection=false || fail "writing config/svc failed: $(last_error)"
setup_seed_role viasvc 1h 24h svc || fail "writing roles/viasvc failed: $(last_error)"
v0=$(v_role_count)
check_eq "5: a connection_url with service= cannot be rendered: EINVAL" EINVAL \
	"$(errno_of_read "$C/viasvc.env")"
check_match "5: ... explained in errors" "$(last_error)" 'creds/viasvc\.env.*service'
check_eq "5: ... and ROLE.d/ too" EINVAL "$(errno_of_read "$C/viasvc.d/username")"
check_eq "5: ... no login was created" "$v0" "$(v_role_count)"
check_eq "5: ... no lease" "" "$(leases_of viasvc)"
finish
