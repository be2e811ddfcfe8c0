#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench.sh - credfs against PostgreSQL itself, side by side, in one run on a
# throwaway PostgreSQL (scripts/pg-scratch.sh) and a private credfs mount.
#
#   sudo scripts/bench.sh                 full run (about 15-25 minutes)
#   sudo BENCH_QUICK=1 scripts/bench.sh   smoke run for CI (about a minute)
#
#   sudo BENCH_BASELINE_BIN=/path/to/old/credfs scripts/bench.sh
#                                         A/B mode (about 3 minutes): issuance
#                                         only, that binary against this one
#   sudo scripts/bench.sh --soak          soak mode (BENCH_SOAK_SECONDS, 30
#                                         minutes by default): a fixed issue
#                                         rate, nothing else
#   sudo scripts/bench.sh --fleet         fleet mode (about 6 minutes): issuance
#                                         on 1, 2 and 3 fleet nodes, unpinned
#                                         and pinned, and a dead node's
#                                         leases (issue 13)
#
# Results: a markdown table on stdout and in build/bench-results.md
# (build/bench-ab-results.md in A/B mode, build/bench-soak-results.md and
# build/bench-soak-samples.tsv in soak mode, build/bench-fleet-results.md
# in fleet mode; BENCH_OUT=FILE elsewhere);
# progress on stderr.
#
# A/B mode (BENCH_BASELINE_BIN set): is this credfs (CREDFS_BIN, the
# "current") slower at issuing than another build (the "baseline")? Nothing
# but issuance runs: both daemons are mounted side by side on one scratch
# PostgreSQL, each with its own state directory (both durable, as
# deployed), at PostgreSQL's default durability. For each N in
# BENCH_AB_CONCURRENCY ("1 4"), BENCH_AB_ROUNDS (10) rounds; in a round the
# N readers issue BENCH_AB_SECONDS (3 s) from each side, in alternating
# BENCH_AB_SLICE (0.5 s) slices (every reader finishes its credential before
# the next slice starts), the side of the first slice alternating every
# round. Before every round: every login of the previous one revoked, the
# role catalogs vacuumed, a CHECKPOINT, and both daemons idle (no CPU used
# for 0.3 s). The load generator is credbench's issue loop (open + read to
# EOF + close of creds/ROLE, the same checks), built from this script, with
# open() and close() also timed on their own.
# Why slices: other work on this machine (builds, tests) changes speed
# within seconds, and moves both sides of a slice pair alike; whole 3 s runs
# a few seconds apart gave per-round ratios of 0.55-1.67 on a busy day,
# slices 0.92-1.02, and two copies of one binary give medians of 0.99-1.00.
# So only each round's ratio current/baseline counts: the table gives the
# mean creds/s of each side, the median ratio with its min/max over rounds,
# how many rounds the current build won and a two-sided sign test over
# them; then the reader's close() and open() latency (p50/p99/max over
# every credential of every round) and the daemon's CPU per credential
# (its utime+stime over whole rounds, so what it does during the other
# side's slices, such as refilling its verifier pool, counts too). A median
# ratio below 1 - BENCH_AB_TOLERANCE (0.02) with sign test p < 0.05 is marked
# SLOWER; the exit status is 0 either way (slowness never fails a run).
#
# What it measures (issue 6):
#  1. Issuance: N concurrent readers (N = 1, 4, 16) each doing
#     open+read+close of creds/ROLE in a loop for BENCH_SECONDS (10 s), with
#     scripts/bench/credbench.c (threads, no fork/exec per credential),
#     against pgbench -M simple running the identical creation transaction
#     (the same two statements in one simple-query message; credfs sends
#     them after BEGIN, then COMMIT once its lease is durable) with the same
#     concurrency on the same server: creds/s, their
#     ratio, p50/p99 latency (pgbench: per-transaction latencies from
#     --log). Twice: PostgreSQL's default durability, then
#     synchronous_commit=off (ALTER SYSTEM + pg_reload_conf()).
#     Before every measured run: no leftover logins, VACUUM of the role
#     catalogs, CHECKPOINT; the order credfs/raw alternates with N.
#  2. Revocation drain: BENCH_DRAIN leases (10,000) made due at once (`rm`
#     of every leases/ROLE/ID in one tight loop), the time until PostgreSQL
#     has none of their logins left; against the same revocation SQL
#     (credfs's default, robust revocation, rendered) run directly by
#     BENCH_DRAIN_SESSIONS (8, credfs's revocation worker count) psql
#     sessions on as many logins made by a plain script. Both modes.
#  3. Scale: BENCH_SCALE (100,000) live leases: the daemon's RSS per lease
#     (VmRSS before/after), the time of `ls leases/ROLE`, and the restart
#     time with that state (unmount, then exec until every lease is listed
#     again) -- "n/a" if credfs keeps no state across a restart (detected:
#     the role and its leases are gone after the remount).
#  4. Metadata: stat, readdir and read of config/, roles/ and leases/ files
#     per second, asserting PostgreSQL saw nothing from credfs meanwhile (no
#     credfs backend started a query or a connection: pg_stat_activity; the
#     xact_commit delta of the database is reported beside it).
#  5. Pinned issuance (issue 10): section 1 at default durability with
#     PostgreSQL on a CPU of its own (taskset on the postmaster and every
#     backend; new backends inherit the postmaster's mask) and credfs, the
#     readers and pgbench on the other CPUs, so that neither side's CPU use
#     slows the other: creds/s and ratio, p99 of each side and their ratio,
#     and credfs's CPU per credential (the daemon's utime+stime over the run
#     / credentials, as in A/B mode). BENCH_PIN: auto (default: when this
#     process may use 2 CPUs or more), 1 (required: a problem if it cannot
#     pin) or 0 (skipped); N = BENCH_PIN_CONCURRENCY ("1 4 16"; quick: "4",
#     runs of 1 s).
#  6. Concurrent openers: BENCH_OPENERS (1,000; quick: 100) openers of one
#     role at the same moment (BENCH_OPENERS_MODE: procs, one process each,
#     so credfs watches as many holders; or threads of one process), each
#     opening once and holding its file until all have returned, then
#     closing: successes, failures by errno name, the time until the last
#     open returned, and the daemon's RSS and open fds (/proc/PID/status,
#     /proc/PID/fd) before, at the peak (sampled every 0.2 s), with all held,
#     after the closes and after the revocations. Twice: on a connection
#     with credfs's defaults (max_open_connections 4, pool_timeout 5s), and
#     on one with max_open_connections 16, pool_timeout 10m, so that all can
#     succeed.
#  7. Stopped database: a second scratch PostgreSQL and connection; N=4
#     readers' issuance on the healthy one (BENCH_SECONDS; quick: 1 s) with both
#     healthy, then with the other one SIGSTOPped (postmaster and backends)
#     while BENCH_HAMMER (100) readers open creds/ of a role on the stopped
#     one, then healthy again, for BENCH_STOP_ROUNDS (3; quick: 1) stopped
#     runs; each stopped run against the mean of the healthy runs on either
#     side of it, the median ratio reported (target >= 0.9): on a busy
#     machine one pair of runs a minute apart can differ by 30%. SIGCONT at
#     the end of every stopped run, and always on exit (the EXIT trap).
#  Soak mode (--soak or BENCH_SOAK_SECONDS; never part of the full run):
#     BENCH_SOAK_SECONDS (1800) of issuance at BENCH_SOAK_RATE (20/s, by
#     credbench rate over BENCH_SOAK_THREADS, 4) on a role with default_ttl
#     BENCH_SOAK_TTL (30 s) and credfs's default revocation: each credential
#     is let go at once and revoked one TTL later, so issues, let-gos and
#     revocations balance. Every BENCH_SOAK_INTERVAL (10 s): the daemon's
#     RSS, open fds, the state directory's journal file size, metrics'
#     credfs_journal_bytes, live leases (metrics) and v- logins in
#     pg_roles; the start and end values and the least-squares slope per
#     hour of each over the steady state (samples from one TTL + one
#     interval on). At the end, every login must be revoked: no v- role
#     left in pg_roles within TTL + 60 s.
#  Fleet mode (--fleet; never part of the full run): BENCH_FLEET_NODES (3)
#     credfs fleet nodes n1, n2, n3 on this machine, each with its own
#     mount, state directory, key, audit log and --node, one fleet key, the
#     control store the schema credfs in the scratch PostgreSQL that the
#     logins are made on, --fleet-grace BENCH_FLEET_GRACE (5); the
#     definitions are written on n1. Default durability.
#   1. Issuance on 1, 2, then 3 nodes (each started in turn, the others
#     running): for each total N in BENCH_FLEET_CONCURRENCY ("4 12"), N
#     readers split over the nodes (4 on 3 nodes: 2/1/1), one credbench
#     issue per node's creds/iss, all at once, for BENCH_FLEET_SECONDS
#     (BENCH_SECONDS, 10 s); their credentials summed, p50/p99 the worst
#     node's. Against pgbench at the same N running, per credential, the
#     SQL credfs runs for it (core/fleet_lease.c; the same columns,
#     literals for its parameters, holder and role_doc copied from a row
#     credfs wrote, into bench_fleet.leases, LIKE credfs.leases INCLUDING
#     ALL): the lease row insert, in the creation transaction when n1
#     logged that the control store is the connection's database (as it
#     is here: the row commits with the login), else in a transaction of
#     its own before it; then, as the node's fleet thread writes it after
#     the close, the let-go UPDATE of the row in a transaction of its own.
#     BENCH_FLEET_PGB_LETGO=0 leaves the let-go UPDATE out of the pgbench
#     side (the creation transaction and the lease row only). The order alternates. Before every run both lease tables are
#     vacuumed, then settle (CHECKPOINT); pgbench's rows are deleted after
#     its run as credfs deletes its own at revocation. Ratio target >= 0.95. Per credential on each
#     side: PostgreSQL's WAL (pg_current_wal_lsn) and write transactions
#     (xids assigned) from the start of the run until its last let-go
#     UPDATE has reached the row (credfs: no row of the run still 'held',
#     polled, at most 10 s), background work of the running nodes
#     (heartbeats) included on both sides.
#     Pinned (BENCH_PIN, as section 5): every pair of runs again with
#     PostgreSQL on a CPU of its own and the nodes, the readers and
#     pgbench on the other CPUs; both figures in the table.
#     BENCH_FLEET_ROUNDS (1) pairs of each: the mean creds/s of each side,
#     the median of the rounds' ratios with their min/max; latency, WAL,
#     write transactions and CPU are the last round's.
#   2. A dead node: BENCH_FLEET_LEASES (1,000) held leases on the last node
#     (credbench hold, in batches of BENCH_FLEET_BATCH (100) threads that
#     open at once, until that many are held: a failed open is counted
#     and made up) of a role with default_ttl BENCH_FLEET_TTL
#     (5 s) and credfs's default revocation, then kill -9 of that node:
#     the time until the last of its logins is gone from pg_roles (polled
#     every 0.1 s), split into the kill to the first login gone (grace,
#     claim tick, TTL from its last heartbeat) and the first to the last
#     (the survivors' revocation work); when its leases were claimed and
#     by whom (claimed_at, claimed_by), and the successful revoke records
#     of its logins in the survivors' audit logs (must be 1,000, each login
#     once).
#
# Every role in the benchmark grants a group role (GRANT app_readers TO
# "{{name}}"), never a table: a table granted to each login stops at about
# 2,400 logins (PostgreSQL's ACL row outgrows its page).
#
# The connection's password_authentication is BENCH_PWAUTH (credfs's default,
# scram-sha-256: credfs computes the SCRAM verifier itself and sends that;
# or password: it sends the password and PostgreSQL hashes it). pgbench sends
# the same: a SCRAM verifier (one, computed once), or a password. So the
# verifier's computation is credfs's own cost, measured on its own as well.
#
# Knobs (environment): BENCH_QUICK=1, BENCH_SECONDS, BENCH_CONCURRENCY
# ("1 4 16"), BENCH_PWAUTH, BENCH_DRAIN, BENCH_DRAIN_SESSIONS, BENCH_SCALE,
# BENCH_META_SECONDS (per metadata operation), BENCH_OUT, BENCH_KEEP=1 (keep
# the work directory), BENCH_CREDFS_ARGS (extra daemon arguments, both
# daemons in A/B mode), BENCH_PIN, BENCH_PIN_CONCURRENCY, BENCH_OPENERS,
# BENCH_OPENERS_MODE, BENCH_HAMMER, BENCH_STOP_ROUNDS, BENCH_ONLY (a subset of the sections:
# "scram issuance drain pin openers stopped metadata scale"), CREDFS_BIN,
# PG_BINDIR; A/B mode: BENCH_BASELINE_BIN, BENCH_AB_ROUNDS, BENCH_AB_SECONDS,
# BENCH_AB_CONCURRENCY, BENCH_AB_TOLERANCE; soak mode: BENCH_SOAK_SECONDS,
# BENCH_SOAK_RATE, BENCH_SOAK_TTL, BENCH_SOAK_INTERVAL, BENCH_SOAK_THREADS;
# fleet mode: BENCH_FLEET_SECONDS, BENCH_FLEET_CONCURRENCY, BENCH_FLEET_NODES,
# BENCH_FLEET_LEASES (0: no dead node), BENCH_FLEET_BATCH, BENCH_FLEET_TTL,
# BENCH_FLEET_GRACE, BENCH_FLEET_ROUNDS, BENCH_FLEET_PGB_LETGO, BENCH_PIN (auto, 1 or 0: the
# pinned runs).
#
# A benchmark never fails for being slow: missed targets are marked in the
# table. It fails (exit 1) only for real errors: credfs or pgbench errors,
# a crash, a drain that never completes, PostgreSQL seeing credfs work
# during the metadata loop, 1,000 openers failing on the connection sized
# for them, a soak that leaves logins behind, a dead fleet node's leases
# not all revoked (or not each once in the audit logs). Exit 77: cannot run here (not
# root, no FUSE).
# shellcheck disable=SC2317 # cleanup runs from the EXIT trap
# shellcheck disable=SC2209 # PGPASSWORD=admin "$PSQL" is an assignment before a command
# shellcheck disable=SC2012 # lease ids are [A-Za-z0-9]: ls is what the issue times
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
CREDFS_BIN=${CREDFS_BIN:-$SRC/build/credfs}
QUICK=${BENCH_QUICK:-0}
SOAK=0
FLEET=0
case "${1:-}" in
--soak) SOAK=1 ;;
--fleet) FLEET=1 ;;
'') ;;
*) echo "usage: $0 [--soak | --fleet] (knobs are environment variables: see the header)" >&2; exit 2 ;;
esac
[ -z "${BENCH_SOAK_SECONDS:-}" ] || SOAK=1
if [ "$QUICK" = 1 ]; then
	B_SECS=${BENCH_SECONDS:-2}
	B_NS=${BENCH_CONCURRENCY:-1 4}
	B_DRAIN=${BENCH_DRAIN:-500}
	B_SCALE=${BENCH_SCALE:-2000}
	B_META=${BENCH_META_SECONDS:-0.3}
	B_PIN_NS=${BENCH_PIN_CONCURRENCY:-4}
	B_OPENERS=${BENCH_OPENERS:-100}
	B_LOAD_SECS=${BENCH_SECONDS:-1} # sections 5 and 7
	B_STOP_ROUNDS=${BENCH_STOP_ROUNDS:-1}
else
	B_SECS=${BENCH_SECONDS:-10}
	B_NS=${BENCH_CONCURRENCY:-1 4 16}
	B_DRAIN=${BENCH_DRAIN:-10000}
	B_SCALE=${BENCH_SCALE:-100000}
	B_META=${BENCH_META_SECONDS:-1}
	B_PIN_NS=${BENCH_PIN_CONCURRENCY:-1 4 16}
	B_OPENERS=${BENCH_OPENERS:-1000}
	B_LOAD_SECS=$B_SECS
	B_STOP_ROUNDS=${BENCH_STOP_ROUNDS:-3}
fi
B_PIN=${BENCH_PIN:-auto}
B_OPENERS_MODE=${BENCH_OPENERS_MODE:-procs}
B_HAMMER=${BENCH_HAMMER:-100}
B_ONLY=${BENCH_ONLY:-scram issuance drain pin openers stopped metadata scale}
SOAK_SECS=${BENCH_SOAK_SECONDS:-1800}
SOAK_RATE=${BENCH_SOAK_RATE:-20}
SOAK_TTL=${BENCH_SOAK_TTL:-30}
SOAK_INTERVAL=${BENCH_SOAK_INTERVAL:-10}
SOAK_THREADS=${BENCH_SOAK_THREADS:-4}
FLEET_SECS=${BENCH_FLEET_SECONDS:-$B_SECS}
FLEET_NS=${BENCH_FLEET_CONCURRENCY:-4 12}
FLEET_NODES=${BENCH_FLEET_NODES:-3}
FLEET_LEASES=${BENCH_FLEET_LEASES:-1000}
FLEET_TTL=${BENCH_FLEET_TTL:-5}
FLEET_GRACE=${BENCH_FLEET_GRACE:-5}
FLEET_BATCH=${BENCH_FLEET_BATCH:-100}
FLEET_ROUNDS=${BENCH_FLEET_ROUNDS:-1}
case "$B_PIN" in auto | 0 | 1) ;; *) echo "bench: BENCH_PIN: auto, 0 or 1" >&2; exit 2 ;; esac
case "$B_OPENERS_MODE" in procs | threads) ;; *) echo "bench: BENCH_OPENERS_MODE: procs or threads" >&2; exit 2 ;; esac
for v in "$B_OPENERS" "$B_HAMMER" "$B_STOP_ROUNDS" $B_PIN_NS "$SOAK_SECS" "$SOAK_RATE" "$SOAK_TTL" "$SOAK_INTERVAL" "$SOAK_THREADS" \
	"$FLEET_SECS" $FLEET_NS "$FLEET_NODES" "$FLEET_TTL" "$FLEET_GRACE" "$FLEET_BATCH" "$FLEET_ROUNDS"; do
	case "$v" in '' | *[!0-9.]* | 0) echo "bench: not a positive number: '$v' (BENCH_OPENERS, BENCH_HAMMER, BENCH_PIN_CONCURRENCY, BENCH_SOAK_*, BENCH_FLEET_*)" >&2; exit 2 ;; esac
done
case "$FLEET_LEASES" in '' | *[!0-9]*) echo "bench: BENCH_FLEET_LEASES: a number (0: no dead node)" >&2; exit 2 ;; esac
for v in $B_ONLY; do
	case "$v" in scram | issuance | drain | pin | openers | stopped | metadata | scale) ;;
	*) echo "bench: BENCH_ONLY: unknown section '$v'" >&2; exit 2 ;; esac
done
# ran SECTION - true if SECTION is part of this run (BENCH_ONLY).
ran() { case " $B_ONLY " in *" $1 "*) return 0 ;; esac; return 1; }
B_DRAIN_SESSIONS=${BENCH_DRAIN_SESSIONS:-8}
B_PWAUTH=${BENCH_PWAUTH:-scram-sha-256}
case "$B_PWAUTH" in scram-sha-256 | password) ;; *) echo "bench: BENCH_PWAUTH: scram-sha-256 or password" >&2; exit 2 ;; esac
AB_BASE=${BENCH_BASELINE_BIN:-}
AB_ROUNDS=${BENCH_AB_ROUNDS:-10}
AB_SECS=${BENCH_AB_SECONDS:-3}
AB_NS=${BENCH_AB_CONCURRENCY:-1 4}
AB_TOL=${BENCH_AB_TOLERANCE:-0.02}
AB_SLICE=${BENCH_AB_SLICE:-0.5}
if [ -n "$AB_BASE" ]; then
	B_OUT=${BENCH_OUT:-$SRC/build/bench-ab-results.md}
elif [ "$SOAK" = 1 ]; then
	B_OUT=${BENCH_OUT:-$SRC/build/bench-soak-results.md}
elif [ "$FLEET" = 1 ]; then
	B_OUT=${BENCH_OUT:-$SRC/build/bench-fleet-results.md}
