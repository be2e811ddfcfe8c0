#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_fleet.sh - several credfs nodes sharing one control store (issue 13,
# Fleet): `credfs --fleet CONNINFO --fleet-key FILE --node NAME
# --fleet-grace SECONDS`. Skipped (77) while credfs --help lacks --fleet.
#
# "Hosts" on one machine. Server B (pg2_start) is the control store (schema
# credfs in database wizard) and the target database. Each node runs in a
# network namespace of its own (nsenter --net: the mount namespace stays
# the host's, so the mounts are read from here; `ip netns exec` would give
# a node a mount namespace of its own), joined to the host's by a veth pair
# of its own: c by 10.78.X.1 <-> 10.78.X.2, a by 10.78.X.5 <-> 10.78.X.6,
# b by 10.78.X.9 <-> 10.78.X.10 (X from the test's pid, so two runs at once
# do not collide), each namespace's default route via the host's end.
# Server B listens on 127.0.0.1 and 10.78.X.1, which every node
# reaches over its own link: the control store and config/wizard point at
# it. Each node has its own state directory, key, audit log and mount
# point; the fleet key is common. default_ttl=3s, --fleet-grace 3.
#
#   old store    the control schema as an older credfs made it (no
#                SCHEMA.meta, no nodes.synced): the nodes upgrade it.
#   definitions  config/ written on a and roles/ written on c are readable on
#                the other nodes within 1 s; creds/ issues on every node.
#   same name    a second live node named a is refused: exit 1, stderr
#                "already running", nothing mounted.
#   rotate-root  on b: the old root password is refused; once the pooled
#                connections are ended (pg_terminate_backend) a, b and c
#                issue again.
#   static roles static-roles/app written on a: b and c serve its password
#                within 1 s; rotate-role on c: a and b serve the new one
#                within 1 s, the old one is refused. A 5 s static schedule
#                and a 5 s root rotation_period on three nodes: each rotates
#                once. Node d dies after its static ALTER ROLE and node e
#                after its root ALTER ROLE (crash points): survivors resolve
#                both within 20 s, and every node serves and issues with the
#                new passwords. rm on b removes the static role everywhere.
#   views        a's leases/ has a's lease, not b's; a's fleet/leases/r/ID
#                has b's (node, role, username, state), fleet/nodes/NAME says
#                alive; rm of b's lease in a's fleet/leases/ revokes it.
#   kill -9 b    with two held and two let-go leases: a or c revokes every
#                one (login gone from pg_roles) within TTL + grace + 5 s of
#                the kill; fleet/nodes/b says not alive; a and c both
#                claimed some (a claimer takes its share).
#   moved        b also holds a lease of creds/ra on config/away, which points
#                at server A (the test's PostgreSQL, through its socket);
#                while b is dead, a moves config/away to server B: a
#                survivor revokes the login on A (the lease's target, kept
#                sealed in the store) within TTL + grace + 5 s of the kill.
#   partition    c's end of the link goes down with a held lease (its holder
#                polls POLLPRI) and a let-go one: VALID UNTIL (expiry + 5 s,
#                Vault's) was at most TTL + 6 s past the cut, logins are
#                refused by cut + TTL + 7 s, a revokes them by cut + TTL +
#                grace + 5 s. Link up
#                again: c's leases/ drops them, its holder was woken with
#                POLLPRI, the logins stay gone for TTL + 2 s more, and c
#                records no successful renewal of them. The cut catches c's
#                let-go lease in a revocation and its held lease in a
#                renewal that passed c's health check and are held up
#                until c is back (CREDFS_TEST_FLEET_STUCK_MS, a test hook):
#                c must drop the leases once those jobs have ended, not
#                revoke them, nor count a login it finds gone as revoked.
#   revoked rows --fleet-retention 2: c's two rows (revoked by a) outlive the
#                retention while c is away and are deleted within retention
#                + 3 s of c being back; b's four (b never back) stay.
#   exactly once every lease of b (the one rm'd through a's fleet/leases/
#                too) and of c has one successful revoke record (action
#                "revoke", result "ok", its db_user) in all the audit logs
#                together; b's and c's leases in a survivor's log.
#
# About 40 s; CREDFS_KEEP=1 keeps every node's log, audit log and state.
#
# shellcheck disable=SC2119,SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

_help=$("$CREDFS_BIN" --help 2>&1 || true)
grep -q -- '--fleet' <<<"$_help" || skip "$CREDFS_BIN has no --fleet (issue 13 not built in)"
command -v ip >/dev/null || skip "no ip(8) (iproute2)"
command -v nsenter >/dev/null || skip "no nsenter(1) (util-linux)"

TTL=3
GRACE=3
RETENTION=2 # --fleet-retention: revoked rows are deleted this long after
VU_SLACK=5 # VALID UNTIL is the lease's expiry + 5 s (Vault's)
NET=10.78.$(($$ % 250)) # this run's /28: NET.0-NET.15
HOST_IP=$NET.1 # server B, reached by every node
# Each node's namespace, veth ends (host's, node's) and addresses (host's end, node's end).
declare -A N_NS=() N_VH=() N_VN=() N_GW=() N_IP=()
_i=0
for _n in c a b; do
	N_NS[$_n]=credfs-fleet-$$-$_n
	N_VH[$_n]=cff$$${_n}h
	N_VN[$_n]=cff$$${_n}n
	N_GW[$_n]=$NET.$((_i * 4 + 1))
	N_IP[$_n]=$NET.$((_i * 4 + 2))
	_i=$((_i + 1))
done
unset _i _n
STORE="host=$HOST_IP port=@PORT@ dbname=wizard user=credfs_admin password=admin sslmode=disable"
FLEET_KEY=$T_DIR/fleet.key
CREATE_ONLY='CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '"'"'{{password}}'"'"' VALID UNTIL '"'"'{{expiration}}'"'"';'

