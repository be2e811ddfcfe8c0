#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_hostile.sh - hostile input everywhere (issue 5, item 4).
#
# Every hostile write must fail (EINVAL or the kernel's own refusal), say
# why in MOUNT/errors, and leave config/ and roles/ exactly as they were
# (a digest of both trees before and after). Covered:
#   - names: 65 bytes, 80+ bytes, "a/b", "..", quotes, ';', control bytes,
#     invalid UTF-8, leading/trailing '-', and x";DROP TABLE coffees;--
#     (coffees must stay intact);
#   - size: > 1 MiB (EFBIG; exactly 1 MiB is fine), a write far past the
#     end, holes and NUL bytes, 100,000-deep JSON, invalid UTF-8 values;
#   - partial writes: a JSON document in 3 writes and a key=value document
#     cut mid-line are applied once, at the closing brace or at close;
#   - 8 concurrent writers to one file, JSON and key=value: the result is
#     one writer's whole definition, never a mix;
#   - templates: {{foo}}, an unterminated {{, {{Name}}, {{password}} where
#     the statement kind has none;
#   - SQL quoting: unterminated quotes are refused at write; ';' inside a
#     literal or a dollar-quoted body does not split; generated usernames
#     stay [A-Za-z0-9_-] even when the opener's command is x"y;z.
#
# Checks marked "known gap" print "KNOWN GAP: ..." and do not fail the test
# unless CREDFS_STRICT=1: they document where credfs falls short today.
# shellcheck disable=SC2016,SC2119,SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

T_GAPS=0

# known_gap DESC CMD... - like check, but a failure is a documented gap.
known_gap() {
	local desc=$1
	shift
	if "$@" >/dev/null 2>&1; then
		T_PASS=$((T_PASS + 1))
		echo "ok: $desc (was a known gap: remove the marker)"
	elif [ "${CREDFS_STRICT:-0}" = 1 ]; then
		T_FAIL=$((T_FAIL + 1))
		echo "FAIL: $desc (known gap, CREDFS_STRICT=1)" >&2
	else
		T_GAPS=$((T_GAPS + 1))
		echo "KNOWN GAP: $desc"
	fi
}

credfs_mount
M=$MNT
setup_seed_conn wizard || fail "writing config/wizard failed: $(last_error)"
setup_seed_role r || fail "writing roles/r failed: $(last_error)"

# hw PATH CHUNK... - write CHUNKs (Python escapes: \xff, \n, \x00) to
# MOUNT/PATH (escapes too) in one open; print OK or where it failed and how
# ("open:EINVAL", "write:EFBIG", "close:EINVAL"). A CHUNK "@/FILE" is
# FILE's bytes. HW_OFFSET=N: pwrite at N. HW_PAUSE=S: sleep between chunks.
cat >"$T_DIR/hw.py" <<-'EOF'
	import codecs, errno, os, sys, time
	def unesc(s):
	    return codecs.escape_decode(s.encode("utf-8", "surrogateescape"))[0]
	mnt = os.environ["M"].encode()
	path = mnt + b"/" + unesc(sys.argv[1])
	chunks = [open(c[1:], "rb").read() if c.startswith("@/") else unesc(c)
	          for c in sys.argv[2:]]
	off = os.environ.get("HW_OFFSET")
	pause = float(os.environ.get("HW_PAUSE", "0"))
	name = lambda e: errno.errorcode.get(e.errno, str(e.errno))
	try:
	    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
	except OSError as e:
	    print("open:" + name(e)); sys.exit(0)
	try:
	    for i, c in enumerate(chunks):
	        if i and pause:
	            time.sleep(pause)
	        if off is not None:
	            os.pwrite(fd, c, int(off))
	        else:
	            os.write(fd, c)
	except OSError as e:
	    print("write:" + name(e))
	    try:
	        os.close(fd)
	    except OSError:
	        pass
	    sys.exit(0)
	try:
	    os.close(fd)
	except OSError as e:
	    print("close:" + name(e)); sys.exit(0)
	print("OK")
EOF
export M
hw() {
	python3 "$T_DIR/hw.py" "$@"
}

