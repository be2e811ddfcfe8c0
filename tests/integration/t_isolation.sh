#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_isolation.sh - one stopped database never stalls the mount or another
# database (issue 10). Connection "good" is the test's server, "stuck" a
# private server B with connect_timeout=2, pool_timeout=2s and
# issue_timeout=3s. credfs keeps pooled connections on B, then B's
# postmaster and backends are stopped with SIGSTOP (a stopped server still
# accepts and acknowledges TCP: keepalives never fire) and 100 processes
# open creds/stuck at once. While they wait:
#   - ls config/, stat errors and a read of leases/ answer in < 0.5 s
#   - an open of creds/good succeeds in < 1 s, and its login works
#   - a lease of role good held with a 3 s TTL is renewed on time (its
#     login still works after 6 s)
# and every open of creds/stuck fails within pool_timeout + connect_timeout
# + issue_timeout (+ 3 s slack), with the reason in errors. After SIGCONT
# creds/stuck issues again, and the metrics file counts what happened.
#
# shellcheck disable=SC2119,SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

N=100
CREATE_ONLY='CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '"'"'{{password}}'"'"' VALID UNTIL '"'"'{{expiration}}'"'"';'
BOUND_S=$((2 + 2 + 3 + 3))

pg2_start || fail "could not start server B: $(tail -n 5 "$T_DIR/pg2.log")"
B_PIDS=()
# stop_b / cont_b - SIGSTOP / SIGCONT B's postmaster and every backend of it.
stop_b() {
	local pm
	pm=$(head -n 1 "$PG2/data/postmaster.pid")
	mapfile -t B_PIDS < <(echo "$pm"; pgrep -P "$pm")
	kill -STOP "${B_PIDS[@]}"
}
cont_b() {
	[ "${#B_PIDS[@]}" -gt 0 ] && kill -CONT "${B_PIDS[@]}" 2>/dev/null
	B_PIDS=()
	return 0
}
T_ON_EXIT=(cont_b "${T_ON_EXIT[@]}")

# ms CMD... - run CMD; print how long it took in ms, and its status.
ms() {
	local t0 rc
	t0=$(_now_us)
	"$@" >/dev/null 2>&1
	rc=$?
	echo "$((($(_now_us) - t0) / 1000)) $rc"
}

credfs_mount
setup_seed_conn good || fail "writing config/good failed: $(last_error)"
setup_seed_conn stuck \
	"connection_url=postgresql://{{username}}:{{password}}@127.0.0.1:$PORT2/wizard?sslmode=disable&connect_timeout=2" \
	pool_timeout=2s issue_timeout=3s max_open_connections=4 ||
	fail "writing config/stuck failed: $(last_error)"
for r in good stuck; do
	printf '%s\n' "db_name=$r" "creation_statements=$CREATE_ONLY" default_ttl=3s max_ttl=1h \
		>"$MNT/roles/$r" || fail "writing roles/$r failed: $(last_error)"
done
jq -e '.pool_timeout == 2 and .issue_timeout == 3' "$MNT/config/stuck" >/dev/null ||
	fail "config/stuck does not read back pool_timeout and issue_timeout: $(cat "$MNT/config/stuck")"
# Pooled connections on B: the stop catches them idle, as in production.
WARM=()
for _ in 1 2 3 4; do
	cat "$MNT/creds/stuck" >/dev/null &
	WARM+=($!)
done
wait "${WARM[@]}"
check "setup: creds/stuck issues while B runs" test "$(errno_of_read "$MNT/creds/stuck")" = OK
hold_creds good open
GOOD_HOLDER=$HOLD_PID
GOOD_USER=$(jq -r .data.username <<<"$HOLD_CREDS")
GOOD_PW=$(jq -r .data.password <<<"$HOLD_CREDS")
check "setup: the held login of role good works" can_login "$GOOD_USER" "$GOOD_PW"