else
	B_OUT=${BENCH_OUT:-$SRC/build/bench-results.md}
fi
B_POOL=16 # max_open_connections of the benchmark's connection

say() { printf 'bench: %s\n' "$*" >&2; }
# die MSG - a fatal error: the run stops; what was measured so far is still
# reported (the EXIT trap writes the table, with MSG under Errors).
die() {
	printf 'bench: error: %s\n' "$*" >&2
	PROBLEMS+=("fatal: $*")
	exit 1
}
skip() {
	printf 'bench: SKIP: %s\n' "$*" >&2
	exit 77
}

# ---- prerequisites ------------------------------------------------------------

[ "$(id -u)" -eq 0 ] || skip "needs root (FUSE mount, the postgres OS user)"
[ -c /dev/fuse ] || skip "/dev/fuse missing"
for c in fusermount3 gcc awk sort; do
	command -v "$c" >/dev/null 2>&1 || skip "$c missing (run scripts/deps.sh)"
done
for c in postgres psql pgbench pg_ctl; do
	[ -x "$PG_BINDIR/$c" ] || skip "$PG_BINDIR/$c missing (run scripts/deps.sh)"
done
PSQL=$PG_BINDIR/psql
PGBENCH=$PG_BINDIR/pgbench

if [ ! -x "$CREDFS_BIN" ]; then
	say "building credfs"
	cmake -S "$SRC" -B "$SRC/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
	cmake --build "$SRC/build" -j"$(nproc)" >&2
fi
[ -x "$CREDFS_BIN" ] || die "no credfs binary at $CREDFS_BIN"
if [ -n "$AB_BASE" ]; then
	[ -x "$AB_BASE" ] || die "BENCH_BASELINE_BIN: no executable at $AB_BASE"
	for v in "$AB_ROUNDS" "$AB_SECS" "$AB_TOL" "$AB_SLICE" $AB_NS; do
		case "$v" in '' | *[!0-9.]*) die "BENCH_AB_*: not a number: '$v'" ;; esac
	done
fi

# ---- work directory, cleanup ----------------------------------------------------

WORK=$(mktemp -d /tmp/credfs-bench.XXXXXX)
chmod 0711 "$WORK" # the postgres OS user reaches $WORK/pg
MNT=$WORK/mnt
STATE=$WORK/state
LOG=$WORK/credfs.log
CREDFS_PID=
PG_DIR=$WORK/pg
PG_UP=0
PG2_DIR=$WORK/pg2 # the stopped-database section's second PostgreSQL
PG2_UP=0
STOPPED_PIDS=() # its processes while SIGSTOPped: the EXIT trap sends SIGCONT
PROBLEMS=()
META_ID=
REPORT_READY=0 # set once the run starts measuring: a failure still writes the table
REPORTED=0
KEEP_WORK=0
REPORT_FN=report # ab_report in A/B mode
declare -A AB_PID=() AB_MNT=() # A/B mode: each side's daemon and mountpoint; fleet mode: each node's

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	local side
	# A stopped PostgreSQL first: everything waiting on it can then finish.
	if [ "${#STOPPED_PIDS[@]}" -gt 0 ]; then
		say "SIGCONT to the stopped PostgreSQL (${STOPPED_PIDS[*]})"
		kill -CONT "${STOPPED_PIDS[@]}" 2>/dev/null
		STOPPED_PIDS=()
	fi
	jobs -p | while read -r j; do kill "$j" 2>/dev/null; done
	if [ "$rc" -ne 0 ] && [ "$REPORT_READY" = 1 ] && [ "$REPORTED" = 0 ]; then
		say "writing the results measured so far"
		[ "${#PROBLEMS[@]}" -gt 0 ] || PROBLEMS+=("the run stopped early (exit status $rc; see the progress on stderr)")
		mkdir -p "$(dirname "$B_OUT")"
		"$REPORT_FN" | tee "$B_OUT"
	fi
	for side in "${!AB_MNT[@]}"; do
		if grep -qF " ${AB_MNT[$side]} fuse" /proc/self/mounts 2>/dev/null; then
			fusermount3 -u "${AB_MNT[$side]}" 2>/dev/null ||
				fusermount3 -u -z "${AB_MNT[$side]}" 2>/dev/null
		fi
		[ -n "${AB_PID[$side]:-}" ] || continue
		for _ in $(seq 1 100); do
			kill -0 "${AB_PID[$side]}" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "${AB_PID[$side]}" 2>/dev/null
		wait "${AB_PID[$side]}" 2>/dev/null
	done
	if grep -qF " $MNT fuse" /proc/self/mounts 2>/dev/null; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT" 2>/dev/null
	fi
	if [ -n "$CREDFS_PID" ]; then
		for _ in $(seq 1 100); do
			kill -0 "$CREDFS_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$CREDFS_PID" 2>/dev/null
		wait "$CREDFS_PID" 2>/dev/null
	fi
	if [ "$PG_UP" = 1 ]; then
		"$SRC/scripts/pg-scratch.sh" stop "$PG_DIR" >/dev/null 2>&1
	fi
	if [ "$PG2_UP" = 1 ]; then
		"$SRC/scripts/pg-scratch.sh" stop "$PG2_DIR" >/dev/null 2>&1
	fi
	if [ "${BENCH_KEEP:-0}" = 1 ] || [ "$rc" -ne 0 ] || [ "$KEEP_WORK" = 1 ]; then
		say "work directory kept: $WORK (credfs log: $LOG)"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# problem MSG - a real error: reported in the table, and bench.sh exits 1.
problem() {
	say "PROBLEM: $*"
	PROBLEMS+=("$*")
}

now() { echo "$EPOCHREALTIME"; }
# elapsed T0 [T1] - seconds since T0 (until T1), 3 decimals.
elapsed() { awk -v a="$1" -v b="${2:-$EPOCHREALTIME}" 'BEGIN { printf "%.3f", b - a }'; }
# calc EXPR - awk arithmetic, printf-formatted by the caller's format in EXPR.
calc() { awk "BEGIN { $1 }"; }

# One binary for the whole run (the restart too), whatever happens to build/ meanwhile.
cp "$CREDFS_BIN" "$WORK/credfs"
CREDFS_SRC_BIN=$CREDFS_BIN
CREDFS_BIN=$WORK/credfs
if [ -n "$AB_BASE" ]; then
	cp "$AB_BASE" "$WORK/credfs-baseline"
fi

# ---- the helper program -----------------------------------------------------------

CB=$WORK/credbench
gcc -O2 -Wall -pthread -I"$("$PG_BINDIR/pg_config" --includedir)" -I"$SRC/core" -o "$CB" \
	"$SRC/scripts/bench/credbench.c" "$SRC/core/scram.c" -lpq -lsodium ||
	die "cannot build credbench (libpq-dev and libsodium-dev needed)"

# kv FILE KEY - the value of KEY=... in FILE (credbench output).
kv() { sed -n "s/^$2=//p" "$1" | head -n 1; }

# ---- PostgreSQL ------------------------------------------------------------------

say "starting a scratch PostgreSQL in $PG_DIR"
PG_UP=1
"$SRC/scripts/pg-scratch.sh" start "$PG_DIR" >&2 || die "scratch PostgreSQL did not start"
PG_PORT=$(cat "$PG_DIR/port")
export PGCONNECT_TIMEOUT=10
unset PGUSER PGPASSWORD PGDATABASE PGSERVICE PGPASSFILE PGHOST PGPORT

# apsql ARGS... - psql as superuser credfs_admin on wizard (tuples only).
apsql() {
	PGPASSWORD=admin "$PSQL" -h 127.0.0.1 -p "$PG_PORT" -U credfs_admin -d wizard \
		-XAtq -v ON_ERROR_STOP=1 "$@"
}

# count_roles LIKE - number of roles whose name matches LIKE.
count_roles() { apsql -c "SELECT count(*) FROM pg_roles WHERE rolname LIKE '$1'"; }

apsql <<-'EOF' || die "setting up the group role failed"
	CREATE ROLE app_readers NOLOGIN;
	GRANT SELECT ON coffees TO app_readers;
EOF

# A SCRAM verifier, as PostgreSQL makes them, for the raw side's logins.
apsql -c "CREATE ROLE \"p-verifier\" PASSWORD 'Pw-bench-verifier-000'" >/dev/null
VERIFIER=$(apsql -c "SELECT rolpassword FROM pg_authid WHERE rolname = 'p-verifier'")
apsql -c 'DROP ROLE "p-verifier"' >/dev/null
case "$VERIFIER" in SCRAM-SHA-256*) ;; *) die "no SCRAM verifier from PostgreSQL: $VERIFIER" ;; esac
CONNINFO="host=127.0.0.1 port=$PG_PORT user=credfs_admin password=admin dbname=wizard application_name=bench-raw"

# settle - the same starting point for every measured run.
settle() {
	apsql -c "VACUUM pg_authid" -c "VACUUM pg_auth_members" -c "CHECKPOINT" >/dev/null
}

# set_durability default|off
set_durability() {
	if [ "$1" = off ]; then
		apsql -c "ALTER SYSTEM SET synchronous_commit = off" >/dev/null
	else
		apsql -c "ALTER SYSTEM RESET synchronous_commit" >/dev/null
	fi
	apsql -c "SELECT pg_reload_conf()" >/dev/null
	sleep 0.5 # backends take the reload at their next command
	say "synchronous_commit = $(apsql -c 'SHOW synchronous_commit')"
}

# drop_roles LIKE - drop every role named LIKE, committing every 500.
drop_roles() {
	apsql -v pat="$1" >/dev/null <<-'EOF'
		SELECT set_config('bench.pat', :'pat', false);
		DO $bench$
		DECLARE r record; n int := 0;
		BEGIN
			FOR r IN SELECT rolname FROM pg_roles WHERE rolname LIKE current_setting('bench.pat') LOOP
				EXECUTE format('DROP ROLE %I', r.rolname);
				n := n + 1;
				IF n % 500 = 0 THEN COMMIT; END IF;
			END LOOP;
		END $bench$;
	EOF
}

# pg_expiration SECS - a VALID UNTIL value SECS (+5 s, as credfs) from now, credfs's shape.
pg_expiration() { date -u -d "@$(($(date +%s) + $1 + 5))" '+%Y-%m-%d %H:%M:%S+0000'; }

# ---- credfs --------------------------------------------------------------------------

daemon_alive() {
	[ -n "$CREDFS_PID" ] && kill -0 "$CREDFS_PID" 2>/dev/null &&
		[ "$(awk '{ print $3 }' "/proc/$CREDFS_PID/stat" 2>/dev/null)" != Z ]
}

show_log() {
	say "--- credfs log (last 20 lines, $LOG) ---"
	tail -n 20 "$LOG" >&2 || true
}

# check_daemon WHAT - die if the daemon is gone.
check_daemon() {
	if ! daemon_alive; then
		show_log
		die "credfs died during $1"
	fi
}

# mount_credfs [soft] - start credfs -f on $MNT with state $STATE; sets
# CREDFS_PID. A failure is fatal, or with soft returns 1 with the daemon's
# last words in MOUNT_ERR.
MOUNT_ERR=
mount_credfs() {
	local soft=${1:-}
	mkdir -p "$MNT" "$STATE"
	chmod 0700 "$STATE"
	echo "=== bench: credfs -f --state $STATE ${BENCH_CREDFS_ARGS:-} $MNT" >>"$LOG"
	# shellcheck disable=SC2086 # BENCH_CREDFS_ARGS is a word list
	"$CREDFS_BIN" -f --state "$STATE" ${BENCH_CREDFS_ARGS:-} "$MNT" 2>>"$LOG" </dev/null &
	CREDFS_PID=$!
	for _ in $(seq 1 600); do
		if [ -d "$MNT/config" ] && grep -qF " $MNT fuse" /proc/self/mounts; then
			return 0
		fi
		if ! daemon_alive; then
			show_log
			MOUNT_ERR=$(tail -n 1 "$LOG")
			wait "$CREDFS_PID" 2>/dev/null || true
			CREDFS_PID=
			[ "$soft" = soft ] && return 1
			die "credfs exited during startup: $MOUNT_ERR"
		fi
		sleep 0.01
	done
	show_log
	MOUNT_ERR="did not mount within 6 s"
	[ "$soft" = soft ] && return 1
	die "credfs did not mount within 6 s"
}

# umount_credfs - unmount, wait for the daemon to exit 0.
umount_credfs() {
	local rc=0
	fusermount3 -u "$MNT" || die "fusermount3 -u $MNT failed"
	for _ in $(seq 1 1200); do
		daemon_alive || break
		sleep 0.05
	done
	if daemon_alive; then
		show_log
		die "credfs did not exit within 60 s of the unmount"
	fi
	wait "$CREDFS_PID" || rc=$?
	CREDFS_PID=
	[ "$rc" -eq 0 ] || { show_log; problem "credfs exited with status $rc after unmount"; }
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$CREDFS_PID/status"; }
# fd_count - the daemon's open file descriptors.
fd_count() { find "/proc/$CREDFS_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
# cpu_ticks PID - the process's utime+stime, in clock ticks (all its threads).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

CREATE_SQL='CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '"'"'{{password}}'"'"' VALID UNTIL '"'"'{{expiration}}'"'"'; GRANT app_readers TO "{{name}}";'

# write_role NAME [EXTRA_LINE...] - a role on connection bench with the benchmark's creation SQL.
write_role() { write_role_on bench "$@"; }

# write_role_on CONNECTION NAME [EXTRA_LINE...] - the same on another connection
# (an EXTRA_LINE default_ttl=... or max_ttl=... overrides the 1h / 24h).
write_role_on() {
	local db=$1 name=$2 ttl=default_ttl=1h max=max_ttl=24h x lines=()
	shift 2
	for x in "$@"; do
		case "$x" in
		default_ttl=*) ttl=$x ;;
		max_ttl=*) max=$x ;;
		*) lines+=("$x") ;;
		esac
	done
	printf '%s\n' "db_name=$db" "creation_statements=$CREATE_SQL" "$ttl" "$max" "${lines[@]}" \
		>"$MNT/roles/$name" || die "writing roles/$name failed: $(tail -n 1 "$MNT/errors")"
}

# write_conn NAME PORT [EXTRA_LINE...] - a connection to the scratch
# PostgreSQL on PORT, credfs's defaults unless an EXTRA_LINE says otherwise.
write_conn() {
	local name=$1 port=$2
	shift 2
	printf '%s\n' plugin_name=postgresql-database-plugin 'allowed_roles=*' \
		"connection_url=postgresql://{{username}}:{{password}}@127.0.0.1:$port/wizard?sslmode=disable" \
		username=credfs_admin password=admin "password_authentication=$B_PWAUTH" "$@" \
		>"$MNT/config/$name" || die "writing config/$name failed: $(tail -n 1 "$MNT/errors")"
}

setup_credfs_defs() {
	write_conn bench "$PG_PORT" "max_open_connections=$B_POOL"
	# Issuance: cleanup between runs is a plain DROP ROLE (not measured).
	write_role iss 'revocation_statements=DROP ROLE IF EXISTS "{{name}}"'
	# Drain and scale: credfs's default, robust revocation.
	write_role drain
	write_role meta
	write_role scale
}

# wait_roles_gone LIKE TIMEOUT - poll PostgreSQL every 0.1 s until no role
# matches LIKE; prints the completion time (EPOCHREALTIME) or fails.
wait_roles_gone() {
	local like=$1 limit=$2 start=$EPOCHREALTIME n
	while :; do
		n=$(count_roles "$like")
		if [ "$n" = 0 ]; then
			now
			return 0
		fi
		if [ "$(elapsed "$start" | cut -d. -f1)" -ge "$limit" ]; then
			say "still $n roles like $like after ${limit}s"
			return 1
		fi
		check_daemon "revocation"
		sleep 0.1
	done
}

# revoke_all ROLE - rm every lease of ROLE and wait until PostgreSQL has none left.
revoke_all() {
	local out=$WORK/unlink.$1
	"$CB" unlinkall "$MNT/leases/$1" >"$out"
	[ "$(kv "$out" errors)" = 0 ] || problem "rm leases/$1/*: $(kv "$out" first_error)"
	wait_roles_gone 'v-%' 900 >/dev/null ||
		problem "credfs did not revoke every lease of $1 within 900 s"
}

# ---- results -----------------------------------------------------------------------------

declare -A R # result figures, by name

# verdict VALUE OP TARGET - "met" / "MISSED" (OP: ge or le), "-" without a value.
verdict() {
	case "$1" in failed) echo "MISSED"; return ;; '' | *[!0-9.]*) echo "-"; return ;; esac
	if awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN { exit !(op == "ge" ? v >= t : v <= t) }'; then
		echo "met"
	else
		echo "MISSED"
	fi
}

# ms MICROSECONDS - milliseconds, 2 decimals ("-" when empty).
ms() {
	case "$1" in '' | *[!0-9.]*) echo "-" ;; *) calc "printf \"%.2f\", $1 / 1000" ;; esac
}

# pct FILE Q - nearest-rank Q-quantile of the numbers in FILE (one a line, sorted).
pct() { awk -v q="$2" '{ v[NR] = $1 } END { if (!NR) { print 0; exit } r = int(q * NR + 0.999999); if (r < 1) r = 1; if (r > NR) r = NR; print v[r] }' "$1"; }

# ---- 1. issuance -----------------------------------------------------------------------

PGB_SCRIPT=$WORK/issue.sql
# The credfs role's creation_statements, as pgbench variables: a name unique
# per transaction (run tag, client, per-client sequence, random), what
# credfs puts for {{password}} (a SCRAM verifier, or a 20-character
# password), the expiration; both statements in one simple-query message
# (\;): one implicit transaction, one round trip, the cheapest PostgreSQL
# way. credfs sends "BEGIN;" and the statements, makes its lease durable
# meanwhile, then COMMIT: a second round trip that the raw side does not pay.
cat >"$PGB_SCRIPT" <<'EOF'
\set seq :seq + 1
\set rnd random(1000000000, 9999999999)
CREATE ROLE "p-pgbench-iss-:tag-:client_id-:seq-:rnd" WITH LOGIN PASSWORD ':pw' VALID UNTIL ':exp'\; GRANT app_readers TO "p-pgbench-iss-:tag-:client_id-:seq-:rnd";
EOF
if [ "$B_PWAUTH" = scram-sha-256 ]; then PGB_PW=$VERIFIER; else PGB_PW=Pw-bench-0123456789ab; fi

# RUN_PIN - a command prefix for the readers and pgbench (section 5: taskset).
RUN_PIN=()
# ISS_SECS - how long one issuance run lasts (BENCH_SECONDS; 1 s in sections 5 and 7 of the quick run).
ISS_SECS=$B_SECS

# run_credfs_issue MODE N [keep] - N readers of creds/iss for BENCH_SECONDS;
# the figures in R[iss_c_*_MODE_N]; then every lease revoked, unless keep.
run_credfs_issue() {
	local mode=$1 n=$2 out=$WORK/iss-credfs-$1-$2 c0 c1
	settle
	say "issuance [$mode] credfs N=$n for ${ISS_SECS}s"
	c0=$(cpu_ticks "$CREDFS_PID")
	"${RUN_PIN[@]}" "$CB" issue "$MNT/creds/iss" "$n" "$ISS_SECS" >"$out"
	c1=$(cpu_ticks "$CREDFS_PID")
	check_daemon "issuance"
	R[iss_c_cpu_${mode}_$n]=$(calc "o = $(kv "$out" ops) + 0; printf \"%.2f\", o ? ($c1 - $c0) * 1000 / $(getconf CLK_TCK) / o : 0")
	R[iss_c_rate_${mode}_$n]=$(kv "$out" rate)
	R[iss_c_p50_${mode}_$n]=$(ms "$(kv "$out" p50_us)")
	R[iss_c_p99_${mode}_$n]=$(ms "$(kv "$out" p99_us)")
	R[iss_c_ops_${mode}_$n]=$(kv "$out" ops)
	if [ "$(kv "$out" errors)" != 0 ]; then
		problem "credfs issuance [$mode N=$n]: $(kv "$out" errors) errors, first: $(kv "$out" first_error); errors file: $(tail -n 1 "$MNT/errors" 2>/dev/null)"
	fi
	say "  credfs: $(kv "$out" ops) creds, $(kv "$out" rate)/s, p50 ${R[iss_c_p50_${mode}_$n]} ms, p99 ${R[iss_c_p99_${mode}_$n]} ms, daemon CPU ${R[iss_c_cpu_${mode}_$n]} ms per credential"
	[ "${3:-}" = keep ] || revoke_all iss
}

