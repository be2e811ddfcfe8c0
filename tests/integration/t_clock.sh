#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_clock.sh - wall-clock steps change nothing about leases (engine v2):
# scheduling runs on CLOCK_MONOTONIC, the wall clock only feeds VALID UNTIL
# and what leases/ displays. Test builds add the signed number of seconds in
# CREDFS_TEST_WALL_OFFSET_FILE to the daemon's wall clock (re-read at most
# every 200 ms), so a step needs no change to the machine's clock.
#
# Two phases, each with a held lease H (handle binding, a process keeps
# creds/h open, TTL 6 s, max_ttl 2 m) and a let-go lease G (cat creds/g at
# T, TTL 8 s):
#
#   +3600   (leases issued at offset 0) the wall clock jumps 1 h ahead just
#           after T: for the next 10 s and more H stays "held" with its
#           login in pg_roles (and working); G still exists at T+6 and is
#           dropped by T+12 - not at once.
#   -3600   (leases issued at +3600: leases/ shows them issued 1 h ahead) the
#           wall clock jumps 2 h back: the same checks, except logins (the
#           VALID UNTIL the daemon sends now lies in PostgreSQL's past).
#
# shellcheck disable=SC2119,SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
needs_test_hooks

H_TTL=6
G_TTL=8
OFFSET_FILE=$T_DIR/wall_offset
export CREDFS_TEST_WALL_OFFSET_FILE=$OFFSET_FILE
echo 0 >"$OFFSET_FILE"
CREATE_ONLY='CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '"'"'{{password}}'"'"' VALID UNTIL '"'"'{{expiration}}'"'"';'

user_of() { jq -r .data.username <<<"$1"; }
pass_of() { jq -r .data.password <<<"$1"; }
id_of() { jq -r '.lease_id | split("/") | last' <<<"$1"; }
lease_field() { jq -r ".$2 // empty" "$MNT/leases/$1" 2>/dev/null || true; } # ROLE/ID FIELD
sleep_until_us() {
	local d=$(($1 - $(_now_us)))
	if [ "$d" -gt 0 ]; then
		sleep "$(awk -v d="$d" 'BEGIN { printf "%.3f", d / 1000000 }')"
	fi
}
# set_offset SECS - step the daemon's wall clock; wait out its 200 ms re-read.
set_offset() {
	echo "$1" >"$OFFSET_FILE.tmp"
	mv "$OFFSET_FILE.tmp" "$OFFSET_FILE"
}

credfs_mount
setup_seed_conn wizard || fail "writing config/wizard failed: $(last_error)"
printf '%s\n' db_name=wizard "creation_statements=$CREATE_ONLY" default_ttl=${H_TTL}s max_ttl=2m \
	>"$MNT/roles/h" || fail "writing roles/h failed: $(last_error)"
printf '%s\n' db_name=wizard "creation_statements=$CREATE_ONLY" default_ttl=${G_TTL}s max_ttl=2m \
	>"$MNT/roles/g" || fail "writing roles/g failed: $(last_error)"

# The hook is in effect (else this test proves nothing): a lease issued at
# +3600 shows "issued" 1 h ahead. Before any other lease exists.
set_offset 3600
sleep 0.5
probe=$(cat "$MNT/creds/g") || fail "cat creds/g failed: $(last_error)"
skew=$(($(jq -r '.issued | fromdateiso8601' "$MNT/leases/g/$(id_of "$probe")" 2>/dev/null || echo 0) - $(date +%s)))
check "the wall-clock hook works: a lease issued at +3600 shows issued 1 h ahead (by $skew s)" \
	int_between "$skew" 3590 3610
rm -f "$MNT/leases/g/$(id_of "$probe")"
check "the probe lease is dropped" wait_until 5 role_gone "$(user_of "$probe")"
set_offset 0
sleep 0.5

# phase NAME OFFSET LOGINS - issue H and G, step the clock to OFFSET right
# after G's close at T, and watch both until T+12 s. LOGINS=1: H's login
# must also work.
phase() {
	local name=$1 off=$2 logins=$3 h_pid h_creds h_user h_id g_creds g_user t step now
	local h_bad='' g_early='' g_gone_at='' issued_skew

	hold_creds h open
	h_pid=$HOLD_PID
	T_ON_EXIT+=("kill -9 $h_pid 2>/dev/null")
	h_creds=$HOLD_CREDS
	h_user=$(user_of "$h_creds") h_id=$(id_of "$h_creds")
	g_creds=$(cat "$MNT/creds/g") || fail "cat creds/g failed: $(last_error)"
	t=$(_now_us)
	g_user=$(user_of "$g_creds")
	if [ "$name" = -3600 ]; then
		# Issued at +3600: the hook is in effect (else this test proves nothing).
		issued_skew=$(($(jq -r '.issued | fromdateiso8601' "$MNT/leases/h/$h_id" 2>/dev/null || echo 0) - $(date +%s)))
		check "$name: a lease issued at offset +3600 shows issued 1 h ahead (by $issued_skew s)" \
			int_between "$issued_skew" 3590 3610
	fi
	set_offset "$off"
	step=$(_now_us)
	echo "$name: G closed at T, clock stepped at T+$(((step - t) / 1000)) ms"

	# Until T+12 s (and at least 10 s after the step): H must stay held and
	# present, G must not go before T+6 s.
	while :; do
		now=$(_now_us)
		if [ -z "$h_bad" ]; then
			if [ "$(lease_field "h/$h_id" state)" != held ]; then
				h_bad="state [$(lease_field "h/$h_id" state)] at T+$(((now - t) / 1000)) ms"
			elif ! role_exists "$h_user"; then
				h_bad="login dropped at T+$(((now - t) / 1000)) ms"
			fi
		fi
		if [ -z "$g_gone_at" ] && role_gone "$g_user"; then
			g_gone_at=$(((now - t) / 1000))
			if [ "$now" -lt $((t + (G_TTL - 2) * 1000000)) ]; then
				g_early="dropped at T+$g_gone_at ms"
			fi
		fi
		if [ "$now" -ge $((t + (G_TTL + 4) * 1000000)) ] && [ "$now" -ge $((step + 10000000)) ]; then
			break
		fi
		sleep 0.25
	done
	check "$name: H stays held with its login in pg_roles for 10+ s after the step${h_bad:+ ($h_bad)}" \
		test -z "$h_bad"
	if [ "$logins" = 1 ]; then
		check "$name: H's login works after the step" can_login "$h_user" "$(pass_of "$h_creds")"
	fi
	check "$name: G is not revoked at once (still there at T+$(((G_TTL - 2) * 1000)) ms)${g_early:+ ($g_early)}" \
		test -z "$g_early"
	check "$name: G is dropped by T+$(((G_TTL + 4) * 1000)) ms${g_gone_at:+ (at T+$g_gone_at ms)}" \
		test -n "$g_gone_at"
	echo "$name: leases/h/$h_id: $(jq -c '{state, issued, expires}' "$MNT/leases/h/$h_id" 2>/dev/null)"
	stop_holder "$h_pid"
}

phase +3600 3600 1
phase -3600 -3600 0

set_offset 0
credfs_umount
finish
