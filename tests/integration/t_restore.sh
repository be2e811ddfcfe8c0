#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_restore.sh - what a restart (after kill -9) must never change about a
# lease (engine v2). Three scenarios share one timeline and the same two
# crashes, to keep the wall time down:
#
#   process    lease_binding=process, default_ttl 6 s: the opener reads
#              creds/p, closes it and lives on. ~10 s of renewals, then
#              kill -9 of the daemon and a restart (twice): the lease is
#              listed "held", logs in right after the restart, is renewed
#              by the new daemon (VALID UNTIL moves on, the login still works
#              8 s after the restart); once the opener dies, revoked within
#              TTL + 4 s.
#   let-go     handle binding, default_ttl 8 s: cat creds/g at T (let go at
#              T). kill -9 + restart at T+3 and again at T+5: the login still
#              exists at T+6 and is gone by T+12. A restart must not let it
#              go again (that would postpone the revocation to T+13).
#   rm         a lease (TTL 1 h) on a second PostgreSQL; that server stops;
#              rm leases/o/ID succeeds; the lease shows "failed" or
#              "revoking" with a last_error; kill -9 + restart (the same
#              crashes); the server starts again: the login is dropped
#              within 15 s of the server being back.
#
# shellcheck disable=SC2119,SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

P_TTL=6 # lease_binding=process role p
G_TTL=8 # handle role g
CREATE_ONLY='CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '"'"'{{password}}'"'"' VALID UNTIL '"'"'{{expiration}}'"'"';'