run_raw_issue() {
	local mode=$1 n=$2 j out=$WORK/iss-raw-$1-$2 logdir=$WORK/pgblog-$1-$2 rc=0 lat
	j=$((n < 2 ? n : 2))
	mkdir -p "$logdir"
	settle
	say "issuance [$mode] pgbench N=$n -j $j for ${ISS_SECS}s"
	(cd "$logdir" && PGPASSWORD=admin "${RUN_PIN[@]}" "$PGBENCH" -h 127.0.0.1 -p "$PG_PORT" -U credfs_admin \
		-n -c "$n" -j "$j" -T "$ISS_SECS" -M simple -D seq=0 -D "tag=$mode$n" \
		-D "exp=$(pg_expiration 3600)" -D "pw=$PGB_PW" --log --log-prefix="$logdir/pgb" \
		-f "$PGB_SCRIPT" wizard) >"$out" 2>&1 || rc=$?
	lat=$WORK/lat-raw-$1-$2
	cat "$logdir"/pgb.* 2>/dev/null | awk '{ print $3 }' | sort -n >"$lat"
	R[iss_r_rate_${mode}_$n]=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$out" | head -n 1)
	R[iss_r_ops_${mode}_$n]=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
	R[iss_r_p50_${mode}_$n]=$(ms "$(pct "$lat" 0.50)")
	R[iss_r_p99_${mode}_$n]=$(ms "$(pct "$lat" 0.99)")
	if [ "$rc" -ne 0 ] || [ -z "${R[iss_r_rate_${mode}_$n]}" ] ||
		grep -qE '^number of failed transactions: [1-9]' "$out"; then
		problem "pgbench [$mode N=$n] failed (exit $rc): $(grep -iE 'error|abort|fail' "$out" | head -n 3 | tr '\n' ' ')"
	fi
	say "  pgbench: ${R[iss_r_ops_${mode}_$n]} creds, ${R[iss_r_rate_${mode}_$n]}/s, p50 ${R[iss_r_p50_${mode}_$n]} ms, p99 ${R[iss_r_p99_${mode}_$n]} ms"
	drop_roles 'p-%'
}

# What credfs pays for each SCRAM verifier (core/scram.c, as credfs computes
# it), alone and on every core at once; libpq's PQencryptPasswordConn beside it.
phase_scram_cost() {
	local out=$WORK/scram s=2
	[ "$QUICK" = 1 ] && s=0.5
	"$CB" scram "$CONNINFO" 1 "$s" >"$out.1"
	"$CB" scram "$CONNINFO" "$(nproc)" "$s" >"$out.n"
	"$CB" scram-libpq "$CONNINFO" 1 "$s" >"$out.libpq"
	R[scram_ms]=$(kv "$out.1" ms_each)
	R[scram_rate1]=$(kv "$out.1" rate)
	R[scram_raten]=$(kv "$out.n" rate)
	R[scram_libpq_ms]=$(kv "$out.libpq" ms_each)
	say "SCRAM verifier (credfs): ${R[scram_ms]} ms each; ${R[scram_rate1]}/s on 1 thread, ${R[scram_raten]}/s on $(nproc); libpq: ${R[scram_libpq_ms]} ms each"
}

phase_issuance() {
	local mode=$1 n k=0
	for n in $B_NS; do
		if [ "$(count_roles 'v-%')" != 0 ] || [ "$(count_roles 'p-%')" != 0 ]; then
			die "leftover logins before an issuance run"
		fi
		# Alternate who goes first, against drift (autovacuum, a neighbour's build).
		if [ $((k % 2)) = 0 ]; then
			run_credfs_issue "$mode" "$n"
			run_raw_issue "$mode" "$n"
		else
			run_raw_issue "$mode" "$n"
			run_credfs_issue "$mode" "$n"
		fi
		k=$((k + 1))
	done
}

# ---- 2. revocation drain -----------------------------------------------------------------

# The revocation credfs runs by default for one login (core/conn.c,
# conn_revoke_user) rendered for each login name on stdin: one line = one
# simple-query message (credbench rawsql), then the session termination. The
# drain's logins are members of a group role and nothing depends on them, so
# credfs's message is the login's oid lookup and DROP ROLE, and nothing more.
raw_revoke_sql() {
	awk '{ printf "SELECT oid FROM pg_roles WHERE rolname = '\''%s'\''; DROP ROLE IF EXISTS \"%s\";\n", $1, $1 }'
}

# raw_terminate_sql - the session termination credfs runs after a revocation.
raw_terminate_sql() {
	awk '{ printf "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '\''%s'\'' AND pid <> pg_backend_pid();\n", $1 }'
}

phase_drain() {
	local mode=$1 out=$WORK/drain-issue-$1 t0 t1 log0
	[ "$(count_roles 'v-%')" = 0 ] || die "leftover v- logins before the drain"
	say "drain [$mode]: issuing $B_DRAIN leases"
	"$CB" count "$MNT/creds/drain" "$B_POOL" "$B_DRAIN" >"$out"
	check_daemon "drain issuance"
	[ "$(kv "$out" errors)" = 0 ] ||
		problem "drain [$mode] issuance: $(kv "$out" errors) errors, first: $(kv "$out" first_error)"
	R[drain_n_$mode]=$(count_roles 'v-%')
	settle
	say "drain [$mode]: rm of every leases/drain/ID, waiting for PostgreSQL"
	log0=$(wc -l <"$LOG")
	t0=$(now)
	"$CB" unlinkall "$MNT/leases/drain" >"$out.rm"
	[ "$(kv "$out.rm" errors)" = 0 ] || problem "drain [$mode] rm: $(kv "$out.rm" first_error)"
	if t1=$(wait_roles_gone 'v-%' 1800); then
		R[drain_c_s_$mode]=$(elapsed "$t0" "$t1")
	else
		problem "drain [$mode]: credfs did not revoke $B_DRAIN leases within 1800 s"
		R[drain_c_s_$mode]=
	fi
	R[drain_c_rm_$mode]=$(kv "$out.rm" unlink_secs)
	# Revocations credfs had to retry (it logs each failure), and why.
	R[drain_c_fail_$mode]=$(tail -n +"$((log0 + 1))" "$LOG" | grep -c 'revocation failed' || true)
	R[drain_c_why_$mode]=$(tail -n +"$((log0 + 1))" "$LOG" | sed -n 's/.*revocation failed: //p' |
		sort | uniq -c | sort -rn | head -n 3 | awk '{ $1 = $1 "x"; print }' | paste -sd ';' -)
	say "  credfs: ${R[drain_n_$mode]} leases revoked in ${R[drain_c_s_$mode]:-?} s (rm loop ${R[drain_c_rm_$mode]} s; ${R[drain_c_fail_$mode]} failed attempts retried: ${R[drain_c_why_$mode]:-none})"

	# Raw: as many logins made by a plain script (same creation SQL shape; the
	# password given as a ready SCRAM verifier so that setup is quick), then
	# the revocation SQL in parallel sessions.
	say "drain [$mode]: raw setup of $B_DRAIN logins"
	apsql -v n="$B_DRAIN" -v v="$VERIFIER" -v exp="$(pg_expiration 3600)" >/dev/null <<-'EOF'
		SELECT set_config('bench.n', :'n', false), set_config('bench.v', :'v', false),
		       set_config('bench.exp', :'exp', false);
		DO $bench$
		DECLARE i int; u text;
		BEGIN
			FOR i IN 1 .. current_setting('bench.n')::int LOOP
				u := 'p-raw-drain-' || i || '-AbCdEfGhIjKlMnOpQrSt-1700000000';
				EXECUTE format('CREATE ROLE %I WITH LOGIN PASSWORD %L VALID UNTIL %L', u,
					       current_setting('bench.v'), current_setting('bench.exp'));
				EXECUTE format('GRANT app_readers TO %I', u);
				IF i % 500 = 0 THEN COMMIT; END IF;
			END LOOP;
		END $bench$;
	EOF
	R[drain_rn_$mode]=$(count_roles 'p-raw-drain-%')
	apsql -c "SELECT rolname FROM pg_roles WHERE rolname LIKE 'p-raw-drain-%'" >"$WORK/raw-names"
	# Per login: the revocation message, then the termination (interleaved).
	paste -d '\n' <(raw_revoke_sql <"$WORK/raw-names") <(raw_terminate_sql <"$WORK/raw-names") \
		>"$WORK/raw-drain.sql"
	settle
	say "drain [$mode]: raw revocation SQL over $B_DRAIN_SESSIONS connections"
	"$CB" rawsql "$CONNINFO" "$B_DRAIN_SESSIONS" "$WORK/raw-drain.sql" >"$out.raw"
	R[drain_r_s_$mode]=$(kv "$out.raw" secs)
	R[drain_r_retries_$mode]=$(kv "$out.raw" retries)
	[ "$(kv "$out.raw" errors)" = 0 ] ||
		problem "drain [$mode]: raw revocation: $(kv "$out.raw" errors) errors, first: $(kv "$out.raw" first_error)"
	[ "$(count_roles 'p-raw-drain-%')" = 0 ] || problem "drain [$mode]: raw logins left after the raw revocation"
	say "  raw: ${R[drain_rn_$mode]} logins revoked in ${R[drain_r_s_$mode]} s (${R[drain_r_retries_$mode]} messages retried after \"tuple concurrently updated\")"
}

# ---- 5. pinned issuance ------------------------------------------------------------------

PIN_PG= # the CPU PostgreSQL gets
PIN_REST= # credfs's, the readers' and pgbench's
PIN_ALL= # every CPU this script may use (restored afterwards)
PIN_NOTE=

# cpu_expand LIST - the CPUs of a taskset list ("0-2,5"), one a line.
cpu_expand() {
	tr ',' '\n' <<<"$1" | awk -F- 'NF == 2 { for (i = $1; i <= $2; i++) print i; next } NF { print $1 }'
}

# pg_pids DIR - the postmaster of the scratch PostgreSQL in DIR and its children.
pg_pids() {
	local pm
	pm=$(head -n 1 "$1/data/postmaster.pid" 2>/dev/null) || return 0
	[ -n "$pm" ] || return 0
	echo "$pm"
	ps -o pid= --ppid "$pm" | awk '{ print $1 }'
}

# pin CPUS PID... - every thread of each PID to CPUS (a process that is gone is skipped).
pin() {
	local cpus=$1 p
	shift
	for p in "$@"; do
		taskset -apc "$cpus" "$p" >/dev/null 2>&1 || true
	done
}

# pin_setup - PIN_PG, PIN_REST, PIN_ALL from this process's CPUs; 1 if fewer than 2.
pin_setup() {
	local cpus
	PIN_ALL=$(taskset -pc $$ | sed 's/.*: *//')
	mapfile -t cpus < <(cpu_expand "$PIN_ALL")
	if [ "${#cpus[@]}" -lt 2 ]; then
		PIN_NOTE="not run: this process may use only CPU(s) $PIN_ALL"
		return 1
	fi
	PIN_PG=${cpus[0]}
	PIN_REST=$(IFS=,; echo "${cpus[*]:1}")
	return 0
}

phase_pinned() {
	local n k=0 p
	if [ "$B_PIN" = 0 ]; then
		PIN_NOTE="not run (BENCH_PIN=0)"
		return
	fi
	if ! pin_setup; then
		say "pinned issuance: $PIN_NOTE"
		[ "$B_PIN" = 1 ] && problem "BENCH_PIN=1: pinned issuance $PIN_NOTE"
		return
	fi
	say "pinned issuance: PostgreSQL on CPU $PIN_PG; credfs, readers and pgbench on CPU(s) $PIN_REST"
	mapfile -t p < <(pg_pids "$PG_DIR")
	pin "$PIN_PG" "${p[@]}"
	pin "$PIN_REST" "$CREDFS_PID"
	RUN_PIN=(taskset -c "$PIN_REST")
	ISS_SECS=$B_LOAD_SECS
	for n in $B_PIN_NS; do
		if [ "$(count_roles 'v-%')" != 0 ] || [ "$(count_roles 'p-%')" != 0 ]; then
			die "leftover logins before a pinned issuance run"
		fi
		# Backends started since (autovacuum workers, psql) inherited the mask; check anyway.
		mapfile -t p < <(pg_pids "$PG_DIR")
		pin "$PIN_PG" "${p[@]}"
		if [ $((k % 2)) = 0 ]; then
			run_credfs_issue pin "$n"
			run_raw_issue pin "$n"
		else
			run_raw_issue pin "$n"
			run_credfs_issue pin "$n"
		fi
		k=$((k + 1))
	done
	RUN_PIN=()
	ISS_SECS=$B_SECS
	mapfile -t p < <(pg_pids "$PG_DIR")
	pin "$PIN_ALL" "${p[@]}" "$CREDFS_PID"
	R[pin_ran]=1
}

# ---- 6. concurrent openers -----------------------------------------------------------------

# openers_run CASE ROLE - BENCH_OPENERS openers of creds/ROLE at once, held
# until all returned; figures in R[op_*_CASE].
openers_run() {
	local c=$1 role=$2 out=$WORK/openers-$1 rel=$WORK/openers-$1.release
	local smp=$WORK/openers-$1.samples stop=$WORK/openers-$1.stop hpid spid t0 n
	rm -f "$rel" "$stop" "$smp"
	R[op_rss0_$c]=$(rss_kib)
	R[op_fd0_$c]=$(fd_count)
	say "openers [$c]: $B_OPENERS $B_OPENERS_MODE opening creds/$role at once"
	(while [ ! -e "$stop" ]; do
		echo "$(rss_kib) $(fd_count)"
		sleep 0.2
	done) >>"$smp" 2>/dev/null & # O_APPEND: the all-held sample is appended beside it
	spid=$!
	"$CB" hold "$MNT/creds/$role" "$B_OPENERS" "$B_OPENERS_MODE" "$rel" 900 >"$out" &
	hpid=$!
	t0=$EPOCHREALTIME
	until grep -q '^held=1' "$out" 2>/dev/null; do
		if ! kill -0 "$hpid" 2>/dev/null; then
			touch "$stop"
			wait "$spid" || true
			die "openers [$c]: credbench hold exited early: $(tr '\n' ' ' <"$out")"
		fi
		if [ "$(elapsed "$t0" | cut -d. -f1)" -ge 900 ]; then
			touch "$stop" "$rel"
			die "openers [$c]: not every open returned within 900 s"
		fi
		check_daemon "the concurrent opens"
		sleep 0.1
	done
	R[op_rssheld_$c]=$(rss_kib)
	R[op_fdheld_$c]=$(fd_count)
	echo "${R[op_rssheld_$c]} ${R[op_fdheld_$c]}" >>"$smp"
	touch "$rel"
	wait "$hpid" || problem "openers [$c]: credbench hold failed"
	touch "$stop"
	wait "$spid" || true
	check_daemon "the concurrent opens"
	R[op_rsspeak_$c]=$(awk '$1 > m { m = $1 } END { print m + 0 }' "$smp")
	R[op_fdpeak_$c]=$(awk '$2 > m { m = $2 } END { print m + 0 }' "$smp")
	sleep 1 # the let-gos (RELEASE and the openers' exits) reach the daemon
	R[op_rssclosed_$c]=$(rss_kib)
	R[op_fdclosed_$c]=$(fd_count)
	for n in ok errors errnos open_secs p50_us p99_us max_us released_secs first_error; do
		R[op_${n}_$c]=$(kv "$out" "$n")
	done
	R[op_why_$c]=
	if [ "${R[op_errors_$c]:-0}" != 0 ]; then
		R[op_why_$c]=$(tail -n 1 "$MNT/errors" 2>/dev/null | cut -c1-200)
	fi
	revoke_all "$role"
	R[op_rssrev_$c]=$(rss_kib)
	R[op_fdrev_$c]=$(fd_count)
	say "  ${R[op_ok_$c]} ok, ${R[op_errors_$c]} failed (${R[op_errnos_$c]:-none}) in ${R[op_open_secs_$c]} s; RSS ${R[op_rss0_$c]} -> peak ${R[op_rsspeak_$c]} -> ${R[op_rssrev_$c]} KiB; fds ${R[op_fd0_$c]} -> peak ${R[op_fdpeak_$c]} -> ${R[op_fdrev_$c]}"
}

phase_openers() {
	# credfs's defaults (max_open_connections 4, pool_timeout 5s), and a
	# connection sized for the crowd.
	write_conn crowd4 "$PG_PORT"
	write_conn crowd16 "$PG_PORT" max_open_connections=16 pool_timeout=10m
	write_role_on crowd4 crowd4 'revocation_statements=DROP ROLE IF EXISTS "{{name}}"'
	write_role_on crowd16 crowd16 'revocation_statements=DROP ROLE IF EXISTS "{{name}}"'
	[ "$(count_roles 'v-%')" = 0 ] || die "leftover v- logins before the openers"
	settle
	openers_run default crowd4
	settle
	openers_run sized crowd16
	if [ "${R[op_ok_sized]:-0}" != "$B_OPENERS" ]; then
		problem "openers: ${R[op_ok_sized]:-0} of $B_OPENERS opens succeeded on the connection sized for them (max_open_connections 16, pool_timeout 10m): ${R[op_errnos_sized]:-} ${R[op_why_sized]:-}"
	fi
	R[op_ran]=1
}

# ---- 7. a stopped database -----------------------------------------------------------------

# apsql2 ARGS... - apsql on the second PostgreSQL.
apsql2() {
	PGPASSWORD=admin "$PSQL" -h 127.0.0.1 -p "$PG2_PORT" -U credfs_admin -d wizard \
		-XAtq -v ON_ERROR_STOP=1 "$@"
}

# pg2_stop / pg2_cont - SIGSTOP / SIGCONT the second PostgreSQL, postmaster and backends.
pg2_stop() {
	mapfile -t STOPPED_PIDS < <(pg_pids "$PG2_DIR")
	[ "${#STOPPED_PIDS[@]}" -gt 0 ] || die "stopped database: no postmaster in $PG2_DIR"
	kill -STOP "${STOPPED_PIDS[@]}" || die "stopped database: kill -STOP failed"
	say "stopped database: SIGSTOP to ${#STOPPED_PIDS[@]} processes"
}
pg2_cont() {
	[ "${#STOPPED_PIDS[@]}" -gt 0 ] || return 0
	kill -CONT "${STOPPED_PIDS[@]}" 2>/dev/null || true
	STOPPED_PIDS=()
	say "stopped database: SIGCONT"
}

