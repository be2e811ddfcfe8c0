#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_quota.sh - role limits at open(creds/NAME): max_leases and
# max_leases_per_uid refuse with EDQUOT, issue_rate (per opener uid) with
# EAGAIN; nothing is issued, errors/ and the audit log name the limit, and
# other uids and other roles are not held back. Mounted with allow_other
# and creds_mode=0444 so that user nobody reaches creds/.
# shellcheck disable=SC2016,SC2119,SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

id nobody >/dev/null 2>&1 || skip "no user nobody"
NOBODY=$(id -u nobody)

# as_nobody CMD... - run CMD as user nobody.
as_nobody() {
	setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups -- "$@"
}
# nobody_errno_of_read FILE - errno_of_read as user nobody.
nobody_errno_of_read() {
	as_nobody bash -c "$(declare -f errno_of_read); errno_of_read \"\$1\"" _ "$1"
}
# write_role NAME KEY=VALUE... - the seed's role, readable by all, plus the limits.
write_role() {
	local name=$1
	shift
	printf '%s\n' db_name=wizard "creation_statements=$SEED_CREATE" \
		"revocation_statements=$SEED_REVOKE" default_ttl=1h creds_mode=0444 "$@" \
		>"$M/roles/$name" || fail "writing roles/$name failed: $(last_error)"
}
# listed ROLE - leases listed in leases/ROLE.
listed() { find "$M/leases/$1" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
# logins_of ROLE - v-% logins in pg_roles of the leases of ROLE, by username.
logins_of() {
	local f n=0 u
	for f in "$M/leases/$1"/*; do
		[ -e "$f" ] || continue
		u=$(jq -r .username "$f")
		role_exists "$u" && n=$((n + 1))
	done
	echo "$n"
}
audited() { grep -cF "$1" "$T_DIR/audit.log" || true; }

credfs_mount -o allow_other
M=$MNT
setup_seed_conn wizard || fail "writing config/wizard failed: $(last_error)"

# ---- read-back ---------------------------------------------------------------
write_role rb max_leases=3 max_leases_per_uid=1 issue_rate=10/m
rb=$(cat "$M/roles/rb")
check_eq "read-back: max_leases" 3 "$(jq -r .max_leases <<<"$rb")"
check_eq "read-back: max_leases_per_uid" 1 "$(jq -r .max_leases_per_uid <<<"$rb")"
check_eq "read-back: issue_rate" 10/m "$(jq -r .issue_rate <<<"$rb")"
check_eq "a bad issue_rate is refused" EINVAL \
	"$(errno_of_write "$M/roles/bad" "db_name=wizard
issue_rate=10 per second
")"
check_match "... with a clear message" "$(last_error)" \
	'issue_rate: expected N/s, N/m or N/h, got "10 per second"'

# ---- max_leases --------------------------------------------------------------
write_role r max_leases=2
v0=$(v_role_count)
hold_creds r open
H1=$HOLD_PID
hold_creds r open
H2=$HOLD_PID
check_eq "max_leases=2: two holders hold leases" 2 "$(listed r)"
check_eq "... the third open fails with EDQUOT" EDQUOT "$(errno_of_read "$M/creds/r")"
check_match "... errors names max_leases" "$(last_error)" \
	'creds/r.*max_leases \(2\) reached: 2 live leases of role r'
check_eq "... another uid is refused too" EDQUOT "$(nobody_errno_of_read "$M/creds/r")"
check_eq "... nothing was issued: still 2 leases listed" 2 "$(listed r)"
check_eq "... and v-% logins equal the leases listed" "$((v0 + 2))" "$(v_role_count)"
check_eq "... whose logins exist" 2 "$(logins_of r)"
check "... the refusal is audited" int_between "$(audited 'max_leases (2) reached')" 2 9
stop_holder "$H1"
stop_holder "$H2"

# ---- max_leases_per_uid ------------------------------------------------------
write_role p max_leases_per_uid=1
hold_creds p open
H3=$HOLD_PID
check_eq "max_leases_per_uid=1: root's second open fails with EDQUOT" EDQUOT \
	"$(errno_of_read "$M/creds/p")"
check_match "... errors names max_leases_per_uid for uid 0" "$(last_error)" \
	'creds/p.*max_leases_per_uid \(1\) reached for uid 0'
check_eq "... user nobody still gets one" OK "$(nobody_errno_of_read "$M/creds/p")"
check_eq "... its lease is nobody's" 1 \
	"$(jq -s -r "map(select(.holder.uid == $NOBODY)) | length" "$M/leases/p"/*)"
check_eq "... nobody's second open fails with EDQUOT" EDQUOT "$(nobody_errno_of_read "$M/creds/p")"
check_match "... and nobody's errors name nobody's uid" "$(as_nobody tail -n 1 "$M/errors")" \
	"max_leases_per_uid \\(1\\) reached for uid $NOBODY"
check_eq "... 2 leases of p listed, one login each" 2 "$(logins_of p)"
stop_holder "$H3"

# ---- issue_rate --------------------------------------------------------------
write_role q issue_rate=3/s
write_role u
# a tight loop of 20 opens of creds/q by root, while nobody reads creds/u
# 10 times; both start when $T_DIR/go appears
as_nobody bash -c 'python3 - "$1" "$2"' _ "$M/creds/u" "$T_DIR/go" >"$T_DIR/other.out" 2>&1 <<-'EOF2' &
	import errno, os, sys, time
	while not os.path.exists(sys.argv[2]):
	    time.sleep(0.002)
	for _ in range(10):
	    try:
	        fd = os.open(sys.argv[1], os.O_RDONLY)
	        os.read(fd, 65536)
	        os.close(fd)
	        print("OK")
	    except OSError as e:
	        print(errno.errorcode.get(e.errno, e.errno))
EOF2
OTHER=$!
python3 - "$M/creds/q" "$T_DIR/go" >"$T_DIR/loop.out" <<-'EOF2' &
	import errno, os, sys, time
	while not os.path.exists(sys.argv[2]):
	    time.sleep(0.002)
	t0 = time.monotonic()
	out = []
	for _ in range(20):
	    try:
	        fd = os.open(sys.argv[1], os.O_RDONLY)
	        os.read(fd, 65536)
	        os.close(fd)
	        out.append("OK")
	    except OSError as e:
	        out.append(errno.errorcode.get(e.errno, str(e.errno)))
	print(int((time.monotonic() - t0) * 1000), " ".join(out))
EOF2
LOOP=$!
sleep 0.5 # both pythons started (as nobody, and as root)
touch "$T_DIR/go"
wait "$LOOP" || true
read -r ms got <"$T_DIR/loop.out"
wait "$OTHER" || true
echo "issue_rate loop: $got ($ms ms)"
check_match "issue_rate=3/s: the burst of 3 passes, then EAGAIN" "$got" '^OK OK OK EAGAIN'
n_ok=$(grep -o OK <<<"$got" | wc -l)
# the loop took ms: at most 3 + 3/s of it may pass
check "... no more than the burst plus the refill pass ($n_ok)" \
	test "$n_ok" -le "$((3 + 3 * ms / 1000))"
check_eq "... only EAGAIN otherwise" "" "$(tr ' ' '\n' <<<"$got" | grep -vxE 'OK|EAGAIN' || true)"
check_match "... errors names issue_rate for uid 0" "$(grep 'creds/q' "$M/errors" | tail -n 1)" \
	'issue_rate \(3/s\) exceeded for uid 0'
check_eq "... another uid's reads of another role all succeed meanwhile" \
	"OK OK OK OK OK OK OK OK OK OK" "$(tr '\n' ' ' <"$T_DIR/other.out" | sed 's/ $//')"
check_eq "... q's logins equal the leases listed" "$(listed q)" "$(logins_of q)"
check_eq "... which are the opens that passed" "$n_ok" "$(listed q)"
sleep 1.1
check_eq "... after a second root issues again" OK "$(errno_of_read "$M/creds/q")"
check_eq "... user nobody has its own bucket" OK "$(nobody_errno_of_read "$M/creds/q")"

credfs_umount
finish
