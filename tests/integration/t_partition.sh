#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_partition.sh - a network partition between credfs and one database
# (issue 10). Server B runs in a network namespace of its own, reached over
# a veth pair (10.77.0.1 <-> 10.77.0.2); connection "far" points at it with
# connect_timeout=2, pool_timeout=2s, issue_timeout=3s; connection "near"
# is the test's server. credfs keeps pooled connections on B; then B's end
# of the link is set down (packets vanish, nothing is refused: the case
# keepalives and tcp_user_timeout exist for). While it is down:
#   - opens of creds/far fail within pool_timeout + connect_timeout +
#     issue_timeout (+ 3 s slack), the reason in errors;
#   - the mount answers (ls config/ < 0.5 s) and creds/near issues < 1 s;
#   - a held lease of role near with a 3 s TTL is renewed on time.
# After the link is up again creds/far issues within 20 s.
#
# shellcheck disable=SC2119,SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v ip >/dev/null || skip "no ip(8) (iproute2)"
NS=credfs-part-$$
VH=cfp$$h
VN=cfp$$n
ip netns add "$NS" 2>/dev/null || skip "cannot create a network namespace here"
netns_cleanup() {
	ip link del "$VH" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	return 0
}
T_ON_EXIT+=(netns_cleanup)
ip link add "$VH" type veth peer name "$VN" || fail "cannot create a veth pair"
ip link set "$VN" netns "$NS"
ip addr add 10.77.0.1/30 dev "$VH"
ip link set "$VH" up
ip netns exec "$NS" ip addr add 10.77.0.2/30 dev "$VN"
ip netns exec "$NS" ip link set "$VN" up
ip netns exec "$NS" ip link set lo up

# Server B: made by pg2_start, then moved into the namespace.
pg2_start || fail "could not start server B: $(tail -n 5 "$T_DIR/pg2.log")"
pg2_stop
echo "host all all 10.77.0.0/30 scram-sha-256" >>"$PG2/data/pg_hba.conf"
b_in_ns() {
	ip netns exec "$NS" runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl \
		-D "$PG2/data" -l "$PG2/postgres.log" -w -t 60 \
		-o "-c listen_addresses=10.77.0.2" "$@" >>"$T_DIR/pg2.log" 2>&1
}
b_in_ns start || fail "server B does not start in its namespace: $(tail -n 5 "$PG2/postgres.log")"
b_ns_stop() { b_in_ns -m immediate stop || true; }
T_ON_EXIT=(b_ns_stop "${T_ON_EXIT[@]}")

BOUND_S=$((2 + 2 + 3 + 3))
CREATE_ONLY='CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '"'"'{{password}}'"'"' VALID UNTIL '"'"'{{expiration}}'"'"';'
credfs_mount
setup_seed_conn near || fail "writing config/near failed: $(last_error)"
setup_seed_conn far \
	"connection_url=postgresql://{{username}}:{{password}}@10.77.0.2:$PORT2/wizard?sslmode=disable&connect_timeout=2" \
	pool_timeout=2s issue_timeout=3s || fail "writing config/far failed: $(last_error)"
for r in near far; do
	printf '%s\n' "db_name=$r" "creation_statements=$CREATE_ONLY" default_ttl=3s max_ttl=1h \
		>"$MNT/roles/$r" || fail "writing roles/$r failed: $(last_error)"
done
far_issues() { test "$(errno_of_read "$MNT/creds/far")" = OK; }
check "setup: creds/far issues over the veth link" far_issues
far_issues # a second pooled connection
hold_creds near open
NEAR_HOLDER=$HOLD_PID
NEAR_USER=$(jq -r .data.username <<<"$HOLD_CREDS")
NEAR_PW=$(jq -r .data.password <<<"$HOLD_CREDS")

ip netns exec "$NS" ip link set "$VN" down
t_cut=$(_now_us)
OPENERS=()
for i in 1 2 3 4 5 6 7 8 9 10; do
	(
		t0=$(_now_us)
		if cat "$MNT/creds/far" >/dev/null 2>&1; then rc=0; else rc=1; fi
		echo "$rc $((($(_now_us) - t0) / 1000))" >"$T_DIR/far.$i"
	) &
	OPENERS+=($!)
done
sleep 0.5
t0=$(_now_us)
ls "$MNT/config/" >/dev/null
t=$((($(_now_us) - t0) / 1000))
check "ls config/ answers in < 0.5 s while the link is down (${t} ms)" test "$t" -lt 500
t0=$(_now_us)
GOT=$(cat "$MNT/creds/near" 2>/dev/null) || true
t=$((($(_now_us) - t0) / 1000))
check "creds/near issues in < 1 s while the link to far is down (${t} ms)" \
	test -n "$(jq -r '.data.username // empty' <<<"$GOT" 2>/dev/null)" -a "$t" -lt 1000
wait "${OPENERS[@]}"
ok=0 slow=0 max=0
for i in 1 2 3 4 5 6 7 8 9 10; do
	read -r rc took <"$T_DIR/far.$i"
	[ "$rc" = 0 ] && ok=$((ok + 1))
	[ "$took" -gt "$max" ] && max=$took
	[ "$took" -gt $((BOUND_S * 1000)) ] && slow=$((slow + 1))
done
echo "partition: 10 opens of creds/far ended, the slowest in ${max} ms"
check_eq "no open of creds/far succeeded across the partition" 0 "$ok"
check_eq "every open of creds/far failed within ${BOUND_S} s" 0 "$slow"
check "errors says why" grep -qE 'creds/far.*(busy|did not answer|timeout|connect)' "$MNT/errors"
elapsed=$((($(_now_us) - t_cut) / 1000000))
[ "$elapsed" -ge 6 ] || sleep $((6 - elapsed))
check "a held lease of role near is renewed on time (login works after 6 s)" \
	can_login "$NEAR_USER" "$NEAR_PW"

ip netns exec "$NS" ip link set "$VN" up
check "after the link is back creds/far issues within 20 s" wait_until 20 far_issues
stop_holder "$NEAR_HOLDER"
finish