# stopped_round K - one stopped run: the other database SIGSTOPped, the
# hammer on it, N=4 on the healthy one (R[iss_c_*_stoppedK_4]); then SIGCONT,
# the hammer's end and every lease of both revoked.
stopped_round() {
	local k=$1 out=$WORK/hammer-$1 hpid p st=stopped
	pg2_stop
	# The hammer: from 1 s before the measurement until about 1 s after (settle included).
	"$CB" issue "$MNT/creds/stopped" "$B_HAMMER" "$((${B_LOAD_SECS%.*} + 3))" >"$out" &
	hpid=$!
	sleep 1 # the hammer's opens are queued in the stopped database's lane
	run_credfs_issue "stopped$k" 4 keep
	# Still stopped at the end of the measurement?
	for p in "${STOPPED_PIDS[@]}"; do
		[ "$(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null)" = T ] || st="NOT stopped (pid $p)"
	done
	pg2_cont
	[ "$st" = stopped ] || problem "stopped database: the second PostgreSQL was $st during round $k"
	wait "$hpid" || true
	R[stop_h_ok]=$((${R[stop_h_ok]:-0} + $(kv "$out" ops)))
	R[stop_h_err]=$((${R[stop_h_err]:-0} + $(kv "$out" errors)))
	p=$(kv "$out" errnos)
	[ -z "$p" ] || R[stop_h_errnos]+="${R[stop_h_errnos]:+,}$p"
	R[stop_h_max]=$(calc "a = $(kv "$out" max_us) / 1000; b = ${R[stop_h_max]:-0} + 0; printf \"%.2f\", (a > b ? a : b)")
	say "  hammer on the stopped one: $(kv "$out" ops) ok (after SIGCONT), $(kv "$out" errors) failed (${p:-none})"
	revoke_all iss
	"$CB" unlinkall "$MNT/leases/stopped" >/dev/null
	for _ in $(seq 1 600); do
		[ "$(apsql2 -c "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v-%'")" = 0 ] && return 0
		sleep 0.1
	done
	problem "stopped database: logins left on the second PostgreSQL after its leases were removed"
}

phase_stopped() {
	local out=$WORK/hammer k ratios=() h0 h1 rs med lo hi
	say "stopped database: a second scratch PostgreSQL in $PG2_DIR"
	PG2_UP=1
	"$SRC/scripts/pg-scratch.sh" start "$PG2_DIR" >&2 || die "the second scratch PostgreSQL did not start"
	PG2_PORT=$(cat "$PG2_DIR/port")
	apsql2 -c "CREATE ROLE app_readers NOLOGIN" >/dev/null || die "second PostgreSQL: setup failed"
	write_conn other "$PG2_PORT"
	write_role_on other stopped 'revocation_statements=DROP ROLE IF EXISTS "{{name}}"'
	# One credential from it first, so that credfs has a pooled connection
	# there (a stopped server then holds an issue, not only a connect).
	"$CB" count "$MNT/creds/stopped" 1 1 >"$out.warm"
	[ "$(kv "$out.warm" errors)" = 0 ] || die "stopped database: no credential from the second PostgreSQL: $(kv "$out.warm" first_error)"
	"$CB" unlinkall "$MNT/leases/stopped" >/dev/null
	[ "$(count_roles 'v-%')" = 0 ] || die "leftover v- logins before the stopped-database runs"

	# healthy0, stopped1, healthy1, ..., stoppedR, healthyR: each stopped run
	# against the mean of the healthy runs on either side of it.
	ISS_SECS=$B_LOAD_SECS
	run_credfs_issue healthy0 4
	for k in $(seq 1 "$B_STOP_ROUNDS"); do
		settle
		stopped_round "$k"
		run_credfs_issue "healthy$k" 4
		h0=${R[iss_c_rate_healthy$((k - 1))_4]:-}
		h1=${R[iss_c_rate_healthy${k}_4]:-}
		rs=${R[iss_c_rate_stopped${k}_4]:-}
		if [ -n "$h0" ] && [ -n "$h1" ] && [ -n "$rs" ]; then
			R[stop_ratio_$k]=$(calc "printf \"%.2f\", $rs / (($h0 + $h1) / 2)")
			ratios+=("${R[stop_ratio_$k]}")
		fi
		say "  round $k: N=4 on the healthy one ${h0:-?} / ${rs:-?} (other stopped) / ${h1:-?} creds/s: ratio ${R[stop_ratio_$k]:-?}"
	done
	ISS_SECS=$B_SECS
	if [ "${#ratios[@]}" -gt 0 ]; then
		read -r med lo hi < <(printf '%s\n' "${ratios[@]}" | sort -g |
			awk '{ v[NR] = $1 } END { printf "%.2f %.2f %.2f\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, v[1], v[NR] }')
		R[stop_ratio]=$med
		R[stop_min]=$lo
		R[stop_max]=$hi
	fi
	# Done with it: its definitions go, then the server.
	rm -f "$MNT/roles/stopped" "$MNT/config/other" 2>/dev/null || true
	"$SRC/scripts/pg-scratch.sh" stop "$PG2_DIR" >/dev/null 2>&1 || true
	PG2_UP=0
	say "  ratio stopped / healthy: median ${R[stop_ratio]:-?} over $B_STOP_ROUNDS round(s)"
	R[stop_ran]=1
}

# ---- 4. metadata -----------------------------------------------------------------------------

# pg_credfs_activity T - credfs backends that started a connection or a query at or after T.
pg_credfs_activity() {
	apsql -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'credfs'
		AND (backend_start >= '$1'::timestamptz OR query_start >= '$1'::timestamptz)"
}

pg_xacts() {
	apsql -c "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'wizard'"
}

phase_metadata() {
	local out=$WORK/meta id t0 x0 x1 seen n_meta=100
	[ "$QUICK" = 1 ] && n_meta=20
	say "metadata: $n_meta leases of role meta, then the loops (${B_META}s per operation)"
	"$CB" count "$MNT/creds/meta" 4 "$n_meta" >"$out.issue"
	[ "$(kv "$out.issue" errors)" = 0 ] || problem "metadata setup: $(kv "$out.issue" first_error)"
	id=$(find "$MNT/leases/meta" -mindepth 1 -maxdepth 1 -printf '%f\n' -quit)
	META_ID=$id
	[ -n "$id" ] || die "no lease in leases/meta"
	# An idle backend flushes its statistics up to 10 s late (PostgreSQL 15):
	# wait that out so that the xact delta below is about the loop alone.
	if [ "$QUICK" = 1 ]; then sleep 1.1; else sleep 11; fi
	# Calibration: this script's own probes, without the loop (every psql
	# session counts its connection start and its query).
	x0=$(pg_xacts)
	t0=$(apsql -c "SELECT now()")
	pg_credfs_activity "$t0" >/dev/null
	sleep 1.1
	x1=$(pg_xacts)
	R[meta_probe_xacts]=$((x1 - x0))
	x0=$(pg_xacts)
	t0=$(apsql -c "SELECT now()")
	"$CB" meta "$B_META" \
		"stat:$MNT/config/bench" "stat:$MNT/roles/meta" "stat:$MNT/leases/meta/$id" \
		"readdir:$MNT/config" "readdir:$MNT/roles" "readdir:$MNT/leases/meta" \
		"read:$MNT/config/bench" "read:$MNT/roles/meta" "read:$MNT/leases/meta/$id" >"$out"
	check_daemon "the metadata loop"
	seen=$(pg_credfs_activity "$t0")
	sleep 1.1
	x1=$(pg_xacts)
	R[meta_seen]=$seen
	R[meta_xacts]=$((x1 - x0 - R[meta_probe_xacts]))
	if [ "$seen" != 0 ]; then
		problem "metadata: PostgreSQL saw $seen credfs backend(s) work during the metadata loop"
	fi
	if grep -qE 'errors=[1-9]' "$out"; then
		problem "metadata: errors: $(grep -E 'errors=[1-9]' "$out" | head -n 2 | tr '\n' ' ')"
	fi
	# The detector works: one credential makes a credfs backend show up.
	t0=$(apsql -c "SELECT now()")
	"$CB" count "$MNT/creds/meta" 1 1 >/dev/null
	R[meta_selfcheck]=$([ "$(pg_credfs_activity "$t0")" != 0 ] && echo ok || echo "FAILED")
	[ "${R[meta_selfcheck]}" = ok ] || problem "metadata: the pg_stat_activity detector saw no issuance"
	cat "$out" >&2
}

# ---- 3. scale ------------------------------------------------------------------------------

phase_scale() {
	local out=$WORK/scale rss0 rss1 t0 n ls_times=() stop_s
	[ "$(count_roles 'v-%')" = 0 ] || revoke_all meta
	say "scale: issuing $B_SCALE leases"
	rss0=$(rss_kib)
	t0=$(now)
	"$CB" count "$MNT/creds/scale" "$B_POOL" "$B_SCALE" >"$out"
	check_daemon "scale issuance"
	[ "$(kv "$out" errors)" = 0 ] ||
		problem "scale issuance: $(kv "$out" errors) errors, first: $(kv "$out" first_error)"
	R[scale_issue_rate]=$(kv "$out" rate)
	R[scale_issue_s]=$(kv "$out" secs)
	sleep 1
	rss1=$(rss_kib)
	n=$(find "$MNT/leases/scale" -mindepth 1 -maxdepth 1 | wc -l) || n=0
	R[scale_n]=$n
	[ "$n" = "$B_SCALE" ] || problem "scale: leases/scale lists $n leases, expected $B_SCALE"
	R[scale_rss0]=$rss0
	R[scale_rss1]=$rss1
	R[scale_rss_per]=$(calc "printf \"%.0f\", ($rss1 - $rss0) * 1024 / $n")
	say "  RSS $rss0 KiB -> $rss1 KiB: ${R[scale_rss_per]} B per lease"
	for _ in 1 2 3; do
		t0=$(now)
		n=$(ls "$MNT/leases/scale" | wc -l) || n="ls failed"
		ls_times+=("$(elapsed "$t0")")
		[ "$n" = "${R[scale_n]}" ] || problem "scale: ls leases/scale listed $n, expected ${R[scale_n]}"
	done
	R[scale_ls]=$(printf '%s\n' "${ls_times[@]}" | sort -n | sed -n 2p) # median of 3
	R[scale_ls_all]="${ls_times[*]}"
	say "  ls leases/scale: ${ls_times[*]} s"

	# Restart with that state.
	if [ "${BENCH_RESTART:-1}" = 0 ]; then
		R[scale_restart]=n/a
		R[scale_restart_note]="skipped (BENCH_RESTART=0)"
		return
	fi
	say "scale: restart with $B_SCALE leases"
	t0=$(now)
	umount_credfs
	stop_s=$(elapsed "$t0")
	R[scale_stop]=$stop_s
	t0=$(now)
	if ! mount_credfs soft; then
		R[scale_restart]=failed
		R[scale_restart_note]="credfs did not start again with the state it wrote: $MOUNT_ERR (the state directory is kept: $STATE)"
		problem "restart with $B_SCALE leases: credfs did not start: $MOUNT_ERR"
		KEEP_WORK=1
		return
	fi
	R[scale_mount]=$(elapsed "$t0")
	if [ ! -e "$MNT/roles/scale" ] && [ -z "$(ls "$MNT/leases/scale" 2>/dev/null | head -n 1)" ]; then
		R[scale_restart]=n/a
		R[scale_restart_note]="credfs keeps no state across a restart yet (roles/ and leases/ empty after remount; mount itself took ${R[scale_mount]} s)"
		say "  ${R[scale_restart_note]}"
		return
	fi
	# State is back: the restart is done when every lease is listed again
	# (or, if some never come back, when the listing last changed: 10 s stable).
	local last=-1 t_last t_stable=$EPOCHREALTIME lost logins
	t_last=$(now)
	while :; do
		n=$(ls "$MNT/leases/scale" 2>/dev/null | wc -l) || n=0
		if [ "$n" != "$last" ]; then
			last=$n
			t_last=$(now)
			t_stable=$EPOCHREALTIME
		fi
		[ "$n" -ge "${R[scale_n]}" ] && break
		[ "$(elapsed "$t_stable" | cut -d. -f1)" -ge 10 ] && break
		check_daemon "restart"
		sleep 0.05
	done
	R[scale_restart]=$(elapsed "$t0" "$t_last")
	R[scale_restart_note]="unmount ${R[scale_stop]} s; exec to mounted ${R[scale_mount]} s; to $n of ${R[scale_n]} leases listed ${R[scale_restart]} s"
	if [ "$n" -lt "${R[scale_n]}" ]; then
		lost=$((R[scale_n] - n))
		logins=$(count_roles 'v-%')
		R[scale_restart_note]+="; $lost live lease(s) LOST by the restart while PostgreSQL still has $logins v- logins: credfs will never revoke $((logins - n)) of them (state kept in $STATE)"
		problem "restart with ${R[scale_n]} leases: only $n came back; $lost live leases lost, their logins left in PostgreSQL unmanaged"
		KEEP_WORK=1
	fi
	say "  restart: ${R[scale_restart_note]}"
}

# ---- the report ----------------------------------------------------------------------------

machine_info() {
	local cpu mem pgv credv commit dirty=""
	cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
	pgv=$("$PG_BINDIR/postgres" --version | awk '{ print $3 }')
	credv=$("$CREDFS_BIN" --version 2>/dev/null | head -n 1)
	commit=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)
	if [ -n "$(git -C "$SRC" status --porcelain --untracked-files=no -- core fs 2>/dev/null)" ]; then
		dirty=" + uncommitted changes in core/ fs/"
	fi
	echo "| machine | $(hostname -s 2>/dev/null || echo ?) |"
	echo "| CPU | ${cpu:-unknown}, nproc $(nproc) |"
	echo "| memory | $mem |"
	echo "| kernel | $(uname -sr) |"
	echo "| storage of PostgreSQL and credfs's state | $(df -PT "$WORK" | awk 'NR == 2 { print $2 " on " $1 }'); one 8 KiB O_DSYNC write: ${DSYNC_MS:-?} ms |"
	echo "| PostgreSQL | $pgv (pg-scratch defaults: shared_buffers 64MB, fsync on) |"
	echo "| credfs | ${credv:-?}, git $commit$dirty ($CREDFS_SRC_BIN, built $(date -u -r "$CREDFS_SRC_BIN" '+%Y-%m-%d %H:%M UTC')) |"
	echo "| date | $(date -u '+%Y-%m-%d %H:%M UTC') |"
	echo "| load average (1 min) | at start $LOAD0, at end $(cut -d' ' -f1 /proc/loadavg) |"
}

