/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "cgroup.h"
#include "holder.h"

/* Read a small /proc file into buf (NUL-terminated); bytes read or -errno. */
static ssize_t holder_read(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (fd < 0)
		return -errno;
	got = read(fd, buf, n - 1);
	if (got < 0)
		got = -errno;
	else
		buf[got] = '\0';
	close(fd);
	return got;
}

static pid_t holder_tgid(const char *proc, pid_t tid)
{
	char path[PATH_MAX], buf[2048], *p;

	snprintf(path, sizeof(path), "%s/%d/status", proc, (int)tid);
	if (holder_read(path, buf, sizeof(buf)) < 0 || !(p = strstr(buf, "\nTgid:")))
		return 0;
	return (pid_t)strtol(p + 6, NULL, 10);
}

unsigned long long holder_start_time(const char *proc, pid_t pid)
{
	char path[PATH_MAX], buf[1024], *p;
	int field = 2;

	snprintf(path, sizeof(path), "%s/%d/stat", proc, (int)pid);
	if (holder_read(path, buf, sizeof(buf)) < 0)
		return 0;
	/* The command may contain spaces and ')': fields count from the last ')'. */
	if (!(p = strrchr(buf, ')')))
		return 0;
	for (p++; *p && field < 22; p++)
		if (*p == ' ')
			field++;
	return field == 22 ? strtoull(p, NULL, 10) : 0;
}

void holder_boot_id(const char *proc, char out[HOLDER_BOOT_ID_LEN])
{
	char path[PATH_MAX];

#ifdef CREDFS_TEST_HOOKS
	/* Test builds: CREDFS_TEST_BOOT_ID pretends the machine rebooted. */
	const char *fake = getenv("CREDFS_TEST_BOOT_ID");

	if (fake && *fake) {
		snprintf(out, HOLDER_BOOT_ID_LEN, "%s", fake);
		return;
	}
#endif
	snprintf(path, sizeof(path), "%s/sys/kernel/random/boot_id", proc);
	if (holder_read(path, out, HOLDER_BOOT_ID_LEN) < 0)
		out[0] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

/* The inode of /proc/PID/ns/NAME: which namespace (0 if unreadable). */
static uint64_t holder_ns(const char *proc, pid_t pid, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%d/ns/%s", proc, (int)pid, name);
	return stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* Command names and paths are the caller's bytes: keep printable ASCII only. */
static void holder_clean(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

int holder_from_tid(const char *proc, pid_t tid, uid_t uid, gid_t gid, struct holder_buf *b)
{
	struct lease_holder *h = &b->h;
	char path[PATH_MAX], buf[512], text[4096];
	pid_t pid;
	ssize_t n;

	memset(b, 0, sizeof(*b));
	h->exe = b->exe;
	h->cgroup = b->cgroup;
	h->uid = uid;
	h->gid = gid;
	if (tid <= 0 || (pid = holder_tgid(proc, tid)) <= 0)
		return -ESRCH;
	h->pid = pid;
	h->start_time = holder_start_time(proc, pid);
	snprintf(path, sizeof(path), "%s/%d/comm", proc, (int)pid);
	if (holder_read(path, buf, sizeof(h->comm)) > 0) {
		buf[strcspn(buf, "\n")] = '\0';
		buf[sizeof(h->comm) - 1] = '\0';
		memcpy(h->comm, buf, strlen(buf) + 1);
	}
	snprintf(path, sizeof(path), "%s/%d/exe", proc, (int)pid);
	if ((n = readlink(path, b->exe, sizeof(b->exe) - 1)) > 0)
		b->exe[n] = '\0';
	snprintf(path, sizeof(path), "%s/%d/cgroup", proc, (int)pid);
	/* v1 and hybrid hosts list many lines, and the last ("0::/") names nothing. */
	if (holder_read(path, text, sizeof(text)) > 0)
		cgroup_pick(text, b->cgroup, sizeof(b->cgroup));
	h->ns_pid = holder_ns(proc, pid, "pid");
	h->ns_mnt = holder_ns(proc, pid, "mnt");
	h->ns_user = holder_ns(proc, pid, "user");
	holder_clean(h->comm);
	holder_clean(b->exe);
	holder_clean(b->cgroup);
	return 0;
}
