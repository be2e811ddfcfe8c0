#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# t_splice.sh - every read path of creds/ROLE gives the opener its own full
# credential and never another open's (issue 11 item 1; fuse-pitfalls.md
# 4.3). A splice or sendfile read of a FUSE file goes through the inode's
# page cache even with direct I/O; credfs gives every open a node of its
# own and stores the body in that node's cache before answering the open.
#   1. the leak: B opens and holds, A opens and splices, then B splices: B
#      gets B's lease, not A's;
#   2. 50 concurrent holders splice-read 50 distinct bodies, each leased to
#      its reader's pid;
#   3. busybox cat, shutil.copyfile, os.sendfile, copy_file_range (or its
#      EXDEV fallback), GNU cp and mmap (shared and private) each get a
#      full credential that logs in, leased to that reader;
#   4. a re-open through /proc/self/fd gets the same body and no new lease;
#      stat before open says 0 bytes, fstat the body's length, both the
#      same st_ino;
#   5. metrics is 0400 the daemon's, readable by root and not by uid 65534
#      (until --metrics-mode 0444), and listed in the root;
#   6. (test builds) without notify_store, the direct I/O fallback: a
#      splice may read nothing, never another open's body.
# shellcheck disable=SC2016,SC2119,SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v busybox >/dev/null 2>&1 || skip "busybox missing (apt-get install busybox-static)"
command -v setpriv >/dev/null 2>&1 || skip "setpriv missing"

as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"
}

credfs_mount -o allow_other
M=$MNT
setup_seed_conn wizard || fail "writing config/wizard failed: $(last_error)"
setup_seed_role db-app || fail "writing roles/db-app failed: $(last_error)"
C=$M/creds/db-app