user_of() { jq -r .data.username <<<"$1"; }
pass_of() { jq -r .data.password <<<"$1"; }
id_of() { jq -r '.lease_id | split("/") | last' <<<"$1"; }
lease_field() { jq -r ".$2 // empty" "$MNT/leases/$1" 2>/dev/null || true; } # ROLE/ID FIELD
listed() { [ -e "$MNT/leases/$1" ]; }
past_us() { [ "$(_now_us)" -ge "$1" ]; }
# sleep_until_us T - sleep until the epoch-microsecond time T (no-op if past).
sleep_until_us() {
	local d=$(($1 - $(_now_us)))
	if [ "$d" -gt 0 ]; then
		sleep "$(awk -v d="$d" 'BEGIN { printf "%.3f", d / 1000000 }')"
	fi
}
secs_left() { # secs_left T_US - whole seconds (at least 0) until T
	local d=$(($1 - $(_now_us)))
	echo $((d > 0 ? (d + 999999) / 1000000 : 0))
}
rel() { echo "$((($(_now_us) - $1) / 1000)) ms"; } # rel T_US - time since T
valid_until_epoch() { # 0 if the role is gone or has no VALID UNTIL
	local v
	v=$(admin_psql -c "SELECT coalesce(extract(epoch FROM rolvaliduntil)::bigint, 0)
		FROM pg_roles WHERE rolname = $(sql_lit "$1")") || v=0
	echo "${v:-0}"
}

# ---- the second PostgreSQL (for "rm"), started in the background ------------------
pg2_start &
PG2_STARTER=$!

credfs_mount
setup_seed_conn wizard || fail "writing config/wizard failed: $(last_error)"
printf '%s\n' db_name=wizard "creation_statements=$CREATE_ONLY" default_ttl=${P_TTL}s max_ttl=2m \
	lease_binding=process >"$MNT/roles/p" || fail "writing roles/p failed: $(last_error)"
printf '%s\n' db_name=wizard "creation_statements=$CREATE_ONLY" default_ttl=${G_TTL}s max_ttl=2m \
	>"$MNT/roles/g" || fail "writing roles/g failed: $(last_error)"

# ==== process: read, close, live on ==================================================
hold_creds p closed
P_PID=$HOLD_PID
T_ON_EXIT+=("kill -9 $P_PID 2>/dev/null")
P_CREDS=$HOLD_CREDS
P_USER=$(user_of "$P_CREDS") P_PASS=$(pass_of "$P_CREDS") P_ID=$(id_of "$P_CREDS")
P_T0=$(_now_us)
check "process: the login works" can_login "$P_USER" "$P_PASS"

# ==== rm while the second server is down (during the process lease's renewals) ==========
wait "$PG2_STARTER" || fail "could not start a second scratch PostgreSQL: $(tail -n 5 "$T_DIR/pg2.log")"
PORT2=$(cat "$PG2/port")
printf '%s\n' plugin_name=postgresql-database-plugin 'allowed_roles=*' \
	"connection_url=postgresql://{{username}}:{{password}}@127.0.0.1:$PORT2/wizard?sslmode=disable" \
	username=postgres password=password >"$MNT/config/other" ||
	fail "writing config/other failed: $(last_error)"
printf '%s\n' db_name=other "creation_statements=$CREATE_ONLY" default_ttl=1h max_ttl=24h \
	>"$MNT/roles/o" || fail "writing roles/o failed: $(last_error)"
O_CREDS=$(cat "$MNT/creds/o") || fail "cat creds/o failed: $(last_error)"
O_USER=$(user_of "$O_CREDS") O_ID=$(id_of "$O_CREDS")
check "rm: the lease logs in to the second server" pg2_login "$O_USER" "$(pass_of "$O_CREDS")"
pg2_stop || fail "stopping the second PostgreSQL failed"
check "rm: rm leases/o/ID succeeds while its server is down" rm "$MNT/leases/o/$O_ID"
o_failing() {
	local st
	st=$(lease_field "o/$O_ID" state)
	[[ $st == failed || $st == revoking ]] && [ -n "$(lease_field "o/$O_ID" last_error)" ]
}
check "rm: server down: the lease shows failed or revoking, with a last_error" wait_until 8 o_failing
echo "leases/o/$O_ID: $(jq -c '{state, attempts, last_error}' "$MNT/leases/o/$O_ID" 2>/dev/null)"

# ==== let-go: T, then two crashes ===================================================
sleep_until_us $((P_T0 + 7000000)) # the process lease has lived ~10 s at the first crash
G_CREDS=$(cat "$MNT/creds/g") || fail "cat creds/g failed: $(last_error)"
T=$(_now_us)
G_USER=$(user_of "$G_CREDS")
# H: held open (handle binding) when the daemon dies: its file dies with it.
hold_creds g open
H_PID=$HOLD_PID
H_USER=$(user_of "$HOLD_CREDS")
H_ID=$(jq -r '.lease_id | split("/") | last' <<<"$HOLD_CREDS")
echo "let-go: creds/g closed at T; process lease issued $(((T - P_T0) / 1000)) ms before T"

# restart_checks WHEN - the process lease right after a restart.
restart_checks() {
	check_eq "process: after $1: leases/p/ID is held" held "$(lease_field "p/$P_ID" state)"
	check "process: after $1: the login works at once" can_login "$P_USER" "$P_PASS"
	check "let-go: after $1 (T+$((($(_now_us) - T) / 1000)) ms) the login still exists" role_exists "$G_USER"
}

sleep_until_us $((T + 3000000))
credfs_crash
credfs_mount
R1=$(_now_us)
echo "first restart at T+$(((R1 - T) / 1000)) ms"
restart_checks "the first restart"
# The second server comes back now; the revocation must follow.
(pg2_start && _now_us >"$T_DIR/pg2.back") &
PG2_RESTARTER=$!

sleep_until_us $((T + 5000000))
credfs_crash
credfs_mount
R2=$(_now_us)
echo "second restart at T+$(((R2 - T) / 1000)) ms"
restart_checks "the second restart"
P_V0=$(valid_until_epoch "$P_USER")
H_LET_GO=$(date -d "$(lease_field "g/$H_ID" let_go_at)" +%s 2>/dev/null || echo 0)
check "held at the crash: after the second restart its let-go is still the first restart's ($H_LET_GO <= $((R1 / 1000000)))" \
	test "$H_LET_GO" -gt 0 -a "$H_LET_GO" -le $((R1 / 1000000))

sleep_until_us $((T + (G_TTL - 2) * 1000000))
check "let-go: the login still exists at T+$(((G_TTL - 2) * 1000)) ms (T+$((($(_now_us) - T) / 1000)) ms)" \
	role_exists "$G_USER"
G_DEADLINE=$((T + (G_TTL + 4) * 1000000))
check "let-go: the login is dropped by T+$(((G_TTL + 4) * 1000)) ms despite two restarts" \
	wait_until "$(secs_left "$G_DEADLINE")" role_gone "$G_USER"
echo "let-go: login gone: $(role_gone "$G_USER" && echo yes || echo no) at T+$((($(_now_us) - T) / 1000)) ms"

# H was let go at the first restart (R1), journaled by its start record:
# the second restart must not push it back to R2 + TTL.
sleep_until_us $((R1 + (G_TTL - 2) * 1000000))
check "held at the crash: the login still exists at R1+$(((G_TTL - 2) * 1000)) ms" role_exists "$H_USER"
H_DEADLINE=$((R1 + (G_TTL + 4) * 1000000))
check "held at the crash: let go at the first restart, dropped by R1+$(((G_TTL + 4) * 1000)) ms despite the second" \
	wait_until "$(secs_left "$H_DEADLINE")" role_gone "$H_USER"
stop_holder "$H_PID"

# ==== rm: the server is back ========================================================
wait "$PG2_RESTARTER" || fail "the second PostgreSQL did not start again: $(tail -n 5 "$T_DIR/pg2.log")"
PG2_BACK=$(cat "$T_DIR/pg2.back")
check "rm: the login is dropped within 15 s of the server being back" \
	wait_until "$(secs_left $((PG2_BACK + 15000000)))" pg2_role_gone "$O_USER"
echo "rm: login gone: $(pg2_role_gone "$O_USER" && echo yes || echo no), $(rel "$PG2_BACK") after the server was back"
check "rm: the lease leaves leases/o" wait_until 3 not listed "o/$O_ID"

# ==== process: renewed by the new daemon, revoked once the opener exits ===============
renewed_after_restart() { [ "$P_V0" -gt 0 ] && [ "$(valid_until_epoch "$P_USER")" -gt "$P_V0" ]; }
check "process: VALID UNTIL moves on after the restart (renewed; was $P_V0)" \
	wait_until "$(secs_left $((R2 + 8000000)))" renewed_after_restart
sleep_until_us $((R2 + 8000000))
check "process: the login still works 8 s after the restart" can_login "$P_USER" "$P_PASS"
check_eq "process: 8 s after the restart the lease is held" held "$(lease_field "p/$P_ID" state)"
stop_holder "$P_PID"
P_EXIT=$(_now_us)
check "process: the opener exited: revoked within TTL + 4 s" wait_until $((P_TTL + 4)) role_gone "$P_USER"
echo "process: login gone: $(role_gone "$P_USER" && echo yes || echo no), $(rel "$P_EXIT") after the opener exited"
check "process: the lease leaves leases/p" wait_until 3 not listed "p/$P_ID"

credfs_umount
finish