declare -A N_PID=() N_MNT=() N_ENV=()
# Node c's renewals and revocations that pass the health check are held 2 s
# (test hooks), and one that the cut catches arrives after c is back: jobs
# in flight across the partition, every run (see "partition" below).
STUCK_MS=2000
N_ENV[c]="CREDFS_TEST_FLEET_STUCK_MS=$STUCK_MS"

# ---- nodes ----------------------------------------------------------------------

node_dir() { echo "$T_DIR/node-$1"; }

_pid_gone() { # _pid_gone PID - exited (or a zombie)
	local st
	[ -n "$1" ] || return 0
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 0
	[ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}

node_mounted() { grep -qF " ${N_MNT[$1]} fuse" /proc/self/mounts; }

_node_ready() {
	if _pid_gone "${N_PID[$1]}"; then
		fail "node $1 exited during startup: $(tail -n 5 "$(node_dir "$1")/credfs.log")"
	fi
	[ -d "${N_MNT[$1]}/config" ]
}

# in_ns NAME CMD... - run CMD in node NAME's network namespace. Not for a
# process started with & whose pid is wanted: $! would be a subshell's.
in_ns() {
	local n=$1
	shift
	nsenter "--net=/run/netns/${N_NS[$n]}" "$@"
}

# fleet_mount NAME - start node NAME (credfs -f) in its network namespace and
# wait for its mount.
fleet_mount() {
	local n=$1 d
	local -a pre=(nsenter "--net=/run/netns/${N_NS[$n]}") # execs: $! is credfs's pid
	d=$(node_dir "$n")
	mkdir -p "$d/state" "$d/mnt"
	chmod 0700 "$d/state"
	echo "=== credfs node $n in netns ${N_NS[$n]}" >>"$d/credfs.log"
	[ -z "${N_ENV[$n]:-}" ] || pre+=(env "${N_ENV[$n]}")
	"${pre[@]}" "$CREDFS_BIN" -f --fleet "${STORE/@PORT@/$PORT2}" --fleet-key "$FLEET_KEY" --node "$n" \
		--fleet-grace "$GRACE" --fleet-retention "$RETENTION" --state "$d/state" --key-file "$d/credfs.key" \
		--audit-log "$d/audit.log" "$d/mnt" 2>>"$d/credfs.log" </dev/null &
	N_PID[$n]=$!
	N_MNT[$n]=$d/mnt
	wait_until 15 _node_ready "$n" || fail "node $n did not mount within 15 s"
}

# fleet_kill NAME - kill -9 node NAME and clear its dead mount.
fleet_kill() {
	local n=$1
	kill -KILL "${N_PID[$n]}" 2>/dev/null || true
	wait "${N_PID[$n]}" 2>/dev/null || true
	N_PID[$n]=
	fusermount3 -u "${N_MNT[$n]}" 2>/dev/null || fusermount3 -u -z "${N_MNT[$n]}" 2>/dev/null || true
}

# fleet_umount NAME - unmount node NAME; it must exit 0 within 10 s.
fleet_umount() {
	local n=$1 rc=0
	[ -n "${N_PID[$n]}" ] || return 0
	fusermount3 -u "${N_MNT[$n]}" || fail "fusermount3 -u of node $n failed"
	if ! wait_until 10 _pid_gone "${N_PID[$n]}"; then
		kill -KILL "${N_PID[$n]}" 2>/dev/null || true
		wait "${N_PID[$n]}" 2>/dev/null || true
		N_PID[$n]=
		fail "node $n did not exit within 10 s of its unmount"
	fi
	wait "${N_PID[$n]}" || rc=$?
	N_PID[$n]=
	check_eq "node $n exits with status 0 after its unmount" 0 "$rc"
}

netns_cleanup() {
	local n
	for n in c a b; do # d and e borrow a's namespace
		ip link del "${N_VH[$n]}" 2>/dev/null || true
		ip netns del "${N_NS[$n]}" 2>/dev/null || true
	done
	return 0
}

# Run by lib.sh's cleanup (after it has sent SIGTERM to every job), before
# server B stops: unmount every node, kill what is left, drop the logins on B.
fleet_cleanup() {
	local n r q
	for n in "${!N_MNT[@]}"; do
		if node_mounted "$n"; then
			fusermount3 -u "${N_MNT[$n]}" 2>/dev/null || fusermount3 -u -z "${N_MNT[$n]}" 2>/dev/null
		fi
		if [ -n "${N_PID[$n]}" ]; then
			wait_until 5 _pid_gone "${N_PID[$n]}" || kill -KILL "${N_PID[$n]}" 2>/dev/null
			wait "${N_PID[$n]}" 2>/dev/null
		fi
	done
	netns_cleanup
	[ -n "$PORT2" ] || return 0
	pg2_psql -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename LIKE 'v-%'" \
		>/dev/null 2>&1
	while IFS= read -r r; do
		[ -n "$r" ] || continue
		q=\"${r//\"/\"\"}\"
		pg2_psql -c "DROP OWNED BY $q" >/dev/null 2>&1
		pg2_psql -c "DROP ROLE IF EXISTS $q" >/dev/null 2>&1 || echo "cleanup: could not drop $r on B" >&2
	done < <(pg2_psql -c "SELECT rolname FROM pg_roles WHERE rolname LIKE 'v-%'" 2>/dev/null)
	return 0
}
T_ON_EXIT=(fleet_cleanup "${T_ON_EXIT[@]}")

# lib.sh's fail and finish show this on failure: every node's log.
_show_daemon() {
	local n
	for n in "${!N_MNT[@]}"; do
		echo "--- node $n: credfs log (last 20 lines) ---" >&2
		tail -n 20 "$(node_dir "$n")/credfs.log" >&2 2>/dev/null
		if [ -n "${N_PID[$n]}" ] && node_mounted "$n"; then
			echo "--- node $n: errors (last 3 lines) ---" >&2
			timeout 2 tail -n 3 "${N_MNT[$n]}/errors" >&2 2>/dev/null
		fi
	done
	return 0
}

# ---- helpers --------------------------------------------------------------------

user_of() { jq -r .data.username <<<"$1"; }
pass_of() { jq -r .data.password <<<"$1"; }
id_of() { jq -r '.lease_id | split("/") | last' <<<"$1"; }
pg2_has_role() { ! pg2_role_gone "$1"; }
root_login() { # root_login PASSWORD - postgres logs in to B with it
	PGPASSWORD=$1 psql -h 127.0.0.1 -p "$PORT2" -U postgres -d wizard -XAtq -c 'SELECT 1' \
		</dev/null >/dev/null 2>&1
}
valid_until_epoch() { # 0 if the role is gone or has no VALID UNTIL
	local v
	v=$(pg2_psql -c "SELECT coalesce(extract(epoch FROM rolvaliduntil)::bigint, 0)
		FROM pg_roles WHERE rolname = $(sql_lit "$1")") || v=0
	echo "${v:-0}"
}
issues_on() { test "$(errno_of_read "${N_MNT[$1]}/creds/r")" = OK; }
# until_us DEADLINE_US CMD... - wait_until CMD with whatever time is left.
until_us() {
	local d=$(($1 - $(_now_us)))
	shift
	[ "$d" -gt 0 ] || d=0
	wait_until "$(awk -v d="$d" 'BEGIN { printf "%.2f", d / 1000000 }')" "$@"
}
sleep_until_us() { # sleep_until_us T - until _now_us reaches T (at once if past)
	local d=$(($1 - $(_now_us)))
	[ "$d" -le 0 ] || sleep "$(awk -v d="$d" 'BEGIN { printf "%.3f", d / 1000000 }')"
}
fleet_json() { # fleet_json NODE PATH JQ - jq -r JQ of NODE's fleet/PATH
	jq -r "$3" "${N_MNT[$1]}/fleet/$2" 2>/dev/null
}
node_alive_is() { test "$(fleet_json "$1" "nodes/$2" .alive)" = "$3"; } # ON NODE true|false
fleet_node_is() { test "$(fleet_json "$1" "leases/r/$2" .node)" = "$3"; }  # ON ID NODE
listed() { [ -e "${N_MNT[$1]}/leases/r/$2" ]; }           # NODE ID
fleet_listed() { [ -e "${N_MNT[$1]}/fleet/leases/r/$2" ]; } # NODE ID
any_role_exists() {
	local u
	for u in "$@"; do
		pg2_has_role "$u" && return 0
	done
	return 1
}
all_roles_gone() {
	local u
	for u in "$@"; do
		pg2_role_gone "$u" || return 1
	done
}
no_login() { not pg2_login "$1" "$2"; }
# revokes USER NODE... - successful revoke records for USER in the nodes' audit logs.
revokes() {
	local u=$1 n
	local -a logs=()
	shift
	for n in "$@"; do
		[ -s "$(node_dir "$n")/audit.log" ] && logs+=("$(node_dir "$n")/audit.log")
	done
	[ "${#logs[@]}" -gt 0 ] || {
		echo 0
		return
	}
	jq -c --arg u "$u" 'select(.action == "revoke" and .result == "ok" and .db_user == $u)' \
		"${logs[@]}" | wc -l
}

# fleet_hold FILE open|closed [WOKE] - a process that opens creds FILE, reads it,
# keeps it open or closes it, and lives until killed; with WOKE it polls the
# open file for POLLPRI and writes the revents it got to WOKE. Sets HOLD_PID
# and HOLD_CREDS.
fleet_hold() {
	local fifo
	fifo=$T_DIR/hold.$RANDOM$RANDOM
	mkfifo "$fifo"
	python3 - "$1" "$2" "${3:-}" >"$fifo" <<-'EOF' &
		import os, select, sys, time
		fd = os.open(sys.argv[1], os.O_RDONLY)
		data = os.pread(fd, 65536, 0)
		if sys.argv[2] == "closed":
		    os.close(fd)
		sys.stdout.write(data.decode().replace("\n", " ") + "\n")
		sys.stdout.flush()
		if sys.argv[3]:
		    p = select.poll()
		    p.register(fd, select.POLLPRI)
		    ev = p.poll()
		    with open(sys.argv[3], "w") as f:
		        f.write("%d\n" % ev[0][1])
		while True:
		    time.sleep(60)
	EOF
	HOLD_PID=$!
	HOLD_CREDS=$(head -n 1 "$fifo") || true
	rm -f "$fifo"
	[ -n "$HOLD_CREDS" ] || fail "a process could not read $1"
}
woke_pri() { [ -s "$1" ] && [ $(($(cat "$1") & 2)) -ne 0 ]; } # POLLPRI is 2

# ---- the network namespace and server B -------------------------------------------
T_START=$(_now_us)
pg2_start &
PG2_STARTER=$!
T_ON_EXIT+=(netns_cleanup)
for n in c a b; do
	ip netns add "${N_NS[$n]}" 2>/dev/null || skip "cannot create a network namespace here"
	ip link add "${N_VH[$n]}" type veth peer name "${N_VN[$n]}" || fail "cannot create a veth pair"
	ip link set "${N_VN[$n]}" netns "${N_NS[$n]}"
	ip addr add "${N_GW[$n]}/30" dev "${N_VH[$n]}" ||
		fail "cannot give ${N_VH[$n]} ${N_GW[$n]} (in use by another test?)"
	ip link set "${N_VH[$n]}" up
	in_ns "$n" ip addr add "${N_IP[$n]}/30" dev "${N_VN[$n]}"
	in_ns "$n" ip link set "${N_VN[$n]}" up
	in_ns "$n" ip link set lo up
	in_ns "$n" ip route add default via "${N_GW[$n]}"
done
wait "$PG2_STARTER" || fail "could not start server B: $(tail -n 5 "$T_DIR/pg2.log")"
PORT2=$(cat "$PG2/port")
pg2_stop
echo "host all all $NET.0/28 scram-sha-256" >>"$PG2/data/pg_hba.conf"
echo "listen_addresses = '127.0.0.1,$HOST_IP'" >>"$PG2/data/postgresql.conf"
pg2_start || fail "server B does not start on $HOST_IP: $(tail -n 5 "$PG2/postgres.log")"
ns_reaches_b() {
	PGPASSWORD="admin" in_ns "$1" psql -h "$HOST_IP" -p "$PORT2" -U credfs_admin \
		-d wizard -XAtq -c 'SELECT 1' </dev/null >/dev/null 2>&1
}
for n in c a b; do
	ns_reaches_b "$n" || fail "server B is not reachable from ${N_NS[$n]} at $HOST_IP"
done
head -c 32 /dev/urandom >"$FLEET_KEY"
chmod 0600 "$FLEET_KEY"

# ==== an old control store =================================================================
# The schema as credfs wrote it before SCHEMA.meta (no nodes.synced, no
# leases_revoked): the first node upgrades it, once.
pg2_psql -c "CREATE SCHEMA credfs;
	CREATE TABLE credfs.definitions (kind text NOT NULL, name text NOT NULL,
	 version bigint NOT NULL DEFAULT 1, sealed text, deleted boolean NOT NULL DEFAULT false,
	 rotating boolean NOT NULL DEFAULT false, node text,
	 updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (kind, name));
	CREATE TABLE credfs.nodes (node text PRIMARY KEY, heartbeat timestamptz NOT NULL,
	 started timestamptz NOT NULL DEFAULT now());
	CREATE TABLE credfs.leases (id text PRIMARY KEY, node text NOT NULL,
	 role text NOT NULL, username text NOT NULL, connection text NOT NULL,
	 connection_version bigint NOT NULL, issued timestamptz NOT NULL,
	 valid_until timestamptz NOT NULL, ttl_ms bigint NOT NULL, state text NOT NULL,
	 let_go_at timestamptz, holder jsonb, role_doc jsonb, claimed_by text,
	 claimed_at timestamptz, revoke_requested boolean NOT NULL DEFAULT false,
	 attempts integer NOT NULL DEFAULT 0, revoked_at timestamptz,
	 updated_at timestamptz NOT NULL DEFAULT now());
	CREATE INDEX leases_node ON credfs.leases (node);
	CREATE INDEX leases_claimed_by ON credfs.leases (claimed_by)" >/dev/null ||
	fail "cannot create the old fleet schema on B"

# ==== definitions ======================================================================
fleet_mount a
fleet_mount b
fleet_mount c
echo "three nodes up $((($(_now_us) - T_START) / 1000)) ms after the start"
check_eq "old store: upgraded (nodes.synced, leases_revoked_at, targets, leases.connection_target, meta version 3)" \
	"1 1 1 1 3" \
	"$(pg2_psql -c "SELECT (SELECT count(*) FROM information_schema.columns WHERE table_schema = 'credfs'
		AND table_name = 'nodes' AND column_name = 'synced') || ' ' ||
		(SELECT count(*) FROM pg_indexes WHERE schemaname = 'credfs' AND indexname = 'leases_revoked_at')
		|| ' ' || (SELECT count(*) FROM information_schema.tables WHERE table_schema = 'credfs'
		AND table_name = 'targets') || ' ' ||
		(SELECT count(*) FROM information_schema.columns WHERE table_schema = 'credfs'
		AND table_name = 'leases' AND column_name = 'connection_target')
		|| ' ' || (SELECT version FROM credfs.meta)")"
check_eq "old store: ... lease pages keep room for let-go updates (fillfactor=50)" "{fillfactor=50}" \
	"$(pg2_psql -c "SELECT reloptions FROM pg_class WHERE oid = 'credfs.leases'::regclass")"
fleet_peers() {
	pg2_psql -c "SELECT string_agg(host(client_addr), ' ' ORDER BY client_addr)
		FROM pg_stat_activity WHERE application_name = 'credfs-fleet'"
}
check_eq "namespaces: the three control sessions come from the nodes' own addresses" \
	"${N_IP[c]} ${N_IP[a]} ${N_IP[b]}" "$(fleet_peers)"
A=${N_MNT[a]} B=${N_MNT[b]} C=${N_MNT[c]}

URL="postgresql://{{username}}:{{password}}@$HOST_IP:$PORT2/wizard?sslmode=disable"
t0=$(_now_us)
printf '%s\n' plugin_name=postgresql-database-plugin 'allowed_roles=*' "connection_url=$URL" \
	username=postgres password=password >"$A/config/wizard" ||
	fail "writing config/wizard on a failed: $(tail -n 1 "$A/errors")"
conf_on() { jq -e --arg h "$HOST_IP:$PORT2" '.connection_url | contains($h)' "${N_MNT[$1]}/config/wizard" >/dev/null 2>&1; }
for n in b c; do
	check "definitions: config/wizard written on a is readable on $n within 1 s" \
		until_us $((t0 + 1000000)) conf_on "$n"
done
t0=$(_now_us)
printf '%s\n' db_name=wizard "creation_statements=$CREATE_ONLY" "default_ttl=${TTL}s" max_ttl=1h \
	>"$C/roles/r" || fail "writing roles/r on c failed: $(tail -n 1 "$C/errors")"
role_on() { jq -e '.db_name == "wizard"' "${N_MNT[$1]}/roles/r" >/dev/null 2>&1; }
for n in a b; do
	check "definitions: roles/r written on c is readable on $n within 1 s" \
		until_us $((t0 + 1000000)) role_on "$n"
done
for n in a b c; do
	got=$(cat "${N_MNT[$n]}/creds/r" 2>/dev/null) || got=
	check "definitions: creds/r issues on $n and the login works" \
		pg2_login "$(user_of "$got" 2>/dev/null)" "$(pass_of "$got" 2>/dev/null)"
done

# ==== the lease row in the creation transaction =============================================
# The control store is the target database here: each node writes a lease's
# row in the transaction of its CREATE ROLE, so a rolled-back creation
# leaves no row at any moment (a row written ahead would stay until the
# next tick deletes it) and a committed one exactly one.
check "same transaction: a's log says lease rows of wizard commit with the logins" \
	grep -q 'connection wizard (version [0-9]*): the control store is its database' \
	"$(node_dir a)/credfs.log"
rows_of() { pg2_psql -c "SELECT count(*) FROM credfs.leases WHERE $1"; }
reads() { cat "$1" >/dev/null 2>&1; }
logins() { pg2_psql -c "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v-%'"; }
printf '%s\n' db_name=wizard "creation_statements=$CREATE_ONLY SELECT 1 / 0;" \
	"default_ttl=${TTL}s" max_ttl=1h >"$A/roles/rb" ||
	fail "writing roles/rb on a failed: $(tail -n 1 "$A/errors")"
n_logins=$(logins)
# Tried again while a refuses to issue for another reason (with --fleet-grace 3
# a node counts its control store as unreachable for part of each 2 s tick).
rb_rolls_back() { ! reads "$A/creds/rb" && tail -n 1 "$A/errors" | grep -q 'division by zero'; }
check "same transaction: creds/rb (CREATE ROLE, then a failing statement) fails on a" \
	wait_until 3 rb_rolls_back
check_eq "same transaction: ... and leaves no lease row" 0 "$(rows_of "role = 'rb'")"
check_eq "same transaction: ... and no login" "$n_logins" "$(logins)"
rm -f "$A/roles/rb"
issue_r_on_a() { got=$(cat "$A/creds/r" 2>/dev/null); }
wait_until 3 issue_r_on_a || got=
check_eq "same transaction: creds/r on a leaves exactly one lease row" 1 \
	"$(rows_of "username = $(sql_lit "$(user_of "$got" 2>/dev/null)") AND node = 'a'")"

# ==== a second node with a live node's name ===============================================
dup=$T_DIR/node-dup
mkdir -p "$dup/state" "$dup/mnt"
chmod 0700 "$dup/state"
nsenter "--net=/run/netns/${N_NS[a]}" "$CREDFS_BIN" -f --fleet "${STORE/@PORT@/$PORT2}" \
	--fleet-key "$FLEET_KEY" --node a --fleet-grace "$GRACE" --state "$dup/state" \
	--key-file "$dup/credfs.key" --audit-log "$dup/audit.log" "$dup/mnt" 2>"$dup/stderr" </dev/null &
DUP_PID=$!
dup_rc=0 dup_mounted=no
if wait_until 15 _pid_gone "$DUP_PID"; then
	wait "$DUP_PID" || dup_rc=$?
else
	dup_rc="still running after 15 s"
	grep -qF " $dup/mnt fuse" /proc/self/mounts && dup_mounted=yes
	fusermount3 -u "$dup/mnt" 2>/dev/null || fusermount3 -u -z "$dup/mnt" 2>/dev/null
	kill -KILL "$DUP_PID" 2>/dev/null || true
	wait "$DUP_PID" 2>/dev/null || true
fi
check_eq "same name: a second node a exits with status 1" 1 "$dup_rc"
check "same name: its stderr says 'already running'" grep -q 'already running' "$dup/stderr"
check_eq "same name: it mounted nothing" no "$dup_mounted"
check "same name: the first node a still issues" issues_on a

# ==== rotate-root on b ===================================================================
check "rotate-root: postgres logs in to B with the root password before" root_login password
echo >"$B/rotate-root/wizard" || fail "rotate-root/wizard on b failed: $(tail -n 1 "$B/errors")"
check "rotate-root: the old root password is refused after the rotation on b" not root_login password
# End every pooled root connection: the next issues must log in with the new password.
pg2_psql -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'postgres'" >/dev/null
for n in a c b; do
	check "rotate-root: $n issues with new root connections" wait_until 3 issues_on "$n"
done

# ==== static roles, scheduled and interrupted rotations =========================================
# static-roles/ and the password credfs owns are the fleet's: one node
# defines, any node serves static-creds/, and a rotation (asked for, or
# due by the schedule every node follows) happens once in the fleet,
# under the static role's lock in the control store. config/'s root
# rotation schedule likewise. A node that dies between its ALTER ROLE and
# recording the new password leaves a pending record that a survivor
# resolves by asking PostgreSQL which password it accepts.
pg2_psql -c "CREATE ROLE st_app LOGIN PASSWORD 'first'" >/dev/null || fail "cannot create st_app on B"
spw_on() { jq -r .data.password "${N_MNT[$1]}/static-creds/app" 2>/dev/null; } # NODE
spw_is() { test "$(spw_on "$1")" = "$2"; }                                       # NODE PASSWORD
logs_of_all() { cat "$(node_dir a)/credfs.log" "$(node_dir b)/credfs.log" "$(node_dir c)/credfs.log"; }
rotations() { logs_of_all | grep -c 'static-roles/app: password of st_app rotated'; }
root_rotations() { logs_of_all | grep -c 'config/wizard: scheduled root rotation done'; }
t0=$(_now_us)
printf '%s\n' db_name=wizard username=st_app rotation_period=1h >"$A/static-roles/app" ||
	fail "writing static-roles/app on a failed: $(tail -n 1 "$A/errors")"
SP1=$(spw_on a)
check "static roles: static-creds/app on a logs in as st_app" pg2_login st_app "$SP1"
for n in b c; do
	check "static roles: static-roles/app written on a serves the same password on $n within 1 s" \
		until_us $((t0 + 1000000)) spw_is "$n" "$SP1"
done
check_eq "static roles: one rotation (the import's) in the fleet" 1 "$(rotations)"
fleet_hold "$B/static-creds/app" open "$T_DIR/woke-static"
SPOLL_PID=$HOLD_PID
t0=$(_now_us)
echo >"$C/rotate-role/app" || fail "rotate-role/app on c failed: $(tail -n 1 "$C/errors")"
SP2=$(spw_on c)
check "static roles: rotate-role/app on c rotates" test "$SP2" != "$SP1"
check "static roles: ... the old password is refused" not pg2_login st_app "$SP1"
check "static roles: ... the new one logs in" pg2_login st_app "$SP2"
for n in a b; do
	check "static roles: ... and $n serves it within 1 s" until_us $((t0 + 1000000)) spw_is "$n" "$SP2"
done
check "static roles: ... and an open static-creds/app on b polls POLLPRI" wait_until 1 woke_pri "$T_DIR/woke-static"
stop_holder "$SPOLL_PID"
# Every node's schedules say due at once: one of them rotates, the others find it done.
printf '%s\n' db_name=wizard username=st_app rotation_period=5s >"$B/static-roles/app" ||
	fail "rewriting static-roles/app on b failed: $(tail -n 1 "$B/errors")"
conf=$(jq -c '.rotation_period = 5' "$A/config/wizard")
printf '%s' "$conf" >"$A/config/wizard" || fail "setting rotation_period on a failed: $(tail -n 1 "$A/errors")"
n_rot=$(rotations)
both_rotated() { ! spw_is a "$SP2" && [ "$(root_rotations)" -ge 1 ]; }
check "schedules: the static role's and the root's 5 s periods both rotate within 8 s" wait_until 8 both_rotated
SP3=$(spw_on a)
sleep 1
check_eq "schedules: ... the static role once in the fleet (three nodes follow the schedule)" \
	$((n_rot + 1)) "$(rotations)"
check_eq "schedules: ... the root once in the fleet" 1 "$(root_rotations)"
for n in b c; do
	check "schedules: ... and $n serves the static role's new password within 1 s" wait_until 1 spw_is "$n" "$SP3"
done
check "schedules: ... which logs in" pg2_login st_app "$SP3"
printf '%s\n' db_name=wizard username=st_app rotation_period=1h >"$A/static-roles/app" ||
	fail "rewriting static-roles/app on a failed: $(tail -n 1 "$A/errors")"
conf=$(jq -c '.disable_automated_rotation = true' "$B/config/wizard")
printf '%s' "$conf" >"$B/config/wizard" || fail "disabling rotation on b failed: $(tail -n 1 "$B/errors")"
# Nodes d and e (in a's namespace) die at crash points: d after its static
# role's ALTER ROLE, e after its root ALTER ROLE.
N_NS[d]=${N_NS[a]} N_ENV[d]="CREDFS_CRASH_AT=static-after-alter"
N_NS[e]=${N_NS[a]} N_ENV[e]="CREDFS_CRASH_AT=rotate-after-alter"
fleet_mount d
fleet_mount e
echo >"${N_MNT[d]}/rotate-role/app" 2>/dev/null || true
echo >"${N_MNT[e]}/rotate-root/wizard" 2>/dev/null || true
wait_until 5 _pid_gone "${N_PID[d]}" || fail "node d did not crash at static-after-alter"
wait_until 5 _pid_gone "${N_PID[e]}" || fail "node e did not crash at rotate-after-alter"
T_CRASH=$(_now_us)
fleet_kill d
fleet_kill e
resolved_on_a() { ! spw_is a "$SP3" && pg2_login st_app "$(spw_on a)"; }
check "interrupted: d's static rotation is resolved by a survivor within 20 s (a serves the new password)" \
	wait_until 20 resolved_on_a
echo "interrupted: a serves the static role's new password $((($(_now_us) - T_CRASH) / 1000)) ms after the crashes"
SP4=$(spw_on a)
for n in b c; do
	check "interrupted: ... and $n serves it within 1 s" wait_until 1 spw_is "$n" "$SP4"
done
check "interrupted: ... a survivor's log says the pending password took effect" \
	grep -q 'static-roles/app: the pending password took effect' \
	"$(node_dir a)/credfs.log" "$(node_dir b)/credfs.log" "$(node_dir c)/credfs.log"
root_resolved() { logs_of_all | grep -q 'config/wizard: the interrupted root rotation took effect'; }
check "interrupted: e's root rotation is resolved by a survivor within 20 s" wait_until 20 root_resolved
echo "interrupted: the root rotation resolved by $((($(_now_us) - T_CRASH) / 1000)) ms after the crashes"
pg2_psql -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'postgres'" >/dev/null
for n in a b c; do
	check "interrupted: ... $n issues with new root connections" wait_until 3 issues_on "$n"
done
t0=$(_now_us)
rm "$B/static-roles/app" || fail "rm static-roles/app on b failed"
static_gone() { [ ! -e "${N_MNT[$1]}/static-roles/app" ]; }
for n in a c; do
	check "static roles: rm on b removes it from $n within 1 s" until_us $((t0 + 1000000)) static_gone "$n"
done

# ==== leases/, fleet/leases/, fleet/nodes/ ===================================================
fleet_hold "$A/creds/r" open
LA_PID=$HOLD_PID LA_ID=$(id_of "$HOLD_CREDS")
fleet_hold "$B/creds/r" open
LB_PID=$HOLD_PID LB_ID=$(id_of "$HOLD_CREDS") LB_USER=$(user_of "$HOLD_CREDS")
check "views: a's leases/ lists a's lease" listed a "$LA_ID"
check "views: a's leases/ does not list b's lease" not listed a "$LB_ID"
check "views: b's lease appears in a's fleet/leases/r within 2 s" wait_until 2 fleet_listed a "$LB_ID"
check_eq "views: a's fleet/leases/r/ID of b's lease: node" b "$(fleet_json a "leases/r/$LB_ID" .node)"
check_eq "views: ... role" r "$(fleet_json a "leases/r/$LB_ID" .role)"
check_eq "views: ... username" "$LB_USER" "$(fleet_json a "leases/r/$LB_ID" .username)"
check_eq "views: ... state (held open on b)" held "$(fleet_json a "leases/r/$LB_ID" .state)"
check "views: ... connection_target (32 hex digits, the server it was issued on)" \
	grep -qxE '[0-9a-f]{32}' <<<"$(fleet_json a "leases/r/$LB_ID" .connection_target)"
check_eq "views: a's fleet/leases/r also has a's own lease, node a" a \
	"$(fleet_json a "leases/r/$LA_ID" .node)"
for n in a b c; do
	check_eq "views: a's fleet/nodes/$n says alive" true "$(fleet_json a "nodes/$n" .alive)"
done
check "views: rm of b's lease in a's fleet/leases/r succeeds" rm "$A/fleet/leases/r/$LB_ID"
check "views: ... and revokes it: the login is gone within 5 s" wait_until 5 pg2_role_gone "$LB_USER"
check "views: ... and it leaves b's leases/ within 5 s" wait_until 5 not listed b "$LB_ID"
stop_holder "$LB_PID"
stop_holder "$LA_PID"

# ==== kill -9 of node b with held and let-go leases ============================================
# The let-go ones last, just before the kill: b itself revokes a let-go
# lease TTL after its cat (a loaded machine may still get there first: see
# "exactly once").
B_USERS=()
HOLDERS=()
for _ in 1 2; do
	fleet_hold "$B/creds/r" open
	HOLDERS+=("$HOLD_PID")
	B_USERS+=("$(user_of "$HOLD_CREDS")")
done
all_roles_exist() {
	local u
	for u in "$@"; do
		pg2_has_role "$u" || return 1
	done
}
check "kill: b's two held logins exist before the kill" all_roles_exist "${B_USERS[@]}"
B_HELD=("${B_USERS[@]}")
# config/away points at server A (this test's other PostgreSQL, through its
# socket, which every namespace reaches): b holds a lease of creds/ra there.
printf '%s\n' plugin_name=postgresql-database-plugin 'allowed_roles=*' \
	"connection_url=postgresql://{{username}}:{{password}}@/wizard?host=$CREDFS_PG_DIR/run&port=$CREDFS_PG_PORT&sslmode=disable" \
	username=credfs_admin password=admin >"$A/config/away" ||
	fail "writing config/away on a failed: $(tail -n 1 "$A/errors")"
printf '%s\n' db_name=away "creation_statements=$CREATE_ONLY" "default_ttl=${TTL}s" max_ttl=1h \
	>"$A/roles/ra" || fail "writing roles/ra on a failed: $(tail -n 1 "$A/errors")"
ra_on_b() { [ -e "$B/roles/ra" ]; }
wait_until 2 ra_on_b || fail "roles/ra did not reach b"
fleet_hold "$B/creds/ra" open
HOLDERS+=("$HOLD_PID")
MV_USER=$(user_of "$HOLD_CREDS")
check "moved: b's held lease of creds/ra logs in on server A" \
	can_login "$MV_USER" "$(pass_of "$HOLD_CREDS")"
for _ in 1 2; do
	got=$(cat "$B/creds/r") || fail "cat creds/r on b failed: $(tail -n 1 "$B/errors")"
	B_USERS+=("$(user_of "$got")")
done
fleet_kill b
T_KILL=$(_now_us)
for p in "${HOLDERS[@]}"; do stop_holder "$p"; done
# While b is dead, config/away moves to server B: the survivors must revoke
# b's login on A, the server its lease was issued on, not look for it on B.
printf '%s\n' plugin_name=postgresql-database-plugin 'allowed_roles=*' "connection_url=$URL" \
	username=credfs_admin password=admin >"$A/config/away" ||
	fail "moving config/away to B on a failed: $(tail -n 1 "$A/errors")"
check "moved: b's lease on A is revoked (gone from A's pg_roles) within TTL + grace + 5 s of the kill" \
	until_us $((T_KILL + (TTL + GRACE + 5) * 1000000)) role_gone "$MV_USER"
check "moved: ... by a survivor, on the connection's earlier server (its log says so)" \
	grep -q "revoked $MV_USER for its dead node, on its connection's earlier server" \
	"$(node_dir a)/credfs.log" "$(node_dir c)/credfs.log"
check "kill: a's fleet/nodes/b says not alive within grace + 5 s" \
	wait_until $((GRACE + 5)) node_alive_is a b false
for u in "${B_USERS[@]}"; do
	check "kill: b's lease $u is revoked (gone from pg_roles) within TTL + grace + 5 s of the kill" \
		until_us $((T_KILL + (TTL + GRACE + 5) * 1000000)) pg2_role_gone "$u"
done
echo "kill: b's logins gone: $(all_roles_gone "${B_USERS[@]}" && echo all || echo not all)," \
	"$((($(_now_us) - T_KILL) / 1000)) ms after the kill"
for n in a c; do # each claims its share: ceil(4 / 2 survivors), less what it has
	check "kill: $n claimed some of b's four leases (survivors share them)" \
		test "$(rows_of "node = 'b' AND claimed_by = '$n'")" -ge 1
done

# ==== partition of node c =================================================================
# The cut comes when each of c's two leases has a job that passed c's
# health check and is held up by it (c counts as healthy for grace/2 after
# its last answer, beats every grace/4; c's jobs wait STUCK_MS before they
# reach PostgreSQL and, cut off meanwhile, until c is back): the let-go
# lease's revocation (let go + TTL) 0.4 s after the cut, the held lease's
# first renewal (2/3 TTL after its issue) 0.2 s after. Both reach
# PostgreSQL only after a has revoked the logins; c must then neither
# revoke them a second time nor count the login it finds gone as its own
# revocation. (Without the hooks the cut link holds the revocation up.)
got=$(cat "$C/creds/r") || fail "cat creds/r on c failed: $(tail -n 1 "$C/errors")"
T_LG=$(_now_us)
GC_USER=$(user_of "$got") GC_PASS=$(pass_of "$got") GC_ID=$(id_of "$got")
sleep_until_us $((T_LG + 800000))
fleet_hold "$C/creds/r" open "$T_DIR/woke.c"
HC_PID=$HOLD_PID HC_USER=$(user_of "$HOLD_CREDS") HC_PASS=$(pass_of "$HOLD_CREDS")
HC_ID=$(id_of "$HOLD_CREDS")
C_USERS=("$HC_USER" "$GC_USER")
check "partition: c's held lease logs in before the cut" pg2_login "$HC_USER" "$HC_PASS"
check "partition: c's held lease appears in a's fleet/leases/r (node c) within 1.5 s" \
	until_us $((T_LG + 2500000)) fleet_node_is a "$HC_ID" c
sleep_until_us $((T_LG + 2600000))
in_ns c ip link set "${N_VN[c]}" down
T_CUT=$(_now_us)
for u in "${C_USERS[@]}"; do
	vu=$(valid_until_epoch "$u")
	check "partition: VALID UNTIL of $u is at most TTL + $((VU_SLACK + 1)) s past the cut ($((vu - T_CUT / 1000000)) s)" \
		test "$vu" -gt 0 -a "$vu" -le $((T_CUT / 1000000 + TTL + VU_SLACK + 1))
done
REFUSED_BY=$((T_CUT + (TTL + VU_SLACK + 2) * 1000000))
check "partition: c's held lease can no longer log in by cut + TTL + $((VU_SLACK + 2)) s" \
	until_us "$REFUSED_BY" no_login "$HC_USER" "$HC_PASS"
check "partition: c's let-go lease can no longer log in by cut + TTL + $((VU_SLACK + 2)) s" \
	until_us "$REFUSED_BY" no_login "$GC_USER" "$GC_PASS"
check "partition: a's fleet/nodes/c says not alive within grace + 5 s" \
	until_us $((T_CUT + (GRACE + 5) * 1000000)) node_alive_is a c false
for u in "${C_USERS[@]}"; do
	check "partition: a revokes c's lease $u (gone from pg_roles) by cut + TTL + grace + 5 s" \
		until_us $((T_CUT + (TTL + GRACE + 5) * 1000000)) pg2_role_gone "$u"
done
echo "partition: c's logins gone: $(all_roles_gone "${C_USERS[@]}" && echo all || echo not all)," \
	"$((($(_now_us) - T_CUT) / 1000)) ms after the cut"

c_rows_old() { # both revoked longer than the retention ago, and still there
	[ "$(rows_of "id IN ($(sql_lit "$HC_ID"), $(sql_lit "$GC_ID")) AND state = 'revoked'
		AND revoked_at < now() - make_interval(secs => $RETENTION + 0.5)")" = 2 ]
}
check "gc: c's two rows say revoked and outlive the retention while c is away" \
	wait_until $((RETENTION + 4)) c_rows_old

in_ns c ip link set "${N_VN[c]}" up
all_unlisted_c() { not listed c "$HC_ID" && not listed c "$GC_ID"; }
C_AUDIT_LINES=$(wc -l <"$(node_dir c)/audit.log" 2>/dev/null || echo 0)
check "link back: c still runs" not _pid_gone "${N_PID[c]}"
check "link back: c's leases/ lists neither of its old leases within grace + 5 s" \
	wait_until $((GRACE + 5)) all_unlisted_c
check "link back: c's holder was woken with POLLPRI" wait_until 5 woke_pri "$T_DIR/woke.c"
check "link back: the logins stay gone for TTL + 2 s (not renewed, not re-created)" \
	not wait_until $((TTL + 2)) any_role_exists "${C_USERS[@]}"
c_renews_after=$(tail -n +$((C_AUDIT_LINES + 1)) "$(node_dir c)/audit.log" 2>/dev/null |
	jq -c --arg h "$HC_USER" --arg g "$GC_USER" \
		'select(.action == "renew" and .result == "ok" and (.db_user == $h or .db_user == $g))' |
	wc -l)
check_eq "link back: c's audit log has no successful renewal of them" 0 "$c_renews_after"
check "link back: c's listing still lacks them" all_unlisted_c
stop_holder "$HC_PID"
echo "link back: a's fleet/nodes/c says alive: $(fleet_json a nodes/c .alive || echo '?')"

# ==== revoked rows ==============================================================================
# A row revoked for a dead node goes RETENTION s after its revocation, once its
# node has been back and dropped the lease: c's now, b's never here (b, back,
# would take a lease of its journal with no row for one from before it joined
# the fleet, write the row again and revoke the login a second time).
c_rows_gone() { [ "$(rows_of "id IN ($(sql_lit "$HC_ID"), $(sql_lit "$GC_ID"))")" = 0 ]; }
check "gc: c's two revoked rows are deleted within retention + 3 s of c being back" \
	wait_until $((RETENTION + 3)) c_rows_gone
b_list=
for u in "${B_USERS[@]}"; do b_list+="${b_list:+, }$(sql_lit "$u")"; done
check_eq "gc: b's four revoked rows stay (b has not been back)" 4 \
	"$(rows_of "node = 'b' AND state = 'revoked' AND username IN ($b_list)")"

# ==== exactly once ===========================================================================
# Every audit log counts: a second revocation anywhere is one too many.
check_eq "exactly once: b's lease $LB_USER (rm in a's fleet/leases/ before the kill): successful revokes in all audit logs" \
	1 "$(revokes "$LB_USER" a b c)"
for u in "${B_USERS[@]}"; do
	check_eq "exactly once: b's lease $u: successful revokes in all audit logs" 1 "$(revokes "$u" a b c)"
	# A let-go lease whose TTL ran out before the kill was b's own to revoke.
	if [[ " ${B_HELD[*]} " != *" $u "* ]] && [ "$(revokes "$u" b)" = 1 ]; then
		echo "exactly once: b's let-go lease $u was revoked by b before the kill (a slow run)"
		continue
	fi
	check_eq "exactly once: b's lease $u: ... that one in a survivor's (a, c)" 1 "$(revokes "$u" a c)"
done
check_eq "exactly once: b's lease $MV_USER on the moved connection: successful revokes in all audit logs" \
	1 "$(revokes "$MV_USER" a b c)"
for u in "${C_USERS[@]}"; do
	check_eq "exactly once: c's lease $u: successful revokes in all audit logs" 1 "$(revokes "$u" a b c)"
	check_eq "exactly once: c's lease $u: ... that one in a's (the others revoke it)" 1 "$(revokes "$u" a)"
done

fleet_umount c
fleet_umount a
echo "t_fleet took $((($(_now_us) - T_START) / 1000)) ms"
finish
