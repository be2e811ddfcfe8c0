#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_podman.sh - a real container reads creds/ (issue 11): a rootful podman
# container (runc, cgroupfs driver, no network, a rootfs directory made of
# busybox-static, no image) that reads credentials with busybox `cat`
# (sendfile), started BEFORE credfs mounts, and that keeps reading across a
# kill -9 and restart of credfs. The README's container recipe, tested:
#
#   host:       mount --bind P P; mount --make-shared P   (P: a shared parent)
#   container:  --mount type=bind,src=P,dst=/creds,bind-propagation=rslave
#   credfs:     credfs -f ... -o allow_other P/mnt        (after the container)
#
# The mount at P/mnt propagates into the running container (/creds/mnt);
# the lease of a read made there names the container (holder.container.id
# is podman's id, runtime podman) and its namespaces; after kill -9 the
# restarted credfs detaches the dead mount (fs/stale.c), the detach and the
# new mount propagate, and the SAME container reads again. A second
# container that binds the mount point itself (what not to do) keeps the
# dead mount: ENOTCONN until it is recreated. A third, in a user namespace
# (--uidmap 0:200000:1000), is refused a creds/ file owned by host root and
# reads one whose role says creds_owner=200000; its lease's holder.uid is
# 200000.
#
# podman's storage, run and lock directories are in the test's temporary
# directory (--root, --runroot, --tmpdir, --network-config-dir, runc's
# --root); containers are removed and P unmounted at exit. Timings are
# printed and asserted loosely (a slow machine never fails the test).
# shellcheck disable=SC2016,SC2317 # SC2016: commands for the container's shell
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

for _c in podman runc busybox ldd; do
	command -v "$_c" >/dev/null 2>&1 || skip "$_c missing (scripts/deps.sh installs podman runc busybox-static)"
done
BUSYBOX=$(command -v busybox)
ldd "$BUSYBOX" >/dev/null 2>&1 && skip "$BUSYBOX is not static (install busybox-static)"

# ---- podman, kept in $T_DIR ------------------------------------------------------
POD=$T_DIR/pod
ROOTFS=$POD/rootfs
mkdir -p "$POD/root" "$POD/run" "$POD/tmp" "$POD/net" "$POD/runc" \
	"$ROOTFS/bin" "$ROOTFS/proc" "$ROOTFS/dev" "$ROOTFS/sys" "$ROOTFS/etc" "$ROOTFS/tmp"
cp "$BUSYBOX" "$ROOTFS/bin/busybox"
for _c in sh cat sleep; do ln -s busybox "$ROOTFS/bin/$_c"; done
unset _c

pod() {
	podman --root "$POD/root" --runroot "$POD/run" --tmpdir "$POD/tmp" \
		--network-config-dir "$POD/net" --storage-driver vfs \
		--runtime runc --runtime-flag "root=$POD/runc" \
		--cgroup-manager=cgroupfs --events-backend=file "$@"
}
# podman's default RLIMIT_NOFILE and RLIMIT_NPROC for a container can
# exceed the hard limits of a host whose root lacks CAP_SYS_RESOURCE, and
# runc cannot raise them there ("error setting rlimit type 6"); conmon may
# run with a lower RLIMIT_NPROC than this shell, too. Small limits can
# always be set.
small_limit() {
	local v=$1
	if [ "$v" = unlimited ] || [ "$v" -gt 1024 ]; then v=1024; fi
	echo "$v"
}
NOFILE=$(small_limit "$(ulimit -Hn)") NPROC=$(small_limit "$(ulimit -Hu)")
RUN=(--network none --ulimit "nofile=$NOFILE:$NOFILE" --ulimit "nproc=$NPROC:$NPROC")

# Directories podman makes in /run whatever it is told: removed at exit if
# this test made them and they are empty.
RUN_DIRS=()
for _d in /run/runc /run/containers; do
	[ -e "$_d" ] || RUN_DIRS+=("$_d")
done
unset _d
P=$T_DIR/shared
pod_cleanup() {
	pod rm -a -f -t 0 >/dev/null 2>&1
	if grep -qF " $P " /proc/self/mounts; then umount -l "$P"; fi
	for d in "${RUN_DIRS[@]}"; do
		[ -d "$d" ] && find "$d" -depth -type d -empty -delete 2>/dev/null
	done
	return 0
}
T_ON_EXIT+=(pod_cleanup)

T=$(_now_us)
pod run --rm "${RUN[@]}" --rootfs "$ROOTFS" /bin/sh -c 'exit 0' </dev/null >"$T_DIR/probe.err" 2>&1 ||
	skip "podman cannot run a container here: $(tail -n 1 "$T_DIR/probe.err")"
echo "probe container: $((($(_now_us) - T) / 1000)) ms"

