/* SPDX-License-Identifier: MIT */
/*
 * errlog.h - the recent rejections that MOUNT/errors shows: why a write to
 * config/ or roles/ was refused, why an open of creds/ failed.
 *
 * Shells ignore errors from close() and print only "write error", so this
 * is where the reason is read: `tail -n 1 MOUNT/errors`. One line per
 * event, `<RFC3339 time> <path>: <reason>`, newest last, the last
 * ERRLOG_KEEP kept. A user sees only the lines caused by that user (the
 * daemon's user and root see all). Never contains a secret.
 */
#ifndef CREDFS_ERRLOG_H
#define CREDFS_ERRLOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ERRLOG_KEEP 128

struct errlog;

struct errlog *errlog_new(void);
void errlog_free(struct errlog *e);

/* errlog_add - record one line for path (borrowed strings), caused by uid at now (ms). */
void errlog_add(struct errlog *e, int64_t now, uid_t uid, const char *path, const char *reason);

/*
 * errlog_render - the lines visible to uid (all when all_visible) as a new
 * malloc'd buffer (*out, *len bytes). Returns 0 or -ENOMEM.
 */
int errlog_render(struct errlog *e, uid_t uid, int all_visible, char **out, size_t *len);

#endif