PY=$T_DIR/readers.py
cat >"$PY" <<-'EOF'
	import json, mmap, os, shutil, sys, tempfile

	def splice_read(fd, at_start=True):
	    if at_start:
	        os.lseek(fd, 0, os.SEEK_SET)
	    r, w = os.pipe()
	    out = b""
	    while True:
	        n = os.splice(fd, w, 65536)
	        if n == 0:
	            break
	        while n > 0:
	            chunk = os.read(r, n)
	            out += chunk
	            n -= len(chunk)
	    os.close(r)
	    os.close(w)
	    return out

	def report(tag, body, extra=None):
	    d = {"tag": tag, "pid": os.getpid(), "body": body.decode(errors="replace")}
	    d.update(extra or {})
	    return json.dumps(d)

	def child(fn):
	    """Run fn() in a child process; return what it wrote (one line)."""
	    r, w = os.pipe()
	    pid = os.fork()
	    if pid == 0:
	        os.close(r)
	        try:
	            line = fn()
	        except Exception as e:
	            line = json.dumps({"tag": "error", "pid": os.getpid(), "error": repr(e)})
	        os.write(w, (line + "\n").encode())
	        os._exit(0)
	    os.close(w)
	    out = b""
	    while True:
	        b = os.read(r, 65536)
	        if not b:
	            break
	        out += b
	    os.close(r)
	    os.waitpid(pid, 0)
	    return out.decode().strip()

	def leak(path):
	    # B opens and holds; A opens, seeks to the end (the daemon reports A's
	    # size), splices; then B splices.
	    b_go_r, b_go_w = os.pipe()
	    b_ready_r, b_ready_w = os.pipe()
	    b_out_r, b_out_w = os.pipe()
	    pid = os.fork()
	    if pid == 0:
	        fd = os.open(path, os.O_RDONLY)
	        os.write(b_ready_w, b"1")
	        os.read(b_go_r, 1)
	        line = report("B", splice_read(fd))
	        os.write(b_out_w, (line + "\n").encode())
	        os._exit(0)
	    os.read(b_ready_r, 1)
	    def a():
	        fd = os.open(path, os.O_RDONLY)
	        os.lseek(fd, 0, os.SEEK_END)
	        body = splice_read(fd)
	        os.close(fd)
	        return report("A", body)
	    print(child(a))
	    os.write(b_go_w, b"1")
	    out = b""
	    while not out.endswith(b"\n"):
	        out += os.read(b_out_r, 65536)
	    os.waitpid(pid, 0)
	    print(out.decode().strip())

	def many(path, n):
	    # n holders open at once, then each splices its own.
	    ready_r, ready_w = os.pipe()
	    go_r, go_w = os.pipe()
	    out_r, out_w = os.pipe()
	    pids = []
	    for _ in range(n):
	        pid = os.fork()
	        if pid == 0:
	            try:
	                fd = os.open(path, os.O_RDONLY)
	            except OSError as e:
	                os.write(ready_w, b"1")
	                os.write(out_w, (json.dumps({"tag": "error", "error": repr(e)}) + "\n").encode())
	                os._exit(1)
	            os.write(ready_w, b"1")
	            os.read(go_r, 1)
	            line = report("holder", splice_read(fd))
	            os.write(out_w, (line + "\n").encode())
	            os._exit(0)
	        pids.append(pid)
	    got = 0
	    while got < n:
	        got += len(os.read(ready_r, n - got))
	    os.write(go_w, b"1" * n)
	    os.close(out_w)
	    out = b""
	    for pid in pids:
	        os.waitpid(pid, 0)
	    while True:
	        b = os.read(out_r, 65536)
	        if not b:
	            break
	        out += b
	    sys.stdout.write(out.decode())

	def tmpfile():
	    f = tempfile.NamedTemporaryFile(dir=os.environ["T_DIR"], delete=False)
	    f.close()
	    return f.name

	def by_sendfile(path):
	    fd = os.open(path, os.O_RDONLY)
	    dst = tmpfile()
	    out = os.open(dst, os.O_WRONLY)
	    off = 0
	    while True:
	        n = os.sendfile(out, fd, off, 1 << 20)
	        if n == 0:
	            break
	        off += n
	    os.close(out)
	    return report("sendfile", open(dst, "rb").read())

	def by_copyfile(path):
	    dst = tmpfile()
	    shutil.copyfile(path, dst)
	    return report("copyfile", open(dst, "rb").read())

	def by_copy_file_range(path):
	    fd = os.open(path, os.O_RDONLY)
	    dst = tmpfile()
	    out = os.open(dst, os.O_WRONLY)
	    how = "copy_file_range"
	    try:
	        while os.copy_file_range(fd, out, 1 << 20) > 0:
	            pass
	    except OSError as e:
	        # Another filesystem: EXDEV on every kernel; callers fall back to read().
	        if e.errno not in (18, 95):
	            raise
	        how = "copy_file_range, then read after errno %d" % e.errno
	        os.lseek(fd, 0, os.SEEK_SET)
	        while True:
	            b = os.read(fd, 65536)
	            if not b:
	                break
	            os.write(out, b)
	    os.close(out)
	    return report("copy_file_range", open(dst, "rb").read(), {"how": how})

	def by_mmap(path, flags):
	    fd = os.open(path, os.O_RDONLY)
	    m = mmap.mmap(fd, 0, flags=flags, prot=mmap.PROT_READ)
	    body = bytes(m[:])
	    m.close()
	    return report("mmap", body)

	def by_splice(path):
	    fd = os.open(path, os.O_RDONLY)
	    return report("splice", splice_read(fd, at_start=False))

	def readers(path):
	    for fn in (by_sendfile, by_copyfile, by_copy_file_range, by_splice,
	               lambda p: by_mmap(p, mmap.MAP_SHARED),
	               lambda p: by_mmap(p, mmap.MAP_PRIVATE)):
	        print(child(lambda: fn(path)))

	def reopen(path):
	    st = os.stat(path)
	    fd = os.open(path, os.O_RDONLY)
	    fst = os.fstat(fd)
	    body = os.pread(fd, 65536, 0)
	    fd2 = os.open("/proc/self/fd/%d" % fd, os.O_RDONLY)
	    again = os.pread(fd2, 65536, 0)
	    spliced = splice_read(fd2)
	    os.close(fd)
	    after = splice_read(fd2)
	    fst2 = os.fstat(fd2)
	    os.close(fd2)
	    print(json.dumps({"pid": os.getpid(), "body": body.decode(), "body_len": len(body),
	                      "again": again.decode(),
	                      "spliced": spliced.decode(), "after_close": after.decode(),
	                      "stat_size": st.st_size, "fstat_size": fst.st_size,
	                      "fstat_size_reopened": fst2.st_size, "stat_ino": st.st_ino,
	                      "fstat_ino": fst.st_ino}))

	cmd = sys.argv[1]
	if cmd == "leak":
	    leak(sys.argv[2])
	elif cmd == "many":
	    many(sys.argv[2], int(sys.argv[3]))
	elif cmd == "readers":
	    readers(sys.argv[2])
	elif cmd == "reopen":
	    reopen(sys.argv[2])