report() {
	local mode n cr rr ratio cp99 rp99 p99r label c k
	echo "# credfs benchmark results"
	echo
	if [ "$QUICK" = 1 ]; then
		echo "**Quick (smoke) mode** (BENCH_QUICK=1): tiny sizes, numbers are not meaningful."
		echo
	fi
	echo "| | |"
	echo "|---|---|"
	machine_info
	echo "| run | BENCH_SECONDS=$B_SECS, N=\"$B_NS\", drain $B_DRAIN, scale $B_SCALE, raw drain sessions $B_DRAIN_SESSIONS, credfs pool $B_POOL, password_authentication=$B_PWAUTH; pinned N=\"$B_PIN_NS\", openers $B_OPENERS ($B_OPENERS_MODE), stopped-database hammer $B_HAMMER$([ -n "${BENCH_ONLY:-}" ] && echo "; sections: $B_ONLY") |"
	echo
	echo "Numbers from a shared machine are noisy (other builds and tests run beside it): compare the ratios, which come from the same run, more than the absolute figures."
	echo
	if ran issuance; then
		echo "## 1. Issuance: creds/s, credfs (open+read+close of creds/ROLE) vs pgbench (-M simple, the same creation transaction)"
		echo
		echo "| durability | N | credfs creds/s | raw creds/s | ratio (target >= 0.95) | credfs p50 ms | raw p50 ms | credfs p99 ms | raw p99 ms | p99 ratio (target <= 1.2) |"
		echo "|---|---|---|---|---|---|---|---|---|---|"
		for mode in default off; do
			label=$([ "$mode" = off ] && echo "synchronous_commit=off" || echo "default")
			for n in $B_NS; do
				cr=${R[iss_c_rate_${mode}_$n]:-}
				rr=${R[iss_r_rate_${mode}_$n]:-}
				cp99=${R[iss_c_p99_${mode}_$n]:-}
				rp99=${R[iss_r_p99_${mode}_$n]:-}
				ratio=-
				p99r=-
				[ -n "$cr" ] && [ -n "$rr" ] && ratio=$(calc "printf \"%.2f\", $cr / $rr")
				[ -n "$cp99" ] && [ -n "$rp99" ] && p99r=$(calc "printf \"%.2f\", $cp99 / ($rp99 > 0 ? $rp99 : 0.001)")
				printf '| %s | %s | %.0f | %.0f | %s (%s) | %s | %s | %s | %s | %s (%s) |\n' \
					"$label" "$n" "${cr:-0}" "${rr:-0}" "$ratio" "$(verdict "$ratio" ge 0.95)" \
					"${R[iss_c_p50_${mode}_$n]:--}" "${R[iss_r_p50_${mode}_$n]:--}" \
					"${cp99:--}" "${rp99:--}" "$p99r" "$(verdict "$p99r" le 1.2)"
			done
		done
		echo
		echo "Creation SQL (both): \`$CREATE_SQL\` -- raw: one simple-query message per credential; credfs: BEGIN and the statements in one message, its lease made durable meanwhile, then COMMIT. Raw: pgbench -n -c N -j min(N,2) -T $B_SECS -M simple; latencies from --log. credfs: $B_POOL pooled connections."
		echo
		if [ "$B_PWAUTH" = scram-sha-256 ]; then
			echo "password_authentication=scram-sha-256 (credfs's default): credfs computes each login's SCRAM verifier itself and sends it as {{password}}; pgbench sends a verifier too (one, computed beforehand), so PostgreSQL's work is the same and the verifier is credfs's own cost. That cost alone (core/scram.c: PBKDF2-HMAC-SHA256, 4096 iterations, on the CPU's SHA extensions where present): ${R[scram_ms]:-?} ms each on one thread (${R[scram_rate1]:-?}/s), ${R[scram_raten]:-?}/s on $(nproc) threads; libpq's PQencryptPasswordConn, which credfs used before, ${R[scram_libpq_ms]:-?} ms each. BENCH_PWAUTH=password compares with the password sent in clear and hashed by PostgreSQL on both sides."
		else
			echo "password_authentication=password: both sides send a 20-character password and PostgreSQL computes its SCRAM verifier (password_encryption=scram-sha-256). For reference, credfs's client-side SCRAM verifier (its default mode) costs ${R[scram_ms]:-?} ms each on one thread (${R[scram_rate1]:-?}/s), ${R[scram_raten]:-?}/s on $(nproc) threads."
		fi
		echo
	fi
	if ran drain; then
		echo "## 2. Revocation drain: $B_DRAIN leases due at once"
		echo
		echo "| durability | leases | credfs s | credfs revocations/s | credfs failed attempts (retried) | raw s | raw revocations/s | raw messages retried | ratio raw time / credfs time (target >= 0.9) |"
		echo "|---|---|---|---|---|---|---|---|---|"
		for mode in default off; do
			label=$([ "$mode" = off ] && echo "synchronous_commit=off" || echo "default")
			local cs=${R[drain_c_s_$mode]:-} rs=${R[drain_r_s_$mode]:-} cps=- rps=- dr=-
			[ -n "$cs" ] && cps=$(calc "printf \"%.0f\", ${R[drain_n_$mode]} / ($cs > 0 ? $cs : 0.001)")
			[ -n "$rs" ] && rps=$(calc "printf \"%.0f\", ${R[drain_rn_$mode]:-0} / ($rs > 0 ? $rs : 0.001)")
			[ -n "$cs" ] && [ -n "$rs" ] && dr=$(calc "printf \"%.2f\", $rs / ($cs > 0 ? $cs : 0.001)")
			printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s (%s) |\n' "$label" "${R[drain_n_$mode]:--}" \
				"${cs:--}" "$cps" "${R[drain_c_fail_$mode]:--}" "${rs:--}" "$rps" \
				"${R[drain_r_retries_$mode]:--}" "$dr" "$(verdict "$dr" ge 0.9)"
		done
		echo
		echo "credfs: \`rm\` of every leases/drain/ID in one loop (${R[drain_c_rm_default]:-?} s / ${R[drain_c_rm_off]:-?} s of it), timed until pg_roles has none of the logins; revocation is credfs's default: for these logins (members of a group role, nothing depends on them) one message with the login's oid lookup and DROP ROLE, then the end of the login's sessions. Raw: the same messages over $B_DRAIN_SESSIONS connections (credfs's revocation worker count), a message that fails with \"tuple concurrently updated\" retried at once. credfs's time includes the \`rm\` loop that makes the leases due, which the raw side does not have."
		for mode in default off; do
			if [ -n "${R[drain_c_why_$mode]:-}" ]; then
				echo
				echo "credfs's failed revocation attempts [$mode], by reason: ${R[drain_c_why_$mode]}"
			fi
		done
		echo
	fi
	if ran scale; then
		echo "## 3. Scale: ${R[scale_n]:-$B_SCALE} live leases"
		echo
		echo "| figure | value | target |"
		echo "|---|---|---|"
		echo "| issuing them ($B_POOL readers, synchronous_commit=off) | ${R[scale_issue_s]:--} s (${R[scale_issue_rate]:--} creds/s) | |"
		echo "| daemon RSS before / after | ${R[scale_rss0]:--} KiB / ${R[scale_rss1]:--} KiB | |"
		echo "| RSS per live lease | ${R[scale_rss_per]:--} B | <= 1024 B ($(verdict "${R[scale_rss_per]:-}" le 1024)) |"
		echo "| \`ls leases/scale\` (median of 3: ${R[scale_ls_all]:-}) | ${R[scale_ls]:--} s | <= 0.5 s ($(verdict "${R[scale_ls]:-}" le 0.5)) |"
		echo "| restart with that state (exec until every lease is listed) | ${R[scale_restart]:-n/a}$(case "${R[scale_restart]:-}" in *[0-9]) echo " s" ;; esac) | <= 2 s ($(verdict "${R[scale_restart]:-}" le 2)) |"
		echo
		echo "Restart: ${R[scale_restart_note]:-not measured}."
		echo
	fi
	if ran metadata; then
		echo "## 4. Metadata: operations per second (one thread; attr_timeout=0, so every stat reaches credfs)"
		echo
		echo "| operation | path | ops/s |"
		echo "|---|---|---|"
		if [ -f "$WORK/meta" ]; then
			awk -v m="$MNT/" -v id="$META_ID" '$1 == "meta" {
				p = $3; if (index(p, m) == 1) p = substr(p, length(m) + 1)
				if (id != "" && substr(p, length(p) - length(id) + 1) == id) p = substr(p, 1, length(p) - length(id)) "ID"
				r = $6; sub(/rate=/, "", r); printf "| %s | %s | %s |\n", $2, p, r }' "$WORK/meta"
		fi
		echo
		echo "| check | value | target |"
		echo "|---|---|---|"
		echo "| credfs backends that connected or ran a query during the loop (pg_stat_activity) | ${R[meta_seen]:--} | 0 ($(verdict "${R[meta_seen]:-}" le 0)) |"
		echo "| xact_commit+xact_rollback delta of db wizard over the loop (this script's probes subtracted, ${R[meta_probe_xacts]:-?} measured without the loop$([ "$QUICK" = 1 ] && echo "; quick mode does not wait out PostgreSQL's 10 s statistics flush, so earlier work shows here")) | ${R[meta_xacts]:--} | 0 |"
		echo "| detector self-check (one issuance is seen) | ${R[meta_selfcheck]:--} | ok |"
		echo
	fi
	if ran pin; then
		echo "## 5. Pinned issuance: PostgreSQL on a CPU of its own, default durability"
		echo
		if [ -z "${R[pin_ran]:-}" ]; then
			echo "${PIN_NOTE:-not run}."
		else
			echo "PostgreSQL (postmaster and every backend) on CPU $PIN_PG; credfs, the readers and pgbench on CPU(s) $PIN_REST. Runs of ${B_LOAD_SECS} s each, credfs and pgbench in turn, the first alternating with N."
			echo
			echo "| N | credfs creds/s | raw creds/s | ratio (target >= 0.97) | credfs p50 ms | raw p50 ms | credfs p99 ms | raw p99 ms | p99 ratio (target <= 1.1) | credfs CPU per credential ms |"
			echo "|---|---|---|---|---|---|---|---|---|---|"
			for n in $B_PIN_NS; do
				cr=${R[iss_c_rate_pin_$n]:-}
				rr=${R[iss_r_rate_pin_$n]:-}
				cp99=${R[iss_c_p99_pin_$n]:-}
				rp99=${R[iss_r_p99_pin_$n]:-}
				ratio=-
				p99r=-
				[ -n "$cr" ] && [ -n "$rr" ] && ratio=$(calc "printf \"%.2f\", $cr / $rr")
				[ -n "$cp99" ] && [ -n "$rp99" ] && p99r=$(calc "printf \"%.2f\", $cp99 / ($rp99 > 0 ? $rp99 : 0.001)")
				printf '| %s | %.0f | %.0f | %s (%s) | %s | %s | %s | %s | %s (%s) | %s |\n' \
					"$n" "${cr:-0}" "${rr:-0}" "$ratio" "$(verdict "$ratio" ge 0.97)" \
					"${R[iss_c_p50_pin_$n]:--}" "${R[iss_r_p50_pin_$n]:--}" \
					"${cp99:--}" "${rp99:--}" "$p99r" "$(verdict "$p99r" le 1.1)" "${R[iss_c_cpu_pin_$n]:--}"
			done
			echo
			echo "credfs CPU per credential: the daemon's utime+stime over the run / its credentials (release handling and the verifier pool's refills during the run included)."
		fi
		echo
	fi
	if ran openers; then
		echo "## 6. $B_OPENERS concurrent openers of one role ($B_OPENERS_MODE), each holding its file until all have returned"
		echo
		echo "| connection | ok | failed (errno) | until the last open returned s | open+read p50 / p99 / max ms | daemon RSS KiB: before / peak / all held / closed / revoked | daemon fds: before / peak / all held / closed / revoked |"
		echo "|---|---|---|---|---|---|---|"
		for c in default sized; do
			label=$([ "$c" = default ] && echo "credfs's defaults: max_open_connections 4, pool_timeout 5s" || echo "max_open_connections 16, pool_timeout 10m")
			printf '| %s | %s | %s | %s | %s / %s / %s | %s / %s / %s / %s / %s | %s / %s / %s / %s / %s |\n' "$label" \
				"${R[op_ok_$c]:--}" "${R[op_errors_$c]:--}$([ -n "${R[op_errnos_$c]:-}" ] && echo " (${R[op_errnos_$c]})")" \
				"${R[op_open_secs_$c]:--}" "$(ms "${R[op_p50_us_$c]:-}")" "$(ms "${R[op_p99_us_$c]:-}")" "$(ms "${R[op_max_us_$c]:-}")" \
				"${R[op_rss0_$c]:--}" "${R[op_rsspeak_$c]:--}" "${R[op_rssheld_$c]:--}" "${R[op_rssclosed_$c]:--}" "${R[op_rssrev_$c]:--}" \
				"${R[op_fd0_$c]:--}" "${R[op_fdpeak_$c]:--}" "${R[op_fdheld_$c]:--}" "${R[op_fdclosed_$c]:--}" "${R[op_fdrev_$c]:--}"
		done
		echo
		echo "Peak: the highest of the samples taken every 0.2 s while the openers ran. Closed: 1 s after every opener closed its file$([ "$B_OPENERS_MODE" = procs ] && echo " and exited"); revoked: after \`rm\` of every lease and PostgreSQL dropped the logins."
		for c in default sized; do
			[ -n "${R[op_why_$c]:-}" ] && echo && echo "Last failure in \`errors\` ($c): ${R[op_why_$c]}"
		done
		echo
	fi
	if ran stopped; then
		echo "## 7. A stopped database: issuance on a healthy one beside it"
		echo
		echo "| run (${B_LOAD_SECS} s each) | N=4 creds/s on the healthy database | p99 ms | ratio to the mean of the healthy runs beside it |"
		echo "|---|---|---|---|"
		echo "| both healthy | ${R[iss_c_rate_healthy0_4]:--} | ${R[iss_c_p99_healthy0_4]:--} | |"
		for k in $(seq 1 "$B_STOP_ROUNDS"); do
			echo "| the other SIGSTOPped, $B_HAMMER readers on it | ${R[iss_c_rate_stopped${k}_4]:--} | ${R[iss_c_p99_stopped${k}_4]:--} | ${R[stop_ratio_$k]:--} |"
			echo "| both healthy | ${R[iss_c_rate_healthy${k}_4]:--} | ${R[iss_c_p99_healthy${k}_4]:--} | |"
		done
		echo "| **median ratio stopped / healthy** (min / max) (target >= 0.9) | | | ${R[stop_ratio]:--} (${R[stop_min]:--} / ${R[stop_max]:--}) ($(verdict "${R[stop_ratio]:-}" ge 0.9)) |"
		echo
		echo "Two connections, each to its own scratch PostgreSQL (the other with credfs's defaults: max_open_connections 4, pool_timeout 5s, connect_timeout 3, issue_timeout 10s). The other's postmaster and backends were SIGSTOPped through each stopped run (checked: state T at its end); its $B_HAMMER readers (open+read+close of its role in a loop, started 1 s before each stopped run, for $((${B_LOAD_SECS%.*} + 3)) s) got ${R[stop_h_ok]:--} credentials in all (after SIGCONT: none can be issued while it is stopped) and ${R[stop_h_err]:--} failed opens (${R[stop_h_errnos]:-none}; the longest open ${R[stop_h_max]:--} ms)."
		echo
	fi
	if [ "${#PROBLEMS[@]}" -gt 0 ]; then
		echo "## Errors"
		echo
		for p in "${PROBLEMS[@]}"; do echo "- $p"; done
	else
		echo "No errors: every credential was issued, every lease revoked, nothing touched PostgreSQL during the metadata loop."
	fi
}

# ---- A/B mode: issuance of a baseline build against this one ------------------------------

# ab_helper - build $WORK/abissue, credbench's issue loop (open + read to EOF +
# close, the same checks) for two files in turn:
#   abissue THREADS SECONDS SLICE LATPREFIX FILE_A FILE_B
# THREADS threads issue from FILE_A for SLICE seconds, then (once every
# thread's last open+read+close is done) from FILE_B for SLICE seconds, and so
# on until each file had SECONDS. Prints key=value lines per file (a_ and b_:
# ops, errors, secs, rate, quantiles in us of the whole cycle, of open() and
# of close()) and writes "open_ns close_ns cycle_ns" per credential to
# LATPREFIX.a and LATPREFIX.b.
ab_helper() {
	cat >"$WORK/abissue.c" <<'EOF'
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct rec { uint32_t open_ns, close_ns, cycle_ns; };
struct worker {
	pthread_t tid;
	struct rec *r[2];
	size_t n[2], cap[2];
	unsigned long errors[2];
};

static const char *g_files[2];
static int g_side, g_stop;
static uint64_t g_deadline;
static pthread_barrier_t g_start, g_end; /* set by main between the barriers */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_first_error[256];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t u32(uint64_t v) { return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v; }

static int fail(const char *file, const char *what, int err)
{
	pthread_mutex_lock(&g_mu);
	if (!g_first_error[0])
		snprintf(g_first_error, sizeof(g_first_error), "%s: %s: %s", file, what,
			 err ? strerror(err) : "bad content");
	pthread_mutex_unlock(&g_mu);
	return err ? err : -1;
}

/* One open+read-to-EOF+close of file, timed into *rec; 0 or an error. */
static int issue_once(const char *file, struct rec *rec)
{
	char buf[4096];
	uint64_t t0, t1, t2, t3;
	size_t got = 0;
	ssize_t k;
	int fd, err = 0;

	t0 = now_ns();
	fd = open(file, O_RDONLY | O_CLOEXEC);
	t1 = now_ns();
	if (fd < 0)
		return fail(file, "open", errno);
	for (;;) {
		k = read(fd, buf + (got < sizeof(buf) ? got : 0),
			 got < sizeof(buf) ? sizeof(buf) - got : sizeof(buf));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			err = fail(file, "read", errno);
			break;
		}
		if (k == 0)
			break;
		got += (size_t)k;
	}
	t2 = now_ns();
	if (close(fd) != 0 && !err)
		err = fail(file, "close", errno);
	t3 = now_ns();
	if (!err && (got == 0 || got > sizeof(buf) || !memmem(buf, got, "\"username\"", 10)))
		err = fail(file, "read", 0);
	*rec = (struct rec){ u32(t1 - t0), u32(t3 - t2), u32(t3 - t0) };
	return err;
}

static void *worker(void *arg)
{
	struct worker *w = arg;

	for (;;) {
		int s;
		uint64_t deadline;

		pthread_barrier_wait(&g_start);
		if (g_stop)
			break;
		s = g_side;
		deadline = g_deadline;
		while (now_ns() < deadline) {
			struct rec rec;

			if (issue_once(g_files[s], &rec) != 0) {
				w->errors[s]++;
				usleep(10000);
				continue;
			}
			if (w->n[s] == w->cap[s]) {
				w->cap[s] = w->cap[s] ? w->cap[s] * 2 : 4096;
				if (!(w->r[s] = realloc(w->r[s], w->cap[s] * sizeof(*w->r[s])))) {
					perror("abissue: realloc");
					exit(2);
				}
			}
			w->r[s][w->n[s]++] = rec;
		}
		pthread_barrier_wait(&g_end);
	}
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorts v; prints PFX_p50_us, PFX_p99_us, PFX_max_us (nearest rank). */
static void quant(const char *pfx, uint32_t *v, size_t n)
{
	static const double q[] = { 0.50, 0.99 };
	static const char *qn[] = { "p50", "p99" };

	qsort(v, n, sizeof(*v), cmp);
	for (int i = 0; i < 2; i++) {
		size_t rank = (size_t)(q[i] * (double)n + 0.999999);

		rank = rank < 1 ? 1 : rank > n ? n : rank;
		printf("%s%s_us=%.1f\n", pfx, qn[i], n ? v[rank - 1] / 1000.0 : 0.0);
	}
	printf("%smax_us=%.1f\n", pfx, n ? v[n - 1] / 1000.0 : 0.0);
}

int main(int argc, char **argv)
{
	struct worker *w;
	double secs[2] = { 0, 0 }, slice;
	int threads, slices;
	char path[4096];

	if (argc != 7) {
		fprintf(stderr, "usage: abissue THREADS SECONDS SLICE LATPREFIX FILE_A FILE_B\n");
		return 2;
	}
	threads = atoi(argv[1]);
	slice = atof(argv[3]);
	if (threads < 1 || slice <= 0 || !(w = calloc((size_t)threads, sizeof(*w))))
		return 2;
	slices = (int)ceil(atof(argv[2]) / slice - 1e-9);
	slices = slices < 1 ? 1 : slices;
	g_files[0] = argv[5];
	g_files[1] = argv[6];
	pthread_barrier_init(&g_start, NULL, (unsigned)threads + 1);
	pthread_barrier_init(&g_end, NULL, (unsigned)threads + 1);
	for (int i = 0; i < threads; i++)
		if (pthread_create(&w[i].tid, NULL, worker, &w[i]) != 0)
			return 2;
	for (int i = 0; i < 2 * slices; i++) {
		uint64_t t0 = now_ns();

		g_side = i % 2;
		g_deadline = t0 + (uint64_t)(slice * 1e9);
		pthread_barrier_wait(&g_start);
		pthread_barrier_wait(&g_end);
		secs[i % 2] += (now_ns() - t0) / 1e9;
	}
	g_stop = 1;
	pthread_barrier_wait(&g_start);
	for (int i = 0; i < threads; i++)
		pthread_join(w[i].tid, NULL);
	for (int s = 0; s < 2; s++) {
		size_t total = 0, off = 0;
		unsigned long errors = 0;
		uint32_t *v[3];
		char pfx[16];
		FILE *f;

		for (int i = 0; i < threads; i++) {
			total += w[i].n[s];
			errors += w[i].errors[s];
		}
		snprintf(path, sizeof(path), "%s.%c", argv[4], "ab"[s]);
		if (!(f = fopen(path, "w")))
			return 2;
		for (int j = 0; j < 3; j++)
			if (!(v[j] = malloc((total ? total : 1) * sizeof(uint32_t))))
				return 2;
		for (int i = 0; i < threads; i++)
			for (size_t k = 0; k < w[i].n[s]; k++, off++) {
				const struct rec *r = &w[i].r[s][k];

				v[0][off] = r->cycle_ns;
				v[1][off] = r->open_ns;
				v[2][off] = r->close_ns;
				fprintf(f, "%u %u %u\n", r->open_ns, r->close_ns, r->cycle_ns);
			}
		fclose(f);
		printf("%c_ops=%zu\n%c_errors=%lu\n%c_secs=%.3f\n%c_rate=%.1f\n", "ab"[s], total,
		       "ab"[s], errors, "ab"[s], secs[s], "ab"[s], total / secs[s]);
		snprintf(pfx, sizeof(pfx), "%c_", "ab"[s]);
		quant(pfx, v[0], total);
		snprintf(pfx, sizeof(pfx), "%c_open_", "ab"[s]);
		quant(pfx, v[1], total);
		snprintf(pfx, sizeof(pfx), "%c_close_", "ab"[s]);
		quant(pfx, v[2], total);
	}
	printf("slices=%d\nfirst_error=%s\n", slices, g_first_error);
	return 0;
}
EOF
	gcc -O2 -Wall -pthread -o "$WORK/abissue" "$WORK/abissue.c" -lm ||
		die "cannot build the A/B load generator"
}

# ab_use SIDE - point MNT, STATE, LOG, CREDFS_BIN and CREDFS_PID at SIDE's
# daemon (baseline or current), so that mount_credfs and check_daemon act on it.
ab_use() {
	MNT=${AB_MNT[$1]}
	STATE=$WORK/state-$1
	LOG=$WORK/credfs-$1.log
	CREDFS_PID=${AB_PID[$1]:-}
	if [ "$1" = baseline ]; then CREDFS_BIN=$WORK/credfs-baseline; else CREDFS_BIN=$WORK/credfs; fi
}

# ab_mount SIDE - mount SIDE's daemon with its own state directory, and
# define the connection and the issuance role on it.
ab_mount() {
	AB_MNT[$1]=$WORK/mnt-$1
	ab_use "$1"
	mount_credfs
	AB_PID[$1]=$CREDFS_PID
	printf '%s\n' plugin_name=postgresql-database-plugin 'allowed_roles=*' \
		"connection_url=postgresql://{{username}}:{{password}}@127.0.0.1:$PG_PORT/wizard?sslmode=disable" \
		username=credfs_admin password=admin "max_open_connections=$B_POOL" \
		"password_authentication=$B_PWAUTH" \
		>"$MNT/config/bench" || die "$1: writing config/bench failed: $(tail -n 1 "$MNT/errors")"
	write_role iss 'revocation_statements=DROP ROLE IF EXISTS "{{name}}"'
	say "A/B: $1 mounted on $MNT (pid $CREDFS_PID): $("$CREDFS_BIN" --version 2>/dev/null | head -n 1)"
}

# ab_ticks PID - the process's utime+stime, in clock ticks.
ab_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# ab_quiesce - wait (up to 30 s) until neither daemon used CPU for 0.3 s.
ab_quiesce() {
	local t0=$EPOCHREALTIME a b s
	a=$(for s in "${!AB_PID[@]}"; do ab_ticks "${AB_PID[$s]}"; done | paste -sd' ')
	while :; do
		sleep 0.3
		b=$(for s in "${!AB_PID[@]}"; do ab_ticks "${AB_PID[$s]}"; done | paste -sd' ')
		[ "$a" = "$b" ] && return 0
		if [ "$(elapsed "$t0" | cut -d. -f1)" -ge 30 ]; then
			say "A/B: the daemons were still busy after 30 s; measuring anyway"
			return 0
		fi
		a=$b
	done
}

