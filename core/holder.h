/* SPDX-License-Identifier: MIT */
/*
 * holder.h - who opened a creds/ file: the process behind a FUSE caller.
 *
 * FUSE reports the calling *thread* id (in the daemon's pid namespace) and
 * RELEASE carries no caller at all, so everything is resolved at open(),
 * while the caller is blocked in the request and cannot be reaped.
 */
#ifndef CREDFS_HOLDER_H
#define CREDFS_HOLDER_H

#include <sys/types.h>

#include "lease.h"

/*
 * holder_from_tid - fill b->h (its strings in b) for the thread tid (0 = unknown: only uid/gid
 * are kept) from /proc: tgid, start time, command, executable, cgroup (the
 * line of /proc/PID/cgroup that says most: cgroup_pick), and the inodes of
 * its pid, mount and user namespaces.
 * proc is the procfs root ("/proc"; tests pass another). Returns 0, or
 * -ESRCH when the thread is gone (h then has uid/gid and pid 0).
 */
int holder_from_tid(const char *proc, pid_t tid, uid_t uid, gid_t gid, struct holder_buf *b);

/* holder_start_time - field 22 of /proc/PID/stat, 0 if unreadable. */
unsigned long long holder_start_time(const char *proc, pid_t pid);

#define HOLDER_BOOT_ID_LEN 40

/*
 * holder_boot_id - this boot's id (/proc/sys/kernel/random/boot_id, ""
 * if unreadable): a pid and start time name one process within one boot.
 */
void holder_boot_id(const char *proc, char out[HOLDER_BOOT_ID_LEN]);

#endif
