/* SPDX-License-Identifier: MIT */
/*
 * test_holder.c - who opened a creds/ file, from the real /proc (this
 * process and one of its threads) and from a fake procfs tree.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "holder.h"
#include "test.h"

/* A stat line whose command is "a) (b c" (field 22, starttime, is 123456789). */
#define FAKE_STAT                                                                         \
	"4321 (a) (b c) S 1 4321 4321 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 123456789 " \
	"1000000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0\n"

static char root[PATH_MAX];

static int put(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path) ||
	    !(f = fopen(path, "w")))
		return -1;
	fputs(text, f);
	return fclose(f);
}

static void rm_tree(const char *dir)
{
	char cmd[PATH_MAX + 16];

	if (strncmp(dir, "/tmp/", 5) != 0 && strncmp(dir, "/var/tmp/", 9) != 0)
		return; /* never anything else */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

/* A fake process pid (with thread tid) under proc. */
static int fake_proc(const char *proc, int pid, int tid, const char *stat, const char *comm,
		     const char *exe, const char *cgroup)
{
	char dir[PATH_MAX], status[256];
	int ids[2] = { pid, tid };

	for (int i = 0; i < 2 && ids[i]; i++) {
		if (snprintf(dir, sizeof(dir), "%s/%d", proc, ids[i]) >= (int)sizeof(dir) ||
		    mkdir(dir, 0700) != 0)
			return -1;
		snprintf(status, sizeof(status),
			 "Name:\t%s\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t%d\nNgid:\t0\n"
			 "Pid:\t%d\nPPid:\t1\nUid:\t1000\t1000\t1000\t1000\n",
			 "fake", pid, ids[i]);
		if (put(dir, "status", status) != 0 || (stat && put(dir, "stat", stat) != 0) ||
		    (comm && put(dir, "comm", comm) != 0) ||
		    (cgroup && put(dir, "cgroup", cgroup) != 0))
			return -1;
		if (exe) {
			char link[PATH_MAX];

			if (snprintf(link, sizeof(link), "%s/exe", dir) >= (int)sizeof(link) ||
			    symlink(exe, link) != 0)
				return -1;
		}
	}
	return 0;
}

static void test_self(void)
{
	struct holder_buf hb;
	char exe[256] = "", comm[32] = "";
	ssize_t n;
	FILE *f;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	CHECK(n > 0);
	if (n > 0)
		exe[n] = '\0';
	f = fopen("/proc/self/comm", "r");
	CHECK(f != NULL);
	if (f) {
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	memset(&hb, 0x5a, sizeof(hb));
	CHECK_INT_EQ(holder_from_tid("/proc", getpid(), getuid(), getgid(), &hb), 0);
	CHECK_INT_EQ(hb.h.pid, getpid());
	CHECK_INT_EQ(hb.h.uid, getuid());
	CHECK_INT_EQ(hb.h.gid, getgid());
	CHECK_STR_EQ(hb.h.comm, comm); /* "test_holder", or the tool's under valgrind */
	CHECK(hb.h.comm[0] != '\0');
	CHECK_STR_EQ(hb.h.exe, exe);
	CHECK(hb.h.start_time > 0);
	CHECK_INT_EQ(hb.h.start_time, holder_start_time("/proc", getpid()));
	/* cgroup: whatever this process is in, as a path */
	CHECK(hb.h.cgroup[0] == '\0' || hb.h.cgroup[0] == '/');
	CHECK(strchr(hb.h.cgroup, '\n') == NULL);
	/* namespaces: this process's, as stat(1) of /proc/self/ns/... shows them */
	{
		static const char *const names[] = { "pid", "mnt", "user" };
		uint64_t got[] = { hb.h.ns_pid, hb.h.ns_mnt, hb.h.ns_user };

		for (int i = 0; i < 3; i++) {
			char path[64];
			struct stat st;

			snprintf(path, sizeof(path), "/proc/self/ns/%s", names[i]);
			CHECK_INT_EQ(stat(path, &st), 0);
			CHECK_INT_EQ(got[i], st.st_ino);
			CHECK(got[i] != 0);
		}
	}
	/* uid/gid are what the caller says, not what /proc says */
	CHECK_INT_EQ(holder_from_tid("/proc", getpid(), 4242, 4343, &hb), 0);
	CHECK_INT_EQ(hb.h.uid, 4242);
	CHECK_INT_EQ(hb.h.gid, 4343);
}

struct thread_arg {
	pid_t tid;
	int r;
	struct holder_buf hb;
};

static void *thread_main(void *p)
{
	struct thread_arg *a = p;

	a->tid = (pid_t)syscall(SYS_gettid);
	a->r = holder_from_tid("/proc", a->tid, 1, 2, &a->hb);
	return NULL;
}

static void test_thread(void)
{
	struct thread_arg a = { 0 };
	char self_comm[32] = "";
	pthread_t th;
	FILE *f;

	/* the process's command, as the main thread's comm */
	if ((f = fopen("/proc/self/comm", "r"))) {
		if (fgets(self_comm, sizeof(self_comm), f))
			self_comm[strcspn(self_comm, "\n")] = '\0';
		fclose(f);
	}

	CHECK_INT_EQ(pthread_create(&th, NULL, thread_main, &a), 0);
	pthread_join(th, NULL);
	CHECK(a.tid > 0);
	CHECK(a.tid != getpid());
	CHECK_INT_EQ(a.r, 0);
	CHECK_INT_EQ(a.hb.h.pid, getpid());
	CHECK(a.hb.h.comm[0] != '\0');
	CHECK_STR_EQ(a.hb.h.comm, self_comm);
	CHECK_INT_EQ(a.hb.h.start_time, holder_start_time("/proc", getpid()));
}

static void test_gone(void)
{
	struct holder_buf hb;

	memset(&hb, 0x5a, sizeof(hb));
	CHECK_INT_EQ(holder_from_tid("/proc", INT_MAX, 7, 8, &hb), -ESRCH);
	CHECK_INT_EQ(hb.h.pid, 0);
	CHECK_INT_EQ(hb.h.uid, 7);
	CHECK_INT_EQ(hb.h.gid, 8);
	CHECK_STR_EQ(hb.h.comm, "");
	CHECK_STR_EQ(hb.h.exe, "");
	CHECK_INT_EQ(hb.h.start_time, 0);
	CHECK_INT_EQ(holder_from_tid("/proc", 0, 7, 8, &hb), -ESRCH);
	CHECK_INT_EQ(hb.h.pid, 0);
	CHECK_INT_EQ(hb.h.uid, 7);
	CHECK_INT_EQ(holder_from_tid("/proc", -1, 7, 8, &hb), -ESRCH);
	CHECK_INT_EQ(holder_from_tid("/nonexistent-proc", getpid(), 7, 8, &hb), -ESRCH);
	CHECK_INT_EQ(holder_start_time("/proc", INT_MAX), 0);
}

static void test_fake_proc(void)
{
	struct holder_buf hb;

	CHECK_INT_EQ(fake_proc(root, 4321, 4322, FAKE_STAT, "a) (b c\n", "/opt/fake bin/prog",
			       "0::/system.slice/x.scope\n"),
		     0);
	memset(&hb, 0x5a, sizeof(hb));
	CHECK_INT_EQ(holder_from_tid(root, 4321, 1000, 100, &hb), 0);
	CHECK_INT_EQ(hb.h.pid, 4321);
	CHECK_INT_EQ(hb.h.start_time, 123456789);
	CHECK_STR_EQ(hb.h.comm, "a) (b c");
	CHECK_STR_EQ(hb.h.exe, "/opt/fake bin/prog");
	CHECK_STR_EQ(hb.h.cgroup, "/system.slice/x.scope");
	CHECK_INT_EQ(hb.h.uid, 1000);
	CHECK_INT_EQ(hb.h.gid, 100);
	CHECK_INT_EQ(holder_start_time(root, 4321), 123456789);

	/* a thread of 4321 maps to the process */
	memset(&hb, 0, sizeof(hb));
	CHECK_INT_EQ(holder_from_tid(root, 4322, 1000, 100, &hb), 0);
	CHECK_INT_EQ(hb.h.pid, 4321);
	CHECK_INT_EQ(hb.h.start_time, 123456789);
	CHECK_STR_EQ(hb.h.cgroup, "/system.slice/x.scope");

	CHECK_INT_EQ(holder_from_tid(root, 4323, 1000, 100, &hb), -ESRCH);
}

static void test_fake_oddities(void)
{
	struct holder_buf hb;

	/* cgroup v1 lines before the v2 one; a 15-byte comm; control bytes cleaned */
	CHECK_INT_EQ(fake_proc(root, 500, 0, FAKE_STAT, "abcdefghijklmno\n", "/bin/x\x1b[31m",
			       "12:pids:/user.slice\n1:name=systemd:/user.slice\n0::/user.slice/"
			       "user-1000.slice/session-2.scope\n"),
		     0);
	CHECK_INT_EQ(holder_from_tid(root, 500, 0, 0, &hb), 0);
	CHECK_STR_EQ(hb.h.comm, "abcdefghijklmno");
	CHECK_STR_EQ(hb.h.exe, "/bin/x?[31m");
	CHECK_STR_EQ(hb.h.cgroup, "/user.slice/user-1000.slice/session-2.scope");

	CHECK_INT_EQ(fake_proc(root, 501, 0, FAKE_STAT, "x\ty\n", NULL, "0::/\n"), 0);
	CHECK_INT_EQ(holder_from_tid(root, 501, 0, 0, &hb), 0);
	CHECK_STR_EQ(hb.h.comm, "x?y");
	CHECK_STR_EQ(hb.h.exe, ""); /* no exe link (a kernel thread, or no permission) */
	CHECK_STR_EQ(hb.h.cgroup, "/");
	CHECK_INT_EQ(hb.h.ns_pid, 0); /* no ns/ in the fake tree */

	/* a hybrid host: the last line ("0::/") names nothing, the v1 ones name the container */
	CHECK_INT_EQ(
		fake_proc(
			root, 507, 0, FAKE_STAT, "sh\n", NULL,
			"12:pids:/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope\n"
			"1:name=systemd:/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope\n"
			"0::/\n"),
		0);
	CHECK_INT_EQ(holder_from_tid(root, 507, 0, 0, &hb), 0);
	CHECK_STR_EQ(
		hb.h.cgroup,
		"/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope");

	/* unreadable details: still the pid */
	CHECK_INT_EQ(fake_proc(root, 502, 0, NULL, NULL, NULL, NULL), 0);
	CHECK_INT_EQ(holder_from_tid(root, 502, 0, 0, &hb), 0);
	CHECK_INT_EQ(hb.h.pid, 502);
	CHECK_INT_EQ(hb.h.start_time, 0);
	CHECK_STR_EQ(hb.h.comm, "");
	CHECK_STR_EQ(hb.h.cgroup, "");

	/* a stat without ')' or too few fields: no start time */
	CHECK_INT_EQ(fake_proc(root, 503, 0, "503 noparen S 1 2 3\n", NULL, NULL, NULL), 0);
	CHECK_INT_EQ(holder_start_time(root, 503), 0);
	CHECK_INT_EQ(fake_proc(root, 504, 0, "504 (short) S 1 2 3 4 5\n", NULL, NULL, NULL), 0);
	CHECK_INT_EQ(holder_start_time(root, 504), 0);
	/* a command that ends in ") 9 9 9 ..." cannot fake the start time */
	CHECK_INT_EQ(
		fake_proc(root, 505, 0,
			  "505 (x) 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 666) S 1 "
			  "505 505 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 777 1 1\n",
			  NULL, NULL, NULL),
		0);
	CHECK_INT_EQ(holder_start_time(root, 505), 777);
	/* a status without Tgid: unknown */
	{
		char dir[PATH_MAX];

		CHECK(snprintf(dir, sizeof(dir), "%s/506", root) < (int)sizeof(dir));
		CHECK_INT_EQ(mkdir(dir, 0700), 0);
		CHECK_INT_EQ(put(dir, "status", "Name:\tx\nPid:\t506\n"), 0);
		CHECK_INT_EQ(holder_from_tid(root, 506, 0, 0, &hb), -ESRCH);
	}
}

/* a procfs root of any (reasonable) length works, not only a short one */
static void test_long_root(void)
{
	char deep[PATH_MAX];
	struct holder_buf hb;

	CHECK(snprintf(deep, sizeof(deep), "%s/%s", root,
		       "a-rather-long-directory-name-standing-in-for-a-deep-TMPDIR") <
	      (int)sizeof(deep));
	CHECK_INT_EQ(mkdir(deep, 0700), 0);
	CHECK_INT_EQ(fake_proc(deep, 4321, 0, FAKE_STAT, "deep\n", "/bin/deep",
			       "0::/system.slice/deep.scope\n"),
		     0);
	CHECK_INT_EQ(holder_from_tid(deep, 4321, 0, 0, &hb), 0);
	CHECK_INT_EQ(hb.h.pid, 4321);
	CHECK_INT_EQ(hb.h.start_time, 123456789);
	CHECK_STR_EQ(hb.h.comm, "deep");
	CHECK_STR_EQ(hb.h.cgroup, "/system.slice/deep.scope");
}

int main(void)
{
	snprintf(root, sizeof(root), "/tmp/credfs-holder-XXXXXX");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_self);
	RUN(test_thread);
	RUN(test_gone);
	RUN(test_fake_proc);
	RUN(test_fake_oddities);
	RUN(test_long_root);
	rm_tree(root);
	return DONE();
}