# ab_round N ROUND FIRST SECOND - one round: both sides in alternating
# slices, FIRST's first; the figures in R[ab_*_SIDE_N_ROUND].
ab_round() {
	local n=$1 r=$2 out=$WORK/ab/$1-$2 side k c0 c1
	local -A sl=([$3]=a [$4]=b)
	[ "$(count_roles 'v-%')" = 0 ] || die "leftover logins before an A/B round"
	settle
	ab_quiesce
	c0=$(ab_ticks "${AB_PID[baseline]}"):$(ab_ticks "${AB_PID[current]}")
	"$WORK/abissue" "$n" "$AB_SECS" "$AB_SLICE" "$out.lat" \
		"${AB_MNT[$3]}/creds/iss" "${AB_MNT[$4]}/creds/iss" >"$out"
	c1=$(ab_ticks "${AB_PID[baseline]}"):$(ab_ticks "${AB_PID[current]}")
	for side in baseline current; do
		ab_use "$side"
		check_daemon "A/B issuance ($side)"
		k=${sl[$side]}
		R[ab_rate_${side}_${n}_$r]=$(kv "$out" "${k}_rate")
		R[ab_ops_${side}_${n}_$r]=$(kv "$out" "${k}_ops")
		if [ "$side" = baseline ]; then
			R[ab_cpu_${side}_${n}_$r]=$((${c1%:*} - ${c0%:*}))
		else
			R[ab_cpu_${side}_${n}_$r]=$((${c1#*:} - ${c0#*:}))
		fi
		mv "$out.lat.$k" "$WORK/ab/$side-$n-$r.lat"
		if [ "$(kv "$out" "${k}_errors")" != 0 ]; then
			problem "A/B $side N=$n round $r: $(kv "$out" "${k}_errors") errors, first: $(kv "$out" first_error); errors file: $(tail -n 1 "$MNT/errors" 2>/dev/null)"
		fi
		say "  $side: $(kv "$out" "${k}_ops") creds, $(kv "$out" "${k}_rate")/s, p50 $(kv "$out" "${k}_p50_us") us; close() p50 $(kv "$out" "${k}_close_p50_us") us, p99 $(kv "$out" "${k}_close_p99_us") us"
	done
	# Every lease of both, revoked (a plain DROP ROLE), before the next round.
	for side in baseline current; do
		"$CB" unlinkall "${AB_MNT[$side]}/leases/iss" >"$out.rm.$side"
		[ "$(kv "$out.rm.$side" errors)" = 0 ] ||
			problem "rm ${AB_MNT[$side]}/leases/iss/*: $(kv "$out.rm.$side" first_error)"
	done
	wait_roles_gone 'v-%' 900 >/dev/null || problem "the A/B logins were not all revoked within 900 s"
}

# ab_stats - every per-N figure of the A/B table, from the rounds' R[ab_*].
ab_stats() {
	local n r side ratios wins tck med lo hi
	tck=$(getconf CLK_TCK)
	for n in $AB_NS; do
		ratios=()
		wins=0
		for r in $(seq 1 "$AB_ROUNDS"); do
			if [ -z "${R[ab_rate_baseline_${n}_$r]:-}" ] || [ -z "${R[ab_rate_current_${n}_$r]:-}" ]; then
				continue
			fi
			R[ab_ratio_${n}_$r]=$(calc "printf \"%.4f\", ${R[ab_rate_current_${n}_$r]} / ${R[ab_rate_baseline_${n}_$r]}")
			ratios+=("${R[ab_ratio_${n}_$r]}")
			if awk -v x="${R[ab_ratio_${n}_$r]}" 'BEGIN { exit !(x > 1) }'; then wins=$((wins + 1)); fi
		done
		R[ab_rounds_$n]=${#ratios[@]}
		[ "${#ratios[@]}" -gt 0 ] || continue
		R[ab_wins_$n]=$wins
		# median, min, max of the per-round ratios
		read -r med lo hi < <(printf '%s\n' "${ratios[@]}" | sort -g |
			awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
				printf "%.3f %.3f %.3f\n", m, v[1], v[NR] }')
		R[ab_med_$n]=$med
		R[ab_min_$n]=$lo
		R[ab_max_$n]=$hi
		# two-sided sign test: the current build's wins among the rounds
		R[ab_p_$n]=$(awk -v k="$wins" -v m="${#ratios[@]}" 'BEGIN {
			c = 1; lo = 0; hi = 0
			for (i = 0; i <= m; i++) { if (i <= k) lo += c; if (i >= k) hi += c; c = c * (m - i) / (i + 1) }
			p = 2 * (lo < hi ? lo : hi) / 2 ^ m; printf "%.3f", (p > 1 ? 1 : p) }')
		for side in baseline current; do
			R[ab_mean_${side}_$n]=$(for r in $(seq 1 "$AB_ROUNDS"); do echo "${R[ab_rate_${side}_${n}_$r]:-}"; done |
				awk 'NF { s += $1; k++ } END { printf "%.1f", k ? s / k : 0 }')
			R[ab_cpu_${side}_$n]=$(for r in $(seq 1 "$AB_ROUNDS"); do
				echo "${R[ab_cpu_${side}_${n}_$r]:-0} ${R[ab_ops_${side}_${n}_$r]:-0}"; done |
				awk -v t="$tck" '{ c += $1; o += $2 } END { printf "%.2f", o ? c * 1000 / t / o : 0 }')
			cat "$WORK/ab/$side-$n-"*.lat 2>/dev/null >"$WORK/ab/all-$side-$n" || true
			awk '{ print $2 / 1000 }' "$WORK/ab/all-$side-$n" | sort -g >"$WORK/ab/close-$side-$n"
			awk '{ print $1 / 1000 }' "$WORK/ab/all-$side-$n" | sort -g >"$WORK/ab/open-$side-$n"
			R[ab_close50_${side}_$n]=$(calc "printf \"%.1f\", $(pct "$WORK/ab/close-$side-$n" 0.50)")
			R[ab_close99_${side}_$n]=$(calc "printf \"%.1f\", $(pct "$WORK/ab/close-$side-$n" 0.99)")
			R[ab_closemax_${side}_$n]=$(calc "printf \"%.1f\", $(tail -n 1 "$WORK/ab/close-$side-$n" | grep . || echo 0)")
			R[ab_open50_${side}_$n]=$(pct "$WORK/ab/open-$side-$n" 0.50)
			R[ab_open99_${side}_$n]=$(pct "$WORK/ab/open-$side-$n" 0.99)
		done
		R[ab_verdict_$n]=$(awk -v m="${R[ab_med_$n]}" -v p="${R[ab_p_$n]}" -v t="$AB_TOL" 'BEGIN {
			d = (m - 1) * 100
			if (m < 1 - t) print (p < 0.05 ? sprintf("SLOWER by %.1f%%, consistently", -d) : sprintf("inconclusive: median %.1f%% slower, mixed signs", -d))
			else if (m > 1 + t) print (p < 0.05 ? sprintf("faster by %.1f%%", d) : sprintf("inconclusive: median %.1f%% faster, mixed signs", d))
			else print sprintf("within %g%% (median %+.1f%%%s)", t * 100, d, p < 0.05 ? (d < 0 ? ", consistently lower" : ", consistently higher") : "") }')
	done
}

ab_report() {
	local n r side first credv basev commit
	credv=$("$WORK/credfs" --version 2>/dev/null | head -n 1)
	basev=$("$WORK/credfs-baseline" --version 2>/dev/null | head -n 1)
	commit=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)
	ab_stats
	echo "# credfs A/B issuance: baseline against current"
	echo
	echo "| | |"
	echo "|---|---|"
	echo "| machine | $(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo), nproc $(nproc), $(uname -sr) |"
	echo "| storage | $(df -PT "$WORK" | awk 'NR == 2 { print $2 " on " $1 }'); one 8 KiB O_DSYNC write: ${DSYNC_MS:-?} ms |"
	echo "| PostgreSQL | $("$PG_BINDIR/postgres" --version | awk '{ print $3 }'), default durability (synchronous_commit on, fsync on) |"
	echo "| baseline | ${basev:-?} ($AB_BASE, built $(date -u -r "$AB_BASE" '+%Y-%m-%d %H:%M UTC')) |"
	echo "| current | ${credv:-?}, git $commit ($CREDFS_SRC_BIN, built $(date -u -r "$CREDFS_SRC_BIN" '+%Y-%m-%d %H:%M UTC')) |"
	echo "| run | $AB_ROUNDS rounds per N; a round: ${AB_SECS} s per side in alternating ${AB_SLICE} s slices, the side that goes first alternating every round; both daemons with --state; password_authentication=$B_PWAUTH; credfs pool $B_POOL; $(date -u '+%Y-%m-%d %H:%M UTC'); load average at start $LOAD0, at end $(cut -d' ' -f1 /proc/loadavg) |"
	echo
	echo "## Issuance (open+read+close of creds/ROLE by N readers)"
	echo
	echo "| N | baseline creds/s | current creds/s | median ratio current/baseline | min / max | rounds current won | sign test p | verdict (tolerance $(calc "printf \"%g\", $AB_TOL * 100")%) |"
	echo "|---|---|---|---|---|---|---|---|"
	for n in $AB_NS; do
		printf '| %s | %s | %s | %s | %s / %s | %s of %s | %s | %s |\n' "$n" \
			"${R[ab_mean_baseline_$n]:--}" "${R[ab_mean_current_$n]:--}" "${R[ab_med_$n]:--}" \
			"${R[ab_min_$n]:--}" "${R[ab_max_$n]:--}" "${R[ab_wins_$n]:--}" "${R[ab_rounds_$n]:-0}" \
			"${R[ab_p_$n]:--}" "${R[ab_verdict_$n]:--}"
	done
	echo
	echo "creds/s: the mean over rounds. Ratio: per round, current/baseline of that round's two figures; only these ratios are comparable on a shared machine."
	echo
	echo "## The reader's close() and open() of creds/ROLE, and the daemon's CPU"
	echo
	echo "| N | side | close() p50 / p99 / max us | open() p50 / p99 ms | daemon CPU per credential ms |"
	echo "|---|---|---|---|---|"
	for n in $AB_NS; do
		for side in baseline current; do
			printf '| %s | %s | %s / %s / %s | %s / %s | %s |\n' "$n" "$side" \
				"${R[ab_close50_${side}_$n]:--}" "${R[ab_close99_${side}_$n]:--}" "${R[ab_closemax_${side}_$n]:--}" \
				"$(ms "${R[ab_open50_${side}_$n]:-}")" "$(ms "${R[ab_open99_${side}_$n]:-}")" \
				"${R[ab_cpu_${side}_$n]:--}"
		done
	done
	echo
	echo "Latencies over every credential of every round. open() is where a credential is issued. close() of creds/ returns without waiting for FUSE's RELEASE (the kernel sends it asynchronously; creds/ asks for no FLUSH), so work in the daemon's release handler shows up in its CPU and in the next open()s, not in close(). Daemon CPU: its utime+stime over the rounds over its credentials."
	echo
	echo "## Rounds"
	echo
	echo "| N | round | first | baseline creds/s | current creds/s | ratio |"
	echo "|---|---|---|---|---|---|"
	for n in $AB_NS; do
		for r in $(seq 1 "$AB_ROUNDS"); do
			first=$([ $((r % 2)) = 1 ] && echo baseline || echo current)
			printf '| %s | %s | %s | %s | %s | %s |\n' "$n" "$r" "$first" \
				"${R[ab_rate_baseline_${n}_$r]:--}" "${R[ab_rate_current_${n}_$r]:--}" "${R[ab_ratio_${n}_$r]:--}"
		done
	done
	echo
	if [ "${#PROBLEMS[@]}" -gt 0 ]; then
		echo "## Errors"
		echo
		for p in "${PROBLEMS[@]}"; do echo "- $p"; done
	else
		echo "No errors."
	fi
}

ab_main() {
	local n r side
	REPORT_FN=ab_report
	mkdir -p "$WORK/ab"
	ab_helper
	ab_mount baseline
	ab_mount current
	set_durability default
	REPORT_READY=1
	for n in $AB_NS; do
		for r in $(seq 1 "$AB_ROUNDS"); do
			say "A/B N=$n round $r of $AB_ROUNDS (${AB_SECS} s per side in ${AB_SLICE} s slices)"
			if [ $((r % 2)) = 1 ]; then
				ab_round "$n" "$r" baseline current
			else
				ab_round "$n" "$r" current baseline
			fi
			say "  ratio current/baseline: $(calc "printf \"%.3f\", ${R[ab_rate_current_${n}_$r]} / ${R[ab_rate_baseline_${n}_$r]}")"
		done
	done
	mkdir -p "$(dirname "$B_OUT")"
	REPORTED=1
	ab_report | tee "$B_OUT"
	say "done in $(elapsed "$T_START") s; results in $B_OUT"
	for side in baseline current; do
		ab_use "$side"
		umount_credfs
		AB_PID[$side]=
	done
	[ "${#PROBLEMS[@]}" -eq 0 ] || exit 1
	exit 0
}

# ---- soak mode: a fixed issue rate for a long time ------------------------------------------

SOAK_TSV=${BENCH_OUT:+${BENCH_OUT%.md}-samples.tsv}
SOAK_TSV=${SOAK_TSV:-$SRC/build/bench-soak-samples.tsv}

# soak_sample T - one line of the samples: seconds since the start, the
# daemon's RSS (KiB), open fds, the journal file's size, metrics'
# credfs_journal_bytes, live leases (metrics), v- logins in pg_roles and
# metrics' credfs_journal_compactions_total.
soak_sample() {
	local jb mb live roles comp
	jb=$(stat -c %s "$STATE/journal" 2>/dev/null || echo 0)
	read -r mb live comp < <(awk '/^credfs_journal_bytes / { j = $2 }
		/^credfs_journal_compactions_total / { c = $2 }
		/^credfs_leases\{/ { l += $NF } END { print j + 0, l + 0, c + 0 }' "$MNT/metrics" 2>/dev/null || echo "0 0 0")
	roles=$(count_roles 'v-%' 2>/dev/null || echo -)
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$(rss_kib)" "$(fd_count)" "$jb" "$mb" "$live" "$roles" "$comp"
}

# soak_stats COLUMN - "start end min max slope_per_hour" of a samples column
# (2 = RSS ...), the slope by least squares over the steady state (t >= TTL + interval).
soak_stats() {
	awk -F'\t' -v c="$1" -v from="$((SOAK_TTL + SOAK_INTERVAL))" 'NR > 1 && $1 != "end" {
		if (!k++) first = $c; last = $c
		if (min == "" || $c < min) min = $c; if (max == "" || $c > max) max = $c
		if ($1 >= from) { n++; st += $1; sy += $c; stt += $1 * $1; sty += $1 * $c }
	} END {
		d = n * stt - st * st
		printf "%s %s %s %s %s\n", first, last, min, max, (n > 2 && d > 0) ? sprintf("%.1f", (n * sty - st * sy) / d * 3600) : "-"
	}' "$SOAK_TSV"
}

soak_report() {
	local col name unit first last lo hi slope
	echo "# credfs soak: a fixed issue rate"
	echo
	echo "| | |"
	echo "|---|---|"
	machine_info
	echo "| run | ${R[soak_secs]:-?} s of issuance (BENCH_SOAK_SECONDS=$SOAK_SECS) at $SOAK_RATE/s over $SOAK_THREADS threads; role default_ttl ${SOAK_TTL}s, credfs's default revocation; default durability; password_authentication=$B_PWAUTH; a sample every ${SOAK_INTERVAL} s |"
	echo
	echo "Each credential is opened, read and closed at once: let go on close and revoked one TTL later, so about $((SOAK_RATE * SOAK_TTL)) leases are live in the steady state and issues, let-gos and revocations balance."
	echo
	echo "| issued | failed | achieved creds/s | started > 100 ms late | open+read+close p50 / p99 / max ms |"
	echo "|---|---|---|---|---|"
	echo "| ${R[soak_ops]:--} | ${R[soak_errors]:--}$([ -n "${R[soak_errnos]:-}" ] && echo " (${R[soak_errnos]})") | ${R[soak_rate]:--} | ${R[soak_late]:--} | ${R[soak_p50]:--} / ${R[soak_p99]:--} / ${R[soak_max]:--} |"
	echo
	echo "| figure | start | end | min | max | least-squares slope per hour (steady state) |"
	echo "|---|---|---|---|---|---|"
	for col in 2:"daemon RSS":KiB 3:"daemon open fds": 4:"journal file (state directory)":bytes \
		5:"credfs_journal_bytes (metrics)":bytes 6:"live leases (metrics)": 7:"v- logins in pg_roles": \
		8:"journal compactions (metrics)":; do
		IFS=: read -r col name unit <<<"$col"
		[ -s "$SOAK_TSV" ] || continue
		read -r first last lo hi slope < <(soak_stats "$col")
		printf '| %s%s | %s | %s | %s | %s | %s |\n' "$name" "${unit:+ ($unit)}" "$first" "$last" "$lo" "$hi" "$slope"
	done
	echo
	echo "Slopes from the ${R[soak_steady]:-?} samples at or after ${SOAK_TTL} + ${SOAK_INTERVAL} s (before that the live leases only grow); every sample in $SOAK_TSV. The journal is compacted once it passes 4 MiB and 4 times its last snapshot, so its size is a sawtooth: its slope means something only over several compaction cycles (the compactions row), and its max is the figure to watch."
	echo
	echo "| at the end | value | target |"
	echo "|---|---|---|"
	echo "| v- logins left in pg_roles ${R[soak_wait]:-?} s after the last issue (limit: TTL + 60 s) | ${R[soak_left]:--} | 0 ($(verdict "${R[soak_left]:-}" le 0)) |"
	echo "| live leases in credfs then (metrics) | ${R[soak_live_end]:--} | 0 |"
	echo
	if [ "${#PROBLEMS[@]}" -gt 0 ]; then
		echo "## Errors"
		echo
		for p in "${PROBLEMS[@]}"; do echo "- $p"; done
	else
		echo "No errors: every credential was issued and every login revoked."
	fi
}

soak_main() {
	local out=$WORK/soak rpid t0 d k=0 t_end t_gone limit
	REPORT_FN=soak_report
	mount_credfs
	write_conn bench "$PG_PORT" "max_open_connections=$B_POOL"
	write_role soak "default_ttl=${SOAK_TTL}s"
	set_durability default
	mkdir -p "$(dirname "$SOAK_TSV")"
	printf 't_s\trss_kib\tfds\tjournal_file_bytes\tmetrics_journal_bytes\tlive_leases\tv_logins\tcompactions\n' >"$SOAK_TSV"
	REPORT_READY=1
	say "soak: $SOAK_SECS s at $SOAK_RATE/s, TTL ${SOAK_TTL}s; a sample every ${SOAK_INTERVAL}s in $SOAK_TSV"
	t0=$EPOCHREALTIME
	soak_sample 0 >>"$SOAK_TSV"
	"$CB" rate "$MNT/creds/soak" "$SOAK_RATE" "$SOAK_SECS" "$SOAK_THREADS" >"$out" &
	rpid=$!
	while kill -0 "$rpid" 2>/dev/null; do
		k=$((k + 1))
		# until t0 + k intervals, in steps of at most 0.5 s while the issuance runs
		while kill -0 "$rpid" 2>/dev/null; do
			d=$(calc "d = $t0 + $k * $SOAK_INTERVAL - $EPOCHREALTIME; printf \"%.3f\", (d > 0.5 ? 0.5 : d)")
			case "$d" in -* | 0.000) break ;; esac
			sleep "$d"
		done
		kill -0 "$rpid" 2>/dev/null || break
		check_daemon "the soak"
		soak_sample "$(elapsed "$t0" | cut -d. -f1)" >>"$SOAK_TSV"
		tail -n 1 "$SOAK_TSV" | awk -F'\t' '{ printf "bench: soak t=%ss RSS %s KiB, fds %s, journal %s B (metrics %s, %s compactions), live %s, v- logins %s\n", $1, $2, $3, $4, $5, $8, $6, $7 }' >&2
	done
	wait "$rpid" || true
	t_end=$EPOCHREALTIME
	check_daemon "the soak"
	soak_sample "$(elapsed "$t0" | cut -d. -f1)" >>"$SOAK_TSV"
	R[soak_secs]=$(kv "$out" secs)
	R[soak_ops]=$(kv "$out" ops)
	R[soak_errors]=$(kv "$out" errors)
	R[soak_errnos]=$(kv "$out" errnos)
	R[soak_rate]=$(kv "$out" rate)
	R[soak_late]=$(kv "$out" late)
	R[soak_p50]=$(ms "$(kv "$out" p50_us)")
	R[soak_p99]=$(ms "$(kv "$out" p99_us)")
	R[soak_max]=$(ms "$(kv "$out" max_us)")
	R[soak_steady]=$(awk -F'\t' -v from="$((SOAK_TTL + SOAK_INTERVAL))" 'NR > 1 && $1 >= from { n++ } END { print n + 0 }' "$SOAK_TSV")
	[ "${R[soak_errors]:-0}" = 0 ] ||
		problem "soak: ${R[soak_errors]} failed issues (${R[soak_errnos]}), first: $(kv "$out" first_error)"
	# Every login revoked within TTL + 60 s of the last issue.
	limit=$((SOAK_TTL + 60))
	say "soak: issuance done; waiting up to ${limit}s for every login to be revoked"
	if t_gone=$(wait_roles_gone 'v-%' "$limit"); then
		R[soak_left]=0
		R[soak_wait]=$(elapsed "$t_end" "$t_gone")
	else
		R[soak_left]=$(count_roles 'v-%')
		R[soak_wait]=$(elapsed "$t_end")
		problem "soak: ${R[soak_left]} v- logins still in pg_roles ${R[soak_wait]} s after the last issue (TTL ${SOAK_TTL}s)"
	fi
	R[soak_live_end]=$(awk '/^credfs_leases\{/ { l += $NF } END { print l + 0 }' "$MNT/metrics" 2>/dev/null)
	mkdir -p "$(dirname "$B_OUT")"
	REPORTED=1
	soak_report | tee "$B_OUT"
	say "done in $(elapsed "$T_START") s; results in $B_OUT, samples in $SOAK_TSV"
	umount_credfs
	[ "${#PROBLEMS[@]}" -eq 0 ] || exit 1
	exit 0
}