EOF
export T_DIR

# lease_of BODY - the lease file of a creds/ body (JSON), or nothing.
lease_of() {
	local id
	id=$(jq -r '.lease_id | split("/") | last' <<<"$1" 2>/dev/null) || return 0
	cat "$M/leases/db-app/$id" 2>/dev/null || true
}

# check_reader TAG PID BODY [LOGIN] - a full credential leased to PID (and, with LOGIN, one that logs in).
check_reader() {
	local tag=$1 pid=$2 body=$3 user lease
	user=$(jq -r .data.username <<<"$body" 2>/dev/null) || user=
	check_match "$tag: a full credential" "$user" '^v-'
	lease=$(lease_of "$body")
	check_eq "$tag: its lease names the reader's pid" "$pid" "$(jq -r .holder.pid <<<"$lease" 2>/dev/null)"
	check_eq "$tag: its lease is for that username" "$user" "$(jq -r .username <<<"$lease" 2>/dev/null)"
	if [ "${4:-}" = login ]; then
		check "$tag: the credential logs in" can_login "$user" "$(jq -r .data.password <<<"$body")"
	fi
}

# ---- 1. the leak -------------------------------------------------------------
out=$(python3 "$PY" leak "$C") || fail "the leak scenario failed"
A=$(sed -n 1p <<<"$out")
B=$(sed -n 2p <<<"$out")
check_eq "1: A is A" A "$(jq -r .tag <<<"$A")"
check_eq "1: B is B" B "$(jq -r .tag <<<"$B")"
check_reader "1: A (splice after lseek SEEK_END)" "$(jq -r .pid <<<"$A")" "$(jq -r .body <<<"$A")" login
check_reader "1: B (splice after A's)" "$(jq -r .pid <<<"$B")" "$(jq -r .body <<<"$B")" login
check "1: B's credential is not A's" test "$(jq -r .body <<<"$A" | jq -r .data.username)" != \
	"$(jq -r .body <<<"$B" | jq -r .data.username)"

# ---- 2. 50 concurrent holders ------------------------------------------------
N=50
out=$(python3 "$PY" many "$C" $N) || fail "the $N holders failed: $(last_error)"
check_eq "2: $N holders read" $N "$(grep -c '"tag": "holder"' <<<"$out")"
check_eq "2: $N distinct usernames" $N \
	"$(while IFS= read -r l; do jq -r .body <<<"$l" | jq -r .data.username; done <<<"$out" | grep '^v-' | sort -u | wc -l)"
bad=0
while IFS= read -r l; do
	body=$(jq -r .body <<<"$l")
	pid=$(jq -r .pid <<<"$l")
	if [ "$(lease_of "$body" | jq -r .holder.pid 2>/dev/null)" != "$pid" ]; then
		bad=$((bad + 1))
	fi
done <<<"$out"
check_eq "2: every holder's lease names its pid" 0 "$bad"
l=$(tail -n 1 <<<"$out")
check_reader "2: the last holder" "$(jq -r .pid <<<"$l")" "$(jq -r .body <<<"$l")" login

# ---- 3. readers that trust st_size or use the page cache ------------------------
body=$(sh -c 'echo $$; exec busybox cat "$1"' _ "$C") || fail "busybox cat failed: $(last_error)"
check_reader "3: busybox cat" "$(head -n 1 <<<"$body")" "$(tail -n +2 <<<"$body")" login
dst=$T_DIR/cp.out
pid=$(sh -c 'echo $$ >"$2.pid"; exec cp "$1" "$2"' _ "$C" "$dst"; cat "$dst.pid")
check_reader "3: GNU cp" "$pid" "$(cat "$dst")" login
out=$(python3 "$PY" readers "$C") || fail "the readers failed"
check_eq "3: six python readers" 6 "$(grep -c '"body"' <<<"$out")"
while IFS= read -r l; do
	tag=$(jq -r .tag <<<"$l")
	if [ "$tag" = error ]; then
		check_eq "3: a reader failed" "" "$l"
		continue
	fi
	how=$(jq -r '.how // empty' <<<"$l")
	check_reader "3: $tag${how:+ ($how)}" "$(jq -r .pid <<<"$l")" "$(jq -r .body <<<"$l")" login