ms_since() { echo $((($(_now_us) - $1) / 1000)); }

# ---- the shared parent, and the container started before credfs ------------------
mkdir -p "$P/mnt"
if ! mount --bind "$P" "$P" || ! mount --make-shared "$P"; then
	fail "cannot make $P a shared mount"
fi
M=$P/mnt
T=$(_now_us)
CID=$(pod run -d "${RUN[@]}" --mount "type=bind,src=$P,dst=/creds,bind-propagation=rslave" \
	--rootfs "$ROOTFS" /bin/sleep 600 </dev/null 2>"$T_DIR/run.err") ||
	fail "podman run (rslave bind of $P) failed: $(cat "$T_DIR/run.err")"
echo "podman run -d: $(ms_since "$T") ms"
PODMAN_ID=$(pod inspect -f '{{.Id}}' "$CID")
CPID=$(pod inspect -f '{{.State.Pid}}' "$CID")
check "the container runs (pid $CPID on the host)" test -d "/proc/$CPID"
check "before credfs mounts, the container sees an empty /creds/mnt" \
	not pod exec "$CID" cat /creds/mnt/creds/db-app </dev/null 2>/dev/null

# ---- credfs on P/mnt ------------------------------------------------------------------
mkdir -p "$CREDFS_STATE"
chmod 0700 "$CREDFS_STATE"
MNT=$M # the cleanup unmounts it
ARGS=(-f --state "$CREDFS_STATE" --key-file "$T_DIR/credfs.key" --audit-log "$T_DIR/audit.log"
	-o allow_other "$M")
start() {
	echo "=== credfs ${ARGS[*]}" >>"$CREDFS_LOG"
	"$CREDFS_BIN" "${ARGS[@]}" 2>>"$CREDFS_LOG" </dev/null &
	CREDFS_PID=$!
	wait_until 10 _mount_ready || fail "credfs did not mount at $M within 10 s"
}
start
setup_seed_conn wizard || fail "writing config/wizard failed: $(last_error)"
setup_seed_role db-app 1h 24h || fail "writing roles/db-app failed: $(last_error)"

# ctr_read CID - cat creds/db-app in the container; its stdout, or fail.
ctr_read() {
	pod exec "$1" cat /creds/mnt/creds/db-app </dev/null 2>"$T_DIR/exec.err"
}
user_of() { jq -r .data.username <<<"$1"; }
pass_of() { jq -r .data.password <<<"$1"; }
id_of() { jq -r '.lease_id | split("/") | last' <<<"$1"; }
full_cred() { jq -e '(.data.username | length > 0) and (.data.password | length > 0) and (.lease_id | startswith("database/creds/db-app/"))' <<<"$1" >/dev/null 2>&1; }
mounts_in() { pod exec "$1" cat /proc/mounts </dev/null | grep -cF ' /creds/mnt fuse' || true; }

# check_holder DESC LEASE_JSON - the lease names the container.
check_holder() {
	check_eq "$1: holder.container.id is podman's id" "$PODMAN_ID" "$(jq -r .holder.container.id <<<"$2")"
	check_eq "$1: holder.container.runtime" podman "$(jq -r .holder.container.runtime <<<"$2")"
	check_match "$1: holder.cgroup is the container's (cgroupfs driver)" \
		"$(jq -r .holder.cgroup <<<"$2")" "/libpod-$PODMAN_ID(/|\$)"
	check_eq "$1: holder.command" cat "$(jq -r .holder.command <<<"$2")"
	for ns in pid mnt; do
		check_eq "$1: holder.namespaces.$ns is the container's" \
			"$(stat -L -c %i "/proc/$CPID/ns/$ns")" "$(jq -r ".holder.namespaces.$ns" <<<"$2")"
	done
}

# ---- a read in the container ----------------------------------------------------------
T=$(_now_us)
C1=$(ctr_read "$CID") || fail "cat in the container failed: $(cat "$T_DIR/exec.err") $(last_error)"
READ1_MS=$(ms_since "$T")
echo "podman exec cat (first read): $READ1_MS ms"
check "busybox cat in the container reads a full credential" full_cred "$C1"
check "the mount propagated into the running container: one fuse mount at /creds/mnt" \
	test "$(mounts_in "$CID")" = 1
check "the login works from the host (psql)" can_login "$(user_of "$C1")" "$(pass_of "$C1")"
ID1=$(id_of "$C1")
L1=$(cat "$M/leases/db-app/$ID1" 2>/dev/null) || L1='{}'
echo "leases/db-app/$ID1 holder: $(jq -c .holder <<<"$L1")"
check_holder "first read" "$L1"
check "podman exec cat: under 15 s ($READ1_MS ms)" int_between "$READ1_MS" 0 15000