# ---- fleet mode: issuance and a dead node's leases on several nodes (issue 13) --------------

FLEET_KEY=$WORK/fleet.key
FLEET_STORE="host=127.0.0.1 port=$PG_PORT dbname=wizard user=credfs_admin password=admin sslmode=disable application_name=bench-fleet"
FLEET_SCHEMA=credfs # credfs's default --fleet-schema

# fleet_dir NODE - the node's own directory: mnt, state, credfs.key, audit.log, credfs.log.
fleet_dir() { echo "$WORK/fleet-$1"; }

fleet_alive() {
	local st
	[ -n "${AB_PID[$1]:-}" ] || return 1
	st=$(awk '{ print $3 }' "/proc/${AB_PID[$1]}/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# fleet_check NODE... WHAT - die if a node is gone.
fleet_check() {
	local what=${*: -1} n
	for n in "${@:1:$#-1}"; do
		fleet_alive "$n" && continue
		say "--- node $n: credfs log (last 20 lines) ---"
		tail -n 20 "$(fleet_dir "$n")/credfs.log" >&2 || true
		die "fleet node $n died during $what"
	done
}

# fleet_start NODE - credfs -f as fleet node NODE: its own mount, state,
# key and audit log; the common fleet key and store; --fleet-grace
# BENCH_FLEET_GRACE. Waits for the mount (15 s).
fleet_start() {
	local n=$1 d
	d=$(fleet_dir "$n")
	mkdir -p "$d/state" "$d/mnt"
	chmod 0700 "$d/state"
	echo "=== bench: credfs node $n" >>"$d/credfs.log"
	# shellcheck disable=SC2086 # BENCH_CREDFS_ARGS is a word list
	"$CREDFS_BIN" -f --fleet "$FLEET_STORE" --fleet-key "$FLEET_KEY" --node "$n" \
		--fleet-grace "$FLEET_GRACE" --state "$d/state" --key-file "$d/credfs.key" \
		--audit-log "$d/audit.log" ${BENCH_CREDFS_ARGS:-} "$d/mnt" 2>>"$d/credfs.log" </dev/null &
	AB_PID[$n]=$!
	AB_MNT[$n]=$d/mnt
	for _ in $(seq 1 1500); do
		if [ -d "$d/mnt/config" ] && grep -qF " $d/mnt fuse" /proc/self/mounts; then
			say "fleet node $n mounted on $d/mnt (pid ${AB_PID[$n]})"
			return 0
		fi
		fleet_check "$n" "its startup"
		sleep 0.01
	done
	die "fleet node $n did not mount within 15 s: $(tail -n 1 "$d/credfs.log")"
}

# fleet_stop NODE - unmount; the node must exit 0 within 60 s.
fleet_stop() {
	local n=$1 rc=0
	fusermount3 -u "${AB_MNT[$n]}" || die "fusermount3 -u ${AB_MNT[$n]} failed"
	for _ in $(seq 1 1200); do
		fleet_alive "$n" || break
		sleep 0.05
	done
	fleet_alive "$n" && die "fleet node $n did not exit within 60 s of its unmount"
	wait "${AB_PID[$n]}" || rc=$?
	AB_PID[$n]=
	[ "$rc" -eq 0 ] || problem "fleet node $n exited with status $rc after its unmount"
}

# fleet_wait_gone SQL_COUNT LIMIT - poll until the query SQL_COUNT says 0 (every 0.1 s).
fleet_wait_gone() {
	local start=$EPOCHREALTIME n
	while :; do
		n=$(apsql -c "$1")
		[ "$n" = 0 ] && return 0
		if [ "$(elapsed "$start" | cut -d. -f1)" -ge "$2" ]; then
			say "still $n after ${2}s: $1"
			return 1
		fi
		sleep 0.1
	done
}

# fleet_revoke_iss NODES - every lease of role iss on NODES revoked (DROP ROLE), rows gone.
fleet_revoke_iss() {
	local n out
	for n in "$@"; do
		out=$WORK/fleet-unlink-$n
		"$CB" unlinkall "${AB_MNT[$n]}/leases/iss" >"$out"
		[ "$(kv "$out" errors)" = 0 ] || problem "rm leases/iss/* on $n: $(kv "$out" first_error)"
	done
	fleet_wait_gone "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v-%'" 900 ||
		problem "the fleet did not revoke every lease of iss within 900 s"
	# Their rows' deletes are queued: gone before the next run counts WAL.
	fleet_wait_gone "SELECT count(*) FROM $FLEET_SCHEMA.leases WHERE role = 'iss'" 60 ||
		problem "rows of revoked leases of iss still in $FLEET_SCHEMA.leases after 60 s"
	fleet_check "$@" "the revocations"
}

# fleet_pos - PostgreSQL's WAL position and next transaction id, "LSN XID"
# (a read-only query: it assigns none).
fleet_pos() { apsql -F ' ' -c "SELECT pg_current_wal_lsn(), pg_snapshot_xmax(pg_current_snapshot())"; }

# fleet_cost KEY POS0 OPS - R[KEY_wal], KiB of WAL, and R[KEY_xid], write
# transactions (xids assigned), per credential since POS0 (fleet_pos).
fleet_cost() {
	local l0 x0 l1 x1
	read -r l0 x0 <<<"$2"
	read -r l1 x1 <<<"$(fleet_pos)"
	[ "${3:-0}" -gt 0 ] || return 0
	R[${1}_wal]=$(apsql -c "SELECT round(pg_wal_lsn_diff('$l1', '$l0') / 1024.0 / $3, 2)")
	R[${1}_xid]=$(calc "printf \"%.2f\", ($x1 - $x0) / $3")
}

# fleet_pin MODE K - MODE pin: PostgreSQL (postmaster and backends) on
# PIN_PG, nodes n1..nK on PIN_REST, and RUN_PIN for the readers and
# pgbench; MODE empty: everything back on PIN_ALL.
fleet_pin() {
	local p i nodes=()
	for i in $(seq 1 "$2"); do nodes+=("${AB_PID[n$i]}"); done
	mapfile -t p < <(pg_pids "$PG_DIR")
	if [ "$1" = pin ]; then
		pin "$PIN_PG" "${p[@]}"
		pin "$PIN_REST" "${nodes[@]}"
		RUN_PIN=(taskset -c "$PIN_REST")
	else
		pin "$PIN_ALL" "${p[@]}" "${nodes[@]}"
		RUN_PIN=()
	fi
}

# fleet_issue K N [pin] - N readers in all split over nodes n1..nK (one
# credbench per node, at once) for FLEET_SECS; creds/s summed, latency the
# worst node's; WAL, write transactions and the nodes' CPU per credential.
fleet_issue() {
	local k=$1 n=$2 m=${3:-} i share pids=() out ops=0 errs=0 rate=0 p50=0 p99=0 split="" pos c0=0 c1=0
	local kp=${3:+${3}_}
	fleet_settle
	pos=$(fleet_pos)
	for i in $(seq 1 "$k"); do c0=$((c0 + $(cpu_ticks "${AB_PID[n$i]}"))); done
	for i in $(seq 1 "$k"); do
		share=$((n / k + (i <= n % k ? 1 : 0)))
		split="$split${split:+/}$share"
		[ "$share" -gt 0 ] || continue
		"${RUN_PIN[@]}" "$CB" issue "${AB_MNT[n$i]}/creds/iss" "$share" "$FLEET_SECS" >"$WORK/fleet-iss-$m$k-$n-n$i" &
		pids+=($!)
	done
	say "fleet issuance${m:+ [$m]}: $k node(s), N=$n ($split) for ${FLEET_SECS}s"
	wait "${pids[@]}" || true
	for i in $(seq 1 "$k"); do c1=$((c1 + $(cpu_ticks "${AB_PID[n$i]}"))); done
	# Every let-go UPDATE of the run written (the nodes' fleet threads, every tick).
	fleet_wait_gone "SELECT count(*) FROM $FLEET_SCHEMA.leases WHERE role = 'iss' AND state = 'held'" 10 || true
	for i in $(seq 1 "$k"); do
		out=$WORK/fleet-iss-$m$k-$n-n$i
		[ -s "$out" ] || continue
		ops=$((ops + $(kv "$out" ops)))
		errs=$((errs + $(kv "$out" errors)))
		rate=$(calc "printf \"%.1f\", $rate + $(kv "$out" rate)")
		p50=$(calc "a = $p50; b = $(kv "$out" p50_us); print (b > a ? b : a)")
		p99=$(calc "a = $p99; b = $(kv "$out" p99_us); print (b > a ? b : a)")
		[ "$(kv "$out" errors)" = 0 ] ||
			problem "fleet issuance [$k nodes N=$n] on n$i: $(kv "$out" errors) errors, first: $(kv "$out" first_error); errors file: $(tail -n 1 "${AB_MNT[n$i]}/errors" 2>/dev/null)"
	done
	fleet_check $(seq -f 'n%g' 1 "$k") "issuance"
	fleet_cost "fl_c_$kp${k}_$n" "$pos" "$ops"
	R[fl_split_${k}_$n]=$split
	R[fl_c_ops_$kp${k}_$n]=$ops
	R[fl_c_rate_$kp${k}_$n]=$rate
	R[fl_c_p50_$kp${k}_$n]=$(ms "$p50")
	R[fl_c_p99_$kp${k}_$n]=$(ms "$p99")
	R[fl_c_cpu_$kp${k}_$n]=$(calc "printf \"%.2f\", $ops ? ($c1 - $c0) * 1000 / $(getconf CLK_TCK) / $ops : 0")
	say "  credfs: $ops creds ($errs errors), $rate/s, p50 ${R[fl_c_p50_$kp${k}_$n]} ms, p99 ${R[fl_c_p99_$kp${k}_$n]} ms (worst node); per credential: nodes' CPU ${R[fl_c_cpu_$kp${k}_$n]} ms, WAL ${R[fl_c_$kp${k}_${n}_wal]:-?} KiB, ${R[fl_c_$kp${k}_${n}_xid]:-?} write transactions"
	fleet_revoke_iss $(seq -f 'n%g' 1 "$k")
}

# fleet_raw K N [pin] - pgbench at concurrency N: per credential, what credfs
# runs (FLEET_PGB_SCRIPT): the lease row insert with the creation (or before
# it, in a transaction of its own), then the row's let-go UPDATE.
fleet_raw() {
	local k=$1 n=$2 m=${3:-} j out logdir rc=0 lat pos
	local kp=${3:+${3}_}
	out=$WORK/fleet-raw-$m$1-$2
	logdir=$WORK/fleet-pgblog-$m$1-$2
	j=$((n < 2 ? n : 2))
	mkdir -p "$logdir"
	fleet_settle
	pos=$(fleet_pos)
	say "fleet issuance${m:+ [$m]}: pgbench N=$n -j $j for ${FLEET_SECS}s (beside $k node(s))"
	(cd "$logdir" && PGPASSWORD=admin "${RUN_PIN[@]}" "$PGBENCH" -h 127.0.0.1 -p "$PG_PORT" -U credfs_admin \
		-n -c "$n" -j "$j" -T "$FLEET_SECS" -M simple -D seq=0 -D "tag=f$k-$n" \
		-D "exp=$(pg_expiration 3600)" -D "pw=$PGB_PW" -D "ms=$(date +%s%3N)" \
		-D "holder=\$bench\$$FLEET_HOLDER\$bench\$" -D "roledoc=\$bench\$$FLEET_ROLEDOC\$bench\$" \
		--log --log-prefix="$logdir/pgb" -f "$FLEET_PGB_SCRIPT" wizard) >"$out" 2>&1 || rc=$?
	lat=$WORK/fleet-lat-raw-$m$k-$n
	cat "$logdir"/pgb.* 2>/dev/null | awk '{ print $3 }' | sort -n >"$lat"
	R[fl_r_rate_$kp${k}_$n]=$(sed -n 's/^tps = \([0-9]*\.[0-9]\).*/\1/p' "$out" | head -n 1)
	R[fl_r_ops_$kp${k}_$n]=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
	R[fl_r_p50_$kp${k}_$n]=$(ms "$(pct "$lat" 0.50)")
	R[fl_r_p99_$kp${k}_$n]=$(ms "$(pct "$lat" 0.99)")
	fleet_cost "fl_r_$kp${k}_$n" "$pos" "${R[fl_r_ops_$kp${k}_$n]:-0}"
	if [ "$rc" -ne 0 ] || [ -z "${R[fl_r_rate_$kp${k}_$n]}" ] ||
		grep -qE '^number of failed transactions: [1-9]' "$out"; then
		problem "pgbench [fleet${m:+ $m} N=$n] failed (exit $rc): $(grep -iE 'error|abort|fail' "$out" | head -n 3 | tr '\n' ' ')"
	fi
	say "  pgbench: ${R[fl_r_ops_$kp${k}_$n]} creds, ${R[fl_r_rate_$kp${k}_$n]}/s, p50 ${R[fl_r_p50_$kp${k}_$n]} ms, p99 ${R[fl_r_p99_$kp${k}_$n]} ms; per credential: WAL ${R[fl_r_$kp${k}_${n}_wal]:-?} KiB, ${R[fl_r_$kp${k}_${n}_xid]:-?} write transactions"
	drop_roles 'p-%'
	# Deleted as credfs deletes its rows at revocation (not truncated: the
	# two tables keep alike histories of dead rows, reused pages and FPIs).
	apsql -c "DELETE FROM bench_fleet.leases" >/dev/null
}

# fleet_settle - settle, the two lease tables vacuumed first (their pages
# reused alike after the CHECKPOINT).
fleet_settle() {
	apsql -c "VACUUM $FLEET_SCHEMA.leases" -c "VACUUM bench_fleet.leases" >/dev/null
	settle
}

# fleet_dead - BENCH_FLEET_LEASES held leases on the last node, kill -9 of
# it, the time until the survivors have revoked them all.
fleet_dead() {
	local victim=n$FLEET_NODES out rel=$WORK/fleet-hold.release hpids=() t0 t_kill b=0 held=0 want
	local t_first='' t_last='' left start surv=() i row lim hb c0 c1 revoked claims fails=0 errnos=''
	for i in $(seq 1 $((FLEET_NODES - 1))); do surv+=("n$i"); done
	rm -f "$rel"
	say "dead node: $FLEET_LEASES leases held on $victim (role dead, default_ttl ${FLEET_TTL}s), in batches of $FLEET_BATCH opens at once"
	t0=$EPOCHREALTIME
	# Batches of FLEET_BATCH held opens (one credbench hold each, its threads
	# opening at once) until FLEET_LEASES are held; a failed open is counted
	# and made up by the next batch.
	while [ "$held" -lt "$FLEET_LEASES" ]; do
		b=$((b + 1))
		want=$((FLEET_LEASES - held < FLEET_BATCH ? FLEET_LEASES - held : FLEET_BATCH))
		out=$WORK/fleet-hold-$b
		"$CB" hold "${AB_MNT[$victim]}/creds/dead" "$want" threads "$rel" 3600 >"$out" &
		hpids+=($!)
		until grep -q '^held=1' "$out" 2>/dev/null; do
			kill -0 "${hpids[-1]}" 2>/dev/null || die "dead node: credbench hold exited early: $(tr '\n' ' ' <"$out")"
			[ "$(elapsed "$t0" | cut -d. -f1)" -lt 900 ] || die "dead node: $held of $FLEET_LEASES opens held after 900 s"
			fleet_check "$victim" "the opens"
			sleep 0.05
		done
		held=$((held + $(kv "$out" ok)))
		if [ "$(kv "$out" errors)" != 0 ]; then
			fails=$((fails + $(kv "$out" errors)))
			errnos="$errnos $(kv "$out" errnos)"
		fi
		[ "$b" -lt $((FLEET_LEASES * 3 / FLEET_BATCH + 10)) ] || die "dead node: only $held of $FLEET_LEASES opens held after $b batches"
	done
	R[fl_d_open_secs]=$(elapsed "$t0")
	R[fl_d_open_fails]=$fails
	[ "$fails" = 0 ] || {
		R[fl_d_open_fails]="$fails ($errnos)"
		say "dead node: $fails opens failed and were made up ($errnos): $(tail -n 1 "${AB_MNT[$victim]}/errors" 2>/dev/null)"
	}
	apsql -c "CREATE TABLE bench_fleet.dead AS SELECT id, username FROM $FLEET_SCHEMA.leases l
		WHERE node = '$victim' AND role = 'dead' AND EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = l.username)" >/dev/null
	R[fl_d_rows]=$(apsql -c "SELECT count(*) FROM bench_fleet.dead d JOIN pg_roles r ON r.rolname = d.username")
	[ "${R[fl_d_rows]}" = "$FLEET_LEASES" ] ||
		problem "dead node: $victim has ${R[fl_d_rows]} lease rows with a login, not $FLEET_LEASES"
	sleep 2 # a heartbeat or two with every lease held
	fleet_check "${surv[@]}" "$victim" "the holding"
	t_kill=$EPOCHREALTIME
	kill -KILL "${AB_PID[$victim]}"
	wait "${AB_PID[$victim]}" 2>/dev/null || true
	AB_PID[$victim]=
	say "dead node: kill -9 of $victim; waiting for its logins to be revoked"
	lim=$((FLEET_GRACE + FLEET_TTL + 300))
	start=$EPOCHREALTIME
	while :; do
		left=$(apsql -c "SELECT count(*) FROM bench_fleet.dead d JOIN pg_roles r ON r.rolname = d.username")
		[ -n "$t_first" ] || [ "$left" -ge "${R[fl_d_rows]}" ] || t_first=$EPOCHREALTIME
		if [ "$left" = 0 ]; then
			t_last=$EPOCHREALTIME
			break
		fi
		if [ "$(elapsed "$start" | cut -d. -f1)" -ge "$lim" ]; then
			problem "dead node: $left of $victim's logins still in pg_roles ${lim}s after the kill"
			break
		fi
		fleet_check "${surv[@]}" "the claims"
		sleep 0.1
	done
	touch "$rel"
	fusermount3 -u -z "${AB_MNT[$victim]}" 2>/dev/null || true
	wait "${hpids[@]}" 2>/dev/null || true
	hb=$(apsql -c "SELECT extract(epoch FROM heartbeat) FROM $FLEET_SCHEMA.nodes WHERE node = '$victim'")
	R[fl_d_hb]=$(calc "printf \"%.2f\", $t_kill - ${hb:-0}")
	if [ -n "$t_last" ]; then
		R[fl_d_total]=$(elapsed "$t_kill" "$t_last")
		R[fl_d_wait]=$(elapsed "$t_kill" "$t_first")
		R[fl_d_work]=$(elapsed "$t_first" "$t_last")
	fi
	# The rows: claims (when, by whom) and revocations, as the survivors wrote them (within 2 s).
	sleep 3
	row=$(apsql -F ' ' -c "SELECT extract(epoch FROM min(l.claimed_at)), extract(epoch FROM max(l.claimed_at)),
			count(*) FILTER (WHERE l.state = 'revoked'),
			string_agg(DISTINCT l.claimed_by || ':' || (SELECT count(*) FROM $FLEET_SCHEMA.leases x
				WHERE x.claimed_by = l.claimed_by AND x.id IN (SELECT id FROM bench_fleet.dead)), ',')
		FROM $FLEET_SCHEMA.leases l WHERE l.id IN (SELECT id FROM bench_fleet.dead)")
	read -r c0 c1 revoked claims <<<"$row"
	R[fl_d_revoked_rows]=$revoked
	R[fl_d_claims]=$claims
	[ -z "${c0:-}" ] || R[fl_d_claim0]=$(calc "printf \"%.2f\", $c0 - $t_kill")
	[ -z "${c1:-}" ] || R[fl_d_claim1]=$(calc "printf \"%.2f\", $c1 - $t_kill")
	# Revoke records in the survivors' audit logs, and in the victim's.
	apsql -c "SELECT username FROM bench_fleet.dead" | sort >"$WORK/fleet-dead-users"
	for i in "${surv[@]}" "$victim"; do
		jq -r 'select(.action == "revoke" and .result == "ok") | .db_user' "$(fleet_dir "$i")/audit.log" 2>/dev/null
	done | sort >"$WORK/fleet-revoked-all"
	R[fl_d_audit]=$(for i in "${surv[@]}"; do
		jq -r 'select(.action == "revoke" and .result == "ok") | .db_user' "$(fleet_dir "$i")/audit.log" 2>/dev/null
	done | sort | join - "$WORK/fleet-dead-users" | wc -l)
	R[fl_d_audit_victim]=$(jq -r 'select(.action == "revoke" and .result == "ok") | .db_user' \
		"$(fleet_dir "$victim")/audit.log" 2>/dev/null | sort | join - "$WORK/fleet-dead-users" | wc -l)
	R[fl_d_audit_distinct]=$(sort -u "$WORK/fleet-revoked-all" | join - "$WORK/fleet-dead-users" | wc -l)
	[ "${R[fl_d_audit]}" = "$FLEET_LEASES" ] ||
		problem "dead node: ${R[fl_d_audit]} successful revoke records of $victim's logins in the survivors' audit logs, not $FLEET_LEASES"
	[ "${R[fl_d_audit_distinct]}" = "${R[fl_d_audit]}" ] ||
		problem "dead node: a login of $victim revoked more than once (${R[fl_d_audit]} records, ${R[fl_d_audit_distinct]} logins)"
	say "dead node: last login gone ${R[fl_d_total]:-?} s after the kill (first ${R[fl_d_wait]:-?} s, then ${R[fl_d_work]:-?} s of revocations); claims ${R[fl_d_claims]:-?}; audit ${R[fl_d_audit]} revoke records"
}

# fleet_round K N [pin] - one more round's pair: the rates' sums and the
# ratios, for the mean rates and the median ratio (fleet_ratio).
fleet_round() {
	local kp=${3:+${3}_}
	local key=$kp${1}_$2 cr=${R[fl_c_rate_$kp${1}_$2]:-} rr=${R[fl_r_rate_$kp${1}_$2]:-}
	[ -n "$cr" ] && [ -n "$rr" ] || return 0
	R[fl_csum_$key]=$(calc "printf \"%.1f\", ${R[fl_csum_$key]:-0} + $cr")
	R[fl_rsum_$key]=$(calc "printf \"%.1f\", ${R[fl_rsum_$key]:-0} + $rr")
	R[fl_ratios_$key]="${R[fl_ratios_$key]:-} $(calc "printf \"%.3f\", $cr / $rr")"
	say "  round ratio ${3:+[$3] }$1 node(s) N=$2: ${R[fl_ratios_$key]}"
}

# fleet_ratio KEY - "MEAN_C MEAN_R MEDIAN MIN MAX ROUNDS" over the rounds of KEY.
fleet_ratio() {
	tr ' ' '\n' <<<"${R[fl_ratios_$1]:-}" | sed '/^$/d' | sort -g |
		awk -v c="${R[fl_csum_$1]:-0}" -v r="${R[fl_rsum_$1]:-0}" '{ v[NR] = $1 }
			END { if (!NR) exit; m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
				printf "%.1f %.1f %.2f %.2f %.2f %d\n", c / NR, r / NR, m, v[1], v[NR], NR }'
}

fleet_report() {
	local k n cr rr ratio p m kp cpus lo hi rounds spread
	echo "# credfs fleet benchmark: issuance on 1-$FLEET_NODES nodes, a dead node's leases"
	echo
	echo "| | |"
	echo "|---|---|"
	machine_info
	echo "| run | BENCH_FLEET_SECONDS=$FLEET_SECS per issuance run, each pair also pinned (BENCH_PIN=$B_PIN: $([ "${FLEET_PIN:-0}" = 1 ] && echo "PostgreSQL on CPU $PIN_PG, the rest on $PIN_REST" || echo "${PIN_NOTE:-no}")), total N=\"$FLEET_NS\", nodes 1..$FLEET_NODES (one machine, one mount, state, key and --node each; one fleet key; control store: schema $FLEET_SCHEMA in the scratch PostgreSQL the logins are made on); default durability; password_authentication=$B_PWAUTH; dead node: $FLEET_LEASES held leases, default_ttl ${FLEET_TTL}s, --fleet-grace $FLEET_GRACE |"
	echo
	echo "Numbers from a shared machine are noisy: compare the ratios, which come from runs seconds apart, more than the absolute figures."
	echo
	echo "## Issuance: the same total concurrency on 1, 2, 3 nodes"
	echo
	echo "credfs: one credbench issue per node's mount (open+read+close of creds/iss), all at once, credentials summed; p50/p99 are the worst node's. pgbench: per credential the SQL credfs runs for it (${FLEET_PGB_WHAT:-the lease row insert}, into a copy of $FLEET_SCHEMA.leases; $([ "${BENCH_FLEET_PGB_LETGO:-1}" = 0 ] && echo "without the row's let-go UPDATE (BENCH_FLEET_PGB_LETGO=0)" || echo "then the row's let-go UPDATE in a transaction of its own")), at the same total concurrency, beside the same running nodes. CPUs: shared (nothing pinned) or pinned (PostgreSQL on CPU ${PIN_PG:-?}, the nodes, readers and pgbench on ${PIN_REST:-?}${PIN_NOTE:+; $PIN_NOTE}). creds/s: the mean over $FLEET_ROUNDS round(s) (BENCH_FLEET_ROUNDS), the pair's order alternating; ratio: the median of the rounds' ratios; latency, WAL, write transactions and CPU: the last round's. WAL and write transactions (xids) per credential: PostgreSQL's, from the start of the run until its last let-go UPDATE, the nodes' heartbeats included; CPU: the nodes' utime+stime per credential."
	echo
	echo "| nodes | N (per node) | CPUs | credfs creds/s | pgbench creds/s | ratio (target >= 0.95; median [min-max] over rounds) | credfs p50 / p99 ms | pgbench p50 / p99 ms | WAL KiB / cred credfs / pgbench | write xacts / cred credfs / pgbench | credfs CPU ms / cred |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|"
	for k in $(seq 1 "$FLEET_NODES"); do
		for n in $FLEET_NS; do
			for m in "" pin; do
				kp=${m:+${m}_}
				cpus=shared
				if [ "$m" = pin ]; then
					[ "${FLEET_PIN:-0}" = 1 ] || continue
					cpus=pinned
				fi
				cr=- rr=- ratio=- spread=''
				read -r cr rr ratio lo hi rounds <<<"$(fleet_ratio "$kp${k}_$n")" || true
				[ "${rounds:-1}" -le 1 ] || spread=" [$lo-$hi, $rounds rounds]"
				echo "| $k | $n (${R[fl_split_${k}_$n]:--}) | $cpus | ${cr:--} | ${rr:--} | ${ratio:--}$spread ($(verdict "${ratio:--}" ge 0.95)) | ${R[fl_c_p50_$kp${k}_$n]:--} / ${R[fl_c_p99_$kp${k}_$n]:--} | ${R[fl_r_p50_$kp${k}_$n]:--} / ${R[fl_r_p99_$kp${k}_$n]:--} | ${R[fl_c_$kp${k}_${n}_wal]:--} / ${R[fl_r_$kp${k}_${n}_wal]:--} | ${R[fl_c_$kp${k}_${n}_xid]:--} / ${R[fl_r_$kp${k}_${n}_xid]:--} | ${R[fl_c_cpu_$kp${k}_$n]:--} |"
			done
		done
	done
	echo
	echo "## A dead node: kill -9 with $FLEET_LEASES held leases"
	echo
	echo "| figure | value |"
	echo "|---|---|"
	echo "| opens of the $FLEET_LEASES leases (batches of $FLEET_BATCH threads opening at once, each held) | ${R[fl_d_open_secs]:--} s; failed and made up: ${R[fl_d_open_fails]:--} |"
	echo "| its last heartbeat before the kill | ${R[fl_d_hb]:--} s |"
	echo "| **kill -9 to the last login gone from pg_roles** | **${R[fl_d_total]:--} s** |"
	echo "| - kill to the first login gone (grace ${FLEET_GRACE} s, claim tick, TTL ${FLEET_TTL} s from the last heartbeat) | ${R[fl_d_wait]:--} s |"
	echo "| - first to last login gone (the revocation work) | ${R[fl_d_work]:--} s |"
	echo "| first / last claim after the kill (claimed_at) | ${R[fl_d_claim0]:--} / ${R[fl_d_claim1]:--} s |"
	echo "| claims by survivor | ${R[fl_d_claims]:--} |"
	echo "| rows state = revoked | ${R[fl_d_revoked_rows]:--} |"
	echo "| successful revoke records of its logins in the survivors' audit logs (target $FLEET_LEASES) | ${R[fl_d_audit]:--} ($(verdict "${R[fl_d_audit]:-}" ge "$FLEET_LEASES")), ${R[fl_d_audit_distinct]:--} distinct logins; in its own log: ${R[fl_d_audit_victim]:--} |"
	echo
	if [ "${#PROBLEMS[@]}" -gt 0 ]; then
		echo "## Errors"
		echo
		for p in "${PROBLEMS[@]}"; do echo "- $p"; done
	else
		echo "No errors."
	fi
}

fleet_main() {
	local k n i m r
	REPORT_FN=fleet_report
	head -c 32 /dev/urandom >"$FLEET_KEY"
	chmod 0600 "$FLEET_KEY"
	set_durability default
	fleet_start n1
	MNT=${AB_MNT[n1]} # write_conn, write_role: the definitions go to the fleet through n1
	write_conn bench "$PG_PORT" "max_open_connections=$B_POOL" pool_timeout=10m
	write_role iss 'revocation_statements=DROP ROLE IF EXISTS "{{name}}"'
	write_role dead "default_ttl=${FLEET_TTL}s"
	# The raw side's lease table: the fleet's, copied (columns, defaults,
	# indexes, and its storage parameters: fillfactor).
	FLEET_RELOPTS=$(apsql -c "SELECT coalesce(array_to_string(reloptions, ', '), '')
		FROM pg_class WHERE oid = '$FLEET_SCHEMA.leases'::regclass")
	apsql -c "CREATE SCHEMA bench_fleet" \
		-c "CREATE TABLE bench_fleet.leases (LIKE $FLEET_SCHEMA.leases INCLUDING ALL)${FLEET_RELOPTS:+ WITH ($FLEET_RELOPTS)}" >/dev/null ||
		die "cannot copy $FLEET_SCHEMA.leases"
	# holder and role_doc as credfs writes them, for pgbench's rows.
	cat "$MNT/creds/iss" >/dev/null || die "cat creds/iss on n1 failed: $(tail -n 1 "$MNT/errors")"
	FLEET_HOLDER=$(apsql -c "SELECT holder::text FROM $FLEET_SCHEMA.leases WHERE role = 'iss' LIMIT 1")
	FLEET_ROLEDOC=$(apsql -c "SELECT role_doc::text FROM $FLEET_SCHEMA.leases WHERE role = 'iss' LIMIT 1")
	if [ -z "$FLEET_HOLDER" ] || [ -z "$FLEET_ROLEDOC" ]; then
		die "no lease row of n1's credential in $FLEET_SCHEMA.leases"
	fi
	# The pgbench side runs the lease row as n1 does (fleet_same_store's log line).
	if grep -q 'the control store is its database' "$(fleet_dir n1)/credfs.log"; then
		FLEET_PGB_SCRIPT=$FLEET_PGB_INLINE
		FLEET_PGB_WHAT="the lease row insert as one more statement of the creation transaction, as credfs does when the control store is the connection's database"
	else
		FLEET_PGB_SCRIPT=$FLEET_PGB_SEPARATE
		FLEET_PGB_WHAT="the lease row insert in a transaction of its own, then the creation transaction, as credfs does when the control store is elsewhere"
	fi
	say "pgbench side: $FLEET_PGB_WHAT"
	fleet_revoke_iss n1
	# Pinned runs (BENCH_PIN), as section 5.
	FLEET_PIN=0
	if [ "$B_PIN" = 0 ]; then
		PIN_NOTE="not run (BENCH_PIN=0)"
	elif pin_setup; then
		FLEET_PIN=1
		say "pinned runs: PostgreSQL on CPU $PIN_PG; the nodes, readers and pgbench on CPU(s) $PIN_REST"
	else
		say "pinned runs: $PIN_NOTE"
		[ "$B_PIN" = 1 ] && problem "BENCH_PIN=1: pinned fleet issuance $PIN_NOTE"
	fi
	REPORT_READY=1
	for k in $(seq 1 "$FLEET_NODES"); do
		[ "$k" = 1 ] || fleet_start "n$k"
		sleep 1 # the definitions reach the new node
		i=0
		for n in $FLEET_NS; do
			i=$((i + 1))
			for m in "" pin; do
				[ -z "$m" ] || [ "${FLEET_PIN:-0}" = 1 ] || continue
				for r in $(seq 1 "$FLEET_ROUNDS"); do
					fleet_pin "$m" "$k"
					if [ $(((k + i + r) % 2)) = 0 ]; then
						fleet_issue "$k" "$n" "$m"
						fleet_raw "$k" "$n" "$m"
					else
						fleet_raw "$k" "$n" "$m"
						fleet_issue "$k" "$n" "$m"
					fi
					fleet_pin "" "$k"
					fleet_round "$k" "$n" "$m"
				done
			done
		done
	done
	[ "$FLEET_NODES" -ge 2 ] && [ "$FLEET_LEASES" -gt 0 ] && fleet_dead
	mkdir -p "$(dirname "$B_OUT")"
	REPORTED=1
	fleet_report | tee "$B_OUT"
	say "done in $(elapsed "$T_START") s; results in $B_OUT"
	for k in $(seq 1 $((FLEET_NODES - 1))); do fleet_stop "n$k"; done
	[ "${#PROBLEMS[@]}" -eq 0 ] || exit 1
	exit 0
}

# The pgbench side of fleet mode: what credfs runs per credential
# (core/fleet_lease.c, literals for its parameters). The lease row: either
# one more statement of the creation transaction (fleet_lease_inline: the
# control store is the connection's database), or its own transaction
# before the creation (fleet_lease_insert); then, once the reader has
# closed the file, the fleet thread's let-go UPDATE (fleet_flush_one).
FLEET_PGB_INLINE=$WORK/fleet-issue-inline.sql
FLEET_PGB_SEPARATE=$WORK/fleet-issue-separate.sql
FLEET_PGB_SCRIPT=$FLEET_PGB_INLINE # fleet_main: as n1 does
FLEET_PGB_ROW="INSERT INTO bench_fleet.leases (id, node, role, username, connection, connection_version, issued, valid_until, ttl_ms, state, holder, role_doc) VALUES ('p-:tag-:client_id-:seq-:rnd', 'pgbench', 'iss', 'p-pgbench-iss-:tag-:client_id-:seq-:rnd', 'bench', 1::bigint, to_timestamp(:ms::bigint / 1000.0), to_timestamp((:ms::bigint + 3600000) / 1000.0), 3600000::bigint, 'held', :holder::jsonb, :roledoc::jsonb) ON CONFLICT (id) DO NOTHING"
FLEET_PGB_CREATE="CREATE ROLE \"p-pgbench-iss-:tag-:client_id-:seq-:rnd\" WITH LOGIN PASSWORD ':pw' VALID UNTIL ':exp'\\; GRANT app_readers TO \"p-pgbench-iss-:tag-:client_id-:seq-:rnd\""
FLEET_PGB_LETGO="WITH s AS (SELECT set_config('synchronous_commit', 'off', true)) UPDATE bench_fleet.leases SET state = 'let-go', let_go_at = to_timestamp(:ms::bigint / 1000.0) WHERE id = 'p-:tag-:client_id-:seq-:rnd' AND claimed_by IS NULL AND EXISTS (SELECT 1 FROM s)"
# BENCH_FLEET_PGB_LETGO=0: pgbench leaves the let-go UPDATE out (the
# creation transaction plus the lease row insert only, what credfs cannot
# do with less): the ratio then also charges credfs for recording let-gos.
FLEET_PGB_LETGO_STMT="$FLEET_PGB_LETGO;"
[ "${BENCH_FLEET_PGB_LETGO:-1}" = 0 ] && FLEET_PGB_LETGO_STMT=
printf '%s\n' '\set seq :seq + 1' '\set rnd random(1000000000, 9999999999)' \
	"$FLEET_PGB_CREATE\\; $FLEET_PGB_ROW;" "$FLEET_PGB_LETGO_STMT" >"$FLEET_PGB_INLINE"
printf '%s\n' '\set seq :seq + 1' '\set rnd random(1000000000, 9999999999)' \
	"$FLEET_PGB_ROW;" "$FLEET_PGB_CREATE;" "$FLEET_PGB_LETGO_STMT" >"$FLEET_PGB_SEPARATE"

# ---- the run ---------------------------------------------------------------------------------

LOAD0=$(cut -d' ' -f1 /proc/loadavg)
# The disk's flush latency, for reading the durability figures.
DSYNC_MS=$(
	t0=$EPOCHREALTIME
	dd if=/dev/zero of="$WORK/dsync-test" bs=8k count=100 oflag=dsync status=none 2>/dev/null &&
		awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", (b - a) * 1000 / 100 }'
) || DSYNC_MS=
rm -f "$WORK/dsync-test"
T_START=$(now)
[ -z "$AB_BASE" ] || ab_main
[ "$SOAK" = 0 ] || soak_main
[ "$FLEET" = 0 ] || fleet_main
mount_credfs
setup_credfs_defs
REPORT_READY=1

! ran scram || phase_scram_cost
set_durability default
! ran issuance || phase_issuance default
! ran drain || phase_drain default
! ran pin || phase_pinned
! ran openers || phase_openers
! ran stopped || phase_stopped

set_durability off
! ran issuance || phase_issuance off
! ran drain || phase_drain off
! ran metadata || phase_metadata
! ran scale || phase_scale

mkdir -p "$(dirname "$B_OUT")"
REPORTED=1
report | tee "$B_OUT"
say "done in $(elapsed "$T_START") s; results in $B_OUT"
if [ -n "$CREDFS_PID" ]; then
	umount_credfs
fi
[ "${#PROBLEMS[@]}" -eq 0 ] || exit 1
exit 0