# defs_digest - one digest of every name and definition under config/ and roles/.
defs_digest() {
	local d f
	for d in config roles; do
		for f in "$M/$d"/*; do
			[ -e "$f" ] || continue
			printf '== %s\n' "${f#"$M"/}"
			cat "$f"
		done
	done | sha256sum | cut -d' ' -f1
}

coffees() {
	admin_psql -c 'SELECT count(*) FROM coffees' 2>/dev/null || echo gone
}

errors_lines() {
	wc -l <"$M/errors"
}

RFC3339='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:?[0-9]{2})'

# refused DESC PATH WANT ERE CHUNK... - writing CHUNKs to PATH fails as WANT
# (an ERE on hw's output), the last errors line says why (ERE, case-
# insensitive; "-" when the kernel refuses before credfs is asked), and
# config/ and roles/ are unchanged.
refused() {
	local desc=$1 path=$2 want=$3 ere=$4 before after got n0 line
	shift 4
	before=$(defs_digest)
	n0=$(errors_lines)
	got=$(hw "$path" "$@")
	check_match "$desc: refused ($got)" "$got" "^($want)\$"
	if [ "$ere" != - ]; then
		# bytes outside printable ASCII (a name's invalid UTF-8) as '?' for =~
		line=$(last_error | LC_ALL=C tr -c '[:print:]\n' '?')
		check "$desc: a new line in errors" test "$(errors_lines)" -gt "$n0"
		check_match "$desc: errors line starts with the time" "$line" "^$RFC3339 "
		check_match "$desc: errors says why" "${line,,}" "^[^ ]+ .*($ere)"
	fi
	after=$(defs_digest)
	check_eq "$desc: config/ and roles/ unchanged" "$before" "$after"
}

v0=$(v_role_count)
check_eq "coffees has its 3 rows" 3 "$(coffees)"
ROLE_DOC='db_name=wizard\ndefault_ttl=1h\n'

# ---- names ----------------------------------------------------------------------
long65=$(printf 'a%.0s' $(seq 65))
long64=$(printf 'b%.0s' $(seq 64))
long80=$(printf 'c%.0s' $(seq 80))
long300=$(printf 'd%.0s' $(seq 300))
NAME_ERE='name may use only|letters|name must'
for dir in roles config; do
	refused "$dir: 65-byte name" "$dir/$long65" open:EINVAL '1 to 64|name must' "$ROLE_DOC"
	refused "$dir: 300-byte name" "$dir/$long300" 'open:E[A-Z]+' - "$ROLE_DOC"
	refused "$dir: \"x\\\"y\" (double quote)" "$dir/x\"y" open:EINVAL "$NAME_ERE" "$ROLE_DOC"
	refused "$dir: \"x'y\" (single quote)" "$dir/x'y" open:EINVAL "$NAME_ERE" "$ROLE_DOC"
	refused "$dir: \"x;y\"" "$dir/x;y" open:EINVAL "$NAME_ERE" "$ROLE_DOC"
	refused "$dir: \"x y\"" "$dir/x y" open:EINVAL "$NAME_ERE" "$ROLE_DOC"
	refused "$dir: control byte \\x01" "$dir/x\\x01y" open:EINVAL "$NAME_ERE" "$ROLE_DOC"
	refused "$dir: newline" "$dir/x\\ny" open:EINVAL "$NAME_ERE" "$ROLE_DOC"
	refused "$dir: invalid UTF-8" "$dir/x\\xff\\xfey" open:EINVAL "$NAME_ERE" "$ROLE_DOC"
	refused "$dir: UTF-8 letter (not \\w in ASCII)" "$dir/caf\\xc3\\xa9" open:EINVAL \
		"$NAME_ERE" "$ROLE_DOC"
	refused "$dir: leading '-'" "$dir/-x" open:EINVAL "$NAME_ERE" "$ROLE_DOC"
	refused "$dir: trailing '-'" "$dir/x-" open:EINVAL "$NAME_ERE" "$ROLE_DOC"
	refused "$dir: leading '.'" "$dir/.x" open:EINVAL "$NAME_ERE" "$ROLE_DOC"
	refused "$dir: \"a/b\" is not one component" "$dir/a/b" 'open:(ENOENT|ENOTDIR)' - "$ROLE_DOC"
	check "$dir: no \"a\" appeared" not test -e "$M/$dir/a"
	refused "$dir: \"..\"" "$dir/.." 'open:(EISDIR|EACCES|EPERM)' - "$ROLE_DOC"
	refused "$dir: \".\"" "$dir/." 'open:(EISDIR|EACCES|EPERM)' - "$ROLE_DOC"
	refused "$dir: x\";DROP TABLE coffees;--" "$dir/x\";DROP TABLE coffees;--" open:EINVAL \
		"$NAME_ERE" "$ROLE_DOC"
done
check_eq "coffees still has its 3 rows" 3 "$(coffees)"

# An 80-byte name (any name up to NAME_MAX) gets the same answer as a
# 65-byte one: EINVAL, explained in errors.
before=$(defs_digest)
n0=$(errors_lines)
got=$(hw "roles/$long80" "$ROLE_DOC")
check_eq "roles: an 80-byte name fails with EINVAL" open:EINVAL "$got"
check_eq "roles: 80-byte name: config/ and roles/ unchanged" "$before" "$(defs_digest)"
check "roles: an 80-byte name is explained in errors" test "$(errors_lines)" -gt "$n0"

# A control byte in a refused name is not echoed into errors verbatim (only
# root can create names, but root's terminal would interpret it).
hw 'roles/x\x1b[1my' "$ROLE_DOC" >/dev/null
check "errors shows no raw control bytes from a refused name" \
	not grep -qP '[\x00-\x08\x0b-\x1f\x7f]' "$M/errors"

# The boundary: 64 bytes and Vault's inner '-' and '.' are fine.
check_eq "roles: a 64-byte name is accepted" OK "$(hw "roles/$long64" "$ROLE_DOC")"
check_eq "roles: \"a.b-c_d\" is accepted" OK "$(hw "roles/a.b-c_d" "$ROLE_DOC")"
rm -f "$M/roles/$long64" "$M/roles/a.b-c_d"

# A name in a value: db_name must be a valid connection name too.
refused "db_name=x\";DROP TABLE coffees;--" roles/r 'write:EINVAL|close:EINVAL' \
	'db_name' 'db_name=x";DROP TABLE coffees;--\n'
check_eq "coffees still has its 3 rows after hostile names" 3 "$(coffees)"

# ---- size, holes, NUL bytes, depth, encoding ----------------------------------
python3 -c 'print("#" * (1024 * 1024 + 10))' >"$T_DIR/big"
# (the kernel splits the write: the piece past 1 MiB fails, the write
# returns short and close reports EFBIG)
refused "a 1 MiB + 11 byte write to roles/r" roles/r '(write|close):EFBIG' '1048576|large|big' "@$T_DIR/big"
err=$( (head -c 1100000 /dev/zero | tr '\0' '#' >"$M/roles/r") 2>&1) && rc=0 || rc=$?
check "the shell's write of 1.1 MB fails (status $rc)" test "$rc" -ne 0
check_match "... with 'File too large'" "$err" 'File too large'
before=$(defs_digest)
HW_OFFSET=$((1024 * 1024 - 4)) refused "a write ending past 1 MiB (pwrite at 1 MiB - 4)" roles/r \
	write:EFBIG '1048576|large|big' 'x=12345678\n'
HW_OFFSET=100 refused "a pwrite past the end (NUL hole before it)" roles/r \
	'write:EINVAL|close:EINVAL' 'nul' 'db_name=wizard\n'
refused "a NUL byte inside a value" roles/r 'write:EINVAL|close:EINVAL' 'nul' \
	'db_name=wiz\x00ard\ndefault_ttl=1h\n'
refused "a NUL byte in JSON (\\u0000)" roles/r 'write:EINVAL|close:EINVAL' 'json|nul|\\u0000' \
	'{"db_name":"wiz\\u0000ard"}'
python3 -c 'print("{\"db_name\":" + "[" * 100000 + "]" * 100000 + "}")' >"$T_DIR/deep"
refused "JSON nested 100,000 deep" roles/r 'write:EINVAL|close:EINVAL' 'depth|json' "@$T_DIR/deep"
refused "a value that is not UTF-8" roles/r 'write:EINVAL|close:EINVAL' 'utf-8' \
	'db_name=wizard\ncreation_statements=SELECT \x27\xff\xfe\x27\n'
refused "a key that is not UTF-8" roles/r 'write:EINVAL|close:EINVAL' 'utf-8|key' \
	'db_name=wizard\n\xffkey=1\n'

# Exactly 1 MiB (comments padding the seed role) is accepted and changes nothing visible.
before=$(cat "$M/roles/r")
python3 - "$M/roles/r" "$SEED_CREATE" "$SEED_REVOKE" <<-'EOF' >"$T_DIR/mib.out"
	import os, sys
	body = ("db_name=wizard\ncreation_statements=%s\nrevocation_statements=%s\n"
	        "default_ttl=1h\nmax_ttl=24h\n" % (sys.argv[2], sys.argv[3])).encode()
	pad = 1024 * 1024 - len(body)
	doc = b"#" + b"x" * (pad - 2) + b"\n" + body
	assert len(doc) == 1024 * 1024
	fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
	os.write(fd, doc)
	os.close(fd)
	print("OK")
EOF
check_eq "a document of exactly 1 MiB is accepted" OK "$(cat "$T_DIR/mib.out")"
check_eq "... and reads back as the same role" "$before" "$(cat "$M/roles/r")"

# ---- partial writes ---------------------------------------------------------------
audit_count() { # ACTION PATH [RESULT]
	jq -c --arg a "$1" --arg p "$2" --arg r "${3:-ok}" \
		'select(.action == $a and .path == $p and .result == $r)' "$T_DIR/audit.log" | wc -l
}

# JSON in 3 writes: nothing until the closing brace, then applied once.
a0=$(audit_count role-write roles/p)
cat >"$T_DIR/pw.py" <<-'EOF'
	import os, sys
	chunks = [b'{"db_name": "wiz', b'ard", "default_ttl": "2h", "max_ttl"', b': "3h"}\n']
	fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
	for c in chunks:
	    os.write(fd, c)
	    print("wrote", flush=True)
	    sys.stdin.readline()
	os.close(fd)
	print("closed", flush=True)
EOF
coproc PW { python3 "$T_DIR/pw.py" "$M/roles/p"; }
read -r _ <&"${PW[0]}"
check "JSON after write 1 of 3: roles/p not applied yet" not test -s "$M/roles/p"
echo >&"${PW[1]}"
read -r _ <&"${PW[0]}"
check "JSON after write 2 of 3: roles/p not applied yet" not test -s "$M/roles/p"
echo >&"${PW[1]}"
read -r _ <&"${PW[0]}"
check_eq "JSON after write 3 (closing brace), file still open: applied" 7200 \
	"$(jq -r .default_ttl "$M/roles/p" 2>/dev/null)"
echo >&"${PW[1]}"
read -r _ <&"${PW[0]}"
wait "$PW_PID" 2>/dev/null || true
check_eq "... and applied once (one role-write line in the audit log)" 1 \
	$(($(audit_count role-write roles/p) - a0))
check_eq "... max_ttl from write 2-3 is there" 10800 "$(jq -r .max_ttl "$M/roles/p")"

# key=value cut in the middle of a line: applied at close, once.
a0=$(audit_count role-write roles/p)
check_eq "key=value in 3 writes cut mid-line" OK \
	"$(HW_PAUSE=0.1 hw roles/p 'db_name=wiz' 'ard\ndefault_ttl=4' '5m\nmax_ttl=5h\n')"
check_eq "... applied (default_ttl 45m)" 2700 "$(jq -r .default_ttl "$M/roles/p")"
check_eq "... once" 1 $(($(audit_count role-write roles/p) - a0))

# The closing brace and a newline in two writes: one document, one apply.
a0=$(audit_count role-write roles/p)
check_eq "JSON, then its newline in a second write" OK \
	"$(hw roles/p '{"db_name":"wizard","default_ttl":"1h"}' '\n')"
check_eq "... is applied once, not once per write (role-write lines)" 1 \
	$(($(audit_count role-write roles/p) - a0))

# A complete JSON object followed by garbage: the write fails, and the
# object alone must not have been applied either.
before=$(cat "$M/roles/p")
got=$(hw roles/p '{"db_name":"wizard","default_ttl":"7h"}' ' {"junk":1}')
check_match "JSON followed by garbage in a second write fails ($got)" "$got" '^(write|close):EINVAL$'
known_gap "... and the definition before it stays (default_ttl $(jq -r .default_ttl "$M/roles/p"))" \
	test "$before" = "$(cat "$M/roles/p")"

# ---- concurrent writers -------------------------------------------------------
# Writer i's definition: default_ttl 100+i s, max_ttl 1000+i s and
# CONNECTION LIMIT i. Each writes in many small pieces, all at once.
cat >"$T_DIR/cw.py" <<-'EOF'
	import json, os, sys, time
	path, i, form, go = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
	stmt = ('CREATE ROLE "{{name}}" WITH LOGIN PASSWORD \'{{password}}\' '
	        "VALID UNTIL '{{expiration}}' CONNECTION LIMIT %d;" % i)
	if form == "json":
	    doc = json.dumps({"db_name": "wizard", "creation_statements": [stmt],
	                      "default_ttl": 100 + i, "max_ttl": 1000 + i}).encode()
	else:
	    doc = ("db_name=wizard\ncreation_statements=%s\ndefault_ttl=%ds\nmax_ttl=%ds\n"
	           % (stmt, 100 + i, 1000 + i)).encode()
	while time.time() < go:
	    time.sleep(0.001)
	fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
	for k in range(0, len(doc), 7):
	    os.write(fd, doc[k:k + 7])
	os.close(fd)
	print("OK")
EOF
for round in 1 2 3 4 5 6; do
	form=json
	[ "$round" -gt 3 ] && form=kv
	a0=$(audit_count role-write roles/c)
	go=$(python3 -c 'import time; print(time.time() + 0.5)')
	pids=()
	for i in 1 2 3 4 5 6 7 8; do
		python3 "$T_DIR/cw.py" "$M/roles/c" "$i" "$form" "$go" >"$T_DIR/cw.$i" 2>&1 &
		pids+=($!)
	done
	ok=0
	for i in 1 2 3 4 5 6 7 8; do
		wait "${pids[$((i - 1))]}" && [ "$(cat "$T_DIR/cw.$i")" = OK ] && ok=$((ok + 1))
	done
	check_eq "round $round ($form): all 8 concurrent writers succeed" 8 "$ok"
	doc=$(cat "$M/roles/c")
	w=$(jq -r '.default_ttl - 100' <<<"$doc" 2>/dev/null) || w='?'
	check_match "round $round ($form): roles/c is writer 1..8's definition (writer $w)" "$w" '^[1-8]$'
	check "round $round ($form): max_ttl and the statement are writer $w's too (no mix)" \
		jq -e --argjson w "${w//\?/0}" '.max_ttl == 1000 + $w and
			(.creation_statements | length == 1) and
			(.creation_statements[0] | endswith("CONNECTION LIMIT \($w)"))' <<<"$doc"
	check_eq "round $round ($form): one role-write audit line per writer" 8 \
		$(($(audit_count role-write roles/c) - a0))
done
rm -f "$M/roles/c"

# ---- templates --------------------------------------------------------------------
tmpl_refused() { # DESC KEY STATEMENT ERE
	refused "$1" roles/r 'write:EINVAL|close:EINVAL' "$4" \
		"db_name=wizard\\ndefault_ttl=1h\\n$2=$3\\n"
	refused "$1 (JSON)" roles/r 'write:EINVAL|close:EINVAL' "$4" \
		"$(jq -cn --arg k "$2" --arg v "$3" '{db_name: "wizard", ($k): $v}' | sed 's/\\/\\\\/g')"
}
tmpl_refused "unknown variable {{foo}}" creation_statements \
	'CREATE ROLE "{{foo}}" WITH LOGIN;' 'foo'
tmpl_refused "unterminated {{" creation_statements \
	'CREATE ROLE "{{name" WITH LOGIN;' 'unterminated|\{\{'
tmpl_refused "{{Name}} (a typo)" creation_statements \
	'CREATE ROLE "{{Name}}" WITH LOGIN;' 'name'
tmpl_refused "{{password}} in revocation_statements" revocation_statements \
	"ALTER ROLE \"{{name}}\" PASSWORD '{{password}}';" 'password'
tmpl_refused "{{password}} in renew_statements" renew_statements \
	"ALTER ROLE \"{{name}}\" PASSWORD '{{password}}';" 'password'

# ---- SQL quoting --------------------------------------------------------------
tmpl_refused "an unterminated string literal" creation_statements \
	"CREATE ROLE \"{{name}}\" WITH LOGIN; COMMENT ON ROLE \"{{name}}\" IS 'x; DROP TABLE coffees; --" \
	'unterminated|quote|string|literal'
tmpl_refused "an unterminated quoted identifier" creation_statements \
	'CREATE ROLE "{{name}} WITH LOGIN; DROP TABLE coffees;' 'unterminated|quote|identifier'
tmpl_refused "an unterminated dollar quote" creation_statements \
	'CREATE ROLE "{{name}}" WITH LOGIN; DO $x$ BEGIN PERFORM 1; END; DROP TABLE coffees;' \
	'unterminated|dollar|quote'

# A ';' inside a literal, an E'' string or a dollar-quoted body does not
# split: the text stays data, and coffees stays.
q_create="$SEED_CREATE COMMENT ON ROLE \"{{name}}\" IS 'x''; DROP TABLE coffees; --'; DO \$q\$ BEGIN RAISE NOTICE 'a; DROP TABLE coffees; --'; END \$q\$; SELECT E'\\'; DROP TABLE coffees; --' AS \"b; DROP TABLE coffees\";"
printf '%s\n' db_name=wizard "creation_statements=$q_create" default_ttl=1h >"$M/roles/q" ||
	fail "writing roles/q failed: $(last_error)"
check_eq "roles/q has 5 statements" 5 "$(jq '.creation_statements | length' "$M/roles/q")"
creds=$(cat "$M/creds/q") || fail "reading creds/q failed: $(last_error)"
quser=$(jq -r .data.username <<<"$creds")
check_eq "the comment is the literal text" "x'; DROP TABLE coffees; --" \
	"$(admin_psql -c "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = $(sql_lit "$quser")")"
check_eq "coffees still has its 3 rows" 3 "$(coffees)"

# The opener's command name goes into the generated username: Vault keeps
# its bytes, credfs too except those that could break out of a quoted
# identifier, a literal or a dollar-quoted body (README): control and
# non-ASCII bytes, space, ", ', \ and $ become _.
quote_safe() { ! LC_ALL=C grep -q "[^ -~]\|[ \"'\\\$]" <<<"$1"; }
mkdir -p "$T_DIR/bin"
printf '%s\n' db_name=wizard "creation_statements=$SEED_CREATE" default_ttl=1h >"$M/roles/d" ||
	fail "writing roles/d failed: $(last_error)"
for cmd in 'x"y;z' "a'b\";--" 'q$(id)`x`' ' -x\y'; do
	cp /bin/cat "$T_DIR/bin/$cmd"
	creds=$("$T_DIR/bin/$cmd" "$M/creds/d") || {
		check "reading creds/d as command [$cmd]" false
		continue
	}
	u=$(jq -r .data.username <<<"$creds")
	check "command [$cmd]: username $u has no byte that could break out of quotes" quote_safe "$u"
	check "command [$cmd]: the login works" can_login "$u" "$(jq -r .data.password <<<"$creds")"
	id=$(jq -r '.lease_id | split("/") | last' <<<"$creds")
	check_eq "command [$cmd]: leases/d/ID shows the command as it is" "${cmd:0:15}" \
		"$(jq -r .holder.command "$M/leases/d/$id" 2>/dev/null)"
	check_eq "command [$cmd]: the audit line shows it too" "${cmd:0:15}" \
		"$(jq -r --arg id "$id" 'select(.action == "issue" and (.lease_id | endswith($id)))
			| .holder.command' "$T_DIR/audit.log")"
	# The default revocation quotes the name with PQescapeIdentifier.
	rm "$M/leases/d/$id"
	check "command [$cmd]: rm leases/d/ID drops the login" wait_until 10 role_gone "$u"
done
check_eq "coffees still has its 3 rows at the end" 3 "$(coffees)"
check_eq "no rejected write created a PostgreSQL role" "$v0" \
	"$(admin_psql -c "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v-%' AND rolname NOT LIKE 'v-cat-q-%'")"

credfs_umount
echo "known gaps: $T_GAPS"
finish
