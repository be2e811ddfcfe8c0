/* SPDX-License-Identifier: MIT */
/*
 * svc.h - credfs as a service: the mount.fuse3 command line, a dead mount
 * left by a crash, systemd's readiness protocol and syslog. Each is called
 * from main() at start (not thread-safe) unless it says otherwise.
 */
#ifndef CREDFS_SVC_H
#define CREDFS_SVC_H

#include <fuse_opt.h>

/*
 * opts_positional - the positional arguments of args: MOUNTPOINT, or
 * SOURCE MOUNTPOINT as mount.fuse3 (mount -t fuse.credfs, /etc/fstab) passes
 * them. SOURCE is dropped; a dead mount at MOUNTPOINT is cleared
 * (stale_clear). Call after credfs's own options were parsed out of args
 * and before fuse_parse_cmdline (which cannot resolve a dead mount point).
 * Returns 0, or -1 after printing why.
 */
int opts_positional(struct fuse_args *args);

/*
 * stale_clear - if mnt is a dead FUSE mount of credfs (stat fails with
 * ENOTCONN: its daemon was killed), detach it: umount2(MNT_DETACH) as
 * root, `fusermount3 -u -z` otherwise; logged. A dead FUSE mount of
 * another file system is refused. Returns 0 (nothing to do, or detached)
 * or -1 after printing why.
 */
int stale_clear(const char *mnt);

/*
 * notify_send - send state (e.g. "READY=1") to the service manager over the
 * datagram socket $NOTIFY_SOCKET (a path, or "@name" for an abstract
 * socket), as sd_notify(3) does. 0 when sent or when there is no
 * NOTIFY_SOCKET; -errno. Thread-safe.
 */
int notify_send(const char *state);

/*
 * svclog_syslog - from now on credfs's and libfuse's messages go to syslog
 * (facility daemon, ident credfs), for a daemon whose stderr is gone.
 */
void svclog_syslog(void);

#endif
