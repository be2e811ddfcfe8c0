#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_leases.sh - a lease is bound to whoever opened creds/ROLE (DESIGN "Leases"):
#
#   leases/ROLE/ID   shows the lease and its holder, never the password
#   rm leases/ROLE/ID revokes now, even while the file is held
#   holder killed    revoked once the TTL has passed
#   handle binding   (default) closing the file lets go, the process may live on
#   process binding  the lease lives as long as the opener, closed file or not
#
# All holders run at once; every role has default_ttl=2s, so the whole test
# takes about TTL + Vault's 5 s of VALID UNTIL grace.
# shellcheck disable=SC2119,SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

credfs_mount
M=$MNT
setup_seed_conn wizard || fail "writing config/wizard failed: $(last_error)"
printf '%s\n' db_name=wizard "creation_statements=$SEED_CREATE" default_ttl=2s max_ttl=1m \
	>"$M/roles/h" || fail "writing roles/h failed: $(last_error)"
printf '%s\n' db_name=wizard "creation_statements=$SEED_CREATE" default_ttl=2s max_ttl=1m \
	lease_binding=process >"$M/roles/p" || fail "writing roles/p failed: $(last_error)"
check_eq "roles/h lease_binding defaults to handle" handle "$(jq -r .lease_binding "$M/roles/h")"
check_eq "roles/p lease_binding" process "$(jq -r .lease_binding "$M/roles/p")"

user_of() { jq -r .data.username <<<"$1"; }
pass_of() { jq -r .data.password <<<"$1"; }
lease_of() { jq -r '.lease_id | split("/") | last' <<<"$1"; }

# 1: metadata and rm, on a lease whose file is still open.
hold_creds h open
rm_pid=$HOLD_PID rm_creds=$HOLD_CREDS
# 2: a holder that dies without closing.
hold_creds h open
kill_pid=$HOLD_PID kill_creds=$HOLD_CREDS
# 3: handle binding: the file is closed, the process lives on.
hold_creds h closed
hclosed_pid=$HOLD_PID hclosed_creds=$HOLD_CREDS
# 4: process binding: the file is closed, the process lives on.
hold_creds p closed
pclosed_pid=$HOLD_PID pclosed_creds=$HOLD_CREDS
issued=$(date +%s)

# ---- leases/ROLE/ID -------------------------------------------------------------
id=$(lease_of "$rm_creds")
lease_file=$M/leases/h/$id
check "ls leases lists h" grep -qx h < <(ls "$M/leases")
check "ls leases/h lists the lease" grep -qx -- "$id" < <(ls "$M/leases/h")
lease=$(cat "$lease_file" 2>/dev/null) || lease='{}'
echo "leases/h/$id: $lease"
check_eq "lease file: role" h "$(jq -r .role <<<"$lease")"
check_eq "lease file: username" "$(user_of "$rm_creds")" "$(jq -r .username <<<"$lease")"
check "lease file: issued, expires and state are set" \
	jq -e '.issued != null and .expires != null and .state != null' <<<"$lease"
check_eq "lease file: the holder's pid" "$rm_pid" "$(jq -r '.holder.pid // .pid' <<<"$lease")"
check_eq "lease file: the holder's uid" 0 "$(jq -r '.holder.uid // .uid' <<<"$lease")"
check "lease file: no password" lacks "$(pass_of "$rm_creds")" "$lease"
# Vault's sys/leases/lookup fields
check_eq "lease file: id is the full lease id, as Vault shows it" \
	"$(jq -r .lease_id <<<"$rm_creds")" "$(jq -r .id <<<"$lease")"
check "lease file: issue_time, expire_time, renewable, ttl; last_renewal null before a renewal" \
	jq -e '.issue_time == .issued and .expire_time == .expires and (.renewable | type) == "boolean"
		and .last_renewal == null and .ttl > 0 and .ttl <= .lease_duration' <<<"$lease"
check "lease file: no password key" jq -e '[paths | select(.[-1] == "password")] | length == 0' \
	<<<"$lease"

# ---- rm revokes now ------------------------------------------------------------
rm_user=$(user_of "$rm_creds")
check "the lease to remove logs in" can_login "$rm_user" "$(pass_of "$rm_creds")"
t0=$EPOCHREALTIME
check "rm leases/h/ID succeeds" rm "$lease_file"
check "rm leases/h/ID: the role is dropped within 2 s" wait_until 2 role_gone "$rm_user"
echo "revoked after $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s"
check "rm leases/h/ID: the login is refused" not can_login "$rm_user" "$(pass_of "$rm_creds")"
lease_listed() { [ -e "$lease_file" ]; }
check "rm leases/h/ID: the file is gone" wait_until 2 not lease_listed
stop_holder "$rm_pid"

# ---- the holder dies ---------------------------------------------------------------
stop_holder "$kill_pid"
check "killed holder: its lease is revoked after the TTL" \
	wait_until 12 role_gone "$(user_of "$kill_creds")"

# ---- handle binding: closed while the process lives on ------------------------------
check "handle binding, closed: revoked after the TTL though the opener lives" \
	wait_until 12 role_gone "$(user_of "$hclosed_creds")"
check "handle binding, closed: the opener is still alive" kill -0 "$hclosed_pid"

# ---- process binding: held until the opener exits --------------------------------
p_user=$(user_of "$pclosed_creds")
past() { [ "$(date +%s)" -gt "$1" ]; }
# Past the first VALID UNTIL (TTL + 5 s) the login only works if renewed.
wait_until 15 past $((issued + 2 + 5 + 1)) || true
check "process binding, closed: still logs in after TTL + 5 s while the opener lives" \
	can_login "$p_user" "$(pass_of "$pclosed_creds")"
check "process binding, closed: the lease is still listed" \
	test -e "$M/leases/p/$(lease_of "$pclosed_creds")"
stop_holder "$pclosed_pid"
check "process binding: revoked after the opener exits and the TTL passes" \
	wait_until 12 role_gone "$p_user"

stop_holder "$hclosed_pid"
credfs_umount
finish
