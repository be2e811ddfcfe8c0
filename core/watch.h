/* SPDX-License-Identifier: MIT */
/*
 * watch.h - the exit of every lease's opener, seen through a pidfd.
 *
 * One watch per opener (pid + start time), shared by every lease that
 * opener holds. An issue prepares the watch BEFORE it creates the login,
 * so an opener that cannot be watched (no fd left, pid gone) fails the
 * open with nothing issued; the lease joins the watch once issued and
 * leaves it when revoked, and a watch with no lease and no preparer is
 * closed. Each live watch's pidfd is in the epoll set given to
 * watchset_new, with the watch's id as its data.u64.
 *
 * Thread-safety: every function may be called from any thread.
 */
#ifndef CREDFS_WATCH_H
#define CREDFS_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include "lease.h"

#define WATCH_ERRLEN 256

struct watchset;
struct watch;

/* watchset_new - watches whose pidfds go into epfd (borrowed); NULL on ENOMEM. */
struct watchset *watchset_new(int epfd);

/* watchset_free - close every watch and drop its lease references (NULL-safe). */
void watchset_free(struct watchset *ws);

/*
 * watchset_prepare - a reference to the watch on h's opener, created if
 * needed (*out; NULL when h has no pid: a handle binding then). Returns 0
 * or -errno with a reason in errbuf (WATCH_ERRLEN bytes): the opener
 * cannot be watched. Hand the reference to watchset_join or
 * watchset_cancel.
 */
int watchset_prepare(struct watchset *ws, const struct lease_holder *h, struct watch **out,
		     char *errbuf) __attribute__((warn_unused_result));

/* watchset_cancel - drop a prepared reference (w taken; NULL-safe). */
void watchset_cancel(struct watchset *ws, struct watch *w);

/*
 * watchset_join - add l to the prepared watch w (taken; NULL-safe: returns
 * 0). Returns 1 when the opener already exited (l was not added: let it
 * go), else 0.
 */
int watchset_join(struct watchset *ws, struct watch *w, struct lease *l);

/* watchset_leave - l was revoked: drop it from its watch (no-op if none). */
void watchset_leave(struct watchset *ws, struct lease *l);

/*
 * watchset_fired - the pidfd of watch id became readable: the opener
 * exited. Returns the leases it held as a new array of new references
 * (*leases, *n; NULL and 0 for an unknown id), for the caller to let go,
 * unref and free.
 */
void watchset_fired(struct watchset *ws, uint64_t id, struct lease ***leases, size_t *n);

#endif