# A second container that binds the mount point itself (the wrong recipe).
BAD=$(pod run -d "${RUN[@]}" --mount "type=bind,src=$M,dst=/creds/mnt" \
	--rootfs "$ROOTFS" /bin/sleep 600 </dev/null 2>"$T_DIR/run.err") ||
	fail "podman run (bind of the mount point) failed: $(cat "$T_DIR/run.err")"
check "a container binding the mount point itself reads while credfs lives" full_cred "$(ctr_read "$BAD")"

# ---- kill -9, restart with the same command line ----------------------------------------
kill -KILL "$CREDFS_PID"
wait "$CREDFS_PID" 2>/dev/null || true
CREDFS_PID=
check "after kill -9 the container's read fails (ENOTCONN)" not ctr_read "$CID"
check_match "... with 'Transport endpoint is not connected'" "$(cat "$T_DIR/exec.err")" \
	'Transport endpoint is not connected'

T=$(_now_us)
start
MOUNT_MS=$(ms_since "$T")
read_ok() { C2=$(ctr_read "$CID") && full_cred "$C2"; }
C2=
wait_until 20 read_ok || fail "the same container cannot read after the restart: $(cat "$T_DIR/exec.err")"
RESTART_MS=$(ms_since "$T")
echo "restart: mounted in $MOUNT_MS ms, the container read again $RESTART_MS ms after the restart began"
check "the log says the dead mount was detached" grep -q 'was a dead credfs mount' "$CREDFS_LOG"
check "the SAME container reads a full credential after the restart" full_cred "$C2"
check "it is a new login" test "$(user_of "$C2")" != "$(user_of "$C1")"
check "the new login works from the host (psql)" can_login "$(user_of "$C2")" "$(pass_of "$C2")"
ID2=$(id_of "$C2")
L2=$(cat "$M/leases/db-app/$ID2" 2>/dev/null) || L2='{}'
check_holder "after the restart" "$L2"
check "the first lease was restored" test -f "$M/leases/db-app/$ID1"
check_eq "one fuse mount at /creds/mnt in the container (the dead one went with the detach)" \
	1 "$(mounts_in "$CID")"
check_eq "one fuse mount at $M on the host" 1 "$(grep -cF " $M fuse" /proc/self/mounts || true)"
check "restart to the container's next read: under 20 s ($RESTART_MS ms)" int_between "$RESTART_MS" 0 20000

check "the container binding the mount point itself still gets ENOTCONN" not ctr_read "$BAD"
check_match "... 'Transport endpoint is not connected' until it is recreated" "$(cat "$T_DIR/exec.err")" \
	'Transport endpoint is not connected'

# ---- a user namespace: creds_owner is the host uid ------------------------------------
# Root in the container is host uid $NSUID: the kernel checks creds/'s modes,
# and credfs records the holder, with that host uid.
NSUID=200000
NS=$(pod run -d "${RUN[@]}" --uidmap "0:$NSUID:1000" --gidmap "0:$NSUID:1000" \
	--mount "type=bind,src=$P,dst=/creds,bind-propagation=rslave" \
	--rootfs "$ROOTFS" /bin/sleep 600 </dev/null 2>"$T_DIR/run.err") ||
	fail "podman run --uidmap failed: $(cat "$T_DIR/run.err")"
printf '%s\n' db_name=wizard "creation_statements=$SEED_CREATE" default_ttl=1h max_ttl=24h \
	"creds_owner=$NSUID" >"$M/roles/db-ns" || fail "writing roles/db-ns failed: $(last_error)"
check "userns: root in the container cannot open a creds/ file owned by host root" \
	not ctr_read "$NS"
check_match "... Permission denied" "$(cat "$T_DIR/exec.err")" 'Permission denied'
C3=$(pod exec "$NS" cat /creds/mnt/creds/db-ns </dev/null 2>"$T_DIR/exec.err") || C3=
check "userns: it reads creds/db-ns, creds_owner=$NSUID (the host uid of its root)" \
	jq -e .data.username <<<"$C3"
L3=$(cat "$M/leases/db-ns/$(jq -r '.lease_id | split("/") | last' <<<"$C3" 2>/dev/null)" 2>/dev/null) ||
	L3='{}'
check_eq "userns: holder.uid is the host uid" "$NSUID" "$(jq -r .holder.uid <<<"$L3")"
check_eq "userns: holder.container.id" "$(pod inspect -f '{{.Id}}' "$NS")" \
	"$(jq -r .holder.container.id <<<"$L3")"

# ---- the end ------------------------------------------------------------------------------
pod rm -f -t 0 "$CID" "$BAD" "$NS" >/dev/null 2>&1 || fail "podman rm failed"
credfs_umount
finish