done <<<"$out"

# ---- 4. re-open through /proc/self/fd; stat and fstat ----------------------------
leases0=$(ls "$M/leases/db-app" | wc -l)
out=$(python3 "$PY" reopen "$C") || fail "the re-open scenario failed: $(last_error)"
body=$(jq -r .body <<<"$out")
check_reader "4: the first open" "$(jq -r .pid <<<"$out")" "$body"
check_eq "4: a re-open of the held node reads the same body" "$body" "$(jq -r .again <<<"$out")"
check_eq "4: ... and splices the same body" "$body" "$(jq -r .spliced <<<"$out")"
check_eq "4: ... also after the first fd is closed" "$body" "$(jq -r .after_close <<<"$out")"
check_eq "4: the re-open issued nothing" $((leases0 + 1)) "$(ls "$M/leases/db-app" | wc -l)"
check_eq "4: stat before open: size 0" 0 "$(jq -r .stat_size <<<"$out")"
check_eq "4: fstat of the open fd: the body's length" "$(jq -r .body_len <<<"$out")" \
	"$(jq -r .fstat_size <<<"$out")"
check_eq "4: fstat of the re-opened fd: the same length" "$(jq -r .fstat_size <<<"$out")" \
	"$(jq -r .fstat_size_reopened <<<"$out")"
check_eq "4: stat and fstat show one st_ino" "$(jq -r .stat_ino <<<"$out")" "$(jq -r .fstat_ino <<<"$out")"
check_eq "4: stat creds/db-app (no open) says 0 bytes" 0 "$(stat -c %s "$C")"
check "4: the daemon log holds no issued password" file_lacks "$(jq -r .data.password <<<"$body")" "$CREDFS_LOG"

# ---- 5. metrics ----------------------------------------------------------------
check "5: ls of the root lists metrics" grep -qx metrics < <(ls "$M")
check_eq "5: metrics is 0400, the daemon's" "400 0 0" "$(stat -c '%a %u %g' "$M/metrics")"
check "5: root reads metrics" grep -q '^credfs_' "$M/metrics"
check "5: uid 65534 cannot read metrics" not as_nobody cat "$M/metrics" 2>/dev/null
check "5: metrics cannot be written" not sh -c 'echo x >"$1"' _ "$M/metrics" 2>/dev/null
credfs_umount
credfs_mount -o allow_other --metrics-mode 0444
check_eq "5: --metrics-mode 0444" "444 0 0" "$(stat -c '%a %u %g' "$MNT/metrics")"
check "5: ... uid 65534 reads metrics" as_nobody grep -q '^credfs_' "$MNT/metrics"
credfs_umount

# ---- 6. the fallback without notify_store: never another open's body -------------
if "$CREDFS_BIN" --version | grep -q 'test hooks'; then
	export CREDFS_TEST_NO_STORE=1
	credfs_mount -o allow_other
	unset CREDFS_TEST_NO_STORE
	M=$MNT
	C=$M/creds/db-app
	out=$(python3 "$PY" leak "$C") || fail "the leak scenario (fallback) failed"
	A=$(sed -n 1p <<<"$out")
	B=$(sed -n 2p <<<"$out")
	check_reader "6: fallback: A (lseek SEEK_END, then splice)" "$(jq -r .pid <<<"$A")" \
		"$(jq -r .body <<<"$A")"
	bbody=$(jq -r .body <<<"$B")
	if [ -n "$bbody" ]; then
		check_reader "6: fallback: B's splice, when it reads anything" "$(jq -r .pid <<<"$B")" "$bbody"
	else
		check "6: fallback: B's splice reads nothing (acceptable), never A's" true
	fi
	check "6: fallback: B never reads A's body" test "$bbody" != "$(jq -r .body <<<"$A")"
	check "6: fallback: the daemon says it fell back" grep -q 'fall back to direct I/O' "$CREDFS_LOG"
	body=$(sh -c 'echo $$; exec cat "$1"' _ "$C") || fail "cat creds/db-app (fallback) failed"
	check_reader "6: fallback: cat" "$(head -n 1 <<<"$body")" "$(tail -n +2 <<<"$body")" login
	credfs_umount
fi
check "5: --metrics-mode refuses write bits" not "$CREDFS_BIN" --metrics-mode 0644 --state none \
	"$T_DIR" 2>/dev/null
finish
