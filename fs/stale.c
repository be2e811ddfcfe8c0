/* SPDX-License-Identifier: MIT */
/*
 * stale.c - a mount point left dead by a crash.
 *
 * When a FUSE daemon dies (kill -9, OOM) its mount stays until someone
 * unmounts it, and every access, stat(2) of the mount point included,
 * fails with ENOTCONN; so does libfuse's realpath() of the mount point. A
 * restarted credfs detaches that mount (MNT_DETACH: it leaves the namespace
 * at once even while processes still hold files in it) and mounts anew on
 * the same directory, so a process whose working directory is the parent
 * sees the new mount at its next lookup.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "svc.h"

extern char **environ;

/* Undo mountinfo's octal escapes (\040 for a space, ...) in place. */
static void stale_unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/*
 * The file system type and source of the topmost mount at path (absolute,
 * canonical) in /proc/self/mountinfo; 0, or -ENOENT.
 */
static int stale_lookup(const char *path, char *type, char *source, size_t n)
{
	char line[8192];
	int r = -ENOENT;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return -errno;
	/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [TAGS...] - TYPE SOURCE SUPEROPTS" */
	while (fgets(line, sizeof(line), f)) {
		char *save = NULL, *mp, *dash, *t, *src;

		if (!(dash = strstr(line, " - ")))
			continue;
		*dash = '\0';
		strtok_r(line, " ", &save);
		for (int i = 0; i < 3; i++)
			strtok_r(NULL, " ", &save);
		if (!(mp = strtok_r(NULL, " ", &save)))
			continue;
		stale_unescape(mp);
		save = NULL;
		t = strtok_r(dash + 3, " ", &save);
		src = strtok_r(NULL, " ", &save);
		if (!t || !src || strcmp(mp, path) != 0)
			continue;
		/* Later lines are mounted on top of earlier ones: keep the last. */
		snprintf(type, n, "%s", t);
		snprintf(source, n, "%s", src);
		stale_unescape(source);
		r = 0;
	}
	fclose(f);
	return r;
}

/* The canonical path of mnt, whose last component cannot be resolved. */
static int stale_path(const char *mnt, char *out, size_t n)
{
	char dir[PATH_MAX], base[PATH_MAX], real[PATH_MAX];
	size_t len = strlen(mnt);

	if (len >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, mnt, len + 1);
	memcpy(base, mnt, len + 1);
	while (len > 1 && dir[len - 1] == '/') {
		len--;
		dir[len] = base[len] = '\0';
	}
	if (!realpath(dirname(dir), real))
		return -errno;
	if (snprintf(out, n, "%s/%s", strcmp(real, "/") ? real : "", basename(base)) >= (int)n)
		return -ENAMETOOLONG;
	return 0;
}

static int stale_detach(const char *path)
{
	char *argv[] = { "fusermount3", "-u", "-z", (char *)path, NULL };
	int status;
	pid_t pid;

	if (geteuid() == 0)
		return umount2(path, MNT_DETACH) == 0 ? 0 : -errno;
	/* A user's FUSE mount: only the setuid helper may unmount it. */
	if ((errno = posix_spawnp(&pid, "fusermount3", NULL, NULL, argv, environ)) != 0)
		return -errno;
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EPERM;
}

int stale_clear(const char *mnt)
{
	char path[PATH_MAX], type[256] = "", source[256] = "";
	struct statfs sfs;
	int r;

	/*
	 * statfs, not stat: the kernel may answer stat from the root's cached
	 * attributes (credfs keeps them for a second) without asking the dead
	 * daemon; STATFS always goes to it.
	 */
	if (!strncmp(mnt, "/dev/fd/", 8) || statfs(mnt, &sfs) == 0 || errno != ENOTCONN)
		return 0; /* fine, or an error fuse_parse_cmdline reports */
	if ((r = stale_path(mnt, path, sizeof(path))) != 0) {
		fprintf(stderr, "credfs: %s is a dead mount, and: %s\n", mnt, strerror(-r));
		return -1;
	}
	/* Not in mountinfo (another namespace's view): ENOTCONN comes from FUSE only. */
	r = stale_lookup(path, type, source, sizeof(type));
	/* fuse.credfs, or fuse with fsname credfs (an old or a -o subtype-less mount) */
	if (r == 0 && strcmp(type, "fuse.credfs") != 0 &&
	    !(strncmp(type, "fuse", 4) == 0 && strcmp(source, "credfs") == 0)) {
		fprintf(stderr,
			"credfs: %s is a dead mount of %s (%s), not of credfs: unmount it first "
			"(fusermount3 -u -z %s)\n",
			path, type, source, path);
		return -1;
	}
	if ((r = stale_detach(path)) != 0) {
		fprintf(stderr,
			"credfs: %s is a dead credfs mount (its daemon died) and "
			"detaching it failed: %s\n",
			path, strerror(-r));
		return -1;
	}
	log_warn("%s was a dead credfs mount (its daemon died): detached it, mounting anew", path);
	return 0;
}