stop_b
t_stop=$(_now_us)
OPENERS=()
for i in $(seq "$N"); do
	(
		t0=$(_now_us)
		if cat "$MNT/creds/stuck" >"$T_DIR/stuck.$i" 2>/dev/null; then rc=0; else rc=1; fi
		echo "$rc $((($(_now_us) - t0) / 1000))" >"$T_DIR/stuck.$i.rc"
	) &
	OPENERS+=($!)
done
sleep 0.5 # the opens are in: now the mount must still answer

read -r t MS_RC < <(ms ls "$MNT/config/")
check "ls config/ answers in < 0.5 s while $N opens wait on a stopped database (${t} ms)" \
	test "$MS_RC" = 0 -a "$t" -lt 500
read -r t MS_RC < <(ms stat "$MNT/errors")
check "stat errors answers in < 0.5 s (${t} ms)" test "$MS_RC" = 0 -a "$t" -lt 500
read -r t MS_RC < <(ms ls "$MNT/leases/good")
check "ls leases/good answers in < 0.5 s (${t} ms)" test "$MS_RC" = 0 -a "$t" -lt 500
t0=$(_now_us)
GOT=$(cat "$MNT/creds/good" 2>/dev/null) || true
t=$((($(_now_us) - t0) / 1000))
check "an open of creds/good succeeds in < 1 s (${t} ms)" \
	test -n "$(jq -r '.data.username // empty' <<<"$GOT" 2>/dev/null)" -a "$t" -lt 1000
check "its login works" can_login "$(jq -r .data.username <<<"$GOT")" "$(jq -r .data.password <<<"$GOT")"

wait "${OPENERS[@]}" # every creds/stuck open has ended
t_all=$((($(_now_us) - t_stop) / 1000))
ok=0 slow=0 max=0
for i in $(seq "$N"); do
	read -r rc took <"$T_DIR/stuck.$i.rc"
	[ "$rc" = 0 ] && ok=$((ok + 1))
	[ "$took" -gt "$max" ] && max=$took
	[ "$took" -gt $((BOUND_S * 1000)) ] && slow=$((slow + 1))
done
echo "stuck: $N opens ended in ${t_all} ms, the slowest in ${max} ms"
check_eq "no open of creds/stuck succeeded while B was stopped" 0 "$ok"
check_eq "every open of creds/stuck failed within ${BOUND_S} s" 0 "$slow"
check "errors names the busy or silent database" \
	grep -qE 'creds/stuck.*(busy|did not answer|timeout)' "$MNT/errors"

# The held lease of role good: TTL 3 s, renewed on time although B is stopped.
elapsed=$((($(_now_us) - t_stop) / 1000000))
[ "$elapsed" -ge 6 ] || sleep $((6 - elapsed))
check "a held lease of role good is renewed on time meanwhile (login works after 6 s)" \
	can_login "$GOOD_USER" "$GOOD_PW"

cont_b
stuck_issues() { test "$(errno_of_read "$MNT/creds/stuck")" = OK; }
check "after SIGCONT creds/stuck issues again within 10 s" wait_until 10 stuck_issues
stop_holder "$GOOD_HOLDER"

# metrics: what happened, counted.
metric() { python3 "$CREDFS_SRC/tests/integration/promcheck.py" --get "$1" "$MNT/metrics" 2>/dev/null || echo 0; }
if [ -f "$CREDFS_SRC/tests/integration/promcheck.py" ]; then
	check "metrics is valid Prometheus text" python3 "$CREDFS_SRC/tests/integration/promcheck.py" "$MNT/metrics"
	busy=$(metric 'credfs_issues_total{role="stuck",connection="stuck",result="busy"}')
	err=$(metric 'credfs_issues_total{role="stuck",connection="stuck",result="error"}')
	check_eq "metrics counts every failed open of creds/stuck" "$N" $((${busy%.*} + ${err%.*}))
	check "metrics counts the successful issues of creds/good" \
		test "$(metric 'credfs_issues_total{role="good",connection="good",result="ok"}' | cut -d. -f1)" -ge 2
fi
finish
