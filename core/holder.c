/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	char path[PATH_MAX], buf[512];
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
	if (holder_read(path, buf, sizeof(buf)) > 0) {
		/* cgroup v2: "0::/path"; keep the last line's path. */
		char *line = buf, *nl;

		while ((nl = strchr(line, '\n')) && nl[1])
			line = nl + 1;
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "0::", 3) == 0)
			line += 3;
		if (strlen(line) >= sizeof(b->cgroup))
			line[sizeof(b->cgroup) - 1] = '\0';
		memcpy(b->cgroup, line, strlen(line) + 1);
	}
	holder_clean(h->comm);
	holder_clean(b->exe);
	holder_clean(b->cgroup);
	return 0;
}
